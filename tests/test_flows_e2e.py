"""The nightly flow end to end under ``prefect_test_harness``: the replay arXiv (real recorded data
and real PDFs on 127.0.0.1), the real default embedder, a fake LLM; then a second run adds nothing."""

from __future__ import annotations

from datetime import date

import pytest

from litmine.store import utcnow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = ["works", "survey_references", "documents", "embeddings", "label_assignments", "work_sources", "citations"]


def _sizes(store) -> dict[str, int]:
    with store.connect(read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


# Two whole nightly runs with the real embedder: past pyproject's 600 s on a busy machine, where
# pytest-timeout's SIGALRM lands inside a DuckDB query ("Query interrupted", issue 24 item 12).
@pytest.mark.timeout(1800)
def test_nightly_flow_end_to_end_then_a_second_run_adds_nothing(harness, replay_server, data_dir, monkeypatch):
    from litmine.config import load_settings
    from litmine.pipeline import load_report
    from litmine.store import Store

    # The replay listings end on 2026-07-01: look back far enough to reach their last days.
    monkeypatch.setenv("LITMINE_ARXIV_LOOKBACK_DAYS", str((utcnow().date() - date(2026, 6, 27)).days))
    monkeypatch.setenv("LITMINE_LLM_BACKEND", "fake")
    monkeypatch.setenv("LITMINE_LLM_MODEL", "fake-model")
    monkeypatch.setenv("LITMINE_FLOW_RETRY_DELAY_SECONDS", "0")
    settings = load_settings()
    from litmine.flows import nightly

    result = nightly.build(settings, "thread")()
    store = Store(settings.database)
    with store.connect(read_only=True) as con:
        run_id, status = con.execute("SELECT run_id, status FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        by_stage = dict(con.execute("SELECT stage, count(*) FROM failures WHERE run_id = ? GROUP BY 1",
                                    [run_id]).fetchall())
        ok_pdfs = con.execute("SELECT count(*) FROM documents WHERE download_status = 'ok'").fetchone()[0]
        text = con.execute("SELECT count(*) FROM documents WHERE extract_status = 'ok'").fetchone()[0]
        models = con.execute("SELECT DISTINCT model_id FROM embeddings").fetchall()
        sources = {s for (s,) in con.execute("SELECT DISTINCT source FROM label_assignments").fetchall()}
    report = load_report(store, run_id)
    assert status in ("ok", "partial"), report.failed
    assert report.failed == {}
    assert result == {"run_id": run_id, **report.as_dict()}
    counts = report.counts
    assert counts["survey"].new == 327
    assert counts["fetch-survey"].new > 200
    assert counts["fetch-arxiv"].new > 0
    assert ok_pdfs >= 4 and counts["pdfs"].new == ok_pdfs
    assert text >= 4
    assert [m for (m,) in models] == ["all-MiniLM-L6-v2"]
    assert {"survey", "zeroshot", "supervised", "llm"} <= sources
    assert set(by_stage) <= {"pdfs", "extract", "fetch-survey", "embed"}  # item failures only, each recorded
    assert (settings.digest_dir).is_dir() and list(settings.digest_dir.glob("*/digest.html"))

    before = _sizes(store)
    nightly.build(settings, "thread")()
    assert _sizes(store) == before
    with store.connect(read_only=True) as con:
        (second,) = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    again = load_report(store, second)
    assert again.failed == {}
    for name, c in again.counts.items():
        if name != "digest":
            assert (c.new, c.updated) == (0, 0), f"{name} changed something on a second run: {c}"
