"""Negative mixing strategies and exports, on records built from the embedded SciFact slice."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import run_cli
from helpers import _assert_cli_error
from synth_fake_server import FakeOpenAI

from syneg.data import load_dataset
from syneg.errors import SynegError
from syneg.io import read_records, write_jsonl
from syneg.mixing import export, mix, split_counts
from syneg.records import MinedInstance, Negative, SyntheticNegative, TrainingInstance

K = 3


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def _mined(ds, qids, n_ret):
    """MinedInstance per (query, positive): BM25-like negatives = the next corpus docs."""
    doc_ids = sorted(ds.corpus)
    rows = []
    for i, qid in enumerate(qids):
        for pid in ds.positives(qid):
            others = [d for d in doc_ids[i * 10:] if d not in ds.positives(qid)][: n_ret[i]]
            negatives = [Negative(text=ds.doc_text(d), source="bm25", doc_id=d, score=10.0 - r, rank=r + 1)
                         for r, d in enumerate(others)]
            rows.append(MinedInstance(query_id=qid, query=ds.queries[qid], positive_id=pid,
                                      positive=ds.doc_text(pid), negatives=negatives))
    return rows


def _synthetic(ds, instance, count, offset, positive_id=None):
    """Real corpus texts tagged as synthetic negatives of one instance."""
    doc_ids = sorted(ds.corpus)[-(offset + count):len(ds.corpus) - offset]
    return [SyntheticNegative(query_id=instance.query_id, positive_id=positive_id or instance.positive_id,
                              text=ds.doc_text(d), reasoning="r", attributes={"style": "x"}, model="m",
                              prompt_version="v1", key=f"k{offset}-{j}", teacher_score=0.5)
            for j, d in enumerate(doc_ids)]


@pytest.fixture(scope="module")
def records(dataset):
    """Instances 0-5: plenty of both; 6: no synthetic; 7: one retrieved; 8: nothing at all."""
    qids = [q for q in dataset.qrels if len(dataset.positives(q)) == 1][:9]
    mined = _mined(dataset, qids, [5, 5, 5, 5, 5, 5, 5, 1, 0])
    synthetic = []
    for i, instance in enumerate(mined[:6]):
        synthetic += _synthetic(dataset, instance, 4, i * 4)
    synthetic += _synthetic(dataset, mined[7], 1, 40)
    return mined, synthetic


def _sources(instance):
    return Counter(n.source for n in instance.negatives)


def test_split_counts_round_half_up():
    assert split_counts(3, 0.7) == (1, 2)
    assert split_counts(8, 0.7) == (3, 5)
    assert split_counts(4, 1.0) == (2, 2)
    assert split_counts(1, 0.7) == (0, 1)
    assert split_counts(2, 1 / 3) == (1, 1)  # 0.5 rounds up, not to even
    assert split_counts(5, 0.0) == (0, 5)


def test_hybrid_exact_composition_and_fill(records):
    mined, synthetic = records
    instances, stats = mix(mined, synthetic, "hybrid", ratio=0.7, num_negatives=K, seed=1)
    by_id = {i.query_id: i for i in instances}
    for m in mined[:6]:
        assert _sources(by_id[m.query_id]) == {"synthetic": 1, "bm25": 2}
        assert by_id[m.query_id].filled == 0
    no_syn = by_id[mined[6].query_id]  # synthetic short by 1: filled from retrieved
    assert _sources(no_syn) == {"bm25": 3} and no_syn.filled == 1
    one_ret = by_id[mined[7].query_id]  # 1 synthetic + 1 retrieved, nothing to fill the last slot
    assert _sources(one_ret) == {"synthetic": 1, "bm25": 1} and one_ret.filled == 0
    assert mined[8].query_id not in by_id  # no negatives at all: reported, not written
    assert stats["empty"] == 1 and stats["empty_ids"] == [f"{mined[8].query_id}/{mined[8].positive_id}"]
    assert stats["filled"] == 1 and stats["instances_filled"] == 1 and stats["short"] == 1
    assert stats["by_source"] == {"bm25": 2 * 6 + 3 + 1, "synthetic": 6 + 1}
    assert stats["target_per_instance"] == {"synthetic": 1, "retrieved": 2}


def test_hybrid_fills_retrieved_shortfall_from_synthetic(records, dataset):
    mined, synthetic = records
    instances, stats = mix([mined[7]], synthetic, "hybrid", ratio=1.0, num_negatives=4, seed=0)
    # want 2 + 2; only 1 retrieved and 1 synthetic exist -> 2 negatives, nothing to fill from
    assert _sources(instances[0]) == {"synthetic": 1, "bm25": 1} and stats["short"] == 1
    extra = _synthetic(dataset, mined[7], 3, 60)
    instances, stats = mix([mined[7]], synthetic + extra, "hybrid", ratio=1.0, num_negatives=4, seed=0)
    assert _sources(instances[0]) == {"synthetic": 3, "bm25": 1} and instances[0].filled == 1


def test_synthetic_matched_by_query_when_positive_unknown(records, dataset):
    mined, _ = records
    per_query = _synthetic(dataset, mined[0], 2, 80, positive_id="")
    stray = [SyntheticNegative(**{**per_query[0].model_dump(), "query_id": "no-such-query"})]
    instances, stats = mix(mined[:1], per_query + stray, "synthetic", num_negatives=2)
    assert _sources(instances[0]) == {"synthetic": 2}
    assert stats["synthetic_unmatched"] == 1


def test_direct_mixes_at_dataset_level(records):
    mined, synthetic = records
    full = mined[:6]
    instances, stats = mix(full, synthetic, "direct", ratio=0.7, num_negatives=K, seed=3)
    kinds = [set(_sources(i)) for i in instances]
    assert all(k in ({"synthetic"}, {"bm25"}) for k in kinds)
    assert sum(k == {"synthetic"} for k in kinds) == round(6 * 0.7 / 1.7) == stats["synthetic_instances"]
    # an all-synthetic instance whose synthetic pool is short is filled from the retrieved pool
    instances, stats = mix(mined[6:8], synthetic, "direct", ratio=100.0, num_negatives=K, seed=3)
    assert [i.filled for i in instances] == [3, 1]


@pytest.mark.parametrize("strategy, source", [("synthetic", "synthetic"), ("retrieved", "bm25")])
def test_single_pool_strategies_never_fill(records, strategy, source):
    mined, synthetic = records
    instances, stats = mix(mined, synthetic, strategy, num_negatives=K, seed=0)
    assert all(set(_sources(i)) == {source} and i.filled == 0 for i in instances)
    assert stats["filled"] == 0
    assert stats["empty"] == (2 if strategy == "synthetic" else 1)


def test_random_negatives_avoid_every_positive(dataset):
    multi = [q for q in dataset.qrels if len(dataset.positives(q)) > 1][:3]
    mined = _mined(dataset, multi, [0] * 3)
    instances, stats = mix(mined, [], "random", num_negatives=5, seed=2, corpus=dataset)
    assert len(instances) == len(mined)
    for instance in instances:
        ids = [n.doc_id for n in instance.negatives]
        assert len(set(ids)) == 5 and not set(ids) & set(dataset.positives(instance.query_id))
        assert all(n.source == "random" and n.text == dataset.doc_text(n.doc_id) for n in instance.negatives)
    with pytest.raises(SynegError, match="corpus"):
        mix(mined, [], "random")


def test_mixing_is_deterministic_per_seed_and_epoch(records):
    mined, synthetic = records

    def texts(**kw):
        return [[n.text for n in i.negatives] for i in mix(mined, synthetic, "hybrid", num_negatives=K, **kw)[0]]

    assert texts(seed=5, epoch=0) == texts(seed=5, epoch=0)
    assert texts(seed=5, epoch=1) != texts(seed=5, epoch=0)
    assert texts(seed=6, epoch=0) != texts(seed=5, epoch=0)
    # an instance's draw does not depend on which other instances are mixed with it
    alone = mix(mined[2:3], synthetic, "hybrid", num_negatives=K, seed=5)[0][0]
    assert [n.text for n in alone.negatives] == texts(seed=5, epoch=0)[2]


def test_retrieved_negatives_keep_their_tags(records):
    mined, synthetic = records
    instances, _ = mix(mined[:1], synthetic, "retrieved", num_negatives=K)
    originals = {n.doc_id: n for n in mined[0].negatives}
    for negative in instances[0].negatives:
        assert negative == originals[negative.doc_id]


def test_bad_arguments(records):
    mined, synthetic = records
    for kwargs in ({"strategy": "bogus"}, {"ratio": -1}, {"num_negatives": 0}, {"num_negatives": 1001}):
        with pytest.raises(SynegError):
            mix(mined, synthetic, **{"strategy": "hybrid", **kwargs})


@pytest.fixture(scope="module")
def mixed(records):
    mined, synthetic = records
    return mix(mined, synthetic, "hybrid", num_negatives=K, seed=0)[0]


def test_export_jsonl_formats(mixed, tmp_path):
    from datasets import load_dataset as hf_load

    info = export(mixed, tmp_path / "st.jsonl", "sentence-transformers")
    assert info["k"] == K and info["rows"] == len(mixed) and info["padded"] == 1
    st = hf_load("json", data_files=str(tmp_path / "st.jsonl"), split="train")
    assert st.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    short = next(i for i in mixed if len(i.negatives) == 2)
    row = st[mixed.index(short)]
    assert row["anchor"] == short.query and row["negative_3"] == short.negatives[0].text  # padded by cycling
    export(mixed, tmp_path / "st.parquet", "sentence-transformers")
    assert hf_load("parquet", data_files=str(tmp_path / "st.parquet"), split="train").num_rows == len(mixed)

    export(mixed, tmp_path / "flag.jsonl", "flagembedding")
    flag = [json.loads(line) for line in (tmp_path / "flag.jsonl").read_text().splitlines()]
    assert set(flag[0]) == {"query", "pos", "neg", "type"}  # no teacher scores in these records
    assert [len(r["neg"]) for r in flag] == [len(i.negatives) for i in mixed]

    export(mixed, tmp_path / "tev.jsonl", "tevatron")
    tev = [json.loads(line) for line in (tmp_path / "tev.jsonl").read_text().splitlines()]
    assert set(tev[0]) == {"query_id", "query", "positive_passages", "negative_passages"}
    passage = tev[0]["negative_passages"][0]
    assert set(passage) == {"docid", "title", "text"} and passage["docid"]
    assert tev[0]["positive_passages"][0]["docid"] == mixed[0].positive_id

    export(mixed, tmp_path / "train.jsonl", "syneg")
    assert read_records(tmp_path / "train.jsonl", TrainingInstance) == mixed


@pytest.mark.slow
def test_cli_mix_hf_dataset_with_card(records, tmp_path):
    from datasets import load_dataset as hf_load

    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic)
    out = tmp_path / "hf"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl",
                     "--num-negatives", K, "--format", "hf-dataset", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "1 instances had no negative" in result.stderr
    ds = hf_load(str(out), split="train")
    assert ds.num_rows == len(mined) - 1 and ds.column_names[-1] == f"negative_{K}"
    card = (out / "README.md").read_text()
    assert '"strategy": "hybrid"' in card and "(no statistics found)" in card  # hand-made inputs have none
    stats = json.loads((tmp_path / "hf.stats.json").read_text())
    assert stats["by_source"] == {"bm25": 16, "synthetic": 7}


@pytest.mark.slow
def test_cli_mix_card_has_the_real_stages_statistics(small_slice, tmp_path):
    """Stats come from real `syneg mine` and `syneg synthesize` runs, where those commands write them."""
    mined, synthetic = tmp_path / "mined.jsonl", tmp_path / "synthetic.jsonl"
    result = run_cli("mine", "--data", small_slice, "--max-queries", "4", "--num-negatives", "3", "--out", mined)
    assert result.returncode == 0, result.stderr
    with FakeOpenAI() as server:
        result = run_cli("synthesize", "--data", small_slice, "--mined", mined, "--backend", "openai", "--model", "fake",
                         "--base-url", server.base_url, "--no-guard", "--out", synthetic)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", mined, "--synthetic", synthetic, "--num-negatives", "2", "--ratio", "1",
                     "--format", "hf-dataset", "--out", tmp_path / "hf")
    assert result.returncode == 0, result.stderr
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "(no statistics found)" not in card
    assert '"retriever": "bm25"' in card and '"model": "openai:fake"' in card and '"prompt_version"' in card
    assert not out.exists()


@pytest.mark.slow
def test_cli_mix_errors(records, tmp_path):
    mined, _ = records
    write_jsonl(tmp_path / "mined.jsonl", mined[:2])
    with (tmp_path / "mined.jsonl").open("a") as handle:
        handle.write('{"query_id": "x"}\n')
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--strategy", "retrieved", "--out", out)
    assert result.returncode == 2 and "mined.jsonl:3" in result.stderr and not out.exists()
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--out", out)
    assert result.returncode == 2 and "needs --synthetic" in result.stderr


class _Reiterable:
    """Mined instances made anew on each pass; counts how many made in the drawing pass are still alive."""

    def __init__(self, rows):
        self.rows, self.passes, self.most_alive = [r.model_dump_json() for r in rows], 0, 0

    def __iter__(self):
        import weakref

        self.passes += 1
        made = []
        for row in self.rows:
            made = [ref for ref in made if ref() is not None]
            self.most_alive = max(self.most_alive, len(made)) if self.passes > 1 else 0
            instance = MinedInstance.model_validate_json(row)
            made.append(weakref.ref(instance))
            yield instance


@pytest.mark.parametrize("strategy", ["hybrid", "direct", "synthetic", "retrieved", "random"])
def test_streamed_mix_writes_the_same_bytes_and_stats(records, dataset, strategy, tmp_path):
    from syneg.io import RecordFile
    from syneg.mixing import Mixing

    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic)
    instances, stats = mix(mined, synthetic, strategy, num_negatives=K, seed=3, corpus=dataset)
    mixing = Mixing(RecordFile(tmp_path / "mined.jsonl", MinedInstance),
                    RecordFile(tmp_path / "synthetic.jsonl", SyntheticNegative), strategy, num_negatives=K, seed=3,
                    corpus=dataset)
    write_jsonl(tmp_path / "listed.jsonl", instances)
    write_jsonl(tmp_path / "streamed.jsonl", mixing)
    assert (tmp_path / "streamed.jsonl").read_bytes() == (tmp_path / "listed.jsonl").read_bytes()
    assert mixing.stats == stats and stats["instances"] == len(instances) > 0


def test_streamed_mix_holds_one_mined_instance_at_a_time(records, tmp_path):
    from syneg.mixing import Mixing

    mined, synthetic = records
    source = _Reiterable(mined)
    mixing = Mixing(source, synthetic, "hybrid", num_negatives=K)
    with pytest.raises(RuntimeError, match="drawn"):
        _ = mixing.stats
    assert write_jsonl(tmp_path / "train.jsonl", mixing) == mixing.stats["instances"]
    assert source.passes == 2 and source.most_alive <= 1  # only the instance being drawn (and none kept)
    held = _Reiterable(mined)
    list(held)
    kept = list(held)  # a reader that keeps them (as read_records did) is seen
    assert held.most_alive == len(kept) - 1


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["syneg", "flagembedding"])
def test_mix_with_no_instance_fails(tmp_path, records, fmt):
    mined, _ = records
    write_jsonl(tmp_path / "none.jsonl", [mined[8]])  # the one pair without any negative
    (tmp_path / "empty.jsonl").write_text("")
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "none.jsonl", "--strategy", "retrieved", "--format", fmt,
                     "--out", out)
    assert result.returncode == 2 and not out.exists() and "Traceback" not in result.stderr
    assert "error: the retrieved strategy gave none of the 1 mined pairs a negative" in result.stderr
    result = run_cli("mix", "--mined", tmp_path / "empty.jsonl", "--strategy", "retrieved", "--format", fmt,
                     "--out", out)
    assert result.returncode == 2 and not out.exists()
    assert f"error: nothing to mix: {tmp_path / 'empty.jsonl'} has no mined instance" in result.stderr
    with pytest.raises(SynegError, match="none of the 1 mined pairs"):
        mix([mined[8]], [], "retrieved")


@pytest.mark.slow
@pytest.mark.parametrize("epoch", ["-1", "1000001"])
def test_mix_epoch_is_bounded(tmp_path, records, epoch):
    write_jsonl(tmp_path / "mined.jsonl", records[0])
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--strategy", "retrieved", "--epoch", epoch,
                     "--out", tmp_path / "train.jsonl")
    assert result.returncode == 2 and "--epoch" in result.stderr and not (tmp_path / "train.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_mix_refuses_non_finite_scores(tmp_path, records, value):
    mined, _ = records
    write_jsonl(tmp_path / "mined.jsonl", mined[:3])
    rows = (tmp_path / "mined.jsonl").read_text().splitlines()
    rows[1] = json.dumps({**json.loads(rows[1]), "positive_score": 12345.678}).replace("12345.678", value)
    (tmp_path / "mined.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--strategy", "retrieved", "--out", out)
    assert result.returncode == 2 and not out.exists()
    assert "mined.jsonl:2: invalid MinedInstance: positive_score: Input should be a finite number" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("ratio", ["1e308", "1000001", "inf"])
def test_mix_ratio_is_bounded(tmp_path, records, ratio):
    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic)
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl",
                     "--ratio", ratio, "--out", out)
    assert result.returncode == 2 and "error: --ratio: Input should be" in result.stderr and not out.exists()
    with pytest.raises(SynegError, match="--ratio must be a number from 0 to 1e"):
        mix(mined, synthetic, "hybrid", ratio=float(ratio))


def _negatives(row, count):
    return [{**row["negatives"][0], "rank": 1 + i % 100} for i in range(count)]


@pytest.mark.slow
@pytest.mark.parametrize("field, change", [
    ("negatives.0.rank", lambda row: {**row, "negatives": [{**row["negatives"][0], "rank": 10**40}]}),
    ("negatives.0.rank", lambda row: {**row, "negatives": [{**row["negatives"][0], "rank": -3}]}),
    ("negatives.0.rank", lambda row: {**row, "negatives": [{**row["negatives"][0], "rank": 0}]}),
    ("shortfall", lambda row: {**row, "shortfall": 10**30}),
    ("shortfall", lambda row: {**row, "shortfall": -1}),
    ("negatives", lambda row: {**row, "negatives": _negatives(row, 3200)}),
    ("extra_positives", lambda row: {**row, "extra_positives": _negatives(row, 1001)}),
], ids=["rank-huge", "rank-negative", "rank-zero", "shortfall-huge", "shortfall-negative", "3200-negatives",
        "1001-extra-positives"])
def test_mix_refuses_mined_numbers_out_of_bounds(tmp_path, records, field, change):
    write_jsonl(tmp_path / "mined.jsonl", records[0][:3])
    rows = (tmp_path / "mined.jsonl").read_text().splitlines()
    rows[1] = json.dumps(change(json.loads(rows[1])))  # was: exit 0, rank 10^40 copied into train.jsonl
    (tmp_path / "mined.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--strategy", "retrieved", "--out", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr and not out.exists(), result.stderr
    assert f"mined.jsonl:2: invalid MinedInstance: {field}" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("change", [
    lambda row: {**row, "attributes": {f"a{i}": "x" for i in range(65)}},
    lambda row: {**row, "teacher_score": 1e400},  # read as infinity
], ids=["65-attributes", "score-overflow"])
def test_mix_refuses_synthetic_rows_out_of_bounds(tmp_path, records, change):
    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic[:3])
    rows = (tmp_path / "synthetic.jsonl").read_text().splitlines()
    rows[2] = json.dumps(change(json.loads(rows[2])))
    (tmp_path / "synthetic.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl",
                     "--out", out)
    assert result.returncode == 2 and not out.exists(), result.stderr
    assert "synthetic.jsonl:3: invalid SyntheticNegative:" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("field, change", [
    ("filled", lambda row: {**row, "filled": 10**40}),
    ("filled", lambda row: {**row, "filled": -2}),
    ("negatives", lambda row: {**row, "negatives": _negatives(row, 1001)}),
    ("negatives.0.rank", lambda row: {**row, "negatives": [{**row["negatives"][0], "rank": 10**6}]}),
])
def test_train_refuses_training_numbers_out_of_bounds(tmp_path, mixed, field, change):
    write_jsonl(tmp_path / "train.jsonl", mixed[:2])
    rows = (tmp_path / "train.jsonl").read_text().splitlines()
    rows[0] = json.dumps(change(json.loads(rows[0])))
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    result = run_cli("train", "--train", tmp_path / "train.jsonl", "--out", tmp_path / "model")
    assert result.returncode == 2 and not (tmp_path / "model").exists(), result.stderr
    assert f"train.jsonl:1: invalid TrainingInstance: {field}" in result.stderr


def test_mix_keeps_at_most_the_bounded_extra_positives(records):
    from syneg.records import MAX_EXTRA_POSITIVES

    mined, synthetic = records
    relabelled = [synthetic[0].model_copy(update={"label": "positive", "key": f"p{i}"})
                  for i in range(MAX_EXTRA_POSITIVES + 5)]  # was: a ValidationError traceback past the bound
    instances, _ = mix(mined[:1], [*synthetic, *relabelled], "hybrid", num_negatives=K)
    assert len(instances[0].extra_positives) == MAX_EXTRA_POSITIVES


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["hybrid", "direct", "synthetic"])
def test_mix_with_an_empty_synthetic_file_fails(tmp_path, records, strategy):
    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    (tmp_path / "synthetic.jsonl").write_text("\n")
    out = tmp_path / "train.jsonl"
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl",
                     "--strategy", strategy, "--out", out)
    assert result.returncode == 2 and not out.exists() and "Traceback" not in result.stderr, result.stderr
    assert (f"error: nothing to mix: {tmp_path / 'synthetic.jsonl'} gives the {strategy} strategy no synthetic "
            "negative (it holds no synthetic negative)") in result.stderr, result.stderr
    foreign = [s.model_copy(update={"query_id": "not-mined"}) for s in synthetic[:3]]
    with pytest.raises(SynegError, match="none of its 3 synthetic negatives belongs to a mined query"):
        mix(mined, foreign, strategy)
    assert mix(mined, [], "hybrid", ratio=0)[0]  # R = 0 asks for no synthetic negative


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["--ratio", "-0.5"], "--ratio: Input should be greater than or equal to 0"),
    (["--ratio", "nan"], "--ratio: Input should be a finite number"),
    (["--num-negatives", "0"], "--num-negatives: Input should be greater than 0"),
])
def test_mix_refuses_bad_option(tmp_path, args, message):
    result = run_cli("mix", "--mined", tmp_path / "missing.jsonl", "--strategy", "retrieved",
                     "--out", tmp_path / "train.jsonl", *args)
    _assert_cli_error(result, message)
