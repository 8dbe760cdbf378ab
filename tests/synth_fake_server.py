"""A real, fault-injecting OpenAI-compatible HTTP server on loopback (stdlib only), for tests and bench.

Replies are canned JSON derived from the request (same request, same reply). ``faults`` is a queue
of one-shot faults served to the next requests in order: "429", "429-soon" (a malformed Retry-After),
"429-long" (Retry-After: 120), "500", "timeout", "malformed", "truncated", "cut" (JSON cut mid-string,
yet finish_reason "stop"), "think", "empty", "garbage" (prose, not JSON), "context-400" (vLLM's
context-length 400) and "echo-key-400" / "echo-key-401" (an error body that echoes the API key).
``reject_modes`` answers 400 to those ``response_format`` types, as llama.cpp's server does for
``json_schema``; ``truncate_below`` cuts replies of requests whose ``max_tokens`` is smaller;
``cut_below`` cuts them mid-string like "cut".

Faults of the reply body itself (status 200 unless named): "drip" (a valid reply sent one byte every
``drip`` seconds), "html" (a web page), "null" (the JSON ``null``), "shape" (JSON without a choices
list), "huge" (an endless body without a length), "huge-declared" (a Content-Length of 16 GiB, then an
endless body), "huge-500" (an endless error body) and "gzip" (a valid reply gzip-compressed whatever
the request's Accept-Encoding). Endless bodies stop at 64 MiB. "empty-choices": a completion whose
``choices`` list is empty. "redirect-NNN LOCATION" (e.g. ``"redirect-307 http://127.0.0.1:9/v1/x"``): status
NNN with that Location header and an empty body.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Raw:
    """A reply body sent as is: ``chunks`` one by one, ``pause`` seconds apart; ``length`` None = until closed."""

    chunks: Iterable[bytes]
    content_type: str = "application/json"
    length: int | None = None
    pause: float = 0.0


def canned(messages: list[dict]) -> dict:
    """A deterministic, schema-valid reply built from the query in the last user turn."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    query = next((line[7:] for line in user.splitlines() if line.startswith("Query: ")), user[:80])
    tag = hashlib.blake2b(json.dumps(messages, sort_keys=True).encode(), digest_size=4).hexdigest()
    words = [w.strip(".,;:()") for w in query.split()][:8]
    return {
        "reasoning": f"It uses the query's terms ({' '.join(words[:3])}) but discusses a side topic only.",
        "passage": f"Variant {tag}: earlier surveys of {' '.join(words)} focused on sampling methods, "
        "cohort recruitment and laboratory logistics rather than on the outcome itself, and the "
        "authors list funding sources and open questions for later work.",
    }


