"""An experiment config: a base run config plus the grid of cells to train and compare."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from syneg.config import MineConfig, RunConfig, Seed, Section, load_config, set_key, validate
from syneg.errors import DataError, SynegError
from syneg.hardware import resolve_device
from syneg.limits import MAX_GRID_VALUES, MAX_RATIO, MAX_TRAIN_SCALE
from syneg.mixing.registry import STRATEGIES, get_strategy


def _baselines() -> dict[str, dict[str, Any]]:
    """Each experiment baseline's overrides: one per strategy, or one per mining retriever."""
    retrievers = get_args(MineConfig.model_fields["retriever"].annotation)
    table: dict[str, dict[str, Any]] = {}
    for strategy in map(get_strategy, STRATEGIES):
        if strategy.per_retriever:
            table.update({r: {"mine.retriever": r, "mix.strategy": strategy.name} for r in retrievers})
        else:
            table[strategy.name] = {"mix.strategy": strategy.name}
    return table


BASELINES = _baselines()
ZERO_SHOT = "zero-shot"  # the label of the untrained model's row
CELL_OWNED = ("seed", "run_dir")  # set per cell by the grid (experiment.seeds, the cell folder), not by overrides
SHARED_STAGES = ("queries", "mine", "synthesize")  # stages (and their config sections, whose seed cells pin) cells share
Baseline = Literal[tuple(BASELINES)]  # type: ignore[valid-type]


class GridConfig(Section):
    seeds: list[Seed] = Field(default=[0], min_length=1, max_length=MAX_GRID_VALUES)
    baselines: list[Baseline] = list(BASELINES)
    ratios: Annotated[list[Annotated[float, Field(ge=0, le=MAX_RATIO, allow_inf_nan=False)]],
                      Field(max_length=MAX_GRID_VALUES)] = []  # extra hybrid cells: synthetic:retrieved ratios besides mix.ratio
    temperatures: Annotated[list[Annotated[float, Field(gt=0, le=MAX_TRAIN_SCALE, allow_inf_nan=False)]],
                            Field(max_length=MAX_GRID_VALUES)] = []  # extra hybrid cells: InfoNCE temperatures besides train.temperature
    cells: dict[str, dict[str, Any]] = {}  # extra cells: label -> overrides of the base config (e.g. train.loss)
    keep_models: bool = False  # keep each cell's trained model folder (about 90 MB for MiniLM)


class ExperimentConfig(RunConfig):
    """``run_dir`` is the experiment folder; each cell gets ``cells/<name>/seed-<s>`` inside it."""

    run_dir: str = "runs/experiment"
    experiment: GridConfig = Field(default_factory=GridConfig)


@dataclass(frozen=True)
class Cell:
    """One trained configuration of the grid, for one seed."""

    group: str  # display name, shared by the seeds of a cell
    slug: str  # folder name
    seed: int
    overrides: dict[str, Any]


def baseline_overrides(baseline: str, retriever: str) -> dict[str, Any]:
    """Config changes that turn the base config into ``baseline``."""
    return {"mine.retriever": retriever, **BASELINES[baseline]}


def expand(config: ExperimentConfig) -> list[Cell]:
    """Every cell of the grid, seed-major, baselines first, then the R and tau sweeps."""
    grid, retriever = config.experiment, config.mine.retriever
    specs: list[tuple[str, str, dict[str, Any]]] = []
    for name in grid.baselines:
        uses_ratio = get_strategy(BASELINES[name]["mix.strategy"]).uses_ratio
        label = f"{name} (R={config.mix.ratio:g})" if uses_ratio else name
        specs.append((label, name, baseline_overrides(name, retriever)))
    hybrid = baseline_overrides("hybrid", retriever)
    for ratio in grid.ratios:
        specs.append((f"hybrid (R={ratio:g})", f"hybrid-r{ratio:g}", {**hybrid, "mix.ratio": ratio}))
    for tau in grid.temperatures:
        specs.append((f"hybrid (tau={tau:g})", f"hybrid-tau{tau:g}", {**hybrid, "train.temperature": tau}))
    for label, overrides in grid.cells.items():
        specs.append((label, slugify(label), {"mine.retriever": retriever, **overrides}))
    _distinct(specs)
    return [Cell(group, slug, seed, overrides) for seed in grid.seeds for group, slug, overrides in specs]


