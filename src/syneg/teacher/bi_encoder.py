"""A bi-encoder teacher: cosine scores, its passage embeddings cached on disk.

The passages are indexed as a dense-retrieval corpus (:class:`syneg.retrieval.dense.DenseRetriever`), so
their embeddings go through the one embedding cache (:mod:`syneg.retrieval.cache`), keyed by the model's
files, the texts, ``max_seq_length`` and the precision. Mining indexes the whole corpus: every later run,
experiment cell or mining setting with the same teacher and corpus loads it instead of encoding it again.
Queries are encoded each time (few and short).
"""

from __future__ import annotations

from pathlib import Path

from syneg import progress
from syneg.data import Document


class BiEncoderTeacher:
    """Cosine similarity under a sentence-transformers bi-encoder (queries get its query prompt, passages
    its document prompt)."""

    def __init__(self, path: str, *, name: str, batch_size: int = 32, max_seq_length: int | None = None,
                 device: str | None = None, cache_dir: str | Path | None = None, show_progress: bool = True,
                 backend: str = "reference") -> None:
        self.name, self.path, self.show_progress = name, path, show_progress
        self._options = {"batch_size": batch_size, "max_seq_length": max_seq_length, "device": device,
                         "cache_dir": cache_dir, "show_progress": show_progress, "backend": backend}

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]:
        """Each passage's cosine with its query; the distinct passages (as ``Document.full_text``: stripped)
        are embedded once, through the cache."""
        passages = {text: Document("", text) for group in docs for text in group}
        return self.score_corpus(queries, docs, passages)

    def score_corpus(self, queries: list[str], doc_ids: list[list[str]],
                     corpus: dict[str, Document]) -> list[list[float]]:
        """Each listed document's cosine with its query; all of ``corpus`` is embedded (or loaded from the cache)."""
        if not any(doc_ids):
            return [[] for _ in doc_ids]
        from syneg.retrieval.dense import DenseRetriever

        if self.show_progress:
            progress.note(f"teacher {self.name}: scoring {sum(map(len, doc_ids)):,} (query, passage) pairs; "
                          f"embedding {len(corpus):,} passages (cached) and {len(set(queries)):,} queries")
        retriever = DenseRetriever(self.path, **self._options)
        retriever.index(corpus)
        return retriever.score(queries, doc_ids)
