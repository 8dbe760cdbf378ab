"""What a run's kept negatives look like and cost: length against their positive, samples and seconds per
kept negative, and the share of calls each check rejected (the stats' ``quality`` block, in the report)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from syneg.synthesis.finalize import Outcome
from syneg.synthesis.planning import SynthesisItem


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    if len(values) == 1:
        return {"p25": round(values[0], 3), "median": round(values[0], 3), "p75": round(values[0], 3)}
    p25, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"p25": round(p25, 3), "median": round(median, 3), "p75": round(p75, 3)}


def quality(outcome: Outcome, items: Sequence[SynthesisItem], elapsed_s: float) -> dict[str, Any]:
    """Length ratio to the positive (words, quartiles), words, samples and seconds per kept negative, and
    the share of planned calls dropped for each ``stage.reason``."""
    positives = {(i.pair.query_id, i.pair.positive_id): max(1, len(i.pair.positive.split())) for i in items}
    kept = [n for n in outcome.negatives if n.label == "negative"]
    ratios = sorted(len(n.text.split()) / positives[(n.query_id, n.positive_id)] for n in kept)
    words = sorted(float(len(n.text.split())) for n in kept)
    total = len(items)
    return {
        "length_ratio": _quantiles(ratios),
        "words": _quantiles(words),
        "samples_per_kept": round(total / len(kept), 3) if kept else None,
        "seconds_per_kept": round(elapsed_s / len(kept), 3) if kept else None,
        "rejected_share": {f"{stage}.{reason}": round(count / total, 4)
                           for stage, counts in outcome.drops.items() for reason, count in sorted(counts.items())
                           if count} if total else {},
    }
