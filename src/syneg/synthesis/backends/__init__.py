"""The chat-backend registry: one module per backend, each a ``ChatBackend`` that owns its name,
model id and construction; config choices and CLI choices come from ``BACKENDS``.

To add a backend: write ``syneg/synthesis/backends/<name>_backend.py`` with a ``ChatBackend``
subclass (``name``, ``from_config``, ``complete``; import heavy libraries inside ``__init__``)
and list it in ``_BUILTIN`` below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syneg.errors import SynegError
from syneg.synthesis.backends.base import BackendError, ChatBackend, Completion, Sampling
from syneg.synthesis.backends.llamacpp_backend import LlamaCppBackend
from syneg.synthesis.backends.openai_backend import OpenAIBackend
from syneg.synthesis.backends.transformers_backend import TransformersBackend
from syneg.synthesis.backends.vllm_backend import VLLMBackend

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig

_BUILTIN: tuple[type[ChatBackend], ...] = (LlamaCppBackend, OpenAIBackend, TransformersBackend, VLLMBackend)
REGISTRY: dict[str, type[ChatBackend]] = {backend.name: backend for backend in _BUILTIN}
BACKENDS: tuple[str, ...] = tuple(REGISTRY)


def get_backend(name: str) -> type[ChatBackend]:
    """The backend class registered as ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise SynegError(f"unknown backend {name!r} (choose from {', '.join(REGISTRY)})") from None


def make_backend(config: SynthesizeConfig) -> ChatBackend:
    """Build the configured backend (this loads models or opens clients)."""
    return get_backend(config.backend).from_config(config)


__all__ = ["BACKENDS", "REGISTRY", "BackendError", "ChatBackend", "Completion", "Sampling", "get_backend",
           "make_backend"]
