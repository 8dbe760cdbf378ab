"""LLM synthesis of hard negatives: attribute-constrained, self-reflecting prompts; cached and guarded.

The entry points load on first use, so that ``syneg.synthesis.backends`` (whose registry the
config reads) can be imported without the whole stage.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"estimate": "api", "failure_report": "api", "plan": "api", "side_paths": "api", "synthesize": "api",
            "PROMPT_VERSION": "prompt"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syneg.synthesis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"syneg.synthesis.{_EXPORTS[name]}"), name)
