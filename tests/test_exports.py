"""Exports read back by the libraries that consume them: datasets / the Hub card, sentence-transformers,
FlagEmbedding's and Tevatron's documented readers; and the trained model's card."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import run_cli, write_beir
from synth_fake_server import RewritingOpenAI, echo_key_spelled
from syneg.data import BeirDataset, load_dataset
from syneg.io import read_records, write_jsonl
from syneg.layout import write_stats
from syneg.mixing import ExportOptions, export, fixed_negatives, mix
from syneg.mixing.exports.card import DataTerms, size_category
from syneg.mixing.exports.groups import passage_id
from syneg.mixing.exports.provenance import attribute_summary
from syneg.records import MinedInstance, Negative, SyntheticNegative, TrainingInstance

K = 3
GENERATION = {"model": "openai:gpt-test", "prompt_version": "v7", "mode": "grounded", "items": 8, "kept": 6,
              "pass_rate": 0.75, "guard": {"enabled": True, "margin": 0.1, "floor": 0.5}}


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(scope="module")
def records(dataset):
    """Two queries with two positives each (sharing negatives), four with one; teacher scores on all."""
    multi = [q for q in dataset.qrels if len(dataset.positives(q)) > 1][:2]
    single = [q for q in dataset.qrels if len(dataset.positives(q)) == 1][:4]
    doc_ids = sorted(dataset.corpus)
    mined, synthetic = [], []
    for i, qid in enumerate(multi + single):
        others = [d for d in doc_ids[i * 7:] if d not in dataset.positives(qid)][:3]
        for pid in dataset.positives(qid)[:2]:
            negatives = [Negative(text=dataset.doc_text(d), source="bm25", doc_id=d, score=9.0 - r, rank=r + 1,
                                  teacher_score=0.5 - r / 10) for r, d in enumerate(others)]
            mined.append(MinedInstance(query_id=qid, query=dataset.queries[qid], positive_id=pid,
                                       positive=dataset.doc_text(pid), positive_teacher_score=0.9,
                                       negatives=negatives))
            synthetic.append(SyntheticNegative(
                query_id=qid, positive_id=pid, text=f"A written passage {i} that nearly answers: {dataset.queries[qid]}",
                reasoning="r", attributes={"level": "a domain expert", "length": "shorter than"}, model="openai:gpt-test",
                prompt_version="v7", key=f"k{i}-{pid}", teacher_score=0.6, positive_teacher_score=0.9))
    return mined, synthetic


@pytest.fixture(scope="module")
def mixed(records):
    mined, synthetic = records
    return mix(mined, synthetic, "hybrid", ratio=0.5, num_negatives=K, seed=0)


def test_mix_keeps_the_positive_teacher_score(records, mixed):
    instances, _ = mixed
    assert instances and all(i.positive_teacher_score == 0.9 for i in instances)
    assert {n.source for i in instances for n in i.negatives} == {"bm25", "synthetic"}


# --- Hugging Face dataset folder -------------------------------------------------------------------


def test_hf_dataset_folder_loads_with_load_dataset_and_has_a_valid_card(records, mixed, tmp_path):
    from datasets import load_dataset as hf_load
    from huggingface_hub import DatasetCard

    instances, stats = mixed
    provenance = {"mix": stats, "mine": None, "synthesize": GENERATION, "attributes": attribute_summary(records[1])}
    out = tmp_path / "hf"
    info = export(instances, out, "hf-dataset", ExportOptions(provenance=provenance, terms=DataTerms.of(None)))
    rows = hf_load(str(out), split="train")
    assert rows.num_rows == info["rows"] == len(instances)
    for row, instance in zip(rows, instances):
        negatives = [n.text for n in fixed_negatives(instance.negatives, info["k"])]
        scores = [instance.positive_teacher_score, *(n.teacher_score for n in fixed_negatives(instance.negatives, info["k"]))]
        assert row == {"anchor": instance.query, "positive": instance.positive,
                       **{f"negative_{j + 1}": text for j, text in enumerate(negatives)}, "label": scores}
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["size_categories"] == ["n<1K"] and data["license"] == ["cc-by-4.0", "odc-by"]
    assert data["language"] == "en" and "sentence-similarity" in data["task_categories"]
    assert {"sentence-transformers", "hard-negatives", "syneg"} <= set(data["tags"])
    assert data["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    for fact in ("`openai:gpt-test`", "prompt `v7`", "keep rate 0.75", "margin 0.1, floor 0.5", "strategy `hybrid`",
                 "attribute `level`"):
        assert fact in card.text
    again = tmp_path / "again" / "hf"  # same folder name, other rows: not served from datasets' cache
    export(instances[1:], again, "hf-dataset", ExportOptions(provenance=provenance))
    assert hf_load(str(again), split="train")["anchor"] == [i.query for i in instances[1:]]
    mode = 0o777 & ~_umask()
    assert out.stat().st_mode & 0o777 == mode and (out / "data").stat().st_mode & 0o777 == mode
    assert (out / "data" / "train-00000-of-00001.parquet").stat().st_mode & 0o777 == mode & 0o666


@pytest.mark.slow
def test_hub_export_of_a_run_holds_no_echoed_key_and_no_local_path(tmp_path, monkeypatch):
    """A server that echoes the API key in successful replies, JSON-escaped or percent-encoded; the data in a
    local folder: neither the key (in any spelling) nor a machine path reaches the exports or their stats."""
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard

    key = "zq-ECHOED-key-5d2e8a41"  # no known key shape: only the configured key's value can mask it
    spellings = (key, "\\u007aq-ECHOED-key-5d2e8a41", "zq-%45CHOED-key-5d2e8a41")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    corpus = [{"_id": "d1", "title": "Vitamin D", "text": "Vitamin D deficiency is linked to bone loss."},
              {"_id": "d2", "title": "Statins", "text": "Statins lower LDL cholesterol."},
              {"_id": "d3", "title": "", "text": "Vitamin supplements and sleep quality in older adults."},
              {"_id": "d4", "title": "", "text": "Muscle pain in older adults taking statins every day."}]
    data = write_beir(tmp_path / "my-private-data", corpus=corpus)  # every query has a BM25 negative
    mined, synthetic = tmp_path / "mined.jsonl", tmp_path / "synthetic.jsonl"
    assert run_cli("mine", "--data", data, "--num-negatives", "2", "--relative-margin", "0", "--out", mined).returncode == 0
    with RewritingOpenAI(echo_key_spelled) as server:
        made = run_cli("synthesize", "--data", data, "--mined", mined, "--backend", "openai", "--model", "fake",
                       "--base-url", server.base_url, "--mode", "free", "--no-guard", "--out", synthetic)
    assert made.returncode == 0 and server.ok_bodies(), made.stderr
    assert "The access key *** appears" in synthetic.read_text()
    for fmt, out in (("hf-dataset", tmp_path / "hf"), ("tevatron-v2", tmp_path / "tev"),
                     ("syneg", tmp_path / "train.jsonl")):
        mixed = run_cli("mix", "--data", data, "--mined", mined, "--synthetic", synthetic, "--strategy", "hybrid",
                        "--format", fmt, "--out", out)
        assert mixed.returncode == 0, mixed.stderr
    table = pq.read_table(tmp_path / "hf" / "data" / "train-00000-of-00001.parquet").to_pylist()
    assert any("The access key *** appears" in v for row in table for v in row.values() if isinstance(v, str))
    assert not any(spelled in str(row) for row in table for spelled in spellings)
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or not any(s.encode() in path.read_bytes() for s in spellings), path
    card = DatasetCard.load(tmp_path / "hf" / "README.md").text
    assert '"data": "my-private-data"' in card and str(tmp_path) not in card
    for stats in tmp_path.glob("*.stats.json"):  # inputs recorded relative to the stats, the data by name
        assert str(tmp_path) not in stats.read_text(), stats
    assert json.loads((tmp_path / "hf.stats.json").read_text())["inputs"] == {"mined": "mined.jsonl",
                                                                             "synthetic": "synthetic.jsonl"}


def test_cards_cut_local_paths_to_their_names(tmp_path):
    from syneg.mixing.exports.provenance import provenance_lines, stats_details
    from syneg.training.card import card_section

    local = tmp_path / "models" / "my-teacher"
    provenance = {"mix": {"strategy": "hybrid", "inputs": {"mined": str(tmp_path / "mined.jsonl")}},
                  "mine": {"settings": {"data": str(tmp_path / "beir"), "model": str(local), "retriever": "dense"},
                           "instances": 2},
                  "synthesize": {**GENERATION, "model": f"llama_cpp:{local}.gguf",
                                 "failures": {"server": "http://127.0.0.1:8080/v1"}}}
    summary = {"steps": 1, "data": {"rows": 2, "k": 1}, "config": {"temperature": 0.05}}
    text = "\n".join([*provenance_lines(provenance), *stats_details(provenance), card_section(provenance, summary)])
    assert str(tmp_path) not in text and "/models/" not in text
    for shown in ('"data": "beir"', "model `my-teacher`", "`llama_cpp:my-teacher.gguf`", '"mined": "mined.jsonl"',
                  '"server": "http://127.0.0.1:8080/v1"'):
        assert shown in text, shown


def test_card_terms_and_size_labels(tmp_path):
    assert [size_category(n) for n in (1, 999, 1_000, 9_999, 10_000, 250_000, 3_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"]
    assert DataTerms.of(tmp_path).license == "unknown" and DataTerms.of(tmp_path).source_datasets is None
    assert DataTerms.of(tmp_path, "mit", "de") == DataTerms("mit", "de", None)


def _push(tmp_path, records, env):
    mined, _ = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    command = [sys.executable, "-m", "syneg", "mix", "--mined", str(tmp_path / "mined.jsonl"), "--strategy",
               "retrieved", "--format", "hf-dataset", "--out", str(tmp_path / "hf"), "--push-to-hub", "me/negatives"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"},
                                 {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_x"}])
def test_push_to_hub_without_network_is_one_clear_line(records, tmp_path, env):
    result = _push(tmp_path, records, env)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # above it: datasets' parquet progress bar
    assert last.startswith("error: --push-to-hub me/negatives: upload failed") and "upload" not in result.stderr[:-len(last) - 1]
    assert (tmp_path / "hf" / "README.md").is_file()  # the local folder is complete


@pytest.mark.slow
def test_format_only_options_are_refused_elsewhere(records, tmp_path):
    write_jsonl(tmp_path / "mined.jsonl", records[0])
    for option in (["--push-to-hub", "me/x"], ["--query-prompt", "q: "], ["--group-positives"], ["--license", "mit"]):
        result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--strategy", "retrieved", "--format", "syneg",
                         "--out", tmp_path / "t.jsonl", *option)
        assert result.returncode == 2 and f"{option[0]} applies to --format" in result.stderr
    assert not (tmp_path / "t.jsonl").exists()


# --- sentence-transformers -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("suffix, builder", [(".jsonl", "json"), (".parquet", "parquet")])
def test_sentence_transformers_export_trains_with_mnrl(mixed, tmp_path, suffix, builder):
    from datasets import load_dataset as hf_load
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from syneg.models import fresh_encoder

    out = tmp_path / f"st{suffix}"
    export(mixed[0], out, "sentence-transformers")
    train = hf_load(builder, data_files=str(out), split="train")
    # every passage has a teacher score here, so the rows carry them (distillation labels; MNRL ignores them)
    assert train.column_names == ["anchor", "positive", *(f"negative_{j + 1}" for j in range(K)), "label"]
    unscored = [mixed[0][0].model_copy(update={"positive_teacher_score": None}), *mixed[0][1:]]
    export(unscored, tmp_path / f"unscored{suffix}", "sentence-transformers")
    assert "label" not in hf_load(builder, data_files=str(tmp_path / f"unscored{suffix}"), split="train").column_names
    model = fresh_encoder(None, 32)
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path / "run"), max_steps=1, use_cpu=True,
                                                per_device_train_batch_size=4, report_to="none", save_strategy="no")
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=MultipleNegativesRankingLoss(model))
    assert trainer.train().global_step == 1


# --- FlagEmbedding ---------------------------------------------------------------------------------


def flag_read(path, knowledge_distillation: bool, instruction: str = "default: "):
    """FlagEmbedding's AbsEmbedderTrainDataset, as documented: json rows; scores only for distillation."""
    from datasets import load_dataset as hf_load

    data = hf_load("json", data_files=str(path), split="train")
    if knowledge_distillation:
        assert {"pos_scores", "neg_scores"} <= set(data.column_names)
    items = []
    for row in data:
        assert isinstance(row["pos"], list) and isinstance(row["neg"], list)
        query = "{}{}".format(row["prompt"] if "prompt" in row else instruction, row["query"])
        scores = None
        if knowledge_distillation:
            scores = row["pos_scores"] + row["neg_scores"]
            assert all(isinstance(s, (int, float)) for s in scores) and len(scores) == len(row["pos"] + row["neg"])
        items.append((query, row["pos"], row["neg"], scores, row.get("type")))
    return items


