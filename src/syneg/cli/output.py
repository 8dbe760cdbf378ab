"""What commands print: info lines on stderr (silenced by ``--quiet``), one JSON summary line on stdout.

Every command except ``prompt`` and ``config show`` (whose output is the text they show) ends its stdout
with one JSON object, so ``syneg CMD ... | tail -n 1`` is machine-readable; logs and progress go to stderr.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import PurePath
from typing import Any

from syneg import progress

_handler: logging.Handler | None = None
_set_tqdm = ""  # "1" while --quiet has set TQDM_DISABLE itself (a later in-process call without it unsets it)


def configure(quiet: bool, verbose: bool) -> None:
    """Apply the global ``--quiet`` / ``--verbose`` options for this invocation."""
    global _handler, _set_tqdm
    if quiet:
        os.environ[progress.QUIET_ENV] = "1"
        if "TQDM_DISABLE" not in os.environ:  # libraries' own bars too (tqdm reads it when first imported)
            os.environ["TQDM_DISABLE"] = _set_tqdm = "1"
    else:
        os.environ.pop(progress.QUIET_ENV, None)
        if _set_tqdm:
            os.environ.pop("TQDM_DISABLE", None)
            _set_tqdm = ""
    logger = logging.getLogger("syneg")
    if verbose and _handler is None:
        _handler = logging.StreamHandler(sys.stderr)
        _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(_handler)
    elif not verbose and _handler is not None:
        logger.removeHandler(_handler)
        _handler = None
    logger.setLevel(logging.DEBUG if verbose else logging.NOTSET)


def info(text: str) -> None:
    """A human-readable line on stderr, unless ``--quiet``."""
    progress.note(text)


def emit_json(obj: dict[str, Any]) -> None:
    """Print ``obj`` as the one-line JSON summary on stdout (paths as text, NaN and infinities as null:
    the line is always valid JSON)."""
    print(json.dumps(_finite(obj), default=_plain, allow_nan=False), flush=True)


def summary(command: str, **fields: Any) -> None:
    """The command's summary line: ``{"command": COMMAND, **fields}``."""
    emit_json({"command": command, **fields})


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite (in dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
