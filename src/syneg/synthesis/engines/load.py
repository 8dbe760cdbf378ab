"""Build the chat backend of the configured engine (only that engine's module is imported)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from syneg.errors import SynegError
from syneg.synthesis.engines import ENGINES, REGISTRY

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.backends.base import ChatBackend


def engine_backend(config: SynthesizeConfig) -> ChatBackend:
    """The backend the runner calls under ``config.engine`` (this may start workers or load models)."""
    if config.engine not in REGISTRY:
        raise SynegError(f"unknown engine {config.engine!r} (choose from {', '.join(ENGINES)})")
    return importlib.import_module(f"syneg.synthesis.engines.{REGISTRY[config.engine]}").make(config)
