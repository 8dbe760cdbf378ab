"""Statistics of a mining run: score distributions, what each filter removed, shortfalls."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from syneg.mining.filters import FILTERS
from syneg.records import MinedInstance

QUANTILES = {"min": 0.0, "q25": 0.25, "median": 0.5, "q75": 0.75, "max": 1.0}


def describe(values: list[float]) -> dict[str, float | int | None]:
    """Count, mean, std and quantiles of ``values`` (None when empty), rounded to 6 decimals."""
    if not values:
        return {"count": 0, "mean": None, "std": None, **dict.fromkeys(QUANTILES)}
    arr = np.asarray(values, dtype=np.float64)
    summary: dict[str, float | int | None] = {"count": len(values), "mean": arr.mean(), "std": arr.std()}
    summary.update({name: np.quantile(arr, q) for name, q in QUANTILES.items()})
    return {k: v if k == "count" else round(float(v), 6) for k, v in summary.items()}


def score_distributions(instances: list[MinedInstance], teacher: bool) -> dict[str, dict]:
    """Positive, negative and (positive - negative) distributions of the filter scores."""
    pos_field = "positive_teacher_score" if teacher else "positive_score"
    neg_field = "teacher_score" if teacher else "score"
    positives, negatives, differences = [], [], []
    for inst in instances:
        pos = getattr(inst, pos_field)
        positives.append(pos)
        for neg in inst.negatives:
            negatives.append(getattr(neg, neg_field))
            differences.append(pos - getattr(neg, neg_field))
    return {"positive": describe(positives), "negative": describe(negatives), "difference": describe(differences)}


def build_stats(
    instances: list[MinedInstance],
    *,
    settings: dict[str, Any],
    retrieved: int,
    removed: Counter,
    num_queries: int,
) -> dict[str, Any]:
    """The JSON summary written beside the mined file (deterministic: no timings)."""
    teacher = (settings.get("teacher") or {}).get("model") is not None
    short = [inst for inst in instances if inst.shortfall]
    short_queries = sorted({inst.query_id for inst in short})
    stats: dict[str, Any] = {
        "settings": settings,
        "queries": num_queries,
        "instances": len(instances),
        "negatives": sum(len(inst.negatives) for inst in instances),
        "candidates": {
            "retrieved": retrieved,
            "removed": {name: removed.get(name, 0) for name in FILTERS},
            "survived": retrieved - sum(removed.values()),
        },
        "score_source": "teacher" if teacher else "retriever",
        "scores": score_distributions(instances, teacher),
        "shortfall": {
            "instances": len(short),
            "missing_negatives": sum(inst.shortfall for inst in short),
            "queries": len(short_queries),
            "query_ids": short_queries,
        },
    }
    if teacher:
        stats["retriever_scores"] = score_distributions(instances, False)
    return stats


def format_stats(stats: dict[str, Any]) -> str:
    """A human-readable table of the summary, in the spirit of sentence-transformers' printout."""
    scores = stats["scores"]
    lines = [f"{'metric':<8}{'positive':>12}{'negative':>12}{'difference':>12}   ({stats['score_source']} scores)"]
    for name in ("count", "mean", "std", *QUANTILES):
        row = [scores[part][name] for part in ("positive", "negative", "difference")]
        lines.append(f"{name:<8}" + "".join(f"{_fmt(v):>12}" for v in row))
    cand = stats["candidates"]
    lines.append(f"candidates retrieved: {cand['retrieved']:,}, survived the filters: {cand['survived']:,}")
    for name, count in cand["removed"].items():
        if count:
            share = count / cand["retrieved"] if cand["retrieved"] else 0.0
            lines.append(f"  removed by {name}: {count:,} ({share:.1%})")
    short = stats["shortfall"]
    lines.append(
        f"{stats['instances']:,} instances from {stats['queries']:,} queries, {stats['negatives']:,} negatives; "
        f"{short['instances']:,} instances ({short['queries']:,} queries) short of negatives "
        f"({short['missing_negatives']:,} missing)"
    )
    return "\n".join(lines)


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"
