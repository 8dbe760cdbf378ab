"""Normalized-text keys that catch duplicate documents (a positive's copy must never be a negative)."""

from __future__ import annotations

import re
import unicodedata

from syneg.data import Document
from syneg.rng import stable_hash

_NON_WORD = re.compile(r"[\W_]+")
_ASCII_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def normalize_text(text: str) -> str:
    """Unicode-fold, lowercase, drop punctuation and collapse whitespace: ``"A-b,  C!"`` -> ``"a b c"``."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():  # the same result, without the regex (twice as fast)
        return " ".join(folded.translate(_ASCII_NON_WORD).split())
    return _NON_WORD.sub(" ", folded).strip()


def text_keys(doc: Document) -> frozenset[int]:
    """Hashes of the normalized full text (title + text) and of the normalized body alone.

    Two documents are duplicates when they share a key: same passage up to case, spacing and
    punctuation, with or without the same title.
    """
    body = normalize_text(doc.text)
    # == normalize_text(doc.full_text): the space between title and text is a separator either way
    keys = {" ".join(part for part in (normalize_text(doc.title), body) if part), body}
    return frozenset(stable_hash("text", key) for key in keys if key)


class DuplicateIndex:
    """Per-corpus cache of :func:`text_keys`, computed lazily for the documents asked about."""

    def __init__(self, corpus: dict[str, Document]) -> None:
        self._corpus = corpus
        self._keys: dict[str, frozenset[int]] = {}

    def keys(self, doc_id: str) -> frozenset[int]:
        """The duplicate keys of one corpus document."""
        found = self._keys.get(doc_id)
        if found is None:
            found = self._keys[doc_id] = text_keys(self._corpus[doc_id])
        return found

    def keys_of(self, doc_ids: list[str]) -> frozenset[int]:
        """The union of the keys of several documents (e.g. all of a query's positives)."""
        return frozenset().union(*(self.keys(doc_id) for doc_id in doc_ids))
