"""``syneg train``: contrastive fine-tuning of a bi-encoder on mixed training instances."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, SeedOpt
from syneg.cli.fields import Fields, settings
from syneg.cli.options import DeviceOpt, model_default
from syneg.config import DataConfig, EncodeConfig, TeacherConfig, TrainConfig
from syneg.limits import MAX_WORKERS

Opt = typer.Option
OPTIONS = ("model", "epochs", "batch_size", "lr", "temperature", "max_seq_length", "bf16", "max_steps",
           "num_negatives", "loss", "infonce_weight", "eval_steps", "keep_best")


@app.command("train")
@settings(config=Fields(TrainConfig, "train", OPTIONS, {"keep_best": ("--keep-best/--keep-last",)}),
          teacher=Fields(TeacherConfig, "teacher", ("model",), {"model": "--teacher"}),
          encode=Fields(EncodeConfig, "encode", ("backend",), {"backend": "--encode-backend"}))
def train_command(
    train_file: Annotated[Path, Opt("--train", help="TrainingInstance JSONL (syneg mix).")],
    out: Annotated[Path, Opt("--out", help="Model folder to write (appears only when complete).")],
    config: TrainConfig,
    teacher: TeacherConfig,
    encode: EncodeConfig,
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

    asked = (config.keep_best and "keep_best" in config.model_fields_set) or config.eval_steps is not None
    if asked and eval_split is None and eval_data is None:
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
        instances = fill_teacher_scores(instances, teacher, backend=encode.backend)
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
