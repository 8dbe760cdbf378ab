"""syneg's import graph has no cycle, the config reads registry names from leaf modules, and each registry's
names are its implementations' names.

The graph counts every ``import`` statement of a syneg module: at module level, under ``if TYPE_CHECKING:``
(a type-only import is still a dependency; a cycle through one is a layering mistake) and inside functions
(lazy imports keep start-up light, but must not close a cycle either). Importing ``a.b.c`` also runs
``a/__init__.py`` and ``a/b/__init__.py``, so it counts as importing those packages too (except the
importer's own packages, which are always loaded first). Registries load their implementations by module
name (``importlib.import_module``), which is what keeps their name modules leaves.
"""

from __future__ import annotations

import ast
import inspect
import pkgutil
from pathlib import Path

import pytest

import syneg
from syneg.mixing import registry as mixing_registry
from syneg.mixing import strategies
from syneg.synthesis import backends, engines
from syneg.synthesis.backends.base import ChatBackend
from syneg.synthesis.backends.load import get_backend
from syneg.training import losses

SRC = Path(syneg.__file__).parent
LEAVES = ("syneg.mixing.registry", "syneg.synthesis.backends", "syneg.synthesis.engines", "syneg.training.losses",
          "syneg.synthesis.backends.urls", "syneg.limits", "syneg.errors")


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root`` (a package called ``package``)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The dotted names an import statement may load, ``from a import b`` giving both ``a`` and ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parent + ([node.module] if node.module else []))
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path, package: str = "syneg", only: str | None = None) -> dict[str, set[str]]:
    """Each module's imports of the package's modules (and of their parent packages), from every import
    statement of its file; ``only`` = ``"runtime"`` keeps module-level imports outside ``TYPE_CHECKING``."""
    names = module_names(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = ast.walk(tree) if only is None else _runtime_imports(tree.body)
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph.setdefault(module, set())
        for node in nodes:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _imported(node, home):
                parts = target.split(".")
                edges.update(name for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
                             if name in names and not (module + ".").startswith(name + "."))
    return graph


def _runtime_imports(body: list[ast.stmt]):
    """Module-level import statements that run on import (``if TYPE_CHECKING:`` bodies left out)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                yield from _runtime_imports(node.body)
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _runtime_imports(block)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search, in sorted order)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    return next((cycle for module in sorted(graph) if module not in state and (cycle := visit(module))), None)


def test_syneg_imports_have_no_cycle():
    cycle = find_cycle(import_graph(SRC))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycles_are_found_through_type_checking_function_level_and_package_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub import impl\n")  # the package runs impl
    (pkg / "sub" / "impl.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                         "    from pkg.config import Config\n")
    (pkg / "config.py").write_text("def names():\n    from pkg.sub.names import NAMES\n    return NAMES\n")
    (pkg / "sub" / "names.py").write_text("NAMES = ()\n")
    cycle = find_cycle(import_graph(pkg, "pkg"))
    assert cycle is not None and set(cycle) == {"pkg.config", "pkg.sub", "pkg.sub.impl"}
    (pkg / "sub" / "__init__.py").write_text("")  # names.py is now a leaf: no cycle
    assert find_cycle(import_graph(pkg, "pkg")) is None


@pytest.mark.parametrize("leaf", LEAVES)
def test_modules_the_config_reads_names_from_import_only_leaves(leaf):
    runtime = import_graph(SRC, only="runtime")[leaf]
    assert runtime <= {"syneg.errors", "syneg.limits", "syneg.redact"}, leaf  # redact: for urls


def test_config_loads_no_registry_implementation():
    graph = import_graph(SRC, only="runtime")
    loaded, todo = set(), ["syneg.config"]
    while todo:
        module = todo.pop()
        if module not in loaded:
            loaded.add(module)
            todo.extend(graph[module])
    implementations = ("syneg.mixing.strategies", "syneg.mixing.base", "syneg.synthesis.backends.",
                       "syneg.synthesis.engines.", "syneg.training.losses.")
    assert not sorted(m for m in loaded if m.startswith(implementations) and m not in LEAVES)


def _modules(package) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__)}


def test_strategy_names_are_the_strategy_modules():
    assert set(mixing_registry.STRATEGIES) == _modules(strategies)
    assert [mixing_registry.get_strategy(name).name for name in mixing_registry.STRATEGIES] == \
        list(mixing_registry.STRATEGIES)


def test_backend_names_are_the_backend_classes():
    assert {f"{name}_backend" for name in backends.BACKENDS} == {m for m in _modules(backends) if m.endswith("_backend")}
    for name in backends.BACKENDS:
        backend = get_backend(name)
        assert issubclass(backend, ChatBackend) and not inspect.isabstract(backend) and backend.name == name


def test_engine_names_are_the_engine_modules():
    assert set(engines.REGISTRY.values()) == _modules(engines) - {"load"}
    for module in engines.REGISTRY.values():
        tree = ast.parse((Path(engines.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
        assert "make" in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, module


def test_loss_names_are_the_loss_modules():
    assert set(losses.LOSSES) == _modules(losses) - {"distill"}  # distill: the shared distillation base
    assert losses.DISTILLATION <= set(losses.LOSSES)
    for name in losses.LOSSES:
        tree = ast.parse((Path(losses.__file__).parent / f"{name}.py").read_text(encoding="utf-8"))
        assert "build" in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, name

