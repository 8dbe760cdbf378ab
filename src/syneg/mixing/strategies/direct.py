"""``direct``: pools mixed at dataset level. ``floor(N*R/(1+R) + 0.5)`` of the N instances, the
lowest by a seeded hash of (seed, query, positive, epoch), take all K negatives from the synthetic
pool, the rest from the retrieved pool (filled and counted when short)."""

from __future__ import annotations

from syneg.mixing.base import MixContext, Picker, Strategy, compose, round_half_up
from syneg.rng import stable_hash


def direct_synthetic_ids(pairs: list[tuple[str, str]], ratio: float, seed: int, epoch: int) -> set[tuple[str, str]]:
    """The mined (query, positive) pairs that ``direct`` mixing makes all-synthetic."""
    ranked = sorted(pairs, key=lambda pair: (stable_hash(seed, "direct", *pair, epoch), *pair))
    count = round_half_up(len(pairs) * ratio / (1.0 + ratio))
    return set(ranked[:count])


class Direct(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        chosen = direct_synthetic_ids(ctx.pairs, ctx.ratio, ctx.seed, ctx.epoch)
        k = ctx.k

        def pick(m, rng):
            counts = (k, 0) if (m.query_id, m.positive_id) in chosen else (0, k)
            return compose(*ctx.pools(m), *counts, rng)
        return pick


STRATEGY = Direct("direct", uses_synthetic=True, uses_ratio=True)
