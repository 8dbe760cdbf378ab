"""Helpers shared by several test modules."""

import asyncio
import os
import socket
import subprocess
from pathlib import Path

from conftest import run_cli

from syneg.config import SynthesizeConfig
from syneg.synthesis import plan, synthesize
from syneg.synthesis.backends import make_backend
from syneg.synthesis.backends.openai_backend import OpenAIBackend
from syneg.synthesis.backends.retry import RetryPolicy


def _assert_cli_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one ``error:`` line holding every fragment, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("error:"))
    for fragment in fragments:
        assert fragment in line, result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HEADER = "query-id\tcorpus-id\tscore\n"


def run(dataset, server, out, **overrides):
    """Synthesize through the openai backend against ``server`` with fast retries and no guard."""
    config = SynthesizeConfig(**{"backend": "openai", "model": "fake", "base_url": server.base_url, "mode": "free",
                                 "limit": 1, "guard": False, "concurrency": 1, **overrides})
    backend = OpenAIBackend("fake", server.base_url, timeout=config.request_timeout,
                            retry=RetryPolicy(max_attempts=config.max_attempts, base=0.01))
    return synthesize(dataset, config, out, backend=backend, progress=False), backend


def cli(url: str, out: Path, *extra: str):
    return run_cli("synthesize", "--backend", "openai", "--model", "fake", "--base-url", url, "--mode", "free",
                   "--no-guard", "--max-attempts", "2", "--out", out, *extra)


SRC = Path(__file__).resolve().parents[1] / "src"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


CONFIG = SynthesizeConfig(backend="openai", model="fake", mode="free", limit=5, guard=False)


def _one_call(dataset, server: str, base_url: str, **update) -> dict:
    config = CONFIG.model_copy(update={"server": server, "base_url": base_url, "limit": 1, **update})
    items, _ = plan(dataset, config)
    backend = make_backend(config)

    async def call():
        try:
            return await backend.complete(items[0].messages, items[0].sampling, items[0].task.schema)
        finally:
            await backend.aclose()

    assert asyncio.run(call()).text
    return items[0]
