"""LLM-written training queries for corpus documents: planned, generated through the synthesis runner,
checked, round-trip filtered and written as ``GeneratedQuery`` lines (GPL, Promptagator, InPars).

The entry points load on first use, as in ``syneg.synthesis``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"generate_queries": "api", "plan": "api", "failure_report": "api", "QUERY_VERSION": "prompt", "with_generated": "pairs"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syneg.queries' has no attribute {name!r}")
    return getattr(importlib.import_module(f"syneg.queries.{_EXPORTS[name]}"), name)
