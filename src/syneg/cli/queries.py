"""``syneg generate-queries``: LLM-written training queries for corpus documents."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.calls import check_batch_flags, export_requests, finish, shown
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.fields import Fields, settings
from syneg.cli.options import DeviceOpt, OutOpt, ShardOpt
from syneg.config import EncodeConfig, QueriesConfig, SynthesizeConfig, TeacherConfig

if TYPE_CHECKING:
    from syneg.data import BeirDataset

OPTIONS = ("max_docs", "per_doc", "min_doc_words", "doc_words", "max_tokens", "round_trip_k")  # types: --set queries.types=[claim]
LLM_OPTIONS = ("backend", "model", "base_url", "server", "engine", "concurrency", "batch_size", "threads",
               "temperature", "request_timeout", "max_attempts", "deadline", "cache")


def load_corpus_split(selection: DataSelection) -> BeirDataset:
    """The selected split; a folder without its qrels (only a corpus) gives the corpus with no query."""
    from syneg.data import embedded_path, has_split, load_unlabelled

    folder = selection.data or embedded_path()
    carved_from = "train" if selection.dev_fraction is not None else selection.split
    if has_split(folder, carved_from):
        return selection.load()
    return load_unlabelled(folder, selection.split)


@app.command("generate-queries")
@data_options()
@settings(config=Fields(QueriesConfig, "queries", OPTIONS),
          llm=Fields(SynthesizeConfig, "synthesize", LLM_OPTIONS),
          teacher=Fields(TeacherConfig, "teacher", ("model",), {"model": "--teacher"}),
          encode=Fields(EncodeConfig, "encode", ("backend",), {"backend": "--encode-backend"}))
def generate_queries(
    out: OutOpt,
    selection: DataSelection,
    config: QueriesConfig,
    llm: SynthesizeConfig,
    teacher: TeacherConfig,
    encode: EncodeConfig,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Call again for items that failed before.")] = False,
    export_batch: Annotated[Optional[Path], typer.Option("--export-batch", help="Write OpenAI batch requests instead of calling.")] = None,
    import_batch: Annotated[Optional[list[Path]], typer.Option("--import-batch", help="Read OpenAI/vLLM batch output and error files instead of calling (repeat for several).")] = None,
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
) -> None:
    """Write LLM-generated training queries (GeneratedQuery lines): checked, round-trip filtered, cached and resumable."""
    from syneg import progress, queries
    from syneg.hardware import resolve_device
    from syneg.sharding import Shard
    from syneg.synthesis.api import open_cache, shard_items

    check_batch_flags(import_batch, export_batch)
    resolve_device(device)
    part = Shard.parse(shard) if shard else None
    dataset = load_corpus_split(selection)
    if export_batch is not None:
        items, model_id, _ = queries.plan(dataset, config, llm, selection.seed)
        items, _ = shard_items(items, part, model_id)
        with open_cache(llm, out) as store:
            export_requests("generate-queries", items, store, llm, export_batch)
        return
    stats = queries.generate_queries(dataset, config, llm, out, selection.seed, retry_failed=retry_failed,
                                     import_from=import_batch, progress=progress.enabled(), teacher=teacher,
                                     device=device, shard=part, encode_backend=encode.backend)
    output.summary("generate-queries", out=out, **shown(stats, "items", "kept", "pass_rate", "drops"))
    finish(queries.failure_report(stats, out))
