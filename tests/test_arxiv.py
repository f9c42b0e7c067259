"""The arXiv client and the nightly stage, against the replay server: real `arxiv` client, real HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from conftest import ROOT, SHARED

from litmine import __version__
from litmine.sources.arxiv import ArxivClient, fetch_new, nightly_query, watermark_name
from litmine.config import load_settings
from litmine.errors import ArxivApiError, FetchError
from litmine.store import Store
from litmine.store import acquire


def client_for(server, **kw) -> ArxivClient:
    kw.setdefault("delay_seconds", 0)
    kw.setdefault("timeout", 5)
    return ArxivClient(server.api_url, **kw)


def test_pages_through_a_recorded_multi_page_result(replay_server):
    import arxiv

    client = client_for(replay_server, page_size=10)
    results = list(client.results(arxiv.Search("testing", max_results=60)))
    assert len({r.entry_id for r in results}) == 60
    assert replay_server.used == [f"recorded-2026/q_testing_s{s}_m10_{h}.json" for s, h in [
        (0, "bc5a6c384fe9"), (10, "34e56e15aaac"), (20, "348a237fecab"), (30, "f2e39f0143dc"),
        (40, "96dd32eb854c"), (50, "7f488ab8598c")]]
    assert {h.user_agent for h in replay_server.log} == {f"litmine/{__version__} (literature mining for interpretability research; python-requests)"}


def test_an_empty_page_is_asked_again(replay_server):
    import arxiv

    replay_server.inject("empty", match="start=20")
    results = list(client_for(replay_server, page_size=10).results(arxiv.Search("testing", max_results=30)))
    assert len(results) == 30
    assert [h.source for h in replay_server.log][-2:] == ["fault:empty-page", "recorded-2026/q_testing_s20_m10_348a237fecab.json"]


def test_recorded_400_error_feed_is_a_named_error_and_not_retried(replay_server):
    with pytest.raises(ArxivApiError) as err:
        client_for(replay_server).by_ids(["abc"])
    assert str(err.value).startswith("arXiv refused the request: incorrect id format for abc (status=400, url=http://127.0.0.1:")
    assert len(replay_server.log) == 1


def test_503_then_success_and_a_429_burst(replay_server):
    replay_server.inject("status", status=503)
    replay_server.inject("status", status=429, times=2, retry_after=0)
    found = client_for(replay_server).by_ids(["1707.08567"])
    assert list(found) == ["1707.08567"]
    assert [h.source for h in replay_server.log] == ["fault:503", "fault:429", "fault:429",
                                                     "recorded-2026/id_1707.08567_s0_m100_6a1afebfc6a3.json"]


def test_a_slow_response_hits_the_timeout_then_gives_up_readably(replay_server):
    # the slow answers take far longer than the timeout, the normal one far less, even on a busy machine
    replay_server.inject("slow", delay=30.0, times=1)
    assert list(client_for(replay_server, timeout=2).by_ids(["1605.08386"])) == ["1605.08386"]
    replay_server.inject("slow", delay=30.0, times=2)
    with pytest.raises(FetchError, match=r"arXiv did not answer after 2 tries: no answer within 2 s"):
        client_for(replay_server, timeout=2, retries=1).by_ids(["1605.08386"])


def test_a_redirect_to_another_host_is_refused_and_one_to_the_same_host_is_spaced(replay_server):
    replay_server.inject("status", status=302, headers={"Location": "http://api.elsewhere.test/api/query"})
    with pytest.raises(FetchError, match=r"^refused a redirect to api.elsewhere.test, not a configured arXiv host "):
        client_for(replay_server, retries=2).by_ids(["1605.08386"])
    assert len(replay_server.log) == 1  # not retried, and the other host was never asked

    replay_server.reset_log()
    same = "/api/query?search_query=&id_list=1605.08386&sortBy=relevance&sortOrder=descending&start=0&max_results=100"
    replay_server.inject("status", status=301, headers={"Location": same})  # a relative redirect to the same host
    assert list(client_for(replay_server, delay_seconds=0.5).by_ids(["1605.08386"])) == ["1605.08386"]
    redirect, followed = replay_server.log
    assert (redirect.status, followed.status) == (301, 200)
    assert followed.at - redirect.at > 0.4  # the hop waited its turn (0.5 s) like any other request


def test_connection_reset_is_retried(replay_server):
    replay_server.inject("reset")
    assert list(client_for(replay_server).by_ids(["1605.08386"])) == ["1605.08386"]


def test_partial_id_list_and_old_style_ids(replay_server):
    client = client_for(replay_server)
    assert list(client.by_ids(["0808.05394", "1707.08567"])) == ["1707.08567"]  # recorded: 1 of 2 answered
    old = client.by_ids(["astro-ph/0601001"])
    assert list(old) == ["astro-ph/0601001"]
    assert old["astro-ph/0601001"].title.startswith("Frequency of Hot Jupiters")
    assert "recorded-2026/id_astro-ph_0601001_s0_m100_3150dca9dc76.json" in replay_server.used


def test_strict_mode_fails_naming_the_missing_recording():
    from replay import ReplayServer

    with ReplayServer(synthesise=False) as server:
        with pytest.raises(ArxivApiError):
            client_for(server, retries=0).by_ids(["2207.13243"])
        with pytest.raises(AssertionError, match=r"no recording for: GET http://127.0.0.1:\d+/api/query\?search_query=&id_list=2207.13243&"):
            server.check()


def _settings(server, data_dir, **kw):
    return load_settings(env={}, data_dir=data_dir, arxiv_api_url=server.api_url, arxiv_delay_seconds=0.0,
                         arxiv_timeout_seconds=30.0, **kw)


@pytest.mark.slow  # pages through the listings twice
def test_nightly_fetch_pages_stores_and_a_rerun_finds_nothing_new(replay_server, tmp_path):
    cfg = _settings(replay_server, tmp_path, arxiv_page_size=10, arxiv_lookback_days=3)
    store = Store(cfg.database)
    store.migrate()
    now = datetime(2026, 6, 20, 12, 0)
    first = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=now)
    assert first.new > 20 and first.failed == 0  # several pages of 10
    starts = [h.url.split("start=")[1].split("&")[0] for h in replay_server.log if h.status == 200]
    assert starts == [str(i) for i in range(0, first.new, 10)]
    with store.connect(read_only=True) as con:
        n, versions = con.execute("SELECT count(*), list(DISTINCT arxiv_version) FROM works").fetchone()
        sources = con.execute("SELECT DISTINCT source, source_ref FROM work_sources").fetchall()
        mark = acquire.get_watermark(con, watermark_name(nightly_query(cfg)))
        newest = con.execute("SELECT max(published) FROM works").fetchone()[0]
    assert n == first.new and versions == [1]
    assert sources == [("arxiv-query", nightly_query(cfg))]
    assert mark == newest.isoformat() == "2026-06-19T00:00:00"  # the newest submission seen (a Friday)

    replay_server.set_version(_some_id(store), 2, datetime(2026, 6, 20, 9, 0))
    second = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=now)
    assert (second.new, second.updated, second.failed) == (0, 1, 0)  # the new version updates its work
    third = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=now)
    assert (third.new, third.updated, third.unchanged) == (0, 0, second.unchanged + 1)
    assert third.notes == ["nothing new since 2026-06-18 00:00"]  # the watermark less a day of overlap
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), max(arxiv_version) FROM works").fetchone() == (n, 2)


def _some_id(store):
    with store.connect(read_only=True) as con:
        return con.execute("SELECT arxiv_id FROM works ORDER BY published DESC, arxiv_id LIMIT 1").fetchone()[0]


def test_a_failed_page_is_recorded_and_the_watermark_stays(replay_server, tmp_path):
    cfg = _settings(replay_server, tmp_path, arxiv_retries=1)
    store = Store(cfg.database)
    store.migrate()
    replay_server.inject("status", status=503, times=2)
    counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=datetime(2026, 6, 20))
    assert counts.failed == 1 and counts.notes[0].startswith("stopped early: arXiv did not answer after 2 tries: HTTP 503")
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT stage, error_type FROM failures").fetchall() == [("fetch-arxiv", "FetchError")]
        assert con.execute("SELECT count(*) FROM watermarks").fetchone() == (0,)


def _fields(result) -> dict:
    row = dict(vars(result))
    row["authors"] = [(a.name, a.affiliation) for a in result.authors]
    row["links"] = [(x.href, x.title, x.rel, x.content_type) for x in result.links]
    return row


def test_entries_are_read_as_the_arxiv_package_reads_them():
    """litmine builds each ``arxiv.Result`` through the package's public constructor (not its private
    ``_feed``); on recorded feeds, affiliations and all, the results are the package's own."""
    from litmine.sources.arxiv import parse_page

    feed = pytest.importorskip("arxiv._feed")  # the package's reader, only to compare with
    folder = SHARED / "fixtures" / "arxiv-api" / "recorded-2026" / "xml"
    for name in ("q_testing_s0_m100_cfe7536492ca__http200.xml", "id_astro-ph_0601001_s0_m100_3150dca9dc76__http200.xml"):
        content = (folder / name).read_bytes()
        ours, theirs = parse_page(content).results, feed.parse(content).results
        assert len(ours) == len(theirs) > 0
        assert [_fields(r) for r in ours] == [_fields(r) for r in theirs]
    assert "_feed" not in (ROOT / "src" / "litmine" / "sources" / "arxiv.py").read_text()
