"""Content checks on a parsed passage: empty, too short, a copy of the positive, a duplicate."""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_WORDS = 12
COPY_THRESHOLD = 0.6  # share of the passage's word trigrams found in the positive
DUPLICATE_THRESHOLD = 0.8  # Jaccard of word sets between two negatives of one pair

REPETITION_THRESHOLD = 0.75  # minimum share of distinct word trigrams (loops fall below)

_TOKEN = re.compile(r"\w+")
# The model talking about the task instead of writing a passage.
_META = re.compile(
    r"\b(this|the|a) (hard negative|passage|query|search engine)\b|\bas an ai\b|\bi am an ai\b|\bhard negative\b",
    re.IGNORECASE,
)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1))} or {tuple(words)}


def copy_ratio(passage: str, reference: str) -> float:
    """Share of the passage's word trigrams that also occur in ``reference`` (1.0 = copied)."""
    mine, theirs = _ngrams(tokens(passage), 3), _ngrams(tokens(reference), 3)
    return len(mine & theirs) / len(mine) if mine else 0.0


def distinct_ratio(passage: str) -> float:
    """Distinct word trigrams over all trigrams (1.0 = no repeated phrase)."""
    words = tokens(passage)
    total = max(1, len(words) - 2)
    return len(_ngrams(words, 3)) / total


def jaccard(a: str, b: str) -> float:
    sa, sb = set(tokens(a)), set(tokens(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def check_passage(
    passage: str,
    positive: str,
    query: str,
    others: Iterable[str] = (),
    min_words: int = MIN_WORDS,
    examples: Iterable[str] = (),
) -> str | None:
    """The reason to reject ``passage``, or None when it is usable."""
    words = tokens(passage)
    if not words:
        return "empty"
    if len(words) < min_words:
        return "too_short"
    if _META.search(passage):
        return "meta_text"
    if distinct_ratio(passage) < REPETITION_THRESHOLD:
        return "repetitive"
    if copy_ratio(passage, positive) >= COPY_THRESHOLD or jaccard(passage, positive) >= DUPLICATE_THRESHOLD:
        return "copies_positive"
    if any(copy_ratio(passage, example) >= COPY_THRESHOLD / 2 for example in examples):
        return "copies_example"
    if jaccard(passage, query) >= DUPLICATE_THRESHOLD:
        return "copies_query"
    if any(jaccard(passage, other) >= DUPLICATE_THRESHOLD for other in others):
        return "duplicate"
    return None
