"""The versioned prompt: context, attribute and reflection constraints, and the output schema."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

from syneg.synthesis.parse import GeneratedNegative
from syneg.synthesis.modes import MODES
from syneg.synthesis.task import Task

Mode = Literal[MODES]  # type: ignore[valid-type]

PROMPT_VERSION = "syneg-prompt-6"
MAX_PROMPT_WORDS = 150  # passages shown to the model are cut to this many words (small contexts)
REASONING_CHARS = 300
PASSAGE_CHARS = 900



def output_schema(low: int, high: int) -> dict:
    """The reply's schema: the reasoning, then a passage of ``low`` to ``high`` characters (no quote or
    backslash) and a sentence end, so the model can neither stop early nor run on (see ``length``)."""
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "minLength": 10, "maxLength": REASONING_CHARS},
            "passage": {"type": "string", "pattern": f'^[^"\\\\]{{{low},{high}}}[.!?]$'},
        },
        "required": ["reasoning", "passage"],
        "additionalProperties": False,
    }


OUTPUT_SCHEMA = output_schema(40, PASSAGE_CHARS)  # the widest bounds (tests, benches)

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


def _constraints(attributes: dict[str, str], mode: Mode) -> str:
    more = " more" if mode == "continue" else ""
    whole = "the whole passage " if mode == "continue" else ""
    return (
        f"- domain: {attributes['domain']}\n"
        f"- written for {attributes['level']}\n"
        f"- length: about {attributes['words']}{more} words ({whole}{attributes['length']} a relevant passage)\n"
        f"- steer toward this side aspect: {attributes['aspect']}\n"
        f"- reuse these key terms of the query: {attributes['key_terms']}"
    )


def user_message(
    query: str,
    attributes: dict[str, str],
    mode: Mode,
    positive: str | None = None,
    mined: str | None = None,
    opening: str | None = None,
) -> str:
    """The user turn for one call; ``positive`` is shown only when given (``--show-positive``); ``mined``
    is the passage grounded mode rewrites, ``opening`` the text continue mode goes on from."""
    lines = [f"Query: {query}"]
    if positive is not None:
        lines.append(f"Relevant passage (do not copy or paraphrase it): {clip(positive)}")
    if mode == "continue":
        if opening is None:
            raise ValueError("continue mode needs the opening of a mined passage")
        lines.append(f"Opening of a retrieved passage (related, but not an answer): {opening}")
        lines.append(
            "Continue this passage where it stops, as the rest of the same document in its own style: bring "
            "in the query's key terms, but it must still not answer, support or refute the query. Do not repeat "
            "the opening and do not write about the query or the passage."
        )
    elif mode == "grounded":
        if mined is None:
            raise ValueError("grounded mode needs a mined passage")
        lines.append(f"Retrieved passage (related, but not an answer): {clip(mined)}")
        lines.append(
            "Rewrite the retrieved passage into a harder negative: keep its topic and style, use more of "
            "the query's key terms, but it must still not answer or support the query."
        )
    else:
        lines.append("Write a new hard negative passage for this query.")
    lines.append("Constraints:\n" + _constraints(attributes, mode))
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


DEMO_OPENING = "Vitamin D receptor polymorphisms and bone mineral density."  # DEMO_MINED's first sentence
DEMO_CONTINUATION = json.dumps({
    "reasoning": "Same vitamin D study of women with risk terms, but about receptor genotypes and bone density, "
                 "not whether supplements prevent hip fractures.",
    "passage": "We genotyped 530 women aged 65 to 80, none taking supplements, for the BsmI and FokI variants and "
               "measured serum vitamin D and lumbar spine density by DXA. Carriers of the f allele had lower "
               "vitamin D levels and lower density, and the variants were linked to calcium absorption.",
})
DEMO_PASSAGES = tuple(json.loads(reply)["passage"] for reply in (DEMO_REPLY, DEMO_CONTINUATION))


def _demo(mode: Mode, show_positive: bool) -> list[dict[str, str]]:
    positive = "Daily vitamin D3 with calcium reduced hip fractures by 20% in a trial of women over 70." if show_positive else None
    user = user_message(DEMO_QUERY, DEMO_ATTRIBUTES, mode, positive, DEMO_MINED, DEMO_OPENING)
    reply = DEMO_CONTINUATION if mode == "continue" else DEMO_REPLY
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def build_messages(
    query: str,
    attributes: dict[str, str],
    mode: Mode,
    positive: str | None = None,
    mined: str | None = None,
    opening: str | None = None,
) -> list[dict[str, str]]:
    """Chat messages for one synthesis call: the definitions, one demonstration, then the task."""
    return [
        {"role": "system", "content": SYSTEM},
        *_demo(mode, positive is not None),
        {"role": "user", "content": user_message(query, attributes, mode, positive, mined, opening)},
    ]


@lru_cache(maxsize=256)
def negatives_task(low: int, high: int) -> Task:
    """The negatives task whose passage runs from ``low`` to ``high`` characters."""
    return Task("negatives", PROMPT_VERSION, output_schema(low, high), GeneratedNegative, REASK)


NEGATIVES = negatives_task(40, PASSAGE_CHARS)
