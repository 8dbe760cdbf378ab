"""Negative mixing: registered strategies (hybrid, direct, synthetic, retrieved, random) and exports.

Names load on first use, so that the config can read the strategy registry without the exports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"Strategy": "base", "split_counts": "base", "FORMATS": "exporter", "ExportOptions": "exporter",
            "export": "exporter", "fixed_negatives": "exports.columns", "st_columns": "exports.columns",
            "mix": "mixer", "Mixing": "mixer", "STRATEGIES": "registry", "get_strategy": "registry"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syneg.mixing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"syneg.mixing.{_EXPORTS[name]}"), name)
