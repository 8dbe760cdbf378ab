"""Seeded per-instance randomness: a hash of (seed, key parts), never global state."""

from __future__ import annotations

import hashlib
import random


def stable_hash(*parts: object) -> int:
    """A 64-bit integer that depends only on the string forms of ``parts``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def instance_rng(seed: int, *key: object) -> random.Random:
    """A private ``random.Random`` for one instance, e.g. ``instance_rng(seed, qid, epoch)``."""
    return random.Random(stable_hash(seed, *key))
