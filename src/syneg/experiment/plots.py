"""Experiment plots: metric vs R, gradient-norm histograms (direct vs hybrid), loss and learning curves."""

from __future__ import annotations

import statistics
from pathlib import Path

from syneg import layout
from syneg.experiment.grid import Cell, ExperimentConfig, cell_dir
from syneg.experiment.results import CellResult
from syneg.report.markup import numbers
from syneg.report.runfiles import RunFiles


def _log(cell_dir: Path, event: str = "step") -> list[dict]:
    """The cell's training log rows of ``event`` whose step (and loss, for steps) is a number, read as the
    run report reads them (:class:`syneg.report.runfiles.RunFiles`); ``grad_norm`` and ``metrics`` only as numbers."""
    rows = []
    for row in RunFiles(cell_dir).iter_jsonl(cell_dir / layout.TRAIN_LOG):
        step = numbers(row).get("step")
        if row.get("event") != event or step is None or (event == "step" and "loss" not in numbers(row)):
            continue
        rows.append({**numbers(row), "metrics": numbers(row.get("metrics"))})
    return rows


def learning_curves(config: ExperimentConfig, cells: list[Cell], metric: str) -> dict[str, list[tuple[int, float]]]:
    """Per group: ``(step, metric)`` of the checkpoint evaluations, averaged over the seeds that have them."""
    points: dict[str, dict[int, list[float]]] = {}
    for cell in cells:
        for row in _log(cell_dir(config, cell), "eval"):
            if metric in row.get("metrics", {}):
                points.setdefault(cell.group, {}).setdefault(row["step"], []).append(row["metrics"][metric])
    return {group: sorted((step, statistics.fmean(v)) for step, v in steps.items()) for group, steps in points.items()}


def _ratio_points(config: ExperimentConfig, results: list[CellResult], metric: str) -> list[tuple[float, float]]:
    by_ratio: dict[float, list[float]] = {}
    for r in results:
        if r.group.startswith("hybrid (R="):
            ratio = float(r.group.removeprefix("hybrid (R=").rstrip(")"))
            by_ratio.setdefault(ratio, []).append(r.metrics[metric])
    return sorted((ratio, statistics.fmean(v)) for ratio, v in by_ratio.items())


def plot_experiment(out: Path, config: ExperimentConfig, cells: list[Cell], results: list[CellResult]) -> list[Path]:
    """Write the PNGs under ``out/plots`` and return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    metric, written = config.evaluate.metrics[0], []
    points = _ratio_points(config, results, metric)
    if len(points) > 1:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set(xlabel="R (synthetic : retrieved)", ylabel=metric, title=f"hybrid: {metric} vs R")
        written.append(_save(fig, folder / "metric_vs_ratio.png", plt))
    first_seed = config.experiment.seeds[0]
    logs = {c.group: _log(cell_dir(config, c)) for c in cells if c.seed == first_seed}
    norms = {g: [s["grad_norm"] for s in steps if s.get("grad_norm") is not None]
             for g, steps in logs.items() if "(R=" in g}  # the strategies that mix at a ratio
    if any(norms.values()):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for group, values in norms.items():
            ax.hist(values, bins=20, alpha=0.5, label=group)
        ax.set(xlabel="gradient norm per step", ylabel="steps", title="gradient norms: direct vs hybrid")
        ax.legend()
        written.append(_save(fig, folder / "grad_norm_hist.png", plt))
    if any(logs.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for group, steps in logs.items():
            ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], label=group)
        ax.set(xlabel="step", ylabel="InfoNCE loss", title=f"training loss (seed {first_seed})")
        ax.legend(fontsize=7)
        written.append(_save(fig, folder / "loss_curves.png", plt))
    curves = learning_curves(config, cells, metric)
    if any(len(points) > 1 for points in curves.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for group, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=group)
        ax.set(xlabel="step (0 = untrained)", ylabel=f"dev {metric}", title="learning curves (mean over seeds)")
        ax.legend(fontsize=7)
        written.append(_save(fig, folder / "learning_curves.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
