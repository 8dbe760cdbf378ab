"""HTML building blocks of the report pages: escaping, tables, folds, inlined images, the page shell."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from syneg.limits import MAX_ITEMS

MAX_TABLE_ROWS = 200  # rows shown in one table

STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;font-size:90%}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}.note{color:#666;font-size:90%}
img{max-width:100%;border:1px solid #eee}.up{color:#1a7f37}.down{color:#b42318}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.card{border:1px solid #ddd;border-radius:6px;
padding:.6em .8em;margin:.8em 0}.card h4{margin:.2em 0}.neg{border-left:4px solid #999;padding-left:.6em;
margin:.5em 0;font-size:92%}.neg.synthetic{border-color:#8250df}.neg.bm25,.neg.dense{border-color:#0969da}
.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 4px;margin-right:4px;font-size:85%}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}"""

# after load, <body data-broken="N">: the number of images that failed to decode (tests read it)
BROKEN_IMAGES_SCRIPT = ("<script>addEventListener('load',function(){document.body.dataset.broken="
                        "[].filter.call(document.images,function(i){return !i.naturalWidth}).length})</script>")


def esc(value: Any) -> str:
    """``value`` as text that is safe anywhere in HTML (untrusted text always goes through here)."""
    return html.escape(str(value))


def num(value: Any, digits: int = 4, signed: bool = False) -> str:
    """A number formatted for a table; anything else escaped as is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc("–" if value is None else value)
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def numbers(obj: Any) -> dict[str, float]:
    """The finite numbers of a JSON object by key (a file may hold anything)."""
    if not isinstance(obj, dict):
        return {}
    return {str(k): float(v) for k, v in obj.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def bounded(obj: Any) -> dict[str, float]:
    """The numbers of a JSON object within +-``MAX_ITEMS`` (a metric is a score or a count; 1e308 is neither)."""
    return {k: v for k, v in numbers(obj).items() if abs(v) <= MAX_ITEMS}


def count(value: Any) -> int | None:
    """``value`` when it is a plausible count (an integer from 0 to ``MAX_ITEMS``), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ITEMS else None


def shorten(text: Any, limit: int = 400) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), not yet escaped."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def tags(attributes: Any, limit: int = 8) -> str:
    """Up to ``limit`` ``key: value`` tags of an attributes mapping, each shortened and escaped."""
    items = list(attributes.items())[:limit] if isinstance(attributes, dict) else []
    return "".join(f"<span class=tag>{esc(shorten(k, 40))}: {esc(shorten(v, 80))}</span>" for k, v in items)


def _capped(rows: Sequence[str], width: int) -> str:
    """The first ``MAX_TABLE_ROWS`` rows, then one row saying how many were left out."""
    more = len(rows) - MAX_TABLE_ROWS
    shown = "".join(rows[:MAX_TABLE_ROWS])
    if more <= 0:
        return shown
    return shown + f"<tr><td colspan={width} class=note>… {more:,} more rows not shown</td></tr>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table: escaped ``headers``, rows of cell HTML (wrapped in ``<td>`` unless a cell brings its own).

    At most ``MAX_TABLE_ROWS`` rows are shown.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = ["<tr>" + "".join(c if c.startswith(("<td", "<th")) else f"<td>{c}</td>" for c in row) + "</tr>"
            for row in rows]
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{_capped(body, len(headers))}</tbody></table>"


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``(dotted.key, value)`` rows; long lists shortened."""
    if isinstance(obj, dict):
        rows: list[tuple[str, Any]] = []
        for key, value in obj.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(obj, float):
        return [(prefix, f"{obj:.4g}")]
    if isinstance(obj, list) and len(obj) > 12:
        return [(prefix, f"[{len(obj)} items] {obj[:12]}…")]
    return [(prefix, obj)]


def kv_table(obj: dict[str, Any]) -> str:
    """A two-column key/value table of a (nested) dict."""
    rows = [f"<tr><th>{esc(shorten(k, 200))}</th><td>{esc(shorten(v, 1000))}</td></tr>" for k, v in flatten(obj)]
    return f"<table>{_capped(rows, 2)}</table>"


def details(summary: str, body: str, open_: bool = False) -> str:
    """A folded block: ``summary`` (escaped) shows, ``body`` (HTML) unfolds."""
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"


def section(anchor: str, title: str, body: str) -> str:
    """An ``<h2>`` section with an id to link to."""
    return f"<section id='{esc(anchor)}'><h2>{esc(title)}</h2>{body}</section>"


def note(text: str) -> str:
    return f"<p class=note>{esc(text)}</p>"


def inline_png(data: bytes, alt: str) -> str:
    """PNG bytes as an ``<img>`` with a base64 ``data:`` source (the page stays one file)."""
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode('ascii')}'>"


def page(title: str, body: str) -> str:
    """The whole document: one file with its style and the broken-image counter inline."""
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}{BROKEN_IMAGES_SCRIPT}</body></html>\n")
