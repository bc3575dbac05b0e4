"""The dependency rules of synthetic (DESIGN.md): no import cycles between its modules, no imports of
ibflow or analysis, no reach into another module's private names; estimators never imports synthetic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) for every import statement, at any depth (function-level too)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package holding this module
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def _graph(package: str) -> dict[str, set[str]]:
    mods = _modules(package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target, names in _imports(path, mod):
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods] or ([target] if target in mods else [])
            graph[mod] |= {c for c in candidates if c != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles_in_synthetic():
    """Package __init__ modules re-export their submodules; every other import points one way."""
    graph = _graph("synthetic")
    for mod in graph:  # a package's __init__ re-exporting its own submodules is not a dependency
        graph[mod] = {t for t in graph[mod] if not t.startswith(mod + ".")}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


@pytest.mark.parametrize("package, forbidden", [("synthetic", ("ibflow", "analysis")), ("estimators", ("synthetic", "ibflow", "analysis"))])
def test_dependencies_point_one_way(package, forbidden):
    for mod, path in _modules(package).items():
        for target, _ in _imports(path, mod):
            assert target.split(".")[0] not in forbidden, f"{mod} imports {target}"


def test_no_private_names_across_modules():
    """No module of synthetic imports another module's ``_private`` names, nor reads a private
    attribute of an object other than its own ``self`` / ``cls`` (as ``src._box()`` once did)."""
    for mod, path in _modules("synthetic").items():
        for target, names in _imports(path, mod):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{mod} imports private {private} from {target}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value.id if isinstance(node.value, ast.Name) else None
                assert owner in ("self", "cls"), f"{mod}:{node.lineno} reads {ast.unparse(node)}"
