"""``syneg experiment`` on a tiny grid: cells, shared synthesis cache, results table and plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from syneg.experiment import ExperimentConfig, expand, load_experiment
from syneg.experiment.grid import cell_config, slugify
from syneg.experiment.runner import time_left


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
synthesize: {{limit: 6}}
mix: {{num_negatives: 2, ratio: 1.0}}
train: {{max_seq_length: 48, batch_size: 8, max_steps: 2}}
experiment: {{seeds: [0], baselines: [bm25, hybrid], ratios: [0.5]}}
""")
    result = run_cli("experiment", config)
    assert result.returncode == 0, result.stderr[-3000:]
    # which cell runs, and from the second on an estimate of the time left from the cells that ran
    cells = ["cell 1/3: bm25, seed 0", "cell 2/3: hybrid (R=1), seed 0", "cell 3/3: hybrid (R=0.5), seed 0"]
    lines = [line for line in result.stderr.splitlines() if line.startswith("cell ")]
    assert lines[0] == cells[0] and [line.split(";")[0] for line in lines[1:]] == cells[1:]
    assert all(re.fullmatch(r".*; about \d+(\.\d)? (s|min|h) left", line) for line in lines[1:]), lines
    text = (tmp_path / "exp" / "results.md").read_text()
    for row in ("| zero-shot | 1 |", "| bm25 | 1 |", "| hybrid (R=1) | 1 |", "| hybrid (R=0.5) | 1 |"):
        assert row in text
    assert "**" in text and "Wilcoxon" in text and "Command: `syneg experiment" in text
    data = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert len(data["cells"]) == 4 and {r["baseline"] for r in data["significance"]} == {"zero-shot", "bm25", "hybrid (R=0.5)"}
    assert (tmp_path / "exp" / "plots" / "metric_vs_ratio.png").is_file()
    assert (tmp_path / "exp" / "plots" / "loss_curves.png").is_file()
    for name in ("results.md", "results.json", "results.html"):  # shared results: no machine path
        assert str(tmp_path) not in (tmp_path / "exp" / name).read_text(), name
    assert data["config"]["data"]["path"] == small_slice.name
    assert not (tmp_path / "exp" / "cells" / "bm25" / "seed-0" / "model").exists()  # keep_models: false
    # a rerun finds every cell complete and trains nothing
    again = run_cli("experiment", config)
    assert again.returncode == 0 and "[train] running" not in again.stderr
    assert [line for line in again.stderr.splitlines() if line.startswith("cell ")] == cells  # read back: no estimate
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


# --- every cell is checked before any work (issue #25) --------------------------------------------

