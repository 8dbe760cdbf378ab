"""Each cell against the retrieved-only baseline: mean difference, 95% paired-bootstrap interval, Holm.

Per query, a cell's nDCG@10 is averaged over its seeds (every seed must evaluate the same queries:
fix ``data.split_seed`` when dev is carved); the difference to the baseline's seed-averaged score is
resampled over queries (:func:`syneg.evaluation.bootstrap.paired_bootstrap`). The paired t-test
p-values of all comparisons are adjusted together with Holm's step-down method, which controls the
family-wise error rate: a row is ``significant`` when its adjusted p is below ``alpha``.
"""

from __future__ import annotations

from typing import Any

from syneg.evaluation.bootstrap import paired_bootstrap
from syneg.experiment.results import CellResult, mean_per_query, paired_test


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: ``max_{j<=i} min(1, (m - j) p_(j))`` over the sorted ones."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def against_baseline(results: list[CellResult], baseline: str, alpha: float = 0.05,
                     resamples: int = 2000) -> list[dict[str, Any]]:
    """One row per other group: seeds, mean difference to ``baseline``, its 95% interval, p and Holm p."""
    reference = mean_per_query(results, baseline)
    if not reference:
        return []
    rows = []
    for group in dict.fromkeys(r.group for r in results):
        scores = mean_per_query(results, group)
        if group == baseline or not scores:
            continue
        interval = paired_bootstrap(reference, scores, resamples=resamples)
        test = paired_test(scores, reference)
        rows.append({"cell": group, "seeds": sum(r.group == group for r in results), "queries": test["queries"],
                     "mean_diff": interval.mean, "ci_low": interval.low, "ci_high": interval.high,
                     "t_pvalue": test["t_pvalue"]})
    for row, adjusted in zip(rows, holm([r["t_pvalue"] for r in rows])):
        row["holm_pvalue"] = adjusted
        row["significant"] = adjusted < alpha
    return rows


def comparison_markdown(rows: list[dict[str, Any]], baseline: str) -> str:
    """The rows as a markdown table (differences x100)."""
    lines = [f"Each cell vs `{baseline}` (retrieved-only), per-query nDCG@10 averaged over seeds: mean difference "
             "x100 with its 95% paired-bootstrap interval; t-test p, Holm-adjusted over these comparisons.", "",
             "| cell | seeds | queries | diff (x100) | 95% CI | t-test p | Holm p |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " *" if r["significant"] else ""
        lines.append(f"| {r['cell']} | {r['seeds']} | {r['queries']} | {r['mean_diff'] * 100:+.2f}{mark} | "
                     f"[{r['ci_low'] * 100:+.2f}, {r['ci_high'] * 100:+.2f}] | {r['t_pvalue']:.3g} | "
                     f"{r['holm_pvalue']:.3g} |")
    return "\n".join(lines) + "\n\n`*`: Holm-adjusted p < 0.05.\n"
