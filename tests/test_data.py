"""BEIR loading: the happy path, CRLF, id typing, and every bad-input case via the CLI."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import run_cli, write_beir
from helpers import HEADER, _assert_cli_error

from syneg.data import available_splits, load_beir, load_dataset
from syneg.errors import DataError


def test_load_beir_reads_split(beir_dir):
    corpus, queries, qrels = load_beir(beir_dir, "train")
    assert set(corpus) == {"d1", "d2", "d3"}
    assert queries == {"q1": "Does vitamin D affect bones?", "q2": "What do statins do?"}
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    assert load_beir(beir_dir, "train").doc_text("d3") == "Sleep loss impairs memory consolidation."


def test_crlf_and_integer_ids(tmp_path):
    corpus = '{"_id": 7, "title": "T", "text": "seven"}\r\n{"_id": "8", "title": "U", "text": "eight"}\r\n'
    queries = '{"_id": 1, "text": "what is seven"}\r\n'
    qrels = "query-id\tcorpus-id\tscore\r\n1\t7\t2\r\n1\t8\t0\r\n"
    ds = load_beir(write_beir(tmp_path / "b", corpus, queries, qrels), "train")
    assert list(ds.corpus) == ["7", "8"]
    assert ds.qrels == {"1": {"7": 2, "8": 0}}
    assert ds.positives("1") == ["7"]


def test_only_judged_queries_are_kept(tmp_path):
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"}, {"_id": "q3", "text": "c"}]
    ds = load_beir(write_beir(tmp_path / "b", queries=queries), "train")
    assert set(ds.queries) == {"q1", "q2"}


BAD_CASES = {
    "malformed_json": ({"corpus": '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n'}, "corpus.jsonl:2", "malformed JSON"),
    "missing_id": ({"corpus": [{"_id": "d1", "text": "ok"}, {"title": "x", "text": "no id"}]}, "corpus.jsonl:2", "missing _id"),
    "duplicate_doc": ({"corpus": [{"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}, {"_id": "d1", "text": "c"}]}, "corpus.jsonl:3", "duplicate _id 'd1'"),
    "duplicate_query": ({"queries": [{"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}]}, "queries.jsonl:2", "duplicate _id 'q1'"),
    "empty_text": ({"corpus": [{"_id": "d1", "text": "a"}, {"_id": "d2", "title": " ", "text": ""}]}, "corpus.jsonl:2", "empty text"),
    "empty_query": ({"queries": [{"_id": "q1", "text": "  "}]}, "queries.jsonl:1", "empty text"),
    "unknown_query": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td2\t1\n"}, "train.tsv:3", "query-id 'q9' is not in queries.jsonl"),
    "unknown_doc": ({"qrels": "query-id\tcorpus-id\tscore\nq1\tdX\t1\n"}, "train.tsv:2", "corpus-id 'dX' is not in corpus.jsonl"),
    "bad_score": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t1.5\n"}, "train.tsv:2", "not an integer"),
    "no_header": ({"qrels": "q1\td1\t1\n"}, "train.tsv:1", "expected the header"),
    "id_5000_digits": ({"corpus": '{"_id": "d1", "text": "a"}\n{"_id": ' + "9" * 5000 + ', "text": "b"}\n'},
                       "corpus.jsonl:2", "an integer with more than 4300 digits"),
    "json_nested_deep": ({"queries": '{"_id": "q1", "text": ' + "[" * 100000 + "]" * 100000 + "}\n"},
                         "queries.jsonl:1", "nested too deeply"),
    "grade_2_31": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2147483648\n"}, "train.tsv:3",
                   "score 2147483648 is out of range (relevance grades are integers from -1000 to 1000)"),
    "grade_10_23": ({"qrels": f"query-id\tcorpus-id\tscore\nq1\td1\t{10**23}\n"}, "train.tsv:2", "out of range"),
    "grade_below": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t-1001\n"}, "train.tsv:2", "out of range"),
    "grade_5000_digits": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t" + "9" * 5000 + "\n"}, "train.tsv:2",
                          "out of range"),
    "grade_exponent": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t1e23\n"}, "train.tsv:2", "not an integer"),
    "grade_inf": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\tinf\n"}, "train.tsv:2", "not an integer"),
    "grade_nan": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\tnan\n"}, "train.tsv:2", "not an integer"),
    "grade_underscore": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t1_0\n"}, "train.tsv:2", "not an integer"),
    "grade_arabic_digit": ({"qrels": "query-id\tcorpus-id\tscore\nq1\td1\t\u0663\n"}, "train.tsv:2",
                           "not an integer"),
    "non_utf8_corpus": ({"corpus": b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "caf\xe9"}\n'}, "corpus.jsonl:2", "not valid UTF-8"),
    "non_utf8_qrels": ({"qrels": b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td\xff\t1\n"}, "train.tsv:3", "not valid UTF-8"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_and_line(tmp_path, case):
    files, where, message = BAD_CASES[case]
    root = write_beir(tmp_path / "b", **files)
    with pytest.raises(DataError) as info:
        load_beir(root, "train")
    assert where in str(info.value) and message in str(info.value)
    result = run_cli("data", "info", "--data", root)
    assert result.returncode == 2
    assert where in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_unknown_split_lists_available(beir_dir):
    result = run_cli("data", "info", "--data", beir_dir, "--split", "test")
    assert result.returncode == 2
    assert "unknown split 'test' (splits found: train)" in result.stderr


@pytest.mark.slow
def test_missing_folder(tmp_path):
    result = run_cli("data", "info", "--data", tmp_path / "nope")
    assert result.returncode == 2 and "data folder not found" in result.stderr


@pytest.mark.slow
def test_info_json_on_embedded_slice():
    result = run_cli("data", "info", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["queries"] == 200 and summary["documents"] > 1000


@pytest.mark.slow
def test_dev_fraction_is_seeded_disjoint_and_complete(slice_dir):
    train = load_dataset(slice_dir, "train", dev_fraction=0.3, seed=1)
    dev = load_dataset(slice_dir, "dev", dev_fraction=0.3, seed=1)
    assert len(dev.queries) == 60 and len(train.queries) == 140
    assert not set(train.queries) & set(dev.queries)
    assert set(dev.qrels) == set(dev.queries)
    assert set(load_dataset(slice_dir, "dev", dev_fraction=0.3, seed=1).queries) == set(dev.queries)
    assert set(load_dataset(slice_dir, "dev", dev_fraction=0.3, seed=2).queries) != set(dev.queries)


@pytest.mark.slow
def test_dev_fraction_rejects_other_splits(slice_dir):
    result = run_cli("data", "info", "--dev-fraction", "0.2", "--split", "test")
    assert result.returncode == 2 and "must be 'train' or 'dev'" in result.stderr
    result = run_cli("data", "info", "--dev-fraction", "1.5", "--split", "dev")
    assert result.returncode == 2 and "between 0 and 1" in result.stderr


def test_grades_at_the_bounds_are_kept(tmp_path):
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1000\nq1\td3\t-1000\nq2\td2\t+0007\n"
    ds = load_beir(write_beir(tmp_path / "b", qrels=qrels), "train")
    assert ds.qrels == {"q1": {"d1": 1000, "d3": -1000}, "q2": {"d2": 7}}


@pytest.mark.slow
def test_dev_fraction_leaving_no_query_is_an_error(beir_dir):
    result = run_cli("data", "info", "--data", beir_dir, "--dev-fraction", "0.2", "--split", "dev")
    assert result.returncode == 2 and "leaves the 'dev' split no query (2 judged train queries" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", ["-1", str(2**32), str(10**30)])
def test_seed_is_bounded(beir_dir, seed):
    result = run_cli("data", "info", "--data", beir_dir, "--seed", seed)
    assert result.returncode == 2 and "--seed" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("setting", [
    "synthesize.per_query=1001", "synthesize.max_per_query=1001", "synthesize.target_kept=1e9",
    "synthesize.concurrency=1025", "synthesize.threads=1025", "synthesize.max_tokens=2147483648",
    "synthesize.max_attempts=101", "mine.top_k=100001", "mine.range_max=100001", "mine.num_negatives=1001",
    "mix.num_negatives=1001", "train.batch_size=65537", "train.max_seq_length=131073", "train.num_negatives=1001",
    "teacher.batch_size=65537", "seed=-1", "seed=4294967296", "data.split_seed=-1", "mine.seed=-1",
])
def test_config_counts_and_seeds_are_bounded(setting):
    from syneg.config import load_config

    key = setting.partition("=")[0]
    with pytest.raises(DataError, match=rf"<config>: {key}: Input should be (less|greater) than or equal to"):
        load_config(None, [setting])


@pytest.mark.slow
@pytest.mark.parametrize(("args", "option"), [
    (("synthesize", "--per-query", "1000000000", "--out", "x.jsonl"), "--per-query"),
    (("mine", "--top-k", "100001"), "--top-k"),
    (("mix", "--mined", "missing.jsonl", "-k", "1001", "--out", "x.jsonl"), "--num-negatives"),
])
def test_config_backed_options_are_bounded_before_work(tmp_path, args, option):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and f"error: {option}: Input should be less than or equal to" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("value", ["9" * 5000, "[" * 100000 + "]" * 100000], ids=["5000-digits", "deep"])
def test_config_file_with_a_huge_number_or_deep_nesting_is_an_error(tmp_path, value):
    path = tmp_path / "run.yaml"
    path.write_text(f"seed: {value}\n")
    result = run_cli("config", "show", path)
    assert result.returncode == 2 and f"error: {path}: invalid YAML:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("value", ["9" * 5000, "[" * 3000], ids=["5000-digits", "deep"])
def test_set_value_with_a_huge_number_or_deep_nesting_is_an_error(value):
    result = run_cli("config", "show", "--set", f"seed={value}")
    assert result.returncode == 2 and "error: --set seed: the value has an integer" in result.stderr
    assert "Traceback" not in result.stderr


# --- 3. ids: surrounding whitespace stripped everywhere, inner whitespace refused ---------------

@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ID_CASES))
def test_id_with_inner_whitespace_is_refused(tmp_path, case):
    files, where, shown = ID_CASES[case]
    root = write_beir(tmp_path / "b", **files)
    _assert_cli_error(run_cli("data", "info", "--data", root), where, shown, "contains whitespace")


# --- 4. qrels: conflicting duplicates, header only ----------------------------------------------

@pytest.mark.slow
def test_qrels_conflicting_duplicate_names_both_lines(tmp_path):
    root = write_beir(tmp_path / "b", qrels=HEADER + "q1\td1\t1\nq2\td2\t1\nq1\td1\t0\n")
    _assert_cli_error(run_cli("data", "info", "--data", root), "train.tsv:4", "on line 2 and 0 on line 4")
    same = write_beir(tmp_path / "c", qrels=HEADER + "q1\td1\t1\nq2\td2\t1\nq1\td1\t1\n")
    assert load_beir(same, "train").qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}  # identical rows are harmless


@pytest.mark.slow
def test_qrels_with_only_a_header(tmp_path):
    root = write_beir(tmp_path / "b", qrels=HEADER + "\n")
    _assert_cli_error(run_cli("data", "info", "--data", root), "train.tsv", "no judgements")


# --- 5. file kinds: directories, BOMs, gzip -----------------------------------------------------

@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
