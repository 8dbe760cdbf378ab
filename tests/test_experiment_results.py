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
