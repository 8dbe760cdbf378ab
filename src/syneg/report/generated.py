"""The generated training queries of a run: how many were kept, why the others were dropped, examples of both."""

from __future__ import annotations

from typing import Any

from syneg import layout
from syneg.report.markup import count, esc, kv_table, note, shorten, table
from syneg.report.runfiles import RunFiles


def generated_queries(files: RunFiles) -> str:
    """Counts and drops from ``queries.jsonl.stats.json``, then its seeded kept and dropped examples."""
    stats, unverified = files.read_stats(files.root / layout.QUERIES)
    if not isinstance(stats, dict) or not stats:
        return note("no generated queries in this run (it trained on qrels, or the queries stage has not run)")
    summary = {key: stats.get(key) for key in ("items", "kept", "pass_rate", "drops", "round_trip", "style")}
    examples = stats.get("examples") if isinstance(stats.get("examples"), dict) else {}
    kept = [[esc(row.get("query_type")), esc(shorten(row.get("text"), 300)), esc(count(row.get("round_trip_rank")))]
            for row in _rows(examples.get("kept"))]
    dropped = [[esc(reason), esc(row.get("query_type")), esc(shorten(row.get("text"), 300))]
               for reason, rows in (examples.get("dropped") or {}).items() if isinstance(rows, list)
               for row in _rows(rows)]
    parts = [note(f"statistics unverified: {unverified}")] if unverified else []
    parts += [kv_table(summary), table(["type", "kept query", "round-trip rank"], kept),
              table(["dropped for", "type", "query"], dropped)]
    return "".join(parts)


def _rows(value: Any) -> list[dict]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []
