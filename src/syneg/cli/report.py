"""``syneg report``: one run directory as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'syneg run'.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file; default RUN_DIR/report.html.")] = None,
) -> None:
    """Render config, stage statistics, example negatives, curves and metrics as HTML."""
    from syneg.cli.options import check_run_dir_free
    from syneg.report import write_report

    check_run_dir_free(out.parent if out is not None else run_dir)
    path = write_report(run_dir, out)
    output.info(f"wrote {path}")
    output.summary("report", run_dir=run_dir, out=path)
