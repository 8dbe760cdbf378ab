"""Retrieval: BM25 (bm25s) and dense (sentence-transformers) retrievers behind one protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syneg.errors import SynegError
from syneg.retrieval.base import Retriever, SearchResult
from syneg.retrieval.cache import EmbeddingCache, default_cache_dir
from syneg.retrieval.encode import encode_texts

RETRIEVERS = ("bm25", "dense")


def make_retriever(
    kind: str,
    model: Any = None,
    *,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    backend: str = "reference",
    use_cache: bool = True,
    use_faiss: bool = False,
    show_progress: bool = False,
    device: str | None = None,
) -> Retriever:
    """A ``bm25`` or ``dense`` retriever; call ``index(corpus)`` before searching.

    ``model`` is a model path or name, a loaded SentenceTransformer, or None for the packaged
    MiniLM; it and the other keyword options except ``show_progress`` apply to ``dense`` only.
    ``backend`` is how texts are encoded (``syneg.retrieval.encode.encoder_for``; default: sentence-transformers'
    own ``encode``); ``device`` None is auto.
    """
    if kind == "bm25":
        from syneg.retrieval.bm25 import BM25Retriever

        return BM25Retriever(show_progress=show_progress)
    if kind == "dense":
        from syneg.retrieval.dense import DenseRetriever

        return DenseRetriever(
            model,
            cache_dir=cache_dir,
            use_cache=use_cache,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            backend=backend,
            use_faiss=use_faiss,
            show_progress=show_progress,
            device=device,
        )
    raise SynegError(f"unknown retriever {kind!r} (choose from {', '.join(RETRIEVERS)})")


__all__ = [
    "RETRIEVERS",
    "EmbeddingCache",
    "Retriever",
    "SearchResult",
    "default_cache_dir",
    "encode_texts",
    "make_retriever",
]
