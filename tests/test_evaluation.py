"""Evaluation: hand-computed goldens, equality with pytrec_eval, run files, the evaluate CLI."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import pytest
import pytrec_eval
from conftest import run_cli
from helpers import _assert_cli_error

from syneg.data import load_dataset
from syneg.errors import DataError, SynegError
from syneg.evaluation import DEFAULT_METRICS, Evaluator, read_run, results_to_run, trec_order, write_run
from syneg.retrieval import SearchResult, make_retriever

# q1: graded judgements (d5 judged non-relevant); q2: its own id is in the run (dropped, as BEIR does);
# q3: judged but absent from the run (scores 0); q9: in the run but not judged (ignored).
QRELS = {"q1": {"d1": 1, "d2": 2, "d5": 0}, "q2": {"d3": 1}, "q3": {"d9": 1}}
RUN = {
    "q1": {"d4": 0.9, "d1": 0.8, "d5": 0.7, "d2": 0.6},
    "q2": {"q2": 1.0, "d3": 0.5},
    "q9": {"d1": 1.0},
}


def test_hand_computed_goldens() -> None:
    result = Evaluator(QRELS, ["nDCG@10", "R@1", "R@10", "RR@10", "RR@1", "P@2", "MAP", "AP"]).evaluate(RUN)
    # q1: gains 0,1,0,2 at ranks 1-4; ideal gains 2,1 (trec_eval: gain = relevance, log2(rank+1) discount)
    ndcg_q1 = (1 / math.log2(3) + 2 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert result["nDCG@10"] == pytest.approx((ndcg_q1 + 1.0 + 0.0) / 3, abs=1e-12)
    assert result["R@1"] == pytest.approx((0 + 1 + 0) / 3)
    assert result["R@10"] == pytest.approx((1 + 1 + 0) / 3)  # d5 (relevance 0) is not a relevant document
    assert result["RR@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert result["RR@1"] == pytest.approx((0 + 1 + 0) / 3)
    assert result["P@2"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    # q1: relevant d1, d2 at ranks 2 and 4 of 2 relevant
    assert result["MAP"] == result["AP"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1.0 + 0.0) / 3)
    assert result["queries"] == 3


def test_numpy_and_int_scores_accepted() -> None:
    import numpy as np

    as_numpy = {q: {d: np.float32(s) for d, s in docs.items()} for q, docs in RUN.items()}
    as_numpy["q2"]["d3"] = 1  # an int score
    assert Evaluator(QRELS).evaluate(as_numpy) == Evaluator(QRELS).evaluate({**RUN, "q2": {"q2": 1.0, "d3": 1.0}})


def test_identical_ids_can_be_kept() -> None:
    kept = Evaluator(QRELS, ["RR@10"], ignore_identical_ids=False).evaluate(RUN)
    assert kept["RR@10"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)


def test_ties_follow_trec_eval() -> None:
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0, "c": 0.5}}  # trec_eval ranks ties by doc id descending: b, a, c
    assert trec_order(run["q"]) == [("b", 1.0), ("a", 1.0), ("c", 0.5)]
    direct = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut_10"}).evaluate(run)["q"]
    result = Evaluator(qrels, ["RR@10", "RR@1", "nDCG@10"]).evaluate(run)
    assert result["RR@10"] == direct["recip_rank"] == 0.5
    assert result["RR@1"] == 0.0
    assert result["nDCG@10"] == pytest.approx(direct["ndcg_cut_10"], abs=1e-15)


@pytest.fixture(scope="module")
def slice_run():
    ds = load_dataset(None, "train")
    retriever = make_retriever("bm25")
    retriever.index(ds.corpus)
    query_ids = list(ds.queries)
    return ds, results_to_run(query_ids, retriever.search([ds.queries[q] for q in query_ids], 100))


PYTREC = {"nDCG@10": "ndcg_cut_10", "R@10": "recall_10", "R@100": "recall_100", "P@5": "P_5", "MAP": "map"}


def _pytrec_means(qrels, run) -> dict[str, float]:
    run = {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}  # BEIR's ignore_identical_ids
    per_query = pytrec_eval.RelevanceEvaluator(qrels, set(PYTREC.values())).evaluate(run)
    return {name: statistics.fmean(v[key] for v in per_query.values()) for name, key in PYTREC.items()}


def test_equals_pytrec_eval_on_real_run(slice_run) -> None:
    ds, run = slice_run
    result = Evaluator(ds.qrels, list(PYTREC)).evaluate(run)
    expected = _pytrec_means(ds.qrels, run)
    for name in PYTREC:
        assert result[name] == pytest.approx(expected[name], abs=1e-12), name
    assert result["queries"] == len(ds.qrels) == 200
    assert 0.5 < result["nDCG@10"] < 0.9


def test_rr_at_10_on_real_run(slice_run) -> None:
    ds, run = slice_run
    expected = []
    for qid in ds.qrels:
        ranked = [d for d, _ in trec_order(run[qid]) if d != qid][:10]
        expected.append(next((1 / r for r, d in enumerate(ranked, 1) if ds.qrels[qid].get(d, 0) > 0), 0.0))
    assert Evaluator(ds.qrels, ["RR@10"]).evaluate(run)["RR@10"] == pytest.approx(statistics.fmean(expected), abs=1e-12)


def test_missing_queries_score_zero(slice_run) -> None:
    ds, run = slice_run
    kept = dict(list(run.items())[:120])
    evaluator = Evaluator(ds.qrels)
    result = evaluator.evaluate(kept)
    # BEIR would average over the 120 evaluated queries; every judged query counts here
    assert result["nDCG@10"] == pytest.approx(_pytrec_means(ds.qrels, kept)["nDCG@10"] * 120 / 200, abs=1e-12)
    per_query = evaluator.per_query(kept)
    assert set(per_query) == set(ds.qrels)
    assert all(per_query[q] == 0.0 for q in list(run)[120:])
    assert evaluator.per_query(kept, "P@1").keys() == per_query.keys()  # a metric not prepared up front


def test_evaluator_is_reusable(slice_run) -> None:
    ds, run = slice_run
    evaluator = Evaluator(ds.qrels)
    first = evaluator.evaluate(run)
    evaluator.evaluate({q: {} for q in run})
    assert evaluator.evaluate(run) == first
    assert evaluator.metrics == DEFAULT_METRICS


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (["nDCG@10", "foo"], "unknown metric 'foo'"),
        (["nDCG@"], "unknown metric"),
        (["ERR@10"], "not computed by pytrec_eval"),
        ([], "no metrics"),
        (["nDCG@0"], "'nDCG@0': cut-off 0 must be an integer from 1 to 100000"),  # pytrec_eval aborts on it
        (["nDCG@2147483648"], "cut-off 2147483648 must be an integer from 1 to 100000"),
        (["P@99999999999999999999999"], "must be an integer from 1 to 100000"),
        (["RR@100001"], "cut-off 100001"),
        (["P(rel=2147483648)@5"], "rel=2147483648 must be an integer from -1000 to 1000"),
        (["nDCG(gains={0:0,1:1,2:1e300})@10"], "gains must map grades to gains"),
        (["IPrec@2"], "recall level 2 must be between 0 and 1"),
        (["SetF(beta=1e300)"], "must be a number from 0 to 1000"),
    ],
)
def test_bad_metrics_are_rejected(metrics, message) -> None:
    with pytest.raises(SynegError, match=message):
        Evaluator(QRELS, metrics)


def test_empty_qrels_rejected() -> None:
    with pytest.raises(SynegError, match="empty qrels"):
        Evaluator({})
    with pytest.raises(SynegError, match="judge no document relevant"):
        Evaluator({"q1": {"d1": 0, "d2": -1}, "q2": {"d3": 0}})


def test_run_file_round_trip(tmp_path) -> None:
    result = SearchResult(ids=[["d2", "d1"], ["d3"]], scores=[[0.1 + 0.2, 1e-9], [-3.25]])
    path = tmp_path / "run.trec"
    assert write_run(path, ["q1", "q2"], result, tag="t") == 3
    assert path.read_text().splitlines()[0] == "q1 Q0 d2 1 0.30000000000000004 t"
    assert read_run(path) == results_to_run(["q1", "q2"], result)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4\n", 2, "expected 6 columns"),
        ("q1 Q0 d1 first 0.5 t\n", 1, "rank 'first' is not an integer"),
        ("q1 Q0 d1 1 high t\n", 1, "score 'high' is not a number"),
        ("q1 Q0 d1 1 nan t\n", 1, "not finite"),
        ("q1 Q0 d1 1 0.5 t\n\nq1 Q0 d1 2 0.4 t\n", 3, "appears twice"),
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 -1 0.4 t\n", 2, "rank '-1' is not an integer from 0 to 1000000000"),
        ("q1 Q0 d1 1000000001 0.5 t\n", 1, "rank '1000000001' is not an integer"),
        pytest.param("q1 Q0 d1 " + "9" * 5000 + " 0.5 t\n", 1, "is not an integer from 0", id="rank-5000-digits"),
        ("q1 Q0 d1 1 inf t\n", 1, "score 'inf' is not finite"),
        ("q1 Q0 d1 1 -1e400 t\n", 1, "score '-1e400' is not finite"),
    ],
)
def test_bad_run_lines_name_file_and_line(tmp_path, text, line, message) -> None:
    path = tmp_path / "bad.trec"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_run(path)
    assert info.value.line == line and str(path) in str(info.value)


def test_empty_run_file_rejected(tmp_path) -> None:
    (tmp_path / "empty.trec").write_text("\n")
    with pytest.raises(DataError, match="empty"):
        read_run(tmp_path / "empty.trec")


@pytest.mark.slow
def test_cli_evaluate(tmp_path, slice_run) -> None:
    ds, run = slice_run
    query_ids = list(run)
    path = tmp_path / "run.trec"
    write_run(
        path, query_ids, SearchResult([list(run[q]) for q in query_ids], [list(run[q].values()) for q in query_ids])
    )
    done = run_cli("evaluate", "--run", path, "--metrics", "nDCG@10", "R@100", "RR@10,P@5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == pytest.approx(Evaluator(ds.qrels, ["nDCG@10", "R@100", "RR@10", "P@5"]).evaluate(run), abs=1e-12)
    table = run_cli("evaluate", "--run", path)
    assert table.returncode == 0 and "nDCG@10" in table.stdout and "queries" in table.stdout


@pytest.mark.slow
def test_cli_evaluate_reads_a_run_without_importing_torch(tmp_path, beir_dir) -> None:
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 0.9 t\nq1 Q0 d2 2 0.5 t\nq2 Q0 d2 1 0.7 t\n")
    script = (
        "import sys\n"
        "from syneg.cli import main\n"
        "try:\n"
        f"    main(['evaluate', '--run', {str(run)!r}, '--data', {str(beir_dir)!r}, '--metrics', 'RR@10', '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ['{"RR@10": 1.0, "queries": 2}', "[]"]


@pytest.mark.slow
def test_cli_evaluate_errors(tmp_path) -> None:
    bad = tmp_path / "bad.trec"
    bad.write_text("1 Q0 d1 1 0.5 t\n1 Q0 d2 2\n")
    done = run_cli("evaluate", "--run", bad)
    assert done.returncode == 2 and f"{bad}:2: expected 6 columns" in done.stderr
    good = tmp_path / "good.trec"
    good.write_text("1 Q0 d1 1 0.5 t\n")
    done = run_cli("evaluate", "--run", good, "--metrics", "nDCG@10", "bogus")
    assert done.returncode == 2 and "unknown metric 'bogus'" in done.stderr
    done = run_cli("evaluate", "--run", tmp_path / "missing.trec")
    assert done.returncode == 2 and "run file not found" in done.stderr


def test_run_sharing_no_query_with_the_qrels_is_an_error() -> None:
    with pytest.raises(SynegError, match=r"shares no query with the qrels: none of its 1 queries \(e\.g\. 'q9'\)"):
        Evaluator(QRELS).evaluate({"q9": {"d1": 1.0}})
    with pytest.raises(SynegError, match="shares no query"):
        Evaluator(QRELS).per_query({})


@pytest.mark.slow
def test_cli_evaluate_run_of_another_split_fails(tmp_path, beir_dir) -> None:
    run = tmp_path / "run.trec"
    run.write_text("x1 Q0 d1 1 0.9 t\nx2 Q0 d2 1 0.7 t\n")
    done = run_cli("evaluate", "--run", run, "--data", beir_dir, "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "error: the run shares no query with the qrels: none of its 2 queries" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("grade", [str(2**31), str(10**23)])
def test_cli_evaluate_refuses_huge_grades_before_work(tmp_path, grade) -> None:
    from conftest import write_beir

    data = write_beir(tmp_path / "b", qrels=f"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t{grade}\n")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 0.9 t\nq2 Q0 d2 1 0.7 t\n")
    done = run_cli("evaluate", "--run", run, "--data", data, timeout=120)
    assert done.returncode == 2 and f"train.tsv:3: score {grade} is out of range" in done.stderr
    assert "Traceback" not in done.stderr and "SystemError" not in done.stderr


def test_grades_at_the_bounds_evaluate() -> None:
    qrels = {"q1": {"d1": 1000, "d2": -1000, "d3": 1}}
    result = Evaluator(qrels, ["nDCG@10", "P@2"]).evaluate({"q1": {"d2": 0.9, "d1": 0.8, "d3": 0.1}})
    assert 0 < result["nDCG@10"] < 1 and result["P@2"] == 0.5


@pytest.mark.slow
def test_cli_evaluate_checks_metrics_and_run_before_loading_data(tmp_path) -> None:
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 0.9 t\n")
    missing = tmp_path / "no-such-data"
    done = run_cli("evaluate", "--run", run, "--data", missing, "--metrics", "nDCG@0")
    assert done.returncode == 2 and "cut-off 0" in done.stderr and "Traceback" not in done.stderr
    run.write_text("q1 Q0 d1 1 1e999 t\n")
    done = run_cli("evaluate", "--run", run, "--data", missing)
    assert done.returncode == 2 and f"{run}:1: score '1e999' is not finite" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ("retrieve", "--top-k", "100001"),
        ("retrieve", "--top-k", str(2**63)),
        ("retrieve", "--batch-size", "65537"),
        ("retrieve", "--max-seq-length", "131073"),
        ("retrieve", "--seed", "-1"),
        ("mine", "--batch-size", str(10**12)),
        ("retrieve", "--device", "cuda:" + "9" * 5000),  # was a ValueError traceback (int() digit limit)
        ("train", "--nproc", "1025"),  # torchrun would start that many processes
        ("train", "--nnodes", str(10**9)),
    ],
)
def test_cli_count_options_are_bounded(tmp_path, beir_dir, args) -> None:
    out = tmp_path / "out"
    inputs = ("--train", tmp_path / "missing.jsonl") if args[0] == "train" else ("--data", beir_dir)
    done = run_cli(*args, *inputs, "--out", out)
    refused = (f"Invalid value for '{args[1]}'", f"error: {args[1]}: Input should be")  # typer's, or the field's
    assert done.returncode == 2 and any(text in done.stderr for text in refused), done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# --- reference evaluation (#24): the numbers equal a plain sentence-transformers + pytrec_eval script ------

def _plain_ndcg10(model_path, ds) -> float:
    """nDCG@10 as a newcomer would compute it: sentence-transformers' encode, the model's similarity, pytrec_eval."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    doc_ids = list(ds.corpus)
    docs = model.encode([f"{ds.corpus[d].title} {ds.corpus[d].text}".strip() for d in doc_ids], batch_size=32)
    query_ids = list(ds.queries)
    queries = model.encode([ds.queries[q] for q in query_ids], batch_size=32)
    scores = model.similarity(queries, docs)
    values, indices = scores.topk(min(101, len(doc_ids)), dim=1)
    run = {q: {doc_ids[i]: float(v) for v, i in zip(vs.tolist(), ix.tolist()) if doc_ids[i] != q}
           for q, vs, ix in zip(query_ids, values, indices)}
    per_query = pytrec_eval.RelevanceEvaluator(ds.qrels, {"ndcg_cut_10"}).evaluate(run)
    return statistics.fmean(v["ndcg_cut_10"] for v in per_query.values())


