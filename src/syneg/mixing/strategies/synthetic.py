"""``synthetic``: K negatives from the synthetic pool only, never filled."""

from __future__ import annotations

from syneg.mixing.base import MixContext, Picker, Strategy, compose


class SyntheticOnly(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        return lambda m, rng: compose(ctx.pools(m)[0], [], ctx.k, 0, rng)


STRATEGY = SyntheticOnly("synthetic", uses_synthetic=True)
