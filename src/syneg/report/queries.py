"""Per-query wins and losses: the queries whose nDCG@10 moved most, with their text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syneg import layout
from syneg.report.markup import esc, note, num, numbers, shorten, table
from syneg.report.runfiles import RunFiles

TOP = 10


def query_texts(files: RunFiles, wanted: set[str]) -> tuple[dict[str, str] | None, str]:
    """The texts of the ``wanted`` query ids (from the run's data folder's queries file), or None and why not.

    Only that file is read (not the corpus or the judgements), line by line within ``syneg.io``'s bounds,
    and only until every wanted id is found.
    """
    from syneg.config import load_config
    from syneg.data import embedded_path
    from syneg.errors import SynegError
    from syneg.io import iter_jsonl

    with files.open(files.root / layout.CONFIG) as handle:  # the config must be the run's own file
        if handle is None:
            return None, f"no readable {layout.CONFIG}"
    texts: dict[str, str] = {}
    try:
        data = load_config(files.root / layout.CONFIG).data.path
        for _, row in iter_jsonl(Path(data or embedded_path()) / "queries.jsonl"):
            if str(row.get("_id")) in wanted and isinstance(row.get("text"), str):
                texts[str(row["_id"])] = row["text"]
                if len(texts) == len(wanted):
                    break
    except (SynegError, OSError, ValueError) as exc:  # the report still renders, with ids
        return None, str(exc)
    return texts, ""


def changes(per_query: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``(query id, zero-shot, trained)`` for every query both models scored, largest gain first."""
    zero, trained = numbers(per_query.get("zero_shot")), numbers(per_query.get("trained"))
    rows = [(q, zero[q], trained[q]) for q in zero if q in trained]
    return sorted(rows, key=lambda r: (-(r[2] - r[1]), r[0]))


def _rows(items: list[tuple[str, float, float]], texts: dict[str, str] | None) -> list[list[str]]:
    rows = []
    for qid, zero, trained in items:
        text = esc(shorten(texts.get(qid, "(not in the queries file)"), 300)) if texts is not None else "–"
        diff = trained - zero
        rows.append([esc(shorten(qid, 80)), text, f"<td class=num>{num(zero, 3)}</td>",
                     f"<td class=num>{num(trained, 3)}</td>",
                     f"<td class='num {'up' if diff > 0 else 'down'}'>{num(diff, 3, signed=True)}</td>"])
    return rows


def wins_and_losses(files: RunFiles, per_query: dict[str, Any] | None) -> str:
    """Two tables, the top gains and the top losses, each with the query text when the data loads."""
    if not isinstance(per_query, dict):
        return note("no per-query scores in this run")
    ranked = changes(per_query)
    wins = [r for r in ranked if r[2] > r[1]][:TOP]
    losses = [r for r in reversed(ranked) if r[2] < r[1]][:TOP]
    texts, why = query_texts(files, {r[0] for r in wins + losses})
    parts = [note(f"{len(ranked)} queries: {sum(r[2] > r[1] for r in ranked)} improved, "
                  f"{sum(r[2] < r[1] for r in ranked)} got worse, {sum(r[2] == r[1] for r in ranked)} "
                  "unchanged (nDCG@10).")]
    if texts is None:
        parts.append(note(f"query text unavailable (the run's data could not be loaded: {why}); showing ids"))
    headers = ["query id", "query", "zero-shot", "trained", "change"]
    parts += ["<h3>Largest gains</h3>", table(headers, _rows(wins, texts), cls="wins") if wins else note("none"),
              "<h3>Largest losses</h3>", table(headers, _rows(losses, texts), cls="losses") if losses else note("none")]
    return "".join(parts)
