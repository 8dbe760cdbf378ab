"""``syneg run`` end to end on a small real slice: outputs, resume after a kill, invalidation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def settings(data, run_dir) -> list[str]:
    return ["--run-dir", str(run_dir), "--set", f"data.path={data}", "--set", "data.dev_fraction=0.5",
            "--set", "mine.num_negatives=4", "--set", "synthesize.limit=2", "--set", "train.max_seq_length=48",
            "--set", "train.batch_size=8", "--set", "train.max_steps=2", "--set", "mix.num_negatives=2"]


def test_run_resumes_after_kill_and_reruns_changed_stages(small_slice, tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "syneg", "run", *settings(small_slice, run_dir)]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    marker = run_dir / "stages" / "mix.done.json"
    deadline = time.time() + 600
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)  # killed during diagnose / train
    proc.wait()
    assert not (run_dir / "metrics.json").exists()
    synthetic_before = (run_dir / "synthetic.jsonl").read_bytes()

    result = run_cli("run", *settings(small_slice, run_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    for stage in ("mine", "synthesize", "mix"):
        assert f"[{stage}] complete, skipped" in result.stderr
    assert "[train] running" in result.stderr and "[evaluate] running" in result.stderr
    assert (run_dir / "synthetic.jsonl").read_bytes() == synthetic_before
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["trained"]) >= {"nDCG@10", "R@10", "R@100", "RR@10"}
    assert metrics["queries"] == 20 and "nDCG@10" in result.stdout
    per_query = json.loads((run_dir / "per_query.json").read_text())
    assert len(per_query["trained"]) == 20
    diagnostics = json.loads((run_dir / "diagnostics.json").read_text())
    assert diagnostics["instances"] > 0 and "hardness" in diagnostics
    # keep_best (the default) evaluates checkpoints without eval_steps: before training and at the end
    log = [json.loads(line) for line in (run_dir / "model" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["event"] == "eval"] == [0, 2]
    kept = json.loads((run_dir / "model.stats.json").read_text())["kept"]
    assert kept["step"] in (0, 2) and kept["untrained"] == (kept["step"] == 0)

    # a mixing setting changed: mining and synthesis are reused, mixing and later stages rerun
    again = run_cli("run", *settings(small_slice, run_dir), "--set", "mix.strategy=retrieved")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[mine] complete, skipped" in again.stderr and "[synthesize]" not in again.stderr
    assert "[mix] running" in again.stderr and "[train] running" in again.stderr

    report = run_cli("report", run_dir)
    assert report.returncode == 0
    page = (run_dir / "report.html").read_text()
    assert "nDCG@10" in page and "training.png" in page and "hardness" in page
