"""Tests of syneg/synthesis/backends/."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CONFIG, SRC, _env, _one_call, run
from synth_fake_server import FakeOpenAI

from syneg._optional import HAS_LLAMA_CPP
from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.io import read_records
from syneg.records import MinedInstance, Negative, SyntheticNegative
from syneg.synthesis import synthesize
from syneg.synthesis.backends import BackendError
from syneg.synthesis.backends.openai_backend import OpenAIBackend
from syneg.synthesis.backends.probe import ProbeFailed, ensure_llama_cpp_works, run_probe
from syneg.synthesis.backends.retry import RetryPolicy
from syneg.synthesis.backends.wire import server_for

SIGILL_CHILD = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]


# --- llama-cpp-python probe ----------------------------------------------------------------------

@pytest.mark.slow
def test_probe_turns_a_sigill_death_into_a_rebuild_hint():
    with pytest.raises(ProbeFailed) as failed:
        run_probe(SIGILL_CHILD)
    message = str(failed.value)
    assert "died with SIGILL" in message and "CPU instructions this machine lacks" in message
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in message
    assert "pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python" in message


@pytest.mark.slow
def test_probe_reports_other_crashes_failures_and_hangs():
    with pytest.raises(ProbeFailed, match=r"died with SIGSEGV\); rebuild it"):
        run_probe([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    with pytest.raises(ProbeFailed, match=r"\(exit 1\): bad gguf"):
        run_probe([sys.executable, "-c", "import sys; sys.exit('bad gguf')"])
    with pytest.raises(ProbeFailed, match="did not finish in 1 s"):
        run_probe([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)


@pytest.mark.slow
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


@pytest.mark.slow
def test_real_probe_passes_on_the_packaged_smollm2_once_per_build(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    from syneg.models import default_llm_path

    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path))
    assert ensure_llama_cpp_works(default_llm_path()) is True  # about 1 s
    assert ensure_llama_cpp_works(default_llm_path()) is False
    again = subprocess.run([sys.executable, "-m", "syneg.synthesis.backends.probe"], env=_env(),
                           capture_output=True, text=True)
    assert again.returncode == 0 and "passed before" in again.stdout, again.stderr


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


# --- Retry-After, timeouts, deadline ------------------------------------------------------------

def test_malformed_retry_after_falls_back_to_backoff(dataset, tmp_path):
    assert RetryPolicy().retry_after({"retry-after": "soon"}) is None
    with FakeOpenAI(faults=["429-soon"]) as server:
        stats, backend = run(dataset, server, tmp_path / "out.jsonl")
    assert stats["kept"] == 1 and len(backend.waits) == 1 and backend.waits[0] < 1.0


def test_openai_and_generic_servers_get_their_field_names(dataset):
    with FakeOpenAI() as server:
        _one_call(dataset, "openai", server.base_url, repeat_penalty=1.1)
        _one_call(dataset, "auto", server.base_url, repeat_penalty=1.1)
    hosted, generic = (entry["body"] for entry in server.log)
    assert hosted["max_completion_tokens"] == CONFIG.max_tokens and "max_tokens" not in hosted
    assert "repeat_penalty" not in hosted and "repetition_penalty" not in hosted
    assert generic["max_tokens"] == CONFIG.max_tokens and generic["repeat_penalty"] == 1.1
    assert hosted["response_format"] == generic["response_format"] and "structured_outputs" not in generic
    assert server_for("auto", None) == "openai" and server_for("auto", "https://api.openai.com/v1") == "openai"
    assert server_for("auto", "http://127.0.0.1:8000/v1") == "generic"


# --- vLLM in process -----------------------------------------------------------------------------

def test_vllm_batcher_runs_concurrent_calls_as_batches_in_order():
    from syneg.synthesis.backends.base import Completion, Sampling
    from syneg.synthesis.backends.vllm_backend import Batcher

    def generate(requests):
        return [Completion(messages[0]["content"], "stop") for messages, _, _ in requests]

    def failing(requests):
        raise RuntimeError("CUDA out of memory")

    async def run(batcher, count):
        calls = [batcher.submit(([{"role": "user", "content": str(i)}], Sampling(16, 0.0, i), {})) for i in range(count)]
        return await asyncio.gather(*calls, return_exceptions=True)

    batcher = Batcher(generate, max_batch=4)
    replies = asyncio.run(run(batcher, 10))
    assert [r.text for r in replies] == [str(i) for i in range(10)] and batcher.batches == [4, 4, 2]
    errors = asyncio.run(run(Batcher(failing), 3))
    assert all(isinstance(e, BackendError) and "CUDA out of memory" in str(e) and e.transient for e in errors)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
def test_openai_backend_against_llama_cpp_server(llama_server, dataset, tmp_path):
    config = SynthesizeConfig(backend="openai", model="smollm2", base_url=llama_server, mode="free", limit=2,
                              guard=False, concurrency=2, repeat_penalty=1.15, max_tokens=256)
    backend = OpenAIBackend("smollm2", llama_server)
    stats = synthesize(dataset, config, tmp_path / "out.jsonl", backend=backend, progress=False)
    # llama_cpp.server rejects the standard json_schema format; we fall back to json_object + schema once
    assert backend.mode == "json_object" and backend.counters["fallback_json_schema"] == 1
    assert stats["run"]["succeeded"] + stats["run"]["failed"] == 2 and stats["run"]["tokens"]["completion_tokens"] > 0
    negatives = read_records(tmp_path / "out.jsonl", SyntheticNegative)
    assert len(negatives) + sum(sum(d.values()) for d in stats["drops"].values()) == 2
    for negative in negatives:
        assert negative.text and negative.reasoning and negative.model == "openai:smollm2"
        assert set(negative.attributes) == {"domain", "level", "length", "words", "aspect", "key_terms"}
    again = synthesize(dataset, config, tmp_path / "out.jsonl", progress=False)
    assert again["run"]["requests"] == 0 and again["run"]["cached"] == stats["run"]["succeeded"]


def _bm25_mined(dataset, limit: int) -> list[MinedInstance]:
    """A tiny mined file: BM25's best non-positive documents for the first queries."""
    import bm25s

    ids = list(dataset.corpus)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([dataset.doc_text(i) for i in ids], show_progress=False), show_progress=False)
    rows = []
    for qid in list(dataset.queries)[:limit]:
        pid = dataset.positives(qid)[0]
        hits, _ = retriever.retrieve(bm25s.tokenize([dataset.queries[qid]], show_progress=False), k=5, show_progress=False)
        negatives = [Negative(text=dataset.doc_text(ids[h]), source="bm25", doc_id=ids[h]) for h in hits[0]
                     if ids[h] not in dataset.positives(qid)][:2]
        rows.append(MinedInstance(query_id=qid, query=dataset.queries[qid], positive_id=pid,
                                  positive=dataset.doc_text(pid), negatives=negatives))
    return rows


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
def test_embedded_llamacpp_backend_grounded(dataset, tmp_path):
    mined = _bm25_mined(dataset, 2)
    config = SynthesizeConfig(limit=2, guard=True, max_tokens=256, mode="grounded")  # default backend: llamacpp
    stats = synthesize(dataset, config, tmp_path / "out.jsonl", mined=mined, progress=False)
    assert stats["model"] == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf" and stats["items"] == 2
    assert stats["run"]["calls"] >= 2 and stats["drops"]["call"] == {}  # grammar: always parseable
    negatives = read_records(tmp_path / "out.jsonl", SyntheticNegative)
    assert len(negatives) + sum(stats["drops"]["validate"].values()) + sum(stats["drops"]["guard"].values()) == 2
    sources = {n.doc_id for m in mined for n in m.negatives}
    for negative in negatives:
        assert negative.mode == "grounded" and negative.source_doc_id in sources
        assert negative.teacher_score < negative.positive_teacher_score


