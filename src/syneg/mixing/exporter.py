"""Write mixed training instances in the formats common trainers read.

| format                  | output | content                                                              |
|-------------------------|--------|----------------------------------------------------------------------|
| ``syneg``               | file   | ``TrainingInstance`` JSONL                                           |
| ``sentence-transformers`` | file | ``anchor, positive, negative_1..k`` JSONL (parquet for ``.parquet``) |
| ``hf-dataset``          | folder | the same columns as Hub-ready parquet + dataset card (``load_dataset(folder)``) |
| ``flagembedding``       | file   | ``query, pos, neg`` (+ teacher scores, ``prompt``, ``type``) JSONL   |
| ``tevatron``            | file   | classic ``query_id, query, positive_passages, negative_passages``    |
| ``tevatron-v2``         | folder | ``train.jsonl`` of document ids + ``corpus.jsonl``                  |

Each writer is one module of :mod:`syneg.mixing.exports`; :class:`ExportOptions` holds the settings
only some formats use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syneg.data import Document
from syneg.errors import SynegError
from syneg.io import write_jsonl
from syneg.mixing.exports.card import DataTerms
from syneg.mixing.exports.columns import st_columns, write_columns
from syneg.mixing.exports.flag import flag_row
from syneg.mixing.exports.groups import groups
from syneg.mixing.exports.hub import write_hub_folder
from syneg.mixing.exports.tevatron import write_tevatron, write_tevatron_v2
from syneg.records import TrainingInstance

FORMATS: tuple[str, ...] = ("syneg", "sentence-transformers", "hf-dataset", "flagembedding", "tevatron",
                            "tevatron-v2")
FOLDER_FORMATS: tuple[str, ...] = ("hf-dataset", "tevatron-v2")
GROUPED_FORMATS: tuple[str, ...] = ("flagembedding", "tevatron", "tevatron-v2")
CORPUS_FORMATS: tuple[str, ...] = ("tevatron", "tevatron-v2")  # read titles from the corpus
OPTION_FORMATS: dict[str, tuple[str, ...]] = {  # CLI options that only some formats use
    "--query-prompt": ("flagembedding",), "--group-positives": GROUPED_FORMATS,
    "--license": ("hf-dataset",), "--push-to-hub": ("hf-dataset",),
}


@dataclass(frozen=True)
class ExportOptions:
    """Settings of some formats: provenance and data terms (hf-dataset), corpus (tevatron*), flags."""

    provenance: Mapping[str, Any] = field(default_factory=dict)  # see syneg.mixing.exports.provenance
    terms: DataTerms = DataTerms()
    corpus: Mapping[str, Document] | None = None  # splits titles from texts for Tevatron
    query_prompt: str | None = None  # FlagEmbedding's per-row query instruction
    group_positives: bool = False  # one row per query (list formats)


def check_format_options(fmt: str, given: Mapping[str, bool]) -> None:
    """Refuse an option (a key of :data:`OPTION_FORMATS`, given or not) that ``fmt`` does not use."""
    for option, used in given.items():
        if used and fmt not in OPTION_FORMATS[option]:
            raise SynegError(f"{option} applies to --format {' / '.join(OPTION_FORMATS[option])}, not {fmt}")


def export(instances: Iterable[TrainingInstance], out: str | Path, fmt: str = "syneg",
           options: ExportOptions | None = None) -> dict[str, Any]:
    """Write ``instances`` to ``out`` in ``fmt`` (atomically); returns what was written.

    The ``syneg`` format is written as ``instances`` yields them; the others read them all first.
    """
    out, options = Path(out), options or ExportOptions()
    if fmt not in FORMATS:
        raise SynegError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "syneg":
        return {"format": fmt, "rows": write_jsonl(out, instances)}
    instances = list(instances)
    if fmt in GROUPED_FORMATS:
        return {"format": fmt, "grouped": options.group_positives, **_write_grouped(instances, out, fmt, options)}
    columns, info = st_columns(instances, scores=fully_scored(instances))
    if fmt == "hf-dataset":
        write_hub_folder(columns, info, options.provenance, options.terms, out)
    else:
        write_columns(columns, out)
    return {"format": fmt, **info}


def fully_scored(instances: list[TrainingInstance]) -> bool:
    """True when the teacher scored every positive and negative (the column formats then carry ``label``)."""
    return all(i.positive_teacher_score is not None and all(p.teacher_score is not None
                                                           for p in (*i.negatives, *i.extra_positives))
               for i in instances if i.negatives)


def _write_grouped(instances: list[TrainingInstance], out: Path, fmt: str, options: ExportOptions) -> dict[str, Any]:
    rows = groups(instances, options.group_positives)
    if fmt == "flagembedding":
        return {"rows": write_jsonl(out, (flag_row(g, options.query_prompt) for g in rows))}
    if fmt == "tevatron":
        return write_tevatron(rows, options.corpus, out)
    return write_tevatron_v2(rows, options.corpus, out)