def test_flagembedding_rows_as_flagembedding_reads_them(mixed, tmp_path):
    instances, _ = mixed
    export(instances, tmp_path / "flag.jsonl", "flagembedding", ExportOptions(query_prompt="Find evidence: "))
    for (query, pos, neg, scores, kind), instance in zip(flag_read(tmp_path / "flag.jsonl", True), instances):
        assert query == "Find evidence: " + instance.query and pos == [instance.positive] and kind == "normal"
        assert neg == [n.text for n in instance.negatives]
        assert scores == [instance.positive_teacher_score, *(n.teacher_score for n in instance.negatives)]

    unscored = [instances[0].model_copy(update={"positive_teacher_score": None}), *instances[1:]]
    export(unscored, tmp_path / "some.jsonl", "flagembedding")
    lines = [json.loads(line) for line in (tmp_path / "some.jsonl").read_text().splitlines()]
    assert "pos_scores" not in lines[0] and "neg_scores" not in lines[0] and "prompt" not in lines[0]
    assert "neg_scores" in lines[1] and all(None not in row.values() for row in lines)
    assert [item[0] for item in flag_read(tmp_path / "some.jsonl", False)][0] == "default: " + instances[0].query


def test_flagembedding_groups_a_querys_positives(dataset, mixed, tmp_path):
    instances, _ = mixed
    export(instances, tmp_path / "grouped.jsonl", "flagembedding", ExportOptions(group_positives=True))
    rows = flag_read(tmp_path / "grouped.jsonl", True)
    by_query = {}
    for instance in instances:
        by_query.setdefault(instance.query_id, []).append(instance)
    assert len(rows) == len(by_query) < len(instances)
    for (query, pos, neg, scores, _), group in zip(rows, by_query.values()):
        assert query == "default: " + group[0].query and pos == [i.positive for i in group]
        pooled = list(dict.fromkeys(n.text for i in group for n in i.negatives))
        assert neg == pooled and not set(neg) & set(pos)
        assert len(scores) == len(pos) + len(neg)
    assert any(len(pos) == 2 for _, pos, *_ in rows)


