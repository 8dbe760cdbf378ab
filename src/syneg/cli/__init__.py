"""The ``syneg`` command line. Each stage's commands live in their own module here."""

from __future__ import annotations

import sys

import typer

from syneg.cli import config as _config  # noqa: F401  (registers commands)
from syneg.cli import data as _data  # noqa: F401
from syneg.cli.app import app
from syneg.errors import SynegError


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line and exit 2, never a traceback."""
    try:
        app(args=argv, prog_name="syneg")
    except SynegError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["app", "main"]
