"""Small inline SVG charts (no plotting library, no files): a line chart and a quantile range chart."""

from __future__ import annotations

from collections.abc import Sequence

from syneg.report.markup import esc

COLORS = ("#0969da", "#cf222e", "#8250df", "#1a7f37", "#bf8700")
W, H, PAD = 560, 260, 44


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def line_chart(series: dict[str, Sequence[tuple[float, float]]], xlabel: str, title: str) -> str:
    """Lines of ``(x, y)`` points, one colour per series, with axes, ticks and (for several) a legend."""
    points = [p for line in series.values() for p in line]
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    fx, fy = _scale(min(xs), max(xs), PAD, W - 10), _scale(min(ys), max(ys), H - PAD, 24)
    parts = [f"<text x='{W / 2}' y='14' text-anchor='middle' font-size='13'>{esc(title)}</text>",
             f"<text x='{W / 2}' y='{H - 6}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text>",
             f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - 10}' y2='{H - PAD}' stroke='#999'/>",
             f"<line x1='{PAD}' y1='24' x2='{PAD}' y2='{H - PAD}' stroke='#999'/>"]
    for v in _ticks(min(ys), max(ys)):
        parts.append(f"<text x='{PAD - 4}' y='{fy(v) + 4:.1f}' text-anchor='end' font-size='10'>{v:.3g}</text>")
    for v in _ticks(min(xs), max(xs)):
        parts.append(f"<text x='{fx(v):.1f}' y='{H - PAD + 14}' text-anchor='middle' font-size='10'>{v:.3g}</text>")
    for i, (name, line) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in line)
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='1.6' points='{path}'/>")
        if len(line) < 30:
            parts += [f"<circle cx='{fx(x):.1f}' cy='{fy(y):.1f}' r='2.5' fill='{color}'/>" for x, y in line]
        if len(series) > 1:
            parts.append(f"<text x='{W - 14}' y='{30 + 14 * i}' text-anchor='end' font-size='11' "
                         f"fill='{color}'>{esc(name)}</text>")
    return _svg(parts, H)


def range_chart(rows: Sequence[tuple[str, float, float, float]], xlabel: str, title: str) -> str:
    """One bar per row ``(label, p10, p50, p90)``: the p10..p90 range with the median marked; 0 marked."""
    if not rows:
        return ""
    lo = min(0.0, *(r[1] for r in rows))
    hi = max(0.0, *(r[3] for r in rows))
    height = 60 + 28 * len(rows)
    fx = _scale(lo, hi, 110, W - 20)
    parts = [f"<text x='{W / 2}' y='14' text-anchor='middle' font-size='13'>{esc(title)}</text>",
             f"<line x1='{fx(0):.1f}' y1='22' x2='{fx(0):.1f}' y2='{height - 30}' stroke='#b42318' "
             "stroke-dasharray='4 3'/>",
             f"<text x='{W / 2}' y='{height - 6}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text>"]
    for v in _ticks(lo, hi):
        parts.append(f"<text x='{fx(v):.1f}' y='{height - 18}' text-anchor='middle' font-size='10'>{v:.2g}</text>")
    for i, (label, p10, p50, p90) in enumerate(rows):
        y, color = 34 + 28 * i, COLORS[i % len(COLORS)]
        parts += [f"<text x='104' y='{y + 4}' text-anchor='end' font-size='11'>{esc(label)}</text>",
                  f"<rect x='{fx(p10):.1f}' y='{y - 8}' width='{max(fx(p90) - fx(p10), 1):.1f}' height='16' "
                  f"fill='{color}' fill-opacity='.35' stroke='{color}'/>",
                  f"<line x1='{fx(p50):.1f}' y1='{y - 10}' x2='{fx(p50):.1f}' y2='{y + 10}' stroke='{color}' "
                  "stroke-width='3'/>"]
    return _svg(parts, height)


def _svg(parts: list[str], height: int) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{height}' viewBox='0 0 {W} {height}' "
            f"role='img'>{''.join(parts)}</svg>")
