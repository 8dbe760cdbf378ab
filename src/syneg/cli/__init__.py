"""The ``syneg`` command line. Each stage's commands live in their own module here."""

from __future__ import annotations

import sys

import typer

# Each import registers its commands; the order is the order of `syneg --help`.
from syneg.cli import data as _data  # noqa: F401
from syneg.cli import config as _config  # noqa: F401
from syneg.cli import retrieve as _retrieve  # noqa: F401
from syneg.cli import evaluate as _evaluate  # noqa: F401
from syneg.cli import mine as _mine  # noqa: F401
from syneg.cli import synthesize as _synthesize  # noqa: F401
from syneg.cli import queries as _queries  # noqa: F401
from syneg.cli import merge as _merge  # noqa: F401
from syneg.cli import mix as _mix  # noqa: F401
from syneg.cli import train as _train  # noqa: F401
from syneg.cli import run as _run  # noqa: F401
from syneg.cli import experiment as _experiment  # noqa: F401
from syneg.cli import report as _report  # noqa: F401
from syneg.cli.app import app
from syneg.errors import SynegError


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line and exit 2 (3: a stage's calls failed), never a traceback."""
    try:
        app(args=argv, prog_name="syneg")
    except SynegError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["app", "main"]
