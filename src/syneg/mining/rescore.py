"""Teacher rescoring of mining candidates: a bi-encoder (cosine) or a cross-encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from syneg.errors import SynegError


class Rescorer(Protocol):
    """Scores documents against queries with a model other than the retriever."""

    name: str

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]: ...


class BiEncoderRescorer:
    """Cosine similarity of a sentence-transformers bi-encoder (e.g. a stronger teacher)."""

    def __init__(self, model: str | None, batch_size: int = 64, max_seq_length: int | None = None,
                 device: str | None = None) -> None:
        from syneg.models import load_encoder

        self.name = model or "packaged MiniLM"
        self._model, self._batch_size, self._max_len = load_encoder(model, None, device), batch_size, max_seq_length

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]:
        from syneg.retrieval.pairs import pair_cosines

        pairs = [(query, doc) for query, group in zip(queries, docs) for doc in group]
        flat = pair_cosines(self._model, pairs, batch_size=self._batch_size, max_seq_length=self._max_len)
        return _regroup(flat.astype(float).tolist(), docs)


class CrossEncoderRescorer:
    """Scores of a sentence-transformers ``CrossEncoder`` (with its default activation)."""

    def __init__(self, model: str, batch_size: int = 64, max_seq_length: int | None = None,
                 device: str | None = None) -> None:
        from sentence_transformers import CrossEncoder

        from syneg.hardware import resolve_device

        self.name = model
        self._batch_size = batch_size
        try:
            self._model = CrossEncoder(model, device=resolve_device(device), max_length=max_seq_length)
        except (OSError, ValueError) as exc:
            raise SynegError(f"cannot load cross-encoder {model!r}: {exc}") from None

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]:
        pairs = [(query, doc) for query, group in zip(queries, docs) for doc in group]
        if not pairs:
            return [[] for _ in docs]
        flat = np.asarray(self._model.predict(pairs, batch_size=self._batch_size, show_progress_bar=False))
        if flat.ndim != 1:
            raise SynegError(f"cross-encoder {self.name!r} gives {flat.shape[-1]} scores per pair; one is needed")
        return _regroup(flat.astype(float).tolist(), docs)


def is_cross_encoder(path: str) -> bool:
    """True for a local folder holding a cross-encoder: a sentence-transformers ``CrossEncoder`` save,
    or a plain Hugging Face ``*ForSequenceClassification`` model (the classic cross-encoder layout)."""
    folder = Path(path)
    st_config = folder / "config_sentence_transformers.json"
    if (folder / "modules.json").is_file():
        return st_config.is_file() and _json(st_config).get("model_type") == "CrossEncoder"
    architectures = _json(folder / "config.json").get("architectures") or []
    return any(str(arch).endswith("ForSequenceClassification") for arch in architectures)


def load_rescorer(model: str | None, batch_size: int = 64, max_seq_length: int | None = None,
                  device: str | None = None) -> Rescorer:
    """A cross-encoder when ``model`` is one (see :func:`is_cross_encoder`), else a bi-encoder
    (None: the packaged MiniLM; a named teacher: its assembled folder), on ``device`` (None = auto)."""
    from syneg.models import resolve_encoder

    path = resolve_encoder(model)
    if is_cross_encoder(path):
        return CrossEncoderRescorer(path, batch_size, max_seq_length, device)
    return BiEncoderRescorer(path, batch_size, max_seq_length, device)


def _regroup(flat: list[float], docs: list[list[str]]) -> list[list[float]]:
    """Split the scores of the flattened ``docs`` back into one list per group."""
    out, start = [], 0
    for group in docs:
        out.append(flat[start : start + len(group)])
        start += len(group)
    return out


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
