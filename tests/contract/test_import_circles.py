"""No two modules of havirt import each other, directly or around a circle.

Every import counts: at module level, inside functions (deferred) and under
``TYPE_CHECKING``. A deferred or type-only import hides a circle from Python but not
from the reader: the two modules still cannot be understood, tested or moved apart.
The graph is read from the source (ast), nothing is imported.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-dir"]
# Known circles, each a sorted tuple of module names, and why they are still there.
KNOWN: dict[tuple[str, ...], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_DIR.items():
        for path in (REPO / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in modules else None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from . import ssh` imports the submodule; `from .x import Y` imports x.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                found = known(target)
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[tuple[str, ...]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                circles.append(tuple(sorted(component)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_the_graph_sees_the_modules_and_their_imports() -> None:
    graph = _graph(_modules())
    assert "havirt.tools.pacemaker.status" in graph["havirt.tools.pacemaker.simulation"]
    assert "havirt.ocf.fencing.passwords" in graph["havirt.ocf.fencing.protocol"]
    # A circle made of a deferred import is found.
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]


def test_no_module_imports_itself_around_a_circle() -> None:
    circles = _circles(_graph(_modules()))
    new = [circle for circle in circles if circle not in KNOWN]
    assert not new, "import circles: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [circle for circle in KNOWN if circle not in circles]
    assert not gone, f"no longer a circle, drop it from KNOWN: {gone}"
