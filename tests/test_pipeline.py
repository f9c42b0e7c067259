"""The run's bookkeeping without Prefect: stages in order, failures recorded, an unreachable arXiv
stops the network stages at once and the others still run."""

from __future__ import annotations

import socket

from litmine import pipeline
from litmine.config import load_settings
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


def test_a_stage_that_raises_is_recorded_and_the_next_ones_run(data_dir, monkeypatch):
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    from litmine.errors import SeedError

    def broken(ctx):
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
        run.call("oai-pmh", lambda ctx: pipeline.Counts("oai-pmh", failed=1, notes=["stopped after 0 pages"]))
    assert _runs(store) == [("fetch arxiv", "failed", "the disk is full"),
                            ("fetch pdfs", "interrupted", "stopped by Ctrl-C"),
                            ("fetch oai", "failed", "oai-pmh: stopped after 0 pages")]
    with pipeline.Run(cfg, store, "fetch oai"):  # the lock was released every time
        pass


SIGTERMED = """
import os, signal, sys, time
from litmine import pipeline
from litmine.config import load_settings
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
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert _runs(store) == [("fetch pdfs", "interrupted", "stopped by a signal")]
