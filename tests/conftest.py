"""Shared fixtures: tiny BEIR folders written on the fly, the embedded slice, a CLI runner, a real llama.cpp server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from syneg.data import embedded_path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Embedding caches of this test session (in-process and CLI subprocesses) stay out of ~/.cache.
os.environ.setdefault("SYNEG_CACHE_DIR", tempfile.mkdtemp(prefix="syneg-test-cache-"))


def write_beir(root: Path, corpus=None, queries=None, qrels=None, split: str = "train") -> Path:
    """Write a BEIR folder; each argument is a list of rows, or raw text to write verbatim."""
    corpus = corpus if corpus is not None else [
        {"_id": "d1", "title": "Vitamin D", "text": "Vitamin D deficiency is linked to bone loss."},
        {"_id": "d2", "title": "Statins", "text": "Statins lower LDL cholesterol."},
        {"_id": "d3", "title": "", "text": "Sleep loss impairs memory consolidation."},
    ]
    queries = queries if queries is not None else [
        {"_id": "q1", "text": "Does vitamin D affect bones?"},
        {"_id": "q2", "text": "What do statins do?"},
    ]
    qrels = qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        data = rows if isinstance(rows, (str, bytes)) else "".join(json.dumps(r) + "\n" for r in rows)
        (root / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    (root / "qrels" / f"{split}.tsv").write_bytes(qrels if isinstance(qrels, bytes) else qrels.encode("utf-8"))
    return root


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "beir")


@pytest.fixture(scope="session")
def slice_dir() -> Path:
    """The embedded SciFact slice (real data, 200 queries)."""
    return embedded_path()


@pytest.fixture(scope="session")
def small_slice(tmp_path_factory) -> Path:
    """A 40-query, ~300-document BEIR folder cut from the embedded slice (fast end-to-end runs)."""
    from syneg.data import load_beir

    ds = load_beir(embedded_path(), "train")
    qids = list(ds.qrels)[:40]
    keep = {d for q in qids for d in ds.qrels[q]} | set(list(ds.corpus)[:250])
    corpus = [{"_id": d, "title": doc.title, "text": doc.text} for d, doc in ds.corpus.items() if d in keep]
    queries = [{"_id": q, "text": ds.queries[q]} for q in qids]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q in qids for d, s in ds.qrels[q].items())
    return write_beir(tmp_path_factory.mktemp("small") / "slice", corpus, queries, qrels)


# The `slow` mark is checked, not trusted: a test without it that starts a subprocess or loads a model fails.
MODEL_FILES = {"config_sentence_transformers.json", "tokenizer_config.json"}  # read by every model load
PROBES = {"uname", "ldconfig"}  # what platform and ctypes run to describe the machine
_heavy: list[str] | None = None  # what the running test did that needs the mark (None: no test is running)


def _audit(event: str, args: tuple) -> None:
    if _heavy is None:
        return
    if event == "subprocess.Popen" and Path(str(args[0])).name not in PROBES:
        _heavy.append(f"starts a subprocess ({Path(str(args[0])).name})")
    elif event == "open" and isinstance(args[0], str) and str(args[1] or "r").strip("rbt") == "" and (
            Path(args[0]).name in MODEL_FILES or args[0].endswith(".gguf")):
        _heavy.append(f"loads a model ({args[0]})")


sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    global _heavy
    _heavy = []
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    global _heavy
    result = yield
    heavy, _heavy = _heavy, None
    if heavy and item.get_closest_marker("slow") is None:
        pytest.fail(f"{item.name} {heavy[0]}: mark it @pytest.mark.slow", pytrace=False)
    return result


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600,
            launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``python [LAUNCHER] -m syneg ARGS`` in a subprocess and capture its output.

    ``launcher`` goes between the interpreter and ``-m syneg``, e.g. ``("-m", "accelerate.commands.accelerate_cli",
    "launch", ...)``.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, *launcher, "-m", "syneg", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """``python -m llama_cpp.server`` with the packaged GGUF on 127.0.0.1:<free port>; stopped after."""
    from syneg._optional import HAS_LLAMA_CPP

    if not HAS_LLAMA_CPP:
        pytest.skip("llama-cpp-python is not installed (pip install 'syneg[llm]')")
    from syneg.models import default_llm_path

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_llm_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
         "--verbose", "False", "--interrupt_requests", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
