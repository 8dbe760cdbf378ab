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
from helpers import _assert_cli_error, cli, free_port
from synth_fake_server import FakeOpenAI

from syneg.data import load_dataset
from syneg.rundir import RunDir


def settings(data, run_dir) -> list[str]:
    return ["--run-dir", str(run_dir), "--set", f"data.path={data}", "--set", "data.dev_fraction=0.5",
            "--set", "mine.num_negatives=4", "--set", "synthesize.limit=6", "--set", "train.max_seq_length=48",
            "--set", "train.batch_size=8", "--set", "train.max_steps=2", "--set", "mix.num_negatives=2"]


@pytest.mark.slow
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


# --- one run directory, one writer (issue #25) ------------------------------------------------------

def _snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_second_run_on_a_locked_run_directory_exits_naming_the_holder(beir_dir, tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from syneg.rundir import RunDir; lock = RunDir(sys.argv[1]).lock(); "
         "print('held', flush=True); time.sleep(600)", str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(run_dir)
        assert list(before) == ["run.lock"] and json.loads(before["run.lock"])["pid"] == holder.pid
        result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", "--set", "mix.strategy=retrieved")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"error: run directory {run_dir} is in use by process {holder.pid}" in result.stderr
        assert "[mine]" not in result.stderr and _snapshot(run_dir) == before  # nothing written
        for command in (["mine", "--data", beir_dir, "--out", run_dir / "mined.jsonl"], ["report", run_dir]):
            refused = run_cli(*command)  # stage commands and the report do not write into a held run directory
            assert refused.returncode == 2 and f"is in use by process {holder.pid}" in refused.stderr, refused.stderr
        assert _snapshot(run_dir) == before
    finally:
        holder.kill()  # kill -9: the kernel drops the lock, none is left behind
        holder.wait()
    with RunDir(run_dir).lock() as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert lock.path.read_text() == ""  # released: the holder record is cleared


@pytest.mark.slow
def test_two_runs_on_one_run_directory_the_second_exits_naming_the_first(small_slice, tmp_path):
    run_dir = tmp_path / "run"
    args = ["run", "--until", "synthesize", "--run-dir", run_dir, "--set", f"data.path={small_slice}",
            "--set", "synthesize.backend=openai", "--set", "synthesize.model=fake", "--set", "synthesize.guard=false",
            "--set", "synthesize.mode=free", "--set", "synthesize.limit=2", "--set", "synthesize.concurrency=1"]
    with FakeOpenAI(delay=6.0) as server:
        args += ["--set", f"synthesize.base_url={server.base_url}"]
        env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
        first = subprocess.Popen([sys.executable, "-m", "syneg", *map(str, args)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, text=True)
        deadline = time.time() + 120
        while not (run_dir / "stages" / "mine.done.json").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        second = run_cli(*args)
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"error: run directory {run_dir} is in use by process {first.pid}" in second.stderr
    assert "[synthesize]" not in second.stderr and len(server.log) == 2  # the second sent no call


@pytest.mark.slow
def test_a_lock_file_that_is_a_link_or_a_folder_is_refused_untouched(beir_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me\n")
    for number, make in enumerate((lambda path: path.symlink_to(secret), lambda path: path.mkdir())):
        run_dir = tmp_path / f"run-{number}"
        run_dir.mkdir()
        make(run_dir / "run.lock")
        result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"lock file of run directory {run_dir}" in result.stderr and "[mine]" not in result.stderr
        assert sorted(p.name for p in run_dir.iterdir()) == ["run.lock"]
    assert secret.read_text() == "keep me\n"


@pytest.mark.slow
def test_run_files_read_back_that_are_broken_or_foreign_are_handled(small_slice, tmp_path):
    """A done marker with a 5000-digit number reruns its stage; a run log that is a link is refused, untouched."""
    run_dir = tmp_path / "run"
    args = ("run", "--run-dir", run_dir, "--set", f"data.path={small_slice}", "--set", "data.dev_fraction=null",
            "--set", "data.eval_split=train", "--set", "mix.strategy=retrieved", "--stages", "mine")
    assert run_cli(*args).returncode == 0
    (run_dir / "stages" / "mine.done.json").write_text('{"seconds": ' + "9" * 5000 + "}")
    rerun = run_cli(*args)
    assert rerun.returncode == 0 and "[mine] running" in rerun.stderr and "Traceback" not in rerun.stderr
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    log = run_dir / "logs" / "syneg.log"
    log.unlink()
    log.symlink_to(victim)
    (run_dir / "stages" / "mine.done.json").unlink()
    linked = run_cli(*args)
    assert linked.returncode == 2 and f"error: {log} is a link" in linked.stderr, linked.stderr
    assert victim.read_text() == "keep\n"


@pytest.mark.slow
def test_run_refuses_unknown_metric_before_any_stage(tmp_path, beir_dir):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", "--set",
                     "evaluate.metrics=[nDCG@10, bogus@5]", timeout=120)
    _assert_cli_error(result, "evaluate.metrics", "'bogus@5'")
    assert not run_dir.exists()  # nothing mined, nothing written
    path = tmp_path / "run.yaml"
    path.write_text(f"run_dir: {run_dir}\ndata: {{path: {beir_dir}}}\nevaluate:\n  metrics: [R@100, MRR@ten]\n")
    _assert_cli_error(run_cli("run", path, timeout=120), str(path), "evaluate.metrics", "'MRR@ten'")
    assert not run_dir.exists()


@pytest.mark.slow
def test_run_refuses_a_stage_the_config_does_not_run_before_making_the_run_directory(tmp_path, beir_dir):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--stages", "synthesize", "--set", f"data.path={beir_dir}",
                     "--set", "mix.strategy=retrieved")
    _assert_cli_error(result, "stage synthesize does not run with this config")
    assert not run_dir.exists()


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["train.model", "teacher.model", "mine.model", "synthesize.model"])
def test_run_refuses_a_missing_local_model_before_any_stage(tmp_path, beir_dir, setting):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", "--set",
                     f"{setting}={tmp_path / 'no-such-model'}", timeout=120)
    _assert_cli_error(result, f"{setting}: {tmp_path / 'no-such-model'} does not exist")
    assert not run_dir.exists()


