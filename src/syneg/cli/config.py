"""``syneg config``: show the resolved configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli.app import app

config_app = typer.Typer(help="Show and check run configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: section.key=value (repeatable).")]


@config_app.command("show")
def show(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config; default: built-in defaults.")] = None,
    overrides: SetOpt = None,
) -> None:
    """Print the resolved configuration as YAML (stdout is the YAML itself, no JSON summary line); a file with
    an ``experiment:`` section is read as an experiment (every cell checked)."""
    from syneg.config import dump_config, load_config, read_yaml

    if config is not None and "experiment" in read_yaml(config):
        from syneg.experiment import load_experiment

        typer.echo(dump_config(load_experiment(config, overrides)), nl=False)
    else:
        typer.echo(dump_config(load_config(config, overrides)), nl=False)
