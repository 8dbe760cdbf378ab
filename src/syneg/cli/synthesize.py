"""``syneg synthesize`` (LLM-written hard negatives) and ``syneg prompt --show``."""

from __future__ import annotations

import functools
import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.options import DeviceOpt, OutOpt, ShardOpt, build_section, choices, field_option
from syneg.config import SynthesizeConfig, TeacherConfig
from syneg.errors import DataError, SynegError

if TYPE_CHECKING:
    from syneg.data import BeirDataset
    from syneg.records import MinedInstance

Backend, Mode, Server, Engine = (choices(SynthesizeConfig, name) for name in ("backend", "mode", "server", "engine"))
_opt = functools.partial(field_option, SynthesizeConfig)

ModelOpt = Annotated[Optional[str], _opt("model", "--model", help="GGUF path, served model name, or HF model folder.")]
# Not a field option: the command line's default depends on --mined (the config's is always grounded).
ModeOpt = Annotated[Optional[Mode], typer.Option("--mode", help="grounded rewrites a mined negative; default: grounded with --mined, else free.")]
MinedOpt = Annotated[Optional[Path], typer.Option("--mined", help="mined.jsonl from `syneg mine` (MinedInstance lines).")]
ShowPositiveOpt = Annotated[Optional[bool], _opt("show_positive", "--show-positive/--hide-positive", help="Show the positive passage to the LLM.")]


def _section(mode: Enum | None, mined: Path | None, **given: Any) -> SynthesizeConfig:
    """The SynthesizeConfig of the given options; ``--mode`` defaults to grounded with ``--mined``, else free."""
    if mode is None:
        mode = "grounded" if mined is not None else "free"
    return build_section(SynthesizeConfig, mode=mode, **given)


def _load(selection: DataSelection, mined: Path | None, mode: str) -> tuple[BeirDataset, list[MinedInstance] | None]:
    """The selected split and the ``--mined`` instances (None without ``--mined``); a file without an
    instance, or (grounded ``mode``) without a mined negative, is an error naming it."""
    from syneg.io import read_records
    from syneg.records import MinedInstance

    if mined is None:
        return selection.load(), None
    rows = read_records(mined, MinedInstance)
    if not rows:
        raise DataError(mined, "holds no mined instance (empty or blank lines only): pass the output of syneg mine")
    if mode == "grounded" and not any(n.source != "synthetic" for m in rows for n in m.negatives):
        raise DataError(mined, f"none of its {len(rows):,} instances has a mined negative, and grounded mode "
                               "rewrites mined negatives: mine with looser filters, or use --mode free")
    return selection.load(), rows


