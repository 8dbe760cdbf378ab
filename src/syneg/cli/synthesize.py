"""``syneg synthesize`` (LLM-written hard negatives) and ``syneg prompt --show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.calls import check_batch_flags, export_requests, finish, shown
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.fields import Fields, settings
from syneg.cli.options import DeviceOpt, OutOpt, ShardOpt
from syneg.config import EncodeConfig, SynthesizeConfig, TeacherConfig
from syneg.errors import DataError
from syneg.synthesis.modes import SOURCED

if TYPE_CHECKING:
    from syneg.data import BeirDataset
    from syneg.records import MinedInstance

OPTIONS = ("backend", "model", "base_url", "server", "engine", "per_query", "concurrency", "batch_size", "threads",
           "limit", "mode", "show_positive", "max_tokens", "max_words", "temperature", "guard", "request_timeout",
           "max_attempts", "deadline", "cache")
PROMPT_OPTIONS = ("mode", "show_positive")
SHOW_POSITIVE = {"show_positive": ("--show-positive/--hide-positive",)}
MinedOpt = Annotated[Optional[Path], typer.Option("--mined", help="mined.jsonl from `syneg mine` (MinedInstance lines).")]


def _mode(config: SynthesizeConfig, mined: Path | None) -> SynthesizeConfig:
    """``config``, in free mode when neither ``--mined`` nor a mode was given (continue and grounded need mined
    negatives)."""
    if mined is None and "mode" not in config.model_fields_set:
        return config.model_copy(update={"mode": "free"})
    return config


def _load(selection: DataSelection, mined: Path | None, mode: str) -> tuple[BeirDataset, list[MinedInstance] | None]:
    """The selected split and the ``--mined`` instances (None without ``--mined``); a file without an
    instance, or (grounded or continue ``mode``) without a mined negative, is an error naming it."""
    from syneg.io import read_records
    from syneg.records import MinedInstance

    if mined is None:
        return selection.load(), None
    rows = read_records(mined, MinedInstance)
    if not rows:
        raise DataError(mined, "holds no mined instance (empty or blank lines only): pass the output of syneg mine")
    if mode in SOURCED and not any(n.source != "synthetic" for m in rows for n in m.negatives):
        raise DataError(mined, f"none of its {len(rows):,} instances has a mined negative, and {mode} mode "
                               "starts from mined negatives: mine with looser filters, or use --mode free")
    return selection.load(), rows


@app.command()
@data_options()
@settings(config=Fields(SynthesizeConfig, "synthesize", OPTIONS, SHOW_POSITIVE),
          teacher=Fields(TeacherConfig, "teacher", ("model",), {"model": "--teacher"}),
          encode=Fields(EncodeConfig, "encode", ("backend",), {"backend": "--encode-backend"}))
def synthesize(
    out: OutOpt,
    selection: DataSelection,
    config: SynthesizeConfig,
    teacher: TeacherConfig,
    encode: EncodeConfig,
    mined: MinedOpt = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Call again for items that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the calls and tokens a run would need.")] = False,
    export_batch: Annotated[Optional[Path], typer.Option("--export-batch", help="Write OpenAI batch requests instead of calling (split into FILE.1, FILE.2, ... past 50,000 requests or 200 MB).")] = None,
    import_batch: Annotated[Optional[list[Path]], typer.Option("--import-batch", help="Read OpenAI/vLLM batch output and error files instead of calling (repeat for several).")] = None,
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
) -> None:
    """Write LLM-synthesized hard negatives (SyntheticNegative lines), cached and resumable."""
    from syneg import progress, synthesis
    from syneg.synthesis.api import open_cache, shard_items
    from syneg.hardware import resolve_device
    from syneg.sharding import Shard

    check_batch_flags(import_batch, export_batch, dry_run)
    config = _mode(config, mined)
    resolve_device(device)  # a missing GPU fails before any call
    part = Shard.parse(shard) if shard else None
    dataset, mined_rows = _load(selection, mined, config.mode)
    seed = selection.seed
    if dry_run or export_batch is not None:
        items, model_id = synthesis.plan(dataset, config, mined_rows, seed)
        items, _ = shard_items(items, part, model_id)
        with open_cache(config, out, read_only=dry_run) as store:
            if dry_run:
                estimate = synthesis.estimate(items, store, config, model_id, retry_failed)
                output.info(_wall_time(estimate))
                output.summary("synthesize", dry_run=True, **estimate)
                return
            export_requests("synthesize", items, store, config, export_batch)
        return
    stats = synthesis.synthesize(dataset, config, out, mined_rows, seed, retry_failed=retry_failed,
                                 import_from=import_batch, progress=progress.enabled(), device=device, shard=part,
                                 teacher=teacher, encode_backend=encode.backend)
    output.summary("synthesize", out=out, **shown(stats, "items", "kept", "pass_rate", "fail_rate", "drops"))
    finish(synthesis.failure_report(stats, out))


@app.command()
@data_options()
@settings(config=Fields(SynthesizeConfig, "synthesize", PROMPT_OPTIONS, SHOW_POSITIVE))
def prompt(
    *,
    show: Annotated[bool, typer.Option("--show", help="Print the messages and sampled attributes of one call.")] = True,
    selection: DataSelection,
    config: SynthesizeConfig,
    mined: MinedOpt = None,
    index: Annotated[int, typer.Option("--index", min=0, help="Which planned call to show.")] = 0,
) -> None:
    """Show the prompt of one synthesis call (PROMPT_VERSION, attributes, messages).

    stdout is the prompt itself (no JSON summary line).
    """
    from syneg import synthesis

    config = _mode(config, mined).model_copy(update={"limit": index + 1})
    dataset, mined_rows = _load(selection, mined, config.mode)
    items, _ = synthesis.plan(dataset, config, mined_rows, selection.seed)
    if not show or not items:
        return
    item = items[min(index, len(items) - 1)]
    typer.echo(f"prompt_version: {synthesis.PROMPT_VERSION}")
    typer.echo(f"query_id: {item.pair.query_id}  positive_id: {item.pair.positive_id}  mode: {item.mode}")
    typer.echo("attributes: " + json.dumps(item.attributes))
    for message in item.messages:
        typer.echo(f"--- {message['role']} ---\n{message['content']}")


def _wall_time(estimate: dict) -> str:
    """The dry run's human line: calls to make and, when a rate was measured here before, the wall time."""
    head = f"{estimate['calls']} calls to make ({estimate['cached']} of {estimate['items']} items cached)"
    if not estimate["calls"]:
        return head
    if estimate["wall_s_est"] is None:
        return f"{head}; wall time unknown: no run with these settings measured on this machine yet"
    return (f"{head}; about {estimate['wall_s_est'] / 60:.1f} min at {estimate['measured_calls_per_s']:.3f} calls/s "
            "(measured here with the same model and settings)")
