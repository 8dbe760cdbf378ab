"""Batched generation with the packaged SmolLM2 (llama.cpp continuous batching) and the transformers
backend's batches: valid, cached and resumable outputs, the sequential path kept, a kill -9 mid-batch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syneg._optional import HAS_LLAMA_CPP
from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.io import read_records
from syneg.records import SyntheticNegative
from syneg.synthesis import synthesize

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')"),
]
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def _config(**settings) -> SynthesizeConfig:
    return SynthesizeConfig(mode="free", guard=False, max_tokens=256, **settings)


def test_batched_and_sequential_runs_are_valid_cached_and_resumable(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path / "user-cache"))
    batched = synthesize(dataset, _config(limit=6, batch_size=4), tmp_path / "b.jsonl", progress=False)
    backend = batched["run"]["backend"]
    assert backend["batch_size"] == 4 and backend["mean_sequences_per_step"] > 1  # calls really decoded together
    assert backend["grammar_checks"] >= batched["run"]["tokens"]["completion_tokens"] > 0
    assert batched["run"]["succeeded"] == 6 and batched["drops"]["call"] == {} and batched["run"]["reasks"] == 0
    for negative in read_records(tmp_path / "b.jsonl", SyntheticNegative):
        assert len(negative.text) >= 40 and negative.reasoning  # the grammar held, lazily checked or not
    sequential = synthesize(dataset, _config(limit=6, batch_size=1, threads=1), tmp_path / "s.jsonl", progress=False)
    assert sequential["run"]["backend"]["batch_size"] == 1 and sequential["run"]["succeeded"] == 6
    assert sequential["drops"]["call"] == {}
    first = (tmp_path / "b.jsonl").read_bytes()
    again = synthesize(dataset, _config(limit=6, batch_size=4), tmp_path / "b.jsonl", progress=False)
    assert again["run"]["calls"] == 0 and again["run"]["cached"] == 6
    assert (tmp_path / "b.jsonl").read_bytes() == first  # resumed from the cache, same output
    rates = json.loads((tmp_path / "user-cache" / "rates.json").read_text())
    assert {key.split("|")[1] for key in rates} == {"batch=4", "batch=1"}  # both runs measured for --dry-run


def test_deadline_cancels_calls_in_a_batch_and_the_engine_stops(dataset, tmp_path):
    started = time.monotonic()
    stats = synthesize(dataset, _config(limit=8, batch_size=4, deadline=3.0), tmp_path / "d.jsonl", progress=False)
    assert stats["run"]["failures"].get("deadline", 0) > 0  # cut off mid-batch, reported as transient
    assert stats["run"]["succeeded"] + stats["run"]["failed"] == 8
    assert time.monotonic() - started < 120  # the engine let go of its cancelled sequences and closed


def _cached_rows(cache: Path) -> int:
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_9_mid_batch_loses_only_the_calls_in_flight(tmp_path):
    out, cache = tmp_path / "k.jsonl", tmp_path / "k.jsonl.cache.sqlite"
    args = [sys.executable, "-m", "syneg", "synthesize", "--mode", "free", "--no-guard", "--limit", "10",
            "--batch-size", "4", "--max-tokens", "256", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1", "SYNEG_CACHE_DIR": str(tmp_path / "u")}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _cached_rows(cache) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _cached_rows(cache)
    assert 3 <= kept < 10 and not out.exists()  # killed mid-run, with successes committed as they came
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["run"]["cached"] == kept and stats["run"]["succeeded"] == 10 - kept  # nothing asked twice
    assert _cached_rows(cache) == 10
