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
    report = pipeline.run_pipeline(cfg, store, ["survey", "resolve", "fetch-arxiv", "pdfs", "digest"])
    reason = "arXiv cannot be reached: the connection was refused; check the network, or LITMINE_ARXIV_API_URL"
    assert report.failed == {"resolve": reason, "fetch-arxiv": f"not tried: {reason}", "pdfs": f"not tried: {reason}"}
    assert set(report.counts) == {"survey", "digest"} and report.counts["survey"].new == 327
    with store.connect(read_only=True) as con:
        run = con.execute("SELECT status, error FROM runs").fetchone()
        tried = con.execute("SELECT count(*) FROM failures WHERE item = 'id batch'").fetchone()[0]
    assert run[0] == "failed" and run[1].startswith(f"resolve: {reason}; fetch-arxiv: not tried")
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