class FakeOpenAI:
    """``with FakeOpenAI() as server: server.base_url`` -> ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, faults=(), reject_modes=(), truncate_below: int = 0, delay: float = 0.0, hang: float = 3.0,
                 reject_status: int = 400, cut_below: int = 0, port: int = 0, drip: float = 0.05):
        self.faults = deque(faults)
        self.reject_modes = set(reject_modes)
        self.reject_status = reject_status  # llama_cpp.server answers 500 (a validation error)
        self.truncate_below = truncate_below
        self.cut_below = cut_below
        self.delay = delay
        self.hang = hang
        self.drip = drip  # seconds between the bytes of a "drip" reply
        self.log: list[dict] = []  # one entry per request: body, status, time, fault
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ok_bodies(self) -> list[dict]:
        with self.lock:
            return [e["body"] for e in self.log if e["status"] == 200]

    def respond(self, body: dict, headers: dict | None = None) -> tuple[int, dict, dict | Raw]:
        """(status, headers, JSON body or a :class:`Raw` one) for one request."""
        fmt = (body.get("response_format") or {}).get("type")
        with self.lock:
            fault = None if fmt in self.reject_modes else (self.faults.popleft() if self.faults else None)
            self.log.append({"body": body, "time": time.monotonic(), "fault": fault,
                             "status": self.reject_status if fmt in self.reject_modes else _status(fault)})
        if fmt in self.reject_modes:
            message = f"('body', 'response_format', 'type'): input should be 'text', not {fmt!r}"
            return self.reject_status, {}, {"error": {"message": message}}
        if fault in _RETRY_AFTER:
            return 429, {"Retry-After": _RETRY_AFTER[fault]}, {"error": {"message": "rate limited"}}
        if fault == "context-400":
            return 400, {}, {"error": {"message": "This model's maximum context length is 2048 tokens. However, you "
                                                  "requested 2400 tokens (2016 in the messages, 384 in the completion)."}}
        if fault in ("echo-key-400", "echo-key-401"):
            key = bearer(headers)
            return int(fault[-3:]), {}, {"error": {"message": f"Incorrect API key provided: {key}; "
                                                              f"header was Authorization: Bearer {key}"}}
        if fault and fault.startswith("redirect-"):
            status, _, location = fault.removeprefix("redirect-").partition(" ")
            return int(status), {"Location": location}, Raw([b""], length=0)
        if fault == "500":
            return 500, {}, {"error": {"message": "internal error"}}
        if fault in _RAW:
            return _STATUS.get(fault, 200), {}, _RAW[fault]()
        if fault == "timeout":
            time.sleep(self.hang)
        content = json.dumps(canned(body["messages"]))
        finish = "stop"
        if fault == "malformed":
            content = content[: len(content) // 2].replace('"', "'") + " <<garbled"
        elif fault == "think":
            content = f"<think>Let me plan the passage first.</think>\n```json\n{content}\n```"
        elif fault == "garbage":
            content = "Sure! Here is a passage that looks relevant but is not."
        elif fault == "empty":
            content = ""
        elif fault == "truncated" or body.get("max_tokens", 1 << 30) < self.truncate_below:
            content, finish = content[:60], "length"
        elif fault == "cut" or body.get("max_tokens", 1 << 30) < self.cut_below:
            content = content[: content.index('"passage"') + 60]  # ends mid-word inside the passage
        time.sleep(self.delay)
        if fault == "drip":
            data = json.dumps(_completion(body, content, finish)).encode()
            return 200, {}, Raw((data[i:i + 1] for i in range(len(data))), length=len(data), pause=self.drip)
        if fault == "gzip":  # compressed although the client asked for identity
            data = gzip.compress(json.dumps(_completion(body, content, finish)).encode())
            return 200, {"Content-Encoding": "gzip"}, Raw([data], length=len(data))
        return 200, {}, _completion(body, content, finish)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                status, headers, payload = server.respond(body, dict(self.headers))
                if not isinstance(payload, Raw):
                    data = json.dumps(payload).encode()
                    payload = Raw([data], length=len(data))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", payload.content_type)
                    if payload.length is not None:
                        self.send_header("Content-Length", str(payload.length))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    for chunk in payload.chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(payload.pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler


_STATUS = {"429": 429, "429-soon": 429, "429-long": 429, "500": 500, "huge-500": 500}
_RETRY_AFTER = {"429": "1", "429-soon": "soon", "429-long": "120"}
_ENDLESS = b" " * (1 << 20)  # JSON whitespace, 1 MiB at a time (at most 64 MiB, should the client never stop)
_RAW = {
    "html": lambda: Raw([b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"], "text/html"),
    "null": lambda: Raw([b"null"]),
    "shape": lambda: Raw([json.dumps({"object": "chat.completion", "choices": "none"}).encode()]),
    "huge": lambda: Raw(itertools.repeat(_ENDLESS, 64)),
    "huge-declared": lambda: Raw(itertools.repeat(_ENDLESS, 64), length=1 << 34),
    "huge-500": lambda: Raw(itertools.repeat(_ENDLESS, 64)),
    "empty-choices": lambda: Raw([json.dumps({"object": "chat.completion", "choices": []}).encode()]),
}


def _status(fault: str | None) -> int:
    if fault and fault.startswith("redirect-"):
        return int(fault[9:12])
    return _STATUS.get(fault, 200)


def _completion(body: dict, content: str, finish: str) -> dict:
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                  "total_tokens": prompt_tokens + len(content.split())},
    }


class RewritingOpenAI(FakeOpenAI):
    """A :class:`FakeOpenAI` whose successful replies pass through ``rewrite(reply, api_key) -> reply`` (the
    schema's dict, or the reply's JSON text as sent; ``api_key`` from the request's Authorization header): a
    server that echoes the key in a reply, or sends junk passages."""

    def __init__(self, rewrite, **kwargs):
        super().__init__(**kwargs)
        self.rewrite = rewrite

    def respond(self, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
        status, extra, payload = super().respond(body, headers)
        message = payload["choices"][0]["message"] if status == 200 else {}
        try:
            reply = json.loads(message.get("content") or "")
        except ValueError:  # an error, or a fault's garbled reply: left as it is
            return status, extra, payload
        rewritten = self.rewrite(reply, bearer(headers))
        message["content"] = rewritten if isinstance(rewritten, str) else json.dumps(rewritten)
        return status, extra, payload


def bearer(headers: dict | None) -> str:
    """The API key of a request's Authorization header (any case: httpx sends it lower case)."""
    auth = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), "")
    return auth.removeprefix("Bearer ")


def echo_key(reply: dict, key: str) -> dict:
    """A ``rewrite`` for :class:`RewritingOpenAI`: the key in the passage and the reasoning of a valid reply."""
    return {"reasoning": f"{reply['reasoning']} (request key {key})",
            "passage": f"{reply['passage']} The access key {key} appears in the logs of the cohort."}


def echo_key_spelled(reply: dict, key: str) -> str:
    """A ``rewrite`` like :func:`echo_key`, the key spelled as a JSON text may spell it: in the passage with
    its first character JSON-escaped (``\\u007a...``), in the reasoning with its fourth percent-encoded."""
    escaped, encoded = f"\\u{ord(key[0]):04x}{key[1:]}", f"{key[:3]}%{ord(key[3]):02X}{key[4:]}"
    text = json.dumps(echo_key(reply, "KEY-SPELLED"))
    return text.replace("KEY-SPELLED", encoded, 1).replace("KEY-SPELLED", escaped, 1)  # reasoning comes first
