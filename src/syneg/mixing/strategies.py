"""Compose each training instance's negatives from the pools, per strategy.

Strategies (``ratio`` R is synthetic : retrieved, K negatives per instance):

* ``hybrid`` (SyNeg): every instance gets ``n_syn = floor(K*R/(1+R) + 0.5)`` synthetic and
  ``n_ret = K - n_syn`` retrieved negatives (round half up, so K=3, R=0.7 gives 1 + 2 and
  K=8 gives 3 + 5). When a pool is short, the gap is filled from the other pool and counted
  in ``TrainingInstance.filled``.
* ``direct``: pools mixed at dataset level. ``floor(N*R/(1+R) + 0.5)`` of the N instances,
  the lowest by a seeded hash of (seed, query, positive, epoch), take all K negatives from
  the synthetic pool, the rest from the retrieved pool (again filled and counted when short).
* ``synthetic`` / ``retrieved``: one pool only, never filled.
* ``random``: K corpus documents, seeded, never one of the query's positives.

Within a pool, negatives are drawn with ``instance_rng(seed, "mix", query, positive, epoch)``,
so a given (seed, epoch) always yields the same file and each epoch can draw anew.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from syneg.data import BeirDataset, Document
from syneg.errors import SynegError
from syneg.mixing.pools import SyntheticIndex, dedupe, index_synthetic, query_positives, retrieved_pool
from syneg.records import MinedInstance, Negative, SyntheticNegative, TrainingInstance
from syneg.rng import instance_rng, stable_hash

Strategy = Literal["hybrid", "direct", "synthetic", "retrieved", "random"]
STRATEGIES: tuple[str, ...] = ("hybrid", "direct", "synthetic", "retrieved", "random")
MAX_REPORTED_IDS = 50


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves up (Python's ``round`` would go to even)."""
    return math.floor(value + 0.5)


def split_counts(num_negatives: int, ratio: float) -> tuple[int, int]:
    """``(n_syn, n_ret)`` for K negatives at synthetic:retrieved ratio R."""
    n_syn = round_half_up(num_negatives * ratio / (1.0 + ratio))
    return n_syn, num_negatives - n_syn


def compose(syn: list[Negative], ret: list[Negative], n_syn: int, n_ret: int,
            rng: random.Random) -> tuple[list[Negative], int]:
    """Draw n_syn from ``syn`` and n_ret from ``ret``, filling a short pool from the other.

    Returns the negatives (synthetic first) and how many were filled from the other pool.
    """
    take_syn, take_ret = min(n_syn, len(syn)), min(n_ret, len(ret))
    extra_ret = min(n_syn - take_syn, len(ret) - take_ret)
    extra_syn = min(n_ret - take_ret, len(syn) - take_syn)
    chosen = rng.sample(syn, take_syn + extra_syn) + rng.sample(ret, take_ret + extra_ret)
    return chosen, extra_ret + extra_syn


def direct_synthetic_ids(mined: list[MinedInstance], ratio: float, seed: int, epoch: int) -> set[tuple[str, str]]:
    """The (query, positive) pairs that ``direct`` mixing makes all-synthetic."""
    ranked = sorted(mined, key=lambda m: (stable_hash(seed, "direct", m.query_id, m.positive_id, epoch),
                                          m.query_id, m.positive_id))
    count = round_half_up(len(mined) * ratio / (1.0 + ratio))
    return {(m.query_id, m.positive_id) for m in ranked[:count]}


def random_pool(corpus_ids: list[str], exclude: set[str], k: int, rng: random.Random) -> list[str]:
    """Up to k distinct corpus ids drawn with ``rng``, none of them in ``exclude``."""
    candidates = min(len(corpus_ids), k + len(exclude))
    return [d for d in (corpus_ids[i] for i in rng.sample(range(len(corpus_ids)), candidates))
            if d not in exclude][:k]


