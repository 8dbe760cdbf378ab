"""``retrieved``: K mined negatives only, never filled; experiment baselines are named by the
mining retriever (``bm25``, ``dense``)."""

from __future__ import annotations

from syneg.mixing.base import MixContext, Picker, Strategy, compose


class RetrievedOnly(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        return lambda m, rng: compose([], ctx.pools(m)[1], 0, ctx.k, rng)


STRATEGY = RetrievedOnly("retrieved", per_retriever=True)
