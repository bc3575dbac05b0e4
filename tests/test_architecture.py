"""The import graph of the project's packages, read from the source with ``ast`` (DESIGN.md, "Packages").

What counts as an import: every ``import`` and ``from ... import`` statement anywhere in a module,
at the top, inside functions (a function-level import is a dependency all the same, only a later
one) and under ``if TYPE_CHECKING:``. TYPE_CHECKING-only imports count as well, for every check: they
never run, but they say that one module's meaning depends on another's, and the rule "no two modules
import each other" is about the design, not only about what Python would trip over at start-up.

How an import is resolved to a module (so that a package's ``__init__`` re-exporting its submodules
does not make a false cycle with a submodule importing a sibling through the package):

- ``import a.b.c`` is an edge to module ``a.b.c`` only, not to ``a`` or ``a.b`` (their ``__init__``
  runs, but only to re-export names, which is what the next rule sees through);
- ``from a.b import name``: to ``a.b.name`` if that is a module; else to the module that defines
  ``name``, following ``from X import name`` re-exports in ``a/b/__init__.py`` (and further
  re-exports); else (``name`` is defined in the ``__init__`` itself) to ``a.b``;
- relative imports are resolved against the importing module's package; only modules of the five
  packages below are nodes, everything else (torch, numpy, the standard library) is ignored.

The checks: (a) no strongly connected component of more than one module; (b) packages depend only
in the allowed direction; (c) no module uses another module's private name (``from m import _x``,
``m._x``, or ``obj._x`` where ``_x`` is a private name defined in another project module and not in
this one: e.g. calling a source object's private method from outside its module); (d) ``import
ibflow`` stays light; and no library module is much over 600 lines (a sign it does two things).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contracts", "estimators", "synthetic", "ibflow", "analysis")
# what each package may import, besides itself (DESIGN.md: analysis -> {ibflow, estimators, synthetic};
# ibflow may use estimators; synthetic and estimators import neither ibflow nor analysis; contracts
# imports nothing of the project)
ALLOWED = {
    "contracts": set(),
    "estimators": {"contracts"},
    "synthetic": {"contracts", "estimators"},
    "ibflow": {"contracts", "estimators"},
    "analysis": {"contracts", "estimators", "synthetic", "ibflow"},
}
MAX_MODULE_LINES = 600
HEAVY_FOR_IBFLOW = ("scipy.integrate",)  # and any module whose name has a part "jscc"


@dataclass(frozen=True)
class Edge:
    """One import of ``target`` by ``source``, at ``line`` of the source's file."""

    source: str
    target: str
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Every module of the five packages, by dotted name (a package by its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


@lru_cache(maxsize=None)
def _tree(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(), filename=str(path))


def _is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def _absolute(importer: str, module: str | None, level: int) -> str:
    """The absolute dotted name of ``from <level dots><module> import ...`` inside ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _defining_module(package: str, name: str, seen: frozenset[str] = frozenset()) -> str:
    """Where ``from package import name`` really gets ``name``: a submodule, a re-export's origin, or
    the package itself."""
    if f"{package}.{name}" in modules():
        return f"{package}.{name}"
    if package in seen or package not in modules():
        return package
    for node in ast.walk(_tree(package)):
        if isinstance(node, ast.ImportFrom):
            origin = _absolute(package, node.module, node.level)
            for alias in node.names:
                if (alias.asname or alias.name) == name and origin.split(".")[0] in PACKAGES:
                    if origin in modules():
                        return _defining_module(origin, alias.name, seen | {package})
    return package


def _project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _existing(name: str) -> str | None:
    """``name`` if it is a module, else its longest prefix that is (``import a.b.attr`` style)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules():
            return candidate
        parts.pop()
    return None


@lru_cache(maxsize=None)
def edges() -> tuple[Edge, ...]:
    """Every import between project modules, resolved as the module docstring says."""
    found: list[Edge] = []
    for name in modules():
        for node in ast.walk(_tree(name)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if _project(a.name)]
                targets = [t for t in (_existing(t) for t in targets) if t]
            elif isinstance(node, ast.ImportFrom):
                origin = _absolute(name, node.module, node.level)
                if not _project(origin) or origin not in modules():
                    continue
                targets = [_defining_module(origin, a.name) for a in node.names]
            for target in targets:
                if target != name:
                    found.append(Edge(name, target, node.lineno))
    return tuple(found)


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def test_scc_finds_a_cycle_and_ignores_a_chain():
    assert strongly_connected_components({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected_components({"a": {"b"}, "b": set()}) == []


def test_the_resolver_sees_through_package_reexports():
    """``from synthetic import get_source`` is an import of the module defining get_source, not of
    ``synthetic/__init__.py`` (which imports everything and would put every module in one cycle)."""
    targets = {e.target for e in edges() if e.source == "analysis.rd_gap"}
    assert "synthetic" not in targets and any(t.startswith("synthetic.") for t in targets)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for e in edges():
        graph[e.source].add(e.target)
    cycles = strongly_connected_components(graph)
    report = []
    for component in cycles:
        members = set(component)
        lines = [f"  {e.source} imports {e.target} ({modules()[e.source].relative_to(ROOT)}:{e.line})"
                 for e in sorted(set(edges()), key=lambda e: (e.source, e.line))
                 if e.source in members and e.target in members]
        report.append(f"cycle among {component}:\n" + "\n".join(lines))
    assert not cycles, "import cycles between modules:\n" + "\n".join(report)


def test_packages_depend_in_the_allowed_direction():
    bad = sorted(
        f"{modules()[e.source].relative_to(ROOT)}:{e.line}: {e.source} imports {e.target}"
        for e in set(edges())
        if (src := e.source.split(".")[0]) != (dst := e.target.split(".")[0]) and dst not in ALLOWED[src]
    )
    assert not bad, "imports against the package direction (DESIGN.md):\n" + "\n".join(bad)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@lru_cache(maxsize=None)
def private_names_defined() -> dict[str, frozenset[str]]:
    """Per module: the private names it defines (top-level or in a class body, functions, classes,
    assignments, and ``self._x = ...`` attributes)."""
    out = {}
    for name in modules():
        names = set()
        for node in ast.walk(_tree(name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
                names.add(node.attr)
        out[name] = frozenset(names)
    return out


def test_no_module_uses_another_modules_private_names():
    defined = private_names_defined()
    elsewhere: dict[str, set[str]] = {}
    for module, names in defined.items():
        for n in names:
            elsewhere.setdefault(n, set()).add(module)
    bad = []
    for name in modules():
        where = modules()[name].relative_to(ROOT)
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.ImportFrom):
                origin = _absolute(name, node.module, node.level)
                if _project(origin):
                    bad += [f"{where}:{node.lineno}: from {origin} import {a.name}" for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in defined[name]:
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                owners = sorted(elsewhere.get(node.attr, ()))
                if owners:
                    bad.append(f"{where}:{node.lineno}: {ast.unparse(node)} (private to {', '.join(owners)})")
    assert not bad, "private names used outside the module that defines them:\n" + "\n".join(sorted(set(bad)))


def test_import_ibflow_stays_light():
    """``import ibflow`` must not load scipy.integrate (slow) or any JSCC module (a separate concern)."""
    code = "import json, sys; import ibflow; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = json.loads(out)
    heavy = [m for m in loaded if m in HEAVY_FOR_IBFLOW or "jscc" in m.split(".")]
    assert not heavy, f"import ibflow loads {heavy}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_library_module_much_over_600_lines(package):
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()
             if name.split(".")[0] == package}
    big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split by concern): {big}"
