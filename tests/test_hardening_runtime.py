"""Runtime hardening: one process per synthesis cache (a real flock, real holder processes, SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import run_cli  # noqa: E402
from synth_fake_server import FakeOpenAI  # noqa: E402

from syneg.errors import SynegError  # noqa: E402
from syneg.synthesis.cache import ResultCache  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
HOLD = ("import sys, time\nfrom syneg.synthesis.cache import ResultCache\n"
        "cache = ResultCache(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(600)\n")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def holder(tmp_path):
    """A real process that opens ``tmp_path/c.sqlite`` as a ResultCache and sleeps; killed at the end."""
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], env=_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield path, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# --- cache lock ----------------------------------------------------------------------------------

def test_cache_held_by_another_process_is_refused_until_it_is_killed(holder):
    path, proc = holder
    with pytest.raises(SynegError) as refused:
        ResultCache(path)
    message = str(refused.value)
    assert str(path) in message and f"process {proc.pid}" in message and "another --cache" in message
    proc.send_signal(signal.SIGKILL)  # no cleanup code runs: the kernel must drop the lock
    assert proc.wait() == -signal.SIGKILL
    with ResultCache(path) as cache:
        assert cache.keys() == set()
    assert path.with_name("c.sqlite.lock").read_bytes() == b""  # emptied by close()


def test_cache_lock_in_one_process_is_clear_and_released_by_close(tmp_path):
    first = ResultCache(tmp_path / "c.sqlite")
    with pytest.raises(SynegError, match="already open in this process"):
        ResultCache(tmp_path / "c.sqlite")
    first.close()
    first.close()  # closing twice is harmless
    with ResultCache(tmp_path / "c.sqlite") as again:
        assert again.keys() == set()
    with ResultCache(tmp_path / "c.sqlite"):  # sequential opens in one process keep working
        pass


def test_cli_synthesize_on_a_held_cache_exits_2_before_any_call(holder, tmp_path):
    path, proc = holder
    common = ["synthesize", "--backend", "openai", "--model", "fake", "--mode", "free", "--limit", "2",
              "--no-guard", "--cache", path, "--out", tmp_path / "o.jsonl"]
    with FakeOpenAI() as server:
        result = run_cli(*common, "--base-url", server.base_url)
        assert server.log == []
    assert result.returncode == 2, result.stderr
    assert f"error: cache {path} is in use by process {proc.pid}" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()
    dry = run_cli(*common, "--base-url", "http://127.0.0.1:9/v1", "--dry-run")
    assert dry.returncode == 2 and f"process {proc.pid}" in dry.stderr


def test_two_synthesize_runs_on_one_cache_call_each_item_once(tmp_path):
    """The reported race: a second run on a busy cache is refused instead of repeating the first's calls."""
    cache = tmp_path / "shared.sqlite"

    def args(server, out):
        return [sys.executable, "-m", "syneg", "synthesize", "--backend", "openai", "--model", "fake",
                "--base-url", server.base_url, "--mode", "free", "--limit", "20", "--concurrency", "1",
                "--no-guard", "--cache", str(cache), "--out", str(out)]

    with FakeOpenAI(delay=0.5) as server:  # the first run lasts 10 s or more
        first = subprocess.Popen(args(server, tmp_path / "a.jsonl"), env=_env(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not server.log and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(args(server, tmp_path / "b.jsonl"), env=_env(), capture_output=True, text=True)
        _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2 and f"process {first.pid}" in second.stderr and "--limit 20" in second.stderr
    assert len(server.log) == 20 and len({json.dumps(e["body"]["messages"]) for e in server.log}) == 20
