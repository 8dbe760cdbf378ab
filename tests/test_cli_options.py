"""Each setting declared once: command options are generated from the config fields (syneg.cli.fields)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pytest
import typer
import yaml
from pydantic import BaseModel, Field, PositiveInt
from typer.testing import CliRunner

from syneg.cli import app
from syneg.cli.fields import Fields, settings
from syneg.config import RunConfig, SynthesizeConfig
from syneg.errors import SynegError

# Options that set no config field: where data, outputs and models live, how a command works.
DATA = {"--data", "--split", "--dev-fraction", "--seed"}
SET = {"--set"}  # section.key=value for the fields without an option
ALLOWED: dict[str, set[str]] = {
    "data info": DATA | {"--json"},
    "config show": SET,
    "retrieve": DATA | {"--out", "--batch-size", "--precision", "--cache-dir", "--no-cache", "--faiss", "--tag",
                        "--device"},
    "evaluate": DATA | {"--run", "--metrics", "--keep-identical-ids", "--json"},  # --metrics: see cli/evaluate.py
    "mine": DATA | SET | {"--out", "--batch-size", "--cache-dir", "--device", "--shard"},
    "synthesize": DATA | SET | {"--out", "--mined", "--retry-failed", "--dry-run", "--export-batch", "--import-batch",
                          "--device", "--shard"},
    "generate-queries": DATA | SET | {"--out", "--retry-failed", "--export-batch", "--import-batch", "--device",
                         "--shard"},
    "prompt": DATA | SET | {"--show", "--mined", "--index"},
    "merge": {"--out"},
    "mix": (DATA - {"--dev-fraction"}) | SET | {"--mined", "--out", "--synthetic", "--epoch", "--format", "--query-prompt",
                                          "--group-positives", "--license", "--language", "--push-to-hub"},
    "train": SET | {"--train", "--out", "--seed", "--eval-data", "--eval-split", "--eval-dev-fraction", "--nproc",
              "--nnodes", "--node-rank", "--rdzv-endpoint", "--device"},
    "run": SET | {"--run-dir", "--data", "--eval-data", "--stages", "--until", "--device"},  # `--set` shorthands
    "experiment": SET,
    "report": {"--out"},
}
# Allowed options that stand for a run setting must default to it (None: the config's own applies).
MIRRORS = {"--seed": RunConfig.model_fields["seed"].default, "--device": RunConfig.model_fields["device"].default,
           "--split": RunConfig().data.train_split}


def commands(group: Any = typer.main.get_command(app), path: str = "") -> dict[str, Any]:
    """Every leaf command of ``group`` (typer's click command objects) by its path (``data info``)."""
    if not hasattr(group, "commands"):
        return {path: group}
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        found.update(commands(command, f"{path} {name}".strip()))
    return found


def section_model(key: str) -> type[BaseModel]:
    return RunConfig.model_fields[key].annotation


def expected_default(model: type[BaseModel], name: str, option: Any) -> str | None:
    """What help must show: the field default; for an on/off flag, the flag that is on."""
    default = model.model_fields[name].get_default(call_default_factory=True)
    if isinstance(default, bool):
        return (option.opts if default else option.secondary_opts)[0].lstrip("-")
    return None if default is None else str(default)


ALL = commands()


def test_the_command_tree_is_complete():
    assert set(ALL) == set(ALLOWED)


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_option_is_one_field_or_allowed(path):
    """A generated option (parameter ``section__field``) maps to exactly one field and shows its default;
    every other option is on the command's allow-list of options that set no field."""
    fields: list[tuple[str, str]] = []
    for param in ALL[path].params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        if "__" not in param.name:
            assert param.opts[0] in ALLOWED[path], f"{path}: {param.opts[0]} is neither generated nor allowed"
            if param.opts[0] in MIRRORS and param.default is not None:
                assert param.default == MIRRORS[param.opts[0]], (path, param.opts[0])
            continue
        key, name = param.name.split("__")
        model = section_model(key)
        assert name in model.model_fields, (path, param.name)
        assert param.default is None  # not given: the field's default applies
        found = re.search(r"\[default: ([^\]]*)\]$", param.help or "")
        assert (found.group(1) if found else None) == expected_default(model, name, param), (path, param.opts)
        assert param.help.startswith(model.model_fields[name].description)
        fields.append((key, name))
    assert len(fields) == len(set(fields)), f"{path}: two options set one field"


@pytest.mark.parametrize("path", ["mine", "synthesize", "mix", "train"])
def test_stage_commands_generate_their_options_and_take_set(path):
    params = ALL[path].params
    generated = {p.name.split("__")[0] for p in params if "__" in p.name}
    assert generated and "--set" in [opt for p in params for opt in p.opts]


# --- the mechanism on a tiny model ------------------------------------------------------------------

class Tiny(BaseModel):
    model_config = {"extra": "forbid"}

    count: PositiveInt = Field(5, description="How many.")
    kind: Literal["a", "b-c"] = Field("a", description="Which kind.")
    margin: Optional[Annotated[float, Field(ge=0)]] = Field(0.5, description="A margin; none = off.")
    name: Optional[str] = Field(None, description="A name.")
    loud: bool = Field(True, description="Loudly.")
    hidden: int = Field(1, description="Only through --set.")


class Other(BaseModel):
    model_config = {"extra": "forbid"}

    level: int = Field(2, description="A level.")


def _tiny(**flags) -> typer.Typer:
    tiny = typer.Typer(add_completion=False, rich_markup_mode="rich")

    @tiny.command()
    @settings(**flags, config=Fields(Tiny, "tiny", ("count", "kind", "margin", "name", "loud")),
              other=Fields(Other, "other", ("level",), {"level": ("--level", "-l")}))
    def show(*, config: Tiny, other: Other, last: str = "x") -> None:
        typer.echo(f"{config.model_dump_json()} {other.level} {last}")

    return tiny


def _run(tiny: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(tiny, list(args), env={"COLUMNS": "300"})
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def test_not_given_is_the_model_default():
    code, out = _run(_tiny())
    assert code == 0 and out.strip() == f"{Tiny().model_dump_json()} 2 x"


def test_options_take_types_choices_flags_and_none():
    code, out = _run(_tiny(), "--count", "7", "--kind", "b-c", "--margin", "none", "--no-loud", "--name", "n", "-l", "4")
    assert code == 0, out
    assert out.split()[0] == Tiny(count=7, kind="b-c", margin=None, loud=False, name="n").model_dump_json()
    assert out.split()[1] == "4"
    assert _run(_tiny(), "--kind", "z")[0] == 2 and _run(_tiny(), "--margin", "x")[0] == 2


def test_set_reaches_every_other_field():
    code, out = _run(_tiny(), "--set", "tiny.hidden=9", "--set", "other.level=3", "--set", "tiny.margin=null")
    assert code == 0, out
    assert out.split()[:2] == [Tiny(hidden=9, margin=None).model_dump_json(), "3"]


@pytest.mark.parametrize(("args", "message"), [
    (["--count", "0"], "--count: Input should be greater than 0"),
    (["--margin", "-1"], "--margin: Input should be greater than or equal to 0"),
    (["--set", "tiny.count=0"], "--set tiny.count: Input should be greater than 0"),
    (["--set", "tiny.bogus=1"], "--set tiny.bogus: Extra inputs are not permitted"),
    (["--set", "train.epochs=1"], "--set train: this command takes settings of tiny.*, other.* only"),
    (["--count", "2", "--set", "tiny.count=3"], "--set tiny.count repeats --count: give one of them"),
    (["--set", "tiny"], "--set expects key=value"),
])
def test_a_refused_value_names_its_option(args, message):
    code, out = _run(_tiny(), *args)
    assert code != 0 and message in out, out


def test_help_comes_from_the_field():
    code, out = _run(_tiny(), "--help")
    assert code == 0
    assert re.search(r"--count\s+<int>\s+How many\. \[default: 5\]", out), out
    assert re.search(r"--kind\s+<a\|b-c>\s+Which kind\. \[default: a\]", out)
    assert re.search(r"--loud\s+--no-loud.*Loudly\. \[default: loud\]", out)
    assert re.search(r"--margin\s+FLOAT\|none\s+A margin; none = off\. \[default: 0\.5\]", out)
    assert "--hidden" not in out and "tiny.*, other.*" in out


def test_without_set():
    assert "--set" not in _run(_tiny(take_set=False), "--help")[1]
    assert _run(_tiny(take_set=False), "--set", "tiny.hidden=2")[0] == 2


# --- real commands ----------------------------------------------------------------------------------

def test_prompt_mode_is_free_without_mined_negatives_unless_set():
    code, out = _run(app, "prompt")
    assert code == 0 and "mode: free" in out, out
    for mode in ("grounded", "continue"):
        for args in (["--mode", mode], ["--set", f"synthesize.mode={mode}"]):
            code, out = _run(app, "prompt", *args)
            assert code != 0 and f"{mode} mode starts from mined negatives" in out, out
    assert SynthesizeConfig().mode == "continue"  # the config's default, shown by --mode's help


def test_config_show_reads_every_shipped_config():
    shipped = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert shipped
    for path in shipped:
        code, out = _run(app, "config", "show", str(path))
        assert code == 0, (path, out)
        assert yaml.safe_load(out)["run_dir"]


@pytest.mark.parametrize("args", [["mine", "--set", "mine.rescore_model=x"],
                                  ["synthesize", "--out", "s.jsonl", "--set", "synthesize.guard_model=x"]])
def test_a_retired_setting_names_its_successor(args):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})  # the CLI's main prints it and exits 2
    assert isinstance(result.exception, SynegError), result.output
    assert str(result.exception) == f"--set: {args[-1].split('=')[0]} was retired: set teacher.model"
