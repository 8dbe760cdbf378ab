"""Options shared by several commands (same names and help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from syneg.errors import SynegError

M = TypeVar("M", bound=BaseModel)


def check_out(value: Path | None) -> Path | None:
    """Refuse an ``--out`` that names an existing folder before any work is done."""
    if value is not None and value.is_dir():
        raise SynegError(f"--out {value}: is a directory; expected a file path")
    return value


def config_from_options(section: type[M], /, **values: Any) -> M:
    """Build a config section from command options; a bad value is an error naming its option."""
    try:
        return section(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SynegError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


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
OutOpt = Annotated[Path, typer.Option("--out", callback=check_out, help="Output path (written atomically).")]
