"""Keep secrets out of everything syneg writes (URL credentials, bearer tokens, API keys), and machine
paths out of what it publishes."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_SECRETS: dict[str, re.Pattern[str]] = {}  # each secret, and a pattern for it written plainly or escaped
_LOCK = threading.Lock()
# each pattern's first group is kept, the rest of the match is masked
_PATTERNS = (
    re.compile(r"(://)[^/\s@:]+(?::[^/\s@]*)?(?=@)"),  # userinfo in any URL
    re.compile(r"(?i)(bearer )[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic |bearer |token )?+)[^\s\"',}]{6,}"),
    re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]{6,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),
)


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and ``value`` stripped of surrounding whitespace) wherever it appears in text passed
    to :func:`redact` (e.g. the API key in use), also with any of its characters JSON-escaped (``\\u005a``,
    ``\\/``), percent-encoded (``%5A``) or written as an HTML character reference (``&#90;``)."""
    for secret in {value, value.strip()} if value else ():
        if len(secret) >= 6:
            with _LOCK:
                _SECRETS.setdefault(secret, re.compile("".join(map(_any_spelling, secret))))


def _any_spelling(char: str) -> str:
    """A pattern matching ``char`` written plainly or escaped in JSON, a URL or HTML."""
    code = ord(char)
    forms = [re.escape(char), rf"\\u(?i:{code:04x})", rf"&#0*{code};", rf"&#(?i:x0*{code:x});"]
    forms.append("%" + "%".join(f"(?i:{byte:02x})" for byte in char.encode("utf-8")))
    if char in "/\\\"":
        forms.append(r"\\" + re.escape(char))
    return "(?:" + "|".join(forms) + ")"


def redact(text: str | None) -> str | None:
    """``text`` with registered secrets, URL credentials, bearer tokens and key-like values masked."""
    if not text:
        return text
    with _LOCK:
        secrets = [_SECRETS[secret] for secret in sorted(_SECRETS, key=len, reverse=True)]
    for secret in secrets:
        text = secret.sub(MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


def redact_url(url: str | None) -> str | None:
    """``url`` without its ``user:password@`` part, and with key-like query values masked."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        parts = parts._replace(netloc=f"{MASK}@{host}" + (f":{parts.port}" if parts.port else ""))
    return redact(urlunsplit(parts))


# an absolute (or home-relative) local path: not inside a URL ("://", "host/path") or a relative path
_LOCAL_PATH = re.compile(r"(?<![\w./~-])~?/(?!/)[^\s\"'`,;()\[\]{}<>|]+")


def without_paths(value: Any) -> Any:
    """``value`` (text, or JSON-like data) with each absolute local path cut to its last name, for what is
    published (dataset and model cards): ``{"data": "/tmp/x/beir"}`` -> ``{"data": "beir"}``."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return _LOCAL_PATH.sub(lambda match: PurePosixPath(match.group()).name, value)
    if isinstance(value, Mapping):
        return {key: without_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_paths(item) for item in value]
    return value
