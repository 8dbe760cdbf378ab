"""Passages that read like the corpus (#26): lengths enforced by the output schema, continue mode (the opening
of a mined negative, then the model's text), sample-then-select and the quality block of the stats."""

from __future__ import annotations

import json
import re

import pytest
from test_synthesis_backends import HAS_LLAMA_CPP, _bm25_mined

from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.io import read_records
from syneg.records import SyntheticNegative
from syneg.synthesis import synthesize
from syneg.synthesis.attributes import LENGTHS
from syneg.synthesis.cache import CachedResult, ResultCache
from syneg.synthesis.finalize import Outcome, collect, select_hardest
from syneg.synthesis.length import char_bounds, chars_per_word, opening, sentences
from syneg.synthesis.planning import Pair, plan_items
from syneg.synthesis.quality import quality

MINED = ("Statin therapy and muscle symptoms in older adults. We followed 812 patients for two years. "
         "Myalgia was reported by 9% of them. Creatine kinase levels did not differ between arms.")
POSITIVE = " ".join(["Atorvastatin lowered LDL cholesterol by 40% in a randomized trial of adults."] * 12)


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(None, "train")


def _pairs(n: int = 3) -> list[Pair]:
    return [Pair(f"q{i}", "Statins cause muscle pain in older adults.", f"p{i}", POSITIVE, (("d1", MINED), ("d2", MINED)))
            for i in range(n)]


def _bounds(item) -> tuple[int, int]:
    low, high = re.search(r"\{(\d+),(\d+)\}\[\.!\?\]\$$", item.task.schema["properties"]["passage"]["pattern"]).groups()
    return int(low), int(high)


def test_an_opening_is_whole_sentences_within_its_budget_and_share():
    assert sentences(MINED)[1] == "We followed 812 patients for two years."
    assert opening(MINED, 16) == "Statin therapy and muscle symptoms in older adults. We followed 812 patients for two years."
    assert opening(MINED, 5) == "Statin therapy and muscle symptoms"  # the first sentence is longer: its first words
    assert len(opening(MINED, 1000).split()) <= 0.6 * len(MINED.split())  # never most of the mined passage


def test_character_bounds_are_bucketed_around_the_words_asked():
    low, high = char_bounds(100, 6.5)
    assert low % 20 == high % 20 == 0 and low <= 0.8 * 650 < 1.25 * 650 <= high
    assert char_bounds(1, 6.0) == (40, 60)  # never below the floor, never empty
    assert char_bounds(100, 6.5, max_tokens=256) == (440, 460)  # the bound fits the reply's tokens


def test_every_mode_enforces_the_length_in_the_schema_and_continue_opens_with_the_mined_passage():
    free = plan_items(_pairs(), SynthesizeConfig(mode="free"), "m", ["statin"], seed=0)
    for item in free:
        low, high = _bounds(item)
        words = int(item.attributes["words"])
        assert item.opening is None and (low, high) == char_bounds(words, chars_per_word(POSITIVE), 384)
    items = plan_items(_pairs(), SynthesizeConfig(mode="continue"), "m", ["statin"], seed=0)
    for item in items:
        assert item.opening and MINED.startswith(item.opening) and item.source_doc_id in ("d1", "d2")
        assert f"Opening of a retrieved passage (related, but not an answer): {item.opening}" in item.messages[-1]["content"]
        total = len(POSITIVE.split()) * LENGTHS[item.attributes["length"]]
        asked = int(item.attributes["words"])
        assert abs(asked + len(item.opening.split()) - total) <= 0.6 * total  # opening + text ~ the target length
    assert len({item.key for item in items} | {item.key for item in free}) == 6


def _cached(tmp_path, items, passages) -> ResultCache:
    cache = ResultCache(tmp_path / "cache.sqlite")
    for item, passage in zip(items, passages):
        reply = json.dumps({"reasoning": "It stays on statins but reports a side outcome only.", "passage": passage})
        cache.put(CachedResult(item.key, item.key, reply, "stop", {"completion_tokens": 50}, 0.1, 1))
    return cache


