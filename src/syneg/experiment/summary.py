"""Write an experiment's ``results.md``, ``results.json`` and plots."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from syneg.config import public_dict
from syneg.redact import without_paths
from syneg.experiment.compare import against_baseline, comparison_markdown
from syneg.experiment.grid import Cell, ExperimentConfig
from syneg.experiment.results import CellResult, aggregate, markdown_table, mean_per_query, paired_test
from syneg.io import write_json, write_text
from syneg.report.experiment import write_results_page


KEPT_NOTE = (" `kept step` is the training step of the checkpoint kept (best dev nDCG@10 among the evaluated"
             " ones, 0 = the untrained model): selected on the same dev split it is reported on, so the trained"
             " rows are optimistic by that selection.")


def significance(results: list[CellResult], reference: str) -> list[dict[str, Any]]:
    """Paired tests of ``reference`` against every other group on per-query nDCG@10."""
    ref = mean_per_query(results, reference)
    rows = []
    for group in dict.fromkeys(r.group for r in results):
        if group != reference and ref:
            rows.append({"baseline": group, **paired_test(ref, mean_per_query(results, group))})
    return rows


def _significance_md(rows: list[dict[str, Any]], reference: str) -> str:
    lines = [f"Paired tests, per-query nDCG@10 (mean over seeds), {reference} vs each baseline:", "",
             "| baseline | queries | mean diff (x100) | t-test p | Wilcoxon p |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['baseline']} | {r['queries']} | {r['mean_diff'] * 100:+.2f} | "
                     f"{r['t_pvalue']:.3g} | {r['wilcoxon_pvalue']:.3g} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, config: ExperimentConfig, cells: list[Cell],
                  results: list[CellResult], env: dict[str, Any]) -> Path:
    """Tables, significance tests and plots for the finished grid (local paths cut to their last name: the
    results are meant to be shared)."""
    from syneg.experiment.plots import plot_experiment

    env = without_paths(env)

    table = aggregate(results)
    columns = [m for m in config.evaluate.metrics] + ["grad-norm var"]
    if any("kept step" in r.extra for r in results):
        columns.append("kept step")
    hybrid = next((r.group for r in results if r.group.startswith("hybrid (R=")), None)
    tests = significance(results, hybrid) if hybrid else []
    baseline = config.mine.retriever if any(r.group == config.mine.retriever for r in results) else None
    comparisons = against_baseline(results, baseline) if baseline else []
    plots = plot_experiment(out, config, cells, results)
    data = config.data
    text = [f"# syneg experiment: {Path(config.run_dir).name}", "",
            f"Data: `{without_paths(data.path) or 'embedded SciFact slice'}`, train split `{data.train_split}`, evaluated on "
            f"`{data.eval_split}`" + (f" (carved from train, fraction {data.dev_fraction})" if data.dev_fraction else ""),
            f"Command: `{env['command']}`", f"Hardware: {env['hardware']}; wall time {env['wall_s']:.0f} s", "",
            "Metrics x100, mean ± std over seeds; best per column in bold. `grad-norm var` is the variance of "
            "per-step gradient norms during training." + KEPT_NOTE * ("kept step" in columns), "",
            markdown_table(table, columns)]
    if comparisons:
        text += ["", comparison_markdown(comparisons, baseline)]
    if tests:
        text += ["", _significance_md(tests, hybrid)]
    text += ["", *[f"![{p.stem}]({p.relative_to(out)})" for p in plots]]
    path = out / "results.md"
    write_text(path, "\n".join(text) + "\n")
    write_json(out / "results.json", {"env": env, "config": without_paths(public_dict(config)),
                                      "cells": [asdict(r) for r in results],
                                      "table": {g: {m: list(v) for m, v in row.items()} for g, row in table.items()},
                                      "significance": tests, "baseline": baseline, "comparisons": comparisons})
    write_results_page(out, text[0].removeprefix("# "), text[2:5], table, columns, tests, hybrid, plots)
    return path
