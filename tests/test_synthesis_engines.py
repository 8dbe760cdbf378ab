"""Tests of syneg/synthesis/engines/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from synth_fake_server import FakeOpenAI
from test_synthesis import _committed_keys

from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.synthesis import plan, synthesize

ray = pytest.importorskip("ray")


CONFIG = dict(backend="openai", model="fake", mode="free", limit=24, guard=False, concurrency=4)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_unset_concurrency_is_the_backend_default_per_actor(local_ray):
    from syneg.synthesis.engines.ray_engine import RayBackend

    config = SynthesizeConfig(**{**CONFIG, "concurrency": None}, base_url="http://127.0.0.1:9/v1", engine="ray")
    backend = RayBackend(config)
    assert backend.default_concurrency == 2 * 4 and len(backend.actors) == 2  # 2 CPUs, openai's default 4 each


@pytest.mark.slow
def test_ray_engine_output_equals_the_local_engines(local_ray, tmp_path):
    dataset = load_dataset(None, "train")
    with FakeOpenAI(faults=["500", "429"]) as server:
        config = SynthesizeConfig(**CONFIG, base_url=server.base_url)
        local = synthesize(dataset, config, tmp_path / "local.jsonl", progress=False)
    with FakeOpenAI(faults=["500", "429"]) as server:
        config = SynthesizeConfig(**CONFIG, base_url=server.base_url, engine="ray")
        remote = synthesize(dataset, config, tmp_path / "ray.jsonl", progress=False)
        again = synthesize(dataset, config, tmp_path / "ray.jsonl", progress=False)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert remote["kept"] == local["kept"] == 24 and remote["run"]["requests"] == local["run"]["requests"] == 26
    assert remote["run"]["backend"]["engine"] == "ray" and remote["run"]["backend"]["actors"] == 2
    assert again["run"]["cached"] == 24 and again["run"]["requests"] == 0  # the same cache, nothing re-asked


@pytest.mark.slow
def test_ray_engine_against_a_real_llama_cpp_server_equals_the_local_engines(local_ray, llama_server, tmp_path):
    """The same planned calls, each with its own seed, through both engines to one server: the same bytes."""
    dataset = load_dataset(None, "train")
    settings = dict(backend="openai", model="smollm2", base_url=llama_server, mode="free", limit=4, guard=False,
                    concurrency=2, max_tokens=192)
    local = synthesize(dataset, SynthesizeConfig(**settings), tmp_path / "local.jsonl", progress=False)
    remote = synthesize(dataset, SynthesizeConfig(**settings, engine="ray"), tmp_path / "ray.jsonl", progress=False)
    assert remote["run"]["backend"]["engine"] == "ray" and remote["run"]["backend"]["actors"] == 2
    assert remote["run"]["cached"] == local["run"]["cached"] == 0 and local["run"]["tokens"]["completion_tokens"] > 0
    for suffix in ("", ".failed.jsonl"):
        local_file, ray_file = tmp_path / f"local.jsonl{suffix}", tmp_path / f"ray.jsonl{suffix}"
        assert local_file.exists() == ray_file.exists()
        assert not local_file.exists() or ray_file.read_bytes() == local_file.read_bytes()
    assert local["kept"] >= 1 and remote["kept"] == local["kept"]


@pytest.mark.slow
def test_killed_ray_driver_resumes_without_asking_for_a_success_twice(tmp_path):
    def args(server, engine):
        return [sys.executable, "-m", "syneg", "synthesize", "--backend", "openai", "--model", "fake",
                "--base-url", server.base_url, "--mode", "free", "--limit", "40", "--concurrency", "4",
                "--no-guard", "--engine", engine, "--out", str(tmp_path / "a.jsonl")]

    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "TQDM_DISABLE": "1", "OPENAI_API_KEY": "sk-test"}
    cache = tmp_path / "a.jsonl.cache.sqlite"
    with FakeOpenAI(delay=0.2) as server:
        proc = subprocess.Popen(args(server, "ray"), env=env, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(_committed_keys(cache)) < 8 and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
        committed = _committed_keys(cache)
        assert 8 <= len(committed) < 40 and not (tmp_path / "a.jsonl").exists()
        before = len(server.log)
        resumed = subprocess.run(args(server, "ray"), env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        again = server.log[before:]
    items, _ = plan(load_dataset(None, "train"), SynthesizeConfig(**{**CONFIG, "limit": 40}))
    first_requests = {json.dumps(i.messages) for i in items if i.key in committed}
    assert not any(json.dumps(e["body"]["messages"]) in first_requests for e in again)
    assert len(again) == 40 - len(committed)
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 40
