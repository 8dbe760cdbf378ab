"""Load and validate BEIR-format folders: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from syneg.errors import DataError
from syneg.io import iter_jsonl, iter_lines, resolve_input
from syneg.limits import MAX_GRADE

QRELS_HEADER = ("query-id", "corpus-id", "score")
HEADER_TEXT = "\t".join(QRELS_HEADER)


@dataclass(frozen=True)
class Document:
    """One corpus entry."""

    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR's dense models do."""
        return f"{self.title} {self.text}".strip()


@dataclass
class BeirDataset:
    """A corpus, the queries of one split, and that split's relevance labels."""

    path: Path
    split: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    meta: dict[str, object] = field(default_factory=dict)

    def positives(self, query_id: str) -> list[str]:
        """Ids of documents judged relevant (score > 0), in qrels order."""
        return [doc_id for doc_id, score in self.qrels.get(query_id, {}).items() if score > 0]

    def doc_text(self, doc_id: str) -> str:
        """The text a retriever sees for ``doc_id``."""
        return self.corpus[doc_id].full_text

    def __iter__(self):
        """Unpack as ``corpus, queries, qrels`` like BEIR's GenericDataLoader."""
        return iter((self.corpus, self.queries, self.qrels))


def _check_dir(path: Path) -> None:
    if not path.is_dir():
        raise DataError(path, "data folder not found (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)")


def load_corpus(path: str | Path) -> dict[str, Document]:
    """Read ``corpus.jsonl``; ids become strings, and a document needs a title or a text."""
    path = resolve_input(path)
    corpus: dict[str, Document] = {}
    for number, obj in iter_jsonl(path):
        doc_id = _require_id(obj, path, number)
        if doc_id in corpus:
            raise DataError(path, f"duplicate _id {doc_id!r}", number)
        title, text = _string_field(obj, "title", path, number), _string_field(obj, "text", path, number)
        if not title.strip() and not text.strip():
            raise DataError(path, f"document {doc_id!r} has empty text and title", number)
        corpus[doc_id] = Document(title=title, text=text)
    if not corpus:
        raise DataError(path, "corpus is empty")
    return corpus


def load_queries(path: str | Path) -> dict[str, str]:
    """Read ``queries.jsonl`` into ``{query_id: text}``."""
    path = resolve_input(path)
    queries: dict[str, str] = {}
    for number, obj in iter_jsonl(path):
        query_id = _require_id(obj, path, number)
        if query_id in queries:
            raise DataError(path, f"duplicate _id {query_id!r}", number)
        text = _string_field(obj, "text", path, number)
        if not text.strip():
            raise DataError(path, f"query {query_id!r} has empty text", number)
        queries[query_id] = text
    return queries


def available_splits(data_dir: str | Path) -> list[str]:
    """Split names that have a ``qrels/<split>.tsv`` (or ``.tsv.gz``) file."""
    files = [p for pattern in ("*.tsv", "*.tsv.gz") for p in (Path(data_dir) / "qrels").glob(pattern) if p.is_file()]
    return sorted({p.name.removesuffix(".gz").removesuffix(".tsv") for p in files})


def load_qrels(
    path: str | Path,
    queries: dict[str, str] | None = None,
    corpus: dict[str, Document] | None = None,
) -> dict[str, dict[str, int]]:
    """Read a qrels TSV (header ``query-id corpus-id score``, integer grades within +-``MAX_GRADE``).

    When ``queries`` / ``corpus`` are given, every row must point into them. A pair judged twice
    with different scores is an error; an identical repeated row is accepted.
    """
    path = resolve_input(path)
    rows = iter_lines(path)
    first = next(rows, None)
    if first is None or tuple(c.strip() for c in first[1].split("\t")) != QRELS_HEADER:
        raise DataError(path, f"expected the header {HEADER_TEXT!r}", 1 if first is None else first[0])
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for number, line in rows:
        query_id, doc_id, score = _qrels_row(line, path, number)
        if queries is not None and query_id not in queries:
            raise DataError(path, f"query-id {query_id!r} is not in queries.jsonl", number)
        if corpus is not None and doc_id not in corpus:
            raise DataError(path, f"corpus-id {doc_id!r} is not in corpus.jsonl", number)
        known = qrels.setdefault(query_id, {})
        if doc_id in known and known[doc_id] != score:
            raise DataError(path, f"query-id {query_id!r} corpus-id {doc_id!r} is judged {known[doc_id]} on line "
                                  f"{first_line[query_id, doc_id]} and {score} on line {number}", number)
        known[doc_id] = score
        first_line.setdefault((query_id, doc_id), number)
    if not qrels:
        raise DataError(path, "no judgements (the file has only the header)")
    return qrels