# --- Tevatron --------------------------------------------------------------------------------------


def tevatron_read(train_path, corpus_path):
    """Tevatron's TrainDataset (current format): query rows of document ids, resolved in the corpus."""
    from datasets import load_dataset as hf_load

    corpus = hf_load("json", data_files=str(corpus_path), split="train")
    docid_to_index = {docid: index for index, docid in enumerate(corpus["docid"])}
    assert len(docid_to_index) == corpus.num_rows  # ids are unique

    def document(docid):
        info = corpus[docid_to_index[docid]]
        assert info["docid"] == docid
        return info["title"], info["text"]

    return [(row["query_id"], row["query_text"], [document(d) for d in row["positive_document_ids"]],
             [document(d) for d in row["negative_document_ids"]])
            for row in hf_load("json", data_files=str(train_path), split="train")]


def _split(dataset: BeirDataset, negative: Negative) -> tuple[str, str]:
    if negative.doc_id is None:
        return "", negative.text
    return dataset.corpus[negative.doc_id].title, dataset.corpus[negative.doc_id].text


def test_tevatron_v2_folder_as_tevatron_reads_it(dataset, mixed, tmp_path):
    instances, _ = mixed
    out = tmp_path / "tev"
    info = export(instances, out, "tevatron-v2", ExportOptions(corpus=dataset.corpus))
    assert info["corpus_misses"] == 0 and out.stat().st_mode & 0o777 == 0o777 & ~_umask()
    rows = tevatron_read(out / "train.jsonl", out / "corpus.jsonl")
    assert len(rows) == len(instances)
    for (qid, query, positives, negatives), instance in zip(rows, instances):
        assert (qid, query) == (instance.query_id, instance.query)
        doc = dataset.corpus[instance.positive_id]
        assert positives == [(doc.title, doc.text)] and doc.title
        assert negatives == [_split(dataset, n) for n in instance.negatives]
    again = tmp_path / "again"
    export(instances, again, "tevatron-v2", ExportOptions(corpus=dataset.corpus))
    assert (again / "corpus.jsonl").read_text() == (out / "corpus.jsonl").read_text()  # stable ids
    written = next(n for i in instances for n in i.negatives if n.doc_id is None)
    assert passage_id(written) in (out / "train.jsonl").read_text()