def _experiment_file(tmp_path, grid: str, base: str = "") -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"run_dir: {tmp_path / 'exp'}\n{base}experiment:\n{grid}")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "fragments"), [
    # two labels, one folder: one cell would overwrite the other
    ('  baselines: [hybrid]\n  cells: {"Hard negs": {mix.ratio: 0.2}, "hard-negs": {mix.ratio: 0.4}}\n',
     ["'Hard negs'", "'hard-negs'", "cells/hard-negs"]),
    ('  baselines: [bm25]\n  cells: {"BM25": {mix.ratio: 0.2}}\n', ["'bm25'", "'BM25'", "cells/bm25"]),
    ('  baselines: [hybrid]\n  ratios: [0.3]\n  cells: {"Hybrid R0.3": {train.lr: 1.0e-5}}\n',
     ["'hybrid (R=0.3)'", "'Hybrid R0.3'", "cells/hybrid-r0.3"]),
    ('  baselines: []\n  cells: {"??": {train.lr: 1.0e-5}, "!!": {train.lr: 3.0e-5}}\n', ["'??'", "'!!'", "cells/cell"]),
    # one label twice: the rows would merge
    ('  baselines: [hybrid]\n  ratios: [0.3, 0.3]\n', ["labelled 'hybrid (R=0.3)'"]),
    ('  baselines: []\n  cells: {"zero-shot": {train.lr: 1.0e-5}}\n', ["labelled 'zero-shot'"]),
    # a typo in a cell's key, a bad value, a key the grid owns
    ('  baselines: [bm25]\n  cells: {"bm25 + MarginMSE": {trian.loss: margin_mse}}\n',
     ["experiment cell 'bm25 + MarginMSE': trian: Extra inputs are not permitted"]),
    ('  baselines: [bm25]\n  cells: {"x": {train.loss: margin_mes}}\n', ["experiment cell 'x': train.loss: Input should be"]),
    ('  baselines: [bm25]\n  cells: {"x": {train.max_steps: "null"}}\n', ["experiment cell 'x': train.max_steps:"]),
    ('  baselines: [bm25]\n  cells: {"x": {evaluate.metrics: [nDCG@10, foo]}}\n',
     ["experiment cell 'x': evaluate.metrics: unknown metric 'foo'"]),
    ('  baselines: [bm25]\n  cells: {"x": {train.lr.value: 1}}\n', ["experiment cell 'x': train.lr.value: 'lr' is not a section"]),
    ('  baselines: [bm25]\n  cells: {"x": {"train..lr": 1}}\n', ["experiment cell 'x': 'train..lr' is not a setting name"]),
    ('  baselines: [bm25]\n  cells: {"x": {seed: 3}}\n', ["experiment cell 'x': seed: set by the grid"]),
    ('  baselines: [bm25]\n  cells: {" ": {train.lr: 1.0e-5}}\n', ["experiment.cells: a cell label is empty"]),
    ('  baselines: []\n  cells: {"a|b\\n## pwned \\e[31mRED": {train.lr: 1.0e-5}}\n', ["has a control character"]),
    ('  baselines: []\n  cells: {"a | b": {train.lr: 1.0e-5}}\n', ["a line break or '|'"]),
    ('  baselines: [bm25]\n  cells: {"gpu": {device: "cuda:2"}}\n', ["experiment cell 'gpu': --device cuda:2"]),
    ('  baselines: [bm25]\n  cells: {"x": {run_dir: /tmp/elsewhere}}\n', ["experiment cell 'x': run_dir: set by the grid"]),
    ('  baselines: [bm25]\n  cells: {"x": {train.model: ./no-such-model}}\n',
     ["experiment cell 'x': train.model: ./no-such-model does not exist"]),
    # seeds: repeated, or each evaluating its own carved dev split
    ('  seeds: [0, 0]\n  baselines: [bm25]\n', ["experiment.seeds: [0, 0] repeats a seed"]),
    ('  seeds: [0, 1]\n  baselines: [bm25]\n', ["experiment cell 'bm25': data.split_seed"]),
])
def test_experiment_checks_every_cell_before_any_work(tmp_path, grid, fragments):
    path = _experiment_file(tmp_path, grid)
    result = run_cli("experiment", path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "cell 1/" not in result.stderr
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("error:"))
    assert line.startswith(f"error: {path}: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert not (tmp_path / "exp").exists()  # nothing ran, nothing written


def test_cell_override_values_are_kept_as_yaml_gave_them(tmp_path):
    path = _experiment_file(tmp_path, '  baselines: []\n  cells:\n'
                            '    "string null": {synthesize.model: "null", train.max_steps: 3}\n'
                            '    "yaml null": {train.max_steps: null, mix.ratio: 0.25, synthesize.domains: [a, "b: c"]}\n'
                            '    "a section": {train: {lr: 1.0e-4}}\n',
                            base="train: {max_steps: 7}\n")
    config = load_experiment(path)
    string_null, yaml_null, section = (cell_config(config, cell) for cell in expand(config))
    assert (section.train.lr, section.train.max_steps) == (1e-4, 7)  # a mapping updates the section's keys
    assert string_null.synthesize.model == "null" and string_null.train.max_steps == 3
    assert yaml_null.synthesize.model is None and yaml_null.train.max_steps is None
    assert yaml_null.mix.ratio == 0.25 and yaml_null.synthesize.domains == ["a", "b: c"]


def test_seeds_may_differ_when_the_split_is_fixed(tmp_path):
    for data in ("data: {split_seed: 0}\n", "data: {dev_fraction: null}\n"):
        path = _experiment_file(tmp_path, "  seeds: [0, 1]\n  baselines: [bm25]\n", base=data)
        assert [c.seed for c in expand(load_experiment(path))] == [0, 1]


def test_cell_labels_never_make_dot_folders():
    assert [slugify(label) for label in ("..", ".", "a..b", ".hidden.")] == ["cell", "cell", "a..b", "hidden"]


@pytest.mark.slow
def test_experiment_folder_and_cell_folders_have_one_writer(tmp_path):
    import os

    from syneg.errors import SynegError
    from syneg.experiment.grid import cell_dir
    from syneg.experiment.runner import run_cell
    from syneg.rundir import RunDir

    path = _experiment_file(tmp_path, "  baselines: [bm25]\n")
    with RunDir(tmp_path / "exp").lock("experiment folder"):
        result = run_cli("experiment", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"error: experiment folder {tmp_path / 'exp'} is in use by process {os.getpid()}" in result.stderr
    assert "cell 1/" not in result.stderr and os.listdir(tmp_path / "exp") == ["run.lock"]
    config = load_experiment(path)
    cell = expand(config)[0]
    with RunDir(cell_dir(config, cell)).lock():  # a cell folder in use: its cell fails at once, nothing mined
        with pytest.raises(SynegError, match=f"run directory {cell_dir(config, cell)} is already in use"):
            run_cell(config, cell, print)
    assert os.listdir(cell_dir(config, cell)) == ["run.lock"]


@pytest.mark.slow
def test_experiment_loads_every_cells_data_before_any_work(tmp_path, small_slice):
    path = _experiment_file(tmp_path, f'  baselines: [bm25]\n  cells: {{"other data": {{data.path: {tmp_path / "nope"}}}}}\n',
                            base=f"data: {{path: {small_slice}}}\n")
    result = run_cli("experiment", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("error:"))
    assert line.startswith("error: experiment cell 'other data': ") and str(tmp_path / "nope") in line
    assert "cell 1/" not in result.stderr and not (tmp_path / "exp").exists()


def test_shared_stages_are_copied_only_from_a_cells_own_plain_files(tmp_path):
    import os

    from syneg.experiment.grid import cell_dir
    from syneg.experiment.runner import reuse_shared_stages
    from syneg.pipeline import Pipeline
    from syneg.rundir import RunDir

    config = load_experiment(_experiment_file(tmp_path, '  seeds: [0]\n  baselines: [bm25]\n'
                                                        '  cells: {"other": {train.lr: 3.0e-5}}\n'))
    first, second = expand(config)
    target = Pipeline(cell_config(config, second), progress=False, log=print)
    key = target.stage_key(next(s for s in target.active_stages() if s.name == "mine"))
    source = RunDir(cell_dir(config, first))
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    source.path.mkdir(parents=True)
    target.run_dir.path.mkdir(parents=True)
    links = {"mined.jsonl": "symlink", "mined.jsonl.stats.json": "symlink", "mined.jsonl.extra": "hard link",
             "stages/mine.done.json": "symlink"}
    for name, kind in [*links.items(), (None, None)]:
        for item in ("mined.jsonl", "mined.jsonl.stats.json", "mined.jsonl.extra"):
            (source.path / item).unlink(missing_ok=True)
            (source.path / item).write_text("{}\n")
        source.mark_done("mine", source.file("mined.jsonl"), key)
        if name is not None:
            (source.path / name).unlink()
            (os.link if kind == "hard link" else os.symlink)(tmp_path / "secret.txt", source.path / name)
        if name == "mined.jsonl":  # the marker matches the linked output: only the link check refuses it
            source.mark_done("mine", source.file("mined.jsonl"), key)
        lines = []
        reuse_shared_stages(target, tmp_path / "exp" / "cells", 0, lines.append)
        copied = sorted(p.name for p in target.run_dir.path.glob("mined.jsonl*"))
        if name is None:  # plain files are reused
            assert copied == ["mined.jsonl", "mined.jsonl.extra", "mined.jsonl.stats.json"] and len(lines) == 1
        else:
            assert copied == [] and lines == [], name


def test_cell_results_are_read_like_the_run_report_reads_a_run(tmp_path):
    import os

    from syneg.errors import SynegError
    from syneg.experiment.runner import read_cell
    from syneg.io import write_json

    cell, path = expand(ExperimentConfig.model_validate({"run_dir": str(tmp_path / "exp")}))[0], tmp_path / "cell"
    path.mkdir()
    write_json(path / "metrics.json", {"trained": {"nDCG@10": 0.5, "R@100": "high", "MRR@10": [1], "queries": 2}})
    write_json(path / "per_query.json", {"trained": {"q1": 0.5, "q2": None, "q3": {"x": 1}}, "zero_shot": 3})
    write_json(path / "grad_stats.json", {"variance": "big", "mean": 1.5})
    write_json(path / "model.stats.json", {"kept": {"step": "last"}})
    result = read_cell(cell, path)
    assert (result.metrics, result.per_query, result.extra) == ({"nDCG@10": 0.5}, {"q1": 0.5}, {"grad-norm mean": 1.5})
    (path / "per_query.json").write_text('{"trained": [1, 2]}')
    write_json(path / "model.stats.json", {"kept": {"step": 3}})
    assert (read_cell(cell, path).per_query, read_cell(cell, path).extra["kept step"]) == ({}, 3)
    (tmp_path / "secret.json").write_text('{"trained": {"TOPSECRET": 1.0}}')
    for link in (os.symlink, os.link):  # a cell's files are its own: links to elsewhere are not read
        (path / "metrics.json").unlink()
        link(tmp_path / "secret.json", path / "metrics.json")
        with pytest.raises(SynegError, match="metrics.json: no trained metrics"):
            read_cell(cell, path)
    (path / "metrics.json").unlink()
    with (path / "metrics.json").open("wb") as handle:  # sparse, past the report's size limit
        handle.truncate(1 << 30)
    with pytest.raises(SynegError, match="metrics.json: no trained metrics"):
        read_cell(cell, path)
    (path / "metrics.json").write_text("[]")
    with pytest.raises(SynegError, match="metrics.json: no trained metrics"):
        read_cell(cell, path)


def test_experiment_plots_keep_only_the_numbers_of_a_cells_training_log(tmp_path):
    import os

    from syneg.experiment.grid import cell_dir
    from syneg.experiment.plots import _log, learning_curves
    from syneg.io import write_jsonl

    config = ExperimentConfig.model_validate({"run_dir": str(tmp_path / "exp"), "experiment": {"baselines": ["bm25"]}})
    cells = expand(config)
    folder = cell_dir(config, cells[0])
    folder.mkdir(parents=True)
    write_jsonl(folder / "train_log.jsonl", [
        {"event": "step", "step": 1, "loss": 0.9, "grad_norm": "x"}, {"event": "step", "step": 2, "loss": "nan?"},
        {"event": "step", "step": [3], "loss": 0.5}, {"event": "eval", "step": 0, "metrics": {"nDCG@10": 0.3}},
        {"event": "eval", "step": 1, "metrics": {"nDCG@10": "high"}}, {"event": "eval", "step": 2, "metrics": [1]}])
    assert _log(folder) == [{"step": 1, "loss": 0.9, "metrics": {}}]
    assert learning_curves(config, cells, "nDCG@10") == {"bm25": [(0, 0.3)]}
    (tmp_path / "secret.jsonl").write_text('{"event": "step", "step": 1, "loss": 0.1}\n')
    (folder / "train_log.jsonl").unlink()
    os.symlink(tmp_path / "secret.jsonl", folder / "train_log.jsonl")
    assert _log(folder) == []


@pytest.mark.slow
def test_config_show_reads_the_shipped_experiment_configs():
    import yaml

    configs = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(configs.glob("*.yaml")):
        result = run_cli("config", "show", path)
        assert result.returncode == 0, result.stderr  # was: "experiment: Extra inputs are not permitted"
        assert yaml.safe_load(result.stdout)["experiment"]["seeds"]


def test_time_left_is_the_mean_cell_duration_times_the_cells_left():
    assert time_left([], 5) == ""  # no cell ran yet (or every cell so far was read back)
    assert time_left([30.0], 2) == "; about 60 s left"
    assert time_left([100.0, 140.0], 10) == "; about 20 min left"
    assert time_left([3600.0], 3) == "; about 3.0 h left"
    assert time_left([0.01], 1) == "; about 1 s left"