@pytest.mark.slow
def test_evaluate_stage_equals_plain_sentence_transformers_and_pytrec_eval(small_slice, tmp_path, monkeypatch):
    from syneg import layout
    from syneg.config import RunConfig
    from syneg.models import default_encoder_path, fresh_encoder
    from syneg.pipeline.runner import Pipeline
    from syneg.pipeline.stages import STAGES, evaluate_stage

    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path / "cache"))
    config = RunConfig(run_dir=str(tmp_path / "run"), device="cpu", data={"path": str(small_slice)},
                       train={"max_seq_length": 64})  # the training length must not leak into evaluation
    pipeline = Pipeline(config, progress=False)
    model_dir = pipeline.run_dir.file(layout.MODEL)
    fine_tuned = fresh_encoder(None, max_seq_length=128, device="cpu")  # stands in for a model trained at 128
    fine_tuned.save_pretrained(str(model_dir))
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(model_dir), device="cpu").max_seq_length == 128  # saved with it, read back
    eval_ds = config.load_split("eval")
    stage = next(s for s in STAGES if s.name == "evaluate")
    result = evaluate_stage(pipeline.settings(stage), pipeline.run_dir, eval_ds, False)
    zero, trained = _plain_ndcg10(default_encoder_path(), eval_ds), _plain_ndcg10(model_dir, eval_ds)
    assert result["zero_shot"]["nDCG@10"] == pytest.approx(zero, abs=1e-4)  # MiniLM at its own 256 tokens
    assert result["trained"]["nDCG@10"] == pytest.approx(trained, abs=1e-4)  # the folder's own 128 tokens
    assert zero != pytest.approx(trained, abs=1e-4)  # the two lengths are told apart on this data
    assert result["backend"] == "reference" and result["max_seq_length"] is None


