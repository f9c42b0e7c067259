"""The run's bookkeeping without Prefect: stages in order, failures recorded, an unreachable arXiv
stops the network stages at once and the others still run."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from waits import CEILING

from litmine import pipeline
from litmine.config import load_settings
from litmine.errors import StageError
from litmine.store import Store


def _refused_url() -> str:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_offline_the_network_stages_stop_with_one_line_each_and_the_rest_run(data_dir):
    url = _refused_url()
    cfg = load_settings(arxiv_api_url=f"{url}/api/query", arxiv_pdf_url=f"{url}/pdf", arxiv_retries=4,
                        arxiv_delay_seconds=3.0)
    store = Store(cfg.database)
    store.migrate()
    report = pipeline.run_pipeline(cfg, store, ["survey", "fetch-survey", "fetch-arxiv", "pdfs", "digest"])
    reason = "arXiv cannot be reached: the connection was refused; check the network, or LITMINE_ARXIV_API_URL"
    assert report.failed == {"fetch-survey": reason, "fetch-arxiv": f"not tried: {reason}", "pdfs": f"not tried: {reason}"}
    assert set(report.counts) == {"survey", "digest"} and report.counts["survey"].new == 327
    with store.connect(read_only=True) as con:
        run = con.execute("SELECT status, error FROM runs").fetchone()
        tried = con.execute("SELECT count(*) FROM failures WHERE item = 'id batch'").fetchone()[0]
    assert run[0] == "failed" and run[1].startswith(f"fetch-survey: {reason}; fetch-arxiv: not tried")
    assert tried == 1
    with store.connect(read_only=True) as con:  # item failures and whole-stage ones: one name per stage
        stages = {st for (st,) in con.execute("SELECT DISTINCT stage FROM failures").fetchall()}
    assert stages == {"fetch-survey", "fetch-arxiv", "pdfs"}


def test_a_stage_that_raises_is_recorded_and_the_next_ones_run(data_dir, monkeypatch):
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    from litmine.errors import SeedError

    def broken(ctx, **options):
        raise SeedError("the seed is unreadable", file="taxonomy.json")

    stages = [pipeline.Stage("survey", broken, "a broken stage"), *[s for s in pipeline.STAGES if s.name == "digest"]]
    monkeypatch.setattr(pipeline, "STAGES", stages)
    report = pipeline.run_pipeline(cfg, store, ["survey", "digest"])
    assert report.failed == {"survey": "the seed is unreadable (file=taxonomy.json)"}
    assert list(report.counts) == ["digest"] and report.status == "failed"
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT stage, item FROM failures").fetchall() == [("survey", "*")]


def _runs(store):
    with store.connect(read_only=True) as con:
        return con.execute("SELECT command, status, error FROM runs ORDER BY started_at").fetchall()


def test_a_run_ends_its_row_when_its_block_raises_or_is_interrupted(data_dir):
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    try:
        with pipeline.Run(cfg, store, "fetch arxiv"):
            raise RuntimeError("the disk is full")
    except RuntimeError:
        pass
    try:
        with pipeline.Run(cfg, store, "fetch pdfs"):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    with pipeline.Run(cfg, store, "fetch oai") as run:
        run.stage("oai-pmh", via=lambda stage, ctx: pipeline.run_stage(pipeline.Stage(
            "oai-pmh", lambda ctx: pipeline.Counts("oai-pmh", failed=1, notes=["stopped after 0 pages"]), ""), ctx))
    assert _runs(store) == [("fetch arxiv", "failed", "the disk is full"),
                            ("fetch pdfs", "interrupted", "stopped by Ctrl-C"),
                            ("fetch oai", "failed", "oai-pmh: stopped after 0 pages")]
    with pipeline.Run(cfg, store, "fetch oai"):  # the lock was released every time
        pass


SIGTERMED = """
import os, signal, sys, time
from litmine import pipeline
from litmine.config import load_settings
from litmine.errors import StageError
from litmine.store import Store
cfg = load_settings()
store = Store(cfg.database)
with pipeline.Run(cfg, store, "fetch pdfs"):
    print("running", flush=True)
    time.sleep(60)
