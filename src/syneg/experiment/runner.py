"""Run every cell of an experiment (resuming finished cells) and write the comparison."""

from __future__ import annotations

import platform
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from syneg import layout, progress
from syneg.errors import SynegError
from syneg.evaluation import evaluate_model
from syneg.evaluation.metrics import PER_QUERY_METRIC
from syneg.experiment.grid import SHARED_STAGES, Cell, ExperimentConfig, cell_config, check_cells
from syneg.experiment.results import CellResult
from syneg.experiment.summary import write_results
from syneg.hardware import available_cores
from syneg.pipeline import Pipeline
from syneg.redact import redact
from syneg.report.markup import bounded, numbers
from syneg.report.runfiles import RunFiles
from syneg.rundir import RunDir


def run_cell(config: ExperimentConfig, cell: Cell, log: Callable[[str], None]) -> tuple[CellResult, bool]:
    """Train and evaluate one cell (with progress bars), or read it back if it finished from the same stage
    keys; also whether it ran (False: read back)."""
    cfg = cell_config(config, cell)
    pipeline = Pipeline(cfg, log=lambda line: log(f"{cell.slug}/seed-{cell.seed} {line}"))
    run = pipeline.run_dir
    with pipeline.locked():
        ran = not pipeline.is_current()
        if ran:
            reuse_shared_stages(pipeline, Path(config.run_dir) / "cells", cell.seed, log)
            pipeline.run()
            model = run.file(layout.MODEL)
            for name in layout.TRAINING_FILES:
                if (model / name).exists():
                    shutil.copy2(model / name, run.file(name))
            if not config.experiment.keep_models:
                shutil.rmtree(model, ignore_errors=True)
        return read_cell(cell, run.path), ran


def reuse_shared_stages(pipeline: Pipeline, cells: Path, seed: int, log: Callable[[str], None]) -> None:
    """Copy each shared stage's output, side files and done marker from another cell that finished it
    from the same key (same settings, stage seed and inputs; the same seed's cells first), so that mining
    (teacher rescoring included) and the synthesis guard run once per experiment, not once per cell.
    A cell whose files are not all plain files of its own (links, devices, folders) is not copied from."""
    for stage in pipeline.active_stages():
        if stage.name not in SHARED_STAGES or pipeline.is_complete(stage):
            continue
        key = pipeline.stage_key(stage)
        for other in sorted(cells.glob("*/seed-*"), key=lambda path: (path.name != f"seed-{seed}", path)):
            source, marker = RunDir(other), layout.marker_path(other, stage.name)
            items = [marker, *other.glob(f"{stage.output}*")]
            if other == pipeline.run_dir.path or not all(_plain_file(item) for item in items) \
                    or not source.is_done(stage.name, source.file(stage.output), key):
                continue
            for item in items[1:]:
                shutil.copy2(item, pipeline.run_dir.file(item.name), follow_symlinks=False)
            layout.marker_path(pipeline.run_dir.path, stage.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(marker, layout.marker_path(pipeline.run_dir.path, stage.name), follow_symlinks=False)
            log(f"{pipeline.run_dir.path.parent.name}/seed-{seed} [{stage.name}] reused from {other.parent.name}/{other.name}")
            break


def _plain_file(path: Path) -> bool:
    """True for a regular file that is no link (symbolic or hard): a cell's own file, safe to copy."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def read_cell(cell: Cell, path: Path) -> CellResult:
    """A finished cell's scores, read as the run report reads a run (its own regular files, bounded, only
    finite numbers kept); no trained metrics is an error naming the file."""
    files = RunFiles(path)
    metrics = files.read_json(path / layout.METRICS)
    trained = bounded(metrics.get("trained") if isinstance(metrics, dict) else None)
    trained.pop("queries", None)
    if not trained:
        raise SynegError(f"{path / layout.METRICS}: no trained metrics (missing, unreadable or not numbers); "
                         "remove the cell's folder to run the cell again")
    per_query = files.read_json(path / layout.PER_QUERY)
    grad = numbers(files.read_json(path / layout.GRAD_STATS))
    stats, _ = files.read_stats(path / layout.MODEL)
    kept = numbers((stats or {}).get("kept")).get("step")
    extra = {"grad-norm var": grad.get("variance"), "grad-norm mean": grad.get("mean"), "kept step": kept}
    return CellResult(cell.group, cell.seed, trained,
                      bounded(per_query.get("trained") if isinstance(per_query, dict) else None),
                      {k: v for k, v in extra.items() if v is not None})


def zero_shot(config: ExperimentConfig) -> CellResult:
    """The untrained starting model on the evaluation split."""
    dataset = config.load_split("eval")
    metrics, per_query = evaluate_model(config.train.model, dataset, config.evaluate.metrics, show_progress=True,
                                        backend=config.evaluate.backend,
                                        max_seq_length=config.evaluate.max_seq_length, per_query=PER_QUERY_METRIC)
    return CellResult("zero-shot", config.seed, {k: v for k, v in metrics.items() if k != "queries"}, per_query)


def time_left(durations: list[float], cells: int) -> str:
    """``"; about 24 min left"`` for ``cells`` more cells at the mean of ``durations``; "" before any cell ran."""
    if not durations:
        return ""
    return f"; about {progress.duration(cells * sum(durations) / len(durations))} left"


def check_data(config: ExperimentConfig, cells: list[Cell]) -> None:
    """Load both splits of every data section the cells use, once each, so bad data fails before any work."""
    seen: set[str] = set()
    for label, data in [("the base config", config.data),
                        *((f"cell {cell.group!r}", cell_config(config, cell).data) for cell in cells)]:
        if data.model_dump_json() not in seen:
            seen.add(data.model_dump_json())
            try:
                for kind in ("train", "eval"):
                    data.load_split(kind, config.seed)
            except SynegError as exc:
                raise SynegError(f"experiment {label}: {exc}") from None


def run_experiment(config: ExperimentConfig, command: str, log: Callable[[str], None] = print) -> Path:
    """Run the grid in ``config.run_dir``; returns the path of ``results.md``."""
    started = time.perf_counter()
    cells = check_cells(config)  # every cell's config and data are valid before anything is written
    out = RunDir(config.run_dir)
    out.check_unlocked("experiment folder")  # another writer: fail now, not after loading the data
    check_data(config, cells)
    with out.lock("experiment folder"):
        log("zero-shot: evaluating the untrained model")
        results = [zero_shot(config)]
        durations: list[float] = []  # seconds of each cell that ran here (cells read back do not count)
        for number, cell in enumerate(cells, start=1):
            left = time_left(durations, len(cells) - number + 1)
            log(f"cell {number}/{len(cells)}: {cell.group}, seed {cell.seed}{left}")
            cell_started = time.perf_counter()
            result, ran = run_cell(config, cell, log)
            results.append(result)
            if ran:
                durations.append(time.perf_counter() - cell_started)
        hardware = f"{platform.machine()}, {available_cores()} CPU cores, {platform.python_version()}"
        env = {"command": redact(command), "hardware": hardware, "wall_s": round(time.perf_counter() - started, 1)}
        return write_results(out.path, config, cells, results, env)
