"""How long a synthetic passage must be: its target from the positive, the opening a continuation starts
from, and the character bounds its output schema enforces (the model cannot stop early or run on)."""

from __future__ import annotations

import math
import re

LOW, HIGH = 0.8, 1.25  # the text the model writes runs from LOW to HIGH times the words asked
BUCKET = 20  # character bounds are rounded to this, so that few distinct schemas (grammars) are built
MIN_CHARS = 40
MAX_OPENING_SHARE = 0.6  # a continuation never starts from more than this share of the mined passage
CHARS_PER_TOKEN = 3  # a cautious count for scientific English (SmolLM2 averages about 3.5)
RESERVED_TOKENS = 100  # the reasoning (at most 300 characters) and the JSON around the passage
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def chars_per_word(text: str) -> float:
    """Characters per word of ``text``, spaces included (6.0 for an empty text)."""
    words = len(text.split())
    return (len(text) + 1) / words if words else 6.0


def char_bounds(words: int, per_word: float, max_tokens: int | None = None) -> tuple[int, int]:
    """Fewest and most characters for a text of about ``words`` words of ``per_word`` characters each; with
    ``max_tokens``, the most fits in a reply of that many tokens (a bound past it would only cut replies off)."""
    high = BUCKET * math.ceil(HIGH * words * per_word / BUCKET)
    if max_tokens is not None:
        high = min(high, BUCKET * ((max_tokens - RESERVED_TOKENS) * CHARS_PER_TOKEN // BUCKET))
    high = max(MIN_CHARS + BUCKET, high)
    low = min(high - BUCKET, max(MIN_CHARS, BUCKET * math.floor(LOW * words * per_word / BUCKET)))
    return low, high


def sentences(text: str) -> list[str]:
    """``text`` cut at sentence ends (a period, question or exclamation mark before a capital or digit)."""
    return [part for part in _SENTENCE_END.split(" ".join(text.split())) if part]


def opening(text: str, words: int) -> str:
    """The first whole sentences of ``text`` within ``words`` words (and within ``MAX_OPENING_SHARE`` of it);
    when even the first sentence is longer, its first words (the model continues mid-sentence)."""
    budget = min(words, math.floor(MAX_OPENING_SHARE * len(text.split())))
    taken: list[str] = []
    count = 0
    for sentence in sentences(text):
        size = len(sentence.split())
        if count + size > budget:
            break
        taken.append(sentence)
        count += size
    if taken:
        return " ".join(taken)
    return " ".join(text.split()[:budget])
