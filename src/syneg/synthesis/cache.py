"""Call keys and a crash-safe result cache (sqlite, WAL): every success is committed as it arrives."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syneg.errors import DataError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    item_key TEXT PRIMARY KEY, call_key TEXT NOT NULL, text TEXT NOT NULL, finish TEXT,
    usage TEXT NOT NULL, latency REAL, calls INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    item_key TEXT PRIMARY KEY, reason TEXT NOT NULL, raw TEXT, created REAL NOT NULL);
"""


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


class ResultCache:
    """Successes (``results``) and the last failure of each item (``failures``, never served as results)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(self.path, f"not a usable cache database ({exc})") from None

    def get(self, item_key: str) -> CachedResult | None:
        row = self.db.execute(
            "SELECT item_key, call_key, text, finish, usage, latency, calls FROM results WHERE item_key=?",
            (item_key,),
        ).fetchone()
        if row is None:
            return None
        return CachedResult(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])

    def keys(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT item_key FROM results")}

    def failure(self, item_key: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT reason, raw FROM failures WHERE item_key=?", (item_key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, result: CachedResult) -> None:
        """Commit one success now (and forget an earlier failure of the item)."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?)",
                (result.item_key, result.call_key, result.text, result.finish, json.dumps(result.usage),
                 result.latency, result.calls, time.time()),
            )
            self.db.execute("DELETE FROM failures WHERE item_key=?", (result.item_key,))

    def put_failure(self, item_key: str, reason: str, raw: str | None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?)", (item_key, reason, raw, time.time()))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