def test_calls_start_from_the_first_mined_passages_or_from_a_seeded_draw_over_all_of_them():
    mined = tuple((f"d{n}", f"Passage number {n} opens here. " + MINED) for n in range(8))
    pairs = [Pair(f"q{i}", "Statins cause muscle pain in older adults.", f"p{i}", POSITIVE, mined) for i in range(30)]

    def sources(choice: str, seed: int = 0) -> list[str]:
        items = plan_items(pairs, SynthesizeConfig(mode="continue", per_query=2, source=choice), "m", ["statin"], seed)
        for item in items:  # the opening is the chosen passage's
            assert item.opening.startswith(f"Passage number {item.source_doc_id[1:]} opens here.")
        return [item.source_doc_id for item in items]

    assert sources("first") == ["d0", "d1"] * len(pairs)  # the mined file's order: best-scored first
    drawn = sources("random")
    assert drawn == sources("random") and drawn != sources("random", seed=1)  # seeded per pair
    assert all(a != b for a, b in zip(drawn[::2], drawn[1::2]))  # a pair's calls take distinct passages
    assert set(drawn) == {f"d{n}" for n in range(8)}  # from the whole list, not its top


def test_a_continuation_is_joined_to_its_opening_and_one_that_repeats_it_is_dropped(tmp_path):
    items = plan_items(_pairs(2), SynthesizeConfig(mode="continue"), "m", ["statin"], seed=0)
    written = ("Serum vitamin D was measured at baseline and after one year, and dose changes were made by the "
               "treating physicians. Adherence was high in both arms, and dropouts were balanced between sites.")
    items += plan_items([Pair("q9", "Statins cause muscle pain.", "p9", POSITIVE, (("d3", MINED),))],
                        SynthesizeConfig(mode="continue"), "m", ["statin"], seed=0)
    replies = [written, items[1].opening + " " + items[1].opening, "It goes on with statins. " + written]
    with _cached(tmp_path, items, replies) as cache:
        outcome = collect(items, cache, "m")
    [kept] = outcome.negatives
    assert kept.text == f"{items[0].opening} {written}" and kept.mode == "continue" and kept.source_doc_id == "d1"
    assert outcome.drops["validate"] == {"repeats_opening": 1, "meta_text": 1}


def _negative(pair: str, key: str, score: float, label: str = "negative") -> SyntheticNegative:
    return SyntheticNegative(query_id=pair, positive_id="p", text=f"text {key}", reasoning="r", attributes={},
                             model="m", prompt_version="v", key=key, teacher_score=score, label=label)


def test_select_keeps_each_pairs_hardest_negatives_and_every_relabelled_positive():
    items = plan_items([Pair(q, "query", "p", POSITIVE) for q in ("a", "b")], SynthesizeConfig(mode="free", per_query=3),
                       "m", ["statin"], seed=0)
    keys = [item.key for item in items]
    outcome = Outcome(negatives=[_negative("a", keys[0], 0.5), _negative("a", keys[1], 0.7),
                                 _negative("a", keys[2], 0.9, "positive"), _negative("b", keys[3], 0.4)])
    select_hardest(outcome, items, 1)
    assert [n.key for n in outcome.negatives] == [keys[1], keys[2], keys[3]]  # corpus order kept
    assert outcome.drops["select"] == {"not_selected": 1} and outcome.rejected[0]["key"] == keys[0]


