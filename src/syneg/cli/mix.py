"""``syneg mix``: combine mined and synthetic negatives into training instances."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli.app import app
from syneg.cli.options import DataOpt, SeedOpt, SplitOpt, check_out, config_from_options


@app.command("mix")
def mix_command(
    mined: Annotated[Path, typer.Option("--mined", help="MinedInstance JSONL (syneg mine).")],
    out: Annotated[Path, typer.Option("--out", help="Output path (written atomically; a folder for hf-dataset).")],
    synthetic: Annotated[Optional[Path], typer.Option("--synthetic",
                                                      help="SyntheticNegative JSONL (syneg synthesize).")] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="hybrid | direct | synthetic | retrieved | random")] = "hybrid",
    ratio: Annotated[float, typer.Option("--ratio", help="synthetic : retrieved ratio R (hybrid, direct).")] = 0.7,
    num_negatives: Annotated[int, typer.Option("--num-negatives", "-k", help="Negatives per instance K.")] = 3,
    data: DataOpt = None,
    split: SplitOpt = "train",
    seed: SeedOpt = 0,
    epoch: Annotated[int, typer.Option("--epoch", help="Epoch number: each epoch draws its own negatives.")] = 0,
    fmt: Annotated[str, typer.Option(
        "--format", help="syneg | sentence-transformers | flagembedding | tevatron | hf-dataset")] = "syneg",
) -> None:
    """Give every (query, positive) its K negatives; writes OUT and OUT's .stats.json."""
    from syneg.config import MixConfig
    from syneg.errors import SynegError
    from syneg.io import read_records
    from syneg.layout import read_stats, stats_path, write_stats
    from syneg.mixing import FORMATS, STRATEGIES, export, get_strategy, mix
    from syneg.records import MinedInstance, SyntheticNegative

    if strategy not in STRATEGIES:
        raise SynegError(f"unknown --strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    if fmt not in FORMATS:
        raise SynegError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt != "hf-dataset":
        check_out(out)
    config = config_from_options(MixConfig, strategy=strategy, ratio=ratio, num_negatives=num_negatives)
    if get_strategy(strategy).uses_synthetic and synthetic is None:
        raise SynegError(f"--strategy {strategy} needs --synthetic")
    corpus = None
    if get_strategy(strategy).needs_corpus:
        from syneg.data import load_dataset

        corpus = load_dataset(data, split)
    records = read_records(mined, MinedInstance)
    synthetic_records = read_records(synthetic, SyntheticNegative) if synthetic is not None else []
    instances, stats = mix(records, synthetic_records, config.strategy, config.ratio, config.num_negatives, seed,
                           corpus, epoch)
    card = {"mix": stats, "mine": read_stats(mined), "synthesize": read_stats(synthetic)}
    written = export(instances, out, fmt, card)
    inputs = {"mined": str(mined), "synthetic": str(synthetic)}
    write_stats(out, {**stats, "export": written, "inputs": inputs})
    typer.echo(f"wrote {written['rows']} instances ({fmt}) to {out}: {stats['by_source']}, "
               f"filled {stats['filled']}, short {stats['short']}")
    if stats["empty"]:
        typer.echo(f"warning: {stats['empty']} instances had no negative and were left out "
                   f"(see {stats_path(out)}: empty_ids)", err=True)
