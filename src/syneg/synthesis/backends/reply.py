"""Replies of OpenAI-compatible servers, bounded and checked before use.

Every body (success or error) is read through a cap of :data:`MAX_REPLY_BYTES`, uncompressed (syneg asks
for ``identity``: a compressed body could hide any size), so an endless or huge reply cannot exhaust
memory. A 200 reply must be a chat completion by shape: a ``choices`` list whose messages carry text
(or null), ``usage`` optional. Anything else (an HTML page, ``null``) is a transient :class:`BackendError`
(``too_large`` or ``bad_reply``): the server's fault, not the item's, so a plain rerun retries it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx2
import openai
from pydantic import BaseModel, Field, ValidationError

from syneg.redact import redact
from syneg.synthesis.backends.base import BackendError

MAX_REPLY_BYTES = 16 << 20  # a chat reply of even 100k tokens is far smaller
_Count = Annotated[int, Field(ge=0, le=1 << 31)]


class ReplyTooLarge(Exception):
    """A reply body over :data:`MAX_REPLY_BYTES` (raised while reading it, so it is never held whole)."""


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, cap: int) -> None:
        self.stream, self.cap = stream, cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.stream:
            seen += len(chunk)
            if seen > self.cap:
                raise ReplyTooLarge(f"reply body over the {self.cap >> 20} MiB cap; stopped reading")
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()


async def _cap_body(response: httpx2.Response) -> None:
    """Response hook: refuse a declared size over the cap or a compressed body; cap what is read."""
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        await response.aclose()
        raise ReplyTooLarge(f"reply declares {int(declared)} bytes, over the {MAX_REPLY_BYTES >> 20} MiB cap")
    if encoding != "identity":
        await response.aclose()
        raise ReplyTooLarge(f"reply compressed ({encoding[:20]!r}) though none was asked: its size is unknown")
    response.stream = _CappedStream(response.stream, MAX_REPLY_BYTES)


def bounded_client() -> httpx2.AsyncClient:
    """The openai SDK's default HTTP client, asking for uncompressed replies read through the cap."""
    return openai.DefaultAsyncHttpxClient(headers={"Accept-Encoding": "identity"},
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

    choices: list[_Choice]
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
