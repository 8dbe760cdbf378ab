"""``syneg experiment`` on a tiny grid: cells, shared synthesis cache, results table and plots."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from syneg.experiment import ExperimentConfig, expand
from syneg.experiment.grid import cell_config


def test_grid_expansion_and_cell_configs():
    config = ExperimentConfig.model_validate({
        "run_dir": "exp", "mix": {"ratio": 0.7}, "mine": {"retriever": "bm25"},
        "experiment": {"seeds": [0, 1], "baselines": ["dense", "direct", "hybrid"], "ratios": [0.3],
                       "temperatures": [0.05]},
    })
    cells = expand(config)
    assert [c.group for c in cells[:5]] == ["dense", "direct (R=0.7)", "hybrid (R=0.7)", "hybrid (R=0.3)",
                                            "hybrid (tau=0.05)"]
    assert len(cells) == 10 and {c.seed for c in cells} == {0, 1}
    dense = cell_config(config, cells[0])
    assert (dense.mine.retriever, dense.mix.strategy) == ("dense", "retrieved")
    tau = cell_config(config, cells[9])
    assert (tau.mix.strategy, tau.train.temperature, tau.seed) == ("hybrid", 0.05, 1)
    ratio = cell_config(config, cells[8])
    assert (ratio.mix.ratio, ratio.train.temperature) == (0.3, 0.02)
    assert ratio.run_dir.endswith("cells/hybrid-r0.3/seed-1")
    # every cell shares one synthesis seed and cache, so seeds do not re-generate negatives
    assert {cell_config(config, c).synthesize.seed for c in cells} == {0}
    assert {cell_config(config, c).mine.seed for c in cells} == {0}
    assert len({cell_config(config, c).synthesize.cache for c in cells}) == 1


@pytest.mark.slow
def test_experiment_writes_results(small_slice, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'exp'}
data: {{path: {small_slice}, dev_fraction: 0.5}}
mine: {{num_negatives: 4}}
synthesize: {{limit: 2}}
mix: {{num_negatives: 2, ratio: 1.0}}
train: {{max_seq_length: 48, batch_size: 8, max_steps: 2}}
experiment: {{seeds: [0], baselines: [bm25, hybrid], ratios: [0.5]}}
""")
    result = run_cli("experiment", config)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "exp" / "results.md").read_text()
    for row in ("| zero-shot | 1 |", "| bm25 | 1 |", "| hybrid (R=1) | 1 |", "| hybrid (R=0.5) | 1 |"):
        assert row in text
    assert "**" in text and "Wilcoxon" in text and "Command: `syneg experiment" in text
    data = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert len(data["cells"]) == 4 and {r["baseline"] for r in data["significance"]} == {"zero-shot", "bm25", "hybrid (R=0.5)"}
    assert (tmp_path / "exp" / "plots" / "metric_vs_ratio.png").is_file()
    assert (tmp_path / "exp" / "plots" / "loss_curves.png").is_file()
    assert not (tmp_path / "exp" / "cells" / "bm25" / "seed-0" / "model").exists()  # keep_models: false
    # a rerun finds every cell complete and trains nothing
    again = run_cli("experiment", config)
    assert again.returncode == 0 and "[train] running" not in again.stderr
    # a changed setting is a new key: every cell trains again (mining and synthesis are reused)
    changed = run_cli("experiment", config, "--set", "train.lr=3e-5")
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert changed.stderr.count("[train] running") == 3 and "[mine] running" not in changed.stderr
    assert json.loads((tmp_path / "exp" / "cells" / "bm25" / "seed-0" / "model.stats.json").read_text())["config"]["lr"] == 3e-5


@pytest.mark.slow
def test_teacher_distillation_grid_reports_intervals_learning_curves_and_kept_steps(small_slice, tmp_path):
    from syneg.models import default_encoder_path

    config = tmp_path / "exp.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'exp'}
data: {{path: {small_slice}, dev_fraction: 0.5, split_seed: 0}}
teacher: {{model: {default_encoder_path()}, max_seq_length: 48, false_negatives: relabel}}
mine: {{num_negatives: 4, relative_margin: null, margin_reference: pair}}
mix: {{num_negatives: 2}}
train: {{max_seq_length: 48, batch_size: 8, max_steps: 2, eval_steps: 1}}
experiment:
  seeds: [0, 1]
  baselines: [bm25]
  cells: {{"bm25 + MarginMSE": {{mix.strategy: retrieved, train.loss: margin_mse}}}}
""")
    result = run_cli("experiment", config)
    assert result.returncode == 0, result.stderr[-3000:]
    # mining (with teacher rescoring) runs once: the pools are pinned to the base seed, every other cell reuses it
    # (from a cell of its own seed when one has it, else from seed 0)
    assert result.stderr.count("[mine] running") == 1 and result.stderr.count("[mine] reused from") == 3
    assert "bm25/seed-1 [mine] reused from bm25/seed-0" in result.stderr
    exp = tmp_path / "exp"
    assert (exp / "cells" / "bm25-marginmse" / "seed-0" / "mined.jsonl").read_bytes() == \
        (exp / "cells" / "bm25" / "seed-0" / "mined.jsonl").read_bytes()
    mined_stats = json.loads((exp / "cells" / "bm25" / "seed-0" / "mined.jsonl.stats.json").read_text())
    assert mined_stats["score_source"] == "teacher" and "false_negative" in mined_stats["candidates"]["removed"]
    rows = [json.loads(line) for line in (exp / "cells" / "bm25-marginmse" / "seed-1" / "train.jsonl").read_text().splitlines()]
    assert all(r["positive_teacher_score"] is not None for r in rows)
    data = json.loads((exp / "results.json").read_text())
    assert data["baseline"] == "bm25"
    comparisons = {r["cell"]: r for r in data["comparisons"]}
    assert set(comparisons) == {"zero-shot", "bm25 + MarginMSE"} and comparisons["bm25 + MarginMSE"]["seeds"] == 2
    assert all(r["ci_low"] <= r["mean_diff"] <= r["ci_high"] and r["holm_pvalue"] >= r["t_pvalue"]
               for r in data["comparisons"])
    text = (exp / "results.md").read_text()
    assert "95% CI" in text and "Holm p" in text and "kept step" in text
    assert (exp / "plots" / "learning_curves.png").is_file()


@pytest.mark.parametrize(("data", "shared"), [({"dev_fraction": 0.2, "split_seed": 0}, True),
                                               ({"dev_fraction": 0.2}, False), ({"dev_fraction": None}, True)])
def test_pinned_stage_seeds_share_keys_only_over_equal_splits(tmp_path, data, shared):
    from syneg.pipeline import Pipeline
    from syneg.pipeline.stages import STAGES

    def keys(seed: int) -> dict[str, str]:
        config = ExperimentConfig.model_validate({"run_dir": str(tmp_path), "data": data,
                                                  "experiment": {"seeds": [0, seed], "baselines": ["hybrid"]}})
        pipeline = Pipeline(cell_config(config, expand(config)[1]), progress=False)
        return {stage.name: pipeline.stage_key(stage) for stage in STAGES}

    first, second = keys(1), keys(2)  # two seeds other than the base seed 0
    assert (first["mine"] == second["mine"], first["synthesize"] == second["synthesize"]) == (shared, shared)
    assert first["mix"] != second["mix"] and first["train"] != second["train"]
