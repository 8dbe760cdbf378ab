"""OpenAI batch JSONL: export planned requests (split at the API's limits), import results into the
same cache as live calls."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from syneg.errors import DataError, SynegError
from syneg.io import iter_jsonl, remove_stale_temps
from syneg.limits import MAX_TOKEN_COUNT
from syneg.redact import redact
from syneg.synthesis.backends.wire import request_fields
from syneg.synthesis.cache import CachedResult, ResultCache, stored
from syneg.synthesis.finish import finish_problem
from syneg.synthesis.task import Task, TaskItem

BATCH_URL = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 200 * 1024 * 1024


def request_line(item: TaskItem, model: str, mode: str = "json_schema", server: str = "openai") -> dict:
    """One batch request with ``server``'s field names (see ``backends.wire``); ``custom_id`` is the item's cache key."""
    fields, extra = request_fields(server, item.sampling, mode, item.task.schema)
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
    items: Sequence[TaskItem], cache: ResultCache, path: str | Path, model: str, mode: str = "json_schema",
    server: str = "openai", max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES,
) -> dict[Path, int]:
    """Write the requests not yet answered: ``path`` itself or, over ``max_requests`` requests or
    ``max_bytes`` bytes, parts ``path.1``, ``path.2``, ... (see :func:`part_path`); returns file -> requests.

    Every file is written in full beside ``path`` first; then the files of an earlier export to ``path``
    (``path`` and its parts) are removed and the new ones renamed into place, so a crash leaves the old
    export, the new one, or part of one of them, never old and new parts mixed.
    """
    path, done = Path(path), cache.keys()
    if path.is_dir():
        raise DataError(path, "is a directory; expected a file path")
    lines = ((json.dumps(request_line(i, model, mode, server), ensure_ascii=False) + "\n").encode("utf-8")
             for i in items if i.key not in done)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
    try:
        parts = list(_parts(lines, max_requests, max_bytes))
        names = [path] if len(parts) == 1 else [part_path(path, n) for n in range(1, len(parts) + 1)]
        for name, part in zip(names, parts):
            with (staging / name.name).open("wb") as handle:
                handle.writelines(part)
                os.fsync(handle.fileno())
        for old in _export_files(path):
            old.unlink()
        for name in names:
            os.replace(staging / name.name, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: len(part) for name, part in zip(names, parts)}


def _export_files(path: Path) -> list[Path]:
    """The files of an export to ``path``: ``path`` and its parts ``stem.N.suffix`` (see :func:`part_path`)."""
    pattern = f"{glob.escape(path.stem)}.*{glob.escape(path.suffix)}"
    parts = [p for p in path.parent.glob(pattern) if p.name[len(path.stem) + 1:len(p.name) - len(path.suffix)].isdigit()]
    return [p for p in (path, *parts) if p.is_symlink() or (p.exists() and not p.is_dir())]


@dataclass(frozen=True)
class _Reply:
    """One answered result line: the reply and where it was read."""

    text: str | None
    finish: str | None
    usage: dict[str, int]
    path: Path
    number: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _field(value: object, kind: type, name: str, path: Path, number: int):
    """``value`` when it is None or a ``kind``; else a DataError naming the field."""
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise DataError(path, f"{name} is not {_KINDS.get(kind, kind.__name__)}", number)
    return value


def _count(value: object, name: str, path: Path, number: int) -> int:
    """A token count (0 when absent); a DataError unless it is an integer from 0 to ``MAX_TOKEN_COUNT``."""
    value = _field(value, int, name, path, number) or 0
    if not 0 <= value <= MAX_TOKEN_COUNT:
        raise DataError(path, f"{name} must be from 0 to {MAX_TOKEN_COUNT}, got {value}", number)
    return value


def _reply(obj: dict, path: Path, number: int) -> _Reply | str:
    """The reply of one result line (OpenAI / vLLM batch output), or the batch API's error for it."""
    response = _field(obj.get("response"), dict, "response", path, number) or {}
    status = _field(response.get("status_code"), int, "response.status_code", path, number)
    if obj.get("error") or status not in (None, 200):
        return f"batch_error: {obj.get('error') or status}"
    body = _field(response.get("body"), dict, "response.body", path, number) or {}
    choices = _field(body.get("choices"), list, "response.body.choices", path, number)
    if not choices or not isinstance(choices[0], dict):
        raise DataError(path, "result line has no response.body.choices", number)
    message = _field(choices[0].get("message"), dict, "choices[0].message", path, number) or {}
    usage = _field(body.get("usage"), dict, "response.body.usage", path, number) or {}
    counts = {k: _count(usage.get(k), f"usage.{k}", path, number) for k in ("prompt_tokens", "completion_tokens")}
    return _Reply(_field(message.get("content"), str, "message.content", path, number),
                  _field(choices[0].get("finish_reason"), str, "finish_reason", path, number), counts,
                  path, number)


