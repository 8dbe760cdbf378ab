"""Write mixed training instances in the formats common trainers read.

Formats: ``syneg`` (TrainingInstance JSONL), ``sentence-transformers`` (``anchor``,
``positive``, ``negative_1..k`` as JSONL, or parquet when the path ends in ``.parquet``),
``flagembedding`` (``query``/``pos``/``neg`` JSONL), ``tevatron`` (``query_id``, ``query``,
``positive_passages``, ``negative_passages`` JSONL) and ``hf-dataset`` (a ``datasets``
``save_to_disk`` folder of the sentence-transformers columns with a dataset card).

Column formats need the same number of negatives on every row: K is the largest count
(or the ``k`` asked for); a row with more is trimmed to its first K, a row with fewer is
padded by cycling its own negatives (a repeated negative only repeats its logit in the
loss). Rows without negatives cannot be padded and are skipped and counted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from syneg.errors import SynegError
from syneg.io import atomic_open, write_jsonl, write_text
from syneg.records import Negative, TrainingInstance
from syneg.rng import stable_hash

FORMATS: tuple[str, ...] = ("syneg", "sentence-transformers", "flagembedding", "tevatron", "hf-dataset")


def fixed_negatives(negatives: list[Negative], k: int) -> list[Negative]:
    """Exactly k negatives: the first k, or the list cycled until it has k (needs one)."""
    return [negatives[i % len(negatives)] for i in range(k)]


def st_columns(instances: list[TrainingInstance], k: int | None = None) -> tuple[dict[str, list[str]], dict[str, int]]:
    """sentence-transformers columns ``anchor, positive, negative_1..k``, plus padding counts."""
    usable = [i for i in instances if i.negatives]
    k = k if k is not None else max((len(i.negatives) for i in usable), default=0)
    if k < 1 or not usable:
        raise SynegError("no instance has a negative: nothing to train on")
    columns: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{j + 1}": [] for j in range(k)}}
    for instance in usable:
        columns["anchor"].append(instance.query)
        columns["positive"].append(instance.positive)
        for j, negative in enumerate(fixed_negatives(instance.negatives, k)):
            columns[f"negative_{j + 1}"].append(negative.text)
    info = {"k": k, "rows": len(usable), "skipped_empty": len(instances) - len(usable),
            "padded": sum(1 for i in usable if len(i.negatives) < k),
            "trimmed": sum(1 for i in usable if len(i.negatives) > k)}
    return columns, info


def _docid(negative: Negative) -> str:
    """Corpus id, or a stable content id ``synthetic-<hash>`` for written passages."""
    return negative.doc_id or f"{negative.source}-{stable_hash(negative.text):016x}"


def flagembedding_row(instance: TrainingInstance) -> dict[str, Any]:
    return {"query": instance.query, "pos": [instance.positive], "neg": [n.text for n in instance.negatives]}


def tevatron_row(instance: TrainingInstance) -> dict[str, Any]:
    def passage(docid: str, text: str) -> dict[str, str]:
        return {"docid": docid, "title": "", "text": text}
    return {"query_id": instance.query_id, "query": instance.query,
            "positive_passages": [passage(instance.positive_id, instance.positive)],
            "negative_passages": [passage(_docid(n), n.text) for n in instance.negatives]}


def export(instances: list[TrainingInstance], out: str | Path, fmt: str = "syneg",
           card: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``instances`` to ``out`` in ``fmt`` (atomically); returns what was written."""
    out = Path(out)
    if fmt == "syneg":
        return {"format": fmt, "rows": write_jsonl(out, instances)}
    if fmt == "flagembedding":
        return {"format": fmt, "rows": write_jsonl(out, map(flagembedding_row, instances))}
    if fmt == "tevatron":
        return {"format": fmt, "rows": write_jsonl(out, map(tevatron_row, instances))}
    if fmt not in ("sentence-transformers", "hf-dataset"):
        raise SynegError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    columns, info = st_columns(instances)
    if fmt == "hf-dataset":
        save_hf_dataset(columns, out, dataset_card(info, card or {}))
    elif out.suffix == ".parquet":
        from datasets import Dataset

        with atomic_open(out, "wb") as handle:
            Dataset.from_dict(columns).to_parquet(handle)
    else:
        names = list(columns)
        write_jsonl(out, ({n: columns[n][r] for n in names} for r in range(info["rows"])))
    return {"format": fmt, **info}


def save_hf_dataset(columns: dict[str, list[str]], out: Path, card_text: str) -> None:
    """``Dataset.save_to_disk`` into a temporary folder, add README.md, then rename into place."""
    from datasets import Dataset

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        Dataset.from_dict(columns).save_to_disk(str(tmp / "data"))
        for item in (tmp / "data").iterdir():
            os.replace(item, tmp / item.name)
        (tmp / "data").rmdir()
        write_text(tmp / "README.md", card_text)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``, replacing an existing ``dst`` only after ``src`` is complete."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def dataset_card(info: dict[str, Any], card: dict[str, Any]) -> str:
    """A dataset card README.md: columns, size and the mining / generation / mixing parameters."""
    k = info["k"]
    columns = ", ".join(["`anchor`", "`positive`", *(f"`negative_{j + 1}`" for j in range(k))])
    lines = [
        "---", "task_categories:", "- sentence-similarity", "tags:", "- sentence-transformers",
        "- hard-negatives", "- syneg", f"size_categories: {_size_category(info['rows'])}", "---", "",
        "# syneg training set", "",
        "Queries with one positive and hard negatives (retrieved and/or LLM-synthesized), written by",
        "`syneg mix` for contrastive training (MultipleNegativesRankingLoss / InfoNCE).", "",
        f"- rows: {info['rows']} (skipped without negatives: {info['skipped_empty']})",
        f"- columns: {columns}",
        f"- rows padded to {k} negatives by cycling their own: {info['padded']}; trimmed: {info['trimmed']}", "",
        "Load with `datasets.load_from_disk(path)`.", "",
    ]
    for title, key in (("Mixing", "mix"), ("Mining parameters", "mine"), ("Generation parameters", "synthesize")):
        lines += [f"## {title}", ""]
        found = card.get(key)
        lines += ["```json", json.dumps(found, indent=2, default=str), "```"] if found else ["(no statistics found)"]
        lines.append("")
    return "\n".join(lines)


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "n>100K"
