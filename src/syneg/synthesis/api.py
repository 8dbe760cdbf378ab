"""The stage's Python entry points: synthesize, estimate (dry run), export and import of batches."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from syneg.config import SynthesizeConfig, TeacherConfig
from syneg.data import BeirDataset
from syneg import layout, progress
from syneg.errors import RunFailed
from syneg.hardware import resolve_device
from syneg.io import write_jsonl
from syneg.records import MinedInstance
from syneg.redact import redact_url, register_secret
from syneg.sharding import SHARD_KEY, Shard
from syneg.synthesis import batch, rates
from syneg.synthesis.backends import ChatBackend, get_backend
from syneg.synthesis.engines import engine_backend
from syneg.synthesis.cache import ResultCache
from syneg.synthesis.failures import report_lines, summarize, verdict
from syneg.synthesis.finalize import Outcome, apply_guard, collect, select_hardest
from syneg.synthesis.planning import SynthesisItem, calls_per_pair, domain_pool, pairs_from_dataset, pairs_from_mined, plan_items
from syneg.synthesis.prompt import PROMPT_VERSION
from syneg.synthesis.quality import quality
from syneg.synthesis.runner import RunCounters, pending, run_items
from syneg.synthesis.task import TaskItem
from syneg.synthesis.vocabulary import run_vocabulary
from syneg.teacher.guard import Band, HardnessGuard
from syneg.teacher.load import teacher_name

TaskItemT = TypeVar("TaskItemT", bound=TaskItem)


def side_paths(out: str | Path) -> dict[str, Path]:
    """Files written beside the output: stats, failures and (by default) the cache."""
    return {"stats": layout.stats_path(out), "failed": layout.side_file(out, layout.FAILED_SUFFIX),
            "cache": layout.side_file(out, layout.CACHE_SUFFIX)}


def plan(
    dataset: BeirDataset | None,
    config: SynthesizeConfig,
    mined: Sequence[MinedInstance] | None = None,
    seed: int = 0,
) -> tuple[list[SynthesisItem], str]:
    """The items of a run and the model id in their keys (nothing is loaded or called)."""
    pairs = pairs_from_mined(mined, dataset) if mined else pairs_from_dataset(dataset)
    model_id = get_backend(config.backend).model_id_for(config.model)
    return plan_items(pairs, config, model_id, domain_pool(config, dataset), seed), model_id


def shard_items(items: Sequence[TaskItemT], shard: Shard | None, model_id: str) -> tuple[list[TaskItemT], dict | None]:
    """``shard``'s block of the planned items, cut between groups (items checked against each other: a pair's
    negatives, a document's queries), and the shard's stats block (None without a shard)."""
    if shard is None:
        return list(items), None
    groups = [list(group) for _, group in itertools.groupby(items, key=lambda item: item.group)]
    chosen = [item for group in shard.take(groups) for item in group]
    return chosen, shard.block([item.key for item in items], model_id, len(chosen))


def open_cache(config: SynthesizeConfig, out: str | Path, read_only: bool = False) -> ResultCache:
    """The run's result cache; the configured API key is registered first, so replies stored there are
    redacted of it whichever backend (or batch import) they come from. ``read_only``: see :class:`ResultCache`."""
    register_secret(os.environ.get(config.api_key_env))
    return ResultCache(config.cache or side_paths(out)["cache"], read_only)


@contextmanager
def answered(items: Sequence[TaskItem], config: SynthesizeConfig, out: str | Path, model_id: str, *,
             backend: ChatBackend | None, retry_failed: bool, import_from: str | Path | Sequence[str | Path] | None,
             progress: bool, record_rate: bool = True) -> Iterator[tuple[ResultCache, RunCounters, dict | None]]:
    """The run's cache once every item was called (or its batch results imported): yields the cache, the
    run's counters and the import summary (None when nothing was imported)."""
    if backend is None and import_from is None:
        get_backend(config.backend).check_config(config)  # before the cache file is made
    with open_cache(config, out) as cache:
        counters = RunCounters()
        imported = (dict(batch.import_batch(items, cache, import_from, counters.transient, model_id,
                                            config.max_tokens)) if import_from else None)
        if import_from is None:
            counters = asyncio.run(run_calls(items, config, cache, backend, retry_failed, progress, record_rate))
        yield cache, counters, imported


