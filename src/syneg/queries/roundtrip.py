"""Round-trip filter (Promptagator, InPars): a generated query is kept only when retrieval over the
whole corpus finds its source document in the top ``depth``.

The retriever is the teacher's when ``teacher.model`` is set (a bi-encoder searches the corpus; a
cross-encoder reranks BM25's top ``RERANK_DEPTH``), else BM25.
"""

from __future__ import annotations

from collections.abc import Sequence

from syneg.config import TeacherConfig
from syneg.data import Document
from syneg.retrieval.base import SearchResult

RERANK_DEPTH = 100


def source_ranks(corpus: dict[str, Document], queries: Sequence[str], sources: Sequence[str], depth: int,
                 teacher: TeacherConfig | None = None, *, device: str | None = None, backend: str = "reference",
                 show_progress: bool = False) -> list[int | None]:
    """The 1-based rank of each query's source document among the top ``depth``, None when it is not there."""
    if not queries:
        return []
    result = _search(corpus, list(queries), depth, teacher, device, backend, show_progress)
    return [ids.index(source) + 1 if source in ids else None for ids, source in zip(result.ids, sources)]


def retriever_name(teacher: TeacherConfig | None) -> str:
    """What ranks the round trip: ``bm25`` or ``teacher:<name>``."""
    from syneg.teacher.load import teacher_name

    return f"teacher:{teacher_name(teacher.model)}" if teacher is not None and teacher.model else "bm25"


def _search(corpus, queries, depth, teacher, device, backend, show_progress) -> SearchResult:
    from syneg.retrieval import make_retriever

    if teacher is None or not teacher.model:
        bm25 = make_retriever("bm25", show_progress=show_progress)
        bm25.index(corpus)
        return bm25.search(queries, depth)
    from syneg.models import resolve_encoder
    from syneg.teacher.load import is_cross_encoder, load_teacher

    path = resolve_encoder(teacher.model)
    if not is_cross_encoder(path):
        dense = make_retriever("dense", path, batch_size=teacher.batch_size, max_seq_length=teacher.max_seq_length,
                               backend=backend, show_progress=show_progress, device=device)
        dense.index(corpus)
        return dense.search(queries, depth)
    bm25 = make_retriever("bm25", show_progress=show_progress)
    bm25.index(corpus)
    candidates = bm25.search(queries, max(depth, RERANK_DEPTH)).ids
    scores = load_teacher(teacher, device=device, show_progress=show_progress).score_corpus(queries, candidates, corpus)
    ranked = [[doc for _, doc in sorted(zip(row, ids), key=lambda pair: -pair[0])][:depth]
              for row, ids in zip(scores, candidates)]
    return SearchResult(ranked, [sorted(row, reverse=True)[:depth] for row in scores])
