"""Load a registered backend class by name (only that backend's module is imported)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from syneg.errors import SynegError
from syneg.synthesis.backends import REGISTRY
from syneg.synthesis.backends.base import ChatBackend

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig


def get_backend(name: str) -> type[ChatBackend]:
    """The backend class registered as ``name``."""
    if name not in REGISTRY:
        raise SynegError(f"unknown backend {name!r} (choose from {', '.join(REGISTRY)})")
    return getattr(importlib.import_module(f"syneg.synthesis.backends.{name}_backend"), REGISTRY[name])


def make_backend(config: SynthesizeConfig) -> ChatBackend:
    """Build the configured backend (this loads models or opens clients)."""
    return get_backend(config.backend).from_config(config)
