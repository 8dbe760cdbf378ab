"""The ``--data/--split/--dev-fraction/--seed`` group shared by the commands that read a BEIR split."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from syneg.cli.options import model_default
from syneg.config import DataConfig, RunConfig
from syneg.limits import MAX_SEED

if TYPE_CHECKING:
    from syneg.data import BeirDataset

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

DataOpt = Annotated[
    Optional[Path],
    typer.Option("--data", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/); default: embedded SciFact slice."),
]
SplitOpt = Annotated[str, typer.Option("--split", help="qrels split to use (qrels/<split>.tsv).")]
DevFractionOpt = Annotated[
    Optional[float],
    typer.Option("--dev-fraction", help="Carve a seeded dev split from train: --split train = the rest, dev = the carved part."),
]


def check_seed(value: int) -> int:
    """Refuse a seed outside 0..MAX_SEED (numpy and torch take no other)."""
    if not 0 <= value <= MAX_SEED:
        raise typer.BadParameter(f"expected 0 to {MAX_SEED}, got {value}")
    return value


SeedOpt = Annotated[int, typer.Option("--seed", callback=check_seed,
                                       help="Seed for every sampled choice (hashed per instance).")]

OPTIONS: dict[str, Any] = {"data": DataOpt, "split": SplitOpt, "dev_fraction": DevFractionOpt, "seed": SeedOpt}


@dataclasses.dataclass(frozen=True)
class DataSelection:
    """The queries a command reads: a BEIR folder (None = embedded slice), a split, a carved dev fraction, a seed."""

    data: Path | None = model_default(DataConfig, "path")
    split: str = model_default(DataConfig, "train_split")
    dev_fraction: float | None = None  # carve only when asked (a run's DataConfig carves 0.3)
    seed: int = model_default(RunConfig, "seed")

    def load(self) -> BeirDataset:
        """The selected split (see :func:`syneg.data.load_dataset`)."""
        from syneg.data import load_dataset

        log.debug("loading split %s of %s (dev fraction %s, seed %s)", self.split, self.data or "the embedded slice",
                  self.dev_fraction, self.seed)
        return load_dataset(self.data, self.split, self.dev_fraction, self.seed)


def _group(dev_fraction: bool) -> list[inspect.Parameter]:
    """The group's parameters, typer options with DataSelection's defaults."""
    return [
        inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                          annotation=OPTIONS[field.name])
        for field in dataclasses.fields(DataSelection)
        if dev_fraction or field.name != "dev_fraction"
    ]


def data_options(*, dev_fraction: bool = True) -> Callable[[F], F]:
    """Put the data options where a command has its ``DataSelection`` parameter, and pass it one value.

    ``dev_fraction=False`` leaves ``--dev-fraction`` out (the selection then carves nothing).
    """

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        target = next(p.name for p in signature.parameters.values() if p.annotation is DataSelection)
        group = _group(dev_fraction)
        params = [new for p in signature.parameters.values()
                  for new in (group if p.name == target else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)])]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            selection = DataSelection(**{p.name: kwargs.pop(p.name) for p in group})
            return command(**kwargs, **{target: selection})

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate
