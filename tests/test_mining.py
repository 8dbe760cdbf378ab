"""Hard-negative mining: pure filters on hand-made scores, then the real command on the embedded slice."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli, write_beir
from pydantic import ValidationError

from syneg.config import MineConfig
from syneg.data import BeirDataset, Document, load_dataset
from syneg.errors import SynegError
from syneg.io import read_records, write_jsonl
from syneg.layout import read_stats
from syneg.mining import (
    Candidate,
    DuplicateIndex,
    check_settings,
    choose,
    describe,
    drop_unmatched,
    exclude_positives,
    mine,
    normalize_text,
    rank_window,
    relative_threshold,
    score_filters,
    text_keys,
    write_mined,
)
from syneg.records import MinedInstance, Negative
from syneg.rng import instance_rng


def cands(*scores: float) -> list[Candidate]:
    return [Candidate(f"d{i}", i, s) for i, s in enumerate(scores, start=1)]


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.doc_id for c in candidates]


# --- duplicate guard -------------------------------------------------------------------------------

def test_normalize_text_folds_case_whitespace_and_punctuation():
    assert normalize_text("  Vitamin-D\tdeficiency, (and) BONE loss!! ") == "vitamin d deficiency and bone loss"
    assert normalize_text("Ｃａｆé") == normalize_text("cafÉ")  # NFKC width folding + casefold


def test_text_keys_match_copies_with_other_case_punctuation_or_title():
    original = Document("Statins", "Statins lower LDL cholesterol.")
    assert text_keys(original) & text_keys(Document("STATINS", "statins   lower ldl-cholesterol"))
    assert text_keys(original) & text_keys(Document("A different title", "Statins lower LDL cholesterol"))
    assert not text_keys(original) & text_keys(Document("Statins", "Statins raise HDL cholesterol."))


def test_exclude_positives_drops_every_positive_and_their_copies():
    corpus = {
        "p1": Document("", "Vitamin D and bone loss."),
        "p2": Document("", "Calcium intake in adults."),
        "copy": Document("", "VITAMIN D -- and bone   loss"),
        "other": Document("", "Sleep and memory."),
    }
    dup = DuplicateIndex(corpus)
    removed = Counter()
    candidates = [Candidate(d, r, 1.0 / r) for r, d in enumerate(["copy", "p2", "other", "p1"], start=1)]
    kept = exclude_positives(candidates, {"p1", "p2"}, dup.keys_of(["p1", "p2"]), dup.keys, removed)
    assert ids(kept) == ["other"]
    assert removed == {"positive_id": 2, "positive_duplicate": 1}


def test_duplicate_keys_are_cached_per_corpus_content(tmp_path):
    corpus = {"a": Document("T", "Vitamin D and bone loss."), "b": Document("", ""), "c": Document("", "Sleep.")}
    first = DuplicateIndex(corpus, tmp_path)
    assert [first.keys(d) for d in ("a", "b")] == [text_keys(corpus["a"]), frozenset()]
    first.save()
    (written,) = tmp_path.glob("duplicate-keys-*.npz")
    again = DuplicateIndex(corpus, tmp_path)
    assert again._keys == {"a": text_keys(corpus["a"]), "b": frozenset()}  # read back, "c" never computed
    assert again.keys("c") == text_keys(corpus["c"])
    again.save()
    assert len(DuplicateIndex(corpus, tmp_path)._keys) == 3
    edited = {**corpus, "a": Document("T", "Vitamin D and bone gain.")}
    assert DuplicateIndex(edited, tmp_path)._keys == {}  # another corpus content: another file
    written.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="unusable"):
        assert DuplicateIndex(corpus, tmp_path).keys("a") == text_keys(corpus["a"])  # unreadable: recomputed


def _npz(path: Path, **arrays) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def _huge_header(path: Path) -> None:
    """A valid archive whose ``rows`` header claims 10^12 rows (reading it would allocate 8 TB)."""
    import io
    import zipfile

    import numpy as np

    rows, keys = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array_header_1_0(rows, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
    np.lib.format.write_array_header_1_0(keys, {"descr": "<u8", "fortran_order": False, "shape": (10**12, 2)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rows.npy", rows.getvalue())
        archive.writestr("keys.npy", keys.getvalue())


def _corrupt(kind: str, path: Path) -> None:
    import numpy as np

    good = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # a killed copy: the BadZipFile case
        path.write_bytes(good[: len(good) // 2])
    elif kind == "npy":
        np.save(path.open("wb"), np.zeros((3, 2), dtype=np.uint64))
    elif kind == "float-rows":
        _npz(path, rows=np.array([0.0, 1.0]), keys=np.zeros((2, 2), dtype=np.uint64))
    elif kind == "rows-outside":
        _npz(path, rows=np.array([0, 7]), keys=np.ones((2, 2), dtype=np.uint64))
    elif kind == "repeated-rows":
        _npz(path, rows=np.array([0, 0]), keys=np.ones((2, 2), dtype=np.uint64))
    elif kind == "missing-member":
        _npz(path, rows=np.array([0]))
    elif kind == "huge-header":
        _huge_header(path)
    elif kind == "folder":
        path.unlink()
        (path / "inner").mkdir(parents=True)
    elif kind == "link":  # removed itself, never followed
        path.rename(path.parent / "elsewhere.npz")
        path.symlink_to(path.parent / "elsewhere.npz")


@pytest.mark.parametrize("kind", ["empty", "truncated", "npy", "float-rows", "rows-outside", "repeated-rows",
                                  "missing-member", "huge-header", "folder", "link"])
def test_a_broken_duplicate_key_cache_is_named_deleted_and_rebuilt(tmp_path, kind):
    corpus = {"a": Document("T", "Vitamin D and bone loss."), "b": Document("", "Sleep."), "c": Document("", "Tea.")}
    first = DuplicateIndex(corpus, tmp_path)
    first.keys("a")
    first.save()
    (path,) = tmp_path.glob("duplicate-keys-*.npz")
    _corrupt(kind, path)
    with pytest.warns(UserWarning, match=rf"duplicate-key cache {path} is unusable: .+; deleted, rebuilding it"):
        again = DuplicateIndex(corpus, tmp_path)
    assert again._keys == {} and not path.exists() and not path.is_symlink()
    assert kind != "link" or (tmp_path / "elsewhere.npz").is_file()
    assert again.keys("b") == text_keys(corpus["b"])
    again.save()
    assert DuplicateIndex(corpus, tmp_path)._keys == {"b": text_keys(corpus["b"])}  # rebuilt, read back


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["truncated", "folder"])
def test_cli_mining_heals_a_broken_duplicate_key_cache(tmp_path, small_slice, kind):
    args = ("mine", "--data", small_slice, "--max-queries", "4", "--num-negatives", "3", "--cache-dir", tmp_path / "c")
    first = run_cli(*args, "--out", tmp_path / "a.jsonl")
    assert first.returncode == 0, first.stderr
    (path,) = (tmp_path / "c").glob("duplicate-keys-*.npz")
    if kind == "folder":  # was "is a directory", exit 2, on every later run
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(path.read_bytes()[:40])
    second = run_cli(*args, "--out", tmp_path / "b.jsonl")
    assert second.returncode == 0, second.stderr
    assert f"duplicate-key cache {path} is unusable" in second.stderr and "Traceback" not in second.stderr
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert DuplicateIndex(load_dataset(small_slice, "train").corpus, tmp_path / "c")._keys  # rewritten, readable


# --- rank window, margins, max score -----------------------------------------------------------------

def test_rank_window_is_zero_based_on_the_positive_free_list():
    removed = Counter()
    assert ids(rank_window(cands(9, 8, 7, 6, 5), 1, 3, removed)) == ["d2", "d3"]
    assert removed["rank_range"] == 3
    assert ids(rank_window(cands(9, 8, 7), 2, None, Counter())) == ["d3"]


def test_drop_unmatched_removes_zero_score_bm25_fillers():
    removed = Counter()
    assert ids(drop_unmatched(cands(3.2, 0.4, 0.0, 0.0), removed)) == ["d1", "d2"]
    assert removed["no_match"] == 2


def test_relative_margin_with_positive_reference_is_one_minus_margin_times_positive():
    assert relative_threshold(0.8, 0.05) == pytest.approx(0.76)
    removed = Counter()
    kept = score_filters(cands(0.79, 0.77, 0.75, 0.5), 0.8, relative_margin=0.05, removed=removed)
    assert ids(kept) == ["d3", "d4"]
    assert removed["relative_margin"] == 2


def test_relative_margin_with_negative_reference_stays_below_the_positive():
    # positive -0.5, margin 0.5: threshold = -0.5 - 0.25 = -0.75 (sentence-transformers' rule).
    # The naive (1 - margin) x positive = -0.25 would keep -0.3, which scores ABOVE the positive.
    assert relative_threshold(-0.5, 0.5) == -0.75
    removed = Counter()
    kept = score_filters(cands(-0.3, -0.5, -0.74, -0.75, -0.9), -0.5, relative_margin=0.5, removed=removed)
    assert ids(kept) == ["d4", "d5"]  # exactly at the threshold is kept ("at most")
    assert removed["relative_margin"] == 3
    # a margin of 0 keeps everything that does not beat the positive, whatever its sign
    assert ids(score_filters(cands(-0.4, -0.5, -0.6), -0.5, relative_margin=0.0, removed=Counter())) == ["d2", "d3"]


def test_absolute_margin_and_max_score_count_under_the_first_filter_that_drops():
    removed = Counter()
    kept = score_filters(cands(0.95, 0.55, 0.45, 0.2), 0.6, absolute_margin=0.1, relative_margin=0.05,
                         max_score=0.3, removed=removed)
    assert ids(kept) == ["d4"]
    assert removed == {"absolute_margin": 2, "max_score": 1}
    negative = score_filters(cands(-0.25, -0.35), -0.2, absolute_margin=0.1, removed=Counter())
    assert ids(negative) == ["d2"]  # keep only score <= -0.3


def test_filters_use_the_teacher_score_when_present_and_order_by_it():
    candidates = [Candidate("a", 1, 0.9, teacher=0.1), Candidate("b", 2, 0.8, teacher=0.7),
                  Candidate("c", 3, 0.7, teacher=0.3)]
    kept = score_filters(candidates, 0.5, relative_margin=0.05, removed=Counter())
    assert ids(kept) == ["c", "a"]


# --- sampling ---------------------------------------------------------------------------------------

def test_top_sampling_takes_the_best_survivors():
    survivors = cands(0.9, 0.8, 0.7, 0.6)
    assert ids(choose(survivors, 2, "top", random.Random(0))) == ["d1", "d2"]
    assert ids(choose(survivors, 9, "top", random.Random(0))) == ids(survivors)  # shortfall: all there are


def test_random_sampling_is_seeded_per_instance_and_stays_within_the_survivors():
    survivors = cands(*[1 - i / 100 for i in range(40)])
    picks = [ids(choose(survivors, 5, "random", instance_rng(s, "q1", "p1"))) for s in (0, 0, 1)]
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]
    assert set(picks[0]) <= set(ids(survivors)) and len(set(picks[0])) == 5
    assert picks[0] == sorted(picks[0], key=lambda d: int(d[1:]))  # re-sorted by score
    assert picks[0] != ids(survivors[:5])  # not simply the top


def test_describe_reports_quantiles():
    summary = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary == {"count": 5, "mean": 3.0, "std": pytest.approx(1.414214), "min": 1.0, "q25": 2.0,
                       "median": 3.0, "q75": 4.0, "max": 5.0}
    assert describe([])["mean"] is None


@pytest.mark.parametrize("bad", [
    {"range_max": 200, "top_k": 100}, {"range_min": 10, "range_max": 10},
    {"num_negatives": 5, "range_min": 8, "range_max": 10},
])
def test_check_settings_rejects_impossible_windows(bad):
    with pytest.raises(SynegError):
        check_settings(MineConfig(**bad))


@pytest.mark.parametrize("bad", [{"num_negatives": 0}, {"range_min": -1}, {"relative_margin": -0.1}, {"max_queries": 0}])
def test_config_rejects_out_of_range_settings(bad):
    with pytest.raises(ValidationError):
        MineConfig(**bad)


# --- mine() with hand-made retrieval scores ---------------------------------------------------------

class TableRetriever:
    """A retriever whose scores are a fixed table (query text -> doc id -> score): exact, hand-made inputs."""

    name = "dense"

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.table = table

    def index(self, corpus) -> None:
        pass

    def search(self, queries, top_k):
        ranked = [sorted(self.table[q].items(), key=lambda kv: (-kv[1], kv[0]))[:top_k] for q in queries]
        return [[d for d, _ in r] for r in ranked], [[s for _, s in r] for r in ranked]

    def score(self, queries, doc_ids):
        return [[self.table[q][d] for d in docs] for q, docs in zip(queries, doc_ids)]


@pytest.fixture
def table_case(tmp_path: Path) -> tuple[BeirDataset, TableRetriever]:
    texts = {"p1": "Vitamin D and bone loss.", "p2": "Calcium in adults.", "p3": "Statins and LDL.",
             "p1copy": "VITAMIN D and bone-loss", **{f"n{i}": f"Unrelated passage number {i}." for i in range(1, 6)}}
    corpus = [{"_id": d, "title": "", "text": t} for d, t in texts.items()]
    queries = [{"_id": "q1", "text": "vitamin d bones"}, {"_id": "q2", "text": "statins"}]
    qrels = "query-id\tcorpus-id\tscore\nq1\tp1\t1\nq1\tp2\t1\nq2\tp3\t1\n"
    ds = load_dataset(write_beir(tmp_path / "beir", corpus, queries, qrels), "train")
    table = {
        "vitamin d bones": {"p1copy": 0.95, "p1": 0.9, "n1": 0.7, "p2": 0.6, "n2": 0.58, "n3": 0.5, "n4": 0.4,
                            "n5": 0.3, "p3": 0.1},
        "statins": {"n1": -0.1, "p3": -0.2, "n2": -0.205, "n3": -0.3, "n4": -0.4, "n5": -0.5, "p1": -0.6,
                    "p2": -0.7, "p1copy": -0.8},
    }
    return ds, TableRetriever(table)


def test_mine_excludes_all_positives_uses_the_lowest_positive_and_reports_shortfall(table_case):
    ds, retriever = table_case
    config = MineConfig(num_negatives=2, relative_margin=0.05, range_max=4, top_k=9)
    instances, stats = mine(ds, config, seed=0, retriever=retriever)
    assert [(i.query_id, i.positive_id) for i in instances] == [("q1", "p1"), ("q1", "p2"), ("q2", "p3")]
    # q1: p1copy (duplicate), p1, p2 (positives) are out; n1 0.7 and n2 0.58 are within 5% of the
    # LOWEST positive (p2, 0.6 -> threshold 0.57) -> n3, n4 for both instances.
    assert [[n.doc_id for n in i.negatives] for i in instances[:2]] == [["n3", "n4"], ["n3", "n4"]]
    assert [i.positive_score for i in instances] == [0.9, 0.6, -0.2]
    # q2: positive -0.2 -> threshold -0.21: n1 (-0.1) and n2 (-0.205) go; window [0, 4) = n1 n2 n3 n4
    assert [n.doc_id for n in instances[2].negatives] == ["n3", "n4"]
    assert instances[0].negatives[0].model_dump(exclude={"text"}) == {
        "source": "dense", "doc_id": "n3", "score": 0.5, "rank": 6, "teacher_score": None}
    assert stats["candidates"]["removed"] == {"positive_id": 3, "positive_duplicate": 1, "no_match": 0, "rank_range": 6, "false_negative": 0,
                                              "absolute_margin": 0, "relative_margin": 4, "max_score": 0}
    assert stats["shortfall"] == {"instances": 0, "missing_negatives": 0, "queries": 0, "query_ids": []}


def test_pair_margin_reference_filters_against_each_pairs_own_positive(table_case):
    ds, retriever = table_case
    config = MineConfig(num_negatives=2, relative_margin=0.05, range_max=4, top_k=9, margin_reference="pair")
    instances, _ = mine(ds, config, seed=0, retriever=retriever)
    # q1/p1 (0.9 -> threshold 0.855): n1 0.7 and n2 0.58 now survive; q1/p2 (0.6) still drops them
    assert [[n.doc_id for n in i.negatives] for i in instances] == [["n1", "n2"], ["n3", "n4"], ["n3", "n4"]]


def test_mine_reports_queries_short_of_negatives(table_case):
    ds, retriever = table_case
    instances, stats = mine(ds, MineConfig(num_negatives=4, relative_margin=0.05, max_score=0.45), 0,
                            retriever=retriever)
    assert [[n.doc_id for n in i.negatives] for i in instances][1:] == [["n4", "n5", "p3"], ["n3", "n4", "n5", "p1"]]
    assert [i.shortfall for i in instances] == [1, 1, 0]
    assert stats["shortfall"] == {"instances": 2, "missing_negatives": 2, "queries": 1, "query_ids": ["q1"]}
    assert stats["instances"] == 3 and stats["negatives"] == 10
    assert stats["candidates"]["removed"]["max_score"] == 1  # n3 (0.5) for q1


def test_one_positive_and_max_queries_are_seeded_subsets(table_case):
    ds, retriever = table_case
    one = mine(ds, MineConfig(num_negatives=1, one_positive=True), 0, retriever=retriever)[0]
    assert [i.query_id for i in one] == ["q1", "q2"] and one[0].positive_id in {"p1", "p2"}
    assert not {n.doc_id for n in one[0].negatives} & {"p1", "p2", "p1copy"}  # the other positive stays out
    picked = {mine(ds, MineConfig(num_negatives=1, max_queries=1), s, retriever=retriever)[1]["queries"]
              for s in range(3)}
    assert picked == {1}


# --- the real command on the embedded slice -----------------------------------------------------------

def _scramble(text: str) -> str:
    """A copy that differs only in case, spacing and punctuation."""
    return "  " + text.upper().replace(" ", " ,  ").replace(".", "!") + " ..."


@pytest.fixture(scope="module")
def slice_with_copies(tmp_path_factory, slice_dir) -> Path:
    """The embedded slice plus a case/punctuation-scrambled copy of every positive of 40 queries."""
    ds = load_dataset(slice_dir, "train")
    corpus = [{"_id": d, "title": doc.title, "text": doc.text} for d, doc in ds.corpus.items()]
    copied = dict.fromkeys(pid for qid in list(ds.qrels)[:40] for pid in ds.positives(qid))
    for pid in copied:
        doc = ds.corpus[pid]
        corpus.append({"_id": f"copy-{pid}", "title": _scramble(doc.title), "text": _scramble(doc.text)})
    queries = [{"_id": q, "text": t} for q, t in ds.queries.items()]
    qrels = (slice_dir / "qrels" / "train.tsv").read_text(encoding="utf-8")
    return write_beir(tmp_path_factory.mktemp("copies") / "beir", corpus, queries, qrels)


def _check_no_false_negatives(instances: list[MinedInstance], ds: BeirDataset) -> None:
    for inst in instances:
        positives = ds.positives(inst.query_id)
        banned = {normalize_text(ds.doc_text(p)) for p in positives}
        for neg in inst.negatives:
            assert neg.doc_id not in positives and neg.doc_id not in {f"copy-{p}" for p in positives}
            assert normalize_text(neg.text) not in banned and normalize_text(ds.corpus[neg.doc_id].text) not in {
                normalize_text(ds.corpus[p].text) for p in positives}


@pytest.mark.slow
def test_cli_bm25_never_mines_positives_or_their_copies(slice_with_copies, tmp_path):
    out = tmp_path / "mined.jsonl"
    proc = run_cli("mine", "--data", slice_with_copies, "--out", out, "--num-negatives", "5", "--top-k", "30",
                   "--relative-margin", "none")  # no margin: only the guards stand between copies and negatives
    assert proc.returncode == 0, proc.stderr
    ds = load_dataset(slice_with_copies, "train")
    instances = read_records(out, MinedInstance)
    pairs = [(q, p) for q in ds.qrels for p in ds.positives(q)]
    assert [(i.query_id, i.positive_id) for i in instances] == pairs  # every pair, none dropped
    _check_no_false_negatives(instances, ds)
    stats = json.loads((tmp_path / "mined.jsonl.stats.json").read_text())
    assert stats["candidates"]["removed"]["positive_duplicate"] >= 30  # the copies rank high and are caught
    assert stats["candidates"]["removed"]["positive_id"] > 0
    assert stats["instances"] == len(pairs) and "difference" in stats["scores"]
    assert stats["shortfall"]["instances"] == sum(1 for i in instances if i.shortfall)
    assert stats["shortfall"]["query_ids"] == sorted({i.query_id for i in instances if i.shortfall})
    assert all(len(i.negatives) + i.shortfall == 5 for i in instances)
    assert "removed by positive_duplicate" in proc.stderr and "short of negatives" in proc.stderr


@pytest.mark.slow
def test_cli_output_is_byte_identical_per_seed_and_changes_with_the_seed(slice_dir, tmp_path):
    args = ("mine", "--data", slice_dir, "--sampling", "random", "--max-queries", "40", "--num-negatives", "4",
            "--range-max", "40", "--top-k", "60", "--dev-fraction", "0.2")
    outs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        proc = run_cli(*args, "--seed", seed, "--out", tmp_path / f"{name}.jsonl")
        assert proc.returncode == 0, proc.stderr
        outs[name] = (tmp_path / f"{name}.jsonl").read_bytes()
    assert outs["a"] == outs["b"]
    assert (tmp_path / "a.jsonl.stats.json").read_bytes() == (tmp_path / "b.jsonl.stats.json").read_bytes()
    assert outs["a"] != outs["c"]
    first = [json.loads(line) for line in outs["a"].decode().splitlines()]
    assert len({row["query_id"] for row in first}) == 40
    ranks = [n["rank"] for row in first for n in row["negatives"]]
    assert max(ranks) > 10  # random sampling reaches beyond the top of the window


def test_range_min_skips_the_best_non_positives_with_real_bm25(slice_dir):
    ds = load_dataset(slice_dir, "train")
    base = dict(num_negatives=3, top_k=30, relative_margin=None, max_queries=20)
    top = {i.query_id: i for i in mine(ds, MineConfig(**base), 0)[0]}
    skipped, stats = mine(ds, MineConfig(**base, range_min=2, range_max=10), 0)
    for inst in skipped:
        expected = [n.doc_id for n in top[inst.query_id].negatives][2:]
        assert [n.doc_id for n in inst.negatives][: len(expected)] == expected
    assert stats["candidates"]["removed"]["rank_range"] > 0


@pytest.mark.slow
def test_cli_rejects_impossible_settings_without_writing(tmp_path):
    out = tmp_path / "mined.jsonl"
    proc = run_cli("mine", "--out", out, "--num-negatives", "5", "--range-min", "8", "--range-max", "10")
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = run_cli("mine", "--out", out, "--sampling", "best")
    assert proc.returncode == 2 and "--sampling" in proc.stderr


def _assert_margin(instances: list[MinedInstance], margin: float, teacher: bool) -> None:
    """Every negative is at most reference - |reference| x margin, reference = the query's lowest positive."""
    reference: dict[str, float] = {}
    for inst in instances:
        pos = inst.positive_teacher_score if teacher else inst.positive_score
        reference[inst.query_id] = min(pos, reference.get(inst.query_id, pos))
    for inst in instances:
        scores = [n.teacher_score if teacher else n.score for n in inst.negatives]
        assert scores == sorted(scores, reverse=True)
        assert all(s <= relative_threshold(reference[inst.query_id], margin) + 1e-6 for s in scores)


