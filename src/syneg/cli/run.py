"""``syneg run``: mine, synthesize, mix, diagnose, train and evaluate in one run directory (or some of them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.config import SetOpt
from syneg.cli.options import DeviceOpt, choice_enum
from syneg.pipeline.stages import STAGE_NAMES

if TYPE_CHECKING:
    from syneg.pipeline import Pipeline, Stage

StageName = choice_enum("StageName", STAGE_NAMES)


def stage_list(value: str | None) -> list[str] | None:
    """``--stages mine,synthesize``: stage names, each one of ``STAGE_NAMES``."""
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in STAGE_NAMES]
    if unknown or not names:
        raise typer.BadParameter(f"unknown stage {unknown[0] if unknown else value!r} "
                                 f"(choose from {', '.join(STAGE_NAMES)})")
    return names


StagesOpt = Annotated[Optional[str], typer.Option(
    "--stages", callback=stage_list, metavar="STAGE,...",
    help=f"Run only these stages ({', '.join(STAGE_NAMES)}), in pipeline order; "
    "the stages they read must be complete in the run directory.")]
UntilOpt = Annotated[Optional[StageName], typer.Option(
    "--until", help="Run the pipeline up to and including this stage.")]


@app.command("run")
def run(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config; default: the embedded SciFact slice.")] = None,
    overrides: SetOpt = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Run directory (overrides run_dir).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="BEIR folder (overrides data.path); one with only corpus.jsonl trains on generated queries.")] = None,
    eval_data: Annotated[Optional[Path], typer.Option("--eval-data", help="BEIR folder to evaluate on (overrides data.eval_path): its qrels/<eval_split>.tsv.")] = None,
    stages: StagesOpt = None,
    until: UntilOpt = None,
    device: DeviceOpt = None,  # not given: the config's device (default auto)
) -> None:
    """Run the pipeline, resuming stages whose outputs are complete and unchanged.

    stdout: one JSON object; the metrics when evaluate ran, else the stages run and their outputs.
    """
    from syneg import progress
    from syneg.config import load_config
    from syneg.errors import SynegError
    from syneg.hardware import resolve_device
    from syneg.pipeline import Pipeline

    if stages is not None and until is not None:
        raise SynegError("give --stages or --until, not both")
    items = list(overrides or [])
    for key, value in (("run_dir", run_dir), ("data.path", data), ("data.eval_path", eval_data)):
        if value is not None:
            items.append(f"{key}={value}")
    if device is not None:
        items.append(f"device={device}")
    cfg = load_config(config, items)
    resolve_device(cfg.device)  # a missing GPU fails before the run directory is made
    pipeline = Pipeline(cfg, progress=progress.enabled(), log=output.info)
    ran = pipeline.run_stages(pipeline.until(until.value) if until is not None else stages)
    if ran and ran[-1].name == "evaluate":
        _metrics(pipeline, ran)
    else:
        _partial(pipeline, ran)


def _metrics(pipeline: Pipeline, ran: list[Stage]) -> None:
    """The metrics table (stderr) and summary of a run that evaluated."""
    import json

    from syneg import layout

    result: dict[str, Any] = json.loads(pipeline.run_dir.file(layout.METRICS).read_text(encoding="utf-8"))
    output.info(f"{'metric':>10}  {'zero-shot':>9}  {'trained':>9}  {'delta':>7}   "
                f"({result['split']}, {result['queries']} queries)")
    for name, value in result["trained"].items():
        if name != "queries":
            zero = result["zero_shot"].get(name, float("nan"))
            output.info(f"{name:>10}  {zero:9.4f}  {value:9.4f}  {value - zero:+7.4f}")
    output.info(f"run directory: {pipeline.run_dir.path}")
    output.summary("run", run_dir=pipeline.run_dir.path, stages=[s.name for s in ran], **result)


def _partial(pipeline: Pipeline, ran: list[Stage]) -> None:
    """What a run that stopped before evaluate ran, and where its outputs are."""
    outputs = {stage.name: pipeline.run_dir.file(stage.output) for stage in ran}
    why = "stopped before evaluate" if pipeline.config.data.can_evaluate() else "no labelled queries: evaluation skipped"
    output.info(f"ran {', '.join(outputs) or 'nothing'} ({why}); outputs in {pipeline.run_dir.path}:")
    for name, path in outputs.items():
        output.info(f"  {name:<10} {path}")
    output.summary("run", run_dir=pipeline.run_dir.path, stages=list(outputs), outputs=outputs)
