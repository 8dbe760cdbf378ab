"""The chat-backend registry: one module per backend, each a ``ChatBackend`` that owns its name,
model id and construction; config choices and CLI choices come from ``BACKENDS``.

A leaf module (the config reads ``BACKENDS`` and ``SERVERS``): it holds names only. The backend classes,
``get_backend`` and ``make_backend`` load on first use (:mod:`.load`, :mod:`.base`).

To add a backend: write ``syneg/synthesis/backends/<name>_backend.py`` with a ``ChatBackend``
subclass (``name``, ``from_config``, ``complete``; import heavy libraries inside ``__init__``)
and add ``<name>: <class name>`` to ``REGISTRY`` below.
"""

from __future__ import annotations

import importlib
from typing import Any

REGISTRY: dict[str, str] = {"llamacpp": "LlamaCppBackend", "openai": "OpenAIBackend",
                            "transformers": "TransformersBackend", "vllm": "VLLMBackend"}  # in <name>_backend.py
BACKENDS: tuple[str, ...] = tuple(REGISTRY)
SERVERS: tuple[str, ...] = ("auto", "openai", "vllm", "generic")  # request field names (see .wire)

_EXPORTS = {"BackendError": "base", "ChatBackend": "base", "Completion": "base", "Sampling": "base",
            "get_backend": "load", "make_backend": "load"}
__all__ = ["BACKENDS", "REGISTRY", "SERVERS", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syneg.synthesis.backends' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
