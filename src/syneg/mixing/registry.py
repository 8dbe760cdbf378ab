"""The mixing-strategy registry: config choices, CLI choices and experiment baselines come from here.

To add a strategy: write ``syneg/mixing/strategies/<name>.py`` with a :class:`Strategy` subclass
and a module-level ``STRATEGY``, and list the module in ``BUILTIN`` below.
"""

from __future__ import annotations

from syneg.errors import SynegError
from syneg.mixing.base import Strategy
from syneg.mixing.strategies import direct, hybrid, random, retrieved, synthetic

BUILTIN = (random, retrieved, synthetic, direct, hybrid)  # baselines first, SyNeg's hybrid last
REGISTRY: dict[str, Strategy] = {module.STRATEGY.name: module.STRATEGY for module in BUILTIN}
STRATEGIES: tuple[str, ...] = tuple(REGISTRY)


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; a clear error naming the choices otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise SynegError(f"unknown strategy {name!r} (choose from {', '.join(REGISTRY)})") from None
