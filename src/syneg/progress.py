"""Progress bars and info lines on stderr, switched off by ``TQDM_DISABLE`` or ``SYNEG_QUIET``.

``syneg --quiet`` sets ``SYNEG_QUIET=1`` (so processes it starts, such as torchrun workers, are quiet too).
Every bar syneg shows, and every progress flag it passes to a library, goes through :func:`enabled`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

QUIET_ENV = "SYNEG_QUIET"


def quiet() -> bool:
    """True when info lines and bars are off (``--quiet`` / ``SYNEG_QUIET``)."""
    return bool(os.environ.get(QUIET_ENV))


def enabled(requested: bool = True) -> bool:
    """Whether to show a requested bar: not quiet, and ``TQDM_DISABLE`` unset (any value disables, as in tqdm)."""
    return requested and not quiet() and not os.environ.get("TQDM_DISABLE")


def bar(iterable: Any = None, *, show: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, disabled unless :func:`enabled` (``show``)."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, disable=not enabled(show), dynamic_ncols=True, **kwargs)


def note(text: str) -> None:
    """Print an info line on stderr (between bars, not through them) unless quiet."""
    if quiet():
        return
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def duration(seconds: float) -> str:
    """A rough human duration: ``"40 s"``, ``"24 min"``, ``"2.5 h"``."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
