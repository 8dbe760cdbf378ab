"""What one kind of LLM call asks for: one runner (``runner``, ``batch``, the cache) serves every task.

A :class:`Task` is a prompt version, an output JSON schema, the pydantic model a reply must fill and
the re-ask sent after an unusable reply. Items of any task (``SynthesisItem``, ``QueryItem``) carry
theirs; the runner, the batch export/import and the cache read the schema, parser and key from it.

| task        | writes                                   | defined in                  |
|-------------|------------------------------------------|-----------------------------|
| negatives   | a hard-negative passage (with reasoning) | ``syneg.synthesis.prompt``  |
| queries     | a search query for a corpus document     | ``syneg.queries.prompt``    |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from syneg.synthesis.backends.base import Sampling
from syneg.synthesis.cache import call_key
from syneg.synthesis.parse import ParseResult, parse_output


@dataclass(frozen=True)
class Task:
    """One kind of call: ``version`` and ``schema`` are part of every cache key."""

    name: str
    version: str
    schema: dict
    reply: type[BaseModel]
    reask: str  # a format string with ``{error}``
    widen: bool = True  # a reply cut off at max_tokens is asked again with twice the room (else it fails)

    def schema_text(self) -> str:
        """The output schema as compact JSON (part of every cache key)."""
        return json.dumps(self.schema, sort_keys=True, separators=(",", ":"))

    def key(self, model_id: str, messages: list[dict[str, str]], sampling: Sampling) -> str:
        """The cache key of one request of this task."""
        return call_key(model_id, messages, sampling.as_dict(), self.schema_text(), self.version)

    def parse(self, text: str | None) -> ParseResult:
        """Parse an untrusted reply into ``reply`` (see :func:`syneg.synthesis.parse.parse_output`)."""
        return parse_output(text, self.reply)

    def reask_messages(self, messages: list[dict[str, str]], reply: str, error: str) -> list[dict[str, str]]:
        """The one re-ask: the original turns, the unusable reply and a correction request."""
        return [*messages, {"role": "assistant", "content": reply[:2000]},
                {"role": "user", "content": self.reask.format(error=error[:200])}]


class TaskItem(Protocol):
    """What the runner needs of a planned call, whatever its task."""

    @property
    def key(self) -> str: ...

    @property
    def messages(self) -> list[dict[str, str]]: ...

    @property
    def sampling(self) -> Sampling: ...

    @property
    def task(self) -> Task: ...

    @property
    def group(self) -> tuple[str, ...]:
        """The items checked against each other (a pair's negatives, a document's queries): a shard never
        splits a group."""
        ...
