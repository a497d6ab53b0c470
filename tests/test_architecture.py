"""The package's layering: every import of a ``grafx`` module goes to the same or a lower layer.

Every module under ``src/grafx`` is parsed with :mod:`ast`; its imports (at module level and
inside functions and classes; ``if TYPE_CHECKING:`` blocks excepted, since they never run) are
checked against :data:`LAYERS`:

- an import goes to a unit of the same layer or a lower one;
- within a layer, the graph of imports between units has no cycle;
- nothing outside ``grafx.cli`` imports ``grafx.cli`` (``grafx.__main__``, the ``python -m
  grafx`` entry point, excepted).

A *unit* is ``grafx.X`` for a top-level module or package ``X``, except that ``grafx.fit.many``
is a unit of its own. ``grafx/__init__.py`` (lazy re-exports of the subpackages) is exempt.
The old import paths of the original library kept importable for compatibility
(:data:`ALIASES`) are modules of the compatibility layer wherever they sit: each may hold
only re-exports (a docstring, imports, ``__all__`` and a forwarding ``__getattr__``/``__dir__``),
which :func:`test_aliases_only_re_export` checks.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "grafx"

# Bottom to top; a unit may import from its own layer or any lower one.
LAYERS: dict[str, int] = {
    "grafx.errors": 0,
    "grafx.device": 0,
    "grafx.progress": 0,
    "grafx.penalty": 0,
    "grafx.processors": 1,
    "grafx.data": 2,
    "grafx.automation": 2,
    "grafx.render": 3,
    "grafx.losses": 4,
    "grafx.metrics": 4,
    "grafx.io": 4,
    "grafx.draw": 4,
    "grafx.gates": 4,
    "grafx.presets": 4,
    "grafx.mixing": 4,
    "grafx.baseline": 4,
    "grafx.synth": 4,
    "grafx.utils": 4,
    "grafx.fit": 5,
    "grafx.prune": 5,
    "grafx.nn": 5,
    "grafx.demo": 6,
    "grafx.fit.many": 6,
    "grafx.cli": 7,
    "grafx.compat": 7,
    "grafx.testing": 7,
    "grafx.__main__": 7,
}

# Old import paths kept for code written for the original library (or documented before a
# move): modules of the unit on the right, whatever package they sit in.
ALIASES: dict[str, str] = {
    "grafx.render.core": "grafx.compat",
    "grafx.render.order.graph": "grafx.compat",
    "grafx.render.order.tensor": "grafx.compat",
    "grafx.automation.readout": "grafx.mixing",
    "grafx.processors.blackbox_check": "grafx.testing",
}

EXEMPT = {"grafx"}  # grafx/__init__.py: lazy re-exports of every subpackage
CLI_ENTRY_POINTS = {"grafx.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def unit_of(module: str) -> str:
    """The unit a module belongs to (its alias's unit for the old import paths)."""
    for alias, unit in ALIASES.items():
        if module == alias or module.startswith(alias + "."):
            return unit
    if module == "grafx.fit.many" or module.startswith("grafx.fit.many."):
        return "grafx.fit.many"
    return ".".join(module.split(".")[:2])


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _import_module_literal(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("grafx....")`` with a literal name."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "import_module" or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """``(line, target module)`` of every ``grafx`` import that can run, in file order."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, is_package, node)
            for alias in node.names:
                # ``from grafx.fit import many`` imports the submodule grafx.fit.many.
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else base))
        elif isinstance(node, ast.Call):
            target = _import_module_literal(node)
            if target is not None:
                found.append((node.lineno, target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    unique = dict.fromkeys((line, t) for line, t in found if t == "grafx" or t.startswith("grafx."))
    return list(unique)


def _edges() -> list[tuple[str, int, str, str, str]]:
    """``(file, line, module, target, target unit)`` for every import between grafx modules."""
    edges = []
    for module, path in MODULES.items():
        if module in EXEMPT:
            continue
        for line, target in imports_of(module, path):
            if target == "grafx":
                continue
            rel = path.relative_to(SRC.parent)
            edges.append((f"{rel}:{line}", line, module, target, unit_of(target)))
    return edges


EDGES = _edges()


def test_every_unit_has_a_layer():
    units = {unit_of(m) for m in MODULES if m not in EXEMPT}
    missing = sorted(u for u in units if u not in LAYERS)
    assert not missing, f"units without a layer in LAYERS: {missing}"


def test_imports_go_down_the_layers():
    bad = []
    for where, _, module, target, target_unit in EDGES:
        source_unit = unit_of(module)
        if LAYERS.get(target_unit, -1) > LAYERS.get(source_unit, 99):
            bad.append(
                f"{where} -> {target} ({source_unit} layer {LAYERS.get(source_unit)} imports "
                f"{target_unit} layer {LAYERS.get(target_unit)})"
            )
    assert not bad, f"{len(bad)} import(s) go up the layers:\n" + "\n".join(bad)


def test_nothing_outside_the_cli_imports_the_cli():
    bad = [
        f"{where} -> {target}"
        for where, _, module, target, target_unit in EDGES
        if target_unit == "grafx.cli"
        and unit_of(module) != "grafx.cli"
        and module not in CLI_ENTRY_POINTS
    ]
    assert not bad, f"{len(bad)} import(s) of grafx.cli from outside it:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_no_cycle_between_units_of_a_layer():
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for place, _, module, target, target_unit in EDGES:
        source_unit = unit_of(module)
        if source_unit == target_unit or target_unit not in LAYERS:
            continue
        if LAYERS[target_unit] == LAYERS.get(source_unit):
            graph[source_unit].add(target_unit)
            where[(source_unit, target_unit)].append(f"{place} -> {target}")
    report = []
    for component in _cycles(graph):
        report.append("cycle: " + " <-> ".join(component))
        members = set(component)
        for (a, b), places in sorted(where.items()):
            if a in members and b in members:
                report.extend(f"  {p}" for p in places)
    assert not report, "\n".join(report)


def test_aliases_only_re_export():
    allowed_functions = {"__getattr__", "__dir__"}
    bad = []
    for alias in ALIASES:
        path = MODULES.get(alias)
        if path is None:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            ok = (
                isinstance(node, (ast.Import, ast.ImportFrom))
                or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                or (
                    isinstance(node, ast.Assign)
                    and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                )
                or (isinstance(node, ast.FunctionDef) and node.name in allowed_functions)
            )
            if not ok:
                bad.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
        targets = {unit_of(t) for _, t in imports_of(alias, path)}
        if not targets <= {ALIASES[alias]}:
            bad.append(f"{alias} re-exports from {sorted(targets)}, not {ALIASES[alias]}")
    assert not bad, "old import paths that hold more than re-exports:\n" + "\n".join(bad)


def test_the_checker_sees_imports_in_functions_and_skips_type_checking(tmp_path):
    """The parser itself: a function-local import counts, a TYPE_CHECKING one does not."""
    source = (
        '"""Docstring mentioning import grafx.cli."""\n'
        "from typing import TYPE_CHECKING\n"
        "import grafx.errors\n"
        "if TYPE_CHECKING:\n"
        "    from grafx.cli import main\n"
        "def f():\n"
        "    from grafx.fit import many\n"
        "    from . import rows\n"
        "    importlib.import_module('grafx.io')\n"
    )
    path = tmp_path / "grafx" / "data" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = imports_of("grafx.data.probe", path)
    assert found == [
        (3, "grafx.errors"),
        (7, "grafx.fit.many"),
        (8, "grafx.data.rows"),
        (9, "grafx.io"),
    ]


def test_no_cycle_between_modules():
    """No module imports, directly or through others, a module that imports it back; a package's
    ``__init__`` counts as a module (its submodules should not import the package itself)."""
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for place, _, module, target, _unit in EDGES:
        if target != module and target in MODULES and target not in EXEMPT:
            graph[module].add(target)
            where[(module, target)].append(f"{place} -> {target}")
    report = []
    for component in _cycles(graph):
        report.append("cycle: " + " <-> ".join(component))
        members = set(component)
        for (a, b), places in sorted(where.items()):
            if a in members and b in members:
                report.extend(f"  {p}" for p in places)
    assert not report, "\n".join(report)
