"""``direct``: pools mixed at dataset level. ``floor(N*R/(1+R) + 0.5)`` of the N instances, the
lowest by a seeded hash of (seed, query, positive, epoch), take all K negatives from the synthetic
pool, the rest from the retrieved pool (filled and counted when short)."""

from __future__ import annotations

from syneg.mixing.base import MixContext, Picker, Strategy, compose, round_half_up
from syneg.records import MinedInstance
from syneg.rng import stable_hash


def direct_synthetic_ids(mined: list[MinedInstance], ratio: float, seed: int, epoch: int) -> set[tuple[str, str]]:
    """The (query, positive) pairs that ``direct`` mixing makes all-synthetic."""
    ranked = sorted(mined, key=lambda m: (stable_hash(seed, "direct", m.query_id, m.positive_id, epoch),
                                          m.query_id, m.positive_id))
    count = round_half_up(len(mined) * ratio / (1.0 + ratio))
    return {(m.query_id, m.positive_id) for m in ranked[:count]}


class Direct(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        chosen = direct_synthetic_ids(ctx.mined, ctx.ratio, ctx.seed, ctx.epoch)
        k = ctx.k

        def pick(m, rng):
            counts = (k, 0) if (m.query_id, m.positive_id) in chosen else (0, k)
            return compose(*ctx.pools(m), *counts, rng)
        return pick


STRATEGY = Direct("direct", uses_synthetic=True, uses_ratio=True)
