"""The packages' layers only import downward, and no module of the project imports itself
back through others (README, "Layout").

    lastmile/    CLI, stack control, simulator, ingest, partner SDK, bench     imports anything below
    jobs/        job graphs (wiring only)                                      udfs.flink, udfs
    udfs/flink/  thin Flink functions                                          udfs
    udfs/        pure logic, contracts, kernels, sinks                         nothing of the project above

Every import counts, those inside functions too (a lazy import is still a dependency);
imports under ``if TYPE_CHECKING:`` are left out (they never run).
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("lastmile", "jobs", "udfs")
LAYERS = {"udfs": 0, "udfs.flink": 1, "jobs": 2, "lastmile": 3}


def layer(module: str) -> str:
    return "udfs.flink" if module == "udfs.flink" or module.startswith("udfs.flink.") else module.split(".")[0]


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: pathlib.Path, known: dict) -> set[str]:
    """The project's modules that ``path`` imports (a name from a package: its submodule if it is one)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    submodule = f"{child.module}.{alias.name}"
                    found.add(submodule if submodule in known else child.module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return {name for name in found if name.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path, known) if m != name} for name, path in known.items()}


def test_every_module_is_found_and_every_import_resolves():
    edges = graph()
    assert {"lastmile.cli", "jobs.coordination", "udfs.flink.outputs", "udfs.colocation", "udfs.geo"} <= set(edges)
    unknown = sorted(f"{m} -> {t}" for m, targets in edges.items() for t in targets if t not in edges)
    assert not unknown, unknown


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, targets in graph().items()
                    for t in targets if LAYERS[layer(t)] > LAYERS[layer(m)])
    assert not upward, "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle found by a depth-first walk, as the path that closes it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                walk(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    return found


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "\n".join(" -> ".join(c) for c in found)


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path):
    """The walk itself: an upward import and a two-module cycle in a made-up tree are found."""
    (tmp_path / "pure.py").write_text("def f():\n    from lastmile import cli\n")
    assert imports(tmp_path / "pure.py", {"lastmile.cli": None}) == {"lastmile.cli"}
    (tmp_path / "guarded.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import jobs.settings\n")
    assert imports(tmp_path / "guarded.py", {}) == set()
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    assert sum(len(targets) for targets in graph().values()) > 200  # the walk sees the project's imports
