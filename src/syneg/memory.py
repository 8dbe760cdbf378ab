"""Memory handed back between pipeline stages, so that ``syneg run`` (every stage in one process) peaks at
its largest stage rather than at the sum of what the stages before it left allocated."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def release_memory() -> None:
    """Drop the shared encoders, collect garbage, and return the heap's free pages to the OS (glibc's
    ``malloc_trim``; a no-op where the C library has none)."""
    from syneg.models import clear_shared_encoders

    clear_shared_encoders()
    gc.collect()
    _malloc_trim()


def _malloc_trim() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return
    trim(0)
