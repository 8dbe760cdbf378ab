"""Call keys and a crash-safe result cache (sqlite, WAL): every success is committed as it arrives.

One process at a time uses a cache: it holds an exclusive ``flock`` on ``<cache>.lock`` (which names it)
until ``close()``; the kernel drops the lock when the process dies, so a killed run leaves none behind.
A file that is not a syneg cache (another application's database, not sqlite at all) is refused unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syneg.errors import DataError, SynegError
from syneg.layout import LOCK_SUFFIX, side_file
from syneg.locking import acquire
from syneg.redact import redact

APPLICATION_ID = 0x53594E47  # "SYNG" in the database header: marks a file as a syneg cache
_SCHEMA = f"""
PRAGMA application_id = {APPLICATION_ID};
CREATE TABLE IF NOT EXISTS results (
    item_key TEXT PRIMARY KEY, call_key TEXT NOT NULL, text TEXT NOT NULL, finish TEXT,
    usage TEXT NOT NULL, latency REAL, calls INTEGER NOT NULL, created REAL NOT NULL, mode TEXT);
CREATE TABLE IF NOT EXISTS failures (
    item_key TEXT PRIMARY KEY, reason TEXT NOT NULL, raw TEXT, created REAL NOT NULL);
"""
_RESULT_COLUMNS = {"item_key", "call_key", "text", "finish", "usage", "latency", "calls", "created"}
_COLUMNS = {  # in order: rows are written positionally; ``mode`` is added to caches written before it
    "results": ("item_key", "call_key", "text", "finish", "usage", "latency", "calls", "created", "mode"),
    "failures": ("item_key", "reason", "raw", "created")}
_SELECT = "item_key, call_key, text, finish, usage, latency, calls, mode"
_MAX_TOKENS = 1 << 40  # a row's token count beyond this (or negative, or not an integer) is damage
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate (JSON allows "\\ud800") is not UTF-8


def stored(text: str | None) -> str | None:
    """``text`` as the cache keeps it: secrets masked (a server may echo the key), lone surrogates replaced."""
    text = redact(text)
    return _SURROGATE.sub("\ufffd", text) if text else text


def call_key(model: str, messages: list[dict[str, str]], params: dict[str, Any], schema: str, version: str) -> str:
    """Hash of everything that determines a reply: model, messages, sampling, schema, prompt version."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "schema": schema, "version": version},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class CachedResult:
    """A reply that parsed: its text, the call that produced it and its cost."""

    item_key: str
    call_key: str
    text: str
    finish: str | None
    usage: dict[str, int]
    latency: float | None
    calls: int
    mode: str | None = None  # structured-output mode of the answering call (openai: json_schema, ...)


@dataclass(frozen=True)
class CallFailure:
    """A call that produced no cached reply: its reason, detail, raw reply (if any) and whether it was transient."""

    reason: str
    detail: str
    raw: str | None
    transient: bool


def lock_path(path: str | Path) -> Path:
    """The sidecar file whose ``flock`` marks a cache as in use."""
    return side_file(path, LOCK_SUFFIX)


def _check_cache(db: sqlite3.Connection, path: Path) -> None:
    """DataError unless ``db`` (only read here) is a new or empty file, one marked with :data:`APPLICATION_ID`,
    or an unmarked one with only the cache's tables (a cache written before the mark)."""
    marked = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
              if not row[0].startswith("sqlite_")}
    columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
    if marked == APPLICATION_ID or (marked == 0 and (not tables or (tables <= {"results", "failures"}
                                                                     and _RESULT_COLUMNS <= columns))):
        _check_columns(db, path)
        return
    found = f"application id {marked:#x}" if marked else f"tables {', '.join(sorted(tables))}"
    raise DataError(path, f"not a syneg cache ({found}); left unchanged: pass a new file as --cache")


def _check_columns(db: sqlite3.Connection, path: Path) -> None:
    """DataError unless each cache table present has the cache's columns, in order (``mode`` optional)."""
    for table, expected in _COLUMNS.items():
        found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if found and found not in (expected, expected[:-1] if table == "results" else expected):
            raise DataError(path, f"a syneg cache whose table {table} has the columns {', '.join(found)}, expected "
                                  f"{', '.join(expected)}; left unchanged: pass a new file as --cache")


def _decoded(row: tuple[Any, ...]) -> CachedResult | None:
    """The cached result in a ``results`` row, or None when a field does not decode (damage, hand edits)."""
    try:
        usage = json.loads(row[4])
    except (TypeError, ValueError, RecursionError):
        return None
    if not (isinstance(usage, dict) and all(type(v) is int and 0 <= v <= _MAX_TOKENS for v in usage.values())
            and isinstance(row[2], str) and type(row[6]) is int and row[6] >= 0):
        return None
    return CachedResult(row[0], row[1], row[2], row[3], usage, row[5], row[6], row[7])


