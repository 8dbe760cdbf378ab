"""What every retriever returns and promises: ``SearchResult`` and the ``Retriever`` protocol."""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch

from syneg.data import Document
from syneg.errors import SynegError


class SearchResult(NamedTuple):
    """Per query, doc ids by descending score (ties: lower doc id first) and their scores.

    Unpacks like bm25s: ``ids, scores = retriever.search(queries, top_k)``.
    """

    ids: list[list[str]]
    scores: list[list[float]]


@runtime_checkable
class Retriever(Protocol):
    """Index a corpus once, then search it or score chosen documents on the same scale."""

    name: str

    def index(self, corpus: dict[str, Document]) -> None:
        """Index ``corpus``; each document is seen as ``Document.full_text``."""

    def search(self, queries: list[str], top_k: int) -> SearchResult:
        """The ``top_k`` best documents for each query."""

    def score(self, queries: list[str], doc_ids: list[list[str]]) -> list[list[float]]:
        """Scores of the given indexed documents for each query (same scale as ``search``)."""


class IndexedIds:
    """Doc ids in index order (sorted, so a lower index is a lower id) and their positions."""

    def __init__(self, corpus: dict[str, Document]) -> None:
        if not corpus:
            raise SynegError("cannot index an empty corpus")
        self.ids = sorted(corpus)
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}

    def positions(self, doc_ids: list[str]) -> list[int]:
        """Index positions of ``doc_ids``; an unknown id is a clear error."""
        try:
            return [self.position[doc_id] for doc_id in doc_ids]
        except KeyError as exc:
            raise SynegError(f"document {exc.args[0]!r} is not in the indexed corpus") from None

    def to_result(self, values: torch.Tensor, indices: torch.Tensor) -> SearchResult:
        """Turn top-k tensors of index positions into a ``SearchResult`` of doc ids."""
        ids = [[self.ids[i] for i in row] for row in indices.tolist()]
        return SearchResult(ids=ids, scores=values.tolist())


def require_index(indexed: IndexedIds | None, name: str) -> IndexedIds:
    """The retriever's index, or an error telling the caller to call ``index()`` first."""
    if indexed is None:
        raise SynegError(f"the {name} retriever has no index yet: call index(corpus) first")
    return indexed


def check_top_k(top_k: int) -> None:
    """Reject a non-positive ``top_k``."""
    if top_k < 1:
        raise SynegError(f"top_k must be at least 1, got {top_k}")
