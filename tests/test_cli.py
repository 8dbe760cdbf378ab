"""Tests of syneg/cli/."""

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import get_args

import pytest
import typer
from conftest import run_cli, write_beir
from helpers import _assert_cli_error
from pydantic import BaseModel
from typer.testing import CliRunner

from syneg.cli import app, fields, main
from syneg.cli.data_options import DataSelection, data_options
from syneg.config import MineConfig, MixConfig, SynthesizeConfig, TrainConfig
from syneg.mixing import FORMATS


@pytest.mark.slow
def test_version_prints_the_installed_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"syneg {version('syneg')}"


@pytest.mark.slow
def test_help_lists_completion_and_global_options() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for option in ("--install-completion", "--show-completion", "--version", "--quiet", "--verbose"):
        assert option in done.stdout


TOPICS = ["vitamin D and bone loss", "statins and LDL cholesterol", "sleep loss and memory",
          "aspirin and heart attacks", "exercise and blood pressure", "smoking and lung cancer"]


CORPUS = [{"_id": f"d{i}{j}", "title": topic, "text": f"Study {j} on {topic} in adults and children."}
          for i, topic in enumerate(TOPICS) for j in range(3)]


QUERIES = [{"_id": f"q{i}", "text": f"What is known about {topic}?"} for i, topic in enumerate(TOPICS)]


QRELS = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}0\t1\n" for i in range(len(TOPICS)))


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


@pytest.mark.slow
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


