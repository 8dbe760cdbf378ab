"""Training curves (from ``train_log.jsonl``), the run's plots, and negative hardness by source."""

from __future__ import annotations

from typing import Any

from syneg import layout
from syneg.evaluation.metrics import PER_QUERY_METRIC
from syneg.report.markup import esc, inline_png, note, num, table
from syneg.report.runfiles import MAX_IMAGE_BYTES, RunFiles
from syneg.report.svg import line_chart, range_chart

EVAL_METRIC = PER_QUERY_METRIC
MAX_IMAGES = 24  # PNGs inlined into one page


def train_log(files: RunFiles) -> list[dict[str, Any]]:
    """The trainer's log rows: in ``model/``, or beside it in an experiment cell whose model was removed."""
    for folder in (files.root / layout.MODEL, files.root):
        rows = list(files.iter_jsonl(folder / layout.TRAIN_LOG))
        if rows:
            return rows
    return []


def _points(rows: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    return [(float(r["step"]), float(r[key])) for r in rows
            if isinstance(r.get("step"), (int, float)) and isinstance(r.get(key), (int, float))]


def training_curves(files: RunFiles) -> str:
    """An SVG loss curve, the eval metric per epoch, and the run's PNGs inlined (up to ``MAX_IMAGES``)."""
    log = train_log(files)
    steps = [r for r in log if r.get("event") == "step"]
    evals = [{"step": r.get("step"), EVAL_METRIC: (r.get("metrics") or {}).get(EVAL_METRIC)}
             for r in log if r.get("event") == "eval"]
    parts = []
    if steps:
        parts.append(line_chart({"loss": _points(steps, "loss")}, "step", "training loss"))
    if evals:
        parts.append(line_chart({EVAL_METRIC: _points(evals, EVAL_METRIC)}, "step", f"eval {EVAL_METRIC}"))
    if not parts:
        parts.append(note(f"no {layout.TRAIN_LOG} in this run"))
    return "".join(parts) + _images(files)


def _images(files: RunFiles) -> str:
    pngs = sorted(p for p in files.root.rglob("*.png")  # not those in hidden (temporary) folders
                  if not any(part.startswith(".") for part in p.relative_to(files.root).parts))
    parts = []
    for png in pngs[:MAX_IMAGES]:
        data = files.read_bytes(png, MAX_IMAGE_BYTES)
        if data is not None:
            rel = str(png.relative_to(files.root))
            parts.append(f"<h3>{esc(rel)}</h3>{inline_png(data, rel)}")
    if len(pngs) > MAX_IMAGES:
        parts.append(note(f"{len(pngs) - MAX_IMAGES} more images not shown (the report inlines {MAX_IMAGES})"))
    return "".join(parts)


def hardness(files: RunFiles) -> str:
    """Per source: the spread of cos(q, negative) - cos(q, positive) under the starting model."""
    diagnostics = files.read_json(files.root / layout.DIAGNOSTICS)
    by_source = diagnostics.get("hardness") if isinstance(diagnostics, dict) else None
    if not isinstance(by_source, dict) or not by_source:
        return note(f"no {layout.DIAGNOSTICS} in this run")
    stats = {s: v for s, v in by_source.items() if isinstance(v, dict) and v.get("n")}
    bars = [(s, v["p10"], v["p50"], v["p90"]) for s, v in stats.items() if {"p10", "p50", "p90"} <= set(v)]
    chart = range_chart(bars, "cos(q, neg) - cos(q, pos): p10..p90, median marked; dashed = the positive",
                        "hardness by source")
    rows = [[esc(s), f"<td class=num>{v.get('n')}</td>", *(f"<td class=num>{num(v.get(k), 3)}</td>"
            for k in ("mean", "p10", "p50", "p90")), f"<td class=num>{num(v.get('above_positive'), 3)}</td>"]
            for s, v in stats.items()]
    sep = diagnostics.get("separability")
    extra = (note(f"separability (synthetic vs retrieved, linear probe): accuracy {num(sep.get('accuracy'), 3)}, "
                  f"AUC {num(sep.get('auc'), 3)}; near 0.5 means no shortcut") if isinstance(sep, dict) else "")
    headers = ["source", "negatives", "mean", "p10", "median", "p90", "share above positive"]
    return chart + table(headers, rows, cls="hardness") + extra
