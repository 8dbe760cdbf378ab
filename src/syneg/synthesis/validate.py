"""Content checks on a parsed passage: empty, too short or long, junk (control characters, JSON), a copy of
the positive, a duplicate."""

from __future__ import annotations

import re
from collections.abc import Iterable

from syneg.synthesis.attributes import MAX_WORDS

MIN_WORDS = 12
LENGTH_FACTOR = 4  # a passage over this many times the words asked for (the call's target) is rejected
WORD_CHARS = 16  # ... or over that many words of this many characters (one endless "word" is junk too)
COPY_THRESHOLD = 0.6  # share of the passage's word trigrams found in the positive
DUPLICATE_THRESHOLD = 0.8  # Jaccard of word sets between two negatives of one pair

REPETITION_THRESHOLD = 0.75  # minimum share of distinct word trigrams (loops fall below)

_TOKEN = re.compile(r"\w+")
# C0/C1 controls but tab and newline (ANSI escapes start with ESC), invisible and bidirectional format
# characters, line/paragraph separators, lone surrogates (not UTF-8)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
# the reply's JSON (or any JSON) as the passage: it opens like JSON, or names the schema's keys
_JSON_TEXT = re.compile(r"^\s*(?:\{|\[\s*[{\[\"])|\\?[\"'](?:reasoning|passage)\\?[\"']\s*:")
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


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a control or invisible character other than tab and newline."""
    return _CONTROL.search(text) is not None


def check_passage(
    passage: str,
    positive: str,
    query: str,
    others: Iterable[str] = (),
    min_words: int = MIN_WORDS,
    examples: Iterable[str] = (),
    target_words: int = MAX_WORDS,
) -> str | None:
    """The reason to reject ``passage``, or None when it is usable (``target_words``: the length asked for)."""
    words = tokens(passage)
    if not words:
        return "empty"
    if len(words) < min_words:
        return "too_short"
    if len(passage.split()) > LENGTH_FACTOR * target_words or len(passage) > WORD_CHARS * LENGTH_FACTOR * target_words:
        return "too_long"
    if has_control_characters(passage):
        return "control_characters"
    if _JSON_TEXT.search(passage):
        return "json_text"
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