def test_quality_gives_the_length_ratio_the_cost_and_the_share_each_check_rejected():
    items = plan_items([Pair("a", "query", "p", POSITIVE)], SynthesizeConfig(mode="free", per_query=4), "m", ["x"], 0)
    half = " ".join(POSITIVE.split()[: len(POSITIVE.split()) // 2])
    outcome = Outcome(negatives=[_negative("a", items[0].key, 0.5).model_copy(update={"text": half})])
    outcome.drops["validate"]["too_short"] = 3
    stats = quality(outcome, items, elapsed_s=8.0)
    assert stats["length_ratio"]["median"] == 0.5 and stats["samples_per_kept"] == 4 and stats["seconds_per_kept"] == 8
    assert stats["rejected_share"] == {"validate.too_short": 0.75}


def test_select_needs_the_guard():
    with pytest.raises(ValueError, match="needs guard: true"):
        SynthesizeConfig(select=1, guard=False)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'syneg[llm]')")
def test_smollm2_continuations_keep_to_the_enforced_length_and_end_a_sentence(dataset, tmp_path):
    mined = _bm25_mined(dataset, 3)
    config = SynthesizeConfig(mode="continue", limit=3, guard=False, max_tokens=384, batch_size=4)
    stats = synthesize(dataset, config, tmp_path / "out.jsonl", mined=mined, progress=False)
    assert stats["drops"]["call"] == {} and stats["quality"]["length_ratio"] is not None
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl.failed.jsonl").read_text().splitlines()]
    written = [json.loads(r["raw"])["passage"] for r in rows if r["raw"]]
    written += [n.text for n in read_records(tmp_path / "out.jsonl", SyntheticNegative)]
    assert len(written) == 3
    for text in written:
        assert text.rstrip()[-1] in ".!?" and len(text.split()) >= 20  # the schema kept the model writing


def test_the_report_gives_the_kept_negatives_length_and_cost(tmp_path):
    from syneg import layout
    from syneg.report.rejected import rejected
    from syneg.report.runfiles import RunFiles

    out = tmp_path / layout.SYNTHETIC
    out.write_text(_negative("a", "k", 0.5).model_dump_json() + "\n")
    items = plan_items([Pair("a", "query", "p", POSITIVE)], SynthesizeConfig(mode="free", per_query=2), "m", ["x"], 0)
    half = " ".join(POSITIVE.split()[: len(POSITIVE.split()) // 2])
    block = quality(Outcome(negatives=[_negative("a", "k", 0.5).model_copy(update={"text": half})]), items, 3.0)
    layout.write_stats(out, {"mode": "continue", "quality": block})
    html = rejected(RunFiles(tmp_path))
    assert "median length 0.50 x their positive" in html and "2.00 calls and 3.00 s per kept negative" in html
    assert "mode continue" in html


@pytest.mark.parametrize("text", [
    "It shares APOE4 expression but does not share protein kinase A signalling with the model of disease in mice.",
    "Unlike the retrieved passage, this cohort of mice and rats was followed for two years with yearly biopsies.",
])
def test_commentary_on_the_passages_shown_is_meta_text(text):
    from syneg.synthesis.validate import check_passage

    assert check_passage(text, POSITIVE, "statins muscle pain") == "meta_text"
    assert check_passage("Muscle biopsies were taken yearly from 120 patients, and creatine kinase levels were "
                         "stable in both groups over the two years.", POSITIVE, "statins muscle pain") is None


SIDE_TOPICS = ("sampling methods and cohort recruitment", "laboratory logistics and storage of blood samples",
               "funding sources and ethics approval", "statistical power and missing data handling",
               "questionnaire design and interviewer training", "follow-up schedules and clinic visits")


@pytest.mark.slow
def test_synthesize_with_select_keeps_at_most_that_many_per_pair_and_counts_the_rest(dataset, tmp_path):
    from test_synthesis import ScriptedOpenAI, run

    script = [(f"Earlier surveys on this subject focused on {topic} rather than on the outcome itself, and the "
               f"authors describe {topic} in detail for later work in other regions.", "stop") for topic in SIDE_TOPICS]
    with ScriptedOpenAI(script) as server:
        stats, _ = run(dataset, server, tmp_path / "out.jsonl", guard=True, guard_floor=0.0, per_query=3, select=1,
                       limit=2, concurrency=1)
    kept = read_records(tmp_path / "out.jsonl", SyntheticNegative)
    assert stats["select"] == 1 and len(kept) == len({(n.query_id, n.positive_id) for n in kept}) == 2
    assert stats["drops"]["select"] == {"not_selected": 4} and stats["quality"]["samples_per_kept"] == 3
    rejected = [json.loads(line) for line in (tmp_path / "out.jsonl.failed.jsonl").read_text().splitlines()]
    for negative in kept:  # the hardest of its pair
        others = [r["teacher_score"] for r in rejected if r["query_id"] == negative.query_id]
        assert negative.teacher_score >= max(others)
