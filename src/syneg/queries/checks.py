"""Content checks of one generated query: each returns a short reason code, or None when the query passes.

| reason          | the query ...                                                              |
|-----------------|----------------------------------------------------------------------------|
| too_short       | has fewer words than its type needs (2 for keywords, 4 otherwise)          |
| too_long        | has more than twice the words asked for, plus 8                            |
| not_a_question  | was asked as a question and does not end with ``?``                        |
| unfinished      | ends on a comma, colon, hyphen, ellipsis or a word that cannot end a sentence |
| meta            | talks about the document ("this study", "the passage", ...)                |
| copied_opening  | is (nearly) a contiguous run of the document's title and first 40 words    |
| demo            | repeats a demonstration of the prompt                                      |
| duplicate       | repeats another query of the same document, or one of the dataset's queries |
"""

from __future__ import annotations

import re
from collections.abc import Collection
from difflib import SequenceMatcher

from syneg.queries.prompt import DEMO_QUERIES

DANGLING = frozenset("a an the of to and or but with in for by from on at as that which whose is are was were "
                     "its their his her our than".split())  # a query ending on one of these was cut short
OPENING_WORDS = 40
COPY_SHARE = 0.8  # a contiguous run of the opening covering this share of the query's words is a copy
_META = re.compile(r"\b(?:this|the|that) (?:document|passage|article|abstract|text|paper|study|excerpt)\b",
                   re.IGNORECASE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, inner hyphens and apostrophes)."""
    return re.findall(r"\w+(?:[-']\w+)*", text.lower())


def normalized(text: str) -> str:
    """The text as one space-joined string of its words (for duplicate checks)."""
    return " ".join(words(text))


def copies_opening(query: str, document: str) -> bool:
    """True when the query is mostly one contiguous run of the document's first words."""
    asked, opening = words(query), words(document)[:OPENING_WORDS]
    if not asked or not opening:
        return False
    match = SequenceMatcher(None, asked, opening, autojunk=False).find_longest_match(0, len(asked), 0, len(opening))
    return match.size >= COPY_SHARE * len(asked)


def check_query(query: str, query_type: str, target_words: int, document: str, seen: Collection[str]) -> str | None:
    """The first check ``query`` fails (see the table), else None; ``seen``: normalized queries it must not repeat."""
    count = len(query.split())
    if count < (2 if query_type == "keywords" else 4):
        return "too_short"
    if count > 2 * target_words + 8:  # keywords too: SmolLM2 writes them as short phrases
        return "too_long"
    end = query.rstrip("\"')] ")[-1:]
    if query_type == "question" and end != "?":
        return "not_a_question"
    if end in (",", ";", ":", "-", "(") or query.rstrip().endswith(("..", "…")) or (words(query) or [""])[-1] in DANGLING:
        return "unfinished"
    if _META.search(query):
        return "meta"
    if copies_opening(query, document):
        return "copied_opening"
    key = normalized(query)
    if key in {normalized(demo) for demo in DEMO_QUERIES}:
        return "demo"
    if key in seen:
        return "duplicate"
    return None