def synthesize(
    dataset: BeirDataset | None,
    config: SynthesizeConfig,
    out: str | Path,
    mined: Sequence[MinedInstance] | None = None,
    seed: int = 0,
    *,
    backend: ChatBackend | None = None,
    retry_failed: bool = False,
    import_from: str | Path | Sequence[str | Path] | None = None,
    progress: bool = True,
    teacher: TeacherConfig | None = None,
    device: str | None = None,
    shard: Shard | None = None,
    encode_backend: str = "reference",
) -> dict[str, Any]:
    """Generate (or import), check and guard synthetic negatives; write ``out``, stats and failures.

    The guard scores with ``teacher.model``, else the packaged MiniLM; ``teacher`` also sets its
    false-negative rule (``perc``) and whether those are relabelled.

    A ``backend`` passed in is closed at the end (its connections belong to this call's event loop).
    Failed calls are in ``stats["failures"]``; :func:`failure_report` turns them into the run's verdict.
    The guard's teacher runs on ``device`` (None = auto) and encodes through ``encode_backend``. A ``shard`` does its block of the planned calls.
    """
    started = time.perf_counter()
    config = with_planned_calls(config, out)
    items, model_id = plan(dataset, config, mined, seed)
    items, block = shard_items(items, shard, model_id)
    with answered(items, config, out, model_id, backend=backend, retry_failed=retry_failed,
                  import_from=import_from, progress=progress) as (cache, counters, imported):
        outcome = collect(items, cache, model_id, counters.transient, run_vocabulary(dataset, items))
    if config.guard and outcome.negatives:
        apply_guard(outcome, items, make_guard(config, teacher, device, progress, encode_backend))
        if config.select is not None:
            select_hardest(outcome, items, config.select)
    write_jsonl(out, outcome.negatives)
    paths = side_paths(out)
    write_jsonl(paths["failed"], outcome.rejected)
    elapsed = time.perf_counter() - started
    stats = _stats(items, counters, outcome, config, model_id, elapsed, imported)
    stats["quality"] = quality(outcome, items, elapsed)
    stats["guard"]["device"] = resolve_device(device) if config.guard else None
    stats["guard"]["model"] = teacher_name((teacher or TeacherConfig()).model) if config.guard else None
    if block is not None:
        stats[SHARD_KEY] = block
    layout.write_stats(out, stats)
    return stats


def make_guard(config: SynthesizeConfig, teacher: TeacherConfig | None, device: str | None = None,
               show_progress: bool = True, backend: str = "reference") -> HardnessGuard:
    """The hardness guard of ``config``: ``teacher`` (its model, else the packaged MiniLM) on ``device``."""
    from syneg.teacher.load import load_teacher

    teacher = teacher or TeacherConfig()
    band = Band(config.guard_margin, config.guard_floor, teacher.perc if teacher.model else 1.0)
    return HardnessGuard(load_teacher(teacher, device=device, show_progress=show_progress, backend=backend), band,
                         relabel=teacher.false_negatives == "relabel")


def with_planned_calls(config: SynthesizeConfig, out: str | Path) -> SynthesizeConfig:
    """``config`` with ``per_query`` planned from ``target_kept`` and the keep rate (see
    :func:`syneg.synthesis.planning.calls_per_pair`); the measured rate is read from ``out``'s stats."""
    if config.target_kept is None:
        return config
    measured = measured_pass_rate(out) if config.keep_rate is None else None
    return config.model_copy(update={"per_query": calls_per_pair(config, measured)})


def measured_pass_rate(out: str | Path) -> float | None:
    """The pass rate in ``out``'s stats; None when there is none, or (with a warning naming the file) when it
    is not a number from 0 to 1: a hand-edited or foreign file is no measurement."""
    rate = (layout.read_stats(out) or {}).get("pass_rate")
    if rate is None:
        return None
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate <= 1:  # NaN fails the range
        return float(rate)
    progress.note(f"warning: {layout.stats_path(out)}: pass_rate {str(rate)[:40]!r} is not a number from 0 to 1; "
                  "planning as if no rate was measured")
    return None


