"""A seeded, deterministic dev split carved from the train queries."""

from __future__ import annotations

from syneg.errors import SynegError
from syneg.rng import stable_hash

CARVED_SPLITS = ("train", "dev")


def carve_dev(query_ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split ``query_ids`` into ``(train, dev)``; dev holds ``round(fraction * n)`` queries.

    Membership depends only on ``(seed, query id)`` ranks, so the split is stable across
    runs and machines; both parts keep the input order.
    """
    if not 0.0 < fraction < 1.0:
        raise SynegError(f"--dev-fraction must be between 0 and 1 (exclusive), got {fraction}")
    ranked = sorted(query_ids, key=lambda qid: (stable_hash("dev-split", seed, qid), qid))
    n_dev = round(fraction * len(ranked))
    dev = set(ranked[:n_dev])
    return [q for q in query_ids if q not in dev], [q for q in query_ids if q in dev]
