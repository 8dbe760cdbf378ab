"""``syneg experiment``: run a grid of negative strategies, ratios, temperatures and seeds."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.config import SetOpt


@app.command("experiment")
def experiment(
    config: Annotated[Path, typer.Argument(help="Experiment YAML: a run config plus an 'experiment:' grid.")],
    overrides: SetOpt = None,
) -> None:
    """Train every cell (resuming finished ones) and write results.md, results.json and plots."""
    from syneg.experiment import load_experiment, run_experiment

    cfg = load_experiment(config, overrides)
    command = "syneg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = run_experiment(cfg, command, log=output.info)
    output.info(path.read_text(encoding="utf-8"))
    output.summary("experiment", run_dir=cfg.run_dir, results=path)
