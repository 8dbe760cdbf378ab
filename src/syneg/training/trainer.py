"""Contrastive fine-tuning (InfoNCE over in-batch and hard negatives) with sentence-transformers.

The loss is ``train.loss`` from the registry :mod:`syneg.training.losses`; the default, ``infonce``,
is sentence-transformers' MultipleNegativesRankingLoss with ``scale = 1 / tau``:
for query q, its positive p and the batch's documents D (every positive and hard negative),
``-log softmax_d(cos(q, d) / tau)[p]``. With ``mini_batch_size`` (default 8) it is the cached (GradCache)
variant: the same loss and gradients (its dropout masks drawn in another order), with the activations of
``mini_batch_size`` texts held at a time instead of the whole batch's (16 queries, 16 positives, 16 x K
negatives; at 256 tokens, 5-6 GB on CPU, where training's attention dropout rules out the fused attention).
Batches come from the no-duplicates sampler so a text never appears twice in one batch (a duplicate
would be a false in-batch negative).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.config import TrainConfig
from syneg.hardware import mixed_precision
from syneg.io import staged_dir, write_json
from syneg.mixing.exports.columns import st_columns
from syneg.records import TrainingInstance
from syneg.redact import without_paths
from syneg.training.callbacks import EpochEvaluator, StepLogger
from syneg.training.card import append_card_section, card_section
from syneg.training.diagnostics import grad_stats, plot_training
from syneg.training.launch import process_device, process_rank, world_size


def make_loss(model, config: TrainConfig):
    """The configured loss (``infonce``: MNRL, or its cached variant, with ``scale = 1 / temperature``)."""
    from syneg.training import losses

    return losses.make_loss(model, config)


def warmup_steps(config: TrainConfig, examples: int, processes: int = 1) -> int:
    """``ceil(warmup_ratio * optimizer steps)`` as a step count, the form every transformers reads alike.

    transformers 5 deprecates ``warmup_ratio`` (gone in 5.2) and reads a float ``warmup_steps``
    below 1 as a ratio; 4 read it as a (fractional) step count. The steps are ``max_steps`` when set, else per epoch
    this process's share of the ``ceil(examples / batch_size)`` batches (the trainer's own count).
    """
    if config.max_steps:
        total = config.max_steps
    else:
        total = config.epochs * math.ceil(math.ceil(examples / config.batch_size) / processes)
    return math.ceil(config.warmup_ratio * total)


def training_arguments(config: TrainConfig, output_dir: str, seed: int, precision: str, warmup: int,
                       device: str = "cpu"):
    """Trainer arguments: ``device``'s type, no checkpoints, no-duplicates batches, ``warmup`` linear-warmup steps."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    return SentenceTransformerTrainingArguments(
        output_dir=output_dir, use_cpu=device == "cpu", bf16=precision == "bf16", fp16=precision == "fp16",
        seed=seed, data_seed=seed,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size, learning_rate=config.lr,
        warmup_steps=warmup, batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_steps=1, save_strategy="no", eval_strategy="no", report_to="none",
        disable_tqdm=True, dataloader_num_workers=0, ddp_find_unused_parameters=True,
    )


def load_model(config: TrainConfig, device: str | None = None):
    """A fresh (uncached) SentenceTransformer to train, on ``device`` (None = auto)."""
    from syneg.models import fresh_encoder

    return fresh_encoder(config.model, config.max_seq_length, device)


