"""Scaling-out overheads, each against a named peer in the same run on the same fault-free fake OpenAI server:

1. the Ray engine (``--engine ray``, a local Ray cluster, one actor per CPU) against the local async engine at
   the same total concurrency;
2. the local engine at concurrency 256 against a plain asyncio openai-SDK loop (``bench_synthesis.plain_loop``)
   sending the same request bodies at the same concurrency.

    python bench/bench_scale.py [--calls 400] [--concurrency 16] [--wide 256] [--ray-cpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_synthesis import plain_loop  # noqa: E402
from synth_fake_server import FakeOpenAI  # noqa: E402

from syneg.config import SynthesizeConfig  # noqa: E402
from syneg.data import load_dataset  # noqa: E402
from syneg.synthesis import plan, synthesize  # noqa: E402


def timed_run(dataset, config: SynthesizeConfig, out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    stats = synthesize(dataset, config, out, progress=False)
    return time.perf_counter() - started, stats


def engines(dataset, calls: int, concurrency: int, folder: Path) -> None:
    """Ray vs local at the same concurrency; each on a fresh server and cache."""
    import ray

    results = {}
    for engine in ("local", "ray"):
        with FakeOpenAI() as server:
            config = SynthesizeConfig(backend="openai", model="bench", base_url=server.base_url, mode="free",
                                      limit=calls // 2, per_query=2, guard=False, concurrency=concurrency, engine=engine)
            results[engine] = timed_run(dataset, config, folder / f"{engine}.jsonl")
    local, remote = results["local"][0], results["ray"][0]
    same = (folder / "local.jsonl").read_bytes() == (folder / "ray.jsonl").read_bytes()
    cpus = int(ray.cluster_resources().get("CPU", 0))
    print(f"engines ({calls} calls, concurrency {concurrency}, Ray with {cpus} CPUs; outputs equal: {same})")
    print(f"  local engine  {local:7.2f} s  {calls / local:7.1f} calls/s")
    print(f"  ray engine    {remote:7.2f} s  {calls / remote:7.1f} calls/s   ratio ray / local = {remote / local:.2f}x")


def wide(dataset, calls: int, concurrency: int, folder: Path) -> None:
    """The local engine at a high concurrency vs the plain asyncio loop."""
    with FakeOpenAI() as server:
        config = SynthesizeConfig(backend="openai", model="bench", base_url=server.base_url, mode="free",
                                  limit=calls // 2, per_query=2, guard=False, concurrency=concurrency)
        items, _ = plan(dataset, config)
        plain = asyncio.run(plain_loop(server.base_url, items, concurrency, "json_schema"))
        ours, _ = timed_run(dataset, config, folder / "wide.jsonl")
    print(f"local engine vs plain asyncio loop ({calls} calls, concurrency {concurrency})")
    print(f"  plain loop    {plain:7.2f} s  {calls / plain:7.1f} calls/s")
    print(f"  syneg local   {ours:7.2f} s  {calls / ours:7.1f} calls/s   ratio syneg / plain = {ours / plain:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="even; at most twice the slice's 200-odd pairs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wide", type=int, default=256)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    ThreadingHTTPServer.request_queue_size = 1024  # the fake server's listen backlog (stdlib default 5) for --wide
    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    dataset = load_dataset(None, "train")
    with tempfile.TemporaryDirectory(prefix="syneg-bench-scale-") as folder:
        engines(dataset, args.calls, args.concurrency, Path(folder))
        wide(dataset, args.calls, args.wide, Path(folder))
    ray.shutdown()


if __name__ == "__main__":
    main()
