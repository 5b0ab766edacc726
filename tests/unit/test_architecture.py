"""The house rules (docs/ARCHITECTURE.md), checked on the source: no import cycle between modules
(imports inside functions counted), no private name imported across modules, the environment read
only by the settings module and the CLI, and a light ``import vidembed``. The floors and the
families' independence are import-linter's contracts ([tool.importlinter] in pyproject.toml), run
by scripts/test.sh."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vidembed"
# The only modules that may read the environment (rule 4 of docs/ARCHITECTURE.md).
ENVIRONMENT_READERS = {"vidembed.config", "vidembed.cli"}
# What `import vidembed` and the HTTP client must not load: the engine's native libraries.
HEAVY = ("av", "onnxruntime", "ctranslate2", "faster_whisper")


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(name: str, tree: ast.Module, known: set[str]) -> Iterator[tuple[str, ast.stmt]]:
    """Every vidembed module that ``name`` imports, anywhere in its code (with the statement)."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    yield full, node
                elif base in known:
                    yield base, node


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {
        name: {target for target, _ in imported(name, tree, known) if target != name}
        for name, tree in trees.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # a package's __init__ importing its own submodules is how packages re-export: not a cycle
    return {
        name: {t for t in targets if not t.startswith(name + ".") or not _is_package(name)}
        for name, targets in graph.items()
    }


def test_no_import_cycle_even_inside_functions() -> None:
    assert cycles(_package_parents(import_graph())) == []


def test_no_private_name_crosses_a_module() -> None:
    trees = modules()
    known = set(trees)
    crossing = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidembed"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.endswith("__")
                    if private and f"{node.module}.{alias.name}" not in known:
                        crossing.append(f"{name}: from {node.module} import {alias.name}")
    assert crossing == []


def test_the_environment_is_read_by_the_settings_module_and_the_cli_only() -> None:
    readers = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                if (
                    isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                    and name not in ENVIRONMENT_READERS
                ):
                    readers.append(f"{name}:{node.lineno}")
    assert readers == []


def _loaded_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in json.loads(out)}


def test_import_vidembed_and_the_http_client_stay_light() -> None:
    for statement in (
        "import vidembed",
        "from vidembed import VidEmbed; VidEmbed(base_url='http://127.0.0.1:9', api_key='k').close()",
    ):
        assert sorted(set(HEAVY) & _loaded_after(statement)) == [], statement
