"""Examples of each negative source side by side for the same query: mined next to synthetic."""

from __future__ import annotations

from typing import Any

from syneg import layout
from syneg.report.markup import esc, note, num, shorten, tags
from syneg.report.runfiles import RunFiles

EXAMPLES = 3
PER_SOURCE = 3
MINED_SOURCES = ("bm25", "dense")


def _contexts(files: RunFiles) -> dict[str, dict[str, Any]]:
    """Query, positive and mined negatives per query id, from ``mined.jsonl`` else ``train.jsonl``."""
    out: dict[str, dict[str, Any]] = {}
    for name in (layout.MINED, layout.TRAIN):
        for row in files.iter_jsonl(files.root / name):
            mined = [n for n in row.get("negatives") or [] if isinstance(n, dict) and n.get("source") in MINED_SOURCES]
            qid = str(row.get("query_id"))
            if qid not in out or (mined and not out[qid]["negatives"]):
                out[qid] = {**row, "negatives": mined}
    return out


def _synthetic(files: RunFiles) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in files.iter_jsonl(files.root / layout.SYNTHETIC):
        out.setdefault(str(row.get("query_id")), []).append(row)
    return out


def pick_queries(contexts: dict[str, dict[str, Any]], synthetic: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Up to three query ids, those with both mined and synthetic negatives first."""
    both = [q for q in synthetic if contexts.get(q, {}).get("negatives")]
    either = [q for q in contexts if contexts[q]["negatives"]] + list(synthetic)
    return list(dict.fromkeys(both + either))[:EXAMPLES]


def _mined_html(neg: dict[str, Any]) -> str:
    rank = f" rank {neg['rank']}" if neg.get("rank") is not None else ""
    score = f" score {num(neg['score'], 3)}" if isinstance(neg.get("score"), (int, float)) else ""
    return (f"<div class='neg {esc(neg.get('source'))}'><span class=tag>{esc(neg.get('source'))}</span>"
            f"<span class=note>{esc(shorten(rank + score, 80))}</span><br>{esc(shorten(neg.get('text')))}</div>")


def _synthetic_html(row: dict[str, Any]) -> str:
    scores = ""
    if row.get("teacher_score") is not None:
        scores = (f"<br><span class=note>teacher score {num(row.get('teacher_score'), 3)} vs positive "
                  f"{num(row.get('positive_teacher_score'), 3)}</span>")
    return (f"<div class='neg synthetic'>{tags(row.get('attributes'))}<br>"
            f"<b>reasoning:</b> {esc(shorten(row.get('reasoning')))}"
            f"<br><b>passage:</b> {esc(shorten(row.get('text')))}{scores}</div>")


def _card(qid: str, context: dict[str, Any], synthetic: list[dict[str, Any]]) -> str:
    mined = "".join(_mined_html(n) for n in context.get("negatives", [])[:PER_SOURCE]) or note("none")
    synth = "".join(_synthetic_html(r) for r in synthetic[:PER_SOURCE]) or note("none")
    query = shorten(context.get("query", f"query {qid}"), 300)
    positive = esc(shorten(context.get("positive"))) if context.get("positive") else "<i>not in the mined file</i>"
    return (f"<div class=card><h4>{esc(query)} <span class=note>({esc(shorten(qid, 80))})</span></h4>"
            f"<p><b>positive:</b> {positive}</p><div class=pair><div><b>mined (bm25 / dense)</b>{mined}</div>"
            f"<div><b>synthetic (LLM)</b>{synth}</div></div></div>")


def side_by_side(files: RunFiles) -> str:
    """Cards for up to three queries: query, positive, its mined and its synthetic negatives."""
    contexts, synthetic = _contexts(files), _synthetic(files)
    picked = pick_queries(contexts, synthetic)
    if not picked:
        return note("no mined or synthetic negatives in this run")
    return "".join(_card(q, contexts.get(q, {}), synthetic.get(q, [])) for q in picked)