@pytest.mark.slow
def test_cli_dense_on_a_few_queries_is_guarded_and_reproducible(slice_dir, tmp_path):
    args = ("mine", "--data", slice_dir, "--retriever", "dense", "--max-queries", "3", "--max-seq-length", "32",
            "--num-negatives", "4", "--top-k", "40", "--cache-dir", tmp_path / "cache")
    first = run_cli(*args, "--out", tmp_path / "a.jsonl")
    assert first.returncode == 0, first.stderr
    assert list((tmp_path / "cache").glob("*.npy"))  # corpus embeddings cached for the next run
    second = run_cli(*args, "--out", tmp_path / "b.jsonl")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    ds = load_dataset(slice_dir, "train")
    instances = read_records(tmp_path / "a.jsonl", MinedInstance)
    assert len({i.query_id for i in instances}) == 3 and all(len(i.negatives) == 4 for i in instances)
    assert all(n.source == "dense" and -1 <= n.score <= 1 for i in instances for n in i.negatives)
    _check_no_false_negatives(instances, ds)
    _assert_margin(instances, 0.05, teacher=False)


@pytest.fixture(scope="module")
def small_cross_encoder(tmp_path_factory) -> Path:
    """A real sentence-transformers CrossEncoder saved to disk (MiniLM body, fresh one-logit head)."""
    import torch
    from sentence_transformers import CrossEncoder

    from syneg.models import default_encoder_path

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ce") / "cross-encoder"
    CrossEncoder(str(default_encoder_path()), num_labels=1, device="cpu").save(str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bi-encoder", "cross-encoder"])
def test_teacher_scores_drive_the_margins(kind, slice_dir, request):
    from syneg.config import TeacherConfig
    from syneg.models import default_encoder_path
    from syneg.teacher.load import is_cross_encoder

    teacher = str(request.getfixturevalue("small_cross_encoder") if kind == "cross-encoder" else default_encoder_path())
    assert is_cross_encoder(teacher) == (kind == "cross-encoder")
    ds = load_dataset(slice_dir, "train")
    # the cross-encoder's fresh head scores everything near 0.5: margin 0 (no negative above the positive)
    margin = 0.0 if kind == "cross-encoder" else 0.05
    config = MineConfig(max_queries=3, top_k=15, num_negatives=3, relative_margin=margin)
    instances, stats = mine(ds, config, 0, teacher=TeacherConfig(model=teacher, max_seq_length=64, perc=1.0))
    assert stats["score_source"] == "teacher" and stats["retriever_scores"]["negative"]["count"] > 0
    assert all(i.positive_teacher_score is not None for i in instances)
    assert all(n.teacher_score is not None and n.source == "bm25" for i in instances for n in i.negatives)
    if kind == "cross-encoder":  # sigmoid activation
        assert all(0 < n.teacher_score < 1 for i in instances for n in i.negatives)
    _assert_margin(instances, margin, teacher=True)
    _check_no_false_negatives(instances, ds)


@pytest.mark.slow
@pytest.mark.parametrize("setting, value, named", [
    ("--max-score", "-1000000", "--max-score removed"), ("--absolute-margin", "1000000", "--absolute-margin removed"),
])
def test_cli_mining_that_leaves_no_negative_is_an_error(tmp_path, small_slice, setting, value, named):
    out = tmp_path / "mined.jsonl"
    proc = run_cli("mine", "--data", small_slice, "--max-queries", "4", "--cache-dir", tmp_path / "c",
                   setting, value, "--out", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "error: no (query, positive) pair got a negative: " + named in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("mined.jsonl*"))


def test_mining_an_empty_shard_block_is_not_an_error(small_slice, tmp_path):
    from syneg.sharding import Shard

    ds = load_dataset(small_slice, "train")
    config = MineConfig(max_queries=2, max_score=-1e6)
    instances, stats = mine(ds, config, 0, cache_dir=tmp_path, shard=Shard.parse("1/3"))  # 2 queries, 3 shards
    assert instances == [] and stats["instances"] == 0
    with pytest.raises(SynegError, match="--max-score removed"):
        mine(ds, config, 0, cache_dir=tmp_path, shard=Shard.parse("3/3"))


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
