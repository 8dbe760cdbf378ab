"""OpenAI batch JSONL: export planned requests (split at the API's limits), import results into the
same cache as live calls."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from syneg.errors import DataError, SynegError
from syneg.io import atomic_open, iter_jsonl
from syneg.redact import redact
from syneg.synthesis.backends.wire import request_fields
from syneg.synthesis.cache import CachedResult, ResultCache
from syneg.synthesis.finish import finish_problem
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


@dataclass(frozen=True)
class _Reply:
    """One answered result line: the reply and where it was read."""

    text: str | None
    finish: str | None
    usage: dict[str, int]
    where: str


def _field(value: object, kind: type, name: str, path: Path, number: int):
    """``value`` when it is None or a ``kind``; else a DataError naming the field."""
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise DataError(path, f"{name} is not a {kind.__name__}", number)
    return value


def _reply(obj: dict, path: Path, number: int) -> _Reply | str:
    """The reply of one result line (OpenAI / vLLM batch output), or the batch API's error for it."""
    response = _field(obj.get("response"), dict, "response", path, number) or {}
    if obj.get("error") or response.get("status_code", 200) != 200:
        return f"batch_error: {obj.get('error') or response.get('status_code')}"
    body = _field(response.get("body"), dict, "response.body", path, number) or {}
    choices = _field(body.get("choices"), list, "response.body.choices", path, number)
    if not choices or not isinstance(choices[0], dict):
        raise DataError(path, "result line has no response.body.choices", number)
    message = _field(choices[0].get("message"), dict, "choices[0].message", path, number) or {}
    usage = _field(body.get("usage"), dict, "response.body.usage", path, number) or {}
    counts = {k: _field(usage.get(k), int, f"usage.{k}", path, number) or 0
              for k in ("prompt_tokens", "completion_tokens")}
    return _Reply(_field(message.get("content"), str, "message.content", path, number),
                  _field(choices[0].get("finish_reason"), str, "finish_reason", path, number), counts,
                  f"{path}:{number}")


def import_batch(items: Sequence[SynthesisItem], cache: ResultCache, paths: str | Path | Sequence[str | Path],
                 transient: dict[str, tuple[str, str]], model_id: str = "") -> Counter:
    """Read batch output and error files into the cache, all or nothing: every line of every file is read
    and checked first (a bad line, or a ``custom_id`` answered twice with different replies, is a
    DataError naming file and line, and nothing is imported); then parsed replies are committed as
    results and bad replies as (sticky) failures in one transaction.

    A line the batch API itself failed (an error, a non-200 status) is a transient failure unless another
    line answers the item: it goes into ``transient`` (item key -> (reason, detail)), not the cache, so a
    later import or run retries it. Results of which none answers a planned call (another backend, model,
    prompt or settings than the export's) are a :class:`SynegError`, not an empty import.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    keys = {item.key for item in items}
    replies: dict[str, _Reply] = {}
    errors: dict[str, str] = {}
    unknown = 0
    for path in paths:
        for number, obj in iter_jsonl(path):
            key = obj.get("custom_id")
            if not isinstance(key, str):
                raise DataError(path, "missing custom_id", number)
            if key not in keys:
                unknown += 1
                continue
            reply = _reply(obj, path, number)
            if isinstance(reply, str):
                errors.setdefault(key, reply)
                continue
            first = replies.setdefault(key, reply)
            if (first.text, first.finish) != (reply.text, reply.finish):
                raise DataError(path, f"custom_id {key} is answered again with a different reply "
                                      f"(first at {first.where}); keep one of the two", number)
    if unknown and not replies and not errors:
        raise SynegError(f"none of the {unknown} results in {', '.join(map(str, paths))} answers "
                         f"a call of this run ({model_id or 'its backend and model'}): import with the --backend, "
                         "--model and settings the batch was exported with")
    counts = _commit(cache, replies)
    for key, error in errors.items():
        if key not in replies:
            transient[key] = ("batch_error", redact(error) or "batch_error")
            counts["failed"] += 1
    if unknown:
        counts["unknown_custom_id"] = unknown
    return counts


def _commit(cache: ResultCache, replies: dict[str, _Reply]) -> Counter:
    """Store the replies in one transaction: parsed ones as results, the others as failures."""
    counts: Counter[str] = Counter()
    results, failures = [], []
    for key, reply in replies.items():
        problem = finish_problem(reply.finish)
        error = f"{problem}: finish_reason={reply.finish}" if problem else None
        if error is None:
            parsed = parse_output(reply.text)
            if parsed.value is None:
                error = f"{'truncated' if parsed.truncated else 'unparseable'}: {parsed.error}"
        if error is None:
            results.append(CachedResult(key, key, reply.text or "", reply.finish, reply.usage, None, 1))
        else:
            failures.append((key, error, reply.text))
    cache.put_all(results, failures)
    counts["imported"], counts["failed"] = len(results), len(failures)
    return counts
