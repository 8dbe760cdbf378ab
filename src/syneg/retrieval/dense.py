"""Dense retrieval: sentence-transformers embeddings, cosine scores, exact chunked top-k."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from syneg._optional import require
from syneg.data import Document
from syneg.retrieval.base import IndexedIds, SearchResult, check_top_k, require_index
from syneg.retrieval.cache import (
    EmbeddingCache,
    corpus_fingerprint,
    path_fingerprint,
    weights_fingerprint,
)
from syneg.retrieval.encode import check_backend, embedding_dim, encode_with, load_model
from syneg.retrieval.topk import chunked_topk, order_by_score


class DenseRetriever:
    """Bi-encoder retrieval over ``Document.full_text`` with cached document embeddings.

    Search is exact: cosine scores in blocks of queries x documents with a running top-k
    (ties go to the lower doc id), so memory stays bounded for any corpus size.
    ``use_faiss=True`` searches a faiss ``IndexFlatIP`` instead (also exact; needs the
    ``faiss`` extra; ties at the k-th place are then resolved by faiss).

    Document embeddings are cached in ``cache_dir`` (default ``$SYNEG_CACHE_DIR`` or
    ``~/.cache/syneg/embeddings``) under a key of the model (a model folder's files,
    or a loaded model's weights), the corpus content and the encoding settings (backend and device type
included). ``backend`` is one of ``syneg.hardware.ENCODE_BACKENDS`` (``reference``: sentence-transformers'
own ``encode`` in the model's dtype).
    """

    name = "dense"

    def __init__(
        self,
        model: Any = None,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        backend: str = "reference",
        use_faiss: bool = False,
        show_progress: bool = False,
        device: str | None = None,
    ) -> None:
        self.model_ref = model
        self.encoder = load_model(model, max_seq_length, device)
        self.max_seq_length = max_seq_length or self.encoder.max_seq_length
        self.backend = check_backend(backend)
        self.batch_size = batch_size
        self.cache = EmbeddingCache(cache_dir) if use_cache else None
        self.faiss = require("faiss", "faiss") if use_faiss else None
        self.show_progress = show_progress
        self.doc_embeddings: torch.Tensor | None = None
        self._ids: IndexedIds | None = None
        self._faiss_index = None
        self._last_queries: dict[str, np.ndarray] = {}  # the last search's query embeddings, for score()

    def encode(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        """Normalized float32 embeddings with this retriever's settings."""
        return encode_with(
            self.encoder,
            texts,
            batch_size=self.batch_size,
            max_seq_length=self.max_seq_length,
            is_query=is_query,
            backend=self.backend,
            show_progress=self.show_progress,
        )

    def _model_fingerprint(self) -> str:
        if self.model_ref is None or isinstance(self.model_ref, (str, Path)):
            from syneg.models import resolve_encoder

            return path_fingerprint(resolve_encoder(None if self.model_ref is None else str(self.model_ref)))
        return weights_fingerprint(self.encoder)

    def _numerics(self) -> str:
        """The backend as it runs on this model: ``fused`` names its kernel version, or its bf16 fallback."""
        if self.backend != "fused":
            return self.backend
        from syneg.retrieval.fast_encode import FAST_PATH, uses_fast_path

        return FAST_PATH if uses_fast_path(self.encoder) else "bf16"

    def _encode_corpus(self, ids: list[str], texts: list[str]) -> np.ndarray:
        if self.cache is None:
            return self.encode(texts, is_query=False)
        settings = {
            "model": self._model_fingerprint(),
            "corpus": corpus_fingerprint(ids, texts),
            "max_seq_length": self.max_seq_length,
            "normalize": True,
            "backend": self._numerics(),
            "device": self.encoder.device.type,
            "dim": embedding_dim(self.encoder),
        }
        key = EmbeddingCache.key(**settings)
        cached = self.cache.load(key, len(ids), settings["dim"] or None)
        if cached is not None:
            return cached
        embeddings = self.encode(texts, is_query=False)
        try:
            self.cache.save(key, embeddings, {**settings, "model_ref": str(self.model_ref)})
        except OSError as exc:  # a read-only or full cache disk must not lose the work done
            warnings.warn(f"could not write the embedding cache in {self.cache.directory}: {exc}", stacklevel=2)
        return embeddings

    def index(self, corpus: dict[str, Document]) -> None:
        """Encode (or load from the cache) every document's embedding."""
        ids = IndexedIds(corpus)
        embeddings = self._encode_corpus(ids.ids, [corpus[d].full_text for d in ids.ids])
        if self.faiss is not None:
            self._faiss_index = self.faiss.IndexFlatIP(embeddings.shape[1])
            self._faiss_index.add(embeddings)
        self.doc_embeddings, self._ids = torch.from_numpy(embeddings), ids

    def search(self, queries: list[str], top_k: int) -> SearchResult:
        """The ``top_k`` documents of highest cosine similarity per query."""
        check_top_k(top_k)
        ids = require_index(self._ids, self.name)
        query_embeddings = self.encode(queries, is_query=True)
        self._last_queries = dict(zip(queries, query_embeddings))
        if self._faiss_index is not None:
            k = min(top_k, len(ids.ids))
            values, indices = self._faiss_index.search(query_embeddings, k)
            # faiss orders ties arbitrarily: reorder rows by (score desc, index asc) like topk_rows
            return ids.to_result(*order_by_score(torch.from_numpy(values), torch.from_numpy(indices).long()))
        values, indices = chunked_topk(torch.from_numpy(query_embeddings), self.doc_embeddings, top_k)
        return ids.to_result(values, indices)

    def _query_embeddings(self, queries: list[str]) -> torch.Tensor:
        """Embeddings of ``queries``, reusing those of the last search (each text is encoded once)."""
        known = self._last_queries
        missing = list(dict.fromkeys(q for q in queries if q not in known))
        if missing:
            known = {**known, **dict(zip(missing, self.encode(missing, is_query=True)))}
        return torch.from_numpy(np.stack([known[q] for q in queries]))

    def score(self, queries: list[str], doc_ids: list[list[str]]) -> list[list[float]]:
        """Cosine similarity of each query with its given documents."""
        ids = require_index(self._ids, self.name)
        if len(queries) != len(doc_ids):
            raise ValueError(f"{len(queries)} queries but {len(doc_ids)} doc-id lists")
        if not queries:
            return []
        query_embeddings = self._query_embeddings(queries)
        return [
            (self.doc_embeddings[ids.positions(wanted)] @ query).tolist()
            for query, wanted in zip(query_embeddings, doc_ids)
        ]
