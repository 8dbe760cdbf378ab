"""The HTML report holds the run's config, statistics, examples, plots and metrics."""

from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conftest import run_cli  # noqa: E402
from report_run import FAILED_RAW, SYNTHETIC_TEXT, make_full_run  # noqa: E402
from syneg.data import load_dataset  # noqa: E402
from syneg.evaluation.bootstrap import paired_bootstrap  # noqa: E402
from syneg.io import write_json, write_jsonl  # noqa: E402
from syneg.layout import write_stats  # noqa: E402
from syneg.report import render_report  # noqa: E402


def make_run(root):
    root.mkdir()
    (root / "config.yaml").write_text("seed: 0\nmix:\n  strategy: hybrid\n")
    write_json(root / "metrics.json", {"trained": {"nDCG@10": 0.7123}, "zero_shot": {"nDCG@10": 0.65}})
    write_jsonl(root / "synthetic.jsonl", [{"query_id": "42", "text": "A <b>passage</b> about mice.",
                                            "reasoning": "Shares terms but studies mice.",
                                            "attributes": {"domain": "oncology", "length": "shorter than"},
                                            "teacher_score": 0.5, "positive_teacher_score": 0.8}])
    write_stats(root / "synthetic.jsonl", {"calls": 10, "guard_drops": {"false_negative": 3}})
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    fig.savefig(root / "loss.png")
    plt.close(fig)


def test_report_contents(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    result = run_cli("report", run)
    assert result.returncode == 0, result.stderr
    page = (run / "report.html").read_text()
    assert "strategy: hybrid" in page and "0.7123" in page and "guard_drops.false_negative" in page
    assert "domain: oncology</span><span class=tag>length: shorter than" in page
    assert "Shares terms but studies mice." in page
    assert "A &lt;b&gt;passage&lt;/b&gt; about mice." in page  # LLM text is escaped, never raw HTML
    assert "data:image/png;base64," in page and "loss.png" in page


def test_report_rejects_non_run(tmp_path):
    result = run_cli("report", tmp_path)
    assert result.returncode == 2 and "not a run directory" in result.stderr
    assert not (tmp_path / "report.html").exists()


def section(page: str, anchor: str) -> str:
    match = re.search(rf"<section id='{anchor}'>(.*?)</section>", page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def test_headline_compares_zero_shot_and_trained_with_a_bootstrap_interval(tmp_path):
    run = make_full_run(tmp_path / "run")
    headline = section(render_report(run), "headline")
    per_query = json.loads((run / "per_query.json").read_text())
    ci = paired_bootstrap(per_query["zero_shot"], per_query["trained"])
    metrics = json.loads((run / "metrics.json").read_text())
    row = re.search(r"<th>nDCG@10</th>(.*?)</tr>", headline).group(1)
    assert f"{metrics['zero_shot']['nDCG@10']:.4f}" in row and f"{metrics['trained']['nDCG@10']:.4f}" in row
    assert f"[{ci.low:+.4f}, {ci.high:+.4f}]" in row and f"{metrics['delta']['nDCG@10']:+.4f}" in row
    assert "<th>R@100</th>" in headline and "<th>queries</th>" not in headline
    assert "60 queries of split dev" in headline and "2,000 resamples" in headline


def test_stage_timings_in_stage_order(tmp_path):
    timings = section(render_report(make_full_run(tmp_path / "run")), "timings")
    names = re.findall(r"<tr><td>(\w+)</td>", timings)
    assert names == ["mine", "synthesize", "mix", "diagnose", "train", "evaluate"]
    assert "95.0" in timings and "149.5" in timings


def test_wins_and_losses_show_the_query_text(tmp_path):
    run = make_full_run(tmp_path / "run")
    queries = section(render_report(run), "queries")
    per_query = json.loads((run / "per_query.json").read_text())
    change = {q: per_query["trained"][q] - v for q, v in per_query["zero_shot"].items()}
    best, worst = max(change, key=change.get), min(change, key=change.get)
    texts = load_dataset(None, "dev", 0.3, 0).queries
    wins, losses = queries.split("Largest losses")
    assert f"<td>{best}</td><td>{texts[best]}</td>" in wins.replace("&#x27;", "'")
    assert f"<td>{worst}</td><td>{texts[worst]}</td>" in losses.replace("&#x27;", "'")
    assert wins.count("<tr><td>") == 10 and losses.count("<tr><td>") == 10


def test_wins_and_losses_fall_back_to_ids_when_the_data_is_gone(tmp_path):
    run = make_full_run(tmp_path / "run", data_path=str(tmp_path / "moved-away"))
    queries = section(render_report(run), "queries")
    assert "query text unavailable" in queries and "moved-away" in queries
    per_query = json.loads((run / "per_query.json").read_text())
    best = max(per_query["trained"], key=lambda q: per_query["trained"][q] - per_query["zero_shot"][q])
    assert f"<td>{best}</td><td>–</td>" in queries


def test_negatives_side_by_side_for_the_same_query(tmp_path):
    negatives = section(render_report(make_full_run(tmp_path / "run")), "negatives")
    cards = negatives.split("<div class=card>")[1:]
    assert len(cards) == 3
    for card in cards:
        mined, synthetic = card.split("<b>synthetic (LLM)</b>")
        assert "<span class=tag>bm25</span>" in mined and "positive:</b>" in mined
        assert "Shares terms but studies mice." in synthetic and "domain: oncology" in synthetic
    assert SYNTHETIC_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in negatives
    assert "<b>passage</b> about" not in negatives


def test_rejected_negatives_by_stage_and_reason(tmp_path):
    rejected = section(render_report(make_full_run(tmp_path / "run")), "rejected")
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td class=num>(\d+)</td>", rejected)
    assert rows == [("validate", "unparseable", "2"), ("call", "timeout", "1"), ("guard", "false_negative", "1")]
    assert FAILED_RAW not in rejected and "&lt;script&gt;" in rejected
    assert "no reply in 60 s" in rejected and "teacher score 0.910" in rejected


def test_curves_hardness_and_folded_details(tmp_path):
    page = render_report(make_full_run(tmp_path / "run"))
    training, hardness = section(page, "training"), section(page, "hardness")
    assert training.count("<svg") == 2 and "training loss" in training
    assert "model/training.png" in training and "data:image/png;base64," in training
    assert "<svg" in hardness and re.findall(r"<tr><td>(\w+)</td><td class=num>", hardness) == ["bm25", "synthetic"]
    details = section(page, "details")
    assert details.startswith("<h2>Details</h2><details><summary>Configuration</summary><pre>")
    assert "<summary>Stage statistics</summary>" in details and "guard_drops.false_negative" in details
    assert page.index("id='headline'") < page.index("id='details'")
