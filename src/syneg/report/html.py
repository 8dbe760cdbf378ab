"""Render one run directory as a single self-contained HTML page that reads like a results page.

Headline metrics with a bootstrap interval first, then stage timings, per-query wins and losses,
negatives side by side, rejected negatives, training curves and hardness; config and stage
statistics folded away at the end.
"""

from __future__ import annotations

from pathlib import Path

from syneg import layout
from syneg.errors import SynegError
from syneg.io import write_text
from syneg.pipeline.stages import STAGES
from syneg.report.curves import hardness, training_curves
from syneg.report.headline import headline
from syneg.report.markup import details, esc, kv_table, note, page, section
from syneg.report.negatives import side_by_side
from syneg.report.queries import wins_and_losses
from syneg.report.rejected import rejected
from syneg.report.runfiles import read_json
from syneg.report.timings import stage_timings


def stage_statistics(run: Path) -> str:
    """Each stage's statistics (``<output>.stats.json``, diagnostics), one fold per stage."""
    parts = []
    for stage in STAGES:
        output = run / stage.output
        stats = read_json(output) if stage.output == layout.DIAGNOSTICS else layout.read_stats(output)
        if stats:
            parts.append(details(stage.name, kv_table(stats)))
    return "".join(parts) or note("no stage statistics in this run")


def render_report(run_dir: str | Path) -> str:
    """The HTML page for ``run_dir`` (raises SynegError when it is not a run directory)."""
    run = Path(run_dir)
    if not (run / layout.CONFIG).is_file():
        raise SynegError(f"{run}: not a run directory (no {layout.CONFIG})")
    per_query = read_json(run / layout.PER_QUERY)
    config = f"<pre>{esc((run / layout.CONFIG).read_text(encoding='utf-8'))}</pre>"
    body = [f"<h1>syneg run: {esc(run.resolve().name)}</h1>",
            section("headline", "Zero-shot vs trained", headline(read_json(run / layout.METRICS), per_query)),
            section("timings", "Stage timings", stage_timings(run)),
            section("queries", "Per-query wins and losses", wins_and_losses(run, per_query)),
            section("negatives", "Negatives side by side", side_by_side(run)),
            section("rejected", "Rejected synthetic negatives", rejected(run)),
            section("training", "Training curves", training_curves(run)),
            section("hardness", "Hardness of the negatives", hardness(run)),
            section("details", "Details", details("Configuration", config) + details(
                "Stage statistics", stage_statistics(run)))]
    return page(f"syneg report: {run.resolve().name}", "\n".join(body))


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically and return its path."""
    path = Path(out) if out is not None else Path(run_dir) / layout.REPORT
    write_text(path, render_report(run_dir))
    return path
