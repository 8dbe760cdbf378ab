"""``mine``: hard negatives for every (query, positive) pair of a split, retrieved once per query."""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syneg.config import MineConfig, TeacherConfig
from syneg.data import BeirDataset
from syneg.errors import SynegError
from syneg.hardware import resolve_device
from syneg.io import write_jsonl
from syneg.layout import write_stats
from syneg.mining.dedup import DuplicateIndex
from syneg.mining.filters import (
    FILTER_SETTINGS,
    FILTERS,
    Candidate,
    candidates_from,
    choose,
    drop_unmatched,
    exclude_positives,
    rank_window,
    score_filters,
)
from syneg.mining.stats import build_stats
from syneg.records import MinedInstance, Negative
from syneg.redact import without_paths
from syneg.rng import instance_rng, stable_hash
from syneg.sharding import SHARD_KEY, Shard, select
from syneg.teacher.false_negatives import relabelled

if TYPE_CHECKING:
    from syneg.retrieval import Retriever



def check_settings(config: MineConfig) -> None:
    """Reject settings that cannot mine anything (the same rules as sentence-transformers).

    Single values (counts >= 1, margins >= 0) are already checked by ``MineConfig``.
    """
    window_end = config.top_k if config.range_max is None else config.range_max
    problems = [
        (window_end > config.top_k, f"--range-max {window_end} exceeds --top-k {config.top_k} (candidates retrieved)"),
        (config.range_min >= window_end, f"--range-min {config.range_min} must be below the window end {window_end}"),
        (config.num_negatives > window_end - config.range_min,
         f"cannot mine {config.num_negatives} negatives from ranks {config.range_min}..{window_end}"),
    ]
    for failed, message in problems:
        if failed:
            raise SynegError(message)


def select_queries(dataset: BeirDataset, max_queries: int | None, seed: int) -> list[str]:
    """Queries with at least one positive, in qrels order; a seeded subset of ``max_queries`` of them."""
    qids = [qid for qid in dataset.qrels if dataset.positives(qid)]
    if max_queries is None or max_queries >= len(qids):
        return qids
    keep = set(sorted(qids, key=lambda qid: stable_hash(seed, "max-queries", qid))[:max_queries])
    return [qid for qid in qids if qid in keep]


def instance_positives(dataset: BeirDataset, qid: str, config: MineConfig, seed: int,
                       scores: list[float] | None = None) -> list[str]:
    """The positives that get an instance: all of them, or one: a seeded pick (``positive_choice:
    random``) or the best (``graded``: highest relevance grade, then highest ``scores``, then qrels order)."""
    positives = dataset.positives(qid)
    if not config.one_positive:
        return positives
    if config.positive_choice == "random":
        return [instance_rng(seed, qid, "one-positive").choice(positives)]
    grades, keys = dataset.qrels[qid], scores or [0.0] * len(positives)
    return [positives[max(range(len(positives)), key=lambda i: (grades[positives[i]], keys[i], -i))]]


def make_retriever_for(
    dataset: BeirDataset, config: MineConfig, cache_dir: Path | None, batch_size: int, show_progress: bool = False,
    device: str | None = None, backend: str = "reference",
) -> Retriever:
    """The configured retriever, indexed over the dataset's corpus (a dense one encodes through ``backend``)."""
    from syneg.retrieval import make_retriever

    options = {"cache_dir": cache_dir, "batch_size": batch_size, "max_seq_length": config.max_seq_length,
               "device": device, "backend": backend} if config.retriever == "dense" else {}
    retriever = make_retriever(config.retriever, config.model, show_progress=show_progress, **options)
    retriever.index(dataset.corpus)
    return retriever


def score_positives(
    retriever: Retriever,
    texts: list[str],
    positives: list[list[str]],
    ids: list[list[str]],
    scores: list[list[float]],
) -> list[list[float]]:
    """Each positive's retriever score: read off the search results, asking ``score`` only for the rest."""
    found = [dict(zip(row_ids, row_scores)) for row_ids, row_scores in zip(ids, scores)]
    missing = [row for row, pos in enumerate(positives) if any(p not in found[row] for p in pos)]
    if missing:
        extra = retriever.score([texts[r] for r in missing], [[p for p in positives[r] if p not in found[r]]
                                                              for r in missing])
        for row, values in zip(missing, extra):
            found[row].update(zip([p for p in positives[row] if p not in found[row]], values))
    return [[found[row][p] for p in pos] for row, pos in enumerate(positives)]


