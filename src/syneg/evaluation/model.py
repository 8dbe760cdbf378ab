"""``evaluate_model``: dense-retrieve a dataset's queries with a model and score the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, overload

from syneg.data import BeirDataset
from syneg.evaluation.evaluator import Evaluator
from syneg.evaluation.metrics import DEFAULT_METRICS

Scores = dict[str, float]


@overload
def evaluate_model(model: Any, dataset: BeirDataset, *args: Any, per_query: None = None, **kwargs: Any) -> Scores: ...


@overload
def evaluate_model(
    model: Any, dataset: BeirDataset, *args: Any, per_query: str, **kwargs: Any
) -> tuple[Scores, Scores]: ...


def evaluate_model(
    model: Any,
    dataset: BeirDataset,
    metrics: list[str] = DEFAULT_METRICS,
    top_k: int = 100,
    batch_size: int = 64,
    *,
    max_seq_length: int | None = None,
    backend: str = "reference",
    cache_dir: str | Path | None = None,
    use_cache: bool | None = None,
    evaluator: Evaluator | None = None,
    per_query: str | None = None,
    show_progress: bool = False,
    device: str | None = None,
) -> Scores | tuple[Scores, Scores]:
    """Metrics of ``model`` (a loaded SentenceTransformer, a path, or None for the packaged MiniLM).

    Retrieves every query of ``dataset`` over its whole corpus (see ``model_run``) and
    evaluates against ``dataset.qrels``. Pass a prepared ``evaluator`` to reuse it across calls.
    With ``per_query`` (a metric name, e.g. ``nDCG@10``) returns ``(metrics, {query id: value})``.
    ``show_progress`` shows bars for encoding and for scoring a new ``evaluator``; ``device`` None is auto.
    By default this is the reference evaluation: sentence-transformers' own ``encode`` in the model's dtype
    (``backend``) at the model's own ``max_seq_length`` (a fine-tuned model's: the length it was trained at).
    """
    evaluator = evaluator or Evaluator(dataset.qrels, metrics, show_progress=show_progress)
    run = model_run(model, dataset, evaluator, top_k, batch_size, max_seq_length=max_seq_length,
                    backend=backend, cache_dir=cache_dir, use_cache=use_cache, show_progress=show_progress,
                    device=device)
    scores = evaluator.evaluate(run)
    return scores if per_query is None else (scores, evaluator.per_query(run, per_query))


def model_run(
    model: Any,
    dataset: BeirDataset,
    evaluator: Evaluator,
    top_k: int = 100,
    batch_size: int = 64,
    *,
    max_seq_length: int | None = None,
    backend: str = "reference",
    cache_dir: str | Path | None = None,
    use_cache: bool | None = None,
    show_progress: bool = False,
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """The dense run of ``model`` over ``dataset``, deep enough for ``evaluator``'s metrics.

    Each query gets ``top_k`` documents, at least the largest metric cutoff, plus one so a
    dropped identical id still leaves enough. Document embeddings are cached by default only
    for a model given by path (a model being trained changes every epoch).
    """
    from syneg.evaluation.runfile import results_to_run
    from syneg.retrieval import make_retriever

    if use_cache is None:
        use_cache = model is None or isinstance(model, (str, Path))
    retriever = make_retriever("dense", model, cache_dir=cache_dir, use_cache=use_cache, batch_size=batch_size,
                               max_seq_length=max_seq_length, backend=backend, show_progress=show_progress,
                               device=device)
    retriever.index(dataset.corpus)
    query_ids = list(dataset.queries)
    depth = max([top_k, *(_cutoff(s.measure, s.run_cutoff) for s in evaluator.specs)]) + 1
    return results_to_run(query_ids, retriever.search([dataset.queries[q] for q in query_ids], depth))


def _cutoff(measure: Any, run_cutoff: int | None) -> int:
    cutoff = run_cutoff if run_cutoff is not None else measure.params.get("cutoff")
    return int(cutoff) if isinstance(cutoff, int) else 0
