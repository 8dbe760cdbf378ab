"""OpenAI batch JSONL: export planned requests, import results into the same cache as live calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from syneg.errors import DataError
from syneg.io import iter_jsonl, write_jsonl
from syneg.redact import redact
from syneg.synthesis.backends.openai_backend import response_format
from syneg.synthesis.cache import CachedResult, ResultCache
from syneg.synthesis.parse import parse_output
from syneg.synthesis.planning import SynthesisItem
from syneg.synthesis.prompt import OUTPUT_SCHEMA

BATCH_URL = "/v1/chat/completions"


def request_line(item: SynthesisItem, model: str, mode: str = "json_schema") -> dict:
    """One batch request; ``custom_id`` is the item's cache key."""
    body = {"model": model, "messages": item.messages, **item.sampling.as_dict()}
    body.pop("repeat_penalty", None)  # not an OpenAI batch field
    fmt = response_format(mode, OUTPUT_SCHEMA)
    if fmt is not None:
        body["response_format"] = fmt
    return {"custom_id": item.key, "method": "POST", "url": BATCH_URL, "body": body}


def export_batch(
    items: Sequence[SynthesisItem], cache: ResultCache, path: str | Path, model: str, mode: str = "json_schema"
) -> int:
    """Write the requests not yet answered (atomically); returns how many."""
    done = cache.keys()
    return write_jsonl(path, (request_line(i, model, mode) for i in items if i.key not in done))


def _reply(obj: dict, path: Path, number: int) -> tuple[str | None, str | None, dict[str, int], str | None]:
    """(content, finish_reason, usage, error) of one result line (OpenAI / vLLM batch output)."""
    response = obj.get("response") or {}
    if obj.get("error") or response.get("status_code", 200) != 200:
        return None, None, {}, f"batch_error: {obj.get('error') or response.get('status_code')}"
    body = response.get("body")
    if not isinstance(body, dict) or not body.get("choices"):
        raise DataError(path, "result line has no response.body.choices", number)
    choice = body["choices"][0]
    usage = body.get("usage") or {}
    counts = {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")}
    return (choice.get("message") or {}).get("content"), choice.get("finish_reason"), counts, None


def import_batch(items: Sequence[SynthesisItem], cache: ResultCache, path: str | Path,
                 transient: dict[str, tuple[str, str]]) -> Counter:
    """Read batch results into the cache: parsed replies as results, bad replies as (sticky) failures.

    A line the batch API itself failed (an error, a non-200 status) is a transient failure: it goes
    into ``transient`` (item key -> (reason, detail)), not the cache, so a later import or run retries it.
    """
    path = Path(path)
    keys = {item.key for item in items}
    counts: Counter[str] = Counter()
    for number, obj in iter_jsonl(path):
        key = obj.get("custom_id")
        if not isinstance(key, str):
            raise DataError(path, "missing custom_id", number)
        if key not in keys:
            counts["unknown_custom_id"] += 1
            continue
        text, finish, usage, error = _reply(obj, path, number)
        if error is not None:
            transient[key] = ("batch_error", redact(error) or "batch_error")
            counts["failed"] += 1
            continue
        if finish == "length":
            error = "truncated: finish_reason=length"
        if error is None:
            parsed = parse_output(text)
            if parsed.value is None:
                error = f"{'truncated' if parsed.truncated else 'unparseable'}: {parsed.error}"
        if error is None:
            cache.put(CachedResult(key, key, text or "", finish, usage, None, 1))
            counts["imported"] += 1
        else:
            cache.put_failure(key, redact(error), redact(text))
            counts["failed"] += 1
    return counts
