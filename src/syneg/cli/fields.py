"""Command options generated from config fields, so that each setting is declared once (on its field).

:func:`settings` replaces a command's section parameters (``config: MineConfig``) with one option per
named field (type, choices, help and shown default taken from the field) plus ``--set section.key=value``
for every other field, and hands the command the built, validated sections. A generated option's
parameter is named ``<section>__<field>``, which is how tests map every option back to its field.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from rich.markup import escape

from syneg.cli.options import NULL, choice_enum, default_text, field_value
from syneg.config import apply_overrides
from syneg.errors import SynegError

F = TypeVar("F", bound=Callable[..., Any])
SET_HELP = "Any other setting of {keys}: section.key=value, value read as YAML (repeatable)."


@dataclasses.dataclass(frozen=True)
class Fields:
    """The options a command takes for section ``key`` (a :class:`RunConfig` field) of type ``model``:
    ``names`` get an option each, ``aliases`` replace an option's declarations (``{"model": "--teacher"}``)."""

    model: type[BaseModel]
    key: str
    names: Sequence[str]
    aliases: Mapping[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def decls(self, name: str) -> tuple[str, ...]:
        """The option's declarations: its alias, else ``--field-name`` (``--x/--no-x`` for an on/off field)."""
        alias = self.aliases.get(name)
        if alias is not None:
            return (alias,) if isinstance(alias, str) else tuple(alias)
        flag = "--" + name.replace("_", "-")
        return (f"{flag}/--no-{flag[2:]}",) if _base(self.model.model_fields[name])[0] is bool else (flag,)

    def option_name(self, name: str) -> str:
        """The option a user types for field ``name`` (its first declaration's on form)."""
        return self.decls(name)[0].split("/")[0]


def _base(field: FieldInfo) -> tuple[Any, bool]:
    """The field's value type without ``None`` and constraints, and whether it takes ``None``."""
    annotation, nullable = field.annotation, False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable, annotation = len(args) < len(get_args(annotation)), args[0]
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation, nullable


def nullable_number(kind: type) -> Callable[[str], Any]:
    """A parser of ``kind`` (int or float) that reads ``none``/``off`` as :data:`NULL` (sets the field to None)."""

    def parse(value: Any) -> Any:
        if value is None or isinstance(value, (kind, type(NULL))):
            return value
        if value.strip().lower() in {"none", "off"}:
            return NULL
        try:
            return kind(value)
        except ValueError:
            raise typer.BadParameter(f"expected {'an integer' if kind is int else 'a number'} or 'none', "
                                     f"got {value!r}") from None

    return parse


def _parameter(spec: Fields, name: str) -> inspect.Parameter:
    """The generated keyword parameter of field ``name``: default None (not given: the model's default)."""
    field, decls = spec.model.model_fields[name], spec.decls(name)
    annotation, nullable = _base(field)
    extra: dict[str, Any] = {}
    if get_origin(annotation) is Literal:
        annotation = choice_enum("".join(p.title() for p in name.split("_")), get_args(annotation))
    elif annotation in (int, float) and nullable:
        extra = {"parser": nullable_number(annotation), "metavar": f"{annotation.__name__.upper()}|none"}
    shown = default_text(spec.model, name, decls)
    help_text = " ".join(p for p in (field.description or "", escape(f"[default: {shown}]") if shown else "") if p)
    option = typer.Option(*decls, help=help_text, **extra)
    return inspect.Parameter(f"{spec.key}__{name}", inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[annotation], option])


def build(sections: Mapping[str, Fields], given: Mapping[str, Mapping[str, Any]],
          overrides: Sequence[str]) -> dict[str, BaseModel]:
    """Each section from its given options (``None``: not given) and the ``--set`` items; a value the model
    refuses is a SynegError naming its option (or ``--set section.key``)."""
    by_key = {spec.key: spec for spec in sections.values()}
    raw = {spec.key: {n: field_value(v) for n, v in given[param].items() if v is not None}
           for param, spec in sections.items()}
    by_option = {param: set(raw[spec.key]) for param, spec in sections.items()}
    for key, values in apply_overrides({}, list(overrides)).items():
        if key not in by_key or not isinstance(values, dict):
            raise SynegError(f"--set {key}: this command takes settings of {_keys(by_key)} only")
        for name, value in values.items():
            if name in raw[key]:
                raise SynegError(f"--set {key}.{name} repeats {by_key[key].option_name(name)}: give one of them")
            raw[key][name] = value
    return {param: _validate(spec, raw[spec.key], by_option[param]) for param, spec in sections.items()}


def _validate(spec: Fields, values: dict[str, Any], by_option: set[str]) -> BaseModel:
    """``values`` as ``spec.model``; SynegError naming the option (or ``--set``) of the first refused value."""
    try:
        return spec.model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # the whole section refused (a retired key): the message names the key
            raise SynegError(f"--set: {first['msg']}") from None
        name = str(first["loc"][0])
        where = spec.option_name(name) if name in by_option else f"--set {spec.key}.{name}"
        raise SynegError(f"{where}: {first['msg']}") from None


def _keys(by_key: Mapping[str, Fields]) -> str:
    return ", ".join(f"{key}.*" for key in by_key)


def settings(*, take_set: bool = True, **sections: Fields) -> Callable[[F], F]:
    """Generate the options of each ``param=Fields(...)`` in place of the command's parameter ``param``,
    add ``--set`` for the sections' other fields (unless not ``take_set``: a command that uses only the
    named fields), and call the command with the built sections."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        generated = {param: [_parameter(spec, n) for n in spec.names] for param, spec in sections.items()}
        set_option = inspect.Parameter("overrides", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP.format(
                keys=_keys({s.key: s for s in sections.values()})))])
        last = [p for p in signature.parameters if p in sections][-1]
        params = [new for p in signature.parameters.values()
                  for new in [*generated.get(p.name, [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)]),
                              *([set_option] if take_set and p.name == last else [])]]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {param: {p.name.split("__", 1)[1]: kwargs.pop(p.name) for p in group}
                     for param, group in generated.items()}
            built = build(sections, given, (kwargs.pop("overrides") if take_set else None) or [])
            return command(**kwargs, **built)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate
