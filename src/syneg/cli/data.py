"""``syneg data``: inspect and validate BEIR folders."""

from __future__ import annotations

import json
import statistics

import typer

from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options

data_app = typer.Typer(help="Inspect and validate BEIR data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("info")
@data_options()
def info(
    selection: DataSelection,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Validate a BEIR folder and print its size (a bad file is reported with its line)."""
    ds = selection.load()
    positives = [len(ds.positives(q)) for q in ds.qrels]
    summary = {
        "path": str(ds.path),
        "split": ds.split,
        "documents": len(ds.corpus),
        "queries": len(ds.queries),
        "judgements": sum(len(v) for v in ds.qrels.values()),
        "positives_per_query": round(statistics.fmean(positives), 3) if positives else 0.0,
        **ds.meta,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key:>20}: {value}")
