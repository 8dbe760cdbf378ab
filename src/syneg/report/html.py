"""Render one run directory as a single self-contained HTML page (images inlined)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.errors import SynegError
from syneg.pipeline.stages import STAGES
from syneg.io import write_text

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;font-size:90%}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
img{max-width:100%;border:1px solid #eee}.ex{border-left:4px solid #999;padding-left:.8em;margin:1em 0}"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        rows: list[tuple[str, Any]] = []
        for key, value in obj.items():
            rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(obj, float):
        return [(prefix, f"{obj:.4g}")]
    if isinstance(obj, list) and len(obj) > 12:
        return [(prefix, f"[{len(obj)} items] {obj[:12]}…")]
    return [(prefix, obj)]


def _table(obj: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in _flatten(obj))
    return f"<table>{rows}</table>"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _head_jsonl(path: Path, n: int) -> list[dict[str, Any]]:
    rows = []
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if len(rows) >= n:
                    break
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows


def _synthetic_examples(run: Path, n: int = 5) -> str:
    parts = []
    for row in _head_jsonl(run / layout.SYNTHETIC, n):
        attrs = ", ".join(f"{k}: {v}" for k, v in row.get("attributes", {}).items())
        parts.append(f"<div class=ex><b>query {_esc(row.get('query_id'))}</b> — <i>{_esc(attrs)}</i>"
                     f"<p><b>reasoning:</b> {_esc(row.get('reasoning', ''))}</p>"
                     f"<p><b>passage:</b> {_esc(row.get('text', ''))}</p>"
                     f"<p>teacher score {_esc(row.get('teacher_score'))} vs positive "
                     f"{_esc(row.get('positive_teacher_score'))}</p></div>")
    return "".join(parts) or "<p>no synthetic negatives in this run</p>"


def _training_examples(run: Path, n: int = 3) -> str:
    parts = []
    for row in _head_jsonl(run / layout.TRAIN, n):
        negs = "".join(f"<li>[{_esc(x.get('source'))}] {_esc(x.get('text', '')[:300])}</li>"
                       for x in row.get("negatives", []))
        parts.append(f"<div class=ex><b>{_esc(row.get('query'))}</b><p>positive: "
                     f"{_esc(row.get('positive', '')[:300])}</p><ul>{negs}</ul></div>")
    return "".join(parts) or "<p>no training instances in this run</p>"


def _images(run: Path) -> str:
    parts = []
    for png in sorted(run.rglob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f"<h3>{_esc(png.relative_to(run))}</h3><img alt='{_esc(png.name)}' "
                     f"src='data:image/png;base64,{data}'>")
    return "".join(parts) or "<p>no plots in this run</p>"


def render_report(run_dir: str | Path) -> str:
    """The HTML page for ``run_dir``: config, stage statistics, examples, curves and metrics."""
    run = Path(run_dir)
    if not (run / layout.CONFIG).is_file():
        raise SynegError(f"{run}: not a run directory (no {layout.CONFIG})")
    sections = [f"<h1>syneg run: {_esc(run.resolve().name)}</h1>",
                "<h2>Final metrics</h2>", _table(_read_json(run / layout.METRICS) or {"metrics": "not yet evaluated"}),
                "<h2>Configuration</h2>", f"<pre>{_esc((run / layout.CONFIG).read_text(encoding='utf-8'))}</pre>",
                "<h2>Stage statistics</h2>"]
    for stage in STAGES:
        stats = _read_json(run / stage.output) if stage.output == layout.DIAGNOSTICS else layout.read_stats(run / stage.output)
        if stats:
            sections += [f"<h3>{_esc(stage.name)}</h3>", _table(stats)]
    sections += ["<h2>Synthetic negatives (examples)</h2>", _synthetic_examples(run),
                 "<h2>Training instances (examples)</h2>", _training_examples(run),
                 "<h2>Training curves</h2>", _images(run)]
    body = "\n".join(sections)
    return f"<!doctype html><html><head><meta charset=utf-8><title>syneg report</title><style>{STYLE}</style></head><body>{body}</body></html>\n"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically and return its path."""
    path = Path(out) if out is not None else Path(run_dir) / layout.REPORT
    write_text(path, render_report(run_dir))
    return path
