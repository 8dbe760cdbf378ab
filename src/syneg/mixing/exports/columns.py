"""sentence-transformers columns ``anchor, positive, negative_1..k`` and their JSONL / parquet files.

Column formats need the same number of negatives on every row: K is the largest count
(or the ``k`` asked for); a row with more is trimmed to its first K, a row with fewer is
padded by cycling its own negatives (a repeated negative only repeats its logit in the
loss). Rows without negatives cannot be padded and are skipped and counted.
"""

from __future__ import annotations

from pathlib import Path

from syneg.errors import SynegError
from syneg.io import atomic_open, write_jsonl
from syneg.records import Negative, TrainingInstance

Columns = dict[str, list[str]]


def fixed_negatives(negatives: list[Negative], k: int) -> list[Negative]:
    """Exactly k negatives: the first k, or the list cycled until it has k (needs one)."""
    return [negatives[i % len(negatives)] for i in range(k)]


def st_columns(instances: list[TrainingInstance], k: int | None = None) -> tuple[Columns, dict[str, int]]:
    """sentence-transformers columns ``anchor, positive, negative_1..k``, plus padding counts."""
    usable = [i for i in instances if i.negatives]
    k = k if k is not None else max((len(i.negatives) for i in usable), default=0)
    if k < 1 or not usable:
        raise SynegError("no instance has a negative: nothing to train on")
    columns: Columns = {"anchor": [], "positive": [], **{f"negative_{j + 1}": [] for j in range(k)}}
    for instance in usable:
        columns["anchor"].append(instance.query)
        columns["positive"].append(instance.positive)
        for j, negative in enumerate(fixed_negatives(instance.negatives, k)):
            columns[f"negative_{j + 1}"].append(negative.text)
    info = {"k": k, "rows": len(usable), "skipped_empty": len(instances) - len(usable),
            "padded": sum(1 for i in usable if len(i.negatives) < k),
            "trimmed": sum(1 for i in usable if len(i.negatives) > k)}
    return columns, info


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
