"""Trainer callbacks: a per-step JSONL log with a progress bar, and per-epoch retrieval evaluation."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from syneg import progress

STEP_KEYS = ("loss", "learning_rate", "grad_norm")


class StepLogger(TrainerCallback):
    """Append one JSON line per logged step (loss, learning rate, gradient norm) and keep the rows.

    Only the main process writes; ``rows`` also collects the evaluation rows that
    :class:`EpochEvaluator` adds, so the log file holds the whole history in order. On stderr it
    shows a bar over the steps and one line per logged step (see :mod:`syneg.progress`).
    """

    def __init__(self, path: Path | None, show: bool = True) -> None:
        self.path, self.show = path, show
        self.rows: list[dict[str, Any]] = []
        self._start = time.perf_counter()
        self._bar = None

    def add(self, row: dict[str, Any]) -> None:
        row = {**row, "time_s": round(time.perf_counter() - self._start, 3)}
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:
            self._bar = progress.bar(total=state.max_steps, show=self.show, desc="train", unit="step")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        if self._bar is not None:
            self._bar.update(state.global_step - self._bar.n)

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"event": "step", "step": state.global_step, "epoch": state.epoch}
        row.update({key: _number(logs.get(key)) for key in STEP_KEYS})
        self.add(row)
        if progress.enabled(self.show):
            progress.note(step_line(row, state.max_steps))


def step_line(row: dict[str, Any], total: int) -> str:
    """``step 12/40 loss 1.234 lr 2e-05 grad 3.1`` (absent values left out)."""
    parts = [f"step {row['step']}/{total}"]
    for label, key in (("loss", "loss"), ("lr", "learning_rate"), ("grad", "grad_norm")):
        if row.get(key) is not None:
            parts.append(f"{label} {row[key]:.4g}")
    return " ".join(parts)


class EpochEvaluator(TrainerCallback):
    """Evaluate retrieval on ``dataset`` before training, every ``every`` steps (when set), at the end
    of each epoch and at the end of training: a learning curve in ``history``.

    With ``keep_best`` it keeps a copy of the weights that scored best on ``metric`` (the untrained
    ones included, when evaluated); :meth:`restore_best` loads them back. Runs on the main process
    only (the others wait at their next collective call).
    """

    def __init__(self, dataset, logger: StepLogger, before: bool = True, batch_size: int = 64,
                 every: int | None = None, keep_best: bool = False, metric: str = "nDCG@10",
                 options: Mapping[str, Any] | None = None) -> None:
        from syneg.evaluation import Evaluator

        self.dataset = dataset
        self.evaluator = Evaluator(dataset.qrels)
        self.logger = logger
        self.before, self.every, self.keep_best, self.metric = before, every, keep_best, metric
        self.batch_size, self.options = batch_size, dict(options or {})  # evaluate_model's backend, max_seq_length
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # the best history row
        self._best_state: dict[str, Any] | None = None

    def _evaluate(self, state, model, epoch: float) -> None:
        from syneg.evaluation import evaluate_model

        if self.history and self.history[-1]["step"] == state.global_step and state.global_step > 0:
            return  # already evaluated at this step (step and epoch ends coincide)
        started = time.perf_counter()
        if progress.enabled(self.logger.show) and state.is_world_process_zero:
            progress.note(f"step {state.global_step}: evaluating on {len(self.dataset.queries):,} queries")
        # untrained weights are a model loaded from disk: its corpus embeddings are cached under a hash of
        # the weights, so runs starting from the same model (experiment cells) encode the corpus once
        metrics = evaluate_model(model, self.dataset, batch_size=self.batch_size, evaluator=self.evaluator,
                                 use_cache=state.global_step == 0, show_progress=progress.enabled(self.logger.show)
                                 and state.is_world_process_zero, **self.options)
        model.train()
        row = {"event": "eval", "step": state.global_step, "epoch": epoch, "metrics": metrics,
               "eval_s": round(time.perf_counter() - started, 2)}
        self.history.append(row)
        self.logger.add(row)
        if progress.enabled(self.logger.show) and state.is_world_process_zero:
            progress.note(f"step {state.global_step}: {self.metric} {metrics.get(self.metric, float('nan')):.4f} "
                          f"({row['eval_s']:.0f} s)")
        if self.best is None or metrics.get(self.metric, 0.0) > self.best["metrics"].get(self.metric, 0.0):
            self.best = row
            if self.keep_best:
                self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def restore_best(self, model) -> dict[str, Any] | None:
        """Load the best weights into ``model`` (when kept); returns the best row."""
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        return self.best

    def on_train_begin(self, args, state, control, model=None, **kwargs) -> None:
        if self.before and state.is_world_process_zero:
            self._evaluate(state, model, 0.0)

    def on_step_end(self, args, state, control, model=None, **kwargs) -> None:
        if self.every and state.global_step % self.every == 0 and state.is_world_process_zero:
            self._evaluate(state, model, state.epoch)

    def on_epoch_end(self, args, state, control, model=None, **kwargs) -> None:
        if state.is_world_process_zero:
            self._evaluate(state, model, state.epoch)

    def on_train_end(self, args, state, control, model=None, **kwargs) -> None:
        if state.is_world_process_zero:
            self._evaluate(state, model, state.epoch)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
