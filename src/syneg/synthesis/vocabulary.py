"""The words a passage may use: those of the corpus (its first ``VOCABULARY_DOCS`` documents), of the
texts the run's calls were grounded on (queries, positives, mined passages) and common function words."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from syneg.data import BeirDataset
from syneg.synthesis.attributes import STOPWORDS
from syneg.synthesis.planning import SynthesisItem
from syneg.synthesis.validate import tokens

VOCABULARY_DOCS = 50_000  # bounds the work on a large corpus; their words cover a passage's
# With fewer distinct words the share of a valid passage's words found is too low to judge by (measured
# on SciFact: ~100 abstracts, ~4,600 words, leave 0.2% of abstract chunks under the 0.5 share).
MIN_VOCABULARY = 5_000


def build_vocabulary(texts: Iterable[str]) -> frozenset[str] | None:
    """The distinct tokens of ``texts`` and the stopwords; None when too few to judge a passage by."""
    words = set(STOPWORDS)
    for text in texts:
        words.update(tokens(text))
    return frozenset(words) if len(words) >= MIN_VOCABULARY else None


def run_vocabulary(dataset: BeirDataset | None, items: Sequence[SynthesisItem]) -> frozenset[str] | None:
    """The vocabulary the passages of ``items`` are checked against (see :func:`build_vocabulary`)."""
    docs = itertools.islice(dataset.corpus.values(), VOCABULARY_DOCS) if dataset is not None else ()
    pairs = {item.pair for item in items}
    grounding = (text for pair in pairs for text in (pair.query, pair.positive, *(t for _, t in pair.mined)))
    return build_vocabulary(itertools.chain((f"{doc.title or ''} {doc.text}" for doc in docs), grounding))
