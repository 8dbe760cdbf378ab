"""The HTML report holds the run's config, statistics, examples, plots and metrics."""

from __future__ import annotations


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conftest import run_cli  # noqa: E402
from syneg.io import write_json, write_jsonl  # noqa: E402
from syneg.layout import write_stats  # noqa: E402


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
    assert "domain: oncology, length: shorter than" in page and "Shares terms but studies mice." in page
    assert "A &lt;b&gt;passage&lt;/b&gt; about mice." in page  # LLM text is escaped, never raw HTML
    assert "data:image/png;base64," in page and "loss.png" in page


def test_report_rejects_non_run(tmp_path):
    result = run_cli("report", tmp_path)
    assert result.returncode == 2 and "not a run directory" in result.stderr
    assert not (tmp_path / "report.html").exists()