def _qrels_row(line: str, path: Path, number: int) -> tuple[str, str, int]:
    cells = [c.strip() for c in line.rstrip("\r\n").split("\t")]
    if len(cells) != 3:
        raise DataError(path, f"expected 3 tab-separated columns, got {len(cells)}", number)
    query_id = _clean_id(cells[0], "query-id", path, number)
    doc_id = _clean_id(cells[1], "corpus-id", path, number)
    return query_id, doc_id, _grade(cells[2], path, number)


def _grade(text: str, path: Path, number: int) -> int:
    """A relevance grade: a plain decimal integer within +-``MAX_GRADE``."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise DataError(path, f"score {text[:40]!r} is not an integer", number)
    if len(text.lstrip("+-").lstrip("0")) > len(str(MAX_GRADE)) or abs(int(text)) > MAX_GRADE:
        raise DataError(path, f"score {text[:40]} is out of range (relevance grades are integers from "
                              f"-{MAX_GRADE} to {MAX_GRADE})", number)
    return int(text)


def qrels_file(data_dir: Path, split: str) -> Path:
    """``qrels/<split>.tsv`` (or its .gz); an unknown split lists the splits found."""
    path = data_dir / "qrels" / f"{split}.tsv"
    if not path.exists() and not path.with_name(f"{path.name}.gz").is_file():
        found = ", ".join(available_splits(data_dir)) or "none"
        raise DataError(path, f"unknown split {split!r} (splits found: {found})")
    return resolve_input(path)


def has_split(data_dir: str | Path, split: str) -> bool:
    """True when ``data_dir`` has ``qrels/<split>.tsv`` (or its .gz)."""
    path = Path(data_dir) / "qrels" / f"{split}.tsv"
    return path.is_file() or path.with_name(f"{path.name}.gz").is_file()


def load_unlabelled(data_dir: str | Path, split: str = "train") -> BeirDataset:
    """A folder's corpus alone, as split ``split`` with no query (the input of generated training queries)."""
    data_dir = Path(data_dir)
    _check_dir(data_dir)
    corpus = load_corpus(data_dir / "corpus.jsonl")
    return BeirDataset(path=data_dir, split=split, corpus=corpus, queries={}, qrels={}, meta={"unlabelled": True})


def load_beir(data_dir: str | Path, split: str = "test") -> BeirDataset:
    """Load one split of a BEIR folder; only queries with judgements are kept, as in BEIR."""
    data_dir = Path(data_dir)
    _check_dir(data_dir)
    qrels_path = qrels_file(data_dir, split)
    corpus = load_corpus(data_dir / "corpus.jsonl")
    queries = load_queries(data_dir / "queries.jsonl")
    qrels = load_qrels(qrels_path, queries, corpus)
    kept = {qid: queries[qid] for qid in qrels}
    return BeirDataset(path=data_dir, split=split, corpus=corpus, queries=kept, qrels=qrels)


def _require_id(obj: dict, path: Path, number: int) -> str:
    value = obj.get("_id")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(path, "missing _id", number)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise DataError(path, f"_id must be a string, got {type(value).__name__}", number)
    return _clean_id(str(value), "_id", path, number)


def _clean_id(value: str, name: str, path: Path, number: int) -> str:
    """An id without surrounding whitespace; whitespace inside is an error (TREC runs split on it)."""
    value = value.strip()
    if not value:
        raise DataError(path, f"empty {name}", number)
    if any(c.isspace() for c in value):
        raise DataError(path, f"{name} {value!r} contains whitespace (run files are whitespace-separated)", number)
    return value


def _string_field(obj: dict, key: str, path: Path, number: int) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(path, f"{key!r} must be a string, got {type(value).__name__}", number)
    return value