async def run_calls(items: Sequence[TaskItem], config: SynthesizeConfig, cache: ResultCache,
                    backend: ChatBackend | None, retry_failed: bool, progress: bool,
                    record_rate: bool = True) -> RunCounters:
    """Resolve ``items`` (any task) from ``cache`` or a backend built from ``config`` (unless ``backend`` is given:
    closed at the end either way); ``record_rate``: note the calls per second for ``--dry-run`` estimates."""
    owned = backend is None and bool(pending(items, cache, retry_failed))
    if owned:
        backend = engine_backend(config)
    try:
        concurrency = config.concurrency or (backend.default_concurrency if backend is not None else 1)
        started = time.perf_counter()
        counters = await run_items(items, backend, cache, concurrency, retry_failed, progress,
                                   config.deadline)
        if record_rate and backend is not None and not counters.failed:
            rates.record(rates.rate_key(config, backend.model_id), counters.calls, time.perf_counter() - started)
        counters.backend = backend.stats() if backend is not None else {}
        return counters
    finally:
        if backend is not None:  # its connections belong to this event loop
            await backend.aclose()


def _stats(items, counters: RunCounters, outcome: Outcome, config, model_id, elapsed, imported) -> dict[str, Any]:
    total = len(items)
    kept = sum(1 for n in outcome.negatives if n.label == "negative")
    pairs = len({(i.pair.query_id, i.pair.positive_id) for i in items})
    return {
        "model": model_id, "prompt_version": PROMPT_VERSION, "mode": config.mode, "items": total,
        "kept": kept, "pass_rate": round(kept / total, 4) if total else 0.0,
        "pairs": pairs, "per_query": config.per_query, "select": config.select,
        "kept_per_pair": round(kept / pairs, 4) if pairs else 0.0, "relabelled": outcome.relabelled,
        "fail_rate": round(sum(outcome.drops["call"].values()) / total, 4) if total else 0.0,
        "run": {"cached": counters.cached, "succeeded": counters.succeeded, "failed": counters.failed,
                "skipped_failed": counters.skipped_failed, "calls": counters.calls, "requests": counters.requests,
                "reasks": counters.reasks, "widened": counters.widened, "tokens": dict(counters.tokens),
                "failures": dict(counters.failures), "modes": dict(counters.modes), "backend": counters.backend},
        "failures": summarize(outcome.rejected, total, redact_url(config.base_url)),
        "tokens": dict(outcome.tokens), "missing": outcome.missing,
        "drops": {stage: dict(c) for stage, c in outcome.drops.items()},
        "parse_stages": dict(outcome.parse_stages),
        "guard": {"enabled": config.guard, "margin": config.guard_margin, "floor": config.guard_floor},
        "imported": imported, "elapsed_s": round(elapsed, 3),
        "negatives_per_s": round(kept / elapsed, 4) if elapsed else 0.0,
    }


def failure_report(stats: dict[str, Any], out: str | Path,
                   command: str = "synthesize") -> tuple[list[str], RunFailed | None]:
    """Lines to print about failed items, and the error to exit with when the run failed (``command`` names
    the command in them)."""
    failed_path = side_paths(out)["failed"]
    lines, failed = report_lines(stats["failures"], failed_path, command), verdict(stats["failures"], failed_path, command)
    if stats["imported"] is not None and stats["missing"]:  # a batch import without some of its results
        lines.append(f"{command}: {stats['missing']} of {stats['items']} planned calls have no result in the "
                     "imported files: import their result files too (or rerun without --import-batch to call them)")
        failed = RunFailed("\n".join(lines))
    return lines, failed


def estimate(items: Sequence[SynthesisItem], cache: ResultCache, config: SynthesizeConfig, model_id: str,
             retry_failed: bool = False) -> dict:
    """What a run would need: calls to make, a rough count of tokens, and the wall time at the rate last
    measured on this machine with the same model and settings (None when none was measured yet)."""
    done = cache.keys()
    todo = pending(items, cache, retry_failed)
    prompt_chars = sum(len(m["content"]) for i in todo for m in i.messages)
    rate = rates.lookup(rates.rate_key(config, model_id))
    return {"items": len(items), "cached": sum(i.key in done for i in items), "calls": len(todo),
            "prompt_tokens_est": prompt_chars // 4, "completion_tokens_max": len(todo) * config.max_tokens,
            "measured_calls_per_s": rate, "wall_s_est": round(len(todo) / rate, 1) if rate else None}
