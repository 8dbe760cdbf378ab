"""A cross-encoder teacher: scores of a sentence-transformers ``CrossEncoder`` (with its default activation).

It scores each (query, passage) pair together, so there are no passage embeddings to cache.
"""

from __future__ import annotations

import numpy as np

from syneg import progress
from syneg.data import Document
from syneg.errors import SynegError


class CrossEncoderTeacher:
    """A ``CrossEncoder`` loaded from ``path`` on ``device`` (None = auto)."""

    def __init__(self, path: str, *, name: str, batch_size: int = 32, max_seq_length: int | None = None,
                 device: str | None = None, show_progress: bool = True) -> None:
        from sentence_transformers import CrossEncoder

        from syneg.hardware import resolve_device

        self.name, self.batch_size, self.show_progress = name, batch_size, show_progress
        try:
            self._model = CrossEncoder(path, device=resolve_device(device), max_length=max_seq_length)
        except (OSError, ValueError) as exc:
            raise SynegError(f"cannot load cross-encoder {path!r}: {exc}") from None

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]:
        """The score of each passage of ``docs[i]`` against ``queries[i]``."""
        pairs = [(query, doc) for query, group in zip(queries, docs) for doc in group]
        if not pairs:
            return [[] for _ in docs]
        if self.show_progress:
            progress.note(f"teacher {self.name}: scoring {len(pairs):,} (query, passage) pairs")
        flat = np.asarray(self._model.predict(pairs, batch_size=self.batch_size,
                                              show_progress_bar=progress.enabled(self.show_progress)))
        if flat.ndim != 1:
            raise SynegError(f"cross-encoder {self.name!r} gives {flat.shape[-1]} scores per pair; one is needed")
        return _regroup(flat.astype(float).tolist(), docs)

    def score_corpus(self, queries: list[str], doc_ids: list[list[str]],
                     corpus: dict[str, Document]) -> list[list[float]]:
        """The score of each listed document (its ``full_text``) against its query."""
        return self.score(queries, [[corpus[d].full_text for d in ids] for ids in doc_ids])


def _regroup(flat: list[float], docs: list[list[str]]) -> list[list[float]]:
    """Split the scores of the flattened ``docs`` back into one list per group."""
    out, start = [], 0
    for group in docs:
        out.append(flat[start : start + len(group)])
        start += len(group)
    return out
