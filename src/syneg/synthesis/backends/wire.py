"""The fields of one chat request as each family of OpenAI-compatible server names them.

``openai`` (the hosted API): ``max_completion_tokens``; no repeat penalty. ``vllm``: ``max_tokens``,
``repetition_penalty`` and ``structured_outputs: {"json": schema}`` (vLLM's own names, sent in the
body beside the standard ones). ``generic`` (llama.cpp server, Ollama, ...): ``max_tokens``,
``repeat_penalty``, ``response_format``. ``auto`` is ``openai`` for the hosted API, else ``generic``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from syneg.redact import redact
from syneg.synthesis.backends.base import Sampling

SERVERS = ("auto", "openai", "vllm", "generic")
# one DNS label: letters, digits and inner hyphens (underscores too: Docker Compose service names have them)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def response_format(mode: str, schema: dict) -> dict | None:
    """The ``response_format`` of ``mode``: standard json_schema, llama.cpp's json_object+schema, or none."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "hard_negative", "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def check_base_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a valid host (an IP literal or DNS labels) and a port in 1..65535;
    else a ValueError saying why."""
    shown = repr(redact(url))
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError(f"{shown} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range or not a number, a broken [IPv6] host
        raise ValueError(f"{shown} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{shown} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000/v1)")
    if not parts.hostname:
        raise ValueError(f"{shown} names no host (e.g. http://127.0.0.1:8000/v1)")
    if port == 0:
        raise ValueError(f"{shown} is not a valid URL (Port out of range 1-65535)")
    if (problem := _host_problem(parts.hostname)) is not None:
        raise ValueError(f"{shown} is not a valid URL ({redact(problem)})")
    import httpx2  # the openai SDK's own parser: what it refuses (a bad IDNA host) fails here, before any work

    try:
        httpx2.URL(url)
    except httpx2.InvalidURL as exc:
        raise ValueError(f"{shown} is not a valid URL ({redact(str(exc))})") from None
    return url


def _host_problem(host: str) -> str | None:
    """What is wrong with a URL's host name, or None: an IP literal, or dot-separated labels (IDNA for others)."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"host {host!r} has an empty, overlong or invalid label"
    labels = ascii_host.removesuffix(".").split(".")  # a trailing dot (a fully qualified name) is allowed
    bad = next((label for label in labels if not _LABEL.fullmatch(label)), None)
    if bad is not None:  # (the idna codec refused empty labels)
        return f"host label {bad!r} is not letters, digits and inner hyphens"
    if labels[-1].isdigit():  # looks like IPv4, is not one
        return f"host {host!r} is not a valid IPv4 address"
    return None if len(ascii_host) <= 253 else "host name longer than 253 characters"


def server_for(server: str, base_url: str | None) -> str:
    """The server family: ``server`` itself, or for ``auto`` ``openai`` at the hosted API and ``generic`` elsewhere."""
    if server != "auto":
        return server
    return "openai" if base_url is None or "api.openai.com" in base_url else "generic"


def request_fields(server: str, sampling: Sampling, mode: str, schema: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """(standard fields, server-specific body fields) of one request under structured-output ``mode``."""
    tokens = "max_completion_tokens" if server == "openai" else "max_tokens"
    fields: dict[str, Any] = {tokens: sampling.max_tokens, "temperature": sampling.temperature, "seed": sampling.seed}
    extra: dict[str, Any] = {}
    if sampling.repeat_penalty is not None and server != "openai":
        extra["repetition_penalty" if server == "vllm" else "repeat_penalty"] = sampling.repeat_penalty
    if server == "vllm" and mode == "json_schema":
        extra["structured_outputs"] = {"json": schema}
    elif (fmt := response_format(mode, schema)) is not None:
        fields["response_format"] = fmt
    return fields, extra
