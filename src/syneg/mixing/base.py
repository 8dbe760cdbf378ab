"""What a mixing strategy is, and the drawing helpers strategies share.

A strategy turns a :class:`MixContext` (the mined pairs, the synthetic index, R, K, seed,
epoch, corpus) into a *picker*: a function ``(mined instance, rng) -> (negatives, filled)``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from syneg.data import BeirDataset, Document
from syneg.mixing.pools import SyntheticIndex, dedupe, retrieved_pool
from syneg.records import MinedInstance, Negative

Picker = Callable[[MinedInstance, random.Random], tuple[list[Negative], int]]


@dataclass(frozen=True)
class MixContext:
    """Everything a strategy may draw from."""

    pairs: list[tuple[str, str]]  # (query_id, positive_id) of every mined instance, in file order
    index: SyntheticIndex
    ratio: float
    k: int
    seed: int
    epoch: int
    corpus: BeirDataset | Mapping[str, Document] | None

    def pools(self, m: MinedInstance) -> tuple[list[Negative], list[Negative]]:
        """The instance's synthetic and retrieved pools, without copies of its positive."""
        return dedupe(self.index.pool(m.query_id, m.positive_id), m.positive), dedupe(retrieved_pool(m), m.positive)


@dataclass(frozen=True)
class Strategy:
    """A registered way to compose negatives; subclasses implement :meth:`picker`.

    ``uses_synthetic``: needs synthetic negatives (the synthesize stage, ``--synthetic``);
    ``uses_ratio``: R changes it (experiment labels show it); ``needs_corpus``: draws from the
    corpus; ``per_retriever``: its experiment baselines are named by the mining retriever.
    """

    name: str
    uses_synthetic: bool = False
    uses_ratio: bool = False
    needs_corpus: bool = False
    per_retriever: bool = False

    def picker(self, ctx: MixContext) -> Picker:
        raise NotImplementedError

    def target(self, k: int, ratio: float) -> dict[str, int] | None:
        """Negatives per instance by source it aims at, when fixed per instance."""
        return None


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
