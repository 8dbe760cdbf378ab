"""scripts/gpu_check.sh: prepared assets within the 64 MiB a device machine accepts, and its CPU path end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (SHARED_DATA / "scifact").is_dir(), reason="no SciFact copy")]


def test_prepare_then_the_cpu_path_runs_and_reports_rates(tmp_path):
    env = {**os.environ, "GPU_CHECK_ASSETS": str(tmp_path / "assets"), "SCIFACT": str(SHARED_DATA / "scifact")}
    prepared = subprocess.run(["bash", "scripts/gpu_check.sh", "--prepare"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    size = sum(p.stat().st_size for p in (tmp_path / "assets").rglob("*") if p.is_file())
    assert size < 64 * 2**20, size
    run = subprocess.run(["bash", "scripts/gpu_check.sh", "--devices", "cpu", "--steps", "3", "--batch-size", "8",
                          "--max-docs", "300", "--max-queries", "60", "--max-seq-length", "96"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["passages"] == 300 and result["train_steps"] == 3
    assert result["passages_per_s"] > 0 and result["examples_per_s"] > 0 and 0 < result["ndcg10_before"] <= 1
    forced = subprocess.run(["bash", "scripts/gpu_check.sh", "--devices", "cuda"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if not __import__("torch").cuda.is_available():
        assert forced.returncode != 0 and "no CUDA GPU is visible" in forced.stderr
