"""Hardness guard: keep a synthetic negative only inside a teacher-score band below the positive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FALSE_NEGATIVE = "likely_false_negative"
OFF_TOPIC = "off_topic"


@dataclass(frozen=True)
class Band:
    """Keep scores in ``[floor * positive, positive - margin)``."""

    margin: float = 0.0
    floor: float = 0.5

    def verdict(self, score: float, positive_score: float) -> str | None:
        """The drop reason for ``score``, or None to keep it."""
        if score >= positive_score - self.margin:
            return FALSE_NEGATIVE
        if positive_score > 0 and score < self.floor * positive_score:
            return OFF_TOPIC
        return None


class HardnessGuard:
    """Cosine scores of a bi-encoder teacher (default: the packaged MiniLM) and a keep band."""

    def __init__(self, model: str | None = None, band: Band | None = None, batch_size: int = 32,
                 device: str | None = None) -> None:
        from syneg.models import load_encoder

        self.encoder = load_encoder(model, 256, device)
        self.band = band or Band()
        self.batch_size = batch_size

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each ``(query, passage)`` pair."""
        from syneg.retrieval.pairs import pair_cosines

        return pair_cosines(self.encoder, pairs, batch_size=self.batch_size).astype(float).tolist()
