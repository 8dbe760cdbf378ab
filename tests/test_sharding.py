"""Tests of syneg/sharding.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_cli
from synth_fake_server import FakeOpenAI

from syneg import layout
from syneg.config import MineConfig
from syneg.data import load_dataset
from syneg.errors import SynegError
from syneg.mining import mine, write_mined
from syneg.sharding import Shard, merge_shards, merge_stats

# --- shards --------------------------------------------------------------------------------------

@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
def test_shards_are_disjoint_contiguous_blocks_covering_every_unit():
    units = list(range(10))
    blocks = [Shard(i, 3).take(units) for i in (1, 2, 3)]
    assert blocks == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]] and sum(blocks, []) == units
    assert Shard(4, 4).take([1, 2]) == [2] and Shard(1, 4).take([1, 2]) == []
    assert Shard.parse(" 2/3 ") == Shard(2, 3)
    for bad in ("0/3", "4/3", "2", "a/b", "1/100001", "1/" + "9" * 5000, "\u0661/\u0663"):  # bounded, ASCII digits
        with pytest.raises(SynegError, match="--shard"):
            Shard.parse(bad)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
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


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
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


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
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


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
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
