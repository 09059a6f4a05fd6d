"""The project's shape, checked: no import cycle between modules (function-level imports included), the layers
import only downwards, and every scenario step kind is declared once, in a module of its own."""
from __future__ import annotations

import ast
import os

from conftest import ROOT

PACKAGES = ("hostapi", "engine", "simulator", "harness")
# a layer may import the ones after it only: the harness drives the engine and the simulator, both speak hostapi
LAYERS = {"harness": {"harness", "engine", "simulator", "hostapi"}, "engine": {"engine", "hostapi"},
          "simulator": {"simulator", "hostapi"}, "hostapi": {"hostapi"}}


def _modules() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
                    found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its text (top level or inside a function)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.endswith("__init__.py")
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".")
                    parts = parts if is_package else parts[:-1]
                    parts = parts[:len(parts) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                out.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_import_only_downwards():
    wrong = [f"{m} imports {d}" for m, deps in import_graph().items() for d in deps
             if d.split(".")[0] not in LAYERS[m.split(".")[0]]]
    assert wrong == []


def test_every_step_kind_is_one_module_of_the_registry():
    from harness.scenario.steps import KINDS
    folder = os.path.join(ROOT, "harness", "scenario", "steps")
    modules = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py")
    assert sorted(KINDS) == modules
    for name, kind in KINDS.items():
        assert kind.run.__module__ == f"harness.scenario.steps.{name}"
        assert kind.doc and all(f.doc for f in kind.fields), name
