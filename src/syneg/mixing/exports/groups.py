"""Rows of the list formats (FlagEmbedding, Tevatron): one per instance, or one per query.

Grouped, a query's positives are listed together and its negatives pooled in first-seen order,
without repeats (same document id, or same text for written passages) and without any passage that
is one of the query's positives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from syneg.records import Negative, TrainingInstance
from syneg.rng import stable_hash


@dataclass(frozen=True)
class Passage:
    """A positive or negative passage with its stable id and the teacher's score vs the query."""

    docid: str
    text: str
    teacher_score: float | None = None
    in_corpus: bool = True  # False for written (synthetic) passages


@dataclass
class Group:
    """One output row: a query, its positives and its negatives."""

    query_id: str
    query: str
    positives: list[Passage] = field(default_factory=list)
    negatives: list[Passage] = field(default_factory=list)


def passage_id(negative: Negative) -> str:
    """Corpus id, or a stable content id ``<source>-<hash>`` for written passages."""
    return negative.doc_id or f"{negative.source}-{stable_hash(negative.text):016x}"


def _passage(negative: Negative) -> Passage:
    return Passage(passage_id(negative), negative.text, negative.teacher_score, negative.doc_id is not None)


def _positives(instance: TrainingInstance) -> list[Passage]:
    """The instance's positive, then its relabelled extra positives."""
    return [Passage(instance.positive_id, instance.positive, instance.positive_teacher_score),
            *(_passage(p) for p in instance.extra_positives)]


def groups(instances: Iterable[TrainingInstance], by_query: bool = False) -> list[Group]:
    """One group per instance, or (``by_query``) one per query in first-seen order."""
    if not by_query:
        return [Group(i.query_id, i.query, _positives(i), [_passage(n) for n in i.negatives]) for i in instances]
    merged: dict[str, Group] = {}
    for instance in instances:
        group = merged.setdefault(instance.query_id, Group(instance.query_id, instance.query))
        group.positives += _positives(instance)
        group.negatives += [_passage(n) for n in instance.negatives]
    return [_dedup(group) for group in merged.values()]


def _dedup(group: Group) -> Group:
    positives = list({p.docid: p for p in group.positives}.values())
    taken = {p.docid for p in positives} | {p.text for p in positives}
    negatives = []
    for negative in group.negatives:
        if negative.docid not in taken and negative.text not in taken:
            taken |= {negative.docid, negative.text}
            negatives.append(negative)
    return Group(group.query_id, group.query, positives, negatives)
