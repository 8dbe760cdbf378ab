"""Replies of OpenAI-compatible servers, bounded and checked before use.

Every body (success or error) is read uncompressed (syneg asks for ``identity``: a compressed body could
hide any size) through a cap, so an endless or huge reply cannot exhaust memory: :func:`reply_cap` of the
request's ``max_tokens`` (a parsed JSON tree costs many times its bytes), at most :data:`MAX_REPLY_BYTES`.
A 200 reply must be a chat completion by shape: a non-empty ``choices`` list whose messages carry text (or
null), ``usage`` optional. Anything else (an HTML page, ``null``, no choice) is a transient :class:`BackendError`
(``too_large`` or ``bad_reply``): the server's fault, not the item's, so a plain rerun retries it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Annotated

import httpx2
import openai
from pydantic import BaseModel, Field, ValidationError

from syneg.limits import MAX_TOKEN_COUNT
from syneg.redact import redact
from syneg.synthesis.backends.base import BackendError

MAX_REPLY_BYTES = 16 << 20
_BYTES_PER_TOKEN = 256  # generous: a token of JSON-escaped text (\uXXXX), reasoning text counted as tokens too
_CAP: ContextVar[int] = ContextVar("syneg_reply_cap", default=MAX_REPLY_BYTES)  # of the request being sent
_Count = Annotated[int, Field(ge=0, le=MAX_TOKEN_COUNT)]


class ReplyTooLarge(Exception):
    """A reply body over its cap, or compressed (raised before or while reading it: never held whole)."""


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, cap: int) -> None:
        self.stream, self.cap = stream, cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.stream:
            seen += len(chunk)
            if seen > self.cap:
                raise ReplyTooLarge(f"reply body over the {self.cap} byte cap; stopped reading")
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()


async def _cap_body(response: httpx2.Response) -> None:
    """Response hook: refuse a declared size over the cap or a compressed body; cap what is read."""
    cap = _CAP.get()
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if declared.isdigit() and int(declared) > cap:
        await response.aclose()
        raise ReplyTooLarge(f"reply declares {int(declared)} bytes, over the {cap} byte cap")
    if encoding != "identity":
        await response.aclose()
        raise ReplyTooLarge(f"reply compressed ({encoding[:20]!r}) though none was asked: its size is unknown")
    response.stream = _CappedStream(response.stream, cap)


def cap_replies(max_tokens: int) -> None:
    """Cap the replies to requests sent from here on in this task at :func:`reply_cap` of ``max_tokens``."""
    _CAP.set(reply_cap(max_tokens))


def reply_cap(max_tokens: int) -> int:
    """Bytes a reply of up to ``max_tokens`` tokens may take: 64 KiB of envelope + 256 per token, at most the max."""
    return min(MAX_REPLY_BYTES, (64 << 10) + _BYTES_PER_TOKEN * max_tokens)


def bounded_client() -> httpx2.AsyncClient:
    """The openai SDK's default HTTP client, asking for uncompressed replies read through the cap.

    Redirects are not followed (the SDK's client would): the prompts go to the configured server only,
    and a 3xx is the backend's configuration error (see ``openai_backend``)."""
    return openai.DefaultAsyncHttpxClient(headers={"Accept-Encoding": "identity"}, follow_redirects=False,
                                          event_hooks={"response": [_cap_body]})


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: _Count | None = None
    completion_tokens: _Count | None = None


class ChatReply(BaseModel):
    """The part of a chat completion syneg reads (other fields are ignored)."""

    choices: Annotated[list[_Choice], Field(min_length=1)]
    usage: _Usage | None = None


def parse_reply(body: bytes, url: str) -> ChatReply:
    """``body`` as a :class:`ChatReply`; a transient ``bad_reply`` BackendError saying what is wrong otherwise."""
    try:
        return ChatReply.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        start = (redact(body[:4096].decode("utf-8", "replace")) or "")[:60]  # masked before the cut: no half key
        raise BackendError(f"{url} answered 200 without a chat completion ({where}: {first['msg']}); "
                           f"the reply starts {start!r}", "bad_reply") from None


def too_large(exc: ReplyTooLarge, url: str) -> BackendError:
    """The transient failure of a reply over the cap."""
    return BackendError(f"{url}: {exc}", "too_large")
