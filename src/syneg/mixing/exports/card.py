"""The dataset card (README.md) of a Hub-ready dataset folder, built with ``huggingface_hub``.

Its metadata follows the Hub's dataset card spec: the license and source of the data, language,
``size_categories`` (the Hub's labels), task categories, tags and a ``configs`` entry that points
``datasets.load_dataset(folder)`` at the parquet files. The body gives the columns and where the
negatives come from (:mod:`syneg.mixing.exports.provenance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syneg.mixing.exports.provenance import provenance_lines, stats_details

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))
EMBEDDED_LICENSE = ["cc-by-4.0", "odc-by"]  # SciFact claims (queries): CC BY 4.0; abstracts: ODC-By 1.0
EMBEDDED_SOURCE = ["allenai/scifact", "BeIR/scifact"]
DATA_PATTERN = "data/train-*"


@dataclass(frozen=True)
class DataTerms:
    """License, language and sources of the data a training set was made from."""

    license: str | list[str] = "unknown"
    language: str | None = "en"
    source_datasets: list[str] | None = None

    @classmethod
    def of(cls, data: Path | None, license: str | None = None, language: str | None = "en") -> DataTerms:
        """The embedded SciFact slice's terms when ``data`` is None; else ``license`` or ``unknown``."""
        if data is None:
            return cls(license or EMBEDDED_LICENSE, language, EMBEDDED_SOURCE)
        return cls(license or "unknown", language)


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` label for ``rows`` examples."""
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1B")


def dataset_info(columns: list[str], rows: int, nbytes: int, file_size: int) -> dict[str, Any]:
    """The ``dataset_info`` metadata ``Dataset.push_to_hub`` writes: features, split sizes, byte counts.

    Besides informing the Hub's viewer it keys ``datasets``' cache: for a local folder whose card has
    ``configs``, ``load_dataset`` hashes the card's metadata (not the files), so without sizes a new
    export in a folder of the same name would load the previous one's cached rows.
    """
    return {"features": [_feature(name) for name in columns], "config_name": "default",
            "splits": [{"name": "train", "num_bytes": nbytes, "num_examples": rows}],
            "download_size": file_size, "dataset_size": nbytes}


def _feature(name: str) -> dict[str, Any]:
    """A text column, or the ``label`` list of teacher scores."""
    return {"name": name, "sequence": "float64"} if name == "label" else {"name": name, "dtype": "string"}


def dataset_card(info: Mapping[str, Any], provenance: Mapping[str, Any], terms: DataTerms,
                 data_info: Mapping[str, Any]):
    """A ``huggingface_hub.DatasetCard`` for the sentence-transformers columns described by ``info``."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(
        license=terms.license, language=terms.language, source_datasets=terms.source_datasets,
        size_categories=[size_category(info["rows"])], task_categories=["sentence-similarity", "text-retrieval"],
        pretty_name="syneg hard-negative training set", tags=["sentence-transformers", "hard-negatives", "syneg"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_PATTERN}]}],
        dataset_info=dict(data_info),
    )
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(_body(info, provenance)))


def _body(info: Mapping[str, Any], provenance: Mapping[str, Any]) -> list[str]:
    k = info["k"]
    columns = ", ".join(["`anchor`", "`positive`", *(f"`negative_{j + 1}`" for j in range(k))])
    return [
        "# syneg hard-negative training set", "",
        "Queries with one positive passage and hard negatives (retrieved and/or LLM-written), made by",
        "`syneg mix` for contrastive training (sentence-transformers MultipleNegativesRankingLoss / InfoNCE).", "",
        "```python", "from datasets import load_dataset", "",
        'train = load_dataset("<this folder or repo>", split="train")', "```", "",
        "## Data", "",
        f"- rows: {info['rows']} (left out without any negative: {info['skipped_empty']})",
        f"- columns: {columns}",
        f"- rows padded to {k} negatives by cycling their own: {info['padded']}; trimmed: {info['trimmed']}", "",
        "## Provenance", "", *provenance_lines(provenance), "", *stats_details(provenance),
    ]
