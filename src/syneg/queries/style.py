"""The query types and lengths to ask for, derived from a dataset's own queries (defaults when it has none)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

from syneg.queries.prompt import TYPES

QUESTION_WORDS = frozenset("what how why when where which who whom whose is are do does did can could should would "
                           "will was were has have".split())
KEYWORD_MAX_WORDS = 6
MIN_WORDS, MAX_WORDS = 2, 30  # bounds of a length asked for
DEFAULT_WORDS = {"claim": (8, 10, 12, 14, 16), "question": (6, 8, 10, 12), "keywords": (2, 3, 4, 5)}


def query_type(text: str) -> str:
    """``question`` (ends with ``?`` or opens with a question word), ``keywords`` (a few words, no final
    period) or ``claim`` (any other sentence)."""
    words = re.findall(r"[\w'-]+", text.lower())
    stripped = text.strip()
    if stripped.endswith("?") or (words and words[0] in QUESTION_WORDS):
        return "question"
    if len(words) <= KEYWORD_MAX_WORDS and not stripped.endswith("."):
        return "keywords"
    return "claim"


@dataclass(frozen=True)
class QueryStyle:
    """Per type: its share of the calls and the word counts to sample a length from; ``source`` says where
    they came from (``dataset``: its N queries; ``default``)."""

    shares: dict[str, float]
    lengths: dict[str, tuple[int, ...]]
    source: str

    def sample(self, rng: random.Random) -> tuple[str, int]:
        """A (type, words) pair drawn with ``rng``."""
        kinds = sorted(self.shares)
        kind = rng.choices(kinds, weights=[self.shares[k] for k in kinds])[0]
        return kind, rng.choice(self.lengths[kind])

    def as_dict(self) -> dict:
        return {"source": self.source, "shares": {k: round(v, 4) for k, v in sorted(self.shares.items())}}


def derive_style(queries: Iterable[str], types: list[str] | None = None) -> QueryStyle:
    """The type mix and lengths of ``queries`` (restricted to ``types`` when given); uniform defaults
    over ``types`` (all types when None) where there are no queries of those types."""
    allowed = list(types or TYPES)
    lengths: dict[str, list[int]] = {kind: [] for kind in allowed}
    for text in queries:
        kind = query_type(text)
        if kind in lengths:
            lengths[kind].append(min(MAX_WORDS, max(MIN_WORDS, len(text.split()))))
    total = sum(len(v) for v in lengths.values())
    if not total:
        return QueryStyle({k: 1 / len(allowed) for k in allowed}, {k: DEFAULT_WORDS[k] for k in allowed}, "default")
    shares = {k: len(v) / total for k, v in lengths.items() if v}
    return QueryStyle(shares, {k: tuple(sorted(v)) for k, v in lengths.items() if v}, f"dataset ({total} queries)")
