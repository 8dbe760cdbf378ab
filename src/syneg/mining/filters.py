"""Pure candidate filtering and sampling for hard-negative mining.

The steps, per query, in order (each removed candidate is counted under the first step that drops it):

1. ``positive_id`` / ``positive_duplicate``: every positive of the query (not only the instance's)
   is dropped by id, and so is any document whose normalized text matches one of them.
2. ``no_match`` (BM25 only): candidates scoring 0 share no term with the query; bm25s still
   returns them (in doc-id order) to fill ``top_k``, but they are arbitrary, not hard, so they go.
3. ``rank_range``: of the remaining candidates, in retriever order, only positions
   ``range_min <= i < range_max`` (0-based) stay, so ``range_min=5`` skips the five best non-positives.
   (sentence-transformers applies ``range_min`` after the score filters, to the survivors; here
   the window is a window of retriever ranks, and the score filters only see what is inside it.)
4. Score filters on the *filter score* (the teacher's score when ``teacher.model`` is set,
   else the retriever's), against the *reference*: the lowest filter score among the query's
   positives, as sentence-transformers does ("to be on the safe side").

   - ``absolute_margin``: drop when ``score + margin > reference``.
   - ``relative_margin``: drop when ``score > reference - |reference| * margin``. For a positive
     reference this is ``(1 - margin) x reference``; for a *negative* reference (cosine or teacher
     scores can be negative) it is ``(1 + margin) x reference``, i.e. still ``margin`` of the
     positive's magnitude *below* it. Multiplying by ``(1 - margin)`` there would raise the
     threshold above the positive and let false negatives through (sentence-transformers #3819
     fixed exactly that; its current behaviour is what we implement).
   - ``max_score``: drop when ``score > max_score``.

   A candidate exactly at a threshold is kept ("at most"). Before them, with a teacher,
   ``false_negative`` (NV-Retriever's TopK-PercPos) flags a candidate whose teacher score is *at or
   above* ``perc`` x the reference (``reference - |reference| x (1 - perc)`` for a negative one):
   it is dropped, or handed back to the caller to relabel as an extra positive
   (:mod:`syneg.teacher.false_negatives`).
5. Survivors are ordered by filter score (descending, ties by retriever rank); ``top`` takes the
   first ``n``, ``random`` samples ``n`` of them with the instance's own RNG and re-sorts them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from syneg.teacher.false_negatives import false_negative_threshold

FILTERS = (
    "positive_id", "positive_duplicate", "no_match", "rank_range", "false_negative", "absolute_margin",
    "relative_margin", "max_score",
)
FILTER_SETTINGS = {  # the setting behind each filter, as the user names it
    "positive_id": "the query's positives", "positive_duplicate": "copies of the query's positives",
    "no_match": "BM25's zero-score candidates", "rank_range": "--range-min/--range-max",
    "false_negative": "--perc (teacher false negatives)", "absolute_margin": "--absolute-margin",
    "relative_margin": "--relative-margin", "max_score": "--max-score",
}


@dataclass(frozen=True)
class Candidate:
    """A retrieved document for one query."""

    doc_id: str
    rank: int  # 1-based rank in the retriever's list (positives included)
    score: float  # retriever score
    teacher: float | None = None  # rescoring model's score, when one is used

    @property
    def key(self) -> float:
        """The score the filters and ``top`` ordering use."""
        return self.score if self.teacher is None else self.teacher

    def with_teacher(self, teacher: float) -> Candidate:
        return replace(self, teacher=teacher)


def candidates_from(ids: list[str], scores: list[float]) -> list[Candidate]:
    """Candidates from one query's retrieval result (ids by descending score)."""
    return [Candidate(doc_id, rank, float(score)) for rank, (doc_id, score) in enumerate(zip(ids, scores), start=1)]


def exclude_positives(
    candidates: list[Candidate],
    positive_ids: set[str],
    positive_keys: frozenset[int],
    keys_of: Callable[[str], frozenset[int]],
    removed: Counter,
) -> list[Candidate]:
    """Drop positives by id, then documents whose duplicate keys (``keys_of(doc_id)``) meet a positive's."""
    kept = []
    for cand in candidates:
        if cand.doc_id in positive_ids:
            removed["positive_id"] += 1
        elif keys_of(cand.doc_id) & positive_keys:
            removed["positive_duplicate"] += 1
        else:
            kept.append(cand)
    return kept


def drop_unmatched(candidates: list[Candidate], removed: Counter) -> list[Candidate]:
    """Drop candidates with a retriever score of 0 or less (BM25: no query term in the document)."""
    kept = [cand for cand in candidates if cand.score > 0]
    removed["no_match"] += len(candidates) - len(kept)
    return kept


def rank_window(candidates: list[Candidate], range_min: int, range_max: int | None, removed: Counter) -> list[Candidate]:
    """Keep positions ``[range_min, range_max)`` of the (positive-free) candidate list."""
    kept = candidates[range_min:range_max]
    removed["rank_range"] += len(candidates) - len(kept)
    return kept


def relative_threshold(reference: float, margin: float) -> float:
    """Highest score a negative may have under a relative margin (see the module docstring)."""
    return reference - abs(reference) * margin


def score_filters(
    candidates: list[Candidate],
    reference: float,
    *,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    max_score: float | None = None,
    false_negative: float | None = None,
    flagged: list[Candidate] | None = None,
    removed: Counter,
) -> list[Candidate]:
    """Apply the false-negative (teacher-scored candidates, ``false_negative`` = perc), margin and
    max-score filters, in that order, against the positives' ``reference`` score; false negatives
    are appended to ``flagged`` (best first) when it is given."""
    rel = None if relative_margin is None else relative_threshold(reference, relative_margin)
    fn = None if false_negative is None else false_negative_threshold(reference, false_negative)
    kept = []
    for cand in candidates:
        if fn is not None and cand.teacher is not None and cand.teacher >= fn:
            removed["false_negative"] += 1
            if flagged is not None:
                flagged.append(cand)
        elif absolute_margin is not None and cand.key + absolute_margin > reference:
            removed["absolute_margin"] += 1
        elif rel is not None and cand.key > rel:
            removed["relative_margin"] += 1
        elif max_score is not None and cand.key > max_score:
            removed["max_score"] += 1
        else:
            kept.append(cand)
    if flagged is not None:
        flagged.sort(key=_order)
    return sorted(kept, key=_order)


def choose(
    survivors: list[Candidate],
    n: int,
    sampling: Literal["top", "random"],
    rng: random.Random,
) -> list[Candidate]:
    """Pick up to ``n`` negatives from ``survivors`` (already in filter-score order)."""
    if sampling == "top" or len(survivors) <= n:
        return survivors[:n]
    return sorted(rng.sample(survivors, n), key=_order)


def _order(cand: Candidate) -> tuple[float, int]:
    return (-cand.key, cand.rank)
