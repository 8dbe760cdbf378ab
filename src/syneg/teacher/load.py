"""Loading the teacher: a bi-encoder or a cross-encoder, from a packaged name (``mpnet``, ``embeddinggemma``),
None (the packaged MiniLM) or any sentence-transformers path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from syneg.config import TeacherConfig
    from syneg.data import Document


class Teacher(Protocol):
    """Scores passages against queries with a model other than the student."""

    name: str

    def score(self, queries: list[str], docs: list[list[str]]) -> list[list[float]]:
        """The score of each passage of ``docs[i]`` against ``queries[i]``."""

    def score_corpus(self, queries: list[str], doc_ids: list[list[str]],
                     corpus: dict[str, Document]) -> list[list[float]]:
        """The score of each document of ``doc_ids[i]`` (in ``corpus``) against ``queries[i]``."""


def load_teacher(config: TeacherConfig, *, device: str | None = None, cache_dir: str | Path | None = None,
                 show_progress: bool = True, backend: str = "reference") -> Teacher:
    """The teacher of ``config`` (``model`` None: the packaged MiniLM) on ``device`` (None = auto).

    A cross-encoder (see :func:`is_cross_encoder`) scores pairs; a bi-encoder scores cosines and caches the
    passages' embeddings in ``cache_dir`` (default: the dense-retrieval cache), encoding through ``backend``
    (``encode.backend``). Progress goes to stderr.
    """
    from syneg.models import resolve_encoder

    path = resolve_encoder(config.model)
    options = {"batch_size": config.batch_size, "max_seq_length": config.max_seq_length, "device": device,
               "show_progress": show_progress, "name": teacher_name(config.model)}
    if is_cross_encoder(path):
        from syneg.teacher.cross_encoder import CrossEncoderTeacher

        return CrossEncoderTeacher(path, **options)
    from syneg.teacher.bi_encoder import BiEncoderTeacher

    return BiEncoderTeacher(path, cache_dir=cache_dir, backend=backend, **options)


def teacher_name(model: str | None) -> str:
    """How statistics and progress lines name a teacher: a packaged name, a folder by its last name."""
    from syneg.redact import without_paths

    return "packaged MiniLM" if model is None else str(without_paths(model))


def is_cross_encoder(path: str) -> bool:
    """True for a local folder holding a cross-encoder: a sentence-transformers ``CrossEncoder`` save,
    or a plain Hugging Face ``*ForSequenceClassification`` model (the classic cross-encoder layout)."""
    folder = Path(path)
    st_config = folder / "config_sentence_transformers.json"
    if (folder / "modules.json").is_file():
        return st_config.is_file() and _json(st_config).get("model_type") == "CrossEncoder"
    architectures = _json(folder / "config.json").get("architectures") or []
    return any(str(arch).endswith("ForSequenceClassification") for arch in architectures)


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