def mix(
    mined: Iterable[MinedInstance],
    synthetic: Iterable[SyntheticNegative],
    strategy: Strategy = "hybrid",
    ratio: float = 0.7,
    num_negatives: int = 3,
    seed: int = 0,
    corpus: BeirDataset | Mapping[str, Document] | None = None,
    epoch: int = 0,
) -> tuple[list[TrainingInstance], dict]:
    """Build training instances with ``strategy``; returns them and a statistics dict.

    Instances left without any negative are not written; they are counted and listed
    (``stats["empty"]``, ``stats["empty_ids"]``).
    """
    mined = list(mined)
    _check(strategy, ratio, num_negatives, corpus)
    synthetic_index = index_synthetic(synthetic, mined) if strategy != "random" else SyntheticIndex()
    picker = _picker(strategy, mined, synthetic_index, ratio, num_negatives, seed, epoch, corpus)
    instances, empty = [], []
    for m in mined:
        negatives, fill = picker(m, instance_rng(seed, "mix", m.query_id, m.positive_id, epoch))
        if not negatives:
            empty.append(f"{m.query_id}/{m.positive_id}")
            continue
        instances.append(TrainingInstance(query_id=m.query_id, query=m.query, positive_id=m.positive_id,
                                          positive=m.positive, negatives=negatives, filled=fill))
    stats = _stats(instances, len(mined), empty, synthetic_index, strategy, ratio, num_negatives, seed, epoch)
    return instances, stats


def _check(strategy: str, ratio: float, num_negatives: int, corpus: object) -> None:
    if strategy not in STRATEGIES:
        raise SynegError(f"unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    if not (ratio >= 0 and math.isfinite(ratio)):
        raise SynegError(f"--ratio must be a finite number >= 0, got {ratio}")
    if num_negatives < 1:
        raise SynegError(f"--num-negatives must be at least 1, got {num_negatives}")
    if strategy == "random" and corpus is None:
        raise SynegError("the random strategy needs a corpus (--data)")


def _picker(strategy, mined, index, ratio, k, seed, epoch, corpus):
    """A function (mined instance, rng) -> (negatives, filled) for ``strategy``."""
    def pools(m: MinedInstance) -> tuple[list[Negative], list[Negative]]:
        syn = dedupe(index.pool(m.query_id, m.positive_id), m.positive)
        ret = dedupe(retrieved_pool(m), m.positive)
        return syn, ret

    if strategy == "hybrid":
        n_syn, n_ret = split_counts(k, ratio)
        return lambda m, rng: compose(*pools(m), n_syn, n_ret, rng)
    if strategy == "direct":
        chosen = direct_synthetic_ids(mined, ratio, seed, epoch)
        return lambda m, rng: compose(*pools(m), *((k, 0) if (m.query_id, m.positive_id) in chosen else (0, k)), rng)
    if strategy == "synthetic":
        return lambda m, rng: compose(pools(m)[0], [], k, 0, rng)
    if strategy == "retrieved":
        return lambda m, rng: compose([], pools(m)[1], 0, k, rng)
    return _random_picker(mined, k, corpus)


def _random_picker(mined: list[MinedInstance], k: int, corpus: BeirDataset | Mapping[str, Document]):
    docs = corpus.corpus if isinstance(corpus, BeirDataset) else corpus
    positives = query_positives(mined)
    if isinstance(corpus, BeirDataset):
        for qid in positives:
            positives[qid] |= set(corpus.positives(qid))
    ids = sorted(docs)

    def pick(m: MinedInstance, rng: random.Random) -> tuple[list[Negative], int]:
        chosen = random_pool(ids, positives.get(m.query_id, set()) | {m.positive_id}, k, rng)
        return [Negative(text=docs[d].full_text, source="random", doc_id=d) for d in chosen], 0
    return pick


def _stats(instances, total, empty, index, strategy, ratio, k, seed, epoch) -> dict:
    sources = Counter(n.source for i in instances for n in i.negatives)
    counts = Counter(len(i.negatives) for i in instances)
    n_syn, n_ret = split_counts(k, ratio)
    return {
        "strategy": strategy, "ratio": ratio, "num_negatives": k, "seed": seed, "epoch": epoch,
        "target_per_instance": {"synthetic": n_syn, "retrieved": n_ret} if strategy == "hybrid" else None,
        "instances_in": total, "instances": len(instances),
        "negatives": sum(sources.values()), "by_source": dict(sorted(sources.items())),
        "negatives_per_instance": {str(n): c for n, c in sorted(counts.items())},
        "filled": sum(i.filled for i in instances),
        "instances_filled": sum(1 for i in instances if i.filled),
        "short": sum(1 for i in instances if len(i.negatives) < k),
        "synthetic_instances": sum(1 for i in instances if i.negatives and i.negatives[0].source == "synthetic"
                                   and all(n.source == "synthetic" for n in i.negatives)),
        "synthetic_unmatched": index.unmatched,
        "empty": len(empty), "empty_ids": empty[:MAX_REPORTED_IDS],
    }
