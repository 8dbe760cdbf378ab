"""Normalized-text keys that catch duplicate documents (a positive's copy must never be a negative)."""

from __future__ import annotations

import re
import unicodedata
import warnings
import zipfile
from pathlib import Path

import numpy as np

from syneg.data import Document
from syneg.io import discard
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
    """Per-corpus cache of :func:`text_keys`, computed lazily for the documents asked about.

    With a ``cache_dir`` the keys computed so far are read from and :meth:`save`-d to one file per corpus
    content (``duplicate-keys-<fingerprint>.npz``), so a rerun on the same corpus computes none again.
    """

    def __init__(self, corpus: dict[str, Document], cache_dir: Path | None = None) -> None:
        self._corpus = corpus
        self._keys: dict[str, frozenset[int]] = {}
        self._path = None if cache_dir is None else Path(cache_dir) / f"duplicate-keys-{_fingerprint(corpus)}.npz"
        if self._path is not None and (self._path.exists() or self._path.is_symlink()):
            self._keys = _read_keys(self._path, list(corpus))
        self._saved = len(self._keys)

    def save(self) -> None:
        """Write the keys to the cache file when some were computed since it was read (a failure only warns)."""
        if self._path is None or len(self._keys) == self._saved:
            return
        try:
            _write_keys(self._path, self._keys, list(self._corpus))
            self._saved = len(self._keys)
        except OSError as exc:  # a read-only or full cache disk must not fail the mining
            warnings.warn(f"could not write the duplicate-key cache {self._path}: {exc}", stacklevel=2)

    def keys(self, doc_id: str) -> frozenset[int]:
        """The duplicate keys of one corpus document."""
        found = self._keys.get(doc_id)
        if found is None:
            found = self._keys[doc_id] = text_keys(self._corpus[doc_id])
        return found

    def keys_of(self, doc_ids: list[str]) -> frozenset[int]:
        """The union of the keys of several documents (e.g. all of a query's positives)."""
        return frozenset().union(*(self.keys(doc_id) for doc_id in doc_ids))


def _fingerprint(corpus: dict[str, Document]) -> str:
    from syneg.retrieval.cache import corpus_fingerprint

    return corpus_fingerprint(list(corpus), [f"{doc.title}\x1f{doc.text}" for doc in corpus.values()])


def _read_keys(path: Path, ids: list[str]) -> dict[str, frozenset[int]]:
    """The cached keys by document id.

    A file that is unreadable, not a regular file (a folder, a link) or not of this corpus is named in one warning and deleted (the keys are
    computed again and saved); the array headers are checked before any data is read.
    """
    rows, keys, problem = None, None, "not a regular file"
    if path.is_file() and not path.is_symlink():
        try:
            rows, keys, problem = _load_keys(path, len(ids))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            rows, keys, problem = None, None, f"unreadable ({exc})"
    if rows is None or keys is None:
        warnings.warn(f"duplicate-key cache {path} is unusable: {problem}; deleted, rebuilding it", stacklevel=3)
        discard(path)  # a link itself, never its target
        return {}
    return {ids[row]: frozenset(int(key) for key in pair if key) for row, pair in zip(rows.tolist(), keys.tolist())}


def _load_keys(path: Path, documents: int) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``rows`` (distinct corpus positions) and ``keys`` (two uint64 per row) of a cache file, or what is wrong."""
    with zipfile.ZipFile(path) as archive:
        (shape, dtype), (key_shape, key_dtype) = _header(archive, "rows"), _header(archive, "keys")
        if (len(shape) != 1 or shape[0] > documents or dtype.kind not in "iu" or key_shape != (*shape, 2)
                or key_dtype != np.uint64):
            return None, None, f"holds rows {dtype} {shape} and keys {key_dtype} {key_shape}"
        rows, keys = (_array(archive, name) for name in ("rows", "keys"))
    if len(rows) and not (0 <= rows.min() <= rows.max() < documents and len(np.unique(rows)) == len(rows)):
        return None, None, f"rows outside the corpus of {documents} documents or repeated"
    return rows, keys, ""


def _header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the array ``name`` of an .npz archive, from its header alone."""
    with archive.open(f"{name}.npy") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
    return shape, dtype


def _array(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(f"{name}.npy") as handle:
        return np.lib.format.read_array(handle, allow_pickle=False)


def _write_keys(path: Path, keys: dict[str, frozenset[int]], ids: list[str]) -> None:
    """Rows (corpus positions) and up to two keys per row (0 = none), written atomically."""
    from syneg.io import atomic_open

    position = {doc_id: row for row, doc_id in enumerate(ids)}
    rows = np.fromiter((position[doc_id] for doc_id in keys), dtype=np.int64, count=len(keys))
    table = np.zeros((len(keys), 2), dtype=np.uint64)
    for row, found in enumerate(keys.values()):
        table[row, : len(found)] = sorted(found)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, rows=rows, keys=table)
