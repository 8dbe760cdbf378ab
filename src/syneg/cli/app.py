"""The typer application that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="syneg",
    help="Train dense retrievers on mined and LLM-synthesized hard negatives (SyNeg).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",  # help texts are rich markup (cli.options escapes the defaults it appends)
)
