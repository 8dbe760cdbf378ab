"""FlagEmbedding JSONL: ``query``, ``pos``, ``neg``; where known ``pos_scores``/``neg_scores``, ``prompt``, ``type``.

FlagEmbedding's ``AbsEmbedderTrainDataset`` reads the scores only for knowledge distillation, and
then needs both lists, aligned with ``pos`` and ``neg`` and all numbers: a row carries the two
score lists when the teacher scored every one of its passages, and neither otherwise (never nulls).
``prompt`` is the query instruction (it overrides ``query_instruction_for_retrieval``); ``type``
is ``normal``, FlagEmbedding's name for asymmetric retrieval data (the others are symmetric tasks).
"""

from __future__ import annotations

from typing import Any

from syneg.mixing.exports.groups import Group

FLAG_TYPE = "normal"


def flag_row(group: Group, prompt: str | None = None) -> dict[str, Any]:
    """One FlagEmbedding training row."""
    row: dict[str, Any] = {"query": group.query, "pos": [p.text for p in group.positives],
                           "neg": [n.text for n in group.negatives]}
    passages = group.positives + group.negatives
    if all(p.teacher_score is not None for p in passages):
        row["pos_scores"] = [p.teacher_score for p in group.positives]
        row["neg_scores"] = [n.teacher_score for n in group.negatives]
    if prompt is not None:
        row["prompt"] = prompt
    row["type"] = FLAG_TYPE
    return row
