"""The headline: zero-shot vs trained for each metric, nDCG@10 with a paired bootstrap interval."""

from __future__ import annotations

from typing import Any

from syneg.evaluation.bootstrap import PairedInterval, paired_bootstrap
from syneg.evaluation.metrics import PER_QUERY_METRIC
from syneg.report.markup import bounded, count, esc, note, num, shorten, table

MAX_BOOTSTRAP_QUERIES = 20_000  # more queries get no interval (the resampling holds 2,000 x queries numbers)


def interval(per_query: dict[str, Any] | None) -> PairedInterval | None:
    """Bootstrap interval of trained minus zero-shot per-query nDCG@10, when both are there."""
    if not isinstance(per_query, dict):
        return None
    zero, trained = bounded(per_query.get("zero_shot")), bounded(per_query.get("trained"))
    if not zero or not trained or len(zero.keys() & trained.keys()) > MAX_BOOTSTRAP_QUERIES:
        return None
    return paired_bootstrap(zero, trained)


def _delta_cell(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "<td>–</td>"
    cls = "up" if value > 0 else "down" if value < 0 else ""
    return f"<td class='num {cls}'>{num(value, signed=True)}</td>"


def _ci_cell(ci: PairedInterval | None) -> str:
    if ci is None:
        return "<td>–</td>"
    return f"<td class=num>[{num(ci.low, signed=True)}, {num(ci.high, signed=True)}]</td>"


def headline(metrics: dict[str, Any] | None, per_query: dict[str, Any] | None) -> str:
    """A sentence and a table: metric, zero-shot, trained, difference and its 95% interval."""
    if not isinstance(metrics, dict) or not isinstance(metrics.get("trained"), dict):
        return note("not yet evaluated: no metrics.json in this run")
    zero, trained, delta = (bounded(metrics.get(k)) for k in ("zero_shot", "trained", "delta"))
    ci = interval(per_query)
    rows = []
    for name in (m for m in trained if m != "queries"):
        diff = delta.get(name, trained[name] - zero[name] if name in zero else None)
        rows.append([f"<th>{esc(shorten(name, 80))}</th>", f"<td class=num>{num(zero.get(name))}</td>",
                     f"<td class=num>{num(trained[name])}</td>", _delta_cell(diff),
                     _ci_cell(ci if name == PER_QUERY_METRIC else None)])
    queries = count(metrics.get("queries"))
    where = f"{'?' if queries is None else queries} queries of split {shorten(metrics.get('split', '?'), 80)}"
    sentence = f"Evaluated on {where}."
    if ci is not None:
        sentence += (f" {PER_QUERY_METRIC} changed by {ci.mean:+.4f} (95% interval {ci.low:+.4f} to "
                     f"{ci.high:+.4f}: paired bootstrap over {ci.queries} queries, {ci.resamples:,} resamples).")
    headers = ["metric", "zero-shot", "trained", "difference", "95% interval"]
    return f"<p>{esc(sentence)}</p>" + table(headers, rows, cls="headline")
