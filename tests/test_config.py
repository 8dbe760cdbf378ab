"""Tests of syneg/config.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli
from helpers import _assert_cli_error, free_port

from syneg.config import RunConfig, SynthesizeConfig, load_config
from syneg.errors import DataError, SynegError
from syneg.experiment import load_experiment


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ntrain:\n  epochs: 2\n")
    config = load_config(path, ["train.lr=1e-4", "mix.strategy=direct", "data.dev_fraction=null"])
    assert (config.seed, config.train.epochs, config.train.lr) == (3, 2, 1e-4)
    assert config.mix.strategy == "direct" and config.data.dev_fraction is None


@pytest.mark.slow
def test_config_errors(tmp_path):
    with pytest.raises(SynegError, match="key=value"):
        load_config(None, ["train.epochs"])
    with pytest.raises(DataError, match="mix.strategy"):
        load_config(None, ["mix.strategy=bogus"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1\n")
    with pytest.raises(DataError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)
    result = run_cli("config", "show", bad)
    assert result.returncode == 2 and "bad.yaml" in result.stderr


def test_unknown_config_key_is_an_error():
    with pytest.raises(DataError, match="train.epoch"):
        load_config(None, ["train.epoch=2"])


# --- 1. every numeric setting is constrained -------------------------------------------------

BAD_SETTINGS = [
    "train.epochs=-1", "train.batch_size=0", "train.lr=-1", "train.lr=.inf", "train.temperature=0",
    "train.max_seq_length=0", "train.warmup_ratio=1", "train.max_steps=0", "train.num_negatives=0",
    "train.mini_batch_size=0", "train.max_instances=-3",
    "mix.ratio=-0.5", "mix.ratio=.nan", "mix.num_negatives=0",
    "synthesize.per_query=0", "synthesize.limit=-5", "synthesize.request_timeout=-1", "synthesize.concurrency=0",
    "synthesize.max_tokens=8", "synthesize.threads=0", "synthesize.max_attempts=0", "synthesize.temperature=-0.1",
    "synthesize.guard_floor=.nan", "synthesize.guard_margin=.inf", "synthesize.repeat_penalty=0",
    "mine.num_negatives=0", "mine.top_k=0", "mine.range_min=-1", "mine.range_max=0", "mine.max_queries=0",
    "mine.relative_margin=-0.1", "mine.absolute_margin=.nan", "mine.max_score=.inf", "mine.max_seq_length=0",
    "data.dev_fraction=0", "data.dev_fraction=1.5", "data.train_split=",
    # upper bounds (syneg.limits)
    "mine.max_queries=1000000001", "synthesize.limit=1e12", "synthesize.temperature=11", "synthesize.max_words=10001",
    "synthesize.repeat_penalty=1e9", "train.epochs=10001", "train.lr=101", "train.temperature=1e300",
    "train.max_instances=1000000001", "train.max_steps=1000000001", "train.infonce_weight=1e7",
    "train.eval_steps=1000000001",
]


@pytest.mark.parametrize("setting", BAD_SETTINGS)
def test_bad_setting_is_refused_naming_its_key(setting):
    key = setting.partition("=")[0]
    with pytest.raises(DataError, match=rf"<config>: {key}: "):
        load_config(None, [setting])


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["train.epochs=-1", "mix.ratio=.nan", "train.temperature=0",
                                     "synthesize.request_timeout=-1"])
def test_config_show_refuses_bad_setting(setting):
    key = setting.partition("=")[0]
    _assert_cli_error(run_cli("config", "show", "--set", setting), f"<config>: {key}: Input should be")


@pytest.mark.slow
def test_bad_setting_in_yaml_and_experiment_files(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train: {temperature: 0}\n")
    _assert_cli_error(run_cli("config", "show", path), str(path), "train.temperature")
    path.write_text("mix: {ratio: -1}\nexperiment: {seeds: [0]}\n")
    with pytest.raises(DataError, match="mix.ratio: Input should be greater than or equal to 0"):
        load_experiment(path)
    for grid, key in (("seeds: [-1]", "seeds.0"), ("seeds: [4294967296]", "seeds.0"),
                      (f"seeds: {list(range(101))}", "seeds"), ("ratios: [1e7]", "ratios.0"),
                      ("temperatures: [1000]", "temperatures.0")):
        path.write_text(f"experiment: {{{grid}}}\n")
        with pytest.raises(DataError, match=f"experiment.{key}: "):
            load_experiment(path)


# --- 2. synthesize.limit: all pairs standalone, 180 in the default run ---------------------------

@pytest.mark.slow
def test_synthesize_limit_defaults(tmp_path):
    assert SynthesizeConfig().limit is None
    assert RunConfig().synthesize.limit is None
    assert load_config(None, ["synthesize.mode=free"]).synthesize.limit == 180  # `syneg run`: the demo
    assert load_config(None, ["synthesize.limit=null"]).synthesize.limit is None
    path = tmp_path / "run.yaml"
    path.write_text("synthesize: {per_query: 2}\n")
    assert load_config(path).synthesize.limit is None
    path.write_text("mine: {num_negatives: 4}\n")  # a user's config file never gets the demo budget
    assert load_config(path).synthesize.limit is None
    for name in ("scifact", "nfcorpus"):
        shipped = Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml"
        assert load_experiment(shipped).synthesize.limit is None
    shown = run_cli("config", "show")
    assert shown.returncode == 0 and "limit: 180" in shown.stdout


# --- 9. names are checked when the config is read, before any stage (issue #25) ------------------

@pytest.mark.parametrize(("setting", "message"), [
    ("evaluate.metrics=[nDCG@10, nDGC@10]", "evaluate.metrics: unknown metric 'nDGC@10'"),
    ("evaluate.metrics=[Judged@10]", "evaluate.metrics: metric 'Judged@10' is not computed by pytrec_eval"),
    ("evaluate.metrics=[]", "evaluate.metrics: no metrics given"),
    ("evaluate.metrics=[nDCG@x]", "evaluate.metrics: unknown metric 'nDCG@x'"),
])
def test_unknown_metric_is_refused_when_the_config_is_read(setting, message):
    with pytest.raises(DataError, match=rf"<config>: {message}"):
        load_config(None, [setting])


def test_set_with_a_mapping_updates_the_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train: {epochs: 3, lr: 1.0e-5}\n")
    config = load_config(path, ["train={lr: 1.0e-4, max_steps: 5}"])
    assert (config.train.epochs, config.train.lr, config.train.max_steps) == (3, 1e-4, 5)


@pytest.mark.parametrize("setting", ["train..epochs=2", ".epochs=2", "train.=2", "synthesize.limit.x=2"])
def test_set_with_a_malformed_key_is_refused(setting):
    with pytest.raises(SynegError, match="--set"):
        load_config(None, [setting])


@pytest.mark.slow
def test_credentials_in_base_url_are_not_written(tmp_path):
    shown = run_cli("config", "show", "--set", "synthesize.base_url=http://alice:hunter22@127.0.0.1:9/v1")
    assert shown.returncode == 0 and "hunter22" not in shown.stdout and "127.0.0.1:9/v1" in shown.stdout
    port = free_port()
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", "synthesize.backend=openai", "--set", "synthesize.model=m",
                     "--set", f"synthesize.base_url=http://alice:hunter22@127.0.0.1:{port}/v1",
                     "--set", "synthesize.max_attempts=1", "--set", "synthesize.limit=2", "--set", "mine.max_queries=5")
    assert result.returncode == 3 and "hunter22" not in result.stderr
    for path in run_dir.rglob("*"):
        assert not path.is_file() or b"hunter22" not in path.read_bytes(), path


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU behaviour")
def test_the_run_config_validates_its_device():
    assert RunConfig().device == "auto" and RunConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(DataError, match="device"):
        load_config(None, ["device=gpu"])
