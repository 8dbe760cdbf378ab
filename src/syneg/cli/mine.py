"""``syneg mine``: hard negatives from BM25 or a dense retriever, with false-negative guards."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg import layout
from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.options import DeviceOpt, OutOpt, ShardOpt, build_section, choices, field_option, nullable_float
from syneg.config import EncodeConfig, MineConfig, TeacherConfig
from syneg.limits import MAX_BATCH_SIZE

Retriever, Sampling = choices(MineConfig, "retriever"), choices(MineConfig, "sampling")
MarginReference = choices(MineConfig, "margin_reference")
_opt = functools.partial(field_option, MineConfig)
_teacher = functools.partial(field_option, TeacherConfig)
FalseNegatives, PositiveChoice = choices(TeacherConfig, "false_negatives"), choices(MineConfig, "positive_choice")
EncodeBackend = choices(EncodeConfig, "backend")


@app.command()
@data_options()
def mine(
    *,
    out: OutOpt = Path(layout.MINED),
    selection: DataSelection,
    retriever: Annotated[Optional[Retriever], _opt("retriever", help="Candidate retriever.")] = None,
    model: Annotated[Optional[str], _opt("model", help="Dense model path; default: packaged MiniLM.")] = None,
    num_negatives: Annotated[Optional[int], _opt("num_negatives", help="Negatives per (query, positive).")] = None,
    top_k: Annotated[Optional[int], _opt("top_k", help="Candidates retrieved per query.")] = None,
    range_min: Annotated[Optional[int], _opt("range_min", help="Skip the best N non-positive candidates.")] = None,
    range_max: Annotated[Optional[int], _opt(
        "range_max", help="Consider non-positive candidates up to this position (default: all of --top-k).")] = None,
    sampling: Annotated[Optional[Sampling], _opt(
        "sampling", help="top: the best survivors; random: a seeded sample of them.")] = None,
    absolute_margin: Annotated[Optional[float], _opt(
        "absolute_margin", help="Drop negatives scoring above positive - margin.")] = None,
    relative_margin: Annotated[Optional[float], _opt(
        "relative_margin", parser=nullable_float, metavar="FLOAT|none",
        help="Drop negatives scoring above positive - |positive| x margin (NV-Retriever: 0.05).")] = None,
    margin_reference: Annotated[Optional[MarginReference], _opt(
        "margin_reference", help="query_min: margins against the query's lowest positive (sentence-transformers); "
        "pair: each pair's own positive.")] = None,
    max_score: Annotated[Optional[float], _opt("max_score", help="Drop negatives scoring above this.")] = None,
    rescore_model: Annotated[Optional[str], _opt(
        "rescore_model", help="Teacher bi-encoder or cross-encoder whose scores the margins use.")] = None,
    max_queries: Annotated[Optional[int], _opt(
        "max_queries", help="Mine a seeded subset of this many queries.")] = None,
    one_positive: Annotated[Optional[bool], _opt(
        "one_positive", "--one-positive", help="One seeded positive per query instead of all.")] = None,
    max_seq_length: Annotated[Optional[int], _opt(
        "max_seq_length", help="Truncate texts for dense encoding / rescoring.")] = None,
    positive_choice: Annotated[Optional[PositiveChoice], _opt(
        "positive_choice", help="With --one-positive: random (seeded) or graded (top grade, then teacher score).")] = None,
    teacher: Annotated[Optional[str], _teacher(
        "model", "--teacher", help="Teacher (mpnet, embeddinggemma or a model path): rescores unless "
        "--rescore-model, and flags false negatives.")] = None,
    perc: Annotated[Optional[float], _teacher(
        "perc", "--perc", help="False negative: teacher score >= perc x the positive's.")] = None,
    false_negatives: Annotated[Optional[FalseNegatives], _teacher(
        "false_negatives", "--false-negatives", help="drop them, or relabel them as extra positives.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, max=MAX_BATCH_SIZE, help="Encoding batch size; default 64 on CPU, 256 on CUDA.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Dense corpus-embedding cache (default: $SYNEG_CACHE_DIR or ~/.cache/syneg/embeddings).")] = None,
    encode_backend: Annotated[EncodeBackend, typer.Option(
        "--encode-backend", help="Dense retrieval encoding (encode.backend): reference = sentence-transformers, fp32; "
        "bf16/fp16 autocast; fused bf16 CPU kernels.")] = "reference",
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
) -> None:
    """Mine hard negatives for every (query, positive) pair; writes OUT and OUT.stats.json beside it."""
    from syneg.hardware import encode_batch_size, resolve_device
    from syneg.mining import format_stats, mine as run_mine, write_mined
    from syneg.sharding import Shard

    config = build_section(
        MineConfig, retriever=retriever, model=model, num_negatives=num_negatives, top_k=top_k, range_min=range_min,
        range_max=range_max, sampling=sampling, absolute_margin=absolute_margin, relative_margin=relative_margin,
        margin_reference=margin_reference, max_score=max_score, rescore_model=rescore_model, max_queries=max_queries,
        one_positive=one_positive, max_seq_length=max_seq_length, positive_choice=positive_choice,
    )
    teacher_config = build_section(TeacherConfig, model=teacher, perc=perc, false_negatives=false_negatives)
    device, part = resolve_device(device), Shard.parse(shard) if shard else None
    dataset = selection.load()
    instances, stats = run_mine(dataset, config, selection.seed, cache_dir=cache_dir, device=device, shard=part,
                                batch_size=batch_size or encode_batch_size(device), show_progress=True,
                                teacher=teacher_config, backend=EncodeBackend(encode_backend).value)
    stats_path = write_mined(instances, stats, out)
    output.info(format_stats(stats))
    output.info(f"wrote {len(instances):,} instances to {out} and statistics to {stats_path}")
    output.summary("mine", out=out, instances=len(instances), stats=stats_path)
