"""The queries stage: LLM-written training queries (style, prompt, checks, planning, the runner's query task,
round trip, training pairs, the pipeline on a corpus-only folder and the CLI)."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from synth_fake_server import FakeOpenAI, _completion

from conftest import run_cli, write_beir
from syneg import layout
from syneg.config import DataConfig, QueriesConfig, RunConfig, SynthesizeConfig, load_config
from syneg.data import BeirDataset, Document, load_beir, load_unlabelled
from syneg.errors import SynegError
from syneg.io import read_records
from syneg.queries import generate_queries, plan, with_generated
from syneg.queries.checks import check_query, copies_opening
from syneg.queries.planning import eligible_documents
from syneg.queries.prompt import DEMO_QUERIES, TASKS, build_messages
from syneg.queries.roundtrip import source_ranks
from syneg.queries.style import derive_style, query_type
from syneg.records import GeneratedQuery
from syneg.sharding import Shard, merge_shards

CORPUS = [
    {"_id": "a1", "title": "Zinc and the common cold",
     "text": "Zinc lozenges taken within a day of symptom onset shortened colds by two days in a trial of adults."},
    {"_id": "a2", "title": "Sleep and memory",
     "text": "Students deprived of sleep recalled fewer word pairs the next morning than rested students did."},
    {"_id": "a3", "title": "Coffee and arrhythmia",
     "text": "Daily coffee intake was not associated with atrial fibrillation in a cohort of forty thousand nurses."},
    {"_id": "a4", "title": "Short", "text": "Too short."},
]


def corpus_dataset() -> BeirDataset:
    corpus = {row["_id"]: Document(row["title"], row["text"]) for row in CORPUS}
    return BeirDataset(Path("."), "train", corpus, {}, {})


class QueryServer(FakeOpenAI):
    """A loopback OpenAI-compatible server that answers every query call with a query built from its document:
    words 9, 4, 12 and 6 of it (not a contiguous run), as a claim; replies below ``truncate_below`` max_tokens are
    cut off (finish_reason length)."""

    def respond(self, body: dict, headers: dict | None = None):
        document = body["messages"][-1]["content"].split("\n")[0].removeprefix("Document: ")
        words = [w.strip(".,;:") for w in document.split()]
        text = " ".join(words[i] for i in (9, 4, 12, 6) if i < len(words)) + " are linked in adults."
        content, finish = json.dumps({"query": text}), "stop"
        if body.get("max_tokens", body.get("max_completion_tokens", 0)) < self.truncate_below:
            content, finish = content[: len(content) // 2], "length"
        with self.lock:
            self.log.append({"body": body, "status": 200, "fault": None, "time": 0.0})
        return 200, {}, _completion(body, content, finish)


def llm(server: FakeOpenAI) -> SynthesizeConfig:
    return SynthesizeConfig(backend="openai", model="fake", base_url=server.base_url, server="generic")


# --- style -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind", [
    ("Does zinc shorten colds?", "question"), ("what causes gout", "question"),
    ("zinc cold duration", "keywords"), ("Zinc lozenges shorten the common cold in adults.", "claim"),
    ("0-dimensional biomaterials lack inductive properties.", "claim"),
])
def test_query_type(text, kind):
    assert query_type(text) == kind


def test_style_is_derived_from_the_dataset_queries_else_uniform():
    claims = ["Zinc shortens colds in adults.", "Coffee does not cause atrial fibrillation in nurses."]
    style = derive_style(claims + ["Does sleep help memory?"])
    assert style.shares == pytest.approx({"claim": 2 / 3, "question": 1 / 3})
    assert style.lengths["claim"] == (5, 8) and style.source == "dataset (3 queries)"
    assert derive_style(claims, ["question", "keywords"]).source == "default"  # no query of the types asked
    default = derive_style([])
    assert default.shares == pytest.approx({"claim": 1 / 3, "question": 1 / 3, "keywords": 1 / 3})
    draws = {default.sample(random.Random(seed))[0] for seed in range(60)}
    assert draws == {"claim", "question", "keywords"}


# --- prompt ------------------------------------------------------------------------------------------------------
def test_the_shared_turns_do_not_depend_on_the_document_or_type():
    first, second = build_messages("Zinc and colds.", "claim", 12), build_messages("Sleep.", "keywords", 3)
    assert first[:-1] == second[:-1]  # the batched engine decodes them once
    assert "Zinc and colds." in first[-1]["content"] and "keywords, about 3 words" in second[-1]["content"]


def test_sentence_types_may_only_close_after_their_punctuation():
    claim = re.compile(TASKS["claim"].schema["properties"]["query"]["pattern"])
    question = re.compile(TASKS["question"].schema["properties"]["query"]["pattern"])
    assert claim.match("Zinc shortens colds.") and not claim.match("Zinc shortens colds")
    assert question.match("Does zinc work?") and not question.match("Does zinc work.")
    assert "pattern" not in TASKS["keywords"].schema["properties"]["query"]
    assert len({task.schema_text() for task in TASKS.values()}) == 3  # the schema is part of every key


def test_the_pattern_becomes_a_llama_cpp_grammar():
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    text = grammar.LlamaGrammar.from_json_schema(TASKS["claim"].schema_text(), verbose=False)._grammar
    assert '[.!?] "\\""' in text


# --- checks ------------------------------------------------------------------------------------------------------
DOC = "Zinc and the common cold. Zinc lozenges taken within a day of symptom onset shortened colds by two days."


@pytest.mark.parametrize("query, kind, reason", [
    ("Zinc lozenges shorten colds in adults.", "claim", None),
    ("zinc colds", "keywords", None),
    ("Zinc colds.", "claim", "too_short"),
    ("zinc " * 40 + "colds.", "claim", "too_long"),
    ("zinc " * 32 + "colds", "keywords", "too_long"),
    ("zinc " * 27 + "colds", "keywords", None),  # a long phrase asked as keywords is kept (SmolLM2 writes them)
    ("Does zinc shorten colds in adults.", "question", "not_a_question"),
    ("Zinc lozenges shorten colds in the", "claim", "unfinished"),
    ("Zinc lozenges shorten colds in adults...", "claim", "unfinished"),
    ("This study shows zinc shortens colds.", "claim", "meta"),
    ("Zinc lozenges taken within a day of symptom onset.", "claim", "copied_opening"),
    (DEMO_QUERIES[0], "claim", "demo"),
    ("Zinc lozenges shorten colds in adults!", "claim", "duplicate"),
])
def test_check_query(query, kind, reason):
    assert check_query(query, kind, 12, DOC, {"zinc lozenges shorten colds in adults"} if reason == "duplicate" else set()) == reason


def test_a_copy_is_a_contiguous_run_of_the_opening_only():
    assert copies_opening("the common cold zinc", DOC)  # 3 of 4 words in one run... and 4 of 4
    assert not copies_opening("colds shortened by zinc lozenges", DOC)


# --- planning ----------------------------------------------------------------------------------------------------
def test_short_documents_are_never_asked_about_and_the_sample_is_seeded():
    dataset = corpus_dataset()
    config = QueriesConfig(min_doc_words=10)
    assert eligible_documents(dataset, config, 0) == ["a1", "a2", "a3"]
    one = QueriesConfig(min_doc_words=10, max_docs=2)
    picks = {tuple(eligible_documents(dataset, one, seed)) for seed in range(12)}
    assert all(len(p) == 2 for p in picks) and len(picks) > 1
    assert eligible_documents(dataset, one, 3) == eligible_documents(dataset, one, 3)


def test_each_document_draws_its_own_type_and_length():
    dataset = corpus_dataset()
    config = QueriesConfig(min_doc_words=10, per_doc=2)
    items, _, _ = plan(dataset, config, SynthesizeConfig(backend="openai", model="m"), seed=5)
    fewer, _, _ = plan(dataset, config.model_copy(update={"max_docs": 1}), SynthesizeConfig(backend="openai", model="m"), 5)
    by_key = {item.key: item for item in items}
    assert len(items) == 6 and len(by_key) == 6 and {i.query_id for i in items} >= {"gq:a1:0", "gq:a1:1"}
    assert all(item.key in by_key for item in fewer)  # the same call whatever else is planned
    assert all(item.task is TASKS[item.query_type] for item in items)


# --- generation through the runner (a loopback server) ------------------------------------------------------------
def test_generate_queries_keeps_checks_and_caches(tmp_path):
    dataset = corpus_dataset()
    config = QueriesConfig(min_doc_words=10, types=["claim"], round_trip_k=1)
    out = tmp_path / "queries.jsonl"
    with QueryServer() as server:
        stats = generate_queries(dataset, config, llm(server), out, progress=False)
        requests = len(server.log)
        again = generate_queries(dataset, config, llm(server), out, progress=False)
        assert len(server.log) == requests  # every reply came from the cache
    queries = read_records(out, GeneratedQuery)
    assert stats["items"] == 3 and stats["kept"] == len(queries) == again["kept"] > 0
    assert all(q.round_trip_rank == 1 and q.query_type == "claim" and q.text.endswith(".") for q in queries)
    assert {q.doc_id for q in queries} <= {"a1", "a2", "a3"} and again["run"]["cached"] == 3
    assert stats["round_trip"]["retriever"] == "bm25" and stats["examples"]["kept"]
    body = server.log[0]["body"]
    assert body["response_format"]["json_schema"]["schema"] == TASKS["claim"].schema


def test_a_query_cut_off_at_max_tokens_fails_without_more_room(tmp_path):
    dataset = corpus_dataset()
    out = tmp_path / "queries.jsonl"
    with QueryServer(truncate_below=1000) as server:
        stats = generate_queries(dataset, QueriesConfig(min_doc_words=10, types=["claim"]), llm(server), out,
                                 progress=False)
        assert len(server.log) == 3  # one request per item: queries are not widened
    assert stats["kept"] == 0 and stats["drops"]["call"] == {"truncated": 3}
    rows = [json.loads(line) for line in layout.side_file(out, layout.FAILED_SUFFIX).read_text().splitlines()]
    assert {row["reason"] for row in rows} == {"truncated"} and len(rows) == 3


def test_the_report_shows_kept_and_dropped_queries(tmp_path):
    from syneg.report.generated import generated_queries
    from syneg.report.runfiles import RunFiles

    config = QueriesConfig(min_doc_words=10, types=["claim"], round_trip_k=1)
    with QueryServer() as server:
        generate_queries(corpus_dataset(), config, llm(server), tmp_path / layout.QUERIES, progress=False)
    with QueryServer(truncate_below=1000) as server:  # another run's drops, for the dropped table
        generate_queries(corpus_dataset(), config, llm(server), tmp_path / "cut.jsonl", progress=False)
    html = generated_queries(RunFiles(tmp_path))
    kept = read_records(tmp_path / layout.QUERIES, GeneratedQuery)
    assert "round-trip rank" in html and kept[0].text.split()[0] in html
    assert "no generated queries" in generated_queries(RunFiles(tmp_path / "cut-only"))


def test_round_trip_drops_queries_whose_document_is_not_found(tmp_path):
    corpus = corpus_dataset().corpus
    ranks = source_ranks(corpus, ["zinc lozenges colds", "sleep deprived students recall", "zinc lozenges colds"],
                         ["a1", "a2", "a3"], depth=1)
    assert ranks == [1, 1, None]


def test_shards_merge_into_the_unsharded_output(tmp_path):
    dataset = corpus_dataset()
    config = QueriesConfig(min_doc_words=10, types=["claim"], round_trip_k=1)
    with QueryServer() as server:
        whole = tmp_path / "whole.jsonl"
        generate_queries(dataset, config, llm(server), whole, progress=False)
        parts = [tmp_path / f"part{i}.jsonl" for i in (1, 2)]
        for index, part in enumerate(parts, 1):
            generate_queries(dataset, config, llm(server), part, progress=False, shard=Shard(index, 2))
    merge_shards(list(reversed(parts)), tmp_path / "merged.jsonl")
    assert (tmp_path / "merged.jsonl").read_bytes() == whole.read_bytes()
    failed = layout.side_file(whole, layout.FAILED_SUFFIX).read_bytes()
    assert layout.side_file(tmp_path / "merged.jsonl", layout.FAILED_SUFFIX).read_bytes() == failed


# --- training pairs and the run config ----------------------------------------------------------------------------
def generated(doc_id: str, k: int = 0) -> GeneratedQuery:
    return GeneratedQuery(query_id=f"gq:{doc_id}:{k}", text=f"query about {doc_id}.", doc_id=doc_id,
                          query_type="claim", words_asked=5, model="m", prompt_version="v", key=f"k{doc_id}{k}")


def test_generated_queries_become_pairs_alone_or_beside_the_qrels(beir_dir):
    dataset = load_beir(beir_dir, "train")
    alone = with_generated(dataset, [generated("d3")], "generated")
    assert alone.queries == {"gq:d3:0": "query about d3."} and alone.qrels == {"gq:d3:0": {"d3": 1}}
    both = with_generated(dataset, [generated("d3")], "both")
    assert set(both.queries) == {"q1", "q2", "gq:d3:0"} and both.positives("q1") == ["d1"]
    with pytest.raises(SynegError, match="not in the corpus"):
        with_generated(dataset, [generated("elsewhere")], "generated")
    with pytest.raises(SynegError, match="no training pair"):
        with_generated(dataset, [], "generated")


def corpus_only(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in CORPUS))
    return root


def test_a_folder_with_only_a_corpus_trains_on_generated_queries(tmp_path, beir_dir):
    folder = corpus_only(tmp_path / "corpus")
    data = DataConfig(path=str(folder))
    assert data.pairs() == "generated" and not data.can_evaluate() and not data.depends_on_run_seed()
    assert data.load_split("train", 0).corpus.keys() == {"a1", "a2", "a3", "a4"}
    assert DataConfig(path=str(folder), eval_path=str(beir_dir), dev_fraction=None, eval_split="train").can_evaluate()
    labelled = DataConfig(path=str(beir_dir))
    assert labelled.pairs() == "qrels" and labelled.can_evaluate()
    assert DataConfig(path=str(beir_dir), train_pairs="both").pairs() == "both"
    assert load_unlabelled(folder).queries == {}


def test_the_pipeline_runs_the_queries_stage_only_for_generated_pairs(tmp_path, beir_dir):
    from syneg.pipeline import Pipeline

    folder = corpus_only(tmp_path / "corpus")
    names = lambda cfg: [s.name for s in Pipeline(cfg).active_stages()]  # noqa: E731
    assert names(load_config(None, [f"data.path={folder}", "mix.strategy=retrieved"])) == \
        ["queries", "mine", "mix", "diagnose", "train"]
    assert names(load_config(None, [f"data.path={beir_dir}", "mix.strategy=retrieved"]))[0] == "mine"
    both = load_config(None, [f"data.path={beir_dir}", "data.train_pairs=both", "mix.strategy=retrieved"])
    assert names(both) == ["queries", "mine", "mix", "diagnose", "train", "evaluate"]
    pipeline = Pipeline(both)
    key = pipeline.stage_key(pipeline.active_stages()[0])
    changed = both.model_copy(update={"synthesize": both.synthesize.model_copy(update={"per_query": 3})})
    assert Pipeline(changed).stage_key(Pipeline(changed).active_stages()[0]) == key  # a negative-prompt setting
    hotter = both.model_copy(update={"synthesize": both.synthesize.model_copy(update={"temperature": 0.2})})
    assert Pipeline(hotter).stage_key(Pipeline(hotter).active_stages()[0]) != key


def test_stage_keys_hold_only_the_data_settings_of_the_split_they_read(beir_dir):
    """The queries stage reads the corpus: which pairs train, or where the evaluation is, does not rerun it;
    the carve does. Mining reads the training pairs: the evaluation folder does not rerun it."""
    from syneg.pipeline import Pipeline

    def key(overrides: list[str], stage: str) -> str:
        pipeline = Pipeline(load_config(None, [f"data.path={beir_dir}", "mix.strategy=retrieved", *overrides]))
        return pipeline.stage_key(next(s for s in pipeline.active_stages() if s.name == stage))

    both = key(["data.train_pairs=both"], "queries")
    assert key(["data.train_pairs=generated", "data.eval_split=test", f"data.eval_path={beir_dir}"], "queries") == both
    assert key(["data.train_pairs=both", "data.dev_fraction=0.5"], "queries") != both
    assert key(["data.train_pairs=auto"], "mine") == key(["data.train_pairs=qrels", f"data.eval_path={beir_dir}"], "mine")
    assert key(["data.train_pairs=both"], "mine") != key(["data.train_pairs=qrels"], "mine")
    assert key([], "evaluate") != key([f"data.eval_path={beir_dir}"], "evaluate")


def test_run_config_refuses_repeated_query_types():
    with pytest.raises(SynegError, match="each query type once"):
        load_config(None, ["queries.types=[claim, claim]"])
    assert RunConfig().queries.round_trip_k == 3


# --- the command line and the whole run (real SmolLM2) ------------------------------------------------------------
@pytest.mark.slow
def test_cli_generates_queries_with_the_embedded_llm(tmp_path):
    folder = corpus_only(tmp_path / "corpus")
    out = tmp_path / "q.jsonl"
    result = run_cli("generate-queries", "--data", folder, "--out", out, "--min-doc-words", "10")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["command"] == "generate-queries" and summary["items"] == 3
    stats = layout.read_stats(out)
    assert stats["model"].startswith("llamacpp:") and stats["run"]["calls"] >= 3
    for query in read_records(out, GeneratedQuery):
        assert query.doc_id in {"a1", "a2", "a3"} and query.round_trip_rank is not None
    again = run_cli("generate-queries", "--data", folder, "--out", out, "--min-doc-words", "10")
    assert again.returncode == 0 and layout.read_stats(out)["run"]["calls"] == 0  # resumed from the cache


@pytest.mark.slow
def test_cli_exports_query_requests_as_a_batch(tmp_path):
    folder = corpus_only(tmp_path / "corpus")
    requests = tmp_path / "requests.jsonl"
    result = run_cli("generate-queries", "--data", folder, "--out", tmp_path / "q.jsonl", "--min-doc-words", "10",
                     "--backend", "openai", "--model", "gpt-x", "--export-batch", requests, "--set",
                     "queries.types=[question]")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in requests.read_text().splitlines()]
    assert len(lines) == 3 and lines[0]["body"]["model"] == "gpt-x"
    schema = lines[0]["body"]["response_format"]["json_schema"]["schema"]
    assert schema == TASKS["question"].schema


@pytest.mark.slow
def test_syneg_run_on_a_corpus_alone_trains_and_skips_evaluation(tmp_path, small_slice):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(small_slice / "corpus.jsonl", folder / "corpus.jsonl")
    budget = ["--set", "queries.max_docs=12", "--set", "mix.strategy=retrieved", "--set", "train.max_steps=1",
              "--set", "train.batch_size=4"]
    result = run_cli("run", "--data", folder, "--run-dir", tmp_path / "run", *budget)
    assert result.returncode == 0, result.stderr
    assert "evaluation skipped" in result.stderr and "--eval-data" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stages"] == ["queries", "mine", "mix", "diagnose", "train"]
    assert (tmp_path / "run" / layout.MODEL).is_dir()
    mined = read_records(tmp_path / "run" / layout.MINED, __import__("syneg.records").records.MinedInstance)
    assert mined and all(m.query_id.startswith("gq:") for m in mined)
    evaluated = run_cli("run", "--data", folder, "--run-dir", tmp_path / "run", "--eval-data", small_slice,
                        "--set", "data.eval_split=train", *budget)
    assert evaluated.returncode == 0, evaluated.stderr
    for stage in ("queries", "mine"):  # an evaluation folder changes neither the corpus nor the training pairs
        assert f"[{stage}] complete, skipped" in evaluated.stderr, evaluated.stderr
    assert "nDCG@10" in json.loads(evaluated.stdout.strip().splitlines()[-1])["trained"]
