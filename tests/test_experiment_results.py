"""Experiment aggregation: means, spreads, bold best, and paired significance tests."""

from __future__ import annotations

import pytest

from syneg.experiment.results import CellResult, aggregate, markdown_table, mean_per_query, paired_test


def test_aggregate_and_table():
    cells = [
        CellResult("bm25", 0, {"nDCG@10": 0.60}), CellResult("bm25", 1, {"nDCG@10": 0.64}),
        CellResult("hybrid", 0, {"nDCG@10": 0.70}), CellResult("hybrid", 1, {"nDCG@10": 0.72}),
    ]
    table = aggregate(cells)
    mean, std, n = table["bm25"]["nDCG@10"]
    assert (mean, n) == (pytest.approx(0.62), 2) and std == pytest.approx(0.028284, rel=1e-4)
    text = markdown_table(table, ["nDCG@10"])
    assert "| bm25 | 2 | 62.0 ± 2.8 |" in text
    assert "| hybrid | 2 | **71.0 ± 1.4** |" in text


def test_paired_test_detects_consistent_gain():
    a = {str(i): 0.5 + 0.1 * (i % 3) for i in range(30)}
    better = {q: v + 0.05 + 0.01 * (int(q) % 2) for q, v in a.items()}
    result = paired_test(better, a)
    assert result["queries"] == 30 and result["mean_diff"] == pytest.approx(0.055)
    assert result["t_pvalue"] < 1e-6 and result["wilcoxon_pvalue"] < 1e-4
    assert paired_test(a, a)["t_pvalue"] == 1.0


def test_mean_per_query_over_seeds():
    cells = [CellResult("h", 0, {}, {"q1": 0.2, "q2": 1.0}), CellResult("h", 1, {}, {"q1": 0.4, "q2": 0.0})]
    assert mean_per_query(cells, "h") == {"q1": pytest.approx(0.3), "q2": 0.5}


def test_mean_per_query_refuses_seeds_scored_on_different_queries():
    from syneg.errors import SynegError

    cells = [CellResult("h", 0, {}, {"q1": 0.2}), CellResult("h", 1, {}, {"q2": 0.4})]
    with pytest.raises(SynegError, match="split_seed"):
        mean_per_query(cells, "h")


def test_holm_adjusts_step_down_and_keeps_order():
    from syneg.experiment.compare import holm

    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 1 x 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_cells_against_the_retrieved_only_baseline_with_intervals_and_holm():
    from syneg.experiment.compare import against_baseline, comparison_markdown

    qids = [str(i) for i in range(40)]
    base = {q: 0.5 + 0.01 * (i % 5) for i, q in enumerate(qids)}
    gain = {q: v + 0.05 + 0.02 * (i % 2) for i, (q, v) in enumerate(base.items())}  # +0.06 on average, every query
    noise = {q: v + (0.03 if i % 2 else -0.03) for i, (q, v) in enumerate(base.items())}  # +0 on average
    cells = [CellResult("zero-shot", 0, {}, base)]
    cells += [CellResult("bm25", s, {}, base) for s in (0, 1)]
    cells += [CellResult("hybrid", s, {}, gain) for s in (0, 1)] + [CellResult("synthetic", s, {}, noise) for s in (0, 1)]
    rows = {r["cell"]: r for r in against_baseline(cells, "bm25")}
    assert set(rows) == {"zero-shot", "hybrid", "synthetic"}
    hybrid, synthetic = rows["hybrid"], rows["synthetic"]
    assert hybrid["mean_diff"] == pytest.approx(0.06) and 0.05 <= hybrid["ci_low"] < 0.06 < hybrid["ci_high"] <= 0.07
    assert hybrid["significant"] and hybrid["seeds"] == 2 and hybrid["queries"] == 40
    assert synthetic["ci_low"] < 0 < synthetic["ci_high"] and not synthetic["significant"]
    assert synthetic["holm_pvalue"] >= synthetic["t_pvalue"]
    text = comparison_markdown(list(rows.values()), "bm25")
    assert "| hybrid | 2 | 40 | +6.00 * |" in text