def _config(**settings) -> SynthesizeConfig:
    return SynthesizeConfig(mode="free", guard=False, max_tokens=256, **settings)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
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


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
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


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
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


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    import torch

    words = '{ } " : , reasoning passage the a of query vitamin bone cancer cells study'.split()
    vocab = {tok: i for i, tok in enumerate(["<unk>", "<pad>", "<eos>", *words])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.decoder = tokenizers.decoders.WordPiece(prefix="##")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=4096, eos_token_id=2, pad_token_id=1, bos_token_id=None)
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_transformers_backend_generates_seeded_and_fails_cleanly(tiny_model, tmp_path):
    dataset = load_dataset(None, "train")
    config = SynthesizeConfig(backend="transformers", model=str(tiny_model), mode="free", limit=1, max_tokens=16,
                              guard=False)
    runs = []
    for name in ("a", "b"):
        stats = synthesize(dataset, config, tmp_path / f"{name}.jsonl", progress=False)
        failed = [json.loads(line) for line in (tmp_path / f"{name}.jsonl.failed.jsonl").read_text().splitlines()]
        runs.append((stats, failed))
    stats, failed = runs[0]
    assert stats["model"] == f"transformers:{tiny_model.name}" and stats["kept"] == 0
    # random weights never write the schema: truncation is widened once, bad JSON re-asked once
    assert stats["run"]["calls"] >= 2 and stats["run"]["tokens"]["completion_tokens"] > 0
    assert failed[0]["stage"] == "call" and failed[0]["reason"] in {"truncated", "unparseable"}
    assert runs[1][1][0]["raw"] == failed[0]["raw"]  # same seed, same sample


@pytest.mark.slow
def test_transformers_batches_give_the_greedy_replies_of_one_at_a_time(tiny_model, tmp_path):
    dataset = load_dataset(None, "train")
    raws = {}
    for batch_size in (1, 4):
        config = SynthesizeConfig(backend="transformers", model=str(tiny_model), mode="free", limit=4, max_tokens=16,
                                  guard=False, temperature=0.0, batch_size=batch_size)
        stats = synthesize(dataset, config, tmp_path / f"{batch_size}.jsonl", progress=False)
        assert stats["run"]["backend"] == {"batch_size": batch_size}
        failed = (tmp_path / f"{batch_size}.jsonl.failed.jsonl").read_text().splitlines()
        raws[batch_size] = {row["key"]: row.get("raw") for row in map(json.loads, failed)}
    assert len(raws[1]) == 4 and raws[4] == raws[1]  # left padding changes nothing in a reply


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
def test_a_call_after_a_reask_decodes_from_its_own_shorter_shared_prefix():
    """A re-ask's shared turns (system, user, the bad reply) fill the engine's prefix holder; the next plain call
    shares only the system turn of it and must not inherit the rest (llama_decode used to fail with -1)."""
    from syneg.synthesis.backends.base import Sampling
    from syneg.synthesis.backends.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend(None, threads=1, batch_size=2, max_tokens=32)
    system = {"role": "system", "content": "You write one short JSON object and nothing else. " * 4}
    reask = [system, {"role": "user", "content": "Say hi."}, {"role": "assistant", "content": '{"a": "hi'},
             {"role": "user", "content": "That was not valid JSON. Again, please."}]
    plain = [system, {"role": "user", "content": "Say bye."}]
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}}, "required": ["a"]}

    async def calls():
        try:
            return [await backend.complete(messages, Sampling(32, 0.0, 0), schema) for messages in (reask, plain, reask)]
        finally:
            await backend.aclose()

    for completion in asyncio.run(calls()):
        assert completion.finish_reason == "stop" and json.loads(completion.text)["a"]
