"""Run planned items through a backend: bounded concurrency, re-ask/widen chain, commit as they arrive."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tqdm.auto import tqdm

from syneg.synthesis.backends.base import BackendError, ChatBackend, Sampling
from syneg.synthesis.cache import CachedResult, ResultCache, call_key
from syneg.synthesis.parse import parse_output
from syneg.synthesis.plan import SynthesisItem
from syneg.synthesis.prompt import OUTPUT_SCHEMA, PROMPT_VERSION, reask_messages, schema_text


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
    backend: dict = field(default_factory=dict)


class ItemFailed(Exception):
    def __init__(self, reason: str, raw: str | None) -> None:
        super().__init__(reason)
        self.reason, self.raw = reason, raw


async def call_chain(item: SynthesisItem, backend: ChatBackend, counters: RunCounters) -> CachedResult:
    """Ask until a reply parses: widen ``max_tokens`` once on truncation, re-ask once on bad output."""
    messages, sampling = item.messages, item.sampling
    usage: Counter[str] = Counter()
    calls, reasked, widened = 0, False, False
    while True:
        try:
            reply = await backend.complete(messages, sampling, OUTPUT_SCHEMA)
        except BackendError as exc:
            raise ItemFailed(f"backend: {exc}", None) from None
        calls += 1
        counters.calls += 1
        counters.requests += reply.requests
        usage.update(reply.usage)
        counters.tokens.update(reply.usage)
        if reply.finish_reason == "length":
            if widened:
                raise ItemFailed("truncated (finish_reason=length, even with doubled max_tokens)", reply.text)
            sampling, widened = _widen(sampling), True
            counters.widened += 1
            continue
        parsed = parse_output(reply.text)
        if parsed.value is not None:
            key = call_key(backend.model_id, messages, sampling.as_dict(), schema_text(), PROMPT_VERSION)
            return CachedResult(item.key, key, reply.text or "", reply.finish_reason, dict(usage), reply.latency, calls)
        if reasked:
            raise ItemFailed(f"unparseable after re-ask: {parsed.error}", reply.text)
        messages, reasked = reask_messages(messages, reply.text or "", parsed.error or "invalid"), True
        counters.reasks += 1


def _widen(sampling: Sampling) -> Sampling:
    return replace(sampling, max_tokens=sampling.max_tokens * 2)


async def run_items(
    items: Sequence[SynthesisItem],
    backend: ChatBackend | None,
    cache: ResultCache,
    concurrency: int = 4,
    retry_failed: bool = False,
    progress: bool = True,
) -> RunCounters:
    """Resolve every item from the cache or the backend; each success is committed when it arrives."""
    counters = RunCounters()
    done = cache.keys()
    todo = []
    for item in items:
        if item.key in done:
            counters.cached += 1
        elif not retry_failed and cache.failure(item.key) is not None:
            counters.skipped_failed += 1
        else:
            todo.append(item)
    if todo and backend is None:
        raise ValueError("items need calls but no backend was given")
    bar = tqdm(total=len(items), initial=counters.cached + counters.skipped_failed, disable=not progress,
               desc="synthesize", unit="call")
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(item: SynthesisItem) -> None:
        async with semaphore:
            try:
                cache.put(await call_chain(item, backend, counters))
                counters.succeeded += 1
            except ItemFailed as exc:
                cache.put_failure(item.key, exc.reason, exc.raw)
                counters.failed += 1
                counters.failures[exc.reason.split(":")[0]] += 1
        bar.update(1)
        bar.set_postfix(done=counters.succeeded, cached=counters.cached,
                        failed=counters.failed + counters.skipped_failed, refresh=False)

    try:
        await asyncio.gather(*(one(item) for item in todo))
    finally:
        bar.close()
    return counters