def mine(
    dataset: BeirDataset,
    config: MineConfig | None = None,
    seed: int = 0,
    *,
    retriever: Retriever | None = None,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
    teacher: TeacherConfig | None = None,
    device: str | None = None,
    shard: Shard | None = None,
    backend: str = "reference",
) -> tuple[list[MinedInstance], dict[str, Any]]:
    """Mine negatives for each (query, positive) pair; returns the instances and the statistics.

    ``retriever``, when given, must already be indexed over ``dataset.corpus`` (else one is built
    from ``config``; dense corpus embeddings are cached in ``cache_dir``, default the retrieval
    cache). Retrieval, positive scoring and rescoring run once per query, batched, on ``device``
    (None = auto); a dense retriever encodes through ``backend`` (``encode.backend``). ``teacher`` (when its ``model`` is set) rescores the candidates and decides false
    negatives (drop or relabel); its corpus embeddings are cached in ``cache_dir`` too. A ``shard``
    mines its block of the selected queries (see :mod:`syneg.sharding`).
    """
    config = config or MineConfig()
    check_settings(config)
    qids = select_queries(dataset, config.max_queries, seed)
    if not qids:
        raise SynegError(f"split {dataset.split!r} has no query with a positive judgement")
    plan = [seed, dataset.split, config.model_dump(mode="json")]  # the same on every machine, wherever the data is
    qids, block = select(shard, qids, qids, plan)
    extra = {"device": resolve_device(device), **({SHARD_KEY: block} if block else {})}
    retriever = retriever or make_retriever_for(dataset, config, cache_dir, batch_size, show_progress, extra["device"],
                                                backend)
    texts = [dataset.queries[qid] for qid in qids]
    positives = [dataset.positives(qid) for qid in qids]
    ids, scores = retriever.search(texts, config.top_k)
    positive_scores = score_positives(retriever, texts, positives, ids, scores)

    removed: Counter = Counter()
    with _gc_paused():
        windows = candidate_windows(dataset, config, retriever.name, positives, ids, scores, removed,
                                    cache_dir or _default_cache_dir())
    teacher_scores: list[list[float] | None] = [None] * len(qids)
    if teacher is not None and teacher.model is not None:
        windows, teacher_scores = _rescore(dataset, texts, windows, positives, teacher,
                                           {"device": extra["device"], "cache_dir": cache_dir,
                                            "show_progress": show_progress, "backend": backend})
    instances = []
    with _gc_paused():
        for row, qid in enumerate(qids):
            instances += _query_instances(dataset, config, seed, qid, (positive_scores[row], teacher_scores[row]),
                                          windows[row], removed, retriever.name, teacher)
    require_negatives(instances, removed, len(qids))
    settings = {"data": str(dataset.path), "split": dataset.split, "seed": seed, **config.model_dump(mode="json"),
                "teacher": teacher and teacher.model_dump(mode="json")}
    settings = without_paths(settings)  # local folders by name: the stats travel into cards and exports
    stats = build_stats(instances, settings=settings, retrieved=sum(map(len, ids)), removed=removed,
                        num_queries=len(qids))
    return instances, {**stats, **extra}


def require_negatives(instances: list[MinedInstance], removed: Counter, queries: int) -> None:
    """A SynegError when no instance got a negative (an empty block of a shard, no instance, is fine):
    training on it would teach nothing. Names the filter that removed the most candidates."""
    if not instances or any(inst.negatives for inst in instances):
        return
    counts = {name: removed[name] for name in FILTERS if removed[name]}
    if not counts:
        raise SynegError(f"no (query, positive) pair got a negative: the retriever found no candidate for "
                         f"the {queries:,} queries (raise --top-k)")
    worst = max(counts, key=counts.__getitem__)
    others = ", ".join(f"{FILTER_SETTINGS[n]} {c:,}" for n, c in counts.items() if n != worst)
    raise SynegError(f"no (query, positive) pair got a negative: {FILTER_SETTINGS[worst]} removed {counts[worst]:,} "
                     f"candidates{f' (and {others})' if others else ''}; loosen it")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small acyclic objects are made.

    With a model loaded the heap holds millions of objects, and the collections that tens of
    thousands of new candidates trigger would walk them all (a third of a warm mining run).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _default_cache_dir() -> Path:
    from syneg.retrieval.cache import default_cache_dir  # lazily: syneg.retrieval imports torch

    return default_cache_dir()


