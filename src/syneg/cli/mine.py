"""``syneg mine``: hard negatives from BM25 or a dense retriever, with false-negative guards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli.app import app
from syneg.cli.options import DataOpt, DevFractionOpt, OutOpt, SeedOpt, SplitOpt, config_from_options
from syneg.config import MineConfig

DEFAULTS = MineConfig()


def _optional_float(value: str | float | None) -> float | None:
    """A float, or ``none``/``off`` to disable the filter."""
    if value is None or isinstance(value, float):
        return value
    if value.strip().lower() in {"none", "off"}:
        return None
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"expected a number or 'none', got {value!r}") from None


@app.command()
def mine(
    out: OutOpt = Path("mined.jsonl"),
    data: DataOpt = None,
    split: SplitOpt = "train",
    dev_fraction: DevFractionOpt = None,
    seed: SeedOpt = 0,
    retriever: Annotated[str, typer.Option(help="bm25 or dense.")] = DEFAULTS.retriever,
    model: Annotated[Optional[str], typer.Option(help="Dense model path; default: packaged MiniLM.")] = None,
    num_negatives: Annotated[int, typer.Option(help="Negatives per (query, positive).")] = DEFAULTS.num_negatives,
    top_k: Annotated[int, typer.Option(help="Candidates retrieved per query.")] = DEFAULTS.top_k,
    range_min: Annotated[int, typer.Option(help="Skip the best N non-positive candidates.")] = DEFAULTS.range_min,
    range_max: Annotated[Optional[int], typer.Option(help="Consider non-positive candidates up to this position (default: all of --top-k).")] = None,
    sampling: Annotated[str, typer.Option(help="top: the best survivors; random: a seeded sample of them.")] = DEFAULTS.sampling,
    absolute_margin: Annotated[Optional[float], typer.Option(help="Drop negatives scoring above positive - margin.")] = None,
    relative_margin: Annotated[Optional[float], typer.Option(
        parser=_optional_float, metavar="FLOAT|none",
        help="Drop negatives scoring above positive - |positive| x margin (NV-Retriever: 0.05).")] = DEFAULTS.relative_margin,
    margin_reference: Annotated[str, typer.Option(
        help="query_min: margins against the query's lowest positive (sentence-transformers); pair: each pair's own positive.")] = DEFAULTS.margin_reference,
    max_score: Annotated[Optional[float], typer.Option(help="Drop negatives scoring above this.")] = None,
    rescore_model: Annotated[Optional[str], typer.Option(help="Teacher bi-encoder or cross-encoder whose scores the margins use.")] = None,
    max_queries: Annotated[Optional[int], typer.Option(help="Mine a seeded subset of this many queries.")] = None,
    one_positive: Annotated[bool, typer.Option("--one-positive", help="One seeded positive per query instead of all.")] = False,
    max_seq_length: Annotated[Optional[int], typer.Option(help="Truncate texts for dense encoding / rescoring.")] = None,
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 64,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Dense corpus-embedding cache (default: $SYNEG_CACHE_DIR or ~/.cache/syneg/embeddings).")] = None,
) -> None:
    """Mine hard negatives for every (query, positive) pair; writes OUT and OUT.stats.json beside it."""
    from syneg.data import load_dataset
    from syneg.mining import format_stats, mine as run_mine, write_mined

    config = config_from_options(
        MineConfig, retriever=retriever, model=model, num_negatives=num_negatives, top_k=top_k, range_min=range_min,
        range_max=range_max, sampling=sampling, absolute_margin=absolute_margin, relative_margin=relative_margin,
        margin_reference=margin_reference, max_score=max_score, rescore_model=rescore_model, max_queries=max_queries,
        one_positive=one_positive, max_seq_length=max_seq_length,
    )
    dataset = load_dataset(data, split, dev_fraction, seed)
    instances, stats = run_mine(dataset, config, seed, cache_dir=cache_dir, batch_size=batch_size, show_progress=True)
    stats_path = write_mined(instances, stats, out)
    typer.echo(format_stats(stats))
    typer.echo(f"wrote {len(instances):,} instances to {out} and statistics to {stats_path}")
