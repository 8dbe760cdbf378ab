"""Compose each training instance's negatives from the pools with a registered strategy.

Strategies (``ratio`` R is synthetic : retrieved, K negatives per instance) live one per module in
``syneg/mixing/strategies/`` (see each module's docstring) and are listed in ``syneg.mixing.registry``.
Within a pool, negatives are drawn with ``instance_rng(seed, "mix", query, positive, epoch)``,
so a given (seed, epoch) always yields the same file and each epoch can draw anew.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from syneg.data import BeirDataset, Document
from syneg.errors import SynegError
from syneg.mixing.base import MixContext, Strategy
from syneg.mixing.pools import SyntheticIndex, index_synthetic
from syneg.mixing.registry import get_strategy
from syneg.records import MinedInstance, SyntheticNegative, TrainingInstance
from syneg.rng import instance_rng

MAX_REPORTED_IDS = 50


def mix(
    mined: Iterable[MinedInstance],
    synthetic: Iterable[SyntheticNegative],
    strategy: str = "hybrid",
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
    chosen = get_strategy(strategy)
    _check(chosen, ratio, num_negatives, corpus)
    index = SyntheticIndex() if chosen.needs_corpus else index_synthetic(synthetic, mined)
    picker = chosen.picker(MixContext(mined, index, ratio, num_negatives, seed, epoch, corpus))
    instances, empty = [], []
    for m in mined:
        negatives, fill = picker(m, instance_rng(seed, "mix", m.query_id, m.positive_id, epoch))
        if not negatives:
            empty.append(f"{m.query_id}/{m.positive_id}")
            continue
        extra = [*m.extra_positives, *index.positives.get((m.query_id, m.positive_id), [])]
        instances.append(TrainingInstance(query_id=m.query_id, query=m.query, positive_id=m.positive_id,
                                          positive=m.positive, positive_teacher_score=m.positive_teacher_score,
                                          negatives=negatives, extra_positives=extra, filled=fill))
    stats = _stats(instances, len(mined), empty, index, chosen, ratio, num_negatives, seed, epoch)
    return instances, stats


def _check(strategy: Strategy, ratio: float, num_negatives: int, corpus: object) -> None:
    if not (ratio >= 0 and math.isfinite(ratio)):
        raise SynegError(f"--ratio must be a finite number >= 0, got {ratio}")
    if num_negatives < 1:
        raise SynegError(f"--num-negatives must be at least 1, got {num_negatives}")
    if strategy.needs_corpus and corpus is None:
        raise SynegError(f"the {strategy.name} strategy needs a corpus (--data)")


def _stats(instances, total, empty, index, strategy: Strategy, ratio, k, seed, epoch) -> dict:
    sources = Counter(n.source for i in instances for n in i.negatives)
    counts = Counter(len(i.negatives) for i in instances)
    return {
        "strategy": strategy.name, "ratio": ratio, "num_negatives": k, "seed": seed, "epoch": epoch,
        "target_per_instance": strategy.target(k, ratio),
        "instances_in": total, "instances": len(instances),
        "negatives": sum(sources.values()), "by_source": dict(sorted(sources.items())),
        "negatives_per_instance": {str(n): c for n, c in sorted(counts.items())},
        "filled": sum(i.filled for i in instances),
        "extra_positives": sum(len(i.extra_positives) for i in instances),
        "synthetic_per_instance": round(sources.get("synthetic", 0) / len(instances), 4) if instances else 0.0,
        "instances_filled": sum(1 for i in instances if i.filled),
        "short": sum(1 for i in instances if len(i.negatives) < k),
        "synthetic_instances": sum(1 for i in instances if i.negatives and i.negatives[0].source == "synthetic"
                                   and all(n.source == "synthetic" for n in i.negatives)),
        "synthetic_unmatched": index.unmatched,
        "empty": len(empty), "empty_ids": empty[:MAX_REPORTED_IDS],
    }
