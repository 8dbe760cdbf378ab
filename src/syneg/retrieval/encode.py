"""Sentence-transformers encoding into normalized float32 embeddings, by the chosen backend.

:func:`encoder_for` maps a backend name (``syneg.hardware.ENCODE_BACKENDS``; the ``encode.backend`` and
``evaluate.backend`` settings) to one encode function. ``reference``, the default everywhere, is
sentence-transformers' own ``encode`` at the model's own dtype (fp32 as loaded), so its numbers match a
plain sentence-transformers script; the others trade exactness for speed and are opt-in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syneg import progress
from syneg.errors import SynegError
from syneg.hardware import ENCODE_BACKENDS, encode_devices
from syneg.retrieval.seqlen import seq_length

Encode = Callable[..., np.ndarray]  # (model, texts, *, batch_size, max_seq_length, is_query, show_progress)


def check_backend(backend: str) -> str:
    """``backend`` when it is one of :data:`~syneg.hardware.ENCODE_BACKENDS`, else a :class:`SynegError`."""
    if backend not in ENCODE_BACKENDS:
        raise SynegError(f"encode backend must be one of {', '.join(ENCODE_BACKENDS)}, got {backend!r}")
    return backend


def load_model(model: Any, max_seq_length: int | None = None, device: str | None = None):
    """A SentenceTransformer: ``model`` itself when already loaded, else loaded from a path or name onto ``device``."""
    if model is None or isinstance(model, (str, Path)):
        from syneg.models import load_encoder

        return load_encoder(None if model is None else str(model), max_seq_length, device)
    return model


def embedding_dim(model: Any) -> int:
    """Output dimension of a SentenceTransformer (method renamed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)


def _st_encode(model: Any, texts: list[str], *, batch_size: int, max_seq_length: int | None, is_query: bool,
               show_progress: bool, autocast: str | None) -> np.ndarray:
    """``encode_query``/``encode_document`` (so prompts apply), under ``autocast`` (``bf16``/``fp16``) or none.

    A model in training may carry a mixed-precision ``forward`` bound on it (accelerate's autocast);
    it is encoded through :func:`~syneg.retrieval.fused.plain_copy`, so the backend alone sets the numerics.
    """
    import torch

    from syneg.retrieval.fused import has_bound_methods, plain_copy

    model = plain_copy(model) if has_bound_methods(model) else model
    device_type = model.device.type
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(autocast or "")
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


def _fused_encode(model: Any, texts: list[str], **options: Any) -> np.ndarray:
    """The fused bf16 CPU kernels where :func:`~syneg.retrieval.fast_encode.uses_fast_path` allows, else bf16 autocast."""
    from syneg.retrieval.fast_encode import fast_encode, uses_fast_path

    if uses_fast_path(model):
        options.pop("is_query")
        return fast_encode(model, texts, **options)
    return _st_encode(model, texts, autocast="bf16", **options)


def encoder_for(backend: str) -> Encode:
    """The encode function of ``backend`` (one of :data:`~syneg.hardware.ENCODE_BACKENDS`)."""
    check_backend(backend)
    if backend == "fused":
        return _fused_encode
    autocast = None if backend == "reference" else backend

    def encode(model: Any, texts: list[str], **options: Any) -> np.ndarray:
        return _st_encode(model, texts, autocast=autocast, **options)

    return encode


def encode_with(
    model: Any,
    texts: list[str],
    *,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    is_query: bool = False,
    backend: str = "reference",
    show_progress: bool = False,
) -> np.ndarray:
    """Encode ``texts`` with a loaded model into L2-normalized float32 rows, through ``backend``
    (see :func:`encoder_for`). Queries go through ``encode_query`` and documents through
    ``encode_document``, so models with query/document prompts get them."""
    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    return encoder_for(backend)(model, texts, batch_size=batch_size, max_seq_length=max_seq_length,
                                is_query=is_query, show_progress=show_progress)


def encode_texts(
    model: Any,
    texts: list[str],
    *,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    is_query: bool = False,
    backend: str = "reference",
    show_progress: bool = False,
) -> np.ndarray:
    """Normalized float32 embeddings of ``texts``; ``model`` is a path, a name, None (the packaged MiniLM)
    or a loaded SentenceTransformer (options as :func:`encode_with`)."""
    return encode_with(load_model(model, max_seq_length), texts, batch_size=batch_size,
                       max_seq_length=max_seq_length, is_query=is_query, backend=backend,
                       show_progress=show_progress)
