"""``syneg mine``: hard negatives from BM25 or a dense retriever, with false-negative guards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg import layout
from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.fields import Fields, settings
from syneg.cli.options import DeviceOpt, OutOpt, ShardOpt
from syneg.config import EncodeConfig, MineConfig, TeacherConfig
from syneg.limits import MAX_BATCH_SIZE

OPTIONS = ("retriever", "model", "num_negatives", "top_k", "range_min", "range_max", "sampling", "absolute_margin",
           "relative_margin", "margin_reference", "max_score", "max_queries", "one_positive", "positive_choice",
           "max_seq_length")


@app.command()
@data_options()
@settings(config=Fields(MineConfig, "mine", OPTIONS),
          teacher=Fields(TeacherConfig, "teacher", ("model", "perc", "false_negatives"), {"model": "--teacher"}),
          encode=Fields(EncodeConfig, "encode", ("backend",), {"backend": "--encode-backend"}))
def mine(
    *,
    out: OutOpt = Path(layout.MINED),
    selection: DataSelection,
    config: MineConfig,
    teacher: TeacherConfig,
    encode: EncodeConfig,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, max=MAX_BATCH_SIZE, help="Encoding batch size; default 64 on CPU, 256 on CUDA.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Dense corpus-embedding cache (default: $SYNEG_CACHE_DIR or ~/.cache/syneg/embeddings).")] = None,
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
) -> None:
    """Mine hard negatives for every (query, positive) pair; writes OUT and OUT.stats.json beside it."""
    from syneg.hardware import encode_batch_size, resolve_device
    from syneg.mining import format_stats, mine as run_mine, write_mined
    from syneg.sharding import Shard

    device, part = resolve_device(device), Shard.parse(shard) if shard else None
    dataset = selection.load()
    instances, stats = run_mine(dataset, config, selection.seed, cache_dir=cache_dir, device=device, shard=part,
                                batch_size=batch_size or encode_batch_size(device), show_progress=True,
                                teacher=teacher, backend=encode.backend)
    stats_path = write_mined(instances, stats, out)
    output.info(format_stats(stats))
    output.info(f"wrote {len(instances):,} instances to {out} and statistics to {stats_path}")
    output.summary("mine", out=out, instances=len(instances), stats=stats_path)