def _keys(tmp_path, monkeypatch, device: str = "cpu", **sections) -> dict[str, str]:
    from syneg.config import RunConfig
    from syneg.pipeline import runner

    monkeypatch.setattr(runner, "resolve_device", lambda spec: device)  # a machine with that device
    pipeline = runner.Pipeline(RunConfig(run_dir=str(tmp_path / "run"), **sections), progress=False)
    return {stage.name: pipeline.stage_key(stage) for stage in pipeline.active_stages()}


def test_stage_keys_follow_backend_evaluation_length_and_device_type(tmp_path, monkeypatch):
    base = _keys(tmp_path, monkeypatch)  # BM25 mining, no teacher: mining encodes nothing

    def changed(**kwargs) -> set[str]:
        device = kwargs.pop("device", "cpu")
        keys = _keys(tmp_path, monkeypatch, device, **kwargs)
        return {name for name in base if keys[name] != base[name]}

    assert changed() == set()
    assert changed(device="cuda:0") == {"synthesize", "diagnose", "train", "evaluate"}  # the guard encodes
    assert changed(device="cuda:1") == changed(device="cuda:0")  # the type, not the index
    assert _keys(tmp_path, monkeypatch, "cuda:1") == _keys(tmp_path, monkeypatch, "cuda:0")
    assert changed(evaluate={"max_seq_length": 128}) == {"train", "evaluate"}  # keep-best checkpoints too
    assert changed(evaluate={"backend": "bf16"}) == {"train", "evaluate"}
    plain = {"train": {"keep_best": False}}  # no checkpoint evaluation: training does not depend on it
    assert {name for name, key in _keys(tmp_path, monkeypatch, "cpu", evaluate={"backend": "bf16"}, **plain).items()
            if key != _keys(tmp_path, monkeypatch, "cpu", **plain)[name]} == {"evaluate"}
    assert changed(encode={"backend": "fused"}) == {"synthesize"}  # the guard; evaluation stays the reference
    assert "mine" in changed(encode={"backend": "fused"}, mine={"retriever": "dense"})
    dense = {"mine": {"retriever": "dense"}}
    assert (_keys(tmp_path, monkeypatch, "cpu", **dense)["mine"]
            != _keys(tmp_path, monkeypatch, "mps", **dense)["mine"])
    no_guard = {"synthesize": {"guard": False}}
    assert _keys(tmp_path, monkeypatch, "cpu", **no_guard)["synthesize"] == \
        _keys(tmp_path, monkeypatch, "cpu", encode={"backend": "bf16"}, **no_guard)["synthesize"]


