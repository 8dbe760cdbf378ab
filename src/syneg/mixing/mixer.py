"""Compose each training instance's negatives from the pools with a registered strategy.

Strategies (``ratio`` R is synthetic : retrieved, K negatives per instance) live one per module in
``syneg/mixing/strategies/`` (see each module's docstring) and are listed in ``syneg.mixing.registry``.
Within a pool, negatives are drawn with ``instance_rng(seed, "mix", query, positive, epoch)``,
so a given (seed, epoch) always yields the same file and each epoch can draw anew.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from syneg.data import BeirDataset, Document
from syneg.errors import SynegError
from syneg.limits import MAX_NEGATIVES, MAX_RATIO
from syneg.mixing.base import MixContext, Strategy
from syneg.mixing.pools import SyntheticIndex, index_synthetic
from syneg.mixing.registry import get_strategy
from syneg.records import MAX_EXTRA_POSITIVES, MinedInstance, SyntheticNegative, TrainingInstance
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
    (``stats["empty"]``, ``stats["empty_ids"]``). :class:`Mixing` draws them one at a time instead.
    """
    mixing = Mixing(mined, synthetic, strategy, ratio, num_negatives, seed, corpus, epoch)
    instances = list(mixing)
    return instances, mixing.stats


class Mixing:
    """The training instances of :func:`mix`, drawn one mined instance at a time as it is iterated.

    No mined instance, or no instance with a negative after drawing, is a :class:`SynegError` (an empty
    training file is a failure, not a result).

    ``mined`` is read twice: once for its (query, positive) pairs, once to draw. A :class:`~syneg.io.RecordFile`
    is read from disk each time, so only the instance being drawn is held (a one-shot iterator is kept as a
    list). ``stats`` is ready once the iteration has run to its end.
    """

    def __init__(self, mined: Iterable[MinedInstance], synthetic: Iterable[SyntheticNegative], strategy: str = "hybrid",
                 ratio: float = 0.7, num_negatives: int = 3, seed: int = 0,
                 corpus: BeirDataset | Mapping[str, Document] | None = None, epoch: int = 0) -> None:
        self.mined = list(mined) if iter(mined) is mined else mined
        self.strategy = get_strategy(strategy)
        _check(self.strategy, ratio, num_negatives, corpus)
        pairs = [(m.query_id, m.positive_id) for m in self.mined]
        if not pairs:
            raise SynegError(f"nothing to mix: {_source(self.mined)} has no mined instance")
        self.index = SyntheticIndex() if self.strategy.needs_corpus else index_synthetic(synthetic, pairs)
        if self.strategy.uses_synthetic and (ratio > 0 or not self.strategy.uses_ratio):
            _check_synthetic(self.strategy, self.index, synthetic)
        self.context = MixContext(pairs, self.index, ratio, num_negatives, seed, epoch, corpus)
        self._tally: _Tally | None = None

    def __iter__(self) -> Iterator[TrainingInstance]:
        ctx, tally = self.context, _Tally(self.context.k)
        picker = self.strategy.picker(ctx)
        for m in self.mined:
            negatives, fill = picker(m, instance_rng(ctx.seed, "mix", m.query_id, m.positive_id, ctx.epoch))
            if not negatives:
                tally.empty(f"{m.query_id}/{m.positive_id}")
                continue
            extra = [*m.extra_positives, *self.index.positives.get((m.query_id, m.positive_id), [])][:MAX_EXTRA_POSITIVES]
            instance = TrainingInstance(query_id=m.query_id, query=m.query, positive_id=m.positive_id,
                                        positive=m.positive, positive_teacher_score=m.positive_teacher_score,
                                        negatives=negatives, extra_positives=extra, filled=fill)
            tally.add(instance)
            yield instance
        self._tally = tally
        if not tally.instances:
            raise SynegError(f"the {self.strategy.name} strategy gave none of the {len(ctx.pairs)} mined pairs a "
                             "negative: no training instance (check the mined and synthetic negatives)")

    @property
    def stats(self) -> dict:
        """The statistics of the drawn instances (after a full iteration)."""
        if self._tally is None:
            raise RuntimeError("Mixing.stats is known once the instances have all been drawn")
        ctx, strategy = self.context, self.strategy
        return {"strategy": strategy.name, "ratio": ctx.ratio, "num_negatives": ctx.k, "seed": ctx.seed,
                "epoch": ctx.epoch, "target_per_instance": strategy.target(ctx.k, ctx.ratio),
                **self._tally.summary(len(ctx.pairs), self.index.unmatched)}


def _source(records: Iterable[MinedInstance] | Iterable[SyntheticNegative]) -> str:
    path = getattr(records, "path", None)
    return str(path) if path is not None else "the input"


def _check_synthetic(strategy: Strategy, index: SyntheticIndex, synthetic: Iterable[SyntheticNegative]) -> None:
    """A strategy that draws synthetic negatives, left with none for any mined pair, is an error: it would
    silently train the retrieved baseline."""
    if index.by_pair or index.by_query:
        return
    source = _source(synthetic)
    why = (f"none of its {index.unmatched:,} synthetic negatives belongs to a mined query" if index.unmatched
           else "it holds no synthetic negative")
    raise SynegError(f"nothing to mix: {source} gives the {strategy.name} strategy no synthetic negative ({why}); "
                     "synthesize for these mined pairs, or use --strategy retrieved")


def _check(strategy: Strategy, ratio: float, num_negatives: int, corpus: object) -> None:
    if not 0 <= ratio <= MAX_RATIO:
        raise SynegError(f"--ratio must be a number from 0 to {MAX_RATIO:g}, got {ratio}")
    if not 1 <= num_negatives <= MAX_NEGATIVES:
        raise SynegError(f"--num-negatives must be an integer from 1 to {MAX_NEGATIVES}, got {num_negatives}")
    if strategy.needs_corpus and corpus is None:
        raise SynegError(f"the {strategy.name} strategy needs a corpus (--data)")


class _Tally:
    """Counts over the drawn instances, added one at a time."""

    def __init__(self, k: int) -> None:
        self.k, self.instances, self.sources, self.counts = k, 0, Counter(), Counter()
        self.filled = self.extra_positives = self.instances_filled = self.short = self.synthetic_instances = 0
        self.empty_count, self.empty_ids = 0, []

    def add(self, instance: TrainingInstance) -> None:
        sources = [n.source for n in instance.negatives]
        self.instances += 1
        self.sources.update(sources)
        self.counts[len(sources)] += 1
        self.filled += instance.filled
        self.extra_positives += len(instance.extra_positives)
        self.instances_filled += bool(instance.filled)
        self.short += len(sources) < self.k
        self.synthetic_instances += bool(sources) and all(s == "synthetic" for s in sources)

    def empty(self, pair: str) -> None:
        self.empty_count += 1
        if len(self.empty_ids) < MAX_REPORTED_IDS:
            self.empty_ids.append(pair)

    def summary(self, total: int, unmatched: int) -> dict:
        n = self.instances
        return {
            "instances_in": total, "instances": n,
            "negatives": sum(self.sources.values()), "by_source": dict(sorted(self.sources.items())),
            "negatives_per_instance": {str(k): c for k, c in sorted(self.counts.items())},
            "filled": self.filled, "extra_positives": self.extra_positives,
            "synthetic_per_instance": round(self.sources.get("synthetic", 0) / n, 4) if n else 0.0,
            "instances_filled": self.instances_filled, "short": self.short,
            "synthetic_instances": self.synthetic_instances, "synthetic_unmatched": unmatched,
            "empty": self.empty_count, "empty_ids": self.empty_ids,
        }
