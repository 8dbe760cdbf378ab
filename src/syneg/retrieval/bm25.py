"""Lexical retrieval with bm25s (English stopwords; Snowball stemming when PyStemmer is installed)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from syneg import progress
from syneg._optional import HAS_STEMMER
from syneg.data import Document
from syneg.hardware import available_cores
from syneg.retrieval.base import IndexedIds, SearchResult, check_top_k, require_index
from syneg.retrieval.topk import topk_rows

STOPWORDS = "en"
SCORE_BUDGET = 16_000_000  # score floats held at once, over all threads (64 MB of float32)
log = logging.getLogger(__name__)


def make_stemmer():
    """PyStemmer's English stemmer, or None when PyStemmer is not installed."""
    if not HAS_STEMMER:
        return None
    import Stemmer

    return Stemmer.Stemmer("english")


class BM25Retriever:
    """BM25 (bm25s, Lucene variant) over ``Document.full_text``; ties go to the lower doc id.

    ``show_progress`` shows bars (stderr) for tokenizing and indexing the corpus and for searching.
    ``threads`` score blocks of queries at once (default: the cores this process may use); the results
    do not depend on it.
    """

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene", show_progress: bool = False,
                 threads: int | None = None) -> None:
        self.k1, self.b, self.method = k1, b, method
        self.show_progress = show_progress
        self.threads = max(1, threads or available_cores())
        self.stemmer = make_stemmer()
        self._model = None
        self._ids: IndexedIds | None = None

    def _tokenize(self, texts: Iterable[str], *, return_ids: bool, show_progress: bool = False):
        import bm25s

        return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=self.stemmer, return_ids=return_ids,
                              show_progress=progress.enabled(show_progress))

    def index(self, corpus: dict[str, Document]) -> None:
        """Tokenize and index the corpus (in sorted doc-id order)."""
        import bm25s

        ids = IndexedIds(corpus)
        model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        tokens = self._tokenize(_FullTexts(corpus, ids.ids), return_ids=True, show_progress=self.show_progress)
        model.index(tokens, show_progress=progress.enabled(self.show_progress))
        self._model, self._ids = model, ids
        log.debug("indexed %d documents", len(ids.ids))

    def _score_rows(self, queries: list[list[str]], bar=None) -> np.ndarray:
        """Full BM25 score rows, one per tokenized query (float32); ``bar`` advances one step per query."""
        model = self._model
        rows = np.zeros((len(queries), len(require_index(self._ids, self.name).ids)), dtype=np.float32)
        for row, tokens in enumerate(queries):
            if tokens:
                rows[row] = model.get_scores(tokens)
            if bar is not None:
                bar.update(1)
        return rows

    def search(self, queries: list[str], top_k: int) -> SearchResult:
        """The ``top_k`` highest-scoring documents per query.

        Blocks of queries are scored and cut to their top k on ``threads`` threads (as bm25s's own
        ``retrieve(n_threads=...)`` does; its top-k breaks ties arbitrarily, this one by doc id), at
        most ``SCORE_BUDGET`` scores held at once.
        """
        check_top_k(top_k)
        ids = require_index(self._ids, self.name)
        step = max(1, SCORE_BUDGET // (self.threads * len(ids.ids)))
        tokens = self._tokenize(queries, return_ids=False)
        blocks = [tokens[start : start + step] for start in range(0, len(tokens), step)]
        if not blocks:
            return SearchResult(ids=[], scores=[])
        with progress.bar(show=self.show_progress, total=len(queries), desc="bm25 search", unit="query") as bar, \
                ThreadPoolExecutor(max_workers=self.threads) as pool:
            tops = list(pool.map(lambda block: topk_rows(torch.from_numpy(self._score_rows(block, bar)), top_k),
                                 blocks))
        return ids.to_result(torch.cat([t[0] for t in tops]), torch.cat([t[1] for t in tops]))

    def score(self, queries: list[str], doc_ids: list[list[str]]) -> list[list[float]]:
        """BM25 scores of the given documents for each query."""
        ids = require_index(self._ids, self.name)
        if len(queries) != len(doc_ids):
            raise ValueError(f"{len(queries)} queries but {len(doc_ids)} doc-id lists")
        result, step = [], max(1, SCORE_BUDGET // len(ids.ids))
        tokens = self._tokenize(queries, return_ids=False)
        for start in range(0, len(queries), step):
            rows = self._score_rows(tokens[start : start + step])
            for row, wanted in zip(rows, doc_ids[start : start + step]):
                result.append(row[ids.positions(wanted)].tolist())
        return result


class _FullTexts:
    """The corpus's ``full_text`` in index order, made one at a time (a sized iterable, for progress bars)."""

    def __init__(self, corpus: dict[str, Document], doc_ids: list[str]) -> None:
        self.corpus, self.doc_ids = corpus, doc_ids

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __iter__(self) -> Iterator[str]:
        return (self.corpus[d].full_text for d in self.doc_ids)
