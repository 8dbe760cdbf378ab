"""Parse untrusted LLM output in stages: JSON, then stripped of think blocks and fences, then repaired.

Repair fixes syntax only (quotes, fences, trailing commas): a reply whose JSON object was cut off
(inside a string or before its closing brace) is reported as ``truncated``, never completed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import json_repair
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from syneg.redact import redact

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)\s*```", re.DOTALL)


class GeneratedNegative(BaseModel):
    """The schema the model must fill: reasoning first, then the passage (both redacted once decoded:
    a secret the server echoes JSON-escaped is plain text only now)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reasoning: str
    passage: str

    @field_validator("reasoning", "passage")
    @classmethod
    def _redacted(cls, value: str) -> str:
        return redact(value) or value

    @field_validator("passage")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        value = value.lstrip(",;:.)]} ")
        if not value:
            raise ValueError("passage is empty")
        return value


TRUNCATED = "truncated"


@dataclass(frozen=True)
class ParseResult:
    """Either ``value`` (and the stage that produced it) or ``error``; stage ``truncated`` for cut-off JSON."""

    value: BaseModel | None  # the task's reply model (GeneratedNegative for negatives)
    stage: str
    error: str | None = None

    @property
    def truncated(self) -> bool:
        return self.stage == TRUNCATED


def unwrap(text: str) -> str:
    """Drop ``<think>`` blocks and unwrap a fenced code block."""
    text = _THINK.sub("", text).strip()
    fenced = _FENCE.search(text)
    return fenced.group(1).strip() if fenced else text


def strip_wrappers(text: str) -> str:
    """Unwrapped text cut to its JSON-looking part (first ``{`` to last ``}``)."""
    text = unwrap(text)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def is_cut_off(text: str) -> bool:
    """True when the JSON object opened by the first ``{`` ends inside a string or before it closes."""
    start = text.find("{")
    if start == -1:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text[start:]:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return False
    return True


def _validate(obj: object, stage: str, model: type[BaseModel]) -> ParseResult:
    if not isinstance(obj, dict):
        return ParseResult(None, stage, f"expected a JSON object, got {type(obj).__name__}")
    try:
        return ParseResult(model.model_validate(obj), stage)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<object>"
        return ParseResult(None, stage, f"schema: {field}: {first['msg']}")


def parse_output(text: str | None, model: type[BaseModel] = GeneratedNegative) -> ParseResult:
    """Parse a reply into ``model``; the first stage that yields a dict decides (never evaluates the text)."""
    if text is None or not text.strip():
        return ParseResult(None, "empty", "empty reply")
    try:
        return _validate(json.loads(text), "json", model)
    except json.JSONDecodeError:
        pass
    unwrapped = unwrap(text)
    if is_cut_off(unwrapped):
        return ParseResult(None, TRUNCATED, "truncated: the JSON object was cut off")
    cleaned = strip_wrappers(unwrapped)
    try:
        return _validate(json.loads(cleaned), "stripped", model)
    except json.JSONDecodeError:
        pass
    repaired = json_repair.loads(cleaned) if cleaned.strip() else ""
    if isinstance(repaired, dict) and repaired:
        return _validate(repaired, "repaired", model)
    return ParseResult(None, "repaired", "not JSON (even after repair)")
