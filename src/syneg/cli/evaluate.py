"""``syneg evaluate``: score a TREC run file against a split's qrels (pytrec_eval metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.options import model_default
from syneg.config import EvaluateConfig

# Not generated (cli.fields): one --metrics takes the space- or comma-separated names after it; the help is the field's.
METRICS = EvaluateConfig.model_fields["metrics"]
MetricsOpt = Annotated[Optional[list[str]], typer.Option("--metrics", help=escape(
    f"{METRICS.description} Space- or comma-separated after one --metrics. "
    f"[default: {' '.join(model_default(EvaluateConfig, 'metrics'))}]"))]


def metric_names(given: list[str] | None, extra: list[str]) -> list[str]:
    """Metric names from ``--metrics`` values plus the bare words that followed them, each one checked
    (an unknown name fails before any data is read)."""
    from syneg.errors import SynegError
    from syneg.evaluation.metrics import parse_metrics

    if extra and not given:
        raise SynegError(f"unexpected argument {extra[0]!r} (metrics go after --metrics)")
    names = [part for item in [*(given or []), *extra] for part in item.replace(",", " ").split()]
    if given is None:
        return model_default(EvaluateConfig, "metrics")
    try:
        parse_metrics(names)
    except SynegError as exc:
        raise SynegError(f"--metrics: {exc}") from None
    return names


@app.command(context_settings={"allow_extra_args": True})
@data_options()
def evaluate(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option("--run", help="TREC run file: qid Q0 docid rank score tag.")],
    selection: DataSelection,
    metrics: MetricsOpt = None,
    keep_identical_ids: Annotated[
        bool,
        typer.Option(
            "--keep-identical-ids", help="Do not drop documents whose id equals the query id (BEIR drops them)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Only the JSON summary line (no table on stderr).")
    ] = False,
) -> None:
    """Evaluate a run over every query of the split (a query missing from the run scores 0; a run
    that shares no query with the split is an error).

    stdout: one JSON object, metric -> mean plus queries; the same as a table on stderr.
    """
    from syneg.evaluation import Evaluator, parse_metrics, read_run

    names = metric_names(metrics, list(ctx.args))
    parse_metrics(names)  # every input is checked before the data is loaded
    trec_run = read_run(run)
    evaluator = Evaluator(selection.load().qrels, names, ignore_identical_ids=not keep_identical_ids,
                          show_progress=True)
    result = evaluator.evaluate(trec_run)
    if not as_json:
        width = max(len(name) for name in result)
        for name, value in result.items():
            output.info(f"{name:<{width}}  {value if name == 'queries' else f'{value:.4f}'}")
    output.emit_json(result)
