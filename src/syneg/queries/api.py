"""The ``queries`` stage's Python entry points: plan, generate (or import), check, round-trip filter, write."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.config import QueriesConfig, SynthesizeConfig, TeacherConfig
from syneg.data import BeirDataset
from syneg.errors import RunFailed
from syneg.io import write_jsonl
from syneg.queries.collect import QueryOutcome, collect_queries
from syneg.queries.planning import QueryItem, plan_queries
from syneg.queries.prompt import QUERY_VERSION
from syneg.queries.roundtrip import retriever_name, source_ranks
from syneg.queries.style import QueryStyle, derive_style
from syneg.redact import redact_url
from syneg.rng import stable_hash
from syneg.sharding import SHARD_KEY, Shard
from syneg.synthesis.api import answered, shard_items, side_paths
from syneg.synthesis.api import failure_report as synthesis_failure_report
from syneg.synthesis.backends import ChatBackend
from syneg.synthesis.failures import summarize
from syneg.synthesis.runner import RunCounters

COMMAND = "generate-queries"
EXAMPLES = 3  # kept examples, and dropped ones per reason, in the stats (chosen by the seed)


def plan(dataset: BeirDataset, config: QueriesConfig, llm: SynthesizeConfig,
         seed: int = 0) -> tuple[list[QueryItem], str, QueryStyle]:
    """The items of a run, the model id in their keys and the style they were drawn from (nothing is called)."""
    style = derive_style(dataset.queries.values(), config.types)
    items, model_id = plan_queries(dataset, config, llm, style, seed)
    return items, model_id, style


def generate_queries(
    dataset: BeirDataset, config: QueriesConfig, llm: SynthesizeConfig, out: str | Path, seed: int = 0, *,
    backend: ChatBackend | None = None, retry_failed: bool = False,
    import_from: str | Path | Sequence[str | Path] | None = None, progress: bool = True,
    teacher: TeacherConfig | None = None, device: str | None = None, shard: Shard | None = None,
    encode_backend: str = "reference",
) -> dict[str, Any]:
    """Write the kept queries to ``out`` (GeneratedQuery lines), the dropped ones beside it with their reasons,
    and the stats; the LLM is ``llm`` (the ``synthesize`` section), the round trip ``teacher``'s retrieval."""
    started = time.perf_counter()
    items, model_id, style = plan(dataset, config, llm, seed)
    items, block = shard_items(items, shard, model_id)
    sized = llm.model_copy(update={"max_tokens": config.max_tokens,  # a local engine's slots fit query calls
                                   "batch_size": config.batch_size or llm.batch_size})
    with answered(items, sized, out, model_id, backend=backend, retry_failed=retry_failed, import_from=import_from,
                  progress=progress, record_rate=False) as (cache, counters, imported):
        outcome = collect_queries(items, cache, dataset, model_id, counters.transient)
    calls_s = time.perf_counter() - started
    if config.round_trip_k:
        round_trip(outcome, dataset, config.round_trip_k, teacher, device, encode_backend, progress)
    order = {item.key: index for index, item in enumerate(items)}  # plan order: shard outputs concatenate to it
    outcome.rejected.sort(key=lambda row: order[row["key"]])
    write_jsonl(out, outcome.queries)
    write_jsonl(side_paths(out)["failed"], outcome.rejected)
    stats = _stats(items, counters, outcome, config, llm, model_id, style, seed, imported)
    stats.update(round_trip=_round_trip_stats(outcome, config, teacher), elapsed_s=round(time.perf_counter() - started, 3),
                 calls_s=round(calls_s, 3))
    if block is not None:
        stats[SHARD_KEY] = block
    layout.write_stats(out, stats)
    return stats


def round_trip(outcome: QueryOutcome, dataset: BeirDataset, depth: int, teacher: TeacherConfig | None,
               device: str | None, backend: str, progress: bool) -> None:
    """Rank each kept query's document; drop (stage ``round_trip``) those outside the top ``depth``."""
    queries = outcome.queries
    ranks = source_ranks(dataset.corpus, [q.text for q in queries], [q.doc_id for q in queries], depth, teacher,
                         device=device, backend=backend, show_progress=progress)
    kept = []
    for query, rank in zip(queries, ranks):
        if rank is None:
            outcome.drops["round_trip"][f"not_in_top_{depth}"] += 1
            outcome.rejected.append({"query_id": query.query_id, "doc_id": query.doc_id, "key": query.key,
                                     "stage": "round_trip", "reason": f"not_in_top_{depth}",
                                     "query_type": query.query_type, "text": query.text})
        else:
            query.round_trip_rank = rank
            kept.append(query)
    outcome.queries = kept


def _round_trip_stats(outcome: QueryOutcome, config: QueriesConfig, teacher: TeacherConfig | None) -> dict[str, Any]:
    ranks = Counter(q.round_trip_rank for q in outcome.queries if q.round_trip_rank is not None)
    return {"k": config.round_trip_k, "retriever": retriever_name(teacher) if config.round_trip_k else None,
            "dropped": sum(outcome.drops["round_trip"].values()), "ranks": {str(r): n for r, n in sorted(ranks.items())}}


def _stats(items, counters: RunCounters, outcome: QueryOutcome, config: QueriesConfig, llm: SynthesizeConfig,
           model_id: str, style: QueryStyle, seed: int, imported) -> dict[str, Any]:
    total, kept = len(items), len(outcome.queries)
    docs = len({item.doc_id for item in items})
    return {
        "model": model_id, "prompt_version": QUERY_VERSION, "items": total, "documents": docs, "kept": kept,
        "pass_rate": round(kept / total, 4) if total else 0.0, "per_doc": config.per_doc, "style": style.as_dict(),
        "kept_by_type": dict(Counter(q.query_type for q in outcome.queries)),
        "drops": {stage: dict(counts) for stage, counts in outcome.drops.items()},
        "failures": summarize(outcome.rejected, total, redact_url(llm.base_url)),
        "run": {"cached": counters.cached, "succeeded": counters.succeeded, "failed": counters.failed,
                "skipped_failed": counters.skipped_failed, "calls": counters.calls, "requests": counters.requests,
                "reasks": counters.reasks, "widened": counters.widened, "tokens": dict(counters.tokens),
                "backend": counters.backend},
        "tokens": dict(outcome.tokens), "missing": outcome.missing, "imported": imported,
        "examples": examples(outcome, seed),
    }


def examples(outcome: QueryOutcome, seed: int) -> dict[str, Any]:
    """A few kept queries and a few dropped ones per reason, chosen by the seed (for the stats and the report)."""
    def pick(rows: list, key) -> list:
        return sorted(rows, key=lambda row: stable_hash(seed, "examples", key(row)))[:EXAMPLES]

    kept = [{"doc_id": q.doc_id, "query_type": q.query_type, "text": q.text, "round_trip_rank": q.round_trip_rank}
            for q in pick(outcome.queries, lambda q: q.key)]
    dropped: dict[str, list] = {}
    for row in outcome.rejected:
        dropped.setdefault(row["reason"], []).append(row)
    return {"kept": kept, "dropped": {reason: [{"doc_id": r["doc_id"], "query_type": r["query_type"],
                                                "text": (r["text"] or "")[:300]} for r in pick(rows, lambda r: r["key"])]
                                      for reason, rows in sorted(dropped.items())}}


def failure_report(stats: dict[str, Any], out: str | Path) -> tuple[list[str], RunFailed | None]:
    """Lines to print about failed calls, and the error to exit with when the run failed (as ``synthesize``)."""
    return synthesis_failure_report(stats, out, COMMAND)
