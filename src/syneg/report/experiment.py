"""``results.html``: an experiment's results table, significance rows and plots as one page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syneg.io import write_text
from syneg.report.markup import esc, inline_png, note, page, section, table
from syneg.report.runfiles import MAX_IMAGE_BYTES, RunFiles

RESULTS_PAGE = "results.html"  # beside the experiment's results.md

Table = dict[str, dict[str, tuple[float, float, int]]]


def _cell(mean: float, std: float, best: bool) -> str:
    text = f"{mean * 100:.1f} ± {std * 100:.1f}" if abs(mean) <= 1 else f"{mean:.3g} ± {std:.2g}"
    return f"<td class=num>{'<b>' + text + '</b>' if best else text}</td>"


def results_table(rows: Table, columns: Sequence[str]) -> str:
    """Groups by columns, ``mean ± std`` (x100 for metrics in [0, 1]), best mean per column in bold."""
    best = {c: max((row[c][0] for row in rows.values() if c in row), default=None) for c in columns}
    body = []
    for group, row in rows.items():
        seeds = max((v[2] for v in row.values()), default=0)
        cells = [_cell(row[c][0], row[c][1], row[c][0] == best[c]) if c in row else "<td>–</td>" for c in columns]
        body.append([f"<th>{esc(group)}</th>", f"<td class=num>{seeds}</td>", *cells])
    return table(["cell", "seeds", *columns], body, cls="results")


def significance_table(tests: Sequence[dict[str, Any]], reference: str | None) -> str:
    """One row per baseline: paired tests of ``reference`` against it on per-query nDCG@10."""
    if not tests:
        return note("no significance tests (the grid has no hybrid cell)")
    rows = [[f"<th>{esc(t['baseline'])}</th>", f"<td class=num>{t['queries']}</td>",
             f"<td class=num>{t['mean_diff'] * 100:+.2f}</td>", f"<td class=num>{t['t_pvalue']:.3g}</td>",
             f"<td class=num>{t['wilcoxon_pvalue']:.3g}</td>"] for t in tests]
    intro = note(f"Paired tests, per-query nDCG@10 (mean over seeds), {reference} vs each baseline.")
    return intro + table(["baseline", "queries", "mean diff (x100)", "t-test p", "Wilcoxon p"], rows,
                         cls="significance")


def write_results_page(out: Path, title: str, header: Sequence[str], rows: Table, columns: Sequence[str],
                       tests: Sequence[dict[str, Any]], reference: str | None, plots: Sequence[Path]) -> Path:
    """Write ``out/results.html``: ``header`` lines (text with `code` spans), the table, significance, plots."""
    intro = "".join("<p>" + re.sub(r"`([^`]*)`", r"<code>\1</code>", esc(line)) + "</p>" for line in header if line)
    files = RunFiles(out)
    images = [(p.stem, files.read_bytes(p, MAX_IMAGE_BYTES)) for p in plots]
    figures = "".join(f"<h3>{esc(stem)}</h3>{inline_png(data, stem)}" for stem, data in images if data is not None)
    figures = figures or note("no plots")
    body = (f"<h1>{esc(title)}</h1>{intro}"
            + section("results", "Results", note("Metrics x100, mean ± std over seeds; best per column in bold.")
                      + results_table(rows, columns))
            + section("significance", "Significance", significance_table(tests, reference))
            + section("plots", "Plots", figures))
    path = out / RESULTS_PAGE
    write_text(path, page(title, body))
    return path
