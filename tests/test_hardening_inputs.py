"""Issue #10 hardening: bad settings, ids, qrels, file kinds and output paths give one clear error."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, write_beir
from syneg.config import RunConfig, SynthesizeConfig, load_config
from syneg.data import available_splits, load_beir
from syneg.errors import DataError, SynegError
from syneg.experiment import load_experiment
from syneg.io import atomic_open, write_jsonl, write_text
from syneg.layout import read_stats
from syneg.mining import write_mined
from syneg.records import MinedInstance, Negative

HEADER = "query-id\tcorpus-id\tscore\n"


def _assert_cli_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one ``error:`` line holding every fragment, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("error:"))
    for fragment in fragments:
        assert fragment in line, result.stderr


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


@pytest.mark.parametrize("setting", ["train.epochs=-1", "mix.ratio=.nan", "train.temperature=0",
                                     "synthesize.request_timeout=-1"])
def test_config_show_refuses_bad_setting(setting):
    key = setting.partition("=")[0]
    _assert_cli_error(run_cli("config", "show", "--set", setting), f"<config>: {key}: Input should be")


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


@pytest.mark.parametrize(("args", "option"), [
    (["--temperature", "0"], "--temperature"),
    (["--epochs", "-1"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--set", "train.warmup_ratio=1.5"], "--set train.warmup_ratio"),
])
def test_train_refuses_bad_option_before_loading(tmp_path, args, option):
    # the training file does not exist: the option must be refused before anything is read
    result = run_cli("train", "--train", tmp_path / "missing.jsonl", "--out", tmp_path / "model", *args)
    _assert_cli_error(result, f"{option}: Input should be")
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--ratio", "-0.5"], "--ratio: Input should be greater than or equal to 0"),
    (["--ratio", "nan"], "--ratio: Input should be a finite number"),
    (["--num-negatives", "0"], "--num-negatives: Input should be greater than 0"),
])
def test_mix_refuses_bad_option(tmp_path, args, message):
    result = run_cli("mix", "--mined", tmp_path / "missing.jsonl", "--strategy", "retrieved",
                     "--out", tmp_path / "train.jsonl", *args)
    _assert_cli_error(result, message)


# --- 2. synthesize.limit: all pairs standalone, 180 in the default run ---------------------------

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


def test_standalone_synthesize_plans_every_pair(tmp_path):
    n = 70
    corpus = [{"_id": f"d{i}", "title": "", "text": f"document number {i} about topic {i}"} for i in range(n)]
    queries = [{"_id": f"q{i}", "text": f"question about topic {i}"} for i in range(n)]
    qrels = HEADER + "".join(f"q{i}\td{i}\t1\n" for i in range(n))
    root = write_beir(tmp_path / "b", corpus, queries, qrels)
    dry = run_cli("synthesize", "--data", root, "--backend", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--dry-run", "--out", tmp_path / "o.jsonl")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["calls"] == n


# --- 3. ids: surrounding whitespace stripped everywhere, inner whitespace refused ---------------

def test_ids_are_stripped_in_corpus_queries_and_qrels(tmp_path):
    corpus = [{"_id": "d1 ", "text": "vitamin d and bones"}, {"_id": "\td2", "text": "statins and cholesterol"}]
    queries = [{"_id": " q1", "text": "vitamin d"}, {"_id": "q2", "text": "statins"}]
    qrels = HEADER + "q1\td1\t1\nq2 \t d2\t1\n"
    root = write_beir(tmp_path / "b", corpus, queries, qrels)
    ds = load_beir(root, "train")
    assert list(ds.corpus) == ["d1", "d2"] and list(ds.queries) == ["q1", "q2"]
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = tmp_path / "run.trec"
    assert run_cli("retrieve", "--data", root, "--out", run).returncode == 0
    assert run.read_text().split()[:3] == ["q1", "Q0", "d1"]


ID_CASES = {
    "corpus": ({"corpus": [{"_id": "d1", "text": "a"}, {"_id": "d 2", "text": "b"}]}, "corpus.jsonl:2", "'d 2'"),
    "queries": ({"queries": [{"_id": "q\t1", "text": "a"}]}, "queries.jsonl:1", "'q\\t1'"),
    "qrels_query": ({"qrels": HEADER + "q1\td1\t1\nq 2\td2\t1\n"}, "train.tsv:3", "'q 2'"),
    "qrels_doc": ({"qrels": HEADER + "q1\td\u00a01\t1\n"}, "train.tsv:2", "'d\\xa01'"),
}


@pytest.mark.parametrize("case", sorted(ID_CASES))
def test_id_with_inner_whitespace_is_refused(tmp_path, case):
    files, where, shown = ID_CASES[case]
    root = write_beir(tmp_path / "b", **files)
    _assert_cli_error(run_cli("data", "info", "--data", root), where, shown, "contains whitespace")


def test_run_tag_with_whitespace_is_refused(tmp_path):
    out = tmp_path / "run.trec"
    _assert_cli_error(run_cli("retrieve", "--tag", "my run", "--out", out), "run tag 'my run'")
    assert not out.exists()


# --- 4. qrels: conflicting duplicates, header only ----------------------------------------------

def test_qrels_conflicting_duplicate_names_both_lines(tmp_path):
    root = write_beir(tmp_path / "b", qrels=HEADER + "q1\td1\t1\nq2\td2\t1\nq1\td1\t0\n")
    _assert_cli_error(run_cli("data", "info", "--data", root), "train.tsv:4", "on line 2 and 0 on line 4")
    same = write_beir(tmp_path / "c", qrels=HEADER + "q1\td1\t1\nq2\td2\t1\nq1\td1\t1\n")
    assert load_beir(same, "train").qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}  # identical rows are harmless


def test_qrels_with_only_a_header(tmp_path):
    root = write_beir(tmp_path / "b", qrels=HEADER + "\n")
    _assert_cli_error(run_cli("data", "info", "--data", root), "train.tsv", "no judgements")


# --- 5. file kinds: directories, BOMs, gzip -----------------------------------------------------

def test_directory_where_a_file_is_expected(tmp_path):
    root = write_beir(tmp_path / "b")
    (root / "corpus.jsonl").unlink()
    (root / "corpus.jsonl").mkdir()
    _assert_cli_error(run_cli("data", "info", "--data", root), "corpus.jsonl", "is a directory, expected a file")
    root = write_beir(tmp_path / "c")
    (root / "qrels" / "train.tsv").unlink()
    (root / "qrels" / "train.tsv").mkdir()
    _assert_cli_error(run_cli("data", "info", "--data", root), "train.tsv", "is a directory, expected a file")
    mined = tmp_path / "mined"
    mined.mkdir()
    _assert_cli_error(run_cli("mix", "--mined", mined, "--strategy", "retrieved", "--out", tmp_path / "t.jsonl"),
                      "is a directory, expected a file")


def test_utf8_bom_is_accepted(tmp_path):
    bom = "\ufeff"
    corpus = bom + '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n'
    queries = bom + '{"_id": "q1", "text": "x"}\n{"_id": "q2", "text": "y"}\n'
    root = write_beir(tmp_path / "b", corpus, queries, bom + HEADER + "q1\td1\t1\nq2\td2\t1\n")
    result = run_cli("data", "info", "--data", root, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["judgements"] == 2


def test_gzip_only_files_are_read(tmp_path):
    root = write_beir(tmp_path / "b")
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv"):
        plain = root / name
        (root / f"{name}.gz").write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    assert available_splits(root) == ["train"]
    ds = load_beir(root, "train")
    assert set(ds.corpus) == {"d1", "d2", "d3"} and ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_bad_gzip_and_missing_file_messages(tmp_path):
    root = write_beir(tmp_path / "b")
    (root / "corpus.jsonl").unlink()
    (root / "corpus.jsonl.gz").write_bytes(b"this is not gzip\n")
    _assert_cli_error(run_cli("data", "info", "--data", root), "corpus.jsonl.gz", "not a valid gzip file")
    (root / "corpus.jsonl.gz").write_bytes(gzip.compress(b"".join(b'{"_id": "d%d", "text": "a"}\n' % i for i in range(50)))[:-12])
    _assert_cli_error(run_cli("data", "info", "--data", root), "corpus.jsonl.gz", "not a valid gzip file")
    (root / "corpus.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "d1", "text": "a"}\n{"_id": "d1"}\n'))
    _assert_cli_error(run_cli("data", "info", "--data", root), "corpus.jsonl.gz:2", "duplicate _id 'd1'")
    (root / "corpus.jsonl.gz").unlink()
    _assert_cli_error(run_cli("data", "info", "--data", root), "looked for corpus.jsonl and corpus.jsonl.gz")


# --- 6. --out naming a directory ----------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["mine"], ["retrieve"], ["synthesize", "--dry-run"],
    ["mix", "--mined", "missing.jsonl", "--strategy", "retrieved"],
])
def test_out_directory_is_refused_up_front(tmp_path, command):
    out = tmp_path / "outdir"
    out.mkdir()
    result = run_cli(*command, "--out", out)
    _assert_cli_error(result, f"--out {out}: is a directory; expected a file path")
    assert list(out.iterdir()) == []


def test_atomic_open_refuses_a_directory_without_writing(tmp_path):
    target = tmp_path / "out.jsonl"
    target.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        with atomic_open(target) as handle:
            handle.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# --- 7. temp files of killed writers ------------------------------------------------------------

def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        target = tmp_path / "mined.jsonl"
        stale = tmp_path / f".mined.jsonl.{done.pid}.abc123xy.tmp"
        live = tmp_path / f".mined.jsonl.{alive.pid}.zyx321ab.tmp"
        other = tmp_path / f".other.jsonl.{done.pid}.abc123xy.tmp"
        for path in (stale, live, other):
            path.write_text("partial")
        write_text(target, "done\n")
        assert target.read_text() == "done\n"
        assert not stale.exists() and live.exists() and other.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, other.name])
    finally:
        alive.kill()
        alive.wait()


# --- 8. mined.jsonl and its stats stay in step --------------------------------------------------

def test_stale_mine_stats_are_ignored(tmp_path):
    def instance(qid: str) -> MinedInstance:
        return MinedInstance(query_id=qid, query="q", positive_id="p", positive="pos",
                             negatives=[Negative(text="neg", source="bm25", doc_id="d", score=1.0, rank=1)])

    out = tmp_path / "mined.jsonl"
    stats_file = write_mined([instance("q1")], {"retriever": "bm25"}, out)
    assert stats_file == tmp_path / "mined.jsonl.stats.json" and read_stats(out)["retriever"] == "bm25"
    assert "output_fingerprint" in json.loads(stats_file.read_text())
    write_jsonl(out, [instance("q1"), instance("q2")])  # a new run crashed before writing its stats
    assert read_stats(out) is None
    write_mined([instance("q1")], {"retriever": "dense"}, out)
    assert read_stats(out)["retriever"] == "dense"
    os.truncate(out, 10)
    assert read_stats(out) is None


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


def test_run_refuses_unknown_metric_before_any_stage(tmp_path, beir_dir):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", "--set",
                     "evaluate.metrics=[nDCG@10, bogus@5]", timeout=120)
    _assert_cli_error(result, "evaluate.metrics", "'bogus@5'")
    assert not run_dir.exists()  # nothing mined, nothing written
    path = tmp_path / "run.yaml"
    path.write_text(f"run_dir: {run_dir}\ndata: {{path: {beir_dir}}}\nevaluate:\n  metrics: [R@100, MRR@ten]\n")
    _assert_cli_error(run_cli("run", path, timeout=120), str(path), "evaluate.metrics", "'MRR@ten'")
    assert not run_dir.exists()


def test_evaluate_refuses_unknown_metric_before_reading_data(tmp_path):
    # neither the run file nor the data folder exists: the metric must be refused first
    result = run_cli("evaluate", "--run", tmp_path / "missing.trec", "--data", tmp_path / "missing",
                     "--metrics", "nDCG@10", "recall@x")
    _assert_cli_error(result, "--metrics", "'recall@x'")
    _assert_cli_error(run_cli("evaluate", "--run", tmp_path / "missing.trec", "--metrics", ","), "--metrics")


def test_set_with_a_mapping_updates_the_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train: {epochs: 3, lr: 1.0e-5}\n")
    config = load_config(path, ["train={lr: 1.0e-4, max_steps: 5}"])
    assert (config.train.epochs, config.train.lr, config.train.max_steps) == (3, 1e-4, 5)


@pytest.mark.parametrize("setting", ["train..epochs=2", ".epochs=2", "train.=2", "synthesize.limit.x=2"])
def test_set_with_a_malformed_key_is_refused(setting):
    with pytest.raises(SynegError, match="--set"):
        load_config(None, [setting])


def test_run_refuses_a_stage_the_config_does_not_run_before_making_the_run_directory(tmp_path, beir_dir):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--stages", "synthesize", "--set", f"data.path={beir_dir}",
                     "--set", "mix.strategy=retrieved")
    _assert_cli_error(result, "stage synthesize does not run with this config")
    assert not run_dir.exists()


@pytest.mark.parametrize("setting", ["train.model", "teacher.model", "mine.model", "synthesize.model"])
def test_run_refuses_a_missing_local_model_before_any_stage(tmp_path, beir_dir, setting):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", run_dir, "--set", f"data.path={beir_dir}", "--set",
                     f"{setting}={tmp_path / 'no-such-model'}", timeout=120)
    _assert_cli_error(result, f"{setting}: {tmp_path / 'no-such-model'} does not exist")
    assert not run_dir.exists()
