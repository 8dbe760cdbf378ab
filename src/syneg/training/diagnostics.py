"""Training-stability diagnostics: gradient-norm statistics and training curves.

SyNeg's claim is that hybrid mixing lowers the variance of the gradient compared with
direct (dataset-level) mixing; ``grad_stats`` summarises the per-step gradient norms
(the pre-clipping global L2 norm that the HF trainer logs as ``grad_norm``).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from syneg.evaluation.metrics import PER_QUERY_METRIC

HISTOGRAM_BINS = 20


def grad_stats(norms: list[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Mean, variance (population), spread and a histogram of per-step gradient norms."""
    values = [float(v) for v in norms if v is not None and math.isfinite(v)]
    if not values:
        return {"steps": 0, "non_finite": len(norms)}
    counts, edges = np.histogram(values, bins=bins)
    mean = statistics.fmean(values)
    variance = statistics.pvariance(values, mu=mean)
    return {
        "steps": len(values),
        "non_finite": len(norms) - len(values),
        "mean": mean,
        "variance": variance,
        "std": math.sqrt(variance),
        "cv": math.sqrt(variance) / mean if mean else None,  # coefficient of variation
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        "per_step": values,
    }


def plot_training(log: list[dict[str, Any]], path: str | Path, metric: str = PER_QUERY_METRIC) -> Path:
    """One PNG with loss, gradient norm, learning rate and the eval metric over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in log if r.get("event") == "step"]
    evals = [r for r in log if r.get("event") == "eval"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, key, title in zip(axes.flat, ("loss", "grad_norm", "learning_rate"),
                              ("training loss", "gradient norm (pre-clip)", "learning rate")):
        points = [(r["step"], r[key]) for r in steps if r.get(key) is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 50 else None)
        ax.set_title(title)
        ax.set_xlabel("step")
    ax = axes.flat[3]
    points = [(r["step"], r["metrics"].get(metric)) for r in evals if r["metrics"].get(metric) is not None]
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    ax.set_title(f"eval {metric}")
    ax.set_xlabel("step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
