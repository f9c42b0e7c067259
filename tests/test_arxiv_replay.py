"""The replay server itself: recordings byte for byte, corpus entries in the recorded format, faults."""

from __future__ import annotations

import json
from datetime import date

import arxiv
import pytest
import requests
from replay import ReplayServer, entry_xml


def _client(server: ReplayServer, page_size: int = 100) -> arxiv.Client:
    client = arxiv.Client(page_size=page_size, delay_seconds=0, num_retries=0)
    client.query_url_format = server.api_url + "?{}"
    return client


def test_recorded_response_is_served_byte_for_byte(replay_server, shared):
    recorded = json.loads((shared / "fixtures/arxiv-api/recorded-2026/id_1707.08567_s0_m100_6a1afebfc6a3.json").read_text())
    resp = requests.get(replay_server.api_url + "?" + recorded["url"].split("?", 1)[1], timeout=5)
    assert resp.status_code == 200
    assert resp.content == recorded["body"].encode()
    assert replay_server.used == ["recorded-2026/id_1707.08567_s0_m100_6a1afebfc6a3.json"]


def test_recorded_400_error_feed_keeps_its_status(replay_server):
    results = _client(replay_server).results(arxiv.Search(id_list=["abc"]))
    with pytest.raises(arxiv.HTTPError) as err:
        list(results)
    assert err.value.status == 400
    assert replay_server.used == ["recorded-2026/id_abc_s0_m100_b79c8dcf6bc3.json"]


def test_survey_entries_match_the_recorded_entry_format(replay_server, shared):
    # Same elements in the same order and indentation as a recorded 2026 entry with one author.
    recorded = (shared / "fixtures/arxiv-api/recorded-2026/xml/id_2104.12255v1_s0_m100_6ae69987ffe1__http200.xml").read_text()
    paper = replay_server.corpus.survey["2001.08361"]
    paper_one_author = type(paper)(**{**paper.__dict__, "authors": paper.authors[:1], "categories": ["cs.LG"], "primary": "cs.LG", "_lower": None})
    ours = entry_xml(paper_one_author)
    shape = lambda xml: [line.split(">")[0].split(" ")[0].strip() for line in xml.splitlines()]  # noqa: E731
    theirs = recorded[recorded.index("  <entry>") : recorded.index("</feed>")]
    assert shape(ours) == shape(theirs)
    results = list(_client(replay_server).results(arxiv.Search(id_list=["2001.08361", "9912.99999"])))
    assert [r.get_short_id() for r in results] == ["2001.08361v1"]  # a partial id list: the unknown id is absent
    assert results[0].title == "Scaling Laws for Neural Language Models"
    assert results[0].summary.startswith("We study empirical scaling laws")
    assert replay_server.used == ["synth:survey"]


def test_paging_a_recorded_multi_page_result(replay_server):
    results = list(_client(replay_server, page_size=10).results(arxiv.Search("testing", max_results=60)))
    assert len(results) == 60 and len({r.entry_id for r in results}) == 60
    assert len(replay_server.used) == 6 and all(u.startswith("recorded-2026/q_testing_s") for u in replay_server.used)


def test_as_of_hides_later_listings():
    with ReplayServer(as_of=date(2025, 3, 18)) as server:
        query = "cat:cs.CV AND submittedDate:[202503010000 TO 202504010000]"
        first = list(_client(server).results(arxiv.Search(query, max_results=None)))
        server.as_of = date(2025, 3, 19)
        second = list(_client(server).results(arxiv.Search(query, max_results=None)))
    assert 0 < len(first) < len(second)
    assert {r.published.date() for r in first} == {date(2025, 3, 18)}


def test_faults_503_then_success_and_reset(replay_server):
    replay_server.inject("status", status=503)
    replay_server.inject("reset")
    url = replay_server.api_url + "?id_list=2001.08361"
    assert requests.get(url, timeout=5).status_code == 503
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    assert requests.get(url, timeout=5).status_code == 200
    assert [h.source for h in replay_server.log] == ["fault:503", "fault:reset", "synth:survey"]


def test_truncated_body_and_slow_response(replay_server):
    replay_server.inject("truncate", path="/pdf/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(replay_server.pdf_url + "/1606.03490v3", timeout=5).content
    replay_server.inject("slow", delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(replay_server.api_url + "?id_list=2001.08361", timeout=0.2)


def test_strict_mode_names_the_missing_recording():
    with ReplayServer(synthesise=False) as server:
        resp = requests.get(server.api_url + "?id_list=2001.08361", timeout=5)
        assert resp.status_code == 404
        with pytest.raises(AssertionError, match=r"no recording for: GET http://127\.0\.0\.1:\d+/api/query\?id_list=2001\.08361"):
            server.check()


def test_oai_list_records_pages_with_resumption_tokens(replay_server):
    seen, token, pages = [], None, 0
    while True:
        params = {"verb": "ListRecords", "resumptionToken": token} if token else {
            "verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2017-12-01", "until": "2017-12-31"}
        text = requests.get(replay_server.oai_url, params=params, timeout=5).text
        pages += 1
        seen += [line.strip() for line in text.splitlines() if "<identifier>" in line]
        if "</resumptionToken>" not in text:
            break
        token = text.split("</resumptionToken>")[0].rsplit(">", 1)[1]
    assert pages == 3 and len(seen) == len(set(seen)) == 6  # hep-ex and hep-th recordings, 2 per page
