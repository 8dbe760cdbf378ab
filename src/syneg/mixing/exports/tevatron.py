"""Tevatron training data, with titles kept apart from texts when the corpus is known.

``tevatron`` is the classic format: JSONL rows ``query_id``, ``query``, ``positive_passages`` and
``negative_passages``, each passage ``{docid, title, text}``. ``tevatron-v2`` is the current one, a
folder: ``train.jsonl`` rows ``query_id``, ``query_text``, ``positive_document_ids``,
``negative_document_ids`` and ``corpus.jsonl`` with ``{docid, title, text}`` for every document they
name, written passages included under their stable ids. (Tevatron's trainer reads only ``text``
from that corpus; its encoder reads ``title`` + ``text``.)

A passage whose id is in the corpus, and whose text is that document's title + text, gets the
corpus title and text; any other passage (written ones, or a corpus that does not match) keeps its
whole text with an empty title, and those that should have matched are counted (``corpus_misses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syneg.data import Document
from syneg.io import staged_dir, write_jsonl
from syneg.mixing.exports.groups import Group, Passage

TRAIN_FILE = "train.jsonl"
CORPUS_FILE = "corpus.jsonl"


class Titles:
    """Splits passages into ``{docid, title, text}`` with a corpus, counting the misses."""

    def __init__(self, corpus: Mapping[str, Document] | None) -> None:
        self.corpus = corpus or {}
        self.misses = 0

    def __call__(self, passage: Passage) -> dict[str, str]:
        doc = self.corpus.get(passage.docid)
        if doc is not None and doc.full_text == passage.text:
            return {"docid": passage.docid, "title": doc.title, "text": doc.text}
        self.misses += passage.in_corpus
        return {"docid": passage.docid, "title": "", "text": passage.text}


def write_tevatron(groups: list[Group], corpus: Mapping[str, Document] | None, out: Path) -> dict[str, Any]:
    """Classic Tevatron JSONL at ``out``."""
    titles = Titles(corpus)
    rows = [{"query_id": g.query_id, "query": g.query,
             "positive_passages": [titles(p) for p in g.positives],
             "negative_passages": [titles(n) for n in g.negatives]} for g in groups]
    return {"rows": write_jsonl(out, rows), "corpus_misses": titles.misses}


def write_tevatron_v2(groups: list[Group], corpus: Mapping[str, Document] | None, out: Path) -> dict[str, Any]:
    """A folder ``out`` with Tevatron's query file and the corpus of every document it names."""
    titles = Titles(corpus)
    documents: dict[str, dict[str, str]] = {}
    for passage in (p for g in groups for p in g.positives + g.negatives):
        if passage.docid not in documents:
            documents[passage.docid] = titles(passage)
    rows = [{"query_id": g.query_id, "query_text": g.query,
             "positive_document_ids": [p.docid for p in g.positives],
             "negative_document_ids": [n.docid for n in g.negatives]} for g in groups]
    with staged_dir(out) as folder:
        write_jsonl(folder / TRAIN_FILE, rows)
        write_jsonl(folder / CORPUS_FILE, documents.values())
    return {"rows": len(rows), "documents": len(documents), "corpus_misses": titles.misses}
