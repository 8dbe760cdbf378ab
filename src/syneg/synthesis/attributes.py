"""Attribute constraints sampled per call: domain, level, length and the aspect to steer toward."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from syneg.data import Document
from syneg.limits import MAX_WORDS, MIN_WORDS

LEVELS = ("a high-school student", "an undergraduate", "a graduate student", "a domain expert")
LENGTHS = {  # phrase relative to the positive -> multiplier of its word count
    "about the same length as": 1.0,
    "shorter than": 0.6,
    "slightly longer than": 1.25,
}
KEY_TERMS = 3  # query terms the passage must reuse (keeps tiny models on the query's topic)

STOPWORDS = frozenset(
    """a about above after again against all also am among an and any are as at be been before being
    below between both but by can could did do does doing down during each effect effects few for from
    further had has have having he her here hers him his how i if in into is it its itself just may might
    more most no nor not now of off on once only or other our out over own same she should so some such
    than that the their them then there these they this those through to too under until up upon very via
    was we were what when where which while who whom why will with within without would you your using
    use used based study studies analysis associated among patients patient role new two one three vs
    among increased decreased reduced higher lower level levels high low cause causes caused""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{2,}")


def content_terms(text: str) -> list[str]:
    """Lower-cased informative words of ``text`` in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOPWORDS and len(word) > 3:
            seen.setdefault(word, None)
    return list(seen)


def derive_domains(corpus: Mapping[str, Document], size: int = 24) -> list[str]:
    """A domain pool from the corpus: the most frequent informative title terms (text when untitled)."""
    counts: Counter[str] = Counter()
    for doc in corpus.values():
        counts.update(content_terms(doc.title or doc.text[:200]))
    floor = max(2, len(corpus) // 500)
    ranked = [term for term, n in counts.most_common() if n >= floor]
    return ranked[:size] or ["general"]


def target_words(positive: str, length_phrase: str, max_words: int = MAX_WORDS) -> int:
    """Word budget for a passage ``length_phrase`` the positive, clamped to [MIN_WORDS, max_words]."""
    words = len(positive.split()) * LENGTHS[length_phrase]
    return int(min(max_words, max(MIN_WORDS, round(words / 10) * 10)))


def pick_domain(rng: random.Random, domains: list[str], context: str) -> str:
    """A pool domain that occurs in the pair's texts when there is one, else any pool domain."""
    present = set(content_terms(context))
    fitting = [d for d in domains if d in present]
    return rng.choice(fitting or domains)


def pick_aspect(rng: random.Random, query: str, side_texts: Iterable[str]) -> str:
    """A side aspect: a term of a mined negative absent from the query, else a query term."""
    query_terms = content_terms(query)
    side = [t for text in side_texts for t in content_terms(text)[:40] if t not in query_terms]
    if side and rng.random() < 0.7:
        return rng.choice(side[:60])
    return rng.choice(query_terms) if query_terms else "a related side topic"


def sample_attributes(
    rng: random.Random,
    domains: list[str],
    query: str,
    positive: str,
    side_texts: Iterable[str] = (),
    max_words: int = MAX_WORDS,
) -> dict[str, str]:
    """Draw one attribute set; every value is a string so it can be recorded as is."""
    side_texts = list(side_texts)
    length = rng.choice(list(LENGTHS))
    return {
        "domain": pick_domain(rng, domains, " ".join([query, positive, *side_texts])),
        "level": rng.choice(LEVELS),
        "length": length,
        "words": str(target_words(positive, length, max_words)),
        "aspect": pick_aspect(rng, query, side_texts),
        "key_terms": ", ".join(content_terms(query)[:KEY_TERMS]),
    }
