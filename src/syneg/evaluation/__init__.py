"""Evaluation: pytrec_eval metrics (via ir_measures) over every judged query, BEIR conventions."""

from __future__ import annotations

from syneg.evaluation.evaluator import Evaluator, trec_order
from syneg.evaluation.metrics import (
    DEFAULT_METRICS,
    MetricSpec,
    parse_metric,
    parse_metrics,
)
from syneg.evaluation.model import evaluate_model
from syneg.evaluation.runfile import read_run, results_to_run, write_run

__all__ = [
    "DEFAULT_METRICS",
    "Evaluator",
    "MetricSpec",
    "evaluate_model",
    "parse_metric",
    "parse_metrics",
    "read_run",
    "results_to_run",
    "trec_order",
    "write_run",
]
