"""``syneg run``: mine, synthesize, mix, diagnose, train and evaluate in one run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli.app import app
from syneg.cli.config import SetOpt


@app.command("run")
def run(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config; default: the embedded SciFact slice.")] = None,
    overrides: SetOpt = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Run directory (overrides run_dir).")] = None,
) -> None:
    """Run the whole pipeline, resuming stages whose outputs are complete and unchanged."""
    from syneg.config import load_config
    from syneg.pipeline import run_pipeline

    items = list(overrides or [])
    if run_dir is not None:
        items.append(f"run_dir={run_dir}")
    cfg = load_config(config, items)
    result = run_pipeline(cfg, log=lambda line: typer.echo(line, err=True))
    typer.echo(f"{'metric':>10}  {'zero-shot':>9}  {'trained':>9}  {'delta':>7}   ({result['split']}, {result['queries']} queries)")
    for name, value in result["trained"].items():
        if name == "queries":
            continue
        zero = result["zero_shot"].get(name, float("nan"))
        typer.echo(f"{name:>10}  {zero:9.4f}  {value:9.4f}  {value - zero:+7.4f}")
    typer.echo(f"run directory: {cfg.run_dir}")
