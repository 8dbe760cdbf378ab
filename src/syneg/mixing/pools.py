"""Negative pools per (query, positive) instance: retrieved (mined), synthetic and random corpus."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from syneg.records import MinedInstance, Negative, SyntheticNegative


@dataclass
class SyntheticIndex:
    """Synthetic negatives keyed by (query_id, positive_id), with a per-query fallback.

    A synthetic negative attaches to the instance with its exact (query_id, positive_id);
    when that pair is not among the mined instances (synthesis ran per query only, e.g. with
    an empty or unknown positive_id), it attaches to every instance of its query_id.
    """

    by_pair: dict[tuple[str, str], list[Negative]] = field(default_factory=dict)
    by_query: dict[str, list[Negative]] = field(default_factory=dict)
    unmatched: int = 0  # synthetic negatives whose query has no mined instance
    positives: dict[tuple[str, str], list[Negative]] = field(default_factory=dict)  # relabelled (label=positive)

    def pool(self, query_id: str, positive_id: str) -> list[Negative]:
        """The synthetic negatives available to one instance (exact pair first, then per-query)."""
        return [*self.by_pair.get((query_id, positive_id), []), *self.by_query.get(query_id, [])]


def index_synthetic(synthetic: Iterable[SyntheticNegative], pairs: list[tuple[str, str]]) -> SyntheticIndex:
    """Group synthetic negatives by the mined instance (``(query_id, positive_id)`` of ``pairs``) they belong to."""
    queries = {query_id for query_id, _ in pairs}
    pairs = set(pairs)
    by_pair: dict[tuple[str, str], list[Negative]] = defaultdict(list)
    by_query: dict[str, list[Negative]] = defaultdict(list)
    positives: dict[tuple[str, str], list[Negative]] = defaultdict(list)
    unmatched = 0
    for syn in synthetic:
        negative = Negative(text=syn.text, source="synthetic", score=syn.teacher_score, teacher_score=syn.teacher_score)
        if syn.label == "positive":
            positives[(syn.query_id, syn.positive_id)].append(negative)
        elif (syn.query_id, syn.positive_id) in pairs:
            by_pair[(syn.query_id, syn.positive_id)].append(negative)
        elif syn.query_id in queries:
            by_query[syn.query_id].append(negative)
        else:
            unmatched += 1
    return SyntheticIndex(dict(by_pair), dict(by_query), unmatched, dict(positives))


def retrieved_pool(instance: MinedInstance) -> list[Negative]:
    """The mined (BM25 / dense) negatives of one instance, in mining order."""
    return [n for n in instance.negatives if n.source in ("bm25", "dense")]


def dedupe(negatives: Iterable[Negative], positive: str) -> list[Negative]:
    """Drop negatives whose text repeats an earlier one or equals the positive (order kept)."""
    seen = {positive.strip()}
    kept = []
    for negative in negatives:
        key = negative.text.strip()
        if key and key not in seen:
            seen.add(key)
            kept.append(negative)
    return kept


def query_positives(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Every positive id seen for each query of the mined ``(query_id, positive_id)`` pairs (random
    negatives must avoid all of them)."""
    positives: dict[str, set[str]] = defaultdict(set)
    for query_id, positive_id in pairs:
        positives[query_id].add(positive_id)
    return dict(positives)
