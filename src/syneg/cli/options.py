"""Shared command options (``--out``, ``--device``, ``--shard``) and the helpers of options generated from
config fields (:mod:`syneg.cli.fields`): shown defaults, choices, and ``none`` for a nullable field."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path, PurePath
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel

from syneg.errors import SynegError

class _Null:
    """An option value that sets its field to None (``--relative-margin none``), unlike not giving it."""

    def __repr__(self) -> str:
        return "none"


NULL = _Null()


def model_default(model: type[BaseModel], name: str) -> Any:
    """The default of ``model``'s field ``name``."""
    return model.model_fields[name].get_default(call_default_factory=True)


def choice_enum(name: str, values: Iterable[str]) -> type[Enum]:
    """An Enum of ``values``, so that typer lists and checks them as choices."""
    return Enum(name, {value: value for value in values}, type=str)


def default_text(model: type[BaseModel], name: str, decls: tuple[str, ...] = ()) -> str | None:
    """How help shows the model default: the value, or for an on/off flag the flag that is on."""
    default = model_default(model, name)
    flags = next((d.split("/") for d in decls if "/" in d), None)
    if isinstance(default, bool) and flags:
        return flags[0 if default else 1].strip().lstrip("-")
    if default is None or default is False:
        return None
    return str(default)


def field_value(value: Any) -> Any:
    """An option value as the config field takes it: choices as their value, paths as text, NULL as None."""
    if value is NULL:
        return None
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, PurePath) else value


def check_out(value: Path | None) -> Path | None:
    """Refuse an ``--out`` that names an existing folder, or lies in a run directory another process is
    writing (its ``run.lock`` is held), before any work is done."""
    if value is not None and value.is_dir():
        raise SynegError(f"--out {value}: is a directory; expected a file path")
    if value is not None:
        check_run_dir_free(value.parent)
    return value


def check_run_dir_free(folder: Path) -> None:
    """SynegError naming the holder's PID when ``folder`` is a run directory another process holds."""
    from syneg.rundir import RunDir

    RunDir(folder).check_unlocked()


OutOpt = Annotated[Path, typer.Option("--out", callback=check_out, help="Output path (written atomically).")]


def check_device(value: str | None) -> str | None:
    """Refuse a ``--device`` that is not ``auto|cpu|cuda|cuda:N|mps`` (whether it is present is checked later)."""
    import re

    from syneg.hardware import DEVICE_CHOICES, DEVICE_PATTERN

    if value is not None and not re.fullmatch(DEVICE_PATTERN, value):
        raise typer.BadParameter(f"expected one of {DEVICE_CHOICES}, got {value!r}")
    return value


DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device", callback=check_device, metavar="auto|cpu|cuda|cuda:N|mps",
    help="Where models run: auto = CUDA, then MPS, then CPU. Several GPUs: encoding uses all visible ones.")]
ShardOpt = Annotated[Optional[str], typer.Option(
    "--shard", metavar="I/N", help="Do only block I of N (1-based) of the work; `syneg merge` joins the N outputs.")]
