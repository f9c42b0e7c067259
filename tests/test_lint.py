"""The code passes the linter with the project's own settings (pyproject.toml [tool.ruff.lint])."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                           "src", "tests", "bench", "flows", "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imports_at_load(path, package: str) -> set[str]:
    """The litmine modules a module imports anywhere: at its top level, under ``if TYPE_CHECKING``,
    and inside functions (an import deferred to first use is still a dependency)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("litmine"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.startswith("litmine"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


def test_no_module_imports_itself_in_a_circle():
    """extract -> references -> store.text -> extract (issue 13) and every other circle: none, counting
    type-only imports and imports inside functions."""
    src = ROOT / "src"
    modules = {}
    for path in (src / "litmine").rglob("*.py"):
        name = ".".join(path.relative_to(src).with_suffix("").parts)
        is_package = name.endswith(".__init__")
        name = name.removesuffix(".__init__")
        modules[name] = (path, name if is_package else name.rpartition(".")[0])
    graph = {name: {m for m in _imports_at_load(path, package) if m in modules and m != name}
             for name, (path, package) in modules.items()}
    for name in graph:  # a package's own submodules load after it: an edge back to it is no circle
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}

    circles = []

    def visit(name, trail):
        for nxt in sorted(graph[name]):
            if nxt in trail:
                circles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in done:
                visit(nxt, trail + [nxt])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert circles == []


def test_only_the_storage_package_imports_duckdb():
    import ast

    src = ROOT / "src" / "litmine"
    offenders = []
    for path in src.rglob("*.py"):
        if path.is_relative_to(src / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "duckdb" or n.startswith("duckdb.") for n in names):
                offenders.append(str(path.relative_to(src)))
    assert offenders == []


def test_the_methods_and_their_evaluations_run_no_sql_of_their_own():
    """The methods (classify/), their evaluations and their command read and write through store/
    functions (issue 23); no ``.execute(`` or ``.sql(`` call of their own."""
    import ast

    src = ROOT / "src" / "litmine"
    paths = [*sorted((src / "classify").glob("*.py"))] + [src / name for name in (
        "scope_eval.py", "evaluate.py", "evaluate_report.py", "llm_eval.py", "learning.py", "newpapers.py",
        "cli/classify.py")]
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("execute", "sql"):
                offenders.append(f"{path.relative_to(src)}:{node.lineno}")
    assert offenders == []
