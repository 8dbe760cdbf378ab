"""Paired bootstrap interval of a per-query score difference (e.g. trained minus zero-shot nDCG@10)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedInterval:
    """Mean difference ``b - a`` over shared queries and its percentile bootstrap interval."""

    mean: float
    low: float
    high: float
    queries: int
    resamples: int
    level: float


def paired_bootstrap(
    a: dict[str, float], b: dict[str, float], resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> PairedInterval | None:
    """Resample the queries both ``a`` and ``b`` score (with replacement, seeded) and return the
    ``level`` percentile interval of the mean of ``b[q] - a[q]``; None when no query is shared."""
    qids = sorted(set(a) & set(b))
    if not qids:
        return None
    diff = np.array([b[q] - a[q] for q in qids], dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[picks].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedInterval(float(diff.mean()), float(low), float(high), diff.size, resamples, level)
