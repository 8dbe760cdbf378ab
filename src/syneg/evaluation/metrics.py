"""Metric names (ir_measures syntax) checked against what pytrec_eval computes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syneg.errors import SynegError
from syneg.limits import MAX_DEPTH, MAX_GRADE

PER_QUERY_METRIC = "nDCG@10"  # the metric kept per query (per_query.json, paired tests, win/loss tables)
DEFAULT_METRICS = [PER_QUERY_METRIC, "R@10", "R@100", "RR@10"]
EXAMPLES = "nDCG@10, R@100, RR@10, P@5, MAP"


@dataclass(frozen=True)
class MetricSpec:
    """A requested metric: its name as given, the measure pytrec_eval computes, and a run cutoff.

    pytrec_eval has no cut-off reciprocal rank, so ``RR@k`` is pytrec_eval's ``recip_rank`` on
    the run cut to its first ``k`` documents in trec_eval's order (``trec_eval -M k``).
    """

    name: str
    measure: Any
    run_cutoff: int | None = None


def _parse(name: str) -> Any:
    import ir_measures

    try:
        return ir_measures.parse_measure(name)
    except (NameError, ValueError, SyntaxError, TypeError, AssertionError):
        raise SynegError(f"unknown metric {name!r} (use ir_measures names, e.g. {EXAMPLES})") from None


def _supported(measure: Any) -> bool:
    import ir_measures

    try:
        return ir_measures.pytrec_eval.supports(measure)
    except (AssertionError, ValueError, TypeError):
        return False


def _int_within(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _param_problem(key: str, value: Any) -> str | None:
    """Why a measure parameter is out of its bounds (pytrec_eval aborts or misreads such values), or None."""
    grade = f"an integer from -{MAX_GRADE} to {MAX_GRADE}"
    if key == "cutoff" and not _int_within(value, 1, MAX_DEPTH):
        return f"cut-off {value!r} must be an integer from 1 to {MAX_DEPTH}"
    if key == "recall" and not (isinstance(value, (int, float)) and 0 <= value <= 1):
        return f"recall level {value!r} must be between 0 and 1"
    if key == "rel" and not _int_within(value, -MAX_GRADE, MAX_GRADE):
        return f"rel={value!r} must be {grade}"
    if key == "gains" and not (isinstance(value, dict) and all(
            _int_within(k, -MAX_GRADE, MAX_GRADE) and _int_within(v, -MAX_GRADE, MAX_GRADE) for k, v in value.items())):
        return f"gains must map grades to gains, each {grade}"
    if key == "beta" and not (isinstance(value, (int, float)) and 0 <= value <= MAX_GRADE):
        return f"beta={value!r} must be a number from 0 to {MAX_GRADE}"
    return None


def _check_params(name: str, measure: Any) -> None:
    for key, value in measure.params.items():
        problem = _param_problem(key, value)
        if problem is not None:
            raise SynegError(f"metric {name[:80]!r}: {problem}")


def parse_metric(name: str) -> MetricSpec:
    """Parse one metric name; unknown names, measures pytrec_eval lacks and parameters out of their
    bounds (cut-offs 1..``MAX_DEPTH``, grades within +-``MAX_GRADE``) are clear errors."""
    import ir_measures

    name = name.strip()
    measure = _parse(name)
    _check_params(name, measure)
    if measure.NAME == "RR" and "cutoff" in measure.params:
        base = ir_measures.RR(**{k: v for k, v in measure.params.items() if k != "cutoff"})
        if _supported(base):
            return MetricSpec(name, base, int(measure["cutoff"]))
    if not _supported(measure):
        raise SynegError(f"metric {name!r} is not computed by pytrec_eval (use e.g. {EXAMPLES})")
    return MetricSpec(name, measure)


def parse_metrics(names: list[str]) -> list[MetricSpec]:
    """Parse several metric names, dropping repeats; at least one is required."""
    specs: list[MetricSpec] = []
    for name in names:
        spec = parse_metric(name)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)
    if not specs:
        raise SynegError(f"no metrics given (e.g. {EXAMPLES})")
    return specs