@pytest.mark.slow
def test_stages_that_may_encode_read_the_encode_section(tmp_path):
    from syneg.config import RunConfig
    from syneg.pipeline.runner import Pipeline

    pipeline = Pipeline(RunConfig(run_dir=str(tmp_path / "run"), device="cpu"), progress=False)  # BM25, no teacher
    readers = {stage.name for stage in pipeline.active_stages() if stage.encoding is not None}
    assert readers == {"mine", "synthesize", "diagnose", "train", "evaluate"}
    for stage in pipeline.active_stages():
        if stage.name in readers:
            assert pipeline.settings(stage).encode.backend == "reference"
    train = next(stage for stage in pipeline.active_stages() if stage.name == "train")
    assert pipeline.settings(train).evaluate.max_seq_length is None  # checkpoints evaluate as evaluate does


@pytest.mark.slow
def test_evaluate_refuses_unknown_metric_before_reading_data(tmp_path):
    # neither the run file nor the data folder exists: the metric must be refused first
    result = run_cli("evaluate", "--run", tmp_path / "missing.trec", "--data", tmp_path / "missing",
                     "--metrics", "nDCG@10", "recall@x")
    _assert_cli_error(result, "--metrics", "'recall@x'")
    _assert_cli_error(run_cli("evaluate", "--run", tmp_path / "missing.trec", "--metrics", ","), "--metrics")
