"""The house rules hold: the import rules of shared/STYLE.md (interfaces -> tasks -> services -> models, never
backwards; a one-way graph of packages), an import graph without cycles, and ruff's lint and format rules from
pyproject.toml."""

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def root_packages() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config["importlinter"]["root_packages"].split()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of nodes that reach each other (strongly connected components of more than one node)."""
    order, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_cycles_finds_a_circle_and_nothing_in_a_line():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def imports_between(graph: grimp.ImportGraph, packages: set[str]) -> dict[str, set[str]]:
    """Which of `packages` each one imports, counting the imports of everything inside it."""
    return {
        package: {
            other
            for other in packages - {package}
            if graph.direct_import_exists(importer=package, imported=other, as_packages=True)
        }
        for package in packages
    }


def test_the_import_graph_has_no_cycle_between_packages_or_modules():
    # Every import counts, also one inside a function: a lazy import only hides a cycle.
    graph = grimp.build_graph(*root_packages(), cache_dir=None)

    between_packages = imports_between(graph, set(root_packages()))
    # The rooms of each package, at every depth: core.tasking and core.operations, orders.tasks and orders.models.
    between_rooms = {parent: imports_between(graph, graph.find_children(parent)) for parent in graph.modules}
    between_modules = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}

    assert cycles(between_packages) == []
    assert {parent: cycles(rooms) for parent, rooms in between_rooms.items() if cycles(rooms)} == {}
    assert cycles(between_modules) == []


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing_to_fix():
    ruff = Path(sys.executable).with_name("ruff")

    lint = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    format_ = subprocess.run([ruff, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)

    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert format_.returncode == 0, format_.stdout + format_.stderr
