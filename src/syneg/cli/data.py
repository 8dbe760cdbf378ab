"""``syneg data``: inspect and validate BEIR folders."""

from __future__ import annotations

import statistics

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options

data_app = typer.Typer(help="Inspect and validate BEIR data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("info")
@data_options()
def info(
    selection: DataSelection,
    as_json: bool = typer.Option(False, "--json", help="Only the JSON summary line (no table on stderr)."),
) -> None:
    """Validate a BEIR folder and print its size (a bad file is reported with its line).

    stdout: one JSON object (path, split, documents, queries, ...); the same as a table on stderr.
    """
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
    if not as_json:
        for key, value in summary.items():
            output.info(f"{key:>20}: {value}")
    output.emit_json(summary)
