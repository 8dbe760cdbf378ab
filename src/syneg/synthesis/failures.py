"""What failed in a synthesis run, by reason, and whether the run as a whole failed (exit 3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syneg.errors import RunFailed

FAILED_STAGES = ("call", "validate")  # guard drops are filtering, not failures


def summarize(rejected: Sequence[dict[str, Any]], items: int, server: str | None) -> dict[str, Any]:
    """Counts by reason of the items that produced no valid passage, with one example detail each."""
    counts: Counter[str] = Counter()
    reasons: dict[str, dict[str, Any]] = {}
    for row in rejected:
        if row["stage"] not in FAILED_STAGES:
            continue
        counts[row["reason"]] += 1
        reasons.setdefault(row["reason"], {"stage": row["stage"], "transient": bool(row.get("transient")),
                                           "example": row.get("detail") or row["reason"]})
    by_reason = {reason: {"count": count, **reasons[reason]} for reason, count in counts.most_common()}
    return {"items": items, "failed": sum(counts.values()),
            "transient": sum(v["count"] for v in by_reason.values() if v["transient"]),
            "server": server, "by_reason": by_reason}


def report_lines(summary: dict[str, Any], failed_path: str | Path, command: str = "synthesize") -> list[str]:
    """One headline and one line per reason (most frequent first); empty when nothing failed."""
    if not summary["failed"]:
        return []
    lines = [f"{command}: {summary['failed']} of {summary['items']} items failed "
             f"(details in {failed_path})"]
    for reason, info in summary["by_reason"].items():
        if info["transient"]:
            hint = "transient: a plain rerun retries them"
        else:
            hint = "kept as failed: rerun with --retry-failed to try again"
        lines.append(f"  {info['count']:>5} {reason} ({hint}); e.g. {info['example']}")
    return lines


def verdict(summary: dict[str, Any], failed_path: str | Path, command: str = "synthesize") -> RunFailed | None:
    """The error to exit with: any transient failure, or every item failed; None otherwise."""
    everything = summary["items"] > 0 and summary["failed"] == summary["items"]
    if not summary["transient"] and not everything:
        return None
    return RunFailed("\n".join(report_lines(summary, failed_path, command)))
