"""OpenAI-compatible servers (vLLM, Ollama, llama.cpp server, OpenAI) through the async openai SDK.

``timeout`` bounds each attempt's whole reply (wall time, not the gap between bytes); replies are
bounded in size and checked by shape (see .reply); a redirect is a configuration error (none is followed).
Long waits before retries print one line: when one call has waited :data:`LONG_WAIT_S` in all, and whenever
the calls together have waited that long (wall time) since the last such line.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from typing import TYPE_CHECKING

from syneg.errors import SynegError
from syneg.progress import note
from syneg.redact import redact, redact_url, register_secret
from syneg.synthesis.backends.base import BackendError, ChatBackend, Completion, Sampling
from syneg.synthesis.backends.retry import RetryPolicy
from syneg.synthesis.backends.urls import check_base_url
from syneg.synthesis.backends.wire import request_fields, server_for

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.backends.reply import ChatReply

# Structured-output modes, tried in order; an error saying the server does not support one
# moves that request, and the calls after it, to the next.
MODES = ("json_schema", "json_object", "prompt")
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output", "guided_json", "guided decoding",
                 "structured_outputs")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # newlines, ANSI escapes: a server's message prints as one line
LONG_WAIT_S = 10.0  # waiting this long before retries (one call's, or all calls' since the last note) is announced


class OpenAIBackend(ChatBackend):
    """``AsyncOpenAI(base_url=...)`` with ``max_retries=0``: retries are this class's job alone."""

    name = "openai"

    @classmethod
    def check_config(cls, config: SynthesizeConfig) -> None:
        if config.model is None:
            raise SynegError("--backend openai needs --model (the name the server serves)")
        _served_url(config.base_url)
        _api_key(config.api_key_env, config.base_url)

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> OpenAIBackend:
        cls.check_config(config)
        return cls(config.model, config.base_url, config.api_key_env, config.request_timeout,
                   RetryPolicy(max_attempts=config.max_attempts), server=config.server)

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        mode: str = MODES[0],
        server: str = "auto",
    ) -> None:
        from openai import AsyncOpenAI

        from syneg.synthesis.backends.reply import bounded_client

        served = _served_url(base_url)
        api_key = _api_key(api_key_env, base_url)
        register_secret(api_key)
        self.client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout,
                                  http_client=bounded_client())
        self.timeout = timeout
        self.url = redact_url(served) or "https://api.openai.com/v1"
        self.model = model
        self.model_id = self.model_id_for(model)
        self.retry = retry or RetryPolicy()
        self.mode = mode
        self.server = server_for(server, base_url)  # the request fields' names (see .wire)
        self.counters: Counter[str] = Counter()
        self.waits: list[float] = []
        self._announced_until = 0.0  # a long wait announced ends then: concurrent ones stay quiet
        self._waiting_until = 0.0  # the latest end of a wait begun so far
        self._unannounced = 0.0  # wall time spent waiting (by any call) since the last note
        self.last_rejection: str | None = None  # the server's (redacted) reason for the last mode fallback

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        import openai

        from syneg.synthesis.backends.reply import ReplyTooLarge, parse_reply, too_large

        attempt, started, requests, waited = 0, time.perf_counter(), 0, 0.0
        while True:
            mode = self.mode
            requests += 1
            self.counters["requests"] += 1
            try:
                body = await self._attempt(messages, sampling, schema, mode)
            except ReplyTooLarge as exc:
                raise too_large(exc, self.url) from None
            except openai.APIStatusError as exc:
                if 300 <= exc.status_code < 400:
                    raise _redirected(exc, self.url) from None
                if mode != "prompt" and rejects_mode(exc):
                    self._fall_back(mode, exc)
                    continue
                if not isinstance(exc, (openai.RateLimitError, openai.InternalServerError)):
                    raise _status_error(exc, self.url) from None
                attempt, waited = await self._wait(exc, attempt + 1, waited)
                continue
            except (openai.APIConnectionError, TimeoutError) as exc:
                attempt, waited = await self._wait(exc, attempt + 1, waited)
                continue
            reply = parse_reply(body, self.url)
            self.counters[f"calls_{mode}"] += 1
            return _completion(reply, time.perf_counter() - started, requests, mode)

    async def _wait(self, exc: Exception, attempt: int, waited: float) -> tuple[int, float]:
        """Sleep before the next attempt (``waited``: the call's waiting so far), or raise when the attempts
        are spent; (attempt, the call's waiting after this sleep)."""
        delay = self._delay(exc, attempt)
        if attempt >= self.retry.max_attempts:
            raise BackendError(f"gave up after {attempt} attempts at {self.url}: {_describe(exc)}",
                               _transient_reason(exc)) from None
        self.waits.append(delay)
        self._announce(delay, waited, exc)
        await asyncio.sleep(delay)
        return attempt, waited + delay

    def _announce(self, delay: float, waited: float, exc: Exception) -> None:
        """One info line when this wait brings the call's waiting (``waited`` before it) to LONG_WAIT_S, or the
        backend's waiting (wall time covered by any call's wait) since the last line; none while an announced
        wait lasts (concurrent calls waiting at the same time add none)."""
        now = time.monotonic()
        self._unannounced += max(0.0, now + delay - max(now, self._waiting_until))
        self._waiting_until = max(self._waiting_until, now + delay)
        long_call = waited < LONG_WAIT_S <= waited + delay
        if (long_call or self._unannounced >= LONG_WAIT_S) and now >= self._announced_until:
            self._announced_until, self._unannounced = now + delay, 0.0
            note(f"synthesize: waiting {delay:.0f} s before retrying {self.url} ({_transient_reason(exc)}; "
                 f"{waited + delay:.0f} s of waiting for this call so far)")

    async def _attempt(self, messages, sampling: Sampling, schema: dict, mode: str) -> bytes:
        """One request's reply body, whole within ``timeout`` seconds (a TimeoutError otherwise)."""
        from syneg.synthesis.backends.reply import cap_replies

        fields, extra = request_fields(self.server, sampling, mode, schema)
        cap_replies(sampling.max_tokens)
        request = self.client.chat.completions.with_raw_response.create(
            model=self.model, messages=messages, **fields, **({"extra_body": extra} if extra else {}))
        try:
            raw = await asyncio.wait_for(request, self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no whole reply within {self.timeout:g} s (request_timeout)") from None
        return raw.http_response.content

    def _fall_back(self, mode: str, exc: Exception) -> None:
        if self.mode == mode:  # concurrent rejections of the same mode move on only once
            self.mode = MODES[MODES.index(mode) + 1]
            self.counters[f"fallback_{mode}"] += 1
            self.last_rejection = _message(exc)

    def _delay(self, exc: Exception, attempt: int) -> float:
        import openai

        if isinstance(exc, openai.RateLimitError):
            self.counters["rate_limited"] += 1
            asked = self.retry.retry_after(exc.response.headers)
            if asked is not None:
                return asked
        elif isinstance(exc, (openai.APITimeoutError, TimeoutError)):
            self.counters["timeouts"] += 1
        elif isinstance(exc, openai.InternalServerError):
            self.counters["server_errors"] += 1
        else:
            self.counters["connection_errors"] += 1
        return self.retry.backoff(attempt)

    def stats(self) -> dict[str, object]:
        """Request counters, the structured-output mode in use, retry waits, and why the last fallback happened."""
        rejection = {"mode_rejection": self.last_rejection} if self.last_rejection else {}
        return {**self.counters, "structured_mode": self.mode, "retry_wait_s": round(sum(self.waits), 3), **rejection}

    async def aclose(self) -> None:
        await self.client.close()


def _api_key(api_key_env: str, base_url: str | None) -> str:
    """The key in ``api_key_env``; a placeholder for a ``base_url`` server (local servers accept any key)."""
    api_key = os.environ.get(api_key_env)
    if api_key and (api_key != api_key.strip() or _CONTROL.search(api_key) or " " in api_key):
        raise SynegError(f"the environment variable {api_key_env} holds an API key with spaces, a newline or "
                         "another control character: set it to the bare key")
    if api_key:
        return api_key
    if base_url is None:
        raise SynegError(f"no API key: set the environment variable {api_key_env} (or pass --base-url)")
    return "no-key"


def _served_url(base_url: str | None) -> str | None:
    """Where requests go: ``base_url``, else the SDK's ``OPENAI_BASE_URL`` (None: the hosted API), checked up front."""
    setting = "--base-url" if base_url is not None else "OPENAI_BASE_URL"
    url = base_url if base_url is not None else os.environ.get(setting)
    if url is not None:
        try:
            check_base_url(url)
        except ValueError as exc:
            raise SynegError(f"{setting}: {exc}") from None
    return url


def rejects_mode(exc: Exception) -> bool:
    """A 400/422 (or llama.cpp server's 500 validation error) saying the structured-output format is unsupported.

    Other 400s (a prompt over the context length, say) fail their request only.
    """
    if getattr(exc, "status_code", None) not in (400, 422, 500):
        return False
    message = _message(exc).lower()
    return any(word in message for word in _FORMAT_WORDS)


def _status_error(exc, url: str) -> BackendError:
    """A final HTTP error: a 400/422 belongs to the request (cached as its failure); others to the setup."""
    status = exc.status_code
    if status in (400, 422):
        return BackendError(f"{status} bad request: {_message(exc)}", "bad_request", transient=False)
    reason = {401: "auth", 403: "auth", 404: "not_found"}.get(status, f"http_{status}")
    return BackendError(f"{status} from {url}: {_message(exc)}", reason)


def _redirected(exc, url: str) -> SynegError:
    """A 3xx ends the run as a configuration error: the base URL is not where the server answers (no redirect
    is followed, so the prompts never go to a host or scheme that was not configured)."""
    location = exc.response.headers.get("location")
    if location is None:
        where = "without a Location"
    else:
        try:
            shown = redact_url(location)
        except ValueError:  # not even a URL: masked as text
            shown = redact(location)
        where = f"to {_CONTROL.sub(' ', shown or '')[:200]!r}"
    return SynegError(f"{url} answered {exc.status_code} (a redirect {where}); syneg follows no redirect: set the "
                      "base URL (--base-url, synthesize.base_url) to the server's own URL")


def _transient_reason(exc: Exception) -> str:
    import openai

    for kind, reason in ((openai.RateLimitError, "rate_limited"), (openai.InternalServerError, "server_error"),
                         ((openai.APITimeoutError, TimeoutError), "timeout"),
                         (openai.APIConnectionError, "connection")):
        if isinstance(exc, kind):
            return reason
    return "backend_error"


def _completion(reply: ChatReply, latency: float, requests: int, mode: str) -> Completion:
    usage = reply.usage
    counts = {"prompt_tokens": usage.prompt_tokens or 0, "completion_tokens": usage.completion_tokens or 0} if usage else {}
    choice = reply.choices[0]
    return Completion(choice.message.content, choice.finish_reason, counts, latency, requests, mode)


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = str(inner.get("message", inner) if isinstance(inner, dict) else inner)
    else:
        text = str(exc)
    return _CONTROL.sub(" ", redact(text) or "")[:300]


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" ({status})" if status else "") + f": {_message(exc)}"
