"""The engine registry: where a run's chat calls execute. The runner (cache keys, re-ask chain, parsing,
commits as replies arrive) is the same for every engine; an engine only supplies the ``ChatBackend``
the runner calls. ``local``: the configured backend in this process. ``ray``: a pool of Ray actors, each
holding that backend (see ``ray_engine``).

A leaf module (the config reads ``ENGINES``): engines, and ``engine_backend`` (:mod:`.load`), are imported
only when used. To add an engine: write ``syneg/synthesis/engines/<module>.py`` with ``make(config) ->
ChatBackend`` and add ``<name>: <module>`` to ``REGISTRY``.
"""

from __future__ import annotations

import importlib
from typing import Any

REGISTRY: dict[str, str] = {"local": "local", "ray": "ray_engine"}  # name -> module in this package
ENGINES: tuple[str, ...] = tuple(REGISTRY)


def __getattr__(name: str) -> Any:
    if name != "engine_backend":
        raise AttributeError(f"module 'syneg.synthesis.engines' has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.load").engine_backend
