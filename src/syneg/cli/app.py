"""The typer application that every command module registers on, and its global options."""

from __future__ import annotations

from typing import Annotated

import typer

from syneg.cli import output

app = typer.Typer(
    name="syneg",
    help="Train dense retrievers on mined and LLM-synthesized hard negatives (SyNeg).\n\n"
    "Every command except prompt and config show prints a one-line JSON summary as the last line of stdout; "
    "logs and progress bars go to stderr.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help texts are rich markup (cli.options escapes the defaults it appends)
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"syneg {version('syneg')}")
        raise typer.Exit()


@app.callback()
def global_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", envvar="SYNEG_QUIET",
                                        help="No progress bars or info lines (errors are still printed).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="DEBUG logging of syneg.* to stderr.")] = False,
) -> None:
    """Apply the global options (typer calls this before every command)."""
    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other")
    output.configure(quiet, verbose)
