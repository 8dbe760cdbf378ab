"""Synthesis throughput: syneg's runner vs a plain asyncio openai-SDK loop sending the same requests at the
same concurrency to the same local server, plus the embedded llama.cpp backend's negatives per second.

    python bench/bench_synthesis.py [--fake-calls 400] [--concurrency 16] [--llama-calls 6] [--embedded-calls 24]

Peers: (1) a fault-free fake OpenAI server (stdlib, loopback) answering canned JSON instantly, so the
runner's own overhead (planning, sqlite commits, parsing, checks, output) is visible; (2) a real
``python -m llama_cpp.server`` with the packaged SmolLM2 (1 thread); (3) for the embedded backend, its
sequential path (``batch_size=1``, 1 thread: the default before batching) on the same planned calls,
beside llama.cpp's raw decode rate of the same GGUF on the same cores (the headroom).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synth_fake_server import FakeOpenAI  # noqa: E402

from syneg.config import SynthesizeConfig  # noqa: E402
from syneg.data import load_dataset  # noqa: E402
from syneg.hardware import available_cores  # noqa: E402
from syneg.synthesis import plan, synthesize  # noqa: E402
from syneg.synthesis.backends.openai_backend import OpenAIBackend  # noqa: E402
from syneg.synthesis.backends.wire import response_format  # noqa: E402


async def plain_loop(base_url: str, items, concurrency: int, mode: str) -> float:
    """The peer: AsyncOpenAI + a semaphore, the same request bodies, no cache, no checks."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item) -> str | None:
        async with semaphore:
            extra = {"extra_body": {"repeat_penalty": item.sampling.repeat_penalty}} if item.sampling.repeat_penalty else {}
            reply = await client.chat.completions.create(
                model="bench", messages=item.messages, max_tokens=item.sampling.max_tokens,
                temperature=item.sampling.temperature, seed=item.sampling.seed,
                response_format=response_format(mode, item.task.schema), **extra)
            return reply.choices[0].message.content

    started = time.perf_counter()
    await asyncio.gather(*(one(item) for item in items))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def syneg_run(dataset, config: SynthesizeConfig, base_url: str, mode: str, out: Path) -> tuple[float, dict]:
    backend = OpenAIBackend("bench", base_url, mode=mode)
    started = time.perf_counter()
    stats = synthesize(dataset, config, out, backend=backend, progress=False)
    return time.perf_counter() - started, stats


def compare(name: str, dataset, config: SynthesizeConfig, base_url: str, mode: str, workdir: Path) -> None:
    items, _ = plan(dataset, config)
    peer = asyncio.run(plain_loop(base_url, items, config.concurrency, mode))
    ours, stats = syneg_run(dataset, config, base_url, mode, workdir / f"{name}.jsonl")
    n = len(items)
    print(f"[{name}] {n} calls, concurrency {config.concurrency}")
    print(f"  plain openai-SDK loop : {peer:8.3f} s  {n / peer:8.1f} calls/s")
    print(f"  syneg synthesize      : {ours:8.3f} s  {n / ours:8.1f} calls/s  (kept {stats['kept']}, "
          f"run {stats['run']['succeeded']} ok / {stats['run']['failed']} failed)")
    print(f"  overhead ratio syneg/plain: {ours / peer:.2f}x")


def llama_server(port: int) -> subprocess.Popen:
    from syneg.models import default_llm_path

    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_llm_path()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
                             "--n_threads_batch", "1", "--verbose", "False", "--interrupt_requests", "False"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def embedded_path(dataset, label: str, calls: int, workdir: Path, guard: bool, **settings) -> dict:
    """One embedded run on the first ``calls`` pairs (free mode), in a fresh cache."""
    config = SynthesizeConfig(mode="free", limit=calls, guard=guard, **settings)
    started = time.perf_counter()
    stats = synthesize(dataset, config, workdir / f"embedded-{label}-guard-{guard}.jsonl", progress=False)
    elapsed = time.perf_counter() - started
    completion = stats["tokens"].get("completion_tokens", 0)
    checked = stats["kept"] + sum(stats["drops"]["guard"].values())  # passed the checks, before the guard
    print(f"  {label:<34}: {elapsed:7.1f} s  {calls / elapsed:6.3f} calls/s  {completion / elapsed:6.1f} completion tok/s  "
          f"keep rate: checks {checked / calls:.0%}, checks+guard {stats['kept'] / calls:.0%} "
          f"({stats['run']['reasks']} re-asks, {stats['run']['widened']} widened)")
    return {"elapsed": elapsed, "stats": stats}