"""


def test_sigterm_ends_the_run_as_interrupted(data_dir):
    import signal
    import subprocess
    import sys

    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    proc = subprocess.Popen([sys.executable, "-c", SIGTERMED], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=CEILING) == 128 + signal.SIGTERM
    assert _runs(store) == [("fetch pdfs", "interrupted", "stopped by a signal")]


def test_a_run_executes_the_nightly_stages_of_the_one_table_in_order(data_dir):
    cfg = load_settings()
    seen = []

    def via(stage, ctx, **options):
        seen.append(stage.name)
        return pipeline.Counts(stage.name, new=1) if stage.name == "digest" else pipeline.Counts(stage.name)

    with pipeline.Run.open(cfg, "run") as run:
        report = run.execute(None, via)
    assert seen == pipeline.stage_names() and "oai-pmh" not in seen  # on-demand stages are not nightly
    with pytest.raises(StageError, match="unknown stage evaluate: known stages are decisions, "):
        pipeline.select(["evaluate"])  # `litmine run --stage` takes the nightly stages only
    assert report.status == "ok" and report.counts["digest"].new == 1
    with run.store.connect(read_only=True) as con:
        assert con.execute("SELECT command, status FROM runs").fetchall() == [("run", "ok")]


def test_a_command_s_stage_must_be_in_the_table(data_dir):
    with pipeline.Run.open(load_settings(), "fetch survey") as run:
        with pytest.raises(StageError) as raised:
            run.stage("resolve")
    assert str(raised.value).startswith("unknown stage resolve: known stages are decisions, survey, fetch-survey,")
    assert str(raised.value).endswith(", digest, oai-pmh, labels-from-latex, evaluate")
    assert not hasattr(pipeline.Run, "call") and not hasattr(pipeline.Run, "_active")  # one way to run a stage


def test_a_stage_takes_a_command_s_options(data_dir, monkeypatch):
    seen = {}

    def fetch(ctx, max_results=None, until=None):
        seen.update(max_results=max_results, until=until)
        return pipeline.Counts("fetch-arxiv", new=2)

    stages = [pipeline.Stage("fetch-arxiv", fetch, "fetch", network=True)]
    monkeypatch.setattr(pipeline, "STAGES", stages)
    with pipeline.Run.open(load_settings(), "fetch arxiv") as run:
        assert run.stage("fetch-arxiv", max_results=10).new == 2
    assert seen == {"max_results": 10, "until": None}
    assert stages[0].run(run.ctx).new == 2 and seen == {"max_results": None, "until": None}  # nightly: no options


def test_the_run_help_lists_the_nightly_stages_of_the_table():
    from litmine.cli import main

    (option,) = [p for p in main.commands["run"].params if p.name == "stages"]
    assert option.help == "Run only this stage (repeatable): " + ", ".join(pipeline.stage_names()) + "."


SRC = Path(__file__).resolve().parents[1] / "src" / "litmine"
STAGE_LITERALS = [
    re.compile(r'record_failure\(con, run_id, "([^"]+)"'),  # item failures under a literal name
    re.compile(r'^STAGE = "([^"]+)"', re.M),  # a module's stage constant
    re.compile(r'f"(classify-)\{'),  # per-classifier failures: classify-<name>
]


def test_every_stage_name_written_to_failures_is_one_of_the_stage_table():
    names = set(pipeline.stage_names(every=True))
    found = {}
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in STAGE_LITERALS:
            for name in pattern.findall(text):
                found.setdefault(name, path.name)
    assert found, "no stage names found: the patterns are out of date"
    stray = {name: where for name, where in found.items()
             if name not in names and not (name == "classify-" and any(n.startswith(name) for n in names))}
    assert stray == {}


def test_a_stage_whose_store_open_fails_does_not_poison_the_next(data_dir, monkeypatch):
    import litmine.store as store_module

    real = store_module.check_size

    def broken(con, path):
        monkeypatch.setattr(store_module, "check_size", real)  # once
        raise RuntimeError("the disk went away")

    def reads(ctx):
        with ctx.store.connect(read_only=True) as con:
            return pipeline.Counts("digest", unchanged=con.execute("SELECT count(*) FROM runs").fetchone()[0])

    with pipeline.Run.open(load_settings(), "run") as run:
        monkeypatch.setattr(store_module, "check_size", broken)
        assert run.stage("screen", via=lambda stage, ctx: reads(ctx)) is None  # failed as a whole
        assert run.stage("digest", via=lambda stage, ctx: reads(ctx)).unchanged == 1
    assert run.report.failed == {"screen": "the disk went away"}
    assert _runs(run.store) == [("run", "failed", "screen: the disk went away")]


def test_a_query_interrupted_by_a_signal_stops_the_run_as_interrupted(data_dir, monkeypatch):
    """A signal handler that raises inside a DuckDB query (Ctrl-C, SIGTERM, a test's time limit)
    reaches us as DuckDB's RuntimeError("Query interrupted"): that stops the run, not one stage."""
    def interrupted(ctx):
        raise RuntimeError("Query interrupted")

    ran = []
    with pytest.raises(pipeline.RunInterrupted):
        with pipeline.Run.open(load_settings(), "run") as run:
            run.stage("screen", via=lambda stage, ctx: interrupted(ctx))
            ran.append("digest")
    assert ran == []
    (command, status, error), = _runs(run.store)
    assert (command, status) == ("run", "interrupted") and error.startswith("stopped by a signal")


CLI = SRC / "cli"


def _stage_functions() -> set[str]:
    """The library calls the stage table's entries make: every call given the run's id in the
    adapters of ``pipeline.py`` (a stage's work is what it records under the run)."""
    import ast

    tree = ast.parse((SRC / "pipeline.py").read_text(encoding="utf-8"))
    adapters = {s.fn.__qualname__.split(".")[0] for s in pipeline.STAGES}
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in adapters:
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and any(k.arg == "run_id" for k in call.keywords):
                    func = call.func
                    found.add(func.id if isinstance(func, ast.Name) else func.attr)
    return found


def test_no_command_wires_a_stage_of_its_own():
    """A command runs a stage only through the table (``run.stage(NAME, **options)``): no module of
    ``cli/`` imports or calls a library function a stage calls, nor runs a stage another way."""
    import ast

    functions = _stage_functions()
    assert {"load_survey", "fetch_new", "download_pdfs", "extract_documents", "embed_works", "classify_works",
            "find_topics", "write_digest", "import_decisions"} <= functions, "the adapters' calls are out of date"
    origins = {}  # the adapters import some under another name: the name they have where defined
    for node in ast.walk(ast.parse((SRC / "pipeline.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) in functions:
                    origins[alias.name] = alias.asname
    wired = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                wired += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names
                          if a.name in functions or a.name in origins and node.module != "litmine.cli.common"]
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in functions:
                    wired.append(f"{path.name}:{node.lineno} calls {name}")
                if name in ("call", "run_stage") and isinstance(node.func, ast.Attribute):
                    wired.append(f"{path.name}:{node.lineno} runs a stage outside Run.stage")
                if name == "stage" and node.args and isinstance(node.args[0], ast.Constant):
                    if node.args[0].value not in pipeline.stage_names(every=True):
                        wired.append(f"{path.name}:{node.lineno} runs {node.args[0].value}, not in the table")
    assert wired == []


def test_a_good_manual_command_clears_the_nightly_failure_of_its_stage(data_dir, monkeypatch):
    """`litmine survey load` is the stage ``survey`` with its options: it records and clears the
    stage's whole-stage failure exactly as the nightly run does."""
    from click.testing import CliRunner

    from litmine.cli import main
    from litmine.errors import SeedError
    from litmine.store.failures import open_failures

    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()

    def broken(ctx, **options):
        raise SeedError("the seed is unreadable", file="taxonomy.json")

    table = pipeline.STAGES
    monkeypatch.setattr(pipeline, "STAGES", [pipeline.Stage("survey", broken, "a broken stage") if s.name == "survey" else s
                                               for s in table])
    assert pipeline.run_pipeline(cfg, store, ["survey"]).failed == {"survey": "the seed is unreadable (file=taxonomy.json)"}
    monkeypatch.setattr(pipeline, "STAGES", table)
    with store.connect(read_only=True) as con:
        assert [(f[0], f[1]) for f in open_failures(con)] == [("survey", "*")]

    empty = data_dir / "no-seed"
    empty.mkdir()
    failed = CliRunner().invoke(main, ["survey", "load", "--seed-dir", str(empty)])  # a bad manual run: recorded
    assert failed.exit_code == 1 and failed.output.startswith("Error: the stage survey failed: ")
    with store.connect(read_only=True) as con:
        assert [(f[0], f[1]) for f in open_failures(con)] == [("survey", "*"), ("survey", "*")]

    result = CliRunner().invoke(main, ["survey", "load"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("survey: 327 new")
    with store.connect(read_only=True) as con:
        assert open_failures(con) == []  # the good manual run cleared both
        assert con.execute("SELECT command, status FROM runs ORDER BY started_at").fetchall() == [
            ("run", "failed"), ("survey load", "failed"), ("survey load", "ok")]
