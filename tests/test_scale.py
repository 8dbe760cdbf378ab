"""Scaling out: device resolution and its errors, --shard I/N and syneg merge (byte-identical outputs)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import run_cli  # noqa: E402
from synth_fake_server import FakeOpenAI  # noqa: E402

from syneg import layout
from syneg.config import MineConfig, RunConfig, load_config
from syneg.data import load_dataset
from syneg.errors import DataError, SynegError
from syneg.hardware import encode_batch_size, mixed_precision, resolve_device
from syneg.mining import mine, write_mined
from syneg.sharding import Shard, merge_shards, merge_stats

pytestmark = pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")


# --- devices -------------------------------------------------------------------------------------

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


def test_the_run_config_validates_its_device():
    assert RunConfig().device == "auto" and RunConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(DataError, match="device"):
        load_config(None, ["device=gpu"])


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


def test_bad_device_names_are_refused_by_the_option(tmp_path):
    proc = run_cli("mine", "--device", "gpu0", "--out", tmp_path / "m.jsonl")
    assert proc.returncode == 2 and "auto|cpu|cuda|cuda:N|mps" in proc.stderr


def test_auto_is_recorded_as_the_device_used(small_slice, tmp_path):
    out = tmp_path / "mined.jsonl"
    proc = run_cli("mine", "--data", small_slice, "--retriever", "dense", "--max-queries", "5", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(layout.stats_path(out).read_text())["device"] == "cpu"
    run = run_cli("run", "--stages", "mine", "--set", f"data.path={small_slice}", "--run-dir", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    assert json.loads(layout.stats_path(tmp_path / "r" / layout.MINED).read_text())["device"] == "cpu"


# --- shards --------------------------------------------------------------------------------------

def test_shards_are_disjoint_contiguous_blocks_covering_every_unit():
    units = list(range(10))
    blocks = [Shard(i, 3).take(units) for i in (1, 2, 3)]
    assert blocks == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]] and sum(blocks, []) == units
    assert Shard(4, 4).take([1, 2]) == [2] and Shard(1, 4).take([1, 2]) == []
    assert Shard.parse(" 2/3 ") == Shard(2, 3)
    for bad in ("0/3", "4/3", "2", "a/b", "1/100001", "1/" + "9" * 5000, "\u0661/\u0663"):  # bounded, ASCII digits
        with pytest.raises(SynegError, match="--shard"):
            Shard.parse(bad)


def test_merge_stats_sums_counts_and_keeps_what_every_shard_agrees_on():
    merged = merge_stats([{"n": 2, "s": "x", "f": 0.5, "d": {"k": 1}, "settings": {"top_k": 5}},
                          {"n": 3, "s": "x", "f": 0.7, "d": {"k": 4}, "settings": {"top_k": 5}}])
    assert merged == {"n": 5, "s": "x", "d": {"k": 5}, "settings": {"top_k": 5}}


def _mine_shards(dataset, config, tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for index in range(1, count + 1):
        instances, stats = mine(dataset, config, 3, shard=Shard(index, count))
        paths.append(tmp_path / f"mined.{index}.jsonl")
        write_mined(instances, stats, paths[-1])
    return paths


def test_three_mining_shards_merge_into_the_unsharded_bytes(small_slice, tmp_path):
    dataset = load_dataset(small_slice, "train")
    config = MineConfig(num_negatives=4, top_k=30)
    instances, stats = mine(dataset, config, 3)
    write_mined(instances, stats, tmp_path / "whole.jsonl")
    shards = _mine_shards(dataset, config, tmp_path, 3)
    merged = merge_shards(list(reversed(shards)), tmp_path / "merged.jsonl")  # any order
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert merged["instances"] == stats["instances"] and merged["queries"] == stats["queries"]
    assert merged["candidates"] == stats["candidates"] and merged["settings"] == stats["settings"]
    assert layout.read_stats(tmp_path / "merged.jsonl")["merged"]["shards"] == 3


def test_merge_refuses_missing_duplicate_foreign_or_edited_shards(small_slice, tmp_path):
    dataset = load_dataset(small_slice, "train")
    config = MineConfig(num_negatives=2, top_k=20)
    shards = _mine_shards(dataset, config, tmp_path, 3)
    out = tmp_path / "merged.jsonl"
    with pytest.raises(SynegError, match=r"missing \[2\]"):
        merge_shards([shards[0], shards[2]], out)
    with pytest.raises(SynegError, match="once each"):
        merge_shards([shards[0], shards[0], shards[2]], out)
    other = _mine_shards(dataset, config.model_copy(update={"num_negatives": 3}), tmp_path / "o", 3)
    with pytest.raises(SynegError, match="different runs"):
        merge_shards([shards[0], other[1], shards[2]], out)
    with shards[1].open("a") as handle:
        handle.write("{}\n")
    with pytest.raises(SynegError, match="changed after"):
        merge_shards(shards, out)
    whole = tmp_path / "whole.jsonl"
    write_mined(*mine(dataset, config, 3), whole)
    with pytest.raises(SynegError, match="not a shard output"):
        merge_shards([whole], out)
    assert not out.exists()


@pytest.mark.slow
def test_cli_synthesis_in_three_shards_merges_into_the_unsharded_output(small_slice, tmp_path):
    mined = tmp_path / "mined.jsonl"
    assert run_cli("mine", "--data", small_slice, "--max-queries", "8", "--out", mined).returncode == 0
    os.environ.setdefault("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI() as server:
        common = ["synthesize", "--data", small_slice, "--mined", mined, "--backend", "openai", "--model", "fake",
                  "--base-url", server.base_url, "--per-query", "2"]
        whole = run_cli(*common, "--out", tmp_path / "whole.jsonl")
        assert whole.returncode == 0, whole.stderr
        parts = []
        for index in (1, 2, 3):
            parts.append(tmp_path / f"part{index}.jsonl")
            proc = run_cli(*common, "--shard", f"{index}/3", "--out", parts[-1])
            assert proc.returncode == 0, proc.stderr
        merged = run_cli("merge", *parts, "--out", tmp_path / "merged.jsonl")
        assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    failed = [sorted((r["key"], r["stage"], r["reason"]) for r in map(json.loads, (tmp_path / f"{name}.jsonl.failed.jsonl")
                     .read_text().splitlines())) for name in ("merged", "whole")]
    assert failed[0] == failed[1] and failed[0]  # the same failures (their raw teacher scores may differ in float noise)
    stats = [json.loads(layout.stats_path(p).read_text()) for p in parts]
    assert sum(s["items"] for s in stats) == json.loads(layout.stats_path(tmp_path / "whole.jsonl").read_text())["items"]
    assert [s["shard"]["index"] for s in stats] == [1, 2, 3] and len({s["shard"]["plan"] for s in stats}) == 1
    assert len(server.log) == 2 * stats[0]["shard"]["of"]  # every call once unsharded, once across the shards
    assert [s["shard"]["units"] for s in stats] == [s["items"] for s in stats]  # each shard counts its own calls
    assert all(s["guard"]["device"] == "cpu" for s in stats)


def test_torchrun_gets_the_node_options_and_syneg_loses_them():
    from syneg.training.launch import strip_options, torchrun_nodes

    assert torchrun_nodes() == ["--standalone"]
    assert torchrun_nodes(2, 1, "10.0.0.1:29500") == ["--nnodes=2", "--node-rank=1", "--rdzv-backend=c10d",
                                                     "--rdzv-endpoint=10.0.0.1:29500"]
    with pytest.raises(SynegError, match="--rdzv-endpoint"):
        torchrun_nodes(2, 0, None)
    with pytest.raises(SynegError, match="--node-rank 2"):
        torchrun_nodes(2, 2, "h:1")
    argv = ["train", "--nproc", "8", "--nnodes=2", "--node-rank", "1", "--rdzv-endpoint", "h:1", "--device", "cuda"]
    assert strip_options(argv, ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")) == ["train", "--device", "cuda"]
