"""Synthesis failures give the right result or a clear error (issue #10): cut-off replies, transient
vs content failures and exit codes, structured-output fallback, Retry-After, timeouts and deadlines,
CLI choices, secrets. Real HTTP servers on loopback, the real CLI in subprocesses."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).parent))

from conftest import run_cli  # noqa: E402
from synth_fake_server import FakeOpenAI  # noqa: E402

from syneg.config import SynthesizeConfig, TeacherConfig  # noqa: E402
from syneg.data import load_dataset  # noqa: E402
from syneg.io import read_records  # noqa: E402
from syneg.records import SyntheticNegative  # noqa: E402
from syneg.synthesis import synthesize  # noqa: E402
from syneg.synthesis.backends.openai_backend import OpenAIBackend  # noqa: E402
from syneg.synthesis.backends.reply import MAX_REPLY_BYTES, reply_cap  # noqa: E402
from syneg.synthesis.backends.retry import RetryPolicy  # noqa: E402
from syneg.synthesis.cache import ResultCache  # noqa: E402


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def run(dataset, server, out, **overrides):
    """Synthesize through the openai backend against ``server`` with fast retries and no guard."""
    config = SynthesizeConfig(**{"backend": "openai", "model": "fake", "base_url": server.base_url, "mode": "free",
                                 "limit": 1, "guard": False, "concurrency": 1, **overrides})
    backend = OpenAIBackend("fake", server.base_url, timeout=config.request_timeout,
                            retry=RetryPolicy(max_attempts=config.max_attempts, base=0.01))
    return synthesize(dataset, config, out, backend=backend, progress=False), backend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(url: str, out: Path, *extra: str):
    return run_cli("synthesize", "--backend", "openai", "--model", "fake", "--base-url", url, "--mode", "free",
                   "--no-guard", "--max-attempts", "2", "--out", out, *extra)


def failed_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.with_name(out.name + ".failed.jsonl").read_text().splitlines()]


# --- 1. a reply cut off mid-string is a truncation, never a negative ----------------------------

def test_cut_off_reply_is_retried_with_more_room(dataset, tmp_path):
    with FakeOpenAI(faults=["cut"]) as server:
        stats, _ = run(dataset, server, tmp_path / "out.jsonl", max_tokens=300)
    assert [e["body"]["max_tokens"] for e in server.log] == [300, 600]
    assert stats["kept"] == 1 and stats["run"]["widened"] == 1
    assert read_records(tmp_path / "out.jsonl", SyntheticNegative)[0].text.endswith("later work.")


def test_always_cut_off_fails_as_truncated_and_keeps_nothing(dataset, tmp_path):
    with FakeOpenAI(cut_below=10_000) as server:
        stats, _ = run(dataset, server, tmp_path / "out.jsonl", limit=3)
    assert stats["kept"] == 0 and stats["drops"]["call"] == {"truncated": 3}
    assert (tmp_path / "out.jsonl").read_text() == ""
    assert stats["failures"]["by_reason"]["truncated"]["transient"] is False


def test_mixed_cut_off_server_keeps_only_finished_passages(tmp_path):
    """A server that cuts some replies short: every kept passage is a whole one."""
    faults = ["cut", None, "cut", "cut", None, None, "cut", None] * 2
    with FakeOpenAI(faults=faults) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "10")
    assert result.returncode == 0, result.stderr
    kept = read_records(tmp_path / "out.jsonl", SyntheticNegative)
    truncated = [r for r in failed_rows(tmp_path / "out.jsonl") if r["reason"] == "truncated"]
    assert len(kept) + len(truncated) == 10 and len(kept) >= 6
    assert all(n.text.endswith("later work.") for n in kept)  # before: cut-off passages were kept


# --- 2. failed calls: non-zero exit, a summary per reason, transient ones retried by a plain rerun --

def test_server_down_exits_3_then_plain_rerun_retries(tmp_path):
    port = free_port()
    url, out = f"http://127.0.0.1:{port}/v1", tmp_path / "out.jsonl"
    down = cli(url, out, "--limit", "4")
    assert down.returncode == 3, down.stderr
    assert "4 of 4 items failed" in down.stderr and "connection" in down.stderr and url in down.stderr
    assert "plain rerun retries" in down.stderr and "Traceback" not in down.stderr
    assert out.read_text() == "" and {r["reason"] for r in failed_rows(out)} == {"connection"}
    with FakeOpenAI(port=port) as server:
        back = cli(url, out, "--limit", "4")
    assert back.returncode == 0, back.stderr
    assert len(server.log) == 4 and len(out.read_text().splitlines()) == 4


def test_content_failures_stay_failed_and_all_failed_exits_3(tmp_path):
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(faults=["garbage"] * 4) as server:
        first = cli(server.base_url, out, "--limit", "2")
        assert first.returncode == 3 and "2 unparseable" in first.stderr and "--retry-failed" in first.stderr
        again = cli(server.base_url, out, "--limit", "2")  # sticky: nothing sent, still every item failed
        assert again.returncode == 3 and len(server.log) == 4
        retried = cli(server.base_url, out, "--limit", "2", "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert len(server.log) == 6 and len(out.read_text().splitlines()) == 2


def test_some_content_failures_exit_0_with_a_summary(tmp_path):
    with FakeOpenAI(faults=["garbage", "garbage"]) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "3", "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    assert "1 of 3 items failed" in result.stderr and "1 unparseable" in result.stderr


def test_syneg_run_stops_at_failed_synthesis(tmp_path, small_slice):
    port = free_port()
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={small_slice}",
                     "--set", "synthesize.backend=openai", "--set", "synthesize.model=fake",
                     "--set", f"synthesize.base_url=http://127.0.0.1:{port}/v1",
                     "--set", "synthesize.max_attempts=1", "--set", "synthesize.limit=3")
    assert result.returncode == 3, result.stderr
    assert "3 of 3 items failed" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert (run_dir / "stages" / "mine.done.json").exists()
    assert not (run_dir / "stages" / "synthesize.done.json").exists() and not (run_dir / "train.jsonl").exists()


# --- 3. only "format unsupported" errors change the structured-output mode ------------------------

def test_context_length_400_fails_its_item_only(dataset, tmp_path):
    with FakeOpenAI(faults=["context-400"]) as server:
        stats, backend = run(dataset, server, tmp_path / "out.jsonl", limit=3)
    formats = [(e["body"].get("response_format") or {}).get("type") for e in server.log]
    assert formats == ["json_schema"] * 3 and backend.mode == "json_schema"
    assert stats["kept"] == 2 and stats["drops"]["call"] == {"bad_request": 1}
    assert stats["run"]["modes"] == {"json_schema": 2}
    assert "maximum context length" in failed_rows(tmp_path / "out.jsonl")[0]["detail"]


def test_each_call_records_its_mode(dataset, tmp_path):
    with FakeOpenAI(reject_modes={"json_schema"}) as server:
        stats, _ = run(dataset, server, tmp_path / "out.jsonl", limit=2)
    assert stats["run"]["modes"] == {"json_object": 2} and stats["run"]["backend"]["calls_json_object"] == 2
    with sqlite3.connect(tmp_path / "out.jsonl.cache.sqlite") as db:
        assert [row[0] for row in db.execute("SELECT mode FROM results")] == ["json_object", "json_object"]


def test_cache_from_before_the_mode_column_still_opens(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE results (item_key TEXT PRIMARY KEY, call_key TEXT NOT NULL, text TEXT NOT NULL,"
                         " finish TEXT, usage TEXT NOT NULL, latency REAL, calls INTEGER NOT NULL, created REAL NOT NULL);"
                         "INSERT INTO results VALUES ('k', 'c', '{}', 'stop', '{}', 0.1, 1, 0);")
    with ResultCache(path) as cache:
        assert cache.get("k").mode is None and cache.keys() == {"k"}


# --- Retry-After, timeouts, deadline ------------------------------------------------------------

def test_malformed_retry_after_falls_back_to_backoff(dataset, tmp_path):
    assert RetryPolicy().retry_after({"retry-after": "soon"}) is None
    with FakeOpenAI(faults=["429-soon"]) as server:
        stats, backend = run(dataset, server, tmp_path / "out.jsonl")
    assert stats["kept"] == 1 and len(backend.waits) == 1 and backend.waits[0] < 1.0


def test_request_timeout_and_max_attempts_options(tmp_path):
    with FakeOpenAI(faults=["timeout"] * 3, hang=3.0) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "1", "--request-timeout", "0.3",
                     "--max-attempts", "1")
    assert result.returncode == 3 and "timeout" in result.stderr
    assert len(server.log) == 1


def test_deadline_bounds_the_run(tmp_path):
    with FakeOpenAI(delay=2.0) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "6", "--concurrency", "1",
                     "--deadline", "1")
    assert result.returncode == 3 and "deadline" in result.stderr
    assert {r["reason"] for r in failed_rows(tmp_path / "out.jsonl")} == {"deadline"}


# --- CLI choices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--backend", "--mode"])
def test_cli_choices_are_checked_and_listed(tmp_path, option):
    result = run_cli("synthesize", option, "foo", "--dry-run", "--out", tmp_path / "o.jsonl")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("llamacpp" in result.stderr and "openai" in result.stderr) if option == "--backend" else "grounded" in result.stderr
    assert "transformers" in run_cli("synthesize", "--help").stdout


@pytest.mark.parametrize("option", [("--request-timeout", "-1"), ("--max-attempts", "0"), ("--deadline", "0"),
                                    ("--request-timeout", "1e300"), ("--request-timeout", "3601"),
                                    ("--deadline", "1e300"), ("--deadline", "2592001")])
def test_cli_refuses_bad_numbers(tmp_path, option):
    result = run_cli("synthesize", *option, "--dry-run", "--out", tmp_path / "o.jsonl")
    assert result.returncode == 2 and option[0] in result.stderr and "Traceback" not in result.stderr
    assert SynthesizeConfig(request_timeout=3600, deadline=30 * 86400).deadline == 30 * 86400  # the bounds themselves


@pytest.mark.parametrize("model", ["", "   ", "m\nx"])
def test_blank_model_names_are_refused_before_any_work(tmp_path, model):
    with FakeOpenAI() as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "1", "--model", model)
    assert result.returncode == 2 and "--model" in result.stderr and "names no model" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not server.log and not list(tmp_path.iterdir())
    with pytest.raises(ValidationError, match="names no model"):
        TeacherConfig(model=" ")


# --- secrets never written ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["echo-key-400", "echo-key-401"])
def test_error_bodies_echoing_the_key_are_redacted(dataset, tmp_path, monkeypatch, fault):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-4567")
    with FakeOpenAI(faults=[fault]) as server:
        config = SynthesizeConfig(backend="openai", model="fake", base_url=server.base_url, mode="free", limit=1,
                                  guard=False, max_attempts=1)
        stats = synthesize(dataset, config, tmp_path / "out.jsonl", progress=False)
    assert stats["drops"]["call"] == {"bad_request" if fault.endswith("400") else "auth": 1}
    for path in tmp_path.iterdir():
        assert b"SECRET" not in path.read_bytes(), path
    with sqlite3.connect(tmp_path / "out.jsonl.cache.sqlite") as db:
        assert all("SECRET" not in str(row) for row in db.execute("SELECT * FROM failures"))
    # the server did echo the key, and it was masked
    assert "Incorrect API key provided: ***" in (tmp_path / "out.jsonl.failed.jsonl").read_text()


@pytest.mark.parametrize("value", [" Zq9adv1SecretKeyValue77", "Zq9adv1SecretKeyValue77\n", "Zq9adv1 SecretKeyValue77",
                                   "Zq9adv1SecretKeyValue77\t", "Zq9adv1\x1b[0mSecretKeyValue77"])
def test_an_api_key_with_whitespace_is_a_configuration_error(tmp_path, monkeypatch, value):
    """Not five transient "connection" failures (exit 3): refused up front, the variable named, the key unshown."""
    monkeypatch.setenv("SYNEG_TEST_KEY", value)
    result = run_cli("synthesize", "--backend", "openai", "--model", "m", "--mode", "free", "--no-guard",
                     "--limit", "1", "--base-url", "http://127.0.0.1:9/v1", "--set", "synthesize.api_key_env=SYNEG_TEST_KEY",
                     "--out", tmp_path / "o.jsonl")
    assert result.returncode == 2 and "SYNEG_TEST_KEY" in result.stderr, result.stderr
    assert "SecretKey" not in result.stderr and "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_a_registered_secret_is_masked_stripped_and_in_any_spelling():
    from syneg.redact import redact, register_secret

    register_secret(" Wv7regSecretValue42\n")  # registered with its whitespace, echoed without it
    for spelled in ("Wv7regSecretValue42", "\\u0057v7regSecretValue42", "\\u0057v7reg\\u0053ecretValue42",
                    "Wv7%72egSecretValue42", "Wv7%72eg%53ecretValue42", "&#87;v7regSecret&#x56;alue42"):
        assert redact(f"key {spelled}.") == "key ***.", spelled
    assert redact("Wv7regSecretValue4") == "Wv7regSecretValue4"  # a different value stays


def test_credentials_in_base_url_are_not_written(tmp_path):
    shown = run_cli("config", "show", "--set", "synthesize.base_url=http://alice:hunter22@127.0.0.1:9/v1")
    assert shown.returncode == 0 and "hunter22" not in shown.stdout and "127.0.0.1:9/v1" in shown.stdout
    port = free_port()
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", "synthesize.backend=openai", "--set", "synthesize.model=m",
                     "--set", f"synthesize.base_url=http://alice:hunter22@127.0.0.1:{port}/v1",
                     "--set", "synthesize.max_attempts=1", "--set", "synthesize.limit=2", "--set", "mine.max_queries=5")
    assert result.returncode == 3 and "hunter22" not in result.stderr
    for path in run_dir.rglob("*"):
        assert not path.is_file() or b"hunter22" not in path.read_bytes(), path


def test_failed_batch_lines_are_transient_not_cached(dataset, tmp_path):
    from syneg.synthesis import batch, plan

    config = SynthesizeConfig(backend="openai", model="fake", mode="free", limit=2, guard=False,
                              cache=str(tmp_path / "c.sqlite"))
    items, _ = plan(dataset, config)
    with ResultCache(tmp_path / "c.sqlite") as cache:
        batch.export_batch(items, cache, tmp_path / "requests.jsonl", "fake")
    server = FakeOpenAI()
    lines = []
    for index, request in enumerate(json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()):
        status, _, body = server.respond(request["body"])
        response = {"status_code": 500 if index == 0 else status, "body": body}
        lines.append({"id": f"b{index}", "custom_id": request["custom_id"], "error": None, "response": response})
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    stats = synthesize(dataset, config, tmp_path / "out.jsonl", import_from=tmp_path / "results.jsonl", progress=False)
    assert stats["kept"] == 1 and stats["failures"]["transient"] == 1
    assert stats["failures"]["by_reason"]["batch_error"]["transient"] is True
    with ResultCache(tmp_path / "c.sqlite") as cache:  # not sticky: the next export asks for it again
        assert cache.failure(items[0].key) is None
        assert sum(batch.export_batch(items, cache, tmp_path / "again.jsonl", "fake").values()) == 1


def test_redaction_of_query_secrets_and_long_messages():
    from syneg.redact import redact_url, register_secret
    from syneg.synthesis.backends.openai_backend import _message

    assert redact_url("http://u:p@h:8/v1?api_key=SECRET123&x=1") == "http://***@h:8/v1?api_key=***&x=1"
    secret = "tok_" + "A" * 40
    register_secret(secret)
    text = "x" * 290 + secret  # the key straddles the 300-character cut
    assert "tok_" not in _message(RuntimeError(text)) and "AAAA" not in _message(RuntimeError(text))
    assert _message(RuntimeError("<html>\n<h1>\x1b[31mNot found\x1b[0m</h1>")) == "<html> <h1> [31mNot found [0m</h1>"


# --- issue #25: timeouts bound the whole reply; replies checked by shape and size; base_url checked first ----

def test_request_timeout_bounds_the_whole_reply_not_the_gap_between_bytes(tmp_path):
    """A valid reply dripped one byte every 0.05 s (~40 s in all) never trips a per-read timeout."""
    with FakeOpenAI(faults=["drip"], drip=0.05) as server:
        started = time.monotonic()
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "1", "--request-timeout", "1",
                     "--max-attempts", "1")
        took = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert "timeout" in result.stderr and "no whole reply within 1 s" in result.stderr
    assert took < 20 and len(server.log) == 1  # before: held until the last byte, then kept
    assert [r["reason"] for r in failed_rows(tmp_path / "out.jsonl")] == ["timeout"]


def test_a_long_retry_wait_prints_one_line(tmp_path):
    """Two calls told to wait 120 s: one info line (not one per call, not none); the deadline ends the wait."""
    with FakeOpenAI(faults=["429-long"] * 2) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "2", "--concurrency", "2", "--deadline", "2")
    assert result.returncode == 3 and "deadline" in result.stderr, result.stderr
    assert result.stderr.count("waiting 120 s before retrying") == 1 and "rate_limited" in result.stderr


def test_replies_that_are_no_chat_completion_fail_cleanly_and_a_rerun_retries(tmp_path):
    """HTML, ``null`` and a JSON object without a choices list: clean transient failures, never a traceback."""
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(faults=["html", "null", "shape", "empty-choices"]) as server:
        first = cli(server.base_url, out, "--limit", "4", "--concurrency", "1")
        assert first.returncode == 3, first.stderr
        assert "4 bad_reply" in first.stderr and "plain rerun retries" in first.stderr
        assert "AttributeError" not in first.stderr and "Traceback" not in first.stderr
        rows = failed_rows(out)
        assert {r["reason"] for r in rows} == {"bad_reply"} and out.read_text() == ""
        assert any("Welcome to nginx" in r["detail"] for r in rows)
        again = cli(server.base_url, out, "--limit", "4")  # the server is healthy now: all retried
    assert again.returncode == 0, again.stderr
    assert len(out.read_text().splitlines()) == 4  # before: an empty choices list was a sticky "unparseable"


def test_oversized_replies_fail_cleanly(tmp_path):
    """Endless 200 and 500 bodies, a declared 16 GiB body and a compressed one: stopped at the cap."""
    with FakeOpenAI(faults=["huge", "huge-declared", "huge-500", "gzip"]) as server:
        result = cli(server.base_url, tmp_path / "out.jsonl", "--limit", "4", "--concurrency", "1")
    assert result.returncode == 3, result.stderr
    assert "4 too_large" in result.stderr and "Traceback" not in result.stderr
    assert all(e["body"] for e in server.log) and len(server.log) == 4  # each failed at once, no retry
    assert {r["reason"] for r in failed_rows(tmp_path / "out.jsonl")} == {"too_large"}
    assert reply_cap(384) < 256 << 10 and reply_cap(10**12) == MAX_REPLY_BYTES  # a JSON tree costs ~100x its bytes


def test_a_bad_reply_shows_its_start_with_secrets_masked_whole():
    from syneg.redact import register_secret
    from syneg.synthesis.backends.base import BackendError
    from syneg.synthesis.backends.reply import parse_reply

    register_secret("tok_" + "K" * 40)
    with pytest.raises(BackendError) as caught:  # the key straddles the 60-character cut of the shown start
        parse_reply(b"<html>" + b"x" * 40 + b" tok_" + b"K" * 40 + b"</html>", "http://127.0.0.1:1/v1")
    assert caught.value.reason == "bad_reply" and caught.value.transient
    assert "KKK" not in str(caught.value) and "tok_" not in str(caught.value)


BAD_BASE_URLS = ["http://127.0.0.1:99999/v1", "http://127.0.0.1:abc/v1", "http://127.0.0.1:0/v1", "ftp://127.0.0.1/v1",
                 "file:///etc/passwd", "127.0.0.1:8000/v1", "localhost:8000/v1", "http:///v1", "http://[::1/v1",
                 "http://127.0.0.1:8000/v1 x", "http://127.0.0.1:8000/v1\n", "http://h:8000:9/v1",
                 "http://xn--héllo.invalid/v1", "http://alice:hunter22@127.0.0.1:99999/v1",
                 "http://a..b:8000/v1", "http://-x-.com:8000/v1", "http://x-.example/v1", "http://.example/v1",
                 "http://256.1.1.1:8000/v1", "http://1.2.3/v1", "http://%61b.example/v1", "http://a!b.example/v1",
                 f"http://{'a' * 64}.example/v1"]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_bad_base_urls_are_configuration_errors(url):
    with pytest.raises(ValidationError) as caught:
        SynthesizeConfig(base_url=url)
    error = caught.value.errors()[0]
    assert error["loc"] == ("base_url",) and "hunter22" not in error["msg"]  # syneg shows the message only
    for good in ("http://[::1]:8000/v1", "http://bücher.example:8000/v1", "http://my-host.local./v1",
                 "http://llama_server:8080/v1", "https://API.example.com/v1"):
        assert SynthesizeConfig(base_url=good).base_url == good


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "http://alice:hunter22@127.0.0.1:99999/v1"])
def test_bad_base_url_exits_2_before_any_work(tmp_path, url):
    out = tmp_path / "out.jsonl"
    result = cli(url, out, "--limit", "1")
    assert result.returncode == 2 and "--base-url" in result.stderr and "Traceback" not in result.stderr
    assert "hunter22" not in result.stderr and not list(tmp_path.iterdir())
    run = run_cli("run", "--run-dir", tmp_path / "run", "--set", f"synthesize.base_url={url}",
                  "--set", "synthesize.backend=openai", "--set", "synthesize.model=m")
    assert run.returncode == 2 and "synthesize.base_url" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "run" / "stages").exists()


def test_bad_openai_base_url_from_the_environment_exits_2(tmp_path, monkeypatch):
    """Without --base-url the SDK reads OPENAI_BASE_URL: it is checked the same way and named."""
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://alice:hunter22@127.0.0.1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-1234")
    result = run_cli("synthesize", "--backend", "openai", "--model", "m", "--mode", "free", "--no-guard",
                     "--limit", "1", "--out", tmp_path / "out.jsonl")
    assert result.returncode == 2 and "OPENAI_BASE_URL" in result.stderr, result.stderr
    assert "hunter22" not in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # checked before the cache file is made
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run_cli("synthesize", "--backend", "openai", "--model", "m", "--mode", "free", "--no-guard",
                     "--limit", "1", "--out", tmp_path / "out.jsonl")
    assert result.returncode == 2 and "no API key" in result.stderr and not list(tmp_path.iterdir())


# --- issue #25, round 3: redirects are configuration errors; long total waits announced --------------

@pytest.mark.parametrize("status, location", [
    (307, "{other}/chat/completions"),  # another port: before, the prompts went there and its replies were kept
    (308, "http://alice:hunter22@127.0.0.1:1/v1/chat/completions"),
    (301, "{other}/chat/completions"),  # before: POST turned into GET, "InternalServerError (501)"
    (302, "ftp://127.0.0.1/x"),  # before: a transient "Connection error", exit 3
    (307, "file:///etc/passwd"),
    (303, "https://127.0.0.1:1/v1/chat/completions"),
])
def test_redirects_are_not_followed_and_are_configuration_errors(tmp_path, status, location):
    out = tmp_path / "out.jsonl"
    with FakeOpenAI() as other:
        where = location.format(other=other.base_url)
        with FakeOpenAI(faults=[f"redirect-{status} {where}"] * 3) as server:
            result = cli(server.base_url, out, "--limit", "3", "--concurrency", "1")
    assert result.returncode == 2, result.stderr
    assert f"answered {status} (a redirect to " in result.stderr and "--base-url" in result.stderr
    assert where.replace("alice:hunter22", "***") in result.stderr and "hunter22" not in result.stderr
    assert "Traceback" not in result.stderr and "plain rerun" not in result.stderr
    assert not other.log and len(server.log) == 1  # nothing sent elsewhere; the run stopped at the first redirect
    assert not out.exists()


def test_one_long_wait_per_call_and_per_long_stretch_is_announced(dataset, tmp_path, monkeypatch, capsys):
    """Retry-After 1 s under a 1.5 s threshold: each wait is short, the total is not (before: silence)."""
    from syneg.synthesis.backends import openai_backend

    monkeypatch.setattr(openai_backend, "LONG_WAIT_S", 1.5)
    with FakeOpenAI(faults=["429"] * 4) as server:  # one call waits 1 + 1 + 1 + 1 s
        stats, backend = run(dataset, server, tmp_path / "a.jsonl", max_attempts=5)
    assert stats["kept"] == 1 and backend.waits == [1.0] * 4
    lines = [line for line in capsys.readouterr().err.splitlines() if "before retrying" in line]
    assert len(lines) == 2 and "2 s of waiting for this call" in lines[0] and "4 s of waiting" in lines[1]
    with FakeOpenAI(faults=["429", None, "429", None]) as server:  # two calls, each waits 1 s once
        stats, backend = run(dataset, server, tmp_path / "b.jsonl", limit=2)
    assert stats["kept"] == 2 and backend.waits == [1.0, 1.0]
    lines = [line for line in capsys.readouterr().err.splitlines() if "before retrying" in line]
    assert len(lines) == 1 and "rate_limited" in lines[0]  # the backend waited 2 s in all since its last note


def test_run_checks_the_backend_settings_before_any_stage(tmp_path, monkeypatch):
    """A key `syneg synthesize` refuses up front is refused by `syneg run` before mining, with no run directory."""
    monkeypatch.setenv("SYNEG_TEST_KEY", "Wv7run SecretValue42")
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", "synthesize.backend=openai", "--set", "synthesize.model=m",
                     "--set", "synthesize.base_url=http://127.0.0.1:9/v1", "--set", "synthesize.api_key_env=SYNEG_TEST_KEY")
    assert result.returncode == 2 and "SYNEG_TEST_KEY" in result.stderr and "Traceback" not in result.stderr
    assert "[mine]" not in result.stderr and not run_dir.exists()
