"""OpenAI batch JSONL: export planned requests (split at the API's limits), import results into the
same cache as live calls."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from syneg.errors import DataError, SynegError
from syneg.io import atomic_open, iter_jsonl
from syneg.redact import redact
from syneg.synthesis.backends.wire import request_fields
from syneg.synthesis.cache import CachedResult, ResultCache
from syneg.synthesis.parse import parse_output
from syneg.synthesis.planning import SynthesisItem
from syneg.synthesis.prompt import OUTPUT_SCHEMA

BATCH_URL = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 200 * 1024 * 1024


def request_line(item: SynthesisItem, model: str, mode: str = "json_schema", server: str = "openai") -> dict:
    """One batch request with ``server``'s field names (see ``backends.wire``); ``custom_id`` is the item's cache key."""
    fields, extra = request_fields(server, item.sampling, mode, OUTPUT_SCHEMA)
    body = {"model": model, "messages": item.messages, **fields, **extra}
    return {"custom_id": item.key, "method": "POST", "url": BATCH_URL, "body": body}


def part_path(path: Path, number: int) -> Path:
    """Part ``number`` of a split export: ``requests.jsonl`` -> ``requests.2.jsonl``."""
    return path.with_name(f"{path.stem}.{number}{path.suffix}")


def _parts(lines: Iterable[bytes], max_requests: int, max_bytes: int) -> Iterator[list[bytes]]:
    part: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > max_bytes:
            raise SynegError(f"one batch request is {len(line):,} bytes, over the {max_bytes:,}-byte file limit")
        if part and (len(part) >= max_requests or size + len(line) > max_bytes):
            yield part
            part, size = [], 0
        part.append(line)
        size += len(line)
    yield part


def export_batch(
    items: Sequence[SynthesisItem], cache: ResultCache, path: str | Path, model: str, mode: str = "json_schema",
    server: str = "openai", max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES,
) -> dict[Path, int]:
    """Write the requests not yet answered (atomically), ``path`` itself or, over ``max_requests`` requests
    or ``max_bytes`` bytes, parts ``path.1``, ``path.2``, ... (see :func:`part_path`); returns file -> requests."""
    path, done = Path(path), cache.keys()
    lines = ((json.dumps(request_line(i, model, mode, server), ensure_ascii=False) + "\n").encode("utf-8")
             for i in items if i.key not in done)
    written: dict[Path, int] = {}
    for number, part in enumerate(_parts(lines, max_requests, max_bytes), start=1):
        with atomic_open(part_path(path, number), "wb") as handle:
            handle.writelines(part)
        written[part_path(path, number)] = len(part)
    if len(written) == 1:
        os.replace(part_path(path, 1), path)
        written = {path: written.pop(part_path(path, 1))}
    return written


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


def import_batch(items: Sequence[SynthesisItem], cache: ResultCache, paths: str | Path | Sequence[str | Path],
                 transient: dict[str, tuple[str, str]], model_id: str = "") -> Counter:
    """Read batch output and error files into the cache: parsed replies as results, bad replies as (sticky) failures.

    A line the batch API itself failed (an error, a non-200 status) is a transient failure: it goes
    into ``transient`` (item key -> (reason, detail)), not the cache, so a later import or run retries it.
    Results of which none answers a planned call (another backend, model, prompt or settings than the
    export's) are a :class:`SynegError`, not an empty import.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    keys = {item.key for item in items}
    counts: Counter[str] = Counter()
    for path in paths:
        _import_file(Path(path), keys, cache, transient, counts)
    if counts["unknown_custom_id"] and not counts["imported"] + counts["failed"]:
        raise SynegError(f"none of the {counts['unknown_custom_id']} results in {', '.join(map(str, paths))} answers "
                         f"a call of this run ({model_id or 'its backend and model'}): import with the --backend, "
                         "--model and settings the batch was exported with")
    return counts


def _import_file(path: Path, keys: set[str], cache: ResultCache, transient: dict[str, tuple[str, str]],
                 counts: Counter) -> None:
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
