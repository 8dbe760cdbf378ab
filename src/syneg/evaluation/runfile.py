"""TREC run files: ``qid Q0 docid rank score tag``, one retrieved document per line."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from syneg.errors import DataError, SynegError
from syneg.io import atomic_open, iter_lines
from syneg.limits import MAX_RANK

if TYPE_CHECKING:  # reading a run must not import torch (which retrieval does)
    from syneg.retrieval.base import SearchResult

Run = dict[str, dict[str, float]]


def results_to_run(query_ids: list[str], result: SearchResult) -> Run:
    """``{query_id: {doc_id: score}}`` from a ``SearchResult`` aligned with ``query_ids``."""
    if len(query_ids) != len(result.ids):
        raise ValueError(f"{len(query_ids)} query ids but {len(result.ids)} result rows")
    return {qid: dict(zip(ids, scores)) for qid, ids, scores in zip(query_ids, result.ids, result.scores)}


def check_tag(tag: str) -> str:
    """A run tag must be one non-empty word: TREC run columns are whitespace-separated."""
    if not tag or any(c.isspace() for c in tag):
        raise SynegError(f"run tag {tag!r} must be one word without whitespace")
    return tag


def write_run(path: str | Path, query_ids: list[str], result: SearchResult, tag: str = "syneg") -> int:
    """Atomically write ``result`` as a TREC run (ranks from 1, in result order); returns the line count."""
    if len(query_ids) != len(result.ids):
        raise ValueError(f"{len(query_ids)} query ids but {len(result.ids)} result rows")
    check_tag(tag)
    lines = 0
    with atomic_open(path) as handle:
        for qid, ids, scores in zip(query_ids, result.ids, result.scores):
            for rank, (doc_id, score) in enumerate(zip(ids, scores), start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
                lines += 1
    return lines


def read_run(path: str | Path) -> Run:
    """Read a TREC run; a malformed line is an error naming the file and line."""
    path = Path(path)
    run: Run = {}
    for number, line in iter_lines(path, missing="run file not found"):
        qid, doc_id, score = _parse_line(line, path, number)
        docs = run.setdefault(qid, {})
        if doc_id in docs:
            raise DataError(path, f"document {doc_id!r} appears twice for query {qid!r}", number)
        docs[doc_id] = score
    if not run:
        raise DataError(path, "run file is empty")
    return run


def _parse_line(line: str, path: Path, number: int) -> tuple[str, str, float]:
    cells = line.split()
    if len(cells) != 6:
        raise DataError(path, f"expected 6 columns 'qid Q0 docid rank score tag', got {len(cells)}", number)
    qid, _, doc_id, rank, score_text, _ = cells
    if not re.fullmatch(r"[0-9]{1,10}", rank) or int(rank) > MAX_RANK:
        raise DataError(path, f"rank {rank[:40]!r} is not an integer from 0 to {MAX_RANK}", number)
    try:
        score = float(score_text)
    except ValueError:
        raise DataError(path, f"score {score_text[:40]!r} is not a number", number) from None
    if not math.isfinite(score):
        raise DataError(path, f"score {score_text[:40]!r} is not finite", number)
    return qid, doc_id, score
