"""Plan the calls of a run: one item per (query, positive, k) with its attributes, messages and key."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from syneg.config import SynthesizeConfig
from syneg.data import BeirDataset
from syneg.errors import SynegError
from syneg.records import MinedInstance
from syneg.rng import instance_rng, stable_hash
from syneg.limits import MIN_WORDS
from syneg.synthesis.attributes import LENGTHS, derive_domains, sample_attributes
from syneg.synthesis.backends import get_backend
from syneg.synthesis.backends.base import Sampling
from syneg.synthesis.length import char_bounds, chars_per_word, opening
from syneg.synthesis.modes import SOURCED
from syneg.synthesis.prompt import NEGATIVES, build_messages, negatives_task
from syneg.synthesis.task import Task

MIN_OPENING_WORDS = 10  # a continuation starts from at least this many words of the mined passage


@dataclass(frozen=True)
class Pair:
    """A (query, positive) pair and the mined passages that come with it."""

    query_id: str
    query: str
    positive_id: str
    positive: str
    mined: tuple[tuple[str | None, str], ...] = ()  # (doc_id, text) of retrieved negatives


@dataclass(frozen=True)
class SynthesisItem:
    """One planned call; ``key`` is the hash of its first request (and its cache key)."""

    pair: Pair
    k: int
    mode: str
    attributes: dict[str, str]
    messages: list[dict[str, str]]
    sampling: Sampling
    source_doc_id: str | None
    key: str
    task: Task = NEGATIVES
    opening: str | None = None  # continue mode: the mined passage's opening the passage starts with

    @property
    def group(self) -> tuple[str, ...]:
        """A (query, positive) pair's negatives are checked against each other."""
        return (self.pair.query_id, self.pair.positive_id)


def pairs_from_dataset(dataset: BeirDataset) -> list[Pair]:
    return [
        Pair(qid, dataset.queries[qid], pid, dataset.doc_text(pid))
        for qid in dataset.queries
        for pid in dataset.positives(qid)
    ]


def pairs_from_mined(mined: Sequence[MinedInstance], dataset: BeirDataset | None) -> list[Pair]:
    """Pairs of a mined file (restricted to the dataset's queries when one is given)."""
    rows = [m for m in mined if dataset is None or m.query_id in dataset.queries]
    if mined and not rows:
        raise SynegError("no query of the mined file belongs to this dataset split (mined on another split?)")
    return [
        Pair(m.query_id, m.query, m.positive_id, m.positive,
             tuple((n.doc_id, n.text) for n in m.negatives if n.source != "synthetic"))
        for m in rows
    ]


def calls_per_pair(config: SynthesizeConfig, measured_rate: float | None = None) -> int:
    """Calls per pair so that about ``target_kept`` negatives per pair survive: ``ceil(target / rate)``,
    at most ``max_per_query``. The rate is ``keep_rate`` when set, else ``measured_rate`` (a previous
    run's pass rate), else 1. Without ``target_kept``, ``per_query``."""
    if config.target_kept is None:
        return config.per_query
    rate = config.keep_rate or measured_rate or 1.0
    return max(1, min(config.max_per_query, math.ceil(config.target_kept / max(rate, 1e-3) - 1e-9)))


def plan_items(
    pairs: Sequence[Pair],
    config: SynthesizeConfig,
    model_id: str,
    domains: list[str],
    seed: int = 0,
) -> list[SynthesisItem]:
    """``config.per_query`` items per pair (first ``config.limit`` pairs), grounded items need a mined passage."""
    chosen = pairs[: config.limit] if config.limit is not None else pairs
    if config.mode in SOURCED and not any(p.mined for p in chosen):
        raise SynegError(f"{config.mode} mode starts from mined negatives: pass --mined mined.jsonl (or use --mode free)")
    items = []
    for pair in chosen:
        for k in range(config.per_query):
            if config.mode in SOURCED and not pair.mined:
                continue
            items.append(_item(pair, k, config, model_id, domains, seed))
    return items


def _item(pair: Pair, k: int, config: SynthesizeConfig, model_id: str, domains: list[str], seed: int) -> SynthesisItem:
    rng = instance_rng(seed, pair.query_id, pair.positive_id, k)
    source_id, source_text = source(pair, k, config.source, seed)
    sourced = config.mode in SOURCED
    side = [source_text] if sourced else [text for _, text in pair.mined]
    attributes = sample_attributes(rng, domains, pair.query, pair.positive, side, config.max_words)
    start = None
    if config.mode == "continue":
        start, attributes = continuation(attributes, pair.positive, source_text, config)
    messages = build_messages(
        pair.query, attributes, config.mode,
        positive=pair.positive if config.show_positive else None,
        mined=source_text if config.mode == "grounded" else None, opening=start,
    )
    penalty = config.repeat_penalty if config.repeat_penalty is not None else get_backend(config.backend).default_repeat_penalty
    sampling = Sampling(config.max_tokens, config.temperature,
                        stable_hash(seed, pair.query_id, pair.positive_id, k) % 2**31, penalty)
    task = negatives_task(*char_bounds(int(attributes["words"]), chars_per_word(pair.positive), config.max_tokens))
    key = task.key(model_id, messages, sampling)
    return SynthesisItem(pair, k, config.mode, attributes, messages, sampling, source_id if sourced else None, key,
                         task, start)


def source(pair: Pair, k: int, choice: str, seed: int) -> tuple[str | None, str | None]:
    """The mined passage call ``k`` of ``pair`` starts from: its k-th (``first``), or the k-th of a seeded
    shuffle of them (``random``: a pair's calls take distinct passages while there are enough)."""
    if not pair.mined:
        return None, None
    order = list(range(len(pair.mined)))
    if choice == "random":
        instance_rng(seed, "source", pair.query_id, pair.positive_id).shuffle(order)
    return pair.mined[order[k % len(order)]]


def continuation(attributes: dict[str, str], positive: str, mined: str,
                 config: SynthesizeConfig) -> tuple[str, dict[str, str]]:
    """Continue mode: the opening taken from the mined passage and the attributes with the words the model
    writes after it; together about the ``length`` attribute's share of the positive."""
    total = round(len(positive.split()) * LENGTHS[attributes["length"]])
    start = opening(mined, max(MIN_OPENING_WORDS, round(total * config.opening_share)))
    words = min(config.max_words, max(MIN_WORDS, total - len(start.split())))
    return start, {**attributes, "words": str(round(words / 10) * 10 or MIN_WORDS)}


def domain_pool(config: SynthesizeConfig, dataset: BeirDataset | None) -> list[str]:
    """The configured domains, else ones derived from the corpus titles."""
    if config.domains:
        return list(config.domains)
    return derive_domains(dataset.corpus) if dataset is not None else ["general"]
