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


# Method names under which DuckDB runs SQL text: ``execute``/``executemany``, and ``sql`` with its
# alias ``query``. Any call of one of them outside ``store/`` is flagged, whatever it is called on:
# a connection passed under another name, a cursor, or a relation are all caught, at the price of
# the few same-named methods that run no SQL, named here one by one (file, call).
_SQL_METHODS = {"execute", "executemany", "sql", "query"}
NOT_SQL = {
    ("pipeline.py", "run.execute"),  # pipeline.Run.execute: runs the stages of a run
    ("cli/flows.py", "run.execute"),
    ("review/digest.py", "digest.query"),  # the text of a query the digest shows for `litmine query`
}


def sql_calls(src) -> list[tuple[str, int, str]]:
    """(file, line, call) of every call of a SQL-running method in the package outside ``store/``."""
    import ast

    found = []
    for path in sorted(src.rglob("*.py")):
        if path.is_relative_to(src / "store"):
            continue
        rel = path.relative_to(src).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SQL_METHODS:
                call = ast.unparse(node.func)
                if (rel, call) not in NOT_SQL:
                    found.append((rel, node.lineno, call))
    return found


def test_only_the_storage_package_executes_sql():
    """Every SQL statement lives in ``store/``, in a function named for what it reads or writes;
    stages call those functions (issue 23)."""
    offenders = sql_calls(ROOT / "src" / "litmine")
    listed = [f"{f}:{line}: {call}(...)" for f, line, call in offenders]
    assert listed == [], "SQL outside src/litmine/store/ (move it into a store function):\n" + "\n".join(listed)


def test_the_sql_check_sees_sql(tmp_path):
    """The check flags a connection under any name and a cursor, and passes store/ and the named exceptions."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "works.py").write_text("def f(con):\n    return con.execute('SELECT 1')\n")
    (tmp_path / "stage.py").write_text(
        "def f(db, cur, rel):\n    db.execute('SELECT 1')\n    cur.executemany('INSERT', [])\n"
        "    return rel.sql('SELECT 2').query('x', 'SELECT 3')\n")
    (tmp_path / "pipeline.py").write_text("def f(run):\n    run.execute([], None)\n")
    assert sql_calls(tmp_path) == [("stage.py", 2, "db.execute"), ("stage.py", 3, "cur.executemany"),
                                   ("stage.py", 4, "rel.sql('SELECT 2').query"), ("stage.py", 4, "rel.sql")]


def test_one_title_normaliser_one_sha256_one_clock():
    """Titles are compared through ``ids.normalize_title``, files and text hashed through ``hashing``,
    and now is ``clock.utcnow``: no second definition of any of them (issue 23)."""
    import ast
    import re

    src = ROOT / "src" / "litmine"
    kinds = {"title normaliser": re.compile(r"normali[sz]e_?title|norm_title"),
             "SHA-256 helper": re.compile(r"sha256"), "clock": re.compile(r"^_?(utc)?now$")}
    found: dict[str, list[str]] = {kind: [] for kind in kinds}
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for kind, pattern in kinds.items():
                    if pattern.search(node.name):
                        found[kind].append(f"{path.relative_to(src).as_posix()}:{node.name}")
    assert found == {"title normaliser": ["ids.py:normalize_title"],
                     "SHA-256 helper": ["hashing.py:sha256_file", "hashing.py:sha256_hex"],
                     "clock": ["clock.py:utcnow"]}



STAGE_PACKAGES = ("sources", "pdf", "survey", "classify", "evaluation", "review", "llm", "embed")
STORE_MAY_IMPORT = ("litmine.store", "litmine.config", "litmine.errors", "litmine.ids", "litmine.counts", "litmine.clock",
                    "litmine.hashing", "litmine.__version__")


def _litmine_modules():
    src = ROOT / "src"
    for path in (src / "litmine").rglob("*.py"):
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        yield name, _imports_at_load(path, package)


def test_the_layers_hold_store_below_stages_below_the_run():
    """The tree reads like the pipeline: store/ imports no stage; a stage's package (sources, pdf,
    survey, classify, evaluation, review, llm, embed) imports no pipeline, flow or command line."""
    offenders = []
    for name, imports in _litmine_modules():
        top = name.split(".")[1] if "." in name else ""
        if top == "store":
            offenders += [f"{name} imports {m}" for m in imports if m != "litmine"
                          and not any(m == ok or m.startswith(ok + ".") for ok in STORE_MAY_IMPORT)]
        elif top in STAGE_PACKAGES:
            offenders += [f"{name} imports {m}" for m in imports
                          if m.split(".")[1:2] and m.split(".")[1] in ("pipeline", "flows", "cli")]
    assert offenders == []


def test_no_flat_module_is_left_beside_the_packages():
    """What stays at the top is shared by every stage (settings, counts, errors, ids, the run and its
    lock, status, doctor, the plugin lookup); everything else lives in its flow's package."""
    top = sorted(p.stem for p in (ROOT / "src" / "litmine").glob("*.py"))
    assert top == ["__init__", "__main__", "clock", "config", "counts", "doctor", "errors", "hashing", "ids",
                   "pipeline", "plugins", "runlock", "status"]


# Calls that compute a SHA-256 or read the clock themselves, outside ``hashing`` and ``clock``, still
# left in classify/ (its classes are being merged there; to route through the helpers then).
OWN_HASH_OR_CLOCK = {
    ("classify/base.py", "hashlib.sha256"),
    ("classify/llm.py", "hashlib.sha256"),
    ("classify/method.py", "hashlib.sha256"),
}


def test_hashes_and_now_go_through_their_one_helper():
    """No module hashes with ``hashlib.sha256`` or asks ``datetime.now``/``utcnow``/``date.today``
    itself: ``hashing.sha256_hex``/``sha256_file`` and ``clock.utcnow`` are the one way (issue 23)."""
    import ast

    src = ROOT / "src" / "litmine"
    calls = {"hashlib.sha256", "datetime.now", "datetime.utcnow", "date.today", "datetime.datetime.now"}
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel in ("hashing.py", "clock.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                call = ast.unparse(node.func)
                if call in calls and (rel, call) not in OWN_HASH_OR_CLOCK:
                    found.append(f"{rel}:{node.lineno}: {call}()")
    assert found == [], "use litmine.hashing / litmine.clock:\n" + "\n".join(found)
