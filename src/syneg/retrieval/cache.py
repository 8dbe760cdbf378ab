"""On-disk cache of document embeddings, keyed by model, corpus content and encoding settings."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from syneg.io import atomic_open, discard, write_json

CACHE_ENV = "SYNEG_CACHE_DIR"
NORM_TOLERANCE = 1e-2  # cached rows are L2-normalized (float32 of bf16 encodings: off by far less)


def default_cache_dir() -> Path:
    """``$SYNEG_CACHE_DIR``, else ``~/.cache/syneg/embeddings``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "syneg" / "embeddings"


def _digest() -> Any:
    return hashlib.blake2b(digest_size=16)


def path_fingerprint(model: str) -> str:
    """A model folder's identity: its resolved path plus every file's name, size and mtime.

    A name that is not a local path (a Hub id) is fingerprinted by the name alone.
    """
    path = Path(model).expanduser()
    if not path.exists():
        return f"name:{model}"
    digest = _digest()
    digest.update(str(path.resolve()).encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        digest.update(
            f"\x1f{file.relative_to(path) if file != path else file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        )
    return f"path:{digest.hexdigest()}"


def weights_fingerprint(model: Any) -> str:
    """A loaded model's identity: a hash of its class and every parameter and buffer."""
    import torch

    digest = _digest()
    digest.update(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"\x1f{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"weights:{digest.hexdigest()}"


def corpus_fingerprint(ids: list[str], texts: list[str]) -> str:
    """A hash of the corpus content in index order (ids and the texts the encoder sees)."""
    digest = _digest()
    for doc_id, text in zip(ids, texts, strict=True):
        digest.update(
            doc_id.encode("utf-8", "surrogatepass") + b"\x1f" + text.encode("utf-8", "surrogatepass") + b"\x1e"
        )
    return digest.hexdigest()


def _read(path: Path, rows: int, dim: int | None) -> tuple[np.ndarray | None, str]:
    """The array in ``path`` when it is ``rows x dim`` finite float32, else None and what is wrong."""
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    if not isinstance(mapped, np.ndarray):  # an .npz archive
        mapped.close()
        return None, "not a single array"
    if mapped.ndim != 2 or mapped.shape[0] != rows or (dim and mapped.shape[1] != dim) or mapped.dtype != np.float32:
        return None, f"holds {mapped.dtype} {mapped.shape}, expected float32 ({rows}, {dim or 'any'})"
    array = np.array(mapped)
    del mapped
    if not np.isfinite(array).all():
        return None, "holds NaN or infinite values"
    norms = np.linalg.norm(array, axis=1)
    if len(norms) and np.abs(norms - 1).max() > NORM_TOLERANCE:  # every row is stored L2-normalized
        return None, f"holds rows that are not unit vectors (norm {norms[np.abs(norms - 1).argmax()]:.3g})"
    return array, ""


class EmbeddingCache:
    """``<dir>/<key>.npy`` files (written atomically) with a ``<key>.json`` note of what they hold."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    @staticmethod
    def key(**parts: Any) -> str:
        """A stable key for the given settings (order-independent)."""
        digest = _digest()
        digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def load(self, key: str, rows: int, dim: int | None = None) -> np.ndarray | None:
        """The cached ``rows x dim`` float32 array, or None when absent.

        A file that is unreadable, not a regular file (a folder, a link), of another shape or type, or holds
        non-finite numbers or rows that are not unit vectors is named in one warning and deleted (a link
        itself, never its target), so the caller's rebuild replaces it. The header is checked before the data.
        """
        path, note = self.path(key), self.directory / f"{key}.json"
        if not path.exists() and not path.is_symlink():
            if note.is_symlink() or (note.exists() and not note.is_file()):
                discard(note)  # the rebuild writes the note there
            return None
        if path.is_symlink() or not path.is_file():
            array, problem = None, "not a regular file"
        else:
            try:
                array, problem = _read(path, rows, dim)
            except (OSError, ValueError, EOFError) as exc:
                array, problem = None, f"unreadable ({exc})"
        if problem:
            warnings.warn(f"embedding cache {path} is unusable: {problem}; deleted, rebuilding it", stacklevel=2)
            for stale in (path, note):
                discard(stale)
        return array

    def save(self, key: str, array: np.ndarray, meta: dict[str, Any]) -> Path:
        """Write ``array`` (and a JSON note of ``meta``) atomically; returns the array's path."""
        path = self.path(key)
        with atomic_open(path, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        write_json(self.directory / f"{key}.json", {**meta, "shape": list(array.shape)})
        return path