def test_tevatron_classic_keeps_titles_apart(dataset, mixed, tmp_path):
    instances, _ = mixed
    export(instances, tmp_path / "tev.jsonl", "tevatron", ExportOptions(corpus=dataset.corpus))
    for line, instance in zip((tmp_path / "tev.jsonl").read_text().splitlines(), instances):
        row = json.loads(line)
        positive = row["positive_passages"][0]
        assert positive["docid"] == instance.positive_id and positive["title"]
        assert positive["title"] + " " + positive["text"] == instance.positive  # Tevatron's title + ' ' + text
        assert [(p["title"], p["text"]) for p in row["negative_passages"]] == [
            _split(dataset, n) for n in instance.negatives]
    info = export(instances, tmp_path / "plain.jsonl", "tevatron")  # no corpus: whole texts, misses counted
    assert info["corpus_misses"] == sum(1 + sum(n.doc_id is not None for n in i.negatives) for i in instances)


@pytest.mark.slow
def test_cli_mix_tevatron_v2_and_grouped_flagembedding(records, tmp_path):
    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic)
    common = ("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl", "-k", K)
    result = run_cli(*common, "--format", "tevatron-v2", "--out", tmp_path / "tev")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "tev").iterdir()) == ["corpus.jsonl", "train.jsonl"]
    stats = json.loads((tmp_path / "tev.stats.json").read_text())
    assert stats["export"]["corpus_misses"] == 0 and stats["export"]["documents"] > len(mined)
    result = run_cli(*common, "--format", "flagembedding", "--group-positives", "--query-prompt", "Q: ",
                     "--out", tmp_path / "flag.jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "flag.jsonl").read_text().splitlines()]
    assert len(rows) == len({m.query_id for m in mined}) and all(r["prompt"] == "Q: " for r in rows)


# --- the trained model's card ----------------------------------------------------------------------


@pytest.mark.slow
def test_trained_model_card_has_the_negatives_provenance(dataset, records, tmp_path):
    from syneg.config import TrainConfig
    from syneg.training import train
    from syneg.training.card import SECTION_TITLE, read_provenance

    mined, synthetic = records
    write_jsonl(tmp_path / "mined.jsonl", mined)
    write_stats(tmp_path / "mined.jsonl", {"settings": {"retriever": "bm25", "top_k": 30, "data": str(tmp_path / "beir"),
                                                        "teacher": {"model": str(tmp_path / "teachers" / "mini")}},
                                           "instances": len(mined),
                                           "queries": 6, "score_source": "teacher"})
    write_jsonl(tmp_path / "synthetic.jsonl", synthetic)
    write_stats(tmp_path / "synthetic.jsonl", GENERATION)
    result = run_cli("mix", "--mined", tmp_path / "mined.jsonl", "--synthetic", tmp_path / "synthetic.jsonl",
                     "-k", K, "--out", tmp_path / "train.jsonl")
    assert result.returncode == 0, result.stderr
    qids = list(dataset.qrels)[100:103]
    keep = {d for q in qids for d in dataset.positives(q)} | set(sorted(dataset.corpus)[:20])
    small = BeirDataset(path=dataset.path, split="small", corpus={d: dataset.corpus[d] for d in keep},
                        queries={q: dataset.queries[q] for q in qids}, qrels={q: dataset.qrels[q] for q in qids})
    config = TrainConfig(batch_size=4, max_steps=1, max_seq_length=32)
    instances = read_records(tmp_path / "train.jsonl", TrainingInstance)
    train(instances, config, tmp_path / "model", small, provenance=read_provenance(tmp_path / "train.jsonl"))
    card = (tmp_path / "model" / "README.md").read_text()
    assert "library_name: sentence-transformers" in card  # sentence-transformers' own card is kept
    section = card[card.index(SECTION_TITLE):]
    for fact in ("strategy `hybrid`", "retriever `bm25`", "LLM `openai:gpt-test`", "keep rate 0.75",
                 "attribute `level`", "| nDCG@10 |", "(3 queries)", "teacher `mini`"):
        assert fact in section
    assert str(tmp_path) not in card and os.environ["SYNEG_CACHE_DIR"] not in card  # no machine path
