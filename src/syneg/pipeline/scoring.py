"""Score a model on an evaluation split: mean metrics and per-query nDCG@10."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syneg.data import BeirDataset


def score_model(
    model: Any,
    dataset: BeirDataset,
    metrics: list[str],
    *,
    max_seq_length: int | None = None,
    use_cache: bool = True,
    top_k: int = 100,
) -> tuple[dict[str, float], dict[str, float]]:
    """``(metrics, per-query nDCG@10)`` of dense retrieval with ``model`` (path or None)."""
    from syneg.evaluation import Evaluator
    from syneg.retrieval import results_to_run
    from syneg.retrieval.dense import DenseRetriever

    evaluator = Evaluator(dataset.qrels, metrics)
    retriever = DenseRetriever(None if model is None else str(model) if isinstance(model, Path) else model,
                               use_cache=use_cache, max_seq_length=max_seq_length)
    retriever.index(dataset.corpus)
    query_ids = list(dataset.queries)
    run = results_to_run(query_ids, retriever.search([dataset.queries[q] for q in query_ids], top_k + 1))
    return evaluator.evaluate(run), evaluator.per_query(run, "nDCG@10")
