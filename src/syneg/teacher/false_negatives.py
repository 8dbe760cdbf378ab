"""The false-negative decision: a passage the teacher scores at or above ``perc`` x its positive's
(NV-Retriever's TopK-PercPos) is no negative; it is dropped, or relabelled as an extra positive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from syneg.config import TeacherConfig

T = TypeVar("T")


def false_negative_threshold(reference: float, perc: float) -> float:
    """Lowest teacher score of a likely false negative: ``perc`` x a positive ``reference``; for a negative
    reference it still stays below it (``reference - |reference| x (1 - perc)``)."""
    return reference - abs(reference) * (1.0 - perc)


def is_false_negative(score: float, positive_score: float, perc: float) -> bool:
    """True when ``score`` reaches ``perc`` x ``positive_score`` (see :func:`false_negative_threshold`)."""
    return score >= false_negative_threshold(positive_score, perc)


def relabelled(flagged: Sequence[T], teacher: TeacherConfig | None) -> list[T]:
    """The flagged passages kept as extra positives (best first): up to ``max_extra_positives`` under
    ``false_negatives: relabel``, none under ``drop`` or without a teacher."""
    if teacher is None or teacher.false_negatives != "relabel":
        return []
    return list(flagged[: teacher.max_extra_positives])
