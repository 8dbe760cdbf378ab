"""Retry policy owned by syneg (SDK retries off): Retry-After on 429, jittered backoff otherwise."""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from syneg.rng import instance_rng


@dataclass
class RetryPolicy:
    """Bounded attempts; exponential backoff ``base * 2**(n-1)`` with +-50% jitter, capped."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=lambda: instance_rng(0, "retry-jitter"))

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2 ** (attempt - 1)) * (0.5 + self.rng.random())

    def retry_after(self, headers: Mapping[str, str] | None) -> float | None:
        """Seconds a server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or date)."""
        if not headers:
            return None
        for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            raw = headers.get(name)
            if raw is None:
                continue
            seconds = _seconds(raw, divisor)
            if seconds is not None:
                return min(self.max_retry_after, max(0.0, seconds))
        return None


def _seconds(raw: str, divisor: float) -> float | None:
    """A Retry-After value in seconds (a number, or an HTTP date); None when it is neither."""
    try:
        value = float(raw) / divisor
        return value if math.isfinite(value) else None
    except ValueError:
        pass
    if divisor != 1.0:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # an HTTP date is GMT
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp() - time.time()
