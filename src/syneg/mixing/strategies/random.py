"""``random``: K corpus documents, seeded, never one of the query's positives."""

from __future__ import annotations

import random

from syneg.data import BeirDataset
from syneg.mixing.base import MixContext, Picker, Strategy
from syneg.mixing.pools import query_positives
from syneg.records import MinedInstance, Negative


def random_pool(corpus_ids: list[str], exclude: set[str], k: int, rng: random.Random) -> list[str]:
    """Up to k distinct corpus ids drawn with ``rng``, none of them in ``exclude``."""
    candidates = min(len(corpus_ids), k + len(exclude))
    return [d for d in (corpus_ids[i] for i in rng.sample(range(len(corpus_ids)), candidates))
            if d not in exclude][:k]


class RandomCorpus(Strategy):
    def picker(self, ctx: MixContext) -> Picker:
        corpus = ctx.corpus
        docs = corpus.corpus if isinstance(corpus, BeirDataset) else corpus
        positives = query_positives(ctx.pairs)
        if isinstance(corpus, BeirDataset):
            for qid in positives:
                positives[qid] |= set(corpus.positives(qid))
        ids = sorted(docs)

        def pick(m: MinedInstance, rng: random.Random) -> tuple[list[Negative], int]:
            chosen = random_pool(ids, positives.get(m.query_id, set()) | {m.positive_id}, ctx.k, rng)
            return [Negative(text=docs[d].full_text, source="random", doc_id=d) for d in chosen], 0
        return pick


STRATEGY = RandomCorpus("random", needs_corpus=True)
