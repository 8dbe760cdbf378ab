"""Sentence-transformers encoding: normalized float32 embeddings, bf16 where the hardware has it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from syneg import progress
from syneg.errors import SynegError
from syneg.hardware import PRECISIONS, encode_devices, mixed_precision


def resolve_precision(precision: str, device_type: str) -> str:
    """``bf16``, ``fp16`` or ``fp32``; ``auto`` picks bf16 on bf16-capable CPUs and CUDA devices (else fp16 on CUDA)."""
    if precision not in PRECISIONS:
        raise SynegError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return mixed_precision(device_type)


def load_model(model: Any, max_seq_length: int | None = None, device: str | None = None):
    """A SentenceTransformer: ``model`` itself when already loaded, else loaded from a path or name onto ``device``."""
    if model is None or isinstance(model, (str, Path)):
        from syneg.models import load_encoder

        return load_encoder(None if model is None else str(model), max_seq_length, device)
    return model


@contextlib.contextmanager
def seq_length(model: Any, max_seq_length: int | None) -> Iterator[None]:
    """Temporarily cap ``model.max_seq_length`` (restored afterwards; the model may be shared)."""
    if max_seq_length is None or model.max_seq_length == max_seq_length:
        yield
        return
    previous = model.max_seq_length
    model.max_seq_length = max_seq_length
    try:
        yield
    finally:
        model.max_seq_length = previous


def embedding_dim(model: Any) -> int:
    """Output dimension of a SentenceTransformer (method renamed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)


def encode_with(
    model: Any,
    texts: list[str],
    *,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    is_query: bool = False,
    precision: str = "auto",
    show_progress: bool = False,
) -> np.ndarray:
    """Encode ``texts`` with a loaded model into L2-normalized float32 rows.

    bf16 on a bf16-capable CPU goes through :func:`~syneg.retrieval.fast_encode.fast_encode`
    (fused kernels); elsewhere ``encode_query``/``encode_document`` run under bf16 autocast or fp32.
    """
    import torch

    from syneg.retrieval.fast_encode import fast_encode, uses_fast_path

    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    device_type = model.device.type
    resolved = resolve_precision(precision, device_type)
    if uses_fast_path(model, resolved):
        return fast_encode(model, texts, batch_size=batch_size, max_seq_length=max_seq_length,
                           show_progress=show_progress)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(resolved)
    encode = model.encode_query if is_query else model.encode_document
    devices = encode_devices(device_type) if len(texts) > 10 * batch_size else None  # every GPU, when several
    with (
        seq_length(model, max_seq_length),
        torch.inference_mode(),
        torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None),
    ):
        embeddings = encode(texts, batch_size=batch_size, convert_to_tensor=True, device=devices,
                            show_progress_bar=progress.enabled(show_progress))
    return torch.nn.functional.normalize(embeddings.float(), dim=-1).cpu().numpy()


def encode_texts(
    model: Any,
    texts: list[str],
    *,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    is_query: bool = False,
    precision: str = "auto",
    show_progress: bool = False,
) -> np.ndarray:
    """Normalized float32 embeddings of ``texts``.

    ``model`` is a path, a name, None (the packaged MiniLM) or a loaded SentenceTransformer.
    Queries go through ``encode_query`` and documents through ``encode_document``, so models
    with query/document prompts get them.
    """
    loaded = load_model(model, max_seq_length)
    return encode_with(
        loaded,
        texts,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        is_query=is_query,
        precision=precision,
        show_progress=show_progress,
    )