@app.command()
@data_options()
def synthesize(
    out: OutOpt,
    selection: DataSelection,
    backend: Annotated[Optional[Backend], _opt("backend", "--backend", help="Chat backend (llamacpp runs offline).")] = None,
    model: ModelOpt = None,
    base_url: Annotated[Optional[str], _opt("base_url", "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")] = None,
    server: Annotated[Optional[Server], _opt("server", "--server", help="Request field names: openai (max_completion_tokens), vllm (repetition_penalty, structured_outputs), generic; auto = openai at api.openai.com.")] = None,
    engine: Annotated[Optional[Engine], _opt("engine", "--engine", help="Where calls run: local (this process) or ray (Ray actors; RAY_ADDRESS picks the cluster).")] = None,
    api_key_env: Annotated[Optional[str], _opt("api_key_env", "--api-key-env", help="Environment variable with the API key.")] = None,
    per_query: Annotated[Optional[int], _opt("per_query", "--per-query", help="Negatives per (query, positive).")] = None,
    concurrency: Annotated[Optional[int], _opt("concurrency", "--concurrency", help="Calls in flight (default: the backend's batch size, 4 for openai).")] = None,
    batch_size: Annotated[Optional[int], _opt("batch_size", "--batch-size", help="llamacpp/transformers: calls decoded together (1 = one at a time).")] = None,
    threads: Annotated[Optional[int], _opt("threads", "--threads", help="llamacpp/transformers CPU threads (default: every core).")] = None,
    limit: Annotated[Optional[int], _opt("limit", "--limit", help="Use only the first N (query, positive) pairs.")] = None,
    mode: ModeOpt = None,
    mined: MinedOpt = None,
    show_positive: ShowPositiveOpt = None,
    max_tokens: Annotated[Optional[int], _opt("max_tokens", "--max-tokens")] = None,
    max_words: Annotated[Optional[int], _opt("max_words", "--max-words", help="Cap on the passage length asked for, in words (raise --max-tokens with it).")] = None,
    temperature: Annotated[Optional[float], _opt("temperature", "--temperature")] = None,
    guard: Annotated[Optional[bool], _opt("guard", "--guard/--no-guard", help="Teacher-score band filter.")] = None,
    guard_margin: Annotated[Optional[float], _opt("guard_margin", "--guard-margin")] = None,
    guard_floor: Annotated[Optional[float], _opt("guard_floor", "--guard-floor")] = None,
    teacher: Annotated[Optional[str], field_option(TeacherConfig, "model", "--teacher", help="The guard's scorer "
        "(mpnet, embeddinggemma or a bi-/cross-encoder path); default: the packaged MiniLM.")] = None,
    request_timeout: Annotated[Optional[float], _opt("request_timeout", "--request-timeout", help="Seconds per HTTP request (openai backend).")] = None,
    max_attempts: Annotated[Optional[int], _opt("max_attempts", "--max-attempts", help="Attempts per call on connection errors, timeouts, 429 and 5xx.")] = None,
    deadline: Annotated[Optional[float], _opt("deadline", "--deadline", help="Seconds for all calls; those still pending then fail (transient).")] = None,
    cache: Annotated[Optional[Path], _opt("cache", "--cache", help="Cache file (default <out>.cache.sqlite).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Call again for items that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the calls and tokens a run would need.")] = False,
    export_batch: Annotated[Optional[Path], typer.Option("--export-batch", help="Write OpenAI batch requests instead of calling (split into FILE.1, FILE.2, ... past 50,000 requests or 200 MB).")] = None,
    import_batch: Annotated[Optional[list[Path]], typer.Option("--import-batch", help="Read OpenAI/vLLM batch output and error files instead of calling (repeat for several).")] = None,
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
) -> None:
    """Write LLM-synthesized hard negatives (SyntheticNegative lines), cached and resumable."""
    from syneg import progress, synthesis
    from syneg.synthesis import batch
    from syneg.synthesis.api import open_cache, shard_items
    from syneg.hardware import resolve_device
    from syneg.sharding import Shard
    from syneg.synthesis.backends import get_backend
    from syneg.synthesis.backends.wire import server_for

    if import_batch and (export_batch is not None or dry_run):
        other = "--export-batch" if export_batch is not None else "--dry-run"
        raise SynegError(f"--import-batch cannot be combined with {other}: export the requests, run the batch, "
                         "then import its results in a separate command")
    config = _section(mode, mined, backend=backend, model=model, base_url=base_url, server=server, engine=engine,
                      api_key_env=api_key_env, per_query=per_query, concurrency=concurrency, batch_size=batch_size,
                      threads=threads, limit=limit, show_positive=show_positive,
                      max_tokens=max_tokens, max_words=max_words, temperature=temperature, guard=guard, guard_margin=guard_margin,
                      guard_floor=guard_floor, cache=cache, request_timeout=request_timeout,
                      max_attempts=max_attempts, deadline=deadline)
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
            served = config.model or get_backend(config.backend).model_id_for(None).split(":", 1)[1]
            files = batch.export_batch(items, store, export_batch, served, server=server_for(config.server, config.base_url))
        output.info(f"wrote {sum(files.values())} requests to {', '.join(map(str, files))}")
        output.summary("synthesize", export_batch=list(files), requests=sum(files.values()))
        return
    stats = synthesis.synthesize(dataset, config, out, mined_rows, seed, retry_failed=retry_failed,
                                 import_from=import_batch, progress=progress.enabled(), device=device, shard=part,
                                 teacher=build_section(TeacherConfig, model=teacher))
    shown = {k: stats[k] for k in ("items", "kept", "pass_rate", "fail_rate", "drops")}
    output.summary("synthesize", out=out, **shown)
    lines, failed = synthesis.failure_report(stats, out)
    if failed is not None:
        raise failed
    for line in lines:
        typer.echo(line, err=True)


@app.command()
@data_options()
def prompt(
    *,
    show: Annotated[bool, typer.Option("--show", help="Print the messages and sampled attributes of one call.")] = True,
    selection: DataSelection,
    mode: ModeOpt = None,
    mined: MinedOpt = None,
    show_positive: ShowPositiveOpt = None,
    index: Annotated[int, typer.Option("--index", min=0, help="Which planned call to show.")] = 0,
) -> None:
    """Show the prompt of one synthesis call (PROMPT_VERSION, attributes, messages).

    stdout is the prompt itself (no JSON summary line).
    """
    from syneg import synthesis

    config = _section(mode, mined, show_positive=show_positive, limit=index + 1)
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