def _distinct(specs: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Refuse two cells with one label (their rows would merge) or one folder (one would overwrite the other)."""
    labels: dict[str, str] = {ZERO_SHOT: ZERO_SHOT}
    slugs: dict[str, str] = {}
    for label, slug, _ in specs:
        if not label.strip():
            raise SynegError("experiment.cells: a cell label is empty")
        if not label.isprintable() or "|" in label:  # it becomes a table row in results.md and a line on stderr
            raise SynegError(f"experiment.cells: the cell label {label[:80]!r} has a control character, a line break "
                             "or '|'; use printable text")
        if label in labels:
            raise SynegError(f"experiment: two cells are labelled {label!r} (their rows would merge); "
                             "rename one or drop the repeat")
        if slug in slugs:
            raise SynegError(f"experiment: cells {slugs[slug]!r} and {label!r} both map to the folder "
                             f"cells/{slug} (one would overwrite the other); rename one")
        labels[label], slugs[slug] = label, label


def slugify(label: str) -> str:
    """A folder name for a cell label: lower case, runs of other characters as one ``-`` (never ``.`` or ``..``)."""
    return re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-.") or "cell"


def cell_dir(config: ExperimentConfig, cell: Cell) -> Path:
    """The run directory of one cell: ``<experiment>/cells/<slug>/seed-<seed>``."""
    return Path(config.run_dir) / "cells" / cell.slug / f"seed-{cell.seed}"


def cell_config(config: ExperimentConfig, cell: Cell, source: str | Path = "<config>") -> RunConfig:
    """The run config of one cell: mining and synthesis stay on the base seed, so every seed of a cell trains
    on the same mined and synthetic pools (and cells share them; see ``runner.reuse_shared_stages``).

    Override values are set as the YAML gave them. A bad key or value is a DataError naming ``source``
    (the experiment file), the cell's label and the key.
    """
    raw = config.model_dump(mode="json", exclude={"experiment"})
    context = f"experiment cell {cell.group!r}: "
    for key, value in cell.overrides.items():
        if key.strip() in CELL_OWNED:
            raise DataError(source, f"{context}{key}: set by the grid (experiment.seeds, the cell folder), "
                                    "not per cell")
        try:
            set_key(raw, key, value)
        except SynegError as exc:
            raise DataError(source, f"{context}{exc}") from None
    raw["seed"] = cell.seed
    raw["run_dir"] = str(cell_dir(config, cell))
    for section in SHARED_STAGES:  # seeds vary mixing and training; the query and negative pools are shared
        if isinstance(raw.get(section), dict) and raw[section].get("seed") is None:
            raw[section]["seed"] = config.seed
    if isinstance(raw.get("synthesize"), dict) and not raw["synthesize"].get("cache"):
        raw["synthesize"]["cache"] = str(Path(config.run_dir) / "synthesis-cache.sqlite")
    return validate(RunConfig, raw, source, context)


def check_cells(config: ExperimentConfig, source: str | Path = "<config>") -> list[Cell]:
    """Every cell of the grid, each one's full run config validated before any work (errors name ``source``)."""
    try:
        cells = expand(config)
    except SynegError as exc:
        raise DataError(source, str(exc)) from None
    seeds = config.experiment.seeds
    if len(set(seeds)) < len(seeds):
        raise DataError(source, f"experiment.seeds: {seeds} repeats a seed")
    for cell in cells:
        run = cell_config(config, cell, source)
        try:
            run.check_model_paths(synthesis=get_strategy(run.mix.strategy).uses_synthetic)
            resolve_device(run.device)  # a missing GPU fails now, not when the cell's turn comes
        except SynegError as exc:
            raise DataError(source, f"experiment cell {cell.group!r}: {exc}") from None
        if len(seeds) > 1 and run.data.depends_on_run_seed():
            raise DataError(source, f"experiment cell {cell.group!r}: data.split_seed: with several seeds and "
                                    "data.dev_fraction set, every seed would evaluate a different dev split; "
                                    "set data.split_seed (e.g. 0)")
    return cells


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML (a run config plus an ``experiment:`` section) and check every cell."""
    config = load_config(path, overrides, ExperimentConfig)
    check_cells(config, path)
    return config