def import_batch(items: Sequence[TaskItem], cache: ResultCache, paths: str | Path | Sequence[str | Path],
                 transient: dict[str, tuple[str, str]], model_id: str = "", max_tokens: int | None = None) -> Counter:
    """Read batch output and error files into the cache, all or nothing: every line of every file is read
    and checked first, whatever its ``custom_id`` (a bad line, one longer than a live reply to a call of
    ``max_tokens`` may be (see ``backends.reply.reply_cap``; None: the largest), or a
    ``custom_id`` answered twice with different replies, here or by an earlier import or call in the
    cache, is a DataError naming file and line, and nothing is imported); then parsed replies are
    committed as results and bad replies as (sticky) failures in one transaction.

    A line the batch API itself failed (an error, a non-200 status) is a transient failure unless another
    line answers the item: it goes into ``transient`` (item key -> (reason, detail)), not the cache, so a
    later import or run retries it. Results of which none answers a planned call (another backend, model,
    prompt or settings than the export's) are a :class:`SynegError`, not an empty import.
    """
    from syneg.synthesis.backends.reply import MAX_REPLY_BYTES, reply_cap  # lazily: it imports openai

    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    keys, max_line = {item.key for item in items}, MAX_REPLY_BYTES if max_tokens is None else reply_cap(max_tokens)
    replies: dict[str, _Reply] = {}
    errors: dict[str, str] = {}
    unknown = 0
    for path in paths:
        for number, obj in iter_jsonl(path, max_line):
            key = obj.get("custom_id")
            if not isinstance(key, str) or not key:
                raise DataError(path, "missing custom_id", number)
            reply = _reply(obj, path, number)  # checked whether or not the call is planned
            if key not in keys:
                unknown += 1
            elif isinstance(reply, str):
                errors.setdefault(key, reply)
            else:
                first = replies.setdefault(key, reply)
                if (first.text, first.finish) != (reply.text, reply.finish):
                    raise DataError(path, f"custom_id {key} is answered again with a different reply "
                                          f"(first at {first.where}); keep one of the two", number)
    if unknown and not replies and not errors:
        raise SynegError(f"none of the {unknown} results in {', '.join(map(str, paths))} answers "
                         f"a call of this run ({model_id or 'its backend and model'}): import with the --backend, "
                         "--model and settings the batch was exported with")
    _check_cached(cache, replies)
    counts = _commit(cache, replies, {item.key: item.task for item in items})
    for key, error in errors.items():
        if key not in replies:
            transient[key] = ("batch_error", redact(error) or "batch_error")
            counts["failed"] += 1
    if unknown:
        counts["unknown_custom_id"] = unknown
    return counts


def _check_cached(cache: ResultCache, replies: dict[str, _Reply]) -> None:
    """A DataError when a reply differs from the one the cache already holds for its item (an earlier
    import or call); the same reply again is fine. (Failed items may be answered anew: they are retries.)"""
    for key, reply in replies.items():
        cached = cache.get(key)
        if cached is not None and (cached.text, cached.finish) != (stored(reply.text or ""), stored(reply.finish)):
            raise DataError(reply.path, f"custom_id {key} already has a different reply in the cache "
                                        f"{cache.path} (from an earlier import or call); import each result "
                                        "once, or use another --cache", reply.number)


def _commit(cache: ResultCache, replies: dict[str, _Reply], tasks: dict[str, Task]) -> Counter:
    """Store the replies in one transaction: parsed ones as results, the others as failures."""
    counts: Counter[str] = Counter()
    results, failures = [], []
    for key, reply in replies.items():
        problem = finish_problem(reply.finish)
        error = f"{problem}: finish_reason={reply.finish}" if problem else None
        if error is None:
            parsed = tasks[key].parse(reply.text)
            if parsed.value is None:
                error = f"{'truncated' if parsed.truncated else 'unparseable'}: {parsed.error}"
        if error is None:
            results.append(CachedResult(key, key, reply.text or "", reply.finish, reply.usage, None, 1))
        else:
            failures.append((key, error, reply.text))
    cache.put_all(results, failures)
    counts["imported"], counts["failed"] = len(results), len(failures)
    return counts
