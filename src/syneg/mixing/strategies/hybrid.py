"""``hybrid`` (SyNeg): every instance gets ``n_syn = floor(K*R/(1+R) + 0.5)`` synthetic and
``n_ret = K - n_syn`` retrieved negatives (K=3, R=0.7 gives 1 + 2; K=8 gives 3 + 5); a short pool
is filled from the other and counted in ``TrainingInstance.filled``."""

from __future__ import annotations

from syneg.mixing.base import MixContext, Picker, Strategy, compose, split_counts


class Hybrid(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        n_syn, n_ret = split_counts(ctx.k, ctx.ratio)
        return lambda m, rng: compose(*ctx.pools(m), n_syn, n_ret, rng)

    def target(self, k: int, ratio: float) -> dict[str, int]:
        n_syn, n_ret = split_counts(k, ratio)
        return {"synthetic": n_syn, "retrieved": n_ret}


STRATEGY = Hybrid("hybrid", uses_synthetic=True, uses_ratio=True)
