"""``syneg train``: contrastive fine-tuning of a bi-encoder on mixed training instances."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, SeedOpt
from syneg.cli.options import DeviceOpt, build_section, choices, field_option, model_default
from syneg.config import DataConfig, TeacherConfig, TrainConfig
from syneg.limits import MAX_WORKERS

Opt = typer.Option
_opt = functools.partial(field_option, TrainConfig)
Loss = choices(TrainConfig, "loss")


@app.command("train")
def train_command(
    train_file: Annotated[Path, Opt("--train", help="TrainingInstance JSONL (syneg mix).")],
    out: Annotated[Path, Opt("--out", help="Model folder to write (appears only when complete).")],
    model: Annotated[Optional[str], _opt("model", "--model", help="Model path; default: packaged MiniLM.")] = None,
    epochs: Annotated[Optional[int], _opt("epochs", "--epochs")] = None,
    batch_size: Annotated[Optional[int], _opt("batch_size", "--batch-size", help="Per-process batch size.")] = None,
    mini_batch_size: Annotated[Optional[int], _opt("mini_batch_size", "--mini-batch-size",
                                                   help="Use the cached (GradCache) loss with this mini-batch.")] = None,
    lr: Annotated[Optional[float], _opt("lr", "--lr")] = None,
    temperature: Annotated[Optional[float], _opt("temperature", "--temperature",
                                                 help="InfoNCE temperature tau (loss scale 1/tau).")] = None,
    max_seq_length: Annotated[Optional[int], _opt("max_seq_length", "--max-seq-length")] = None,
    bf16: Annotated[Optional[bool], _opt("bf16", "--bf16/--no-bf16", help="bf16 autocast on CPUs with native bf16.")] = None,
    max_steps: Annotated[Optional[int], _opt("max_steps", "--max-steps")] = None,
    max_instances: Annotated[Optional[int], _opt("max_instances", "--max-instances")] = None,
    num_negatives: Annotated[Optional[int], _opt("num_negatives", "--num-negatives",
                                                 help="Negative columns K (pad/trim); default: the largest count.")] = None,
    warmup_ratio: Annotated[Optional[float], _opt("warmup_ratio", "--warmup-ratio")] = None,
    loss: Annotated[Optional[Loss], _opt("loss", "--loss", help="infonce, or distillation from teacher scores "
                                         "(margin_mse, kl).")] = None,
    infonce_weight: Annotated[Optional[float], _opt("infonce_weight", "--infonce-weight",
                                                    help="Distillation losses: + this x InfoNCE.")] = None,
    eval_steps: Annotated[Optional[int], _opt("eval_steps", "--eval-steps",
                                              help="Also evaluate every N steps (needs an eval split).")] = None,
    keep_best: Annotated[Optional[bool], _opt("keep_best", "--keep-best/--keep-last",
                                              help="Save the best evaluated checkpoint (untrained included).")] = None,
    teacher: Annotated[Optional[str], field_option(TeacherConfig, "model", "--teacher",
                                                   help="Scores passages that lack a teacher score (distillation).")] = None,
    seed: SeedOpt = DataSelection.seed,
    eval_data: Annotated[Optional[Path], Opt("--eval-data",
                                             help="BEIR folder to evaluate on each epoch; default: embedded slice.")] = None,
    eval_split: Annotated[Optional[str], Opt("--eval-split",
                                             help="Split to evaluate on each epoch (enables evaluation).")] = None,
    eval_dev_fraction: Annotated[Optional[float], Opt("--eval-dev-fraction",
                                                      help="Carve the eval split from train with this fraction.")] = None,
    nproc: Annotated[int, Opt("--nproc", min=1, max=MAX_WORKERS, help="Data-parallel processes per node (launches torchrun; NCCL on "
                                                     "GPUs, gloo on CPU).")] = 1,
    nnodes: Annotated[int, Opt("--nnodes", min=1, max=MAX_WORKERS, help="Nodes training together (torchrun; run the same command on each).")] = 1,
    node_rank: Annotated[int, Opt("--node-rank", min=0, help="This node's rank, 0..nnodes-1.")] = 0,
    rdzv_endpoint: Annotated[Optional[str], Opt("--rdzv-endpoint", help="HOST:PORT of the rendezvous (node 0), for --nnodes > 1.")] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Fine-tune with InfoNCE over in-batch and hard negatives (or distil teacher scores); logs, grad stats
    and plots go in OUT."""
    from syneg.hardware import resolve_device
    from syneg.training.launch import (
        check_environment, process_rank, relaunch, strip_options, torchrun_nodes, under_torchrun,
    )

    config = build_section(TrainConfig, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                           temperature=temperature, max_seq_length=max_seq_length, bf16=bf16,
                           warmup_ratio=warmup_ratio, max_instances=max_instances, max_steps=max_steps,
                           num_negatives=num_negatives, mini_batch_size=mini_batch_size, loss=loss,
                           infonce_weight=infonce_weight, eval_steps=eval_steps, keep_best=keep_best)
    if (keep_best or eval_steps is not None) and eval_split is None and eval_data is None:
        raise typer.BadParameter("--keep-best and --eval-steps evaluate checkpoints on an eval split: "
                                 "add --eval-split or --eval-data")
    resolve_device(device)  # a missing GPU fails here, before any process starts
    check_environment()  # torchrun's RANK / LOCAL_RANK / WORLD_SIZE, when set
    if (nproc > 1 or nnodes > 1) and not under_torchrun():
        nodes = torchrun_nodes(nnodes, node_rank, rdzv_endpoint)
        launch = ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")
        raise typer.Exit(relaunch(nproc, strip_options(sys.argv[1:], launch), nodes))

    from syneg.io import read_records
    from syneg.layout import write_stats
    from syneg.records import TrainingInstance

    instances = read_records(train_file, TrainingInstance)
    from syneg.training.losses import needs_teacher_scores
    from syneg.teacher.fill import fill_teacher_scores

    if needs_teacher_scores(config.loss):
        instances = fill_teacher_scores(instances, build_section(TeacherConfig, model=teacher))
    eval_dataset = None
    if eval_split is not None or eval_data is not None:
        split = eval_split or model_default(DataConfig, "eval_split")
        eval_dataset = DataSelection(eval_data, split, eval_dev_fraction, seed).load()
    from syneg.training import train
    from syneg.training.card import read_provenance

    summary = train(instances, config, out, eval_dataset, seed, provenance=read_provenance(train_file), device=device)
    if summary["world_size"] == 1 or process_rank() == 0:
        stats = write_stats(out, summary)
        shown = {k: summary[k] for k in ("steps", "train_loss", "examples_per_s", "metrics_before", "metrics")}
        output.info(f"saved model to {out} and statistics to {stats}")
        output.summary("train", out=out, stats=stats, **shown)