def cli_with_bars(*args: str) -> subprocess.CompletedProcess:
    """``python -m syneg ARGS`` with tqdm enabled (run_cli sets TQDM_DISABLE)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "SYNEG_QUIET")}
    return subprocess.run([sys.executable, "-m", "syneg", *map(str, args)], capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1"}, timeout=600)


@pytest.mark.slow
def test_quiet_leaves_stderr_empty(space: Path) -> None:
    done = cli_with_bars("--quiet", "mine", "--retriever", "bm25", "--data", space / "beir",
                         "--out", space / "quiet.jsonl")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "" and last_json(done.stdout)["instances"] == len(QUERIES)


@pytest.mark.slow
def test_quiet_still_prints_errors(tmp_path: Path) -> None:
    done = run_cli("--quiet", "data", "info", "--data", tmp_path / "missing")
    assert done.returncode == 2 and "error:" in done.stderr and done.stdout == ""


@pytest.mark.slow
def test_verbose_logs_debug_lines(space: Path) -> None:
    done = run_cli("--verbose", "retrieve", "--retriever", "bm25", "--data", space / "beir",
                   "--out", space / "v.trec")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DEBUG syneg.retrieval.bm25: indexed 18 documents" in done.stderr
    assert "DEBUG" not in done.stdout and "DEBUG" not in run_cli("retrieve", "--retriever", "bm25", "--data",
                                                                 space / "beir", "--out", space / "v.trec").stderr


@pytest.mark.slow
def test_bm25_progress_bars_go_to_stderr(space: Path) -> None:
    done = cli_with_bars("retrieve", "--retriever", "bm25", "--data", space / "beir", "--out", space / "p.trec")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bm25 search" in done.stderr and "100%" in done.stderr
    assert "bm25 search" not in done.stdout and "%|" not in done.stdout
    assert last_json(done.stdout)["lines"] > 0


@pytest.mark.slow
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


@pytest.mark.slow
def test_run_stage_without_its_upstream_fails_naming_it(space: Path, tmp_path: Path) -> None:
    done = run_cli("run", "--stages", "mix", "--run-dir", tmp_path / "run", "--set", f"data.path={space / 'beir'}")
    assert done.returncode == 2
    assert "error: stage mix reads the output of stage mine" in done.stderr and "--stages mine" in done.stderr
    assert not (tmp_path / "run" / "train.jsonl").exists()


@pytest.mark.slow
def test_run_refuses_unknown_stage_names(tmp_path: Path) -> None:
    done = run_cli("run", "--stages", "mine,minx", "--run-dir", tmp_path / "run")
    assert done.returncode == 2 and "minx" in done.stderr and "synthesize" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
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


COMMANDS = {"mine": MineConfig, "synthesize": SynthesizeConfig, "mix": MixConfig, "train": TrainConfig}


REQUIRED = {"mine": [], "synthesize": ["--out", "o.jsonl"], "mix": ["--mined", "m.jsonl", "--out", "t.jsonl"],
            "train": ["--train", "t.jsonl", "--out", "model"], "retrieve": ["--out", "run.trec"], "prompt": []}


def _invoke(args: list[str], target: typer.Typer = app) -> tuple[int, str]:
    result = CliRunner().invoke(target, args, env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def capture_sections(monkeypatch) -> list[dict[str, BaseModel]]:
    """Make commands stop once their sections are built (by the real builder); returns the list they go to."""
    seen: list = []
    build = fields.build

    def capture(*args):
        seen.append(build(*args))
        raise SystemExit(0)

    monkeypatch.setattr(fields, "build", capture)
    return seen


# --- the commands: defaults shown and used are the models' -------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_options_not_given_are_left_to_the_model(command, monkeypatch, tmp_path):
    """A command given no setting builds its section with the model's defaults."""
    seen = capture_sections(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, output = _invoke([command, *REQUIRED[command]])
    assert code == 0 and len(seen) == 1, output
    assert seen[0]["config"] == COMMANDS[command]()


def test_mine_relative_margin_none_disables_and_absent_keeps_default(monkeypatch, tmp_path):
    seen = capture_sections(monkeypatch)
    for args in ([], ["--relative-margin", "none"], ["--relative-margin", "OFF"], ["--relative-margin", "0.1"],
                 ["--one-positive", "--range-max", "5"]):
        assert _invoke(["mine", "--out", str(tmp_path / "m.jsonl"), *args])[0] == 0
    sections = [built["config"] for built in seen]
    assert [s.relative_margin for s in sections] == [MineConfig().relative_margin, None, None, 0.1, 0.05]
    assert sections[0].one_positive is False and sections[-1].one_positive is True
    assert sections[0].range_max is None and sections[-1].range_max == 5


@pytest.mark.parametrize(("args", "message"), [
    (["mine", "--num-negatives", "0"], "--num-negatives: Input should be greater than 0"),
    (["mine", "--top-k", "0"], "--top-k: Input should be greater than 0"),
    (["mine", "--relative-margin", "-1"], "--relative-margin: Input should be greater than or equal to 0"),
    (["synthesize", "--per-query", "0", "--dry-run", "--out", "o.jsonl"], "--per-query: Input should be greater than 0"),
    (["synthesize", "--max-tokens", "8", "--dry-run", "--out", "o.jsonl"], "--max-tokens: Input should be greater"),
    (["synthesize", "--set", "synthesize.guard_floor=x", "--out", "o.jsonl"], "--set synthesize.guard_floor: Input"),
    (["mine", "--set", "teacher.perc=2"], "--set teacher.perc: Input should be less than or equal to 1"),
    (["mix", "--mined", "m.jsonl", "--out", "t.jsonl", "-k", "0"], "--num-negatives: Input should be greater than 0"),
    (["train", "--train", "t.jsonl", "--out", "model", "--epochs", "0"], "--epochs: Input should be greater than 0"),
])
def test_bad_value_names_its_option(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert f"error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--keep-best"], ["--eval-steps", "5"]])
def test_train_checkpoint_options_need_an_eval_split(option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["train", "--train", "t.jsonl", "--out", "model", *option])
    assert exited.value.code == 2 and "add --eval-split or --eval-data" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


ROW = re.compile(r"^│\s*\*?\s*(--[\w-]+)(?:\s+--[\w-]+|\s+-\w)?\s+(\S+)\s+(.*?)\s*│?$")


def help_rows(*command: str, target: typer.Typer = app) -> dict[str, tuple[str, str]]:
    """``--help`` of a command as option -> (metavar, help text)."""
    code, output = _invoke([*command, "--help"], target)
    assert code == 0, output
    return {m.group(1): (m.group(2), m.group(3)) for line in output.splitlines() if (m := ROW.match(line))}


