"""``syneg synthesize`` (LLM-written hard negatives) and ``syneg prompt --show``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, get_args

import typer

from syneg.cli.app import app
from syneg.cli.options import DataOpt, DevFractionOpt, OutOpt, SeedOpt, SplitOpt
from syneg.config import SynthesizeConfig


def _choices(name: str, field: str) -> type[Enum]:
    """An Enum of a config field's Literal values, so that typer lists and checks them."""
    values = get_args(SynthesizeConfig.model_fields[field].annotation)
    return Enum(name, {value: value for value in values}, type=str)


Backend, Mode = _choices("Backend", "backend"), _choices("Mode", "mode")
BackendOpt = Annotated[Optional[Backend], typer.Option("--backend", help="Chat backend; default llamacpp (offline).")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="GGUF path, served model name, or HF model folder.")]
ModeOpt = Annotated[Optional[Mode], typer.Option("--mode", help="grounded rewrites a mined negative; default: grounded with --mined, else free.")]
MinedOpt = Annotated[Optional[Path], typer.Option("--mined", help="mined.jsonl from `syneg mine` (MinedInstance lines).")]
ShowPositiveOpt = Annotated[Optional[bool], typer.Option("--show-positive/--hide-positive", help="Show the positive passage to the LLM.")]


def _config(**given):
    """A SynthesizeConfig from the options that were given (the rest keep their defaults)."""
    from pydantic import ValidationError

    from syneg.errors import SynegError

    given = {k: v.value if isinstance(v, Enum) else v for k, v in given.items()}
    if given.get("mode") is None:
        given["mode"] = "grounded" if given.pop("has_mined") else "free"
    given.pop("has_mined", None)
    try:
        return SynthesizeConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SynegError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _load(data, split, dev_fraction, seed, mined):
    from syneg.data import load_dataset
    from syneg.io import read_records
    from syneg.records import MinedInstance

    dataset = load_dataset(data, split, dev_fraction, seed)
    return dataset, (read_records(mined, MinedInstance) if mined is not None else None)


@app.command()
def synthesize(
    out: OutOpt,
    data: DataOpt = None,
    split: SplitOpt = "train",
    dev_fraction: DevFractionOpt = None,
    seed: SeedOpt = 0,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")] = None,
    api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", help="Environment variable with the API key.")] = None,
    per_query: Annotated[Optional[int], typer.Option("--per-query", min=1, help="Negatives per (query, positive).")] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", min=1, help="Calls in flight.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only the first N (query, positive) pairs.")] = None,
    mode: ModeOpt = None,
    mined: MinedOpt = None,
    show_positive: ShowPositiveOpt = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", min=16)] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", min=0.0)] = None,
    guard: Annotated[Optional[bool], typer.Option("--guard/--no-guard", help="Teacher-score band filter.")] = None,
    guard_margin: Annotated[Optional[float], typer.Option("--guard-margin")] = None,
    guard_floor: Annotated[Optional[float], typer.Option("--guard-floor")] = None,
    request_timeout: Annotated[Optional[float], typer.Option("--request-timeout", help="Seconds per HTTP request (openai backend).")] = None,
    max_attempts: Annotated[Optional[int], typer.Option("--max-attempts", help="Attempts per call on connection errors, timeouts, 429 and 5xx.")] = None,
    deadline: Annotated[Optional[float], typer.Option("--deadline", help="Seconds for all calls; those still pending then fail (transient).")] = None,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Cache file (default <out>.cache.sqlite).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Call again for items that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the calls and tokens a run would need.")] = False,
    export_batch: Annotated[Optional[Path], typer.Option("--export-batch", help="Write OpenAI batch requests instead of calling.")] = None,
    import_batch: Annotated[Optional[Path], typer.Option("--import-batch", help="Read OpenAI/vLLM batch results instead of calling.")] = None,
) -> None:
    """Write LLM-synthesized hard negatives (SyntheticNegative lines), cached and resumable."""
    from syneg import synthesis
    from syneg.synthesis import batch
    from syneg.synthesis.api import open_cache
    from syneg.synthesis.backends import get_backend

    config = _config(backend=backend, model=model, base_url=base_url, api_key_env=api_key_env, per_query=per_query,
                     concurrency=concurrency, limit=limit, mode=mode, has_mined=mined is not None,
                     show_positive=show_positive, max_tokens=max_tokens, temperature=temperature, guard=guard,
                     guard_margin=guard_margin, guard_floor=guard_floor, cache=str(cache) if cache else None,
                     request_timeout=request_timeout, max_attempts=max_attempts, deadline=deadline)
    dataset, mined_rows = _load(data, split, dev_fraction, seed, mined)
    if dry_run or export_batch is not None:
        items, _ = synthesis.plan(dataset, config, mined_rows, seed)
        with open_cache(config, out) as store:
            if dry_run:
                typer.echo(json.dumps(synthesis.estimate(items, store, config.max_tokens, retry_failed)))
                return
            served = config.model or get_backend(config.backend).model_id_for(None).split(":", 1)[1]
            count = batch.export_batch(items, store, export_batch, served)
        typer.echo(f"wrote {count} requests to {export_batch}")
        return
    stats = synthesis.synthesize(dataset, config, out, mined_rows, seed, retry_failed=retry_failed,
                                 import_from=import_batch)
    typer.echo(json.dumps({k: stats[k] for k in ("items", "kept", "pass_rate", "fail_rate", "drops")}))
    lines, failed = synthesis.failure_report(stats, out)
    if failed is not None:
        raise failed
    for line in lines:
        typer.echo(line, err=True)


@app.command()
def prompt(
    show: Annotated[bool, typer.Option("--show", help="Print the messages and sampled attributes of one call.")] = True,
    data: DataOpt = None,
    split: SplitOpt = "train",
    dev_fraction: DevFractionOpt = None,
    seed: SeedOpt = 0,
    mode: ModeOpt = None,
    mined: MinedOpt = None,
    show_positive: ShowPositiveOpt = None,
    index: Annotated[int, typer.Option("--index", min=0, help="Which planned call to show.")] = 0,
) -> None:
    """Show the prompt of one synthesis call (PROMPT_VERSION, attributes, messages)."""
    from syneg import synthesis

    config = _config(mode=mode, has_mined=mined is not None, show_positive=show_positive, limit=index + 1)
    dataset, mined_rows = _load(data, split, dev_fraction, seed, mined)
    items, _ = synthesis.plan(dataset, config, mined_rows, seed)
    if not show or not items:
        return
    item = items[min(index, len(items) - 1)]
    typer.echo(f"prompt_version: {synthesis.PROMPT_VERSION}")
    typer.echo(f"query_id: {item.pair.query_id}  positive_id: {item.pair.positive_id}  mode: {item.mode}")
    typer.echo("attributes: " + json.dumps(item.attributes))
    for message in item.messages:
        typer.echo(f"--- {message['role']} ---\n{message['content']}")
