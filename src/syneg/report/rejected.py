"""The synthetic negatives that were rejected, counted by stage and reason, one example each."""

from __future__ import annotations

from collections import Counter
from typing import Any

from syneg import layout
from syneg.report.markup import esc, note, num, shorten, table, tags
from syneg.report.runfiles import RunFiles


def _example(row: dict[str, Any]) -> str:
    parts = []
    if row.get("detail"):
        parts.append(f"<b>detail:</b> {esc(shorten(row['detail'], 200))}")
    if row.get("raw"):
        parts.append(f"<b>reply:</b> <code>{esc(shorten(row['raw'], 240))}</code>")
    if labels := tags(row.get("attributes")):
        parts.append(labels)
    if row.get("teacher_score") is not None:
        parts.append(f"<span class=note>teacher score {num(row.get('teacher_score'), 3)} vs positive "
                     f"{num(row.get('positive_teacher_score'), 3)}</span>")
    parts.append(f"<span class=note>query {esc(shorten(row.get('query_id'), 80))}</span>")
    return "<br>".join(parts)


def quality_note(files: RunFiles) -> str:
    """One line from the synthesis stats' ``quality`` block: length against the positive and cost."""
    stats, _ = files.read_stats(files.root / layout.SYNTHETIC)
    block = stats.get("quality") if isinstance(stats, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("length_ratio"), dict):
        return ""
    ratio, words = block["length_ratio"], block.get("words") or {}
    return note(f"Kept negatives: median length {num(ratio.get('median'), 2)} x their positive's (quartiles "
                f"{num(ratio.get('p25'), 2)}-{num(ratio.get('p75'), 2)}), median {num(words.get('median'), 0)} words; "
                f"{num(block.get('samples_per_kept'), 2)} calls and {num(block.get('seconds_per_kept'), 2)} s per "
                f"kept negative (mode {esc(stats.get('mode'))}).")


def rejected(files: RunFiles) -> str:
    """The kept negatives' length and cost, then a table of rejected items by ``(stage, reason)``, most
    frequent first, with a short example."""
    return quality_note(files) + _rejected_table(files)


def _rejected_table(files: RunFiles) -> str:
    path = layout.side_file(files.root / layout.SYNTHETIC, layout.FAILED_SUFFIX)
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], dict[str, Any]] = {}
    for row in files.iter_jsonl(path):
        key = (shorten(row.get("stage", "?"), 80), shorten(row.get("reason", "?"), 200))
        counts[key] += 1
        examples.setdefault(key, row)
    if not counts:
        return note("no rejected synthetic negatives in this run")
    rows = [[esc(stage), esc(reason), f"<td class=num>{count}</td>", _example(examples[(stage, reason)])]
            for (stage, reason), count in counts.most_common()]
    total = note(f"{sum(counts.values())} items rejected. Stage 'call': the LLM call failed; 'validate': the "
                 "reply was unusable; 'guard': the hardness guard dropped a likely false negative; 'select': "
                 "another sample of the pair was harder.")
    return total + table(["stage", "reason", "count", "example"], rows, cls="rejected")
