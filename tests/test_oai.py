"""OAI-PMH backfill over the recorded ListRecords responses, paged by resumption tokens."""

from __future__ import annotations

from datetime import date

from litmine.config import load_settings
from litmine.sources.oai import harvest_oai, parse_records
from litmine.store import Store


def test_parse_records_tolerates_a_missing_namespace(shared):
    # sample_arxiv_record.xml's <arXiv> elements lost their namespace declaration: still parsed.
    records, token, error = parse_records((shared / "fixtures/oai-pmh/recorded/sample_arxiv_record.xml").read_bytes())
    assert error is None and token is None and records
    rec = records[0]
    assert rec.arxiv_id == "1601.03238" and rec.authors[:2] == ["Planck Collaboration", "Jieci Wang"]


def test_harvest_pages_with_tokens_resumes_and_a_rerun_changes_nothing(replay_server, data_dir):
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    window = dict(from_date=date(2017, 12, 1), until=date(2017, 12, 31))
    counts = harvest_oai(store, cfg, **window)
    assert (counts.new, counts.failed) == (6, 0) and counts.notes == ["3 pages"]
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT arxiv_id, metadata_source, title FROM works ORDER BY arxiv_id").fetchall()
        mark = con.execute("SELECT value FROM watermarks WHERE name = 'oai-pmh:*'").fetchone()
    assert rows[0] == ("1412.8323", "oai-pmh", "Toolbox for reconstructing quantum theory from rules on information acquisition")
    assert mark == ('{"next_from": "2017-12-31"}',)
    again = harvest_oai(store, cfg, **window)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 6)
    assert again.notes == ["nothing new from 2017-12-01 to 2017-12-31", "3 pages"]


def test_a_harvest_broken_off_resumes_from_its_token(replay_server, data_dir):
    cfg = load_settings(arxiv_retries=0)
    store = Store(cfg.database)
    store.migrate()
    replay_server.inject("status", path="/oai", status=503, match="resumptionToken")
    first = harvest_oai(store, cfg, from_date=date(2017, 12, 1), until=date(2017, 12, 31))
    assert (first.new, first.failed) == (2, 1)
    assert first.notes[0].startswith("stopped after 1 pages: the OAI-PMH server did not answer after 1 tries: HTTP 503")
    resumed = harvest_oai(store, cfg)  # no dates: carries on from the stored token
    assert (resumed.new, resumed.failed) == (4, 0)
    assert "resumptionToken=" in replay_server.log[-2].url
