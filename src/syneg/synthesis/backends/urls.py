"""Checks of a server's base URL, run when the config is read (a leaf: the config imports it)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from syneg.redact import redact

# one DNS label: letters, digits and inner hyphens (underscores too: Docker Compose service names have them)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


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
