"""Aggregate experiment cells: mean and spread per cell, best per column, paired significance."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from syneg.errors import SynegError


@dataclass
class CellResult:
    """One trained (or zero-shot) model's scores on the evaluation split."""

    group: str  # the grid cell, e.g. "hybrid R=0.7 tau=0.02"
    seed: int
    metrics: dict[str, float]
    per_query: dict[str, float] = field(default_factory=dict)  # per-query nDCG@10
    extra: dict[str, float] = field(default_factory=dict)  # e.g. grad-norm variance, wall time


def aggregate(cells: list[CellResult]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``{group: {metric: (mean, std, n_seeds)}}`` in first-seen group order."""
    by_group: dict[str, list[CellResult]] = defaultdict(list)
    for cell in cells:
        by_group[cell.group].append(cell)
    table = {}
    for group, items in by_group.items():
        names = list(items[0].metrics) + list(items[0].extra)
        table[group] = {}
        for name in names:
            values = [c.metrics.get(name, c.extra.get(name)) for c in items]
            values = [v for v in values if v is not None]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            table[group][name] = (statistics.fmean(values), spread, len(values))
    return table


def mean_per_query(cells: list[CellResult], group: str) -> dict[str, float]:
    """Per-query score of ``group`` averaged over its seeds."""
    runs = [c.per_query for c in cells if c.group == group and c.per_query]
    if not runs:
        return {}
    if any(run.keys() != runs[0].keys() for run in runs):
        raise SynegError(f"the seeds of {group!r} were evaluated on different queries (a dev split carved per "
                         "seed?): set data.split_seed so that every seed evaluates the same split")
    return {qid: statistics.fmean(run.get(qid, 0.0) for run in runs) for qid in runs[0]}


def paired_test(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Paired two-sided tests of a vs b over shared queries: t-test and Wilcoxon signed-rank."""
    from scipy import stats

    qids = sorted(set(a) & set(b))
    x, y = [a[q] for q in qids], [b[q] for q in qids]
    diff = [u - v for u, v in zip(x, y)]
    result = {"queries": len(qids), "mean_diff": statistics.fmean(diff) if diff else 0.0}
    if len(qids) < 2 or not any(diff):
        return {**result, "t_pvalue": 1.0, "wilcoxon_pvalue": 1.0}
    result["t_pvalue"] = float(stats.ttest_rel(x, y).pvalue)
    result["wilcoxon_pvalue"] = float(stats.wilcoxon(x, y, zero_method="zsplit").pvalue)
    return result


def markdown_table(table: dict[str, dict[str, tuple[float, float, int]]], columns: list[str]) -> str:
    """A markdown table ``mean ± std`` (x100 for metrics in [0, 1]); best mean per column in bold."""
    best = {c: max((row[c][0] for row in table.values() if c in row), default=None) for c in columns}
    lines = ["| cell | seeds | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for group, row in table.items():
        n = max((v[2] for v in row.values()), default=0)
        cells = []
        for c in columns:
            if c not in row:
                cells.append("–")
                continue
            mean, std, _ = row[c]
            text = f"{mean * 100:.1f} ± {std * 100:.1f}" if abs(mean) <= 1 else f"{mean:.3g} ± {std:.2g}"
            cells.append(f"**{text}**" if best[c] is not None and mean == best[c] else text)
        lines.append(f"| {group} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
