"""CLI comforts: --version, completion, --quiet/--verbose, JSON summary lines, partial runs, progress on stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import run_cli, write_beir

TOPICS = ["vitamin D and bone loss", "statins and LDL cholesterol", "sleep loss and memory",
          "aspirin and heart attacks", "exercise and blood pressure", "smoking and lung cancer"]
CORPUS = [{"_id": f"d{i}{j}", "title": topic, "text": f"Study {j} on {topic} in adults and children."}
          for i, topic in enumerate(TOPICS) for j in range(3)]
QUERIES = [{"_id": f"q{i}", "text": f"What is known about {topic}?"} for i, topic in enumerate(TOPICS)]
QRELS = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}0\t1\n" for i in range(len(TOPICS)))


def cli_with_bars(*args: str) -> subprocess.CompletedProcess:
    """``python -m syneg ARGS`` with tqdm enabled (run_cli sets TQDM_DISABLE)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "SYNEG_QUIET")}
    return subprocess.run([sys.executable, "-m", "syneg", *map(str, args)], capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1"}, timeout=600)


def last_json(stdout: str) -> dict:
    """The summary: the last line of stdout, one JSON object."""
    lines = stdout.splitlines()
    assert lines, "nothing on stdout"
    summary = json.loads(lines[-1])
    assert isinstance(summary, dict)
    return summary


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    """A tiny BEIR folder, a run file of it, mined negatives, training instances and a run directory."""
    root = tmp_path_factory.mktemp("comforts")
    data = write_beir(root / "beir", CORPUS, QUERIES, QRELS)
    for args in (["retrieve", "--retriever", "bm25", "--out", root / "run.trec"],
                 ["mine", "--retriever", "bm25", "--num-negatives", "2", "--out", root / "mined.jsonl"],
                 ["mix", "--mined", root / "mined.jsonl", "--strategy", "retrieved", "-k", "2",
                  "--out", root / "train.jsonl"]):
        done = run_cli(*args, "--data", data)
        assert done.returncode == 0, done.stderr[-2000:]
    shown = run_cli("config", "show", "--set", f"data.path={data}", "--set", f"run_dir={root / 'rundir'}")
    assert shown.returncode == 0, shown.stderr[-2000:]
    (root / "rundir").mkdir()
    (root / "rundir" / "config.yaml").write_text(shown.stdout, encoding="utf-8")
    shutil.copy(root / "mined.jsonl", root / "rundir" / "mined.jsonl")
    return root


def test_version_prints_the_installed_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"syneg {version('syneg')}"


def test_help_lists_completion_and_global_options() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for option in ("--install-completion", "--show-completion", "--version", "--quiet", "--verbose"):
        assert option in done.stdout


SUMMARIES = {  # name -> (arguments, "command" in the summary; None: the command's own JSON object)
    "data info": (lambda r: ["data", "info", "--data", r / "beir"], None),
    "evaluate": (lambda r: ["evaluate", "--run", r / "run.trec", "--data", r / "beir"], None),
    "retrieve": (lambda r: ["retrieve", "--retriever", "bm25", "--data", r / "beir", "--out", r / "r2.trec"],
                 "retrieve"),
    "mine": (lambda r: ["mine", "--retriever", "bm25", "--data", r / "beir", "--out", r / "m2.jsonl"], "mine"),
    "mix": (lambda r: ["mix", "--mined", r / "mined.jsonl", "--strategy", "retrieved", "--data", r / "beir",
                       "--out", r / "t2.jsonl"], "mix"),
    "synthesize --dry-run": (lambda r: ["synthesize", "--data", r / "beir", "--out", r / "s.jsonl", "--dry-run"],
                             "synthesize"),
    "report": (lambda r: ["report", r / "rundir"], "report"),
}


@pytest.mark.parametrize("name", list(SUMMARIES))
def test_every_command_ends_stdout_with_a_json_summary(space: Path, name: str) -> None:
    make_args, command = SUMMARIES[name]
    done = run_cli(*make_args(space))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = last_json(done.stdout)
    if command is None:  # data info / evaluate: their --json object, now also without --json; table on stderr
        assert done.stdout.count("\n") == 1 and "queries" in summary and "queries" in done.stderr
    else:
        assert summary["command"] == command


def test_quiet_leaves_stderr_empty(space: Path) -> None:
    done = cli_with_bars("--quiet", "mine", "--retriever", "bm25", "--data", space / "beir",
                         "--out", space / "quiet.jsonl")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "" and last_json(done.stdout)["instances"] == len(QUERIES)


def test_quiet_still_prints_errors(tmp_path: Path) -> None:
    done = run_cli("--quiet", "data", "info", "--data", tmp_path / "missing")
    assert done.returncode == 2 and "error:" in done.stderr and done.stdout == ""


def test_verbose_logs_debug_lines(space: Path) -> None:
    done = run_cli("--verbose", "retrieve", "--retriever", "bm25", "--data", space / "beir",
                   "--out", space / "v.trec")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DEBUG syneg.retrieval.bm25: indexed 18 documents" in done.stderr
    assert "DEBUG" not in done.stdout and "DEBUG" not in run_cli("retrieve", "--retriever", "bm25", "--data",
                                                                 space / "beir", "--out", space / "v.trec").stderr


def test_bm25_progress_bars_go_to_stderr(space: Path) -> None:
    done = cli_with_bars("retrieve", "--retriever", "bm25", "--data", space / "beir", "--out", space / "p.trec")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bm25 search" in done.stderr and "100%" in done.stderr
    assert "bm25 search" not in done.stdout and "%|" not in done.stdout
    assert last_json(done.stdout)["lines"] > 0


def test_run_stages_runs_only_the_named_stages(space: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    settings = ["--run-dir", run_dir, "--set", f"data.path={space / 'beir'}", "--set", "mine.retriever=bm25",
                "--set", "mix.strategy=retrieved", "--set", "mix.num_negatives=2"]
    done = run_cli("run", "--stages", "mine", *settings)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[mine] running" in done.stderr and "[mix]" not in done.stderr
    assert "stopped before evaluate" in done.stderr
    summary = last_json(done.stdout)
    assert summary["stages"] == ["mine"] and summary["outputs"] == {"mine": str(run_dir / "mined.jsonl")}
    assert (run_dir / "mined.jsonl").is_file() and not (run_dir / "train.jsonl").exists()

    until = run_cli("run", "--until", "mix", *settings)
    assert until.returncode == 0, until.stderr[-2000:]
    assert "[mine] complete, skipped" in until.stderr and "[mix] running" in until.stderr
    assert last_json(until.stdout)["stages"] == ["mine", "mix"] and (run_dir / "train.jsonl").is_file()


def test_run_stage_without_its_upstream_fails_naming_it(space: Path, tmp_path: Path) -> None:
    done = run_cli("run", "--stages", "mix", "--run-dir", tmp_path / "run", "--set", f"data.path={space / 'beir'}")
    assert done.returncode == 2
    assert "error: stage mix reads the output of stage mine" in done.stderr and "--stages mine" in done.stderr
    assert not (tmp_path / "run" / "train.jsonl").exists()


def test_run_refuses_unknown_stage_names(tmp_path: Path) -> None:
    done = run_cli("run", "--stages", "mine,minx", "--run-dir", tmp_path / "run")
    assert done.returncode == 2 and "minx" in done.stderr and "synthesize" in done.stderr
    assert not (tmp_path / "run").exists()


def test_train_shows_steps_on_stderr_and_no_raw_log_dicts(space: Path) -> None:
    done = cli_with_bars("train", "--train", space / "train.jsonl", "--out", space / "model", "--max-steps", "2",
                         "--max-seq-length", "32", "--batch-size", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "{'loss'" not in done.stdout and "{'loss'" not in done.stderr
    assert done.stdout.count("\n") == 1 and last_json(done.stdout)["steps"] == 2
    assert "step 2/2 loss " in done.stderr and " lr " in done.stderr and " grad " in done.stderr
    assert "train: 100%" in done.stderr


def test_summary_lines_are_valid_json_whatever_the_floats(capsys):
    from syneg.cli import output

    output.summary("x", rate=float("inf"), nested={"a": [float("nan"), 1.5, -float("inf")]}, pair=(float("nan"), 2))
    line = capsys.readouterr().out  # was: Infinity and NaN, which no JSON parser accepts
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}")) == {
        "command": "x", "rate": None, "nested": {"a": [None, 1.5, None]}, "pair": [None, 2]}
