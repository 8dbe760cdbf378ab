"""One CLI idiom: the sections built from options, choices from the fields' Literals, one data group.

How options are generated from the fields (defaults, help, --set) is tested in test_cli_options.py."""

import re
from pathlib import Path
from typing import get_args

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from syneg.cli import app, main
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli import fields
from syneg.config import MineConfig, MixConfig, SynthesizeConfig, TrainConfig
from syneg.mixing import FORMATS

COMMANDS = {"mine": MineConfig, "synthesize": SynthesizeConfig, "mix": MixConfig, "train": TrainConfig}
REQUIRED = {"mine": [], "synthesize": ["--out", "o.jsonl"], "mix": ["--mined", "m.jsonl", "--out", "t.jsonl"],
            "train": ["--train", "t.jsonl", "--out", "model"], "retrieve": ["--out", "run.trec"], "prompt": []}
DATA_GROUP = ["--data", "--split", "--dev-fraction", "--seed"]
ROW = re.compile(r"^│\s*\*?\s*(--[\w-]+)(?:\s+--[\w-]+|\s+-\w)?\s+(\S+)\s+(.*?)\s*│?$")


def _invoke(args: list[str], target: typer.Typer = app) -> tuple[int, str]:
    result = CliRunner().invoke(target, args, env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def help_rows(*command: str, target: typer.Typer = app) -> dict[str, tuple[str, str]]:
    """``--help`` of a command as option -> (metavar, help text)."""
    code, output = _invoke([*command, "--help"], target)
    assert code == 0, output
    return {m.group(1): (m.group(2), m.group(3)) for line in output.splitlines() if (m := ROW.match(line))}


def shown_default(text: str) -> str | None:
    found = re.search(r"\[default: ([^\]]*)\]$", text)
    return found.group(1) if found else None


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


# --- the data option group ------------------------------------------------------------------------

DATA_COMMANDS = [("data", "info"), ("retrieve",), ("evaluate",), ("mine",), ("synthesize",), ("prompt",)]


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