@pytest.mark.slow
def test_syneg_run_stops_at_failed_synthesis(tmp_path, small_slice):
    port = free_port()
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={small_slice}",
                     "--set", "synthesize.backend=openai", "--set", "synthesize.model=fake",
                     "--set", f"synthesize.base_url=http://127.0.0.1:{port}/v1",
                     "--set", "synthesize.max_attempts=1", "--set", "synthesize.limit=3")
    assert result.returncode == 3, result.stderr
    assert "3 of 3 items failed" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert (run_dir / "stages" / "mine.done.json").exists()
    assert not (run_dir / "stages" / "synthesize.done.json").exists() and not (run_dir / "train.jsonl").exists()


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


@pytest.mark.slow
@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "http://alice:hunter22@127.0.0.1:99999/v1"])
def test_bad_base_url_exits_2_before_any_work(tmp_path, url):
    out = tmp_path / "out.jsonl"
    result = cli(url, out, "--limit", "1")
    assert result.returncode == 2 and "--base-url" in result.stderr and "Traceback" not in result.stderr
    assert "hunter22" not in result.stderr and not list(tmp_path.iterdir())
    run = run_cli("run", "--run-dir", tmp_path / "run", "--set", f"synthesize.base_url={url}",
                  "--set", "synthesize.backend=openai", "--set", "synthesize.model=m")
    assert run.returncode == 2 and "synthesize.base_url" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "run" / "stages").exists()


@pytest.mark.slow
def test_run_checks_the_backend_settings_before_any_stage(tmp_path, monkeypatch):
    """A key `syneg synthesize` refuses up front is refused by `syneg run` before mining, with no run directory."""
    monkeypatch.setenv("SYNEG_TEST_KEY", "Wv7run SecretValue42")
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", "synthesize.backend=openai", "--set", "synthesize.model=m",
                     "--set", "synthesize.base_url=http://127.0.0.1:9/v1", "--set", "synthesize.api_key_env=SYNEG_TEST_KEY")
    assert result.returncode == 2 and "SYNEG_TEST_KEY" in result.stderr and "Traceback" not in result.stderr
    assert "[mine]" not in result.stderr and not run_dir.exists()
