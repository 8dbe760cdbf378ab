"""The versioned query prompt: one document in, one query of a given type out (a short JSON line).

Prompts are short on purpose (the document cut to ``doc_words`` words; the definitions and the three
demonstrations are a shared prefix that the batched llama.cpp engine decodes once): generating one
query per document of a corpus must fit a CPU budget.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, field_validator

from syneg.redact import redact
from syneg.synthesis.task import Task

QUERY_VERSION = "syneg-queries-1"
QUERY_CHARS = 300

# the string may close only after the type's final punctuation: a sentence the model did not finish cannot be
# returned as one (keywords end anywhere)
ENDINGS = {"claim": "[.!?]", "question": "[?]"}


def query_schema(query_type: str) -> dict:
    """The output schema of one query call (a pattern on the string for the types that end a sentence)."""
    query: dict = {"type": "string", "minLength": 4, "maxLength": QUERY_CHARS}
    if query_type in ENDINGS:
        query = {"type": "string", "pattern": f'^[^"\\\\]+{ENDINGS[query_type]}$'}
    return {"type": "object", "properties": {"query": query}, "required": ["query"], "additionalProperties": False}

# what each query type asks for (the pool the planner samples from); defined once, in the shared prefix
TYPES: dict[str, str] = {
    "claim": "one declarative sentence that the document supports or refutes, ending with a period",
    "question": "a question that the document answers, ending with a question mark",
    "keywords": "a few search terms, not a sentence",
}

SYSTEM = (
    "Write one search query, of the asked type and length, that the given document answers. Types: "
    + "; ".join(f"{kind} = {meaning}" for kind, meaning in TYPES.items())
    + ". Do not copy the title or first sentence; do not mention the document or the study. "
    'Reply with JSON: {"query": "..."}.'
)
REASK = 'Your reply could not be used ({error}). Reply again with only {{"query": "..."}} and nothing else.'


class GeneratedQueryReply(BaseModel):
    """The schema the model must fill (redacted once decoded, as negatives are)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    query: str

    @field_validator("query")
    @classmethod
    def _clean(cls, value: str) -> str:
        value = (redact(value) or value).strip()
        if not value:
            raise ValueError("query is empty")
        return value


# a query that does not fit max_tokens is too long: it fails rather than being asked again with more room
TASKS = {kind: Task("queries", QUERY_VERSION, query_schema(kind), GeneratedQueryReply, REASK, widen=False)
         for kind in TYPES}


def clip(text: str, words: int) -> str:
    """The first ``words`` words of ``text`` (with an ellipsis when cut)."""
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def user_message(document: str, query_type: str, words: int) -> str:
    """The user turn of one call: the (clipped) document, then the type and length asked for."""
    return f"Document: {document}\nType: {query_type}, about {words} words."


# Hand-written demonstrations (no dataset's text): one per type, in the shared prefix.
DEMO_DOCUMENT = (
    "Vitamin D receptor polymorphisms and bone density. We genotyped 412 postmenopausal women for the FokI "
    "variant; carriers of the f allele had 4% lower spine density."
)
DEMOS = (
    ("claim", 14, "The FokI vitamin D receptor variant is linked to lower spine bone density in older women."),
    ("question", 11, "Do vitamin D receptor gene variants affect bone density after menopause?"),
    ("keywords", 5, "FokI polymorphism lumbar bone density"),
)
DEMO_QUERIES = tuple(text for _, _, text in DEMOS)


def build_messages(document: str, query_type: str, words: int) -> list[dict[str, str]]:
    """Chat messages for one query call: the definitions, the demonstrations, then the task."""
    demos = []
    for kind, length, text in DEMOS:
        demos += [{"role": "user", "content": user_message(DEMO_DOCUMENT, kind, length)},
                  {"role": "assistant", "content": json.dumps({"query": text})}]
    return [{"role": "system", "content": SYSTEM}, *demos,
            {"role": "user", "content": user_message(document, query_type, words)}]
