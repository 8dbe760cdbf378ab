"""``syneg experiment`` writes results.html beside results.md: table, significance rows, plots inlined."""

from __future__ import annotations

import re

from syneg.experiment.grid import ExperimentConfig, expand
from syneg.experiment.results import CellResult
from syneg.experiment.summary import write_results

ENV = {"command": "syneg experiment exp.yaml", "hardware": "cpu x2", "wall_s": 12.0}


def _results(cells) -> list[CellResult]:
    queries = [str(q) for q in range(20)]
    out = [CellResult("zero-shot", 0, {"nDCG@10": 0.5}, {q: 0.5 for q in queries})]
    for i, cell in enumerate(c for c in cells if c.seed == 0):
        score = 0.55 + 0.02 * i
        per_query = {q: score + 0.01 * (int(q) % 3) + 0.004 * (int(q) * (i + 1) % 5) for q in queries}
        out.append(CellResult(cell.group, 0, {"nDCG@10": score}, per_query, {"grad-norm var": 0.1 * i}))
    return out


def test_results_page_beside_results_md(tmp_path):
    config = ExperimentConfig.model_validate({"run_dir": str(tmp_path), "evaluate": {"metrics": ["nDCG@10"]},
                                              "experiment": {"seeds": [0], "baselines": ["bm25", "hybrid"],
                                                             "ratios": [0.5]}})
    cells = expand(config)
    results = _results(cells)
    write_results(tmp_path, config, cells, results, ENV)
    page = (tmp_path / "results.html").read_text()
    groups = [r.group for r in results]
    assert re.findall(r"<tr><th>([^<]+)</th><td class=num>1</td>", page) == groups
    best = max(r.metrics["nDCG@10"] for r in results) * 100
    assert f"<b>{best:.1f} ± 0.0</b>" in page
    significance = page.split("id='significance'")[1]
    assert "Wilcoxon p" in significance and significance.split("<tbody>")[1].count("<tr>") == len(groups) - 1
    assert "<code>syneg experiment exp.yaml</code>" in page
    assert page.count("src='data:image/png;base64,") == 1 and "metric_vs_ratio" in page


def test_results_page_inlines_only_the_experiments_own_plots(tmp_path):
    from syneg.report.experiment import write_results_page

    out, secret = tmp_path / "exp", tmp_path / "secret.png"
    (out / "plots").mkdir(parents=True)
    secret.write_bytes(b"\x89PNG-TOPSECRET")
    (out / "plots" / "own.png").write_bytes(b"\x89PNG-own")
    (out / "plots" / "stolen.png").symlink_to(secret)
    page = write_results_page(out, "t", [], {}, [], [], None,
                              [out / "plots" / "own.png", out / "plots" / "stolen.png"]).read_text()
    assert page.count("src='data:image/png;base64,") == 1 and "<h3>own</h3>" in page and "stolen" not in page
