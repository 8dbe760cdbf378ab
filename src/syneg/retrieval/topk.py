"""Exact top-k with deterministic ties (higher score first, then lower index), in bounded memory."""

from __future__ import annotations

import torch

QUERY_CHUNK = 256
DOC_CHUNK = 50_000


def topk_rows(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` of each row of ``scores`` as ``(values, column indices)``.

    Rows are ordered by descending score; equal scores keep the lower column first, and when
    ties straddle the k-th place the lowest columns win, so the result never depends on how
    ``torch.topk`` happens to order ties.
    """
    k = min(k, scores.shape[1])
    values, indices = torch.topk(scores, k, dim=1)
    if k == 0:
        return values, indices
    crowded = (scores >= values[:, -1:]).sum(dim=1) > k
    for row in torch.nonzero(crowded).flatten().tolist():
        ordered = torch.sort(scores[row], descending=True, stable=True)
        values[row], indices[row] = ordered.values[:k], ordered.indices[:k]
    return order_by_score(values, indices, k)


def order_by_score(
    values: torch.Tensor, indices: torch.Tensor, k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Order candidate rows by descending score, lower index first on ties; keep the first ``k``."""
    by_index = indices.argsort(dim=1)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, order), indices.gather(1, order)


def merge_topk(
    best: tuple[torch.Tensor, torch.Tensor] | None,
    new: tuple[torch.Tensor, torch.Tensor],
    k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a running top-k with the top-k of another column block."""
    if best is None:
        return new
    return order_by_score(torch.cat([best[0], new[0]], dim=1), torch.cat([best[1], new[1]], dim=1), k)


def chunked_topk(
    queries: torch.Tensor,
    docs: torch.Tensor,
    k: int,
    query_chunk: int = QUERY_CHUNK,
    doc_chunk: int = DOC_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of ``queries @ docs.T`` without building the full matrix.

    Memory stays at ``query_chunk x doc_chunk`` scores plus the running top-k.
    """
    values, indices = [], []
    for q_start in range(0, queries.shape[0], query_chunk):
        block = queries[q_start : q_start + query_chunk]
        best = None
        for d_start in range(0, docs.shape[0], doc_chunk):
            scores = block @ docs[d_start : d_start + doc_chunk].T
            top_values, top_indices = topk_rows(scores, k)
            best = merge_topk(best, (top_values, top_indices + d_start), k)
        assert best is not None, "chunked_topk needs at least one document"
        values.append(best[0])
        indices.append(best[1])
    if not values:
        return torch.empty(0, min(k, docs.shape[0])), torch.empty(0, min(k, docs.shape[0]), dtype=torch.long)
    return torch.cat(values), torch.cat(indices)
