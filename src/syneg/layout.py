"""The run-directory contract: every file name syneg reads or writes between stages, in one place.

| file (in a run directory)         | written by            | content                                         |
|-----------------------------------|-----------------------|-------------------------------------------------|
| ``config.yaml``                   | ``syneg run``         | the resolved run config (credentials masked)    |
| ``queries.jsonl``                 | queries               | ``GeneratedQuery`` lines (kept queries)         |
| ``queries.jsonl.failed.jsonl``    | queries               | calls and queries dropped, with reasons         |
| ``mined.jsonl``                   | mine                  | ``MinedInstance`` lines                         |
| ``synthetic.jsonl``               | synthesize            | ``SyntheticNegative`` lines                     |
| ``synthetic.jsonl.failed.jsonl``  | synthesize            | items that produced no negative, with reasons   |
| ``synthetic.jsonl.cache.sqlite``  | synthesize            | cache of LLM replies (unless ``synthesize.cache``) |
| ``train.jsonl``                   | mix                   | ``TrainingInstance`` lines                      |
| ``diagnostics.json``              | diagnose              | hardness, diversity, separability of negatives  |
| ``model/``                        | train                 | sentence-transformers model + training logs     |
| ``metrics.json``                  | evaluate              | zero-shot and trained metrics                   |
| ``per_query.json``                | evaluate              | per-query nDCG@10 of both models                |
| ``<output>.stats.json``           | mine, synthesize, mix, train | a stage's statistics, beside its output  |
| ``stages/<stage>.done.json``      | the pipeline          | done marker: input key and output fingerprint   |
| ``logs/<name>.log``               | the pipeline          | run log                                         |
| ``report.html``                   | ``syneg report``      | the run as one page                             |
| ``run.lock``                      | ``syneg run``, ``syneg experiment`` | held by the one process writing the folder |

Inside ``model/`` the trainer adds ``train_log.jsonl``, ``grad_stats.json``, ``training.png`` and
``summary.json``. Standalone commands follow the same side-file rule: ``syneg mine --out X`` writes
``X.stats.json`` beside ``X``.

Outside run directories, per-user files live in :func:`user_cache_dir` (``$SYNEG_CACHE_DIR`` or
``~/.cache/syneg``): ``llamacpp-probe/`` (builds that passed the probe) and ``rates.json``
(measured synthesis rates, for ``--dry-run`` estimates).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from syneg.io import file_digest, write_json

CONFIG = "config.yaml"
QUERIES = "queries.jsonl"
MINED = "mined.jsonl"
SYNTHETIC = "synthetic.jsonl"
TRAIN = "train.jsonl"
DIAGNOSTICS = "diagnostics.json"
MODEL = "model"
METRICS = "metrics.json"
PER_QUERY = "per_query.json"
REPORT = "report.html"
STAGES_DIR = "stages"
LOGS_DIR = "logs"
RUN_LOCK = "run.lock"  # flock of the one process writing a run directory or experiment folder (syneg.locking)

# files the trainer writes into the model folder
TRAIN_LOG = "train_log.jsonl"
GRAD_STATS = "grad_stats.json"
TRAINING_PLOT = "training.png"
SUMMARY = "summary.json"
TRAINING_FILES = (TRAIN_LOG, GRAD_STATS, TRAINING_PLOT)  # kept beside a model an experiment removes
CARD = "README.md"  # the Hugging Face card of a model folder or an exported dataset folder

# side files of an output ``X``: ``X<suffix>``
STATS_SUFFIX = ".stats.json"
FAILED_SUFFIX = ".failed.jsonl"
CACHE_SUFFIX = ".cache.sqlite"
LOCK_SUFFIX = ".lock"


def side_file(output: str | Path, suffix: str) -> Path:
    """``output`` with ``suffix`` appended to its full name (``mined.jsonl`` -> ``mined.jsonl.stats.json``)."""
    output = Path(output)
    return output.with_name(output.name + suffix)


def stats_path(output: str | Path) -> Path:
    """Where the statistics of a stage output live: beside it, ``<output>.stats.json``."""
    return side_file(output, STATS_SUFFIX)


OUTPUT_FINGERPRINT = "output_fingerprint"  # stats key: digest of the bytes of the output they describe


def write_stats(output: str | Path, stats: dict[str, Any]) -> Path:
    """Write ``<output>.stats.json`` (after ``output``), with the output's digest when it is a file.

    After a crash between the two writes the old stats no longer match the new output, and
    :func:`read_stats` ignores them.
    """
    path = stats_path(output)
    digest = {OUTPUT_FINGERPRINT: file_digest(output)} if Path(output).is_file() else {}
    write_json(path, {**stats, **digest})
    return path


def read_stats(output: str | Path | None) -> dict[str, Any] | None:
    """The statistics of ``output``, or None when missing, unreadable or stale (fingerprint mismatch)."""
    if output is None:
        return None
    try:
        stats = json.loads(stats_path(output).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return stats if isinstance(stats, dict) and stats_match(output, stats) else None


def stats_match(output: str | Path, stats: dict[str, Any]) -> bool:
    """False when ``stats`` carry a fingerprint that ``output``'s bytes no longer have."""
    expected = stats.get(OUTPUT_FINGERPRINT)
    return expected is None or (Path(output).is_file() and expected == file_digest(output))


def marker_path(run_dir: str | Path, stage: str) -> Path:
    return Path(run_dir) / STAGES_DIR / f"{stage}.done.json"


def user_cache_dir() -> Path:
    """Per-user files outside run directories: ``$SYNEG_CACHE_DIR``, else ``~/.cache/syneg``."""
    root = os.environ.get("SYNEG_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "syneg"
