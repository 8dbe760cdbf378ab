"""Run planned items through a backend: bounded concurrency, re-ask/widen chain, commit as they arrive.

A content failure (unparseable after the re-ask, truncated even with more room, unfinished: a
content filter or an abort, a 400 for the request) is cached and stays failed until ``retry_failed``; a transient one (connection, timeout,
rate limit, server error, deadline) is only reported, so a plain rerun retries it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from syneg.errors import SynegError
from syneg.progress import bar as progress_bar
from syneg.redact import redact
from syneg.synthesis.backends.base import BackendError, ChatBackend, Sampling
from syneg.synthesis.cache import CachedResult, ResultCache
from syneg.synthesis.finish import TRUNCATED, UNFINISHED, finish_problem
from syneg.synthesis.task import Task, TaskItem


@dataclass
class RunCounters:
    """What one run did: items resolved from the cache, requested, failed; calls and tokens spent."""

    cached: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped_failed: int = 0
    calls: int = 0
    requests: int = 0
    reasks: int = 0
    widened: int = 0
    tokens: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)  # structured-output mode of each answered call
    transient: dict[str, tuple[str, str]] = field(default_factory=dict)  # item key -> (reason, detail)
    backend: dict = field(default_factory=dict)


class ItemFailed(Exception):
    """An item that got no usable reply: ``reason`` is a short code, ``detail`` the whole story."""

    def __init__(self, reason: str, detail: str, raw: str | None, transient: bool = False) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.raw, self.transient = reason, detail, raw, transient


async def _ask(backend: ChatBackend, messages, sampling: Sampling, task: Task):
    try:
        return await backend.complete(messages, sampling, task.schema)
    except BackendError as exc:
        raise ItemFailed(exc.reason, str(exc), None, exc.transient) from None
    except SynegError:  # the setup is wrong (a redirecting base URL, say): the whole run stops, exit 2
        raise
    except Exception as exc:  # noqa: BLE001 - one broken call must not end the other items
        raise ItemFailed("backend_error", f"{type(exc).__name__}: {exc}", None, transient=True) from None


async def call_chain(item: TaskItem, backend: ChatBackend, counters: RunCounters) -> CachedResult:
    """Ask until a reply parses: widen ``max_tokens`` once on truncation, re-ask once on bad output."""
    messages, sampling, task = item.messages, item.sampling, item.task
    usage: Counter[str] = Counter()
    calls, reasked, widened = 0, False, False
    while True:
        reply = await _ask(backend, messages, sampling, task)
        calls += 1
        counters.calls += 1
        counters.requests += reply.requests
        counters.modes[reply.mode or "grammar"] += 1
        usage.update(reply.usage)
        counters.tokens.update(reply.usage)
        parsed = task.parse(reply.text)
        problem = finish_problem(reply.finish_reason)
        if problem == UNFINISHED:  # a filter or an abort: more room or a re-ask would not finish it
            raise ItemFailed(UNFINISHED, f"unfinished: finish_reason={reply.finish_reason}", reply.text)
        if problem == TRUNCATED or parsed.truncated:
            if widened or not task.widen:
                cause = f"finish_reason={reply.finish_reason}" if problem else "JSON cut off"
                room = "even with doubled max_tokens" if widened else f"at max_tokens={sampling.max_tokens}"
                raise ItemFailed("truncated", f"truncated: {cause}, {room}", reply.text)
            sampling, widened = _widen(sampling), True
            counters.widened += 1
            continue
        if parsed.value is not None:
            key = task.key(backend.model_id, messages, sampling)
            return CachedResult(item.key, key, reply.text or "", reply.finish_reason, dict(usage), reply.latency, calls,
                                reply.mode)
        if reasked:
            raise ItemFailed("unparseable", f"unparseable after re-ask: {parsed.error}", reply.text)
        messages, reasked = task.reask_messages(messages, reply.text or "", parsed.error or "invalid"), True
        counters.reasks += 1


def _widen(sampling: Sampling) -> Sampling:
    return replace(sampling, max_tokens=sampling.max_tokens * 2)


def pending(items: Sequence[TaskItem], cache: ResultCache, retry_failed: bool = False) -> list[TaskItem]:
    """The items that need a call: not cached, and not failed before (unless ``retry_failed``)."""
    done = cache.keys()
    return [i for i in items if i.key not in done and (retry_failed or cache.failure(i.key) is None)]


async def run_items(
    items: Sequence[TaskItem],
    backend: ChatBackend | None,
    cache: ResultCache,
    concurrency: int = 4,
    retry_failed: bool = False,
    progress: bool = True,
    deadline: float | None = None,
) -> RunCounters:
    """Resolve every item from the cache or the backend; each success is committed when it arrives.

    ``deadline`` (seconds) bounds the whole run: calls still pending then fail as ``deadline``.
    """
    counters = RunCounters()
    todo = pending(items, cache, retry_failed)
    counters.cached = len(cache.keys() & {item.key for item in items})
    counters.skipped_failed = len(items) - len(todo) - counters.cached
    if todo and backend is None:
        raise ValueError("items need calls but no backend was given")
    bar = progress_bar(total=len(items), initial=counters.cached + counters.skipped_failed, show=progress,
                       desc=items[0].task.name if items else "synthesize", unit="call")
    semaphore = asyncio.Semaphore(max(1, concurrency))
    ends = None if deadline is None else time.monotonic() + deadline

    async def one(item: TaskItem) -> None:
        async with semaphore:
            try:
                cache.put(await _bounded(call_chain(item, backend, counters), ends, deadline))
                counters.succeeded += 1
            except ItemFailed as exc:
                _record_failure(item, exc, cache, counters)
        bar.update(1)
        bar.set_postfix(done=counters.succeeded, cached=counters.cached,
                        failed=counters.failed + counters.skipped_failed, refresh=False)

    tasks = [asyncio.ensure_future(one(item)) for item in todo]
    try:
        await asyncio.gather(*tasks)
    finally:  # a SynegError from one call ends the others before the backend is closed
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
    return counters


async def _bounded(chain, ends: float | None, deadline: float | None) -> CachedResult:
    """Await ``chain`` until the run's deadline; past it, fail the item as ``deadline``."""
    if ends is None:
        return await chain
    try:
        return await asyncio.wait_for(chain, max(0.0, ends - time.monotonic()))
    except asyncio.TimeoutError:
        raise ItemFailed("deadline", f"deadline: not answered within the run's {deadline:g} s", None,
                         transient=True) from None


def _record_failure(item: TaskItem, exc: ItemFailed, cache: ResultCache, counters: RunCounters) -> None:
    """Cache a content failure (sticky until retried); only report a transient one."""
    detail = redact(exc.detail) or exc.reason
    counters.failed += 1
    counters.failures[exc.reason] += 1
    if exc.transient:
        counters.transient[item.key] = (exc.reason, detail)
    else:
        cache.put_failure(item.key, f"{exc.reason}: {detail}", exc.raw)