def raw_decode(slots: int, threads: int, prompt: int = 480, steps: int = 64) -> float:
    """llama.cpp's own decode rate (tokens/s) on the packaged GGUF: ``slots`` sequences of ``prompt``
    tokens each, then ``steps`` one-token steps per sequence; no sampling, no grammar, no Python per token."""
    import llama_cpp

    from syneg.models import default_llm_path
    from syneg.synthesis.backends.llama_batch import decode

    llm = llama_cpp.Llama(str(default_llm_path()), n_ctx=512, verbose=False)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = (prompt + steps + 64) * slots
    params.n_seq_max, params.kv_unified, params.n_threads, params.n_threads_batch = slots, False, threads, threads
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    batch = llama_cpp.llama_batch_init(params.n_ctx, 0, 1)
    decode(llama_cpp, ctx, batch, [(s, 100 + i % 50, i, i == prompt - 1) for s in range(slots) for i in range(prompt)])
    started = time.perf_counter()
    for k in range(steps):
        decode(llama_cpp, ctx, batch, [(s, 200 + k, prompt + k, True) for s in range(slots)])
    rate = slots * steps / (time.perf_counter() - started)
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    llm.close()
    return rate


def embedded(dataset, calls: int, workdir: Path) -> None:
    """Today's sequential path (batch_size 1, 1 thread) vs the batched default, on the same planned calls."""
    cores = available_cores()
    default = SynthesizeConfig()
    print(f"[embedded llamacpp, SmolLM2-135M Q4_1, {calls} free-mode calls, {cores} cores]")
    for guard in (False, True):
        print(f"  guard {'on' if guard else 'off'}:")
        sequential = embedded_path(dataset, "sequential (batch_size 1, 1 thread)", calls, workdir, guard,
                                   batch_size=1, threads=1)
        batched = embedded_path(dataset, f"batched default (batch_size {default.batch_size}, {cores} threads)",
                                calls, workdir, guard)
        print(f"  ratio batched / sequential, guard {'on' if guard else 'off'}: "
              f"{sequential['elapsed'] / batched['elapsed']:.2f}x calls/s")
    print("  llama.cpp raw decode, no grammar, no sampling (480-token prompts):")
    for slots, threads in ((1, 1), (1, cores), (default.batch_size, cores)):
        print(f"    batch {slots:>2}, {threads} thread(s): {raw_decode(slots, threads):6.1f} tok/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake-calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--llama-calls", type=int, default=6)
    parser.add_argument("--embedded-calls", type=int, default=24)
    args = parser.parse_args()
    dataset = load_dataset(None, "train")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.fake_calls:
            with FakeOpenAI() as server:
                config = SynthesizeConfig(backend="openai", model="bench", mode="free", guard=False,
                                          per_query=2, limit=args.fake_calls // 2, concurrency=args.concurrency)
                compare("fake server, instant canned JSON", dataset, config, server.base_url, "json_schema", workdir)
        if args.llama_calls:
            proc = llama_server(18000 + int(time.time()) % 1000)
            try:
                port = proc.args[proc.args.index("--port") + 1]
                config = SynthesizeConfig(backend="openai", model="bench", mode="free", guard=False,
                                          limit=args.llama_calls, concurrency=1, repeat_penalty=1.15)
                compare("llama_cpp.server, SmolLM2", dataset, config, f"http://127.0.0.1:{port}/v1",
                        "json_object", workdir)
            finally:
                proc.terminate()
                proc.wait()
        if args.embedded_calls:
            embedded(dataset, args.embedded_calls, workdir)


if __name__ == "__main__":
    main()