def candidate_windows(
    dataset: BeirDataset,
    config: MineConfig,
    source: str,
    positives: list[list[str]],
    ids: list[list[str]],
    scores: list[list[float]],
    removed: Counter,
    cache_dir: Path | None = None,
) -> list[list[Candidate]]:
    """Per query: the retrieved candidates minus positives (and their copies), cut to the rank window.
    Duplicate keys are cached per corpus in ``cache_dir`` (None: not cached)."""
    dup = DuplicateIndex(dataset.corpus, cache_dir)
    windows = []
    for pos, row_ids, row_scores in zip(positives, ids, scores):
        cands = exclude_positives(candidates_from(row_ids, row_scores), set(pos), dup.keys_of(pos), dup.keys, removed)
        if source == "bm25":
            cands = drop_unmatched(cands, removed)
        windows.append(rank_window(cands, config.range_min, config.range_max, removed))
    dup.save()
    return windows


def _query_instances(
    dataset: BeirDataset,
    config: MineConfig,
    seed: int,
    qid: str,
    pos_scores: tuple[list[float], list[float] | None],
    window: list[Candidate],
    removed: Counter,
    source: str,
    teacher: TeacherConfig | None = None,
) -> list[MinedInstance]:
    """Score-filter one query's window, then choose negatives for each of its instances.

    The margin reference is the query's lowest positive score (``margin_reference: query_min``,
    as sentence-transformers does) or each pair's own positive (``pair``, filtered per pair).
    """
    retriever_pos, teacher_pos = pos_scores
    reference_scores = retriever_pos if teacher_pos is None else teacher_pos

    def survivors_for(reference: float) -> tuple[list[Candidate], list[Candidate]]:
        flagged: list[Candidate] = []
        kept = score_filters(window, reference, absolute_margin=config.absolute_margin,
                             relative_margin=config.relative_margin, max_score=config.max_score,
                             false_negative=teacher and teacher.perc, flagged=flagged, removed=removed)
        return kept, flagged

    shared = survivors_for(min(reference_scores)) if config.margin_reference == "query_min" else None
    positives = dataset.positives(qid)
    instances = []
    for pid in instance_positives(dataset, qid, config, seed, teacher_pos or retriever_pos):
        at = positives.index(pid)
        survivors, flagged = shared if shared is not None else survivors_for(reference_scores[at])
        chosen = choose(survivors, config.num_negatives, config.sampling, instance_rng(seed, qid, pid))
        pair_scores = (retriever_pos[at], None if teacher_pos is None else teacher_pos[at])
        instances.append(_instance(dataset, qid, pid, pair_scores, (chosen, relabelled(flagged, teacher)), config,
                                   source))
    return instances


def _rescore(
    dataset: BeirDataset,
    texts: list[str],
    windows: list[list[Candidate]],
    positives: list[list[str]],
    teacher: TeacherConfig,
    options: dict[str, Any],
) -> tuple[list[list[Candidate]], list[list[float] | None]]:
    """Teacher scores for the in-window candidates and for every positive, in one batched call
    (``options``: ``device``, ``cache_dir``, ``show_progress``, ``backend`` of :func:`syneg.teacher.load.load_teacher`)."""
    from syneg.teacher.load import load_teacher

    doc_ids = [[c.doc_id for c in win] + list(pos) for win, pos in zip(windows, positives)]
    scored = load_teacher(teacher, **options).score_corpus(texts, doc_ids, dataset.corpus)
    rescored = [[c.with_teacher(s) for c, s in zip(win, row)] for win, row in zip(windows, scored)]
    return rescored, [row[len(win):] for win, row in zip(windows, scored)]


def _instance(
    dataset: BeirDataset,
    qid: str,
    pid: str,
    pos_scores: tuple[float, float | None],
    picked: tuple[list[Candidate], list[Candidate]],
    config: MineConfig,
    source: str,
) -> MinedInstance:
    """One output record (``picked``: negatives, relabelled extra positives); scores rounded to 6 decimals."""
    def passage(c: Candidate) -> Negative:
        return Negative(text=dataset.doc_text(c.doc_id), source=source, doc_id=c.doc_id, score=_round(c.score),
                        rank=c.rank, teacher_score=_round(c.teacher))

    negatives = [passage(c) for c in picked[0]]
    return MinedInstance(
        query_id=qid, query=dataset.queries[qid], positive_id=pid, positive=dataset.doc_text(pid),
        positive_score=_round(pos_scores[0]), positive_teacher_score=_round(pos_scores[1]),
        negatives=negatives, extra_positives=[passage(c) for c in picked[1]],
        shortfall=config.num_negatives - len(negatives),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def write_mined(instances: list[MinedInstance], stats: dict[str, Any], out: Path) -> Path:
    """Write the instances (JSON lines), then their stats beside them (``<out>.stats.json``); returns its path."""
    write_jsonl(out, instances)
    return write_stats(out, stats)
