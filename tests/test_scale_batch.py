"""Batch files at scale (split exports, several result files, mismatched imports) and each server's field names."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import run_cli  # noqa: E402
from synth_fake_server import FakeOpenAI, RewritingOpenAI, echo_key, echo_key_spelled  # noqa: E402

from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.errors import DataError, SynegError
from syneg.synthesis import batch, plan, synthesize
from syneg.synthesis.backends import BackendError, make_backend
from syneg.synthesis.backends.wire import server_for
from syneg.synthesis.cache import ResultCache
from syneg.synthesis.prompt import OUTPUT_SCHEMA

CONFIG = SynthesizeConfig(backend="openai", model="fake", mode="free", limit=5, guard=False)


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def _answer(requests: list[dict], fail: int | None = None) -> list[dict]:
    """Batch output lines for ``requests`` as the fake server answers them; request ``fail`` gets a 500."""
    server, lines = FakeOpenAI(), []
    for index, request in enumerate(requests):
        status, _, body = server.respond(request["body"])
        lines.append({"id": f"b{index}", "custom_id": request["custom_id"], "error": None,
                      "response": {"status_code": 500 if index == fail else status, "body": body}})
    return lines


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exports_split_at_the_request_and_byte_limits(dataset, tmp_path):
    items, _ = plan(dataset, CONFIG)
    with ResultCache(tmp_path / "c.sqlite") as cache:
        files = batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake", max_requests=2)
        assert files == {tmp_path / f"req.{n}.jsonl": count for n, count in ((1, 2), (2, 2), (3, 1))}
        assert not (tmp_path / "req.jsonl").exists()
        line = len((tmp_path / "req.1.jsonl").read_text().splitlines()[0].encode()) + 1
        by_bytes = batch.export_batch(items, cache, tmp_path / "b.jsonl", "fake", max_bytes=3 * line + 1000)
        assert list(by_bytes.values()) == [3, 2] and all(p.stat().st_size <= 3 * line + 1000 for p in by_bytes)
        with pytest.raises(SynegError, match="over the 100-byte file limit"):
            batch.export_batch(items, cache, tmp_path / "tiny.jsonl", "fake", max_bytes=100)
    requests = [r for path in files for r in _read(path)]
    assert [r["custom_id"] for r in requests] == [i.key for i in items]
    body = requests[0]["body"]
    assert body["max_completion_tokens"] == CONFIG.max_tokens and "max_tokens" not in body
    assert "repeat_penalty" not in body and body["response_format"]["type"] == "json_schema"


def test_several_output_and_error_files_import_into_one_run(dataset, tmp_path):
    items, _ = plan(dataset, CONFIG)
    with ResultCache(tmp_path / "c.sqlite") as cache:
        files = batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake", max_requests=3)
    first, second = (_read(path) for path in files)
    answered = _answer(first + second, fail=4)
    outputs = [_write(tmp_path / "out1.jsonl", answered[:3]), _write(tmp_path / "out2.jsonl", answered[3:4])]
    errors = _write(tmp_path / "errors.jsonl", answered[4:])
    config = CONFIG.model_copy(update={"cache": str(tmp_path / "c.sqlite")})
    stats = synthesize(dataset, config, tmp_path / "neg.jsonl", import_from=[*outputs, errors], progress=False)
    assert stats["imported"] == {"imported": 4, "failed": 1} and stats["kept"] == 4
    assert stats["failures"]["by_reason"]["batch_error"]["transient"] is True


def test_importing_with_another_model_is_an_error_not_an_empty_import(dataset, tmp_path):
    items, _ = plan(dataset, CONFIG)
    with ResultCache(tmp_path / "c.sqlite") as cache:
        batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake")
    results = _write(tmp_path / "results.jsonl", _answer(_read(tmp_path / "req.jsonl")))
    other = CONFIG.model_copy(update={"model": "other-model"})
    with pytest.raises(SynegError, match="none of the 5 results"):
        synthesize(dataset, other, tmp_path / "neg.jsonl", import_from=results, progress=False)
    assert not (tmp_path / "neg.jsonl").exists()
    proc = run_cli("synthesize", "--backend", "openai", "--model", "other-model", "--mode", "free", "--limit", "5",
                   "--no-guard", "--import-batch", results, "--out", tmp_path / "neg.jsonl")
    assert proc.returncode == 2 and "import with the --backend, --model" in proc.stderr, proc.stderr
    proc = run_cli("synthesize", "--backend", "openai", "--model", "fake", "--mode", "free", "--limit", "5",
                   "--no-guard", "--import-batch", results, "--out", tmp_path / "neg.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "neg.jsonl").read_text().splitlines()) == 5


def _import_cli(results, out: Path, *extra: str, limit: int = 5):
    return run_cli("synthesize", "--backend", "openai", "--model", "fake", "--mode", "free", "--limit", str(limit),
                   "--no-guard", *(arg for path in results for arg in ("--import-batch", path)), "--out", out, *extra)


def _exported(dataset, tmp_path: Path) -> list[dict]:
    items, _ = plan(dataset, CONFIG)
    with ResultCache(tmp_path / "export.sqlite") as cache:
        batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake")
    return _read(tmp_path / "req.jsonl")


def _committed(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        count = sum(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in ("results", "failures"))
    db.close()
    return count


@pytest.mark.parametrize("bad", [
    "{not json", '"a string"', '{"id": "b5"}',  # malformed, not an object, no custom_id
    {"response": "ok"}, {"response": {"status_code": 200, "body": {"choices": {}}}},  # wrong shapes
    {"response": {"status_code": 200, "body": {"choices": [{"message": {"content": 42}}]}}},
    {"response": {"status_code": 200, "body": {"choices": [{"message": {"content": "x"}}],
                                               "usage": {"prompt_tokens": "many"}}}},
    *({"response": {"status_code": 200, "body": {"choices": [{"message": {"content": "x"}}], "usage": usage}}}
      for usage in ({"prompt_tokens": 10**40}, {"completion_tokens": -99}, {"prompt_tokens": 2**31 + 1})),
    {"response": {"status_code": "200", "body": {}}},  # a status as text: the file's fault, not the batch API's
    '{"custom_id": "zzz", "response": 5}', '{"custom_id": "", "response": {}}',  # checked though unplanned
])
def test_batch_import_is_all_or_nothing(dataset, tmp_path, bad):
    answered = _answer(_exported(dataset, tmp_path))
    if isinstance(bad, dict):  # a result line of a planned call with a bad field
        bad = json.dumps({"id": "b5", "custom_id": answered[0]["custom_id"], **bad})
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in answered) + bad + "\n")  # line 6 is bad
    out = tmp_path / "neg.jsonl"
    proc = _import_cli([path], out)
    assert proc.returncode == 2 and f"{path}:6" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _committed(tmp_path / "neg.jsonl.cache.sqlite") == 0 and not out.exists()


def test_batch_import_refuses_token_counts_out_of_bounds(dataset, tmp_path):
    answered = _answer(_exported(dataset, tmp_path))
    answered[2]["response"]["body"]["usage"] = {"prompt_tokens": 10**40, "completion_tokens": -99}
    path = _write(tmp_path / "results.jsonl", answered)  # was: imported, stats tokens 2e40 and -198
    proc = _import_cli([path], tmp_path / "neg.jsonl")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{path}:3: usage.prompt_tokens must be from 0 to {2**31}, got {10**40}" in proc.stderr


def test_batch_import_of_a_repeated_custom_id(dataset, tmp_path):
    answered = _answer(_exported(dataset, tmp_path))
    again = _write(tmp_path / "again.jsonl", [answered[1]])  # the same reply twice is harmless
    assert _import_cli([_write(tmp_path / "results.jsonl", answered), again], tmp_path / "same.jsonl").returncode == 0
    other = json.loads(json.dumps(answered[1]))
    other["response"]["body"]["choices"][0]["message"]["content"] = json.dumps(
        {"reasoning": "r", "passage": "Another passage entirely, about sampling in several unrelated cohorts of mice."})
    path = _write(tmp_path / "conflict.jsonl", [*answered[:3], other, *answered[3:]])
    proc = _import_cli([path], tmp_path / "neg.jsonl")
    assert proc.returncode == 2 and f"{path}:4" in proc.stderr and f"first at {path}:2" in proc.stderr, proc.stderr
    assert answered[1]["custom_id"] in proc.stderr and _committed(tmp_path / "neg.jsonl.cache.sqlite") == 0
    across = _import_cli([_write(tmp_path / "first.jsonl", answered), _write(tmp_path / "second.jsonl", [other])],
                         tmp_path / "across.jsonl")
    assert across.returncode == 2 and f"{tmp_path / 'second.jsonl'}:1" in across.stderr, across.stderr


def _long_reply(line: dict, words: int) -> dict:
    """``line`` with a passage of ``words`` words (a valid reply, only too long)."""
    line = json.loads(json.dumps(line))
    passage = " ".join(f"w{i}" for i in range(words))
    line["response"]["body"]["choices"][0]["message"]["content"] = json.dumps({"reasoning": "r", "passage": passage})
    return line


def test_batch_import_refuses_a_line_longer_than_a_live_reply(dataset, tmp_path):
    answered = _answer(_exported(dataset, tmp_path))
    bomb = tmp_path / "bomb.jsonl.gz"  # one line of 17 MiB (over the 16 MiB of any reply), 17 KB compressed
    with gzip.open(bomb, "wb") as handle:
        handle.write((json.dumps(answered[0]) + "\n").encode())
        handle.write(b'{"custom_id": "' + b"a" * (17 << 20) + b'"}\n')
    proc = _import_cli([bomb], tmp_path / "neg.jsonl")
    assert proc.returncode == 2 and f"{bomb}:2: line longer than" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and _committed(tmp_path / "neg.jsonl.cache.sqlite") == 0
    long = _write(tmp_path / "long.jsonl", [answered[0], _long_reply(answered[1], 200_000), *answered[2:]])
    assert long.stat().st_size < 4 << 20  # 1.5 MB: under the 16 MiB, over what 384 tokens can take
    items, _ = plan(dataset, CONFIG)
    with ResultCache(tmp_path / "c.sqlite") as cache, pytest.raises(DataError, match="line longer than 163,840"):
        batch.import_batch(items, cache, long, {}, "fake", CONFIG.max_tokens)
    assert _committed(tmp_path / "c.sqlite") == 0


def test_batch_import_of_a_custom_id_already_answered_in_the_cache(dataset, tmp_path):
    answered = _answer(_exported(dataset, tmp_path))
    config = CONFIG.model_copy(update={"cache": str(tmp_path / "c.sqlite")})
    first = _write(tmp_path / "first.jsonl", answered)
    synthesize(dataset, config, tmp_path / "neg.jsonl", import_from=first, progress=False)
    before = (tmp_path / "neg.jsonl").read_text()
    synthesize(dataset, config, tmp_path / "neg.jsonl", import_from=first, progress=False)  # the same again: fine
    other = _long_reply(answered[2], 40)
    second = _write(tmp_path / "second.jsonl", [answered[0], other])
    with pytest.raises(DataError, match=rf"{second}:2: custom_id {answered[2]['custom_id']} already has a different "
                                        r"reply in the cache .*c\.sqlite"):
        synthesize(dataset, config, tmp_path / "neg.jsonl", import_from=second, progress=False)
    with ResultCache(tmp_path / "c.sqlite") as cache:
        assert json.loads(cache.get(answered[2]["custom_id"]).text) != json.loads(
            other["response"]["body"]["choices"][0]["message"]["content"])
    assert (tmp_path / "neg.jsonl").read_text() == before


def test_a_smaller_export_removes_the_parts_of_the_earlier_one(dataset, tmp_path):
    items, _ = plan(dataset, CONFIG)
    keep = [tmp_path / name for name in ("req.x.jsonl", "req.1.json", "other.1.jsonl", "req.jsonl.1")]
    for path in keep:
        path.write_text("not ours\n")
    with ResultCache(tmp_path / "c.sqlite") as cache:
        parts = batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake", max_requests=2)
        assert len(parts) == 3
        with pytest.raises(SynegError, match="over the 100-byte file limit"):  # a failed export changes nothing
            batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake", max_bytes=100)
        assert all(path.exists() for path in parts) and not (tmp_path / "req.jsonl").exists()
        assert batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake") == {tmp_path / "req.jsonl": 5}
        assert not any(path.exists() for path in parts)
        again = batch.export_batch(items, cache, tmp_path / "req.jsonl", "fake", max_requests=4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("req")) == sorted(
        ["req.1.jsonl", "req.2.jsonl", *(p.name for p in keep if p.name.startswith("req"))])
    assert list(again.values()) == [4, 1] and all(path.read_text() == "not ours\n" for path in keep)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_import_batch_with_export_batch_or_dry_run_is_refused(tmp_path):
    (tmp_path / "results.jsonl").write_text("")
    for extra in (("--export-batch", tmp_path / "req.jsonl"), ("--dry-run",)):
        proc = _import_cli([tmp_path / "results.jsonl"], tmp_path / "neg.jsonl", *extra)
        assert proc.returncode == 2 and f"--import-batch cannot be combined with {extra[0]}" in proc.stderr, proc.stderr
        assert not (tmp_path / "req.jsonl").exists() and not list(tmp_path.glob("neg.jsonl*"))


def test_batch_import_missing_results_exit_3_and_keep_the_rest(dataset, tmp_path):
    answered = _answer(_exported(dataset, tmp_path))
    out = tmp_path / "neg.jsonl"
    proc = _import_cli([_write(tmp_path / "part.jsonl", answered[:3])], out)
    assert proc.returncode == 3 and "2 of 5 planned calls have no result in the imported" in proc.stderr, proc.stderr
    assert len(out.read_text().splitlines()) == 3 and _committed(tmp_path / "neg.jsonl.cache.sqlite") == 3
    rest = _import_cli([_write(tmp_path / "rest.jsonl", answered[3:])], out)  # the other part completes the run
    assert rest.returncode == 0 and len(out.read_text().splitlines()) == 5, rest.stderr


@pytest.mark.parametrize("rewrite", [echo_key, echo_key_spelled], ids=["plain", "escaped-and-encoded"])
def test_batch_import_redacts_a_key_echoed_in_replies(dataset, tmp_path, monkeypatch, rewrite):
    key = "zq-ECHOED-key-7f1c2a9b"  # no known key shape: only the configured key's value can mask it
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server, lines = RewritingOpenAI(rewrite), []
    for index, request in enumerate(_exported(dataset, tmp_path)):
        status, _, body = server.respond(request["body"], {"Authorization": f"Bearer {key}"})
        lines.append({"id": f"b{index}", "custom_id": request["custom_id"],
                      "response": {"status_code": status, "body": body}})
    server.httpd.server_close()
    results = _write(tmp_path / "results.jsonl", lines)
    assert "CHOED-key-7f1c2a9b" in results.read_text()  # the key, in some spelling
    proc = _import_cli([results], tmp_path / "out" / "neg.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "The access key *** appears" in (tmp_path / "out" / "neg.jsonl").read_text()
    for path in (tmp_path / "out").iterdir():
        assert b"CHOED-key-7f1c2a9b" not in path.read_bytes(), path


def _one_call(dataset, server: str, base_url: str, **update) -> dict:
    config = CONFIG.model_copy(update={"server": server, "base_url": base_url, "limit": 1, **update})
    items, _ = plan(dataset, config)
    backend = make_backend(config)

    async def call():
        try:
            return await backend.complete(items[0].messages, items[0].sampling, OUTPUT_SCHEMA)
        finally:
            await backend.aclose()

    assert asyncio.run(call()).text
    return items[0]


def test_vllm_servers_get_vllms_own_field_names(dataset):
    with FakeOpenAI() as server:
        item = _one_call(dataset, "vllm", server.base_url, repeat_penalty=1.1)
    assert server.log[0]["body"] == {
        "model": "fake", "messages": item.messages, "max_tokens": CONFIG.max_tokens, "temperature": CONFIG.temperature,
        "seed": item.sampling.seed, "repetition_penalty": 1.1, "structured_outputs": {"json": OUTPUT_SCHEMA},
    }


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


@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_without_vllm_is_a_clear_error(tmp_path):
    proc = run_cli("synthesize", "--backend", "vllm", "--model", "Qwen/Qwen2.5-7B-Instruct", "--mode", "free",
                   "--limit", "1", "--out", tmp_path / "neg.jsonl")
    assert proc.returncode == 2 and "pip install 'syneg[vllm]'" in proc.stderr, proc.stderr
    assert not (tmp_path / "neg.jsonl").exists()
