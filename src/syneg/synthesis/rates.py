"""Measured synthesis rates, remembered per backend, model and settings, to estimate a run's wall time."""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from syneg.errors import SynegError
from syneg.hardware import available_cores
from syneg.io import write_json
from syneg.layout import user_cache_dir

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig

MIN_CALLS = 4  # runs with fewer calls say too little about the rate
MIN_RATE, MAX_RATE = 1e-6, 1e6  # calls per second; a remembered rate outside them is no measurement
MAX_BYTES = 1 << 20  # a rates file is a few kB: a bigger one counts as no measurement


def rate_key(config: SynthesizeConfig, model_id: str) -> str:
    """What the rate depends on: the model, how many calls run together, and the threads."""
    return f"{model_id}|batch={config.batch_size}|concurrency={config.concurrency}|threads={config.threads or available_cores()}"


def _path() -> Path:
    return user_cache_dir() / "rates.json"


def _load() -> dict[str, dict[str, float]]:
    """The remembered rates; a file that is unreadable, over :data:`MAX_BYTES`, not a regular file (a link
    to one is read) or of another shape counts as none (and is rewritten), and so does an entry whose rate is
    not a number from ``MIN_RATE`` to ``MAX_RATE``."""
    try:
        if not stat.S_ISREG(_path().stat().st_mode):  # never open a device or a FIFO (/dev/zero never ends)
            return {}
        with os.fdopen(os.open(_path(), os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:  # swapped since: checked
            raw = handle.read(MAX_BYTES + 1) if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else b"null"
        data = json.loads(raw) if len(raw) <= MAX_BYTES else None
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: entry for key, entry in data.items() if isinstance(entry, dict)
            and isinstance(entry.get("calls_per_s"), (int, float)) and not isinstance(entry["calls_per_s"], bool)
            and MIN_RATE <= entry["calls_per_s"] <= MAX_RATE}


def record(key: str, calls: int, seconds: float) -> None:
    """Remember ``calls`` answered in ``seconds`` (best effort: a file that cannot be written is one warning,
    never a failed run)."""
    if calls < MIN_CALLS or seconds <= 0:
        return
    rates = _load()
    rates[key] = {"calls_per_s": round(calls / seconds, 4), "calls": calls}
    try:
        write_json(_path(), rates)
    except (OSError, SynegError) as exc:
        warnings.warn(f"could not record the synthesis rate in {_path()}: {exc}", stacklevel=2)


def lookup(key: str) -> float | None:
    """Calls per second measured last time with these settings on this machine, if any."""
    entry = _load().get(key)
    return float(entry["calls_per_s"]) if entry else None
