"""Runtime hardening: one process per synthesis cache (a real flock, real holder processes, SIGKILL) and the
llama-cpp-python probe (real child processes that crash, fail or hang; the real packaged SmolLM2)."""

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
from syneg.synthesis.backends.probe import ProbeFailed, ensure_llama_cpp_works, run_probe  # noqa: E402
from syneg.synthesis.cache import ResultCache  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
HOLD = ("import sys, time\nfrom syneg.synthesis.cache import ResultCache\n"
        "cache = ResultCache(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(600)\n")
SIGILL_CHILD = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]


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
    with pytest.raises(SynegError, match="already in use in this process"):
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
    dry = run_cli(*common, "--base-url", "http://127.0.0.1:9/v1", "--dry-run")  # reads, writes and locks nothing
    assert dry.returncode == 0 and "2 calls to make" in dry.stderr and not (tmp_path / "o.jsonl").exists()


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


# --- llama-cpp-python probe ----------------------------------------------------------------------

def test_probe_turns_a_sigill_death_into_a_rebuild_hint():
    with pytest.raises(ProbeFailed) as failed:
        run_probe(SIGILL_CHILD)
    message = str(failed.value)
    assert "died with SIGILL" in message and "CPU instructions this machine lacks" in message
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in message
    assert "pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python" in message


def test_probe_reports_other_crashes_failures_and_hangs():
    with pytest.raises(ProbeFailed, match=r"died with SIGSEGV\); rebuild it"):
        run_probe([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    with pytest.raises(ProbeFailed, match=r"\(exit 1\): bad gguf"):
        run_probe([sys.executable, "-c", "import sys; sys.exit('bad gguf')"])
    with pytest.raises(ProbeFailed, match="did not finish in 1 s"):
        run_probe([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)


def test_probe_success_is_remembered_per_build_and_model_failure_never(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    passes = [sys.executable, "-c", "pass"]
    assert ensure_llama_cpp_works(model, passes) is True
    assert ensure_llama_cpp_works(model, SIGILL_CHILD) is False  # served from the marker: nothing runs
    os.utime(model, ns=(0, 0))  # another model file: probed again, and the failure is not remembered
    for _ in range(2):
        with pytest.raises(ProbeFailed, match="SIGILL"):
            ensure_llama_cpp_works(model, SIGILL_CHILD)
    assert len(list((tmp_path / "cache" / "llamacpp-probe").glob("*.ok"))) == 1


def test_llamacpp_backend_and_cli_fail_cleanly_when_the_probe_fails(tmp_path):
    pytest.importorskip("llama_cpp")
    from syneg.synthesis.backends.llamacpp_backend import LlamaCppBackend

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + b"not a gguf file" * 64)  # a GGUF header: refused by the probe only
    with pytest.raises(ProbeFailed, match="failed a test generation"):
        LlamaCppBackend(junk)
    result = run_cli("synthesize", "--model", junk, "--limit", "1", "--no-guard", "--out", tmp_path / "o.jsonl")
    assert result.returncode == 2 and "error: llama-cpp-python failed a test generation" in result.stderr
    probe = subprocess.run([sys.executable, "-m", "syneg.synthesis.backends.probe", str(junk)], env=_env(),
                           capture_output=True, text=True)
    missing = subprocess.run([sys.executable, "-m", "syneg.synthesis.backends.probe", str(tmp_path / "none.gguf")],
                             env=_env(), capture_output=True, text=True)
    assert (probe.returncode, missing.returncode) == (3, 2)  # setup.sh rebuilds on 3 only


def test_real_probe_passes_on_the_packaged_smollm2_once_per_build(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    from syneg.models import default_llm_path

    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path))
    assert ensure_llama_cpp_works(default_llm_path()) is True  # about 1 s
    assert ensure_llama_cpp_works(default_llm_path()) is False
    again = subprocess.run([sys.executable, "-m", "syneg.synthesis.backends.probe"], env=_env(),
                           capture_output=True, text=True)
    assert again.returncode == 0 and "passed before" in again.stdout, again.stderr
