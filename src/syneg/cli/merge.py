"""``syneg merge``: join the outputs of ``--shard I/N`` runs into the output of one unsharded run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.options import OutOpt


@app.command()
def merge(
    shards: Annotated[list[Path], typer.Argument(help="The N shard outputs (any order), each with its .stats.json.")],
    out: OutOpt,
) -> None:
    """Concatenate shard outputs in shard order: byte for byte the unsharded output; writes OUT.stats.json."""
    from syneg.sharding import merge_shards

    stats = merge_shards(shards, out)
    output.info(f"merged {len(shards)} shards into {out}")
    output.summary("merge", out=out, shards=len(shards), plan=stats["merged"]["plan"])
