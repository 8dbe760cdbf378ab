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

    def __init__(self, model: str | None = None, band: Band | None = None, batch_size: int = 32) -> None:
        from syneg.models import load_encoder

        self.encoder = load_encoder(model, max_seq_length=256)
        self.band = band or Band()
        self.batch_size = batch_size

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each ``(query, passage)`` pair."""
        if not pairs:
            return []
        queries = list(dict.fromkeys(q for q, _ in pairs))
        passages = list(dict.fromkeys(p for _, p in pairs))
        q_emb = self._encode(queries)
        p_emb = self._encode(passages)
        q_index = {text: i for i, text in enumerate(queries)}
        p_index = {text: i for i, text in enumerate(passages)}
        return [float((q_emb[q_index[q]] * p_emb[p_index[p]]).sum()) for q, p in pairs]

    def _encode(self, texts: list[str]):
        return self.encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
