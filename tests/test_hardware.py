"""Tests of syneg/hardware.py."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from syneg import layout
from syneg.errors import SynegError
from syneg.hardware import encode_batch_size, mixed_precision, resolve_device

# --- devices -------------------------------------------------------------------------------------

@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
def test_auto_resolves_to_the_cpu_here_and_missing_devices_are_clear_errors():
    assert resolve_device("auto") == resolve_device(None) == resolve_device("cpu") == "cpu"
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(SynegError, match="no CUDA GPU is visible"):
            resolve_device(spec)
    with pytest.raises(SynegError, match="MPS is not available"):
        resolve_device("mps")
    with pytest.raises(SynegError, match="expected one of auto"):
        resolve_device("gpu")
    assert encode_batch_size("cpu") == 64 and encode_batch_size("cuda:1") == 256
    assert mixed_precision("cpu", allowed=False) == "fp32"


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
@pytest.mark.parametrize("command", [
    ("mine",), ("retrieve", "--retriever", "dense"), ("train", "--train", "t.jsonl"), ("run", "--stages", "mine"),
    ("synthesize", "--backend", "openai", "--model", "m", "--mode", "free"),
])
def test_forcing_cuda_without_a_gpu_exits_2_before_writing_anything(tmp_path, command):
    out = tmp_path / "out"
    args = [*command, "--device", "cuda", *(["--run-dir", out] if command[0] == "run" else ["--out", out])]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "--device cuda: no CUDA GPU is visible" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
def test_bad_device_names_are_refused_by_the_option(tmp_path):
    proc = run_cli("mine", "--device", "gpu0", "--out", tmp_path / "m.jsonl")
    assert proc.returncode == 2 and "auto|cpu|cuda|cuda:N|mps" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
def test_auto_is_recorded_as_the_device_used(small_slice, tmp_path):
    out = tmp_path / "mined.jsonl"
    proc = run_cli("mine", "--data", small_slice, "--retriever", "dense", "--max-queries", "5", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(layout.stats_path(out).read_text())["device"] == "cpu"
    run = run_cli("run", "--stages", "mine", "--set", f"data.path={small_slice}", "--run-dir", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    assert json.loads(layout.stats_path(tmp_path / "r" / layout.MINED).read_text())["device"] == "cpu"
