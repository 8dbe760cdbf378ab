"""The versioned prompt: context, attribute and reflection constraints, and the output schema."""

from __future__ import annotations

import json
from typing import Literal

from syneg.synthesis.parse import GeneratedNegative
from syneg.synthesis.task import Task

PROMPT_VERSION = "syneg-prompt-5"
MAX_PROMPT_WORDS = 150  # passages shown to the model are cut to this many words (small contexts)
REASONING_CHARS = 300
PASSAGE_CHARS = 900

OUTPUT_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "minLength": 10, "maxLength": REASONING_CHARS},
        "passage": {"type": "string", "minLength": 40, "maxLength": PASSAGE_CHARS},
    },
    "required": ["reasoning", "passage"],
    "additionalProperties": False,
}

SYSTEM = (
    "You write training data for a search engine. Task: given a search query, write one hard negative "
    "passage. A hard negative is on the query's topic, shares its key terms and writing style and looks "
    "relevant at first sight, but it does NOT answer, support or refute the query. "
    'Format: reply with one JSON object whose first field is "reasoning" (one or two sentences on why the '
    'passage looks relevant yet does not answer the query) and whose second field is "passage".'
)

REASK = (
    "Your reply could not be used ({error}). Reply again with only one JSON object of the form "
    '{{"reasoning": "...", "passage": "..."}} and nothing else.'
)


def clip(text: str, words: int = MAX_PROMPT_WORDS) -> str:
    """The first ``words`` words of ``text`` (with an ellipsis when cut)."""
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def _constraints(attributes: dict[str, str]) -> str:
    return (
        f"- domain: {attributes['domain']}\n"
        f"- written for {attributes['level']}\n"
        f"- length: about {attributes['words']} words ({attributes['length']} a relevant passage)\n"
        f"- steer toward this side aspect: {attributes['aspect']}\n"
        f"- reuse these key terms of the query: {attributes['key_terms']}"
    )


def user_message(
    query: str,
    attributes: dict[str, str],
    mode: Literal["free", "grounded"],
    positive: str | None = None,
    mined: str | None = None,
) -> str:
    """The user turn for one call; ``positive`` is shown only when given (``--show-positive``)."""
    lines = [f"Query: {query}"]
    if positive is not None:
        lines.append(f"Relevant passage (do not copy or paraphrase it): {clip(positive)}")
    if mode == "grounded":
        if mined is None:
            raise ValueError("grounded mode needs a mined passage")
        lines.append(f"Retrieved passage (related, but not an answer): {clip(mined)}")
        lines.append(
            "Rewrite the retrieved passage into a harder negative: keep its topic and style, use more of "
            "the query's key terms, but it must still not answer or support the query."
        )
    else:
        lines.append("Write a new hard negative passage for this query.")
    lines.append("Constraints:\n" + _constraints(attributes))
    lines.append(
        "First give your reasoning: why the passage looks relevant but does not answer the query. "
        'Then the passage. Reply with only: {"reasoning": "...", "passage": "..."}'
    )
    return "\n".join(lines)


# One worked example (hand-written, not from any dataset): tiny models follow a demonstration far
# better than a definition.
DEMO_QUERY = "Vitamin D supplements lower the risk of hip fracture in older women."
DEMO_MINED = (
    "Vitamin D receptor polymorphisms and bone mineral density. We genotyped 412 postmenopausal women "
    "for the BsmI and FokI variants and measured lumbar spine density by DXA."
)
DEMO_ATTRIBUTES = {"domain": "bone", "level": "a graduate student", "length": "shorter than",
                   "words": "50", "aspect": "genotyped", "key_terms": "vitamin, supplements, risk"}
DEMO_REPLY = json.dumps({
    "reasoning": "It shares vitamin D, women and risk terms, but it is about receptor genotypes, "
                 "not whether supplements prevent hip fractures.",
    "passage": "Vitamin D receptor genotypes and fracture risk factors in older women. We genotyped 530 women "
               "aged 65 to 80, none taking supplements, and compared serum vitamin D levels between genotypes; "
               "carriers of the f allele had lower levels, and the variants were linked to calcium absorption.",
})


def _demo(mode: Literal["free", "grounded"], show_positive: bool) -> list[dict[str, str]]:
    positive = "Daily vitamin D3 with calcium reduced hip fractures by 20% in a trial of women over 70." if show_positive else None
    user = user_message(DEMO_QUERY, DEMO_ATTRIBUTES, mode, positive, DEMO_MINED)
    return [{"role": "user", "content": user}, {"role": "assistant", "content": DEMO_REPLY}]


def build_messages(
    query: str,
    attributes: dict[str, str],
    mode: Literal["free", "grounded"],
    positive: str | None = None,
    mined: str | None = None,
) -> list[dict[str, str]]:
    """Chat messages for one synthesis call: the definitions, one demonstration, then the task."""
    return [
        {"role": "system", "content": SYSTEM},
        *_demo(mode, positive is not None),
        {"role": "user", "content": user_message(query, attributes, mode, positive, mined)},
    ]




NEGATIVES = Task("negatives", PROMPT_VERSION, OUTPUT_SCHEMA, GeneratedNegative, REASK)
