"""The mixing-strategy registry: config choices, CLI choices and experiment baselines come from here.

A leaf module (the config reads ``STRATEGIES``): it holds the names only and imports a strategy's module
when the strategy is asked for. To add a strategy: write ``syneg/mixing/strategies/<name>.py`` with a
:class:`~syneg.mixing.base.Strategy` subclass and a module-level ``STRATEGY`` named ``<name>``, and list
the name in ``STRATEGIES`` below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from syneg.errors import SynegError

if TYPE_CHECKING:
    from syneg.mixing.base import Strategy

STRATEGIES: tuple[str, ...] = ("random", "retrieved", "synthetic", "direct", "hybrid")  # baselines first, SyNeg's hybrid last


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name`` (its module loads now); a clear error naming the choices otherwise."""
    if name not in STRATEGIES:
        raise SynegError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    return importlib.import_module(f"syneg.mixing.strategies.{name}").STRATEGY
