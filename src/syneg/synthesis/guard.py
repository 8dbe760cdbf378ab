"""Hardness guard: keep a synthetic negative only inside a teacher-score band below the positive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syneg.mining.filters import false_negative_threshold

FALSE_NEGATIVE = "likely_false_negative"
OFF_TOPIC = "off_topic"


@dataclass(frozen=True)
class Band:
    """Keep scores in ``[floor * positive, min(positive - margin, perc x positive))``.

    ``perc`` is the positive-aware false-negative rule of mining (TopK-PercPos, see
    :func:`syneg.mining.filters.false_negative_threshold`); 1.0 leaves only ``margin``.
    """

    margin: float = 0.0
    floor: float = 0.5
    perc: float = 1.0

    def verdict(self, score: float, positive_score: float) -> str | None:
        """The drop reason for ``score``, or None to keep it."""
        if score >= positive_score - self.margin or score >= false_negative_threshold(positive_score, self.perc):
            return FALSE_NEGATIVE
        if positive_score > 0 and score < self.floor * positive_score:
            return OFF_TOPIC
        return None


class HardnessGuard:
    """Scores of a teacher (bi-encoder cosine or cross-encoder; default the packaged MiniLM) and a keep band.

    ``relabel``: a likely false negative is kept as an extra positive of its pair instead of dropped.
    """

    def __init__(self, model: str | None = None, band: Band | None = None, batch_size: int = 32,
                 max_seq_length: int | None = 256, relabel: bool = False, device: str | None = None) -> None:
        from syneg.mining.rescore import load_rescorer

        self.scorer = load_rescorer(model, batch_size, max_seq_length, device)
        self.band = band or Band()
        self.relabel = relabel

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The teacher's score of each ``(query, passage)`` pair."""
        rows = self.scorer.score([query for query, _ in pairs], [[passage] for _, passage in pairs])
        return [float(row[0]) for row in rows]
