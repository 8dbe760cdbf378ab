"""sentence-transformers columns ``anchor, positive, negative_1..k`` and their JSONL / parquet files.

Column formats need the same number of negatives on every row: K is the largest count
(or the ``k`` asked for); a row with more is trimmed to its first K, a row with fewer is
padded by cycling its own negatives (a repeated negative only repeats its logit in the
loss). Rows without negatives cannot be padded and are skipped and counted. An instance's
relabelled extra positives give it one more row each (same query and negatives).
With ``scores``, a ``label`` column holds the teacher scores ``[positive, negative_1..k]``
(sentence-transformers' label format for MarginMSE / KL distillation).
"""

from __future__ import annotations

from pathlib import Path

from syneg.errors import SynegError
from syneg.io import atomic_open, write_jsonl
from syneg.records import Negative, TrainingInstance

Columns = dict[str, list]


def fixed_negatives(negatives: list[Negative], k: int) -> list[Negative]:
    """Exactly k negatives: the first k, or the list cycled until it has k (needs one)."""
    return [negatives[i % len(negatives)] for i in range(k)]


def positives_of(instance: TrainingInstance) -> list[tuple[str, float | None]]:
    """``(text, teacher score)`` of the instance's positive, then of its relabelled extra positives."""
    return [(instance.positive, instance.positive_teacher_score),
            *((p.text, p.teacher_score) for p in instance.extra_positives)]


def st_columns(instances: list[TrainingInstance], k: int | None = None,
               scores: bool = False) -> tuple[Columns, dict[str, int]]:
    """sentence-transformers columns ``anchor, positive, negative_1..k`` (and ``label``), plus counts."""
    usable = [i for i in instances if i.negatives]
    k = k if k is not None else max((len(i.negatives) for i in usable), default=0)
    if k < 1 or not usable:
        raise SynegError("no instance has a negative: nothing to train on")
    columns: Columns = {"anchor": [], "positive": [], **{f"negative_{j + 1}": [] for j in range(k)}}
    if scores:
        columns["label"] = []
    for instance in usable:
        negatives = fixed_negatives(instance.negatives, k)
        for text, score in positives_of(instance):
            columns["anchor"].append(instance.query)
            columns["positive"].append(text)
            for j, negative in enumerate(negatives):
                columns[f"negative_{j + 1}"].append(negative.text)
            if scores:
                columns["label"].append(_scores(instance, score, negatives))
    info = {"k": k, "rows": len(columns["anchor"]), "skipped_empty": len(instances) - len(usable),
            "padded": sum(1 for i in usable if len(i.negatives) < k),
            "trimmed": sum(1 for i in usable if len(i.negatives) > k),
            "extra_positive_rows": sum(len(i.extra_positives) for i in usable)}
    return columns, info


def _scores(instance: TrainingInstance, positive: float | None, negatives: list[Negative]) -> list[float]:
    values = [positive, *(n.teacher_score for n in negatives)]
    if any(v is None for v in values):
        raise SynegError(f"instance {instance.query_id}/{instance.positive_id} lacks teacher scores, which a "
                         "distillation loss needs (set teacher.model so the train stage scores them)")
    return [float(v) for v in values]


def write_parquet(columns: Columns, out: Path) -> None:
    """The columns as one parquet file (atomically)."""
    from datasets import Dataset

    with atomic_open(out, "wb") as handle:
        Dataset.from_dict(columns).to_parquet(handle)


def write_columns(columns: Columns, out: Path) -> None:
    """Parquet when ``out`` ends in ``.parquet``, else one JSON object per row."""
    if out.suffix == ".parquet":
        write_parquet(columns, out)
        return
    names = list(columns)
    rows = len(columns[names[0]])
    write_jsonl(out, ({n: columns[n][r] for n in names} for r in range(rows)))
