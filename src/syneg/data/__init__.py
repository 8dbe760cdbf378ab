"""Data layer: BEIR folders, the embedded default and carved dev splits."""

from __future__ import annotations

from pathlib import Path

from syneg.data.beir import (
    BeirDataset, Document, available_splits, has_split, load_beir, load_corpus, load_qrels, load_queries, load_unlabelled,
)
from syneg.data.embedded import embedded_path
from syneg.data.split import CARVED_SPLITS, carve_dev
from syneg.errors import SynegError


def load_dataset(
    data: str | Path | None,
    split: str,
    dev_fraction: float | None = None,
    seed: int = 0,
) -> BeirDataset:
    """Load ``split`` of a BEIR folder (the embedded slice when ``data`` is None).

    With ``dev_fraction`` the queries of ``qrels/train.tsv`` are carved in two: ``split``
    must be ``train`` (the rest) or ``dev`` (the carved fraction); any ``dev.tsv`` is ignored.
    """
    folder = Path(data) if data is not None else embedded_path()
    if dev_fraction is None:
        return load_beir(folder, split)
    if split not in CARVED_SPLITS:
        raise SynegError(f"with --dev-fraction the split must be 'train' or 'dev', got {split!r}")
    full = load_beir(folder, "train")
    train_ids, dev_ids = carve_dev(list(full.qrels), dev_fraction, seed)
    keep = train_ids if split == "train" else dev_ids
    if not keep:
        raise SynegError(f"--dev-fraction {dev_fraction} leaves the {split!r} split no query "
                         f"({len(full.qrels)} judged train queries in {folder})")
    full.split = split
    full.qrels = {qid: full.qrels[qid] for qid in keep}
    full.queries = {qid: full.queries[qid] for qid in keep}
    full.meta = {"carved_from": "train", "dev_fraction": dev_fraction, "seed": seed}
    return full


__all__ = [
    "BeirDataset",
    "Document",
    "available_splits",
    "carve_dev",
    "embedded_path",
    "has_split",
    "load_beir",
    "load_corpus",
    "load_dataset",
    "load_qrels",
    "load_queries",
    "load_unlabelled",
]
