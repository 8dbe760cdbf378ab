"""Lazy imports of optional extras with an error that names the extra to install."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from syneg.errors import MissingExtraError


def is_available(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an error telling which ``syneg[extra]`` provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(_missing(module, extra)) from exc


def check_installed(module: str, extra: str) -> None:
    """The error of :func:`require` when ``module`` is not installed, found without importing it (cheap)."""
    if not is_available(module):
        raise MissingExtraError(_missing(module, extra))


def _missing(module: str, extra: str) -> str:
    return f"'{module}' is not installed; install it with: pip install 'syneg[{extra}]'"


HAS_STEMMER = is_available("Stemmer")
HAS_LLAMA_CPP = is_available("llama_cpp")
