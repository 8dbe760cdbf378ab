"""The engine registry: where a run's chat calls execute. The runner (cache keys, re-ask chain, parsing,
commits as replies arrive) is the same for every engine; an engine only supplies the ``ChatBackend``
the runner calls. ``local``: the configured backend in this process. ``ray``: a pool of Ray actors, each
holding that backend (see ``ray_engine``). Engines are imported only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from syneg.errors import SynegError

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.backends.base import ChatBackend

REGISTRY: dict[str, str] = {"local": "syneg.synthesis.engines.local", "ray": "syneg.synthesis.engines.ray_engine"}
ENGINES: tuple[str, ...] = tuple(REGISTRY)


def engine_backend(config: SynthesizeConfig) -> ChatBackend:
    """The backend the runner calls under ``config.engine`` (this may start workers or load models)."""
    try:
        module = REGISTRY[config.engine]
    except KeyError:
        raise SynegError(f"unknown engine {config.engine!r} (choose from {', '.join(ENGINES)})") from None
    return importlib.import_module(module).make(config)
