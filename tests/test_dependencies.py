"""pyproject tells the truth: every third-party module the package imports is a declared requirement."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "syneg"


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0))


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """Normalized names of the core requirements and of each extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {extra: {requirement_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return {requirement_name(r) for r in project["dependencies"]}, extras


def imports(tree: ast.AST) -> set[str]:
    """Top-level names of the absolute imports in ``tree``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def required_extras(tree: ast.AST) -> set[tuple[str, str]]:
    """``(module, extra)`` of each ``require("module", "extra")`` call (lazy optional imports)."""
    calls = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and len(node.args) == 2
                and all(isinstance(arg, ast.Constant) for arg in node.args)):
            calls.add((node.args[0].value, node.args[1].value))
    return calls


@functools.cache
def installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """Normalized names of the installed distributions that provide top-level ``module``."""
    return {normalize(d) for d in installed().get(module, [])}


def test_every_imported_module_is_declared() -> None:
    core, extras = declared()
    allowed = core.union(*extras.values())
    found = set()
    for path in PACKAGE.rglob("*.py"):
        found |= imports(ast.parse(path.read_text(encoding="utf-8")))
    third_party = sorted(found - set(sys.stdlib_module_names) - {"syneg", "__future__"})
    assert "sentence_transformers" in third_party and "numpy" in third_party  # the scan sees imports
    undeclared = {}
    for module in third_party:
        dists = distributions(module)
        assert dists, f"{module} is imported but not installed here, so its distribution is unknown"
        if not dists & allowed:
            undeclared[module] = sorted(dists)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_required_extra_exists_and_provides_its_module() -> None:
    _, extras = declared()
    calls = set()
    for path in PACKAGE.rglob("*.py"):
        calls |= required_extras(ast.parse(path.read_text(encoding="utf-8")))
    assert ("faiss", "faiss") in calls  # the scan sees require() calls
    for module, extra in sorted(calls):
        assert extra in extras, f"require({module!r}, {extra!r}) names an extra pyproject.toml lacks"
        dists = distributions(module)  # a module not installed here cannot be mapped to its distribution
        assert not dists or dists & extras[extra], f"extra {extra!r} does not provide {module!r} ({sorted(dists)})"