CHOICES = [
    ("mine", "--retriever", get_args(MineConfig.model_fields["retriever"].annotation)),
    ("mine", "--sampling", get_args(MineConfig.model_fields["sampling"].annotation)),
    ("mine", "--margin-reference", get_args(MineConfig.model_fields["margin_reference"].annotation)),
    ("retrieve", "--retriever", get_args(MineConfig.model_fields["retriever"].annotation)),
    ("synthesize", "--backend", get_args(SynthesizeConfig.model_fields["backend"].annotation)),
    ("synthesize", "--mode", get_args(SynthesizeConfig.model_fields["mode"].annotation)),
    ("prompt", "--mode", get_args(SynthesizeConfig.model_fields["mode"].annotation)),
    ("mix", "--strategy", get_args(MixConfig.model_fields["strategy"].annotation)),
    ("mix", "--format", FORMATS),
]


@pytest.mark.parametrize(("command", "option", "values"), CHOICES)
def test_choices_are_listed_and_checked(command, option, values, tmp_path, monkeypatch):
    assert len(values) >= 2
    assert help_rows(command)[option][0] == "<" + "|".join(values) + ">"
    monkeypatch.chdir(tmp_path)
    code, output = _invoke([command, *REQUIRED[command], option, "bogus"])
    assert code == 2 and option in output and all(repr(v) in output for v in values), output


DATA_GROUP = ["--data", "--split", "--dev-fraction", "--seed"]


def shown_default(text: str) -> str | None:
    found = re.search(r"\[default: ([^\]]*)\]$", text)
    return found.group(1) if found else None


# --- the data option group ------------------------------------------------------------------------

DATA_COMMANDS = [("data", "info"), ("retrieve",), ("evaluate",), ("mine",), ("synthesize",), ("prompt",)]


@pytest.mark.slow
def test_data_group_is_the_same_on_every_command():
    reference = {opt: help_rows("data", "info")[opt] for opt in DATA_GROUP}
    assert shown_default(reference["--split"][1]) == "train" and shown_default(reference["--seed"][1]) == "0"
    assert shown_default(reference["--data"][1]) is None and shown_default(reference["--dev-fraction"][1]) is None
    for command in DATA_COMMANDS:
        rows = help_rows(*command)
        assert {opt: rows.get(opt) for opt in DATA_GROUP} == reference, command
    mix = help_rows("mix")
    assert "--dev-fraction" not in mix and all(mix[opt] == reference[opt] for opt in ("--data", "--split", "--seed"))
    train = help_rows("train")
    assert train["--seed"] == reference["--seed"] and "--data" not in train
    assert {"--eval-data", "--eval-split", "--eval-dev-fraction"} <= set(train)


def _echo_app(**group) -> typer.Typer:
    tiny = typer.Typer(add_completion=False)

    @tiny.command()
    @data_options(**group)
    def show(*, first: int = 1, selection: DataSelection, last: str = "x") -> None:
        typer.echo(repr((first, selection, last)))

    return tiny


def test_data_options_pass_one_selection():
    tiny = _echo_app()
    assert list(help_rows(target=tiny)) == ["--first", *DATA_GROUP, "--last", "--help"]
    assert _invoke([], tiny) == (0, repr((1, DataSelection(), "x")) + "\n")
    args = ["--data", "b", "--split", "dev", "--dev-fraction", "0.2", "--seed", "3", "--first", "2"]
    assert _invoke(args, tiny)[1].strip() == repr((2, DataSelection(Path("b"), "dev", 0.2, 3), "x"))


def test_data_options_without_dev_fraction():
    tiny = _echo_app(dev_fraction=False)
    assert "--dev-fraction" not in help_rows(target=tiny)
    assert _invoke(["--seed", "4"], tiny)[1].strip() == repr((1, DataSelection(seed=4), "x"))
    assert _invoke(["--dev-fraction", "0.2"], tiny)[0] == 2


def test_data_selection_loads_the_split(beir_dir):
    assert set(DataSelection(beir_dir).load().queries) == {"q1", "q2"}


@pytest.mark.slow
def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("data", "config", "retrieve", "evaluate", "mine", "synthesize", "prompt", "mix", "train",
                    "run", "experiment", "report"):
        assert command in result.stdout


# --- 6. --out naming a directory ----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["mine"], ["retrieve"], ["synthesize", "--dry-run"],
    ["mix", "--mined", "missing.jsonl", "--strategy", "retrieved"],
])
def test_out_directory_is_refused_up_front(tmp_path, command):
    out = tmp_path / "outdir"
    out.mkdir()
    result = run_cli(*command, "--out", out)
    _assert_cli_error(result, f"--out {out}: is a directory; expected a file path")
    assert list(out.iterdir()) == []
