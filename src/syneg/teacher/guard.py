"""The hardness guard: keep a synthetic negative only inside a teacher-score band below its positive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from syneg.teacher.false_negatives import is_false_negative
from syneg.teacher.load import Teacher

FALSE_NEGATIVE = "likely_false_negative"
OFF_TOPIC = "off_topic"


@dataclass(frozen=True)
class Band:
    """Keep scores in ``[floor x positive, min(positive - margin, perc x positive))``.

    ``perc`` is the teacher's false-negative rule (:mod:`syneg.teacher.false_negatives`); 1.0 leaves only ``margin``.
    """

    margin: float = 0.0
    floor: float = 0.5
    perc: float = 1.0

    def verdict(self, score: float, positive_score: float) -> str | None:
        """The drop reason for ``score``, or None to keep it."""
        if score >= positive_score - self.margin or is_false_negative(score, positive_score, self.perc):
            return FALSE_NEGATIVE
        if positive_score > 0 and score < self.floor * positive_score:
            return OFF_TOPIC
        return None


@dataclass
class HardnessGuard:
    """A teacher and a keep band. ``relabel``: a likely false negative is kept as an extra positive of its
    pair instead of dropped."""

    teacher: Teacher
    band: Band = field(default_factory=Band)
    relabel: bool = False

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The teacher's score of each ``(query, passage)`` pair."""
        rows = self.teacher.score([query for query, _ in pairs], [[passage] for _, passage in pairs])
        return [float(row[0]) for row in rows]
