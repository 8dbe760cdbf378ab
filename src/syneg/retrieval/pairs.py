"""Cosine scores of ``(query, passage)`` pairs, row by row: the diagnostics' hardness and separability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from syneg.retrieval.encode import encode_with, load_model


def encode_pairs(
    model: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    show_progress: bool = False,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    backend: str = "reference",
) -> tuple[np.ndarray, np.ndarray]:
    """Row-aligned L2-normalized embeddings of the queries and of the passages of ``pairs``.

    ``model`` is a path, a name, None (the packaged MiniLM) or a loaded SentenceTransformer.
    Each distinct text is encoded once: queries as queries, passages as documents (``encode_with``, with
    progress bars when ``show_progress``).
    """
    loaded = load_model(model, max_seq_length)
    options = {"batch_size": batch_size, "max_seq_length": max_seq_length, "backend": backend}
    queries = list(dict.fromkeys(query for query, _ in pairs))
    passages = list(dict.fromkeys(passage for _, passage in pairs))
    query_emb = encode_with(loaded, queries, is_query=True, show_progress=show_progress, **options)
    passage_emb = encode_with(loaded, passages, show_progress=show_progress, **options)
    query_row = {text: i for i, text in enumerate(queries)}
    passage_row = {text: i for i, text in enumerate(passages)}
    return (query_emb[[query_row[query] for query, _ in pairs]],
            passage_emb[[passage_row[passage] for _, passage in pairs]])


def cosines(queries: np.ndarray, passages: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``queries`` with the same row of ``passages`` (both L2-normalized)."""
    return np.einsum("ij,ij->i", queries, passages)

