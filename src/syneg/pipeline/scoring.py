"""Score a model on an evaluation split: mean metrics and per-query nDCG@10."""

from __future__ import annotations

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
    from syneg.evaluation.model import model_run

    evaluator = Evaluator(dataset.qrels, metrics)
    run = model_run(model, dataset, evaluator, top_k, max_seq_length=max_seq_length, use_cache=use_cache)
    return evaluator.evaluate(run), evaluator.per_query(run, "nDCG@10")
