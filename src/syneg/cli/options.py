"""Options shared by several commands (same names and help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DataOpt = Annotated[
    Optional[Path],
    typer.Option("--data", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/); default: embedded SciFact slice."),
]
SplitOpt = Annotated[str, typer.Option("--split", help="qrels split to use (qrels/<split>.tsv).")]
DevFractionOpt = Annotated[
    Optional[float],
    typer.Option("--dev-fraction", help="Carve a seeded dev split from train: --split train = the rest, dev = the carved part."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every sampled choice (hashed per instance).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output path (written atomically).")]
