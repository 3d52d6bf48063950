"""Data flows one way (Azure -> sources -> jobs -> store -> reads -> CLI, dashboard, alerts, reports):
no module of collector/ imports, at its top, one that imports it back, and no layer imports a later one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A layer -> the layers it must never import (those that come after it in the flow).
LATER = {
    "collector.sources": ("collector.jobs", "collector.read", "collector.alerts", "collector.reports", "collector.cli"),
    "collector.jobs": ("collector.read", "collector.alerts", "collector.reports", "collector.cli"),
    # The jobs' registry (collector/jobs/__init__.py: names, intervals) is no job: freshness reads it.
    "collector.read": ("collector.jobs.", "collector.alerts", "collector.reports", "collector.cli"),
}


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Each collector module's imports of collector modules at its top level (not inside a function,
    not under TYPE_CHECKING), as module names."""
    modules = {_module(p): p for p in (ROOT / "collector").rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("collector"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("collector")}
        out[name] = found - {name}
    return out


def test_no_import_circles_in_collector() -> None:
    graph = _imports()
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                circles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not circles, " -> ".join(circles[0])


def test_no_layer_imports_a_later_one() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for layer, later in LATER.items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if target.startswith(later)
    ]
    assert not wrong, wrong
