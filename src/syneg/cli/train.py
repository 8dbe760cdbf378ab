"""``syneg train``: contrastive fine-tuning of a bi-encoder on mixed training instances."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli.app import app
from syneg.cli.options import SeedOpt, config_from_options

Opt = typer.Option


@app.command("train")
def train_command(
    train_file: Annotated[Path, Opt("--train", help="TrainingInstance JSONL (syneg mix).")],
    out: Annotated[Path, Opt("--out", help="Model folder to write (appears only when complete).")],
    model: Annotated[Optional[str], Opt("--model", help="Model path; default: packaged MiniLM.")] = None,
    epochs: Annotated[int, Opt("--epochs")] = 1,
    batch_size: Annotated[int, Opt("--batch-size", help="Per-process batch size.")] = 16,
    mini_batch_size: Annotated[Optional[int], Opt("--mini-batch-size",
                                                  help="Use the cached (GradCache) loss with this mini-batch.")] = None,
    lr: Annotated[float, Opt("--lr")] = 2e-5,
    temperature: Annotated[float, Opt("--temperature", help="InfoNCE temperature tau (loss scale 1/tau).")] = 0.02,
    max_seq_length: Annotated[int, Opt("--max-seq-length")] = 256,
    bf16: Annotated[bool, Opt("--bf16/--no-bf16", help="bf16 autocast on CPUs with native bf16.")] = True,
    max_steps: Annotated[Optional[int], Opt("--max-steps")] = None,
    max_instances: Annotated[Optional[int], Opt("--max-instances")] = None,
    num_negatives: Annotated[Optional[int], Opt("--num-negatives",
                                                help="Negative columns K (pad/trim); default: the largest count.")] = None,
    warmup_ratio: Annotated[float, Opt("--warmup-ratio")] = 0.1,
    seed: SeedOpt = 0,
    eval_data: Annotated[Optional[Path], Opt("--eval-data",
                                             help="BEIR folder to evaluate on each epoch; default: embedded slice.")] = None,
    eval_split: Annotated[Optional[str], Opt("--eval-split",
                                             help="Split to evaluate on each epoch (enables evaluation).")] = None,
    eval_dev_fraction: Annotated[Optional[float], Opt("--eval-dev-fraction",
                                                      help="Carve the eval split from train with this fraction.")] = None,
    nproc: Annotated[int, Opt("--nproc", help="Data-parallel processes (launches torchrun, gloo).")] = 1,
) -> None:
    """Fine-tune with InfoNCE over in-batch and hard negatives; logs, grad stats and plots go in OUT."""
    from syneg.config import TrainConfig
    from syneg.training.launch import process_rank, relaunch, strip_option, under_torchrun

    config = config_from_options(TrainConfig, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                                 temperature=temperature, max_seq_length=max_seq_length, bf16=bf16,
                                 warmup_ratio=warmup_ratio, max_instances=max_instances, max_steps=max_steps,
                                 num_negatives=num_negatives, mini_batch_size=mini_batch_size)
    if nproc > 1 and not under_torchrun():
        raise typer.Exit(relaunch(nproc, strip_option(sys.argv[1:], "--nproc")))

    from syneg.io import read_records
    from syneg.records import TrainingInstance

    instances = read_records(train_file, TrainingInstance)
    eval_dataset = None
    if eval_split is not None or eval_data is not None:
        from syneg.data import load_dataset

        eval_dataset = load_dataset(eval_data, eval_split or "dev", eval_dev_fraction, seed)
    from syneg.training import train

    summary = train(instances, config, out, eval_dataset, seed)
    if summary["world_size"] == 1 or process_rank() == 0:
        shown = {k: summary[k] for k in ("steps", "train_loss", "examples_per_s", "metrics_before", "metrics")}
        typer.echo(f"saved model to {out}: {json.dumps(shown)}")
