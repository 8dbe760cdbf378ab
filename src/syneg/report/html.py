"""Render one run directory as a single self-contained HTML page that reads like a results page.

Headline metrics with a bootstrap interval first, then stage timings, per-query wins and losses,
generated training queries, negatives side by side, rejected negatives, training curves and hardness; config and stage
statistics folded away at the end.
"""

from __future__ import annotations

from pathlib import Path

from syneg import layout
from syneg.errors import SynegError
from syneg.io import write_text
from syneg.pipeline.stages import STAGES
from syneg.redact import without_paths
from syneg.report.curves import hardness, training_curves
from syneg.report.generated import generated_queries
from syneg.report.headline import headline
from syneg.report.markup import details, esc, kv_table, note, page, section
from syneg.report.negatives import side_by_side
from syneg.report.queries import wins_and_losses
from syneg.report.rejected import rejected
from syneg.report.runfiles import RunFiles
from syneg.report.timings import stage_timings


def stage_statistics(files: RunFiles) -> str:
    """Each stage's statistics (``<output>.stats.json``, diagnostics), one fold per stage."""
    parts = []
    for stage in STAGES:
        output = files.root / stage.output
        stats, unverified = ((files.read_json(output), "") if output.name == layout.DIAGNOSTICS
                             else files.read_stats(output))
        if isinstance(stats, dict) and stats:
            title = f"{stage.name} ({unverified})" if unverified else stage.name
            parts.append(details(title, kv_table(stats)))
    return "".join(parts) or note("no stage statistics in this run")


def _skipped(files: RunFiles) -> str:
    """A note on the files the report skipped or read only in part, when there are any."""
    if not files.notes:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in files.notes)
    return note("Some files of this run were skipped or read in part:") + f"<ul class=note>{items}</ul>"


def render_report(run_dir: str | Path) -> str:
    """The HTML page for ``run_dir`` (raises SynegError when it is not a run directory).

    Only the run's own regular files are read, within bounds (see :mod:`syneg.report.runfiles`).
    """
    files = RunFiles(run_dir)
    config_text = files.read_text(files.root / layout.CONFIG)
    if config_text is None:
        why = f"no readable {layout.CONFIG}" + (f": {files.notes[-1]}" if files.notes else "")
        raise SynegError(f"{files.root}: not a run directory ({why})")
    per_query = files.read_json(files.root / layout.PER_QUERY)
    config = f"<pre>{esc(without_paths(config_text))}</pre>"  # the page may be shared: no local paths
    sections = [section("headline", "Zero-shot vs trained",
                        headline(files.read_json(files.root / layout.METRICS), per_query)),
                section("timings", "Stage timings", stage_timings(files)),
                section("queries", "Per-query wins and losses", wins_and_losses(files, per_query)),
                section("generated", "Generated training queries", generated_queries(files)),
                section("negatives", "Negatives side by side", side_by_side(files)),
                section("rejected", "Rejected synthetic negatives", rejected(files)),
                section("training", "Training curves", training_curves(files)),
                section("hardness", "Hardness of the negatives", hardness(files)),
                section("details", "Details", details("Configuration", config) + details(
                    "Stage statistics", stage_statistics(files)))]
    name = files.root.resolve().name
    return page(f"syneg report: {name}", "\n".join([f"<h1>syneg run: {esc(name)}</h1>", _skipped(files), *sections]))


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically and return its path."""
    path = Path(out) if out is not None else Path(run_dir) / layout.REPORT
    write_text(path, render_report(run_dir))
    return path
