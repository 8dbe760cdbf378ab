"""The HTML report holds the run's config, statistics, examples, plots and metrics."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from conftest import run_cli  # noqa: E402
from report_run import FAILED_RAW, SYNTHETIC_TEXT, make_full_run  # noqa: E402

from syneg.data import load_dataset  # noqa: E402
from syneg.evaluation.bootstrap import paired_bootstrap  # noqa: E402
from syneg.io import write_json, write_jsonl  # noqa: E402
from syneg.layout import write_stats  # noqa: E402
from syneg.report import render_report, write_report  # noqa: E402


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_report_shows_no_machine_path_of_the_config(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    data = tmp_path / "private" / "beir"
    (run / "config.yaml").write_text(f"seed: 0\nrun_dir: {run}\ndata:\n  path: {data}\nmix:\n  strategy: hybrid\n")
    assert run_cli("report", run).returncode == 0
    page = (run / "report.html").read_text()
    assert str(tmp_path) not in page and "path: beir" in page


@pytest.mark.slow
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
    assert names == ["queries", "mine", "synthesize", "mix", "diagnose", "train", "evaluate"]  # queries: not run
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


# --- the report reads only the run's own regular files, within bounds ---------------------------------


SECRET = "TOPSECRET-d41d8"


def _outside(tmp_path):
    """Files outside the run that links in it point at: each holds the secret."""
    out = tmp_path / "outside"
    (out / "model").mkdir(parents=True)
    (out / "secret.jsonl").write_text(json.dumps({"query_id": "1", "query": SECRET, "negatives": [
        {"source": "bm25", "text": SECRET}]}) + "\n")
    (out / "secret.json").write_text(json.dumps({"trained": {SECRET: 1.0}, "zero_shot": {SECRET: 0.5}}))
    (out / "model" / "train_log.jsonl").write_text(json.dumps({"event": "step", "step": 1, "loss": SECRET}) + "\n")
    (out / "secret.png").write_bytes(SECRET.encode())
    (out / "mine.done.json").write_text(json.dumps({"seconds": 1.0, "finished": SECRET}))
    return out


@pytest.mark.slow
def test_report_skips_links_out_of_the_run_and_files_that_are_not_regular(tmp_path):
    import base64
    import os

    run, out = tmp_path / "run", _outside(tmp_path)
    make_run(run)
    (run / "metrics.json").unlink()
    links = {"mined.jsonl": out / "secret.jsonl", "metrics.json": out / "secret.json",
             "synthetic.jsonl.stats.json": out / "secret.json", "model": out / "model",
             "stolen.png": out / "secret.png", "null.png": "/dev/null", "stages": out}
    for name, target in links.items():
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(target)
    os.mkfifo(run / "per_query.json")  # opening a FIFO must not wait for a writer
    (run / "diagnostics.json").mkdir()
    (run / "loop.png").symlink_to("loop.png")
    (run / "copy.png").symlink_to("loss.png")  # a link that stays inside the run is read
    result = run_cli("report", run, timeout=120)
    assert result.returncode == 0, result.stderr
    page = (run / "report.html").read_text()
    encoded = base64.b64encode(SECRET.encode()).decode()
    assert SECRET not in page and encoded not in page
    assert "<h3>copy.png</h3><img" in page and "<h3>loss.png</h3><img" in page
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 10, result.stderr
    for name in ("mined.jsonl", "metrics.json", "synthetic.jsonl.stats.json", "stolen.png", "model/train_log.jsonl",
                 "stages/mine.done.json", "null.png"):
        assert f"{name}: skipped: a link that leads out of the run directory" in page
    for name in ("per_query.json", "diagnostics.json"):
        assert f"{name}: skipped: not a regular file" in page
    assert "loop.png: skipped: a link loop" in page and str(tmp_path) not in page
    assert "not yet evaluated" in section(page, "headline")


@pytest.mark.slow
def test_report_refuses_a_config_that_is_not_the_runs_own(tmp_path):
    run, out = tmp_path / "run", _outside(tmp_path)
    make_run(run)
    (run / "config.yaml").unlink()
    (run / "config.yaml").symlink_to(out / "secret.json")
    result = run_cli("report", run)
    assert result.returncode == 2 and "not a run directory" in result.stderr
    assert "leads out of the run directory" in result.stderr and SECRET not in result.stderr + result.stdout
    assert not (run / "report.html").exists()


def test_report_caps_what_it_reads_and_embeds(tmp_path):
    from syneg.report.markup import MAX_TABLE_ROWS
    from syneg.report.runfiles import MAX_FILE_BYTES, MAX_IMAGE_BYTES, MAX_ROWS

    run = tmp_path / "run"
    make_run(run)
    with (run / "big.png").open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_IMAGE_BYTES + 1)
    with (run / "mined.jsonl").open("wb") as handle:  # one line longer than a file may be
        handle.truncate(MAX_FILE_BYTES + 10)
    (run / "train.jsonl").write_text("{}\n" * (MAX_ROWS + 5))
    write_jsonl(run / "synthetic.jsonl.failed.jsonl", [{"stage": "validate", "reason": f"r{i}", "raw": "x" * 10_000}
                                                       for i in range(MAX_TABLE_ROWS + 50)])
    write_stats(run / "train.jsonl", {f"k{i}": "v" * 5000 for i in range(MAX_TABLE_ROWS + 7)})
    write_json(run / "per_query.json", {"zero_shot": {"q1": "x", "q2": 0.5}, "trained": {"q1": None, "q2": 0.7}})
    write_json(run / "metrics.json", {"trained": {"nDCG@10": "high", "R@100": 0.9}, "zero_shot": {"R@100": [1]}})
    page = html.unescape(render_report(run))
    assert f"big.png: skipped: larger than the report's limit of {MAX_IMAGE_BYTES:,} bytes" in page
    assert "mined.jsonl: read only its first 0 rows" in page
    assert f"train.jsonl: read only its first {MAX_ROWS:,} rows" in page
    rejected = section(page, "rejected")
    assert rejected.count("<tr><td>validate</td>") == MAX_TABLE_ROWS and "… 50 more rows not shown" in rejected
    assert f"{MAX_TABLE_ROWS + 50} items rejected" in rejected and "x" * 241 not in rejected
    details = section(page, "details")  # 207 keys and the output fingerprint
    assert "… 8 more rows not shown" in details and "v" * 1001 not in page
    assert len(page) < 2_000_000
    assert "1 queries: 1 improved" in section(page, "queries")


@pytest.mark.slow
def test_report_skips_hard_links_to_files_that_may_lie_outside_the_run(tmp_path):
    import os

    run, out = tmp_path / "run", _outside(tmp_path)
    make_run(run)
    for name, target in {"metrics.json": "secret.json", "mined.jsonl": "secret.jsonl"}.items():
        (run / name).unlink(missing_ok=True)
        os.link(out / target, run / name)
    (run / "per_query.json").write_text(json.dumps({"trained": {"q1": 0.5}, "zero_shot": {"q1": 0.4}}))
    result = run_cli("report", run)
    assert result.returncode == 0, result.stderr
    page = (run / "report.html").read_text()
    assert SECRET not in page and "0.7123" not in page
    for name in ("metrics.json", "mined.jsonl"):
        assert f"warning: {run}/{name}: skipped: a hard link" in result.stderr
        assert f"{name}: skipped: a hard link" in page
    (run / "config.yaml").unlink()
    os.link(out / "secret.json", run / "config.yaml")  # the tester's case: the config itself
    result = run_cli("report", run)
    assert result.returncode == 2 and "not a run directory" in result.stderr and "a hard link" in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.slow
def test_report_does_not_hash_a_huge_output_to_check_its_statistics(tmp_path):
    from syneg.report.runfiles import MAX_DIGEST_BYTES

    run = tmp_path / "run"
    make_run(run)
    with (run / "mined.jsonl").open("wb") as handle:  # sparse: 30 GB that would take minutes to hash
        handle.truncate(30 << 30)
    write_json(run / "mined.jsonl.stats.json", {"output_fingerprint": "abc", "queries": 7})
    write_json(run / "train.jsonl.stats.json", {"output_fingerprint": "abc", "instances": 5})  # no train.jsonl
    result = run_cli("report", run, timeout=60)
    assert result.returncode == 0, result.stderr
    details = section(html.unescape((run / "report.html").read_text()), "details")
    assert f"<summary>mine (not verified: mined.jsonl is larger than {MAX_DIGEST_BYTES:,} bytes)</summary>" in details
    assert "<summary>mix" not in details  # stats of an output that is not there are stale
    assert "<summary>synthesize</summary>" in details  # a matching digest: shown as it is


@pytest.mark.slow
def test_report_reads_only_the_query_texts_of_the_runs_data(tmp_path):
    import shutil

    from syneg.data import embedded_path

    data = tmp_path / "data"
    shutil.copytree(embedded_path(), data)
    with (data / "corpus.jsonl").open("wb") as handle:  # sparse, one 20 GB line: never read by the report
        handle.truncate(20 << 30)
    run = make_full_run(tmp_path / "run", data_path=str(data))
    result = run_cli("report", run, timeout=60)
    assert result.returncode == 0, result.stderr
    queries = section(html.unescape((run / "report.html").read_text()), "queries")
    texts = load_dataset(None, "dev", 0.3, 0).queries
    assert "query text unavailable" not in queries and sum(text in queries for text in texts.values()) == 20
    with (data / "queries.jsonl").open("wb") as handle:  # one line past the bound of a line
        handle.truncate(20 << 30)
    result = run_cli("report", run, timeout=60)
    assert result.returncode == 0, result.stderr
    queries = section(html.unescape((run / "report.html").read_text()), "queries")
    assert "query text unavailable" in queries and "queries.jsonl:" in queries and "longer than" in queries


def test_the_headline_leaves_out_impossible_scores_and_counts(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    (run / "metrics.json").write_text('{"queries": 1000000000000000000, "split": "dev", "trained": '
                                      '{"nDCG@10": -1e308, "R@10": 0.5}, "zero_shot": {"nDCG@10": 1e308, '
                                      '"R@10": 0.25, "queries": -5}, "delta": {"R@10": 7}}')
    (run / "per_query.json").write_text('{"zero_shot": {"q1": 1e308, "q2": 0.5}, "trained": {"q1": ' + "9" * 300
                                        + ', "q2": 0.75}}')
    headline = section(render_report(run), "headline")
    assert "inf" not in headline and "nan" not in headline and "1e+308" not in headline and "999" not in headline
    assert "1000000000000000000" not in headline and "? queries of split dev" in headline
    assert "0.5000" in headline and "0.2500" in headline and "+7.0000" in headline  # bounded values stay


CHROMIUM = shutil.which("chromium")


def chromium(*args: str) -> str:
    """Run headless Chromium with ``args`` and return its stdout."""
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(make_full_run(tmp_path_factory.mktemp("report") / "run"))


@pytest.fixture(scope="module")
def dom(report) -> str:
    return chromium("--virtual-time-budget=5000", "--dump-dom", report.as_uri())


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")
def test_headline_table_has_the_metric_rows(dom):
    table = re.search(r"<table class=\"headline\">.*?<tbody>(.*?)</tbody>", dom, re.S).group(1)
    assert re.findall(r"<tr><th>([^<]+)</th>", table) == ["nDCG@10", "R@100"]
    assert re.search(r"\[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]", table)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")
def test_every_image_decodes(dom):
    images = re.findall(r"<img [^>]*>", dom)
    assert images and all("src=\"data:image/png;base64," in img for img in images)
    assert re.search(r"<body data-broken=\"0\">", dom), "an image did not decode (or the load script did not run)"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")
def test_wins_and_losses_contain_query_text(dom):
    wins = re.search(r"<table class=\"wins\">(.*?)</table>", dom, re.S).group(1)
    texts = set(load_dataset(None, "dev", 0.3, 0).queries.values())
    cells = [unescape(c) for c in re.findall(r"<td>([^<]+)</td>", wins)]
    assert sum(cell in texts for cell in cells) == 10


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")
def test_screenshot_renders(report, tmp_path):
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri())
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        assert len(image.convert("L").getcolors(256)) > 10  # not a blank page
