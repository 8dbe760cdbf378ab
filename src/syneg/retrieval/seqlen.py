"""``seq_length``: a temporary truncation length on a SentenceTransformer (shared by every encode path)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def seq_length(model: Any, max_seq_length: int | None) -> Iterator[None]:
    """Temporarily cap ``model.max_seq_length`` (restored afterwards; the model, and a shallow copy's
    tokenizer, may be shared)."""
    if max_seq_length is None or model.max_seq_length == max_seq_length:
        yield
        return
    previous = model.max_seq_length
    model.max_seq_length = max_seq_length
    try:
        yield
    finally:
        model.max_seq_length = previous