def _add_mode_column(db: sqlite3.Connection) -> None:
    """Caches written before the ``mode`` column get it (empty for their rows)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
    if "mode" not in columns:
        with db:
            db.execute("ALTER TABLE results ADD COLUMN mode TEXT")


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection to ``path`` once :func:`_check_cache` accepts it (DataError otherwise, file untouched);
    ``read_only``: opened so that nothing is written, not even WAL files (the file must exist)."""
    if path.exists() and not path.is_file():  # a folder, a device, a FIFO (which would block the read)
        raise DataError(path, "not a syneg cache (not a regular file)")
    # without a -wal file (no writer, or closed cleanly) everything is in the file: read it as immutable
    flags = "mode=ro" if side_file(path, "-wal").exists() else "mode=ro&immutable=1"
    try:
        if not path.exists() and not read_only:  # made here with the umask's mode (sqlite would make it 0644)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
    except FileExistsError:
        pass  # made by someone else meanwhile: checked below like any existing file
    except OSError as exc:
        raise DataError(path, f"cannot create the cache file ({exc.strerror})") from None
    try:
        db = (sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, check_same_thread=False) if read_only
              else sqlite3.connect(path, check_same_thread=False))
    except sqlite3.Error as exc:
        raise DataError(path, f"cannot open the cache database ({exc})") from None
    try:
        _check_cache(db, path)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DataError(path, f"not a syneg cache (not an sqlite database: {exc}); left unchanged") from None
    except DataError:
        db.close()
        raise
    return db


def _snapshot(path: Path) -> sqlite3.Connection:
    """``path`` read-only, or an empty in-memory cache when it does not exist or has no tables yet."""
    db = _connect(path, read_only=True) if path.exists() else None
    if db is None or not db.execute("SELECT 1 FROM sqlite_master WHERE name='failures'").fetchone():
        if db is not None:
            db.close()
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.executescript(_SCHEMA)
    return db


class ResultCache:
    """Successes (``results``) and the last failure of each item (``failures``, never served as results).

    The object holds the cache's lock from construction to ``close()`` (see the module docstring).
    ``read_only`` (a dry run) creates, locks and changes nothing: a missing cache reads as empty.
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self._warned = False  # about rows that do not decode
        if read_only:
            self.db, self._lock = _snapshot(self.path), None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = _connect(self.path)  # checked before the lock file or any write
        try:
            self._lock = acquire(lock_path(self.path), f"cache {self.path}",
                                 "another syneg synthesize? Wait for it or use another --cache")
        except SynegError:
            self.db.close()
            raise
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            _add_mode_column(self.db)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise DataError(self.path, f"not a usable cache database ({exc})") from None

    def get(self, item_key: str) -> CachedResult | None:
        """The item's cached result; None when there is none, or its row does not decode (see :meth:`keys`)."""
        row = self.db.execute(f"SELECT {_SELECT} FROM results WHERE item_key=?", (item_key,)).fetchone()
        return None if row is None else _decoded(row)

    def keys(self) -> set[str]:
        """The items with a usable cached result. A row that does not decode (its usage not JSON, token
        counts not finite integers in range) counts as not cached, so its call is made again; named in one
        warning per cache."""
        found, damaged = set(), []
        for row in self.db.execute(f"SELECT {_SELECT} FROM results"):
            (damaged.append if _decoded(row) is None else found.add)(row[0])
        if damaged and not self._warned:
            self._warned = True
            warnings.warn(f"cache {self.path}: the cached reply of {len(damaged)} item(s) does not decode (first: "
                          f"{damaged[0]}); counted as not cached, called again", stacklevel=2)
        return found

    def failure(self, item_key: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT reason, raw FROM failures WHERE item_key=?", (item_key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def call_failure(self, item_key: str, transient: Mapping[str, tuple[str, str]]) -> CallFailure | None:
        """Why an item has no cached reply: failed in this run (``transient``: ``key -> (reason, detail)``), or
        a stored content failure; None when it was never called (missing)."""
        if item_key in transient:
            reason, detail = transient[item_key]
            return CallFailure(reason, detail, None, transient=True)
        stored_failure = self.failure(item_key)
        if stored_failure is None:
            return None
        reason, _, detail = stored_failure[0].partition(": ")  # stored as "<reason>: <detail>"
        return CallFailure(reason, detail or reason, stored_failure[1], transient=False)

    def put(self, result: CachedResult) -> None:
        """Commit one success now (and forget an earlier failure of the item)."""
        self.put_all([result], [])

    def put_failure(self, item_key: str, reason: str, raw: str | None) -> None:
        """Commit an item's content failure: its reason and raw reply."""
        self.put_all([], [(item_key, reason, raw)])

    def put_all(self, results: Iterable[CachedResult], failures: Iterable[tuple[str, str, str | None]]) -> None:
        """Commit successes and ``(item_key, reason, raw)`` failures in one transaction: all or none.

        Texts are stored redacted (:func:`syneg.redact.redact`: a server may echo the key), so nothing
        read from the cache holds a secret, and as valid UTF-8. A success forgets an earlier failure of its item.
        """
        now = time.time()
        with self.db:
            for r in results:
                self.db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?)",
                                (r.item_key, r.call_key, stored(r.text), stored(r.finish), json.dumps(r.usage),
                                 r.latency, r.calls, now, r.mode))
                self.db.execute("DELETE FROM failures WHERE item_key=?", (r.item_key,))
            for item_key, reason, raw in failures:
                self.db.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?)",
                                (item_key, stored(reason), stored(raw), now))

    def close(self) -> None:
        """Close the database, then release the lock (the lock file stays: removing it would race)."""
        self.db.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