def train(instances: list[TrainingInstance], config: TrainConfig, out_dir: str | Path,
          eval_dataset=None, seed: int = 0, provenance: Mapping[str, Any] | None = None,
          show_progress: bool = True, device: str | None = None,
          evaluation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``instances``; the model folder appears at ``out_dir`` only when complete.

    ``out_dir`` then holds a sentence-transformers model (with model card) plus
    ``train_log.jsonl``, ``grad_stats.json``, ``training.png`` and ``summary.json``.
    The card gets a section on the negatives' ``provenance`` (see :func:`syneg.training.card.read_provenance`).
    Under torchrun every process trains (on GPUs: ``cuda:LOCAL_RANK``) and only rank 0 writes.
    ``device`` None is auto; mixed precision (``config.bf16``) is bf16 or fp16 as the device supports.
    With ``eval_dataset`` the model is evaluated before, every ``eval_steps`` and at the end;
    ``keep_best`` saves the best of those; ``evaluation`` holds ``evaluate_model``'s ``backend`` and
    ``max_seq_length`` for these evaluations (default: the reference, at the model's training length).
    """
    from syneg.training.losses import needs_teacher_scores

    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import PrinterCallback

    instances = list(instances)[: config.max_instances] if config.max_instances else list(instances)
    columns, info = st_columns(instances, config.num_negatives, scores=needs_teacher_scores(config.loss))
    out_dir = Path(out_dir)
    main = process_rank() == 0
    with staged_dir(out_dir) if main else contextlib.nullcontext() as work:  # appears only when complete
        device = process_device(device)
        model = load_model(config, device)
        precision = mixed_precision(device, config.bf16)
        warmup = warmup_steps(config, info["rows"], world_size())
        logger = StepLogger(work / layout.TRAIN_LOG if work else None, show_progress)
        evaluator = None if eval_dataset is None else EpochEvaluator(
            eval_dataset, logger, config.eval_before, every=config.eval_steps, keep_best=config.keep_best,
            options=evaluation)
        with tempfile.TemporaryDirectory(prefix="syneg-trainer-") as scratch:
            trainer = SentenceTransformerTrainer(
                model=model, args=training_arguments(config, scratch, seed, precision, warmup, device),
                train_dataset=Dataset.from_dict(columns), loss=make_loss(model, config),
                callbacks=[logger, *([evaluator] if evaluator else [])])
            trainer.remove_callback(PrinterCallback)  # it prints each log dict on stdout; StepLogger shows them
            started = time.perf_counter()
            result = trainer.train()
            wall = time.perf_counter() - started
        best = evaluator.restore_best(model) if evaluator is not None and config.keep_best else None
        summary = _summary(config, info, trainer, result, wall, logger, evaluator, precision, seed)
        summary["device"] = device
        summary["kept"] = None if best is None else {"step": best["step"], "untrained": best["step"] == 0,
                                                     "metrics": best["metrics"]}
        if work is not None:
            _finish(model, work, logger, summary, provenance or {})
    return summary


def _finish(model, work: Path, logger: StepLogger, summary: dict[str, Any], provenance: Mapping[str, Any]) -> None:
    """Save model (its card with the negatives' provenance), diagnostics and summary into ``work``."""
    model.save_pretrained(str(work))
    append_card_section(work, card_section(provenance, summary))
    stats = grad_stats([r.get("grad_norm") for r in logger.rows if r["event"] == "step"])
    write_json(work / layout.GRAD_STATS, stats)
    plot_training(logger.rows, work / layout.TRAINING_PLOT)
    summary["grad_stats"] = {k: v for k, v in stats.items() if k not in ("per_step", "histogram")}
    write_json(work / layout.SUMMARY, summary)


def _summary(config, info, trainer, result, wall, logger, evaluator, precision, seed) -> dict[str, Any]:
    steps = [r for r in logger.rows if r["event"] == "step"]
    history = evaluator.history if evaluator else []
    world = trainer.args.world_size
    examples = trainer.state.global_step * config.batch_size * world
    return {
        "config": without_paths(config.model_dump()), "seed": seed, "bf16": precision == "bf16", "precision": precision,
        "world_size": world,
        "data": info, "steps": trainer.state.global_step, "epochs": trainer.state.epoch,
        "train_runtime_s": round(wall, 3), "examples_per_s": round(examples / wall, 4) if wall else None,
        "train_loss": result.training_loss, "final_loss": steps[-1]["loss"] if steps else None,
        "metrics_before": next((h["metrics"] for h in history if h["epoch"] == 0.0), None),
        "metrics": history[-1]["metrics"] if history else None,
        "eval_history": [{"epoch": h["epoch"], "step": h["step"], **h["metrics"]} for h in history],
    }
