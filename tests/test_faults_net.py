"""Faults round three, the network's share (issue 24: 1, 4, 5, 6): a date from the future, headers
trickled a byte at a time, an endless or gzip-bomb answer, a link planted in the shared temp folder.

Each attack is real: entries rewritten on the replay server, a loopback socket server that trickles
its headers or sends a gzip bomb, a symbolic link on the real file system.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import socket
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from litmine.sources.arxiv import ArxivClient, fetch_new, nightly_query, watermark_name
from litmine.config import load_settings
from litmine.errors import FetchError, UnsafeTempFile
from litmine.sources.oai import harvest_oai, parse_records
from litmine.sources.polite import Throttle
from litmine.store import Store
from litmine.store import acquire

NOW = datetime(2026, 6, 20, 12, 0)


def _settings(server, tmp_path, name, **kw):
    kw.setdefault("arxiv_retries", 1)
    kw.setdefault("arxiv_timeout_seconds", 10)
    return load_settings(env={}, data_dir=tmp_path / name, arxiv_api_url=server.api_url,
                         arxiv_oai_url=server.oai_url, arxiv_delay_seconds=0, arxiv_page_size=10,
                         arxiv_lookback_days=3, **kw)


def _store(cfg):
    store = Store(cfg.database)
    store.migrate()
    return store


def _mark(store, cfg):
    with store.connect(read_only=True) as con:
        return acquire.get_watermark(con, watermark_name(nightly_query(cfg)))


def _ranges(server):
    """The submittedDate ranges the nightly queries asked for, as (from, to) strings."""
    from urllib.parse import unquote_plus

    return [tuple(m) for h in server.log for m in re.findall(r"submittedDate:\[(\d+) TO (\d+)\]", unquote_plus(h.url))]


# -- 1. a date from the future ------------------------------------------------------------------


def _from_the_future(body: bytes) -> bytes:
    return re.sub(rb"<published>[^<]+</published>", b"<published>2099-01-01T00:00:00Z</published>", body, count=1)


def test_a_future_dated_entry_does_not_move_the_watermark_past_now(replay_server, tmp_path, caplog):
    replay_server.inject("rewrite", match="start=0&", rewrite=_from_the_future)
    cfg = _settings(replay_server, tmp_path, "future")
    store = _store(cfg)
    with caplog.at_level(logging.WARNING, logger="litmine"):
        counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert counts.failed == 0 and counts.new > 10
    assert datetime.fromisoformat(_mark(store, cfg)) <= NOW
    with store.connect(read_only=True) as con:
        latest = con.execute("SELECT max(published), max(year) FROM works").fetchone()
    assert latest[0] <= datetime.now(timezone.utc).replace(tzinfo=None) and latest[1] < 2099
    assert any("2099-01-01" in r.getMessage() and "later than now" in r.getMessage() for r in caplog.records)

    replay_server.reset_log()  # the next night asks for a range that runs forward
    again = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW + timedelta(days=1))
    assert again.failed == 0
    (start, end), = _ranges(replay_server)[:1]
    assert start < end


def test_a_watermark_already_in_the_future_is_repaired_with_a_warning(replay_server, tmp_path, caplog):
    cfg = _settings(replay_server, tmp_path, "poisoned")
    store = _store(cfg)
    clean = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW - timedelta(days=1))
    with store.transaction() as con:  # what an older litmine left after a future-dated entry
        acquire.set_watermark(con, watermark_name(nightly_query(cfg)), "2099-01-01T00:00:00", None)
    replay_server.reset_log()
    with caplog.at_level(logging.WARNING, logger="litmine"):
        counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert counts.failed == 0 and counts.new + counts.unchanged + counts.updated > 0
    (start, end), = _ranges(replay_server)[:1]
    assert start < end and start <= f"{NOW - timedelta(days=2):%Y%m%d%H%M}"  # from the newest real entry
    assert datetime.fromisoformat(_mark(store, cfg)) <= NOW
    warned = [r.getMessage() for r in caplog.records if "in the future" in r.getMessage()]
    assert len(warned) == 1 and "2099-01-01" in warned[0]
    assert clean.new > 0


def test_an_inverted_range_is_refused_loudly(replay_server, tmp_path, monkeypatch):
    cfg = _settings(replay_server, tmp_path, "inverted")
    store = _store(cfg)
    with store.transaction() as con:  # a later night's watermark, and `--until` before it
        acquire.set_watermark(con, watermark_name(nightly_query(cfg)), "2026-07-01T00:00:00", None)
    counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert counts.failed == 1 and counts.new == 0
    assert "ends before it starts" in counts.notes[0]
    assert replay_server.log == []  # nothing asked: an inverted range would silently fetch nothing
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT stage FROM failures").fetchall() == [("fetch-arxiv",)]
    assert _mark(store, cfg) == "2026-07-01T00:00:00"

    from click.testing import CliRunner

    from litmine.cli import main

    monkeypatch.setenv("LITMINE_DATA_DIR", str(cfg.data_dir))
    refused = CliRunner().invoke(main, ["fetch", "arxiv", "--until", "2026-06-20T12:00"])
    assert refused.exit_code == 1 and "the date range to fetch ends before it starts" in refused.output
    assert replay_server.log == []


OAI_FUTURE = b"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>oai:arXiv.org:2606.00001</identifier></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>2606.00001</id><created>2099-01-01</created><updated>2099-02-01</updated>
<title>From the future</title><categories>cs.LG</categories></arXiv></metadata></record></ListRecords></OAI-PMH>"""


def test_oai_dates_from_the_future_are_clamped_to_now():
    (rec,), token, error = parse_records(OAI_FUTURE)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert rec.published <= now and rec.updated <= now and rec.year == now.year


def test_an_oai_watermark_in_the_future_is_repaired_and_an_inverted_window_refused(replay_server, tmp_path, caplog):
    cfg = _settings(replay_server, tmp_path, "oai")
    store = _store(cfg)
    with store.transaction() as con:
        acquire.set_watermark(con, "oai-pmh:cs", json.dumps({"next_from": "2099-01-01"}), None)
    with caplog.at_level(logging.WARNING, logger="litmine"):
        harvest_oai(store, cfg, set_spec="cs")
    asked = [h.url for h in replay_server.log]
    today = datetime.now(timezone.utc).date()
    assert asked and "from=2099" not in asked[0] and f"until={today}" in asked[0]
    assert any("in the future" in r.getMessage() for r in caplog.records)
    with store.connect(read_only=True) as con:
        assert json.loads(acquire.get_watermark(con, "oai-pmh:cs"))["next_from"] <= str(today)

    replay_server.reset_log()
    counts = harvest_oai(store, cfg, set_spec="cs", from_date=date(2026, 6, 20), until=date(2026, 6, 1))
    assert counts.failed == 1 and replay_server.log == []
    assert "ends before it starts" in counts.notes[0]


# -- 4. headers trickled one byte at a time -----------------------------------------------------


class _SocketServer:
    """A loopback server that answers each connection with ``serve(conn)``, on its own thread."""

    def __init__(self, serve):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.serve = serve
        self.stop = threading.Event()
        self.connections = 0
        self.finished = 0  # answers sent to the end
        self.hung_up = 0  # connections the client closed before the answer was sent
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/query"

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.recv(65536)  # the request
            try:
                self.serve(conn, self.stop)
                self.finished += 1
            except OSError:
                self.hung_up += 1  # the client hung up: what a cut-off client does

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def socket_server():
    servers = []

    def start(serve):
        servers.append(_SocketServer(serve))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


FEED = (b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        b"<opensearch:totalResults>0</opensearch:totalResults></feed>")


def _trickle_headers(conn, stop):
    """One header byte every 0.05 s; after 40 s (for a client that was never cut off) a whole
    answer. A client that hangs up makes a later send fail."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    give_up = time.monotonic() + 40
    while time.monotonic() < give_up and not stop.is_set():
        conn.sendall(b"X")
        time.sleep(0.05)
    conn.sendall(b"-Slow: 1\r\nContent-Type: application/atom+xml\r\nContent-Length: %d\r\n\r\n%s" % (len(FEED), FEED))


def test_trickled_headers_are_cut_off_at_the_whole_request_deadline(socket_server):
    server = socket_server(_trickle_headers)
    client = ArxivClient(server.url, delay_seconds=0, timeout=1.0, retries=1, backoff_seconds=0)
    with pytest.raises(FetchError, match=r"arXiv did not answer after 2 tries: no answer within 1 s"):
        client.search("testing", max_results=10)
    ceiling = time.monotonic() + 60  # the server notices the hang-up at its next send
    while server.hung_up + server.finished < 2 and time.monotonic() < ceiling:
        time.sleep(0.05)
    assert (server.connections, server.hung_up, server.finished) == (2, 2, 0)  # cut off, never waited out


# -- 5. an endless or gzip-bomb answer ----------------------------------------------------------


def test_an_endless_feed_fails_at_the_byte_cap_and_keeps_what_was_stored(replay_server, tmp_path):
    replay_server.inject("rewrite", match="start=10", times=5, rewrite=lambda body: body + b" " * 300_000)
    cfg = _settings(replay_server, tmp_path, "endless", feed_max_bytes=200_000)
    store = _store(cfg)
    counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert counts.failed == 1 and counts.new == 10
    assert counts.notes[0].startswith("stopped early: arXiv's answer is larger than 200000 bytes")
    assert "LITMINE_FEED_MAX_BYTES" in counts.notes[0]
    assert [h.source.split("(")[0] for h in replay_server.log].count("fault:rewrite") == 1  # not retried
    with store.connect(read_only=True) as con:
        reason, = con.execute("SELECT reason FROM failures WHERE stage = 'fetch-arxiv'").fetchone()
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 10
    assert "LITMINE_FEED_MAX_BYTES" in reason and "start=10" in reason
    assert _mark(store, cfg) is None


def test_an_oai_answer_past_the_byte_cap_is_a_recorded_failure(replay_server, tmp_path):
    cfg = _settings(replay_server, tmp_path, "oai-cap", feed_max_bytes=1000)
    store = _store(cfg)
    counts = harvest_oai(store, cfg, from_date=date(2017, 12, 1), until=date(2017, 12, 31))
    assert counts.failed == 1 and counts.new == 0 and len(replay_server.log) == 1
    with store.connect(read_only=True) as con:
        reason, = con.execute("SELECT reason FROM failures WHERE stage = 'oai-pmh'").fetchone()
    assert reason.startswith("the OAI-PMH server's answer is larger than 1000 bytes (decompressed); "
                             "raise LITMINE_FEED_MAX_BYTES if it is genuine (url=http://127.0.0.1:")


def _gzip_bomb(conn, stop):
    """A feed of 1 KB that inflates to 50 MB, sent chunked with no length."""
    bomb = gzip.compress(FEED[:-7] + b" " * 50_000_000 + b"</feed>", compresslevel=9)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Encoding: gzip\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(bomb), 4096):
        part = bomb[i : i + 4096]
        conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    conn.sendall(b"0\r\n\r\n")


def test_a_gzip_bomb_is_cut_off_at_the_byte_cap_counting_decompressed_bytes(socket_server):
    server = socket_server(_gzip_bomb)
    client = ArxivClient(server.url, delay_seconds=0, timeout=30.0, retries=2, backoff_seconds=0,
                         max_bytes=1_000_000)
    with pytest.raises(FetchError) as caught:
        client.search("testing", max_results=10)
    assert str(caught.value).startswith("arXiv's answer is larger than 1000000 bytes (decompressed); ")
    assert server.url in str(caught.value) and "LITMINE_FEED_MAX_BYTES" in str(caught.value)
    assert server.connections == 1  # a cap is not a flake: not retried


# -- 6. a link in the shared temp folder --------------------------------------------------------


def test_the_spacing_file_does_not_follow_a_planted_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / f"litmine-{os.getuid()}"
    folder.mkdir(mode=0o700)
    (folder / "arxiv-last-request").symlink_to(victim)
    with pytest.raises(UnsafeTempFile, match=r"is a symbolic link: remove it"):
        Throttle(3.0, folder / "arxiv-last-request").wait()
    assert victim.read_text() == "precious"


def test_the_spacing_folder_must_be_ours_and_not_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked"
    linked.symlink_to(elsewhere)
    with pytest.raises(UnsafeTempFile, match=r"is a symbolic link: remove it"):
        Throttle(3.0, linked / "arxiv-last-request").wait()
    assert list(elsewhere.iterdir()) == []

    if os.getuid() == 0:  # a folder another user made (only root can make one for the test)
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o777)
        os.chown(foreign, 65534, 65534)
        with pytest.raises(UnsafeTempFile, match=r"belongs to another user"):
            Throttle(3.0, foreign / "arxiv-last-request").wait()
        assert list(foreign.iterdir()) == []

    loose = tmp_path / "loose"  # our own, from an older litmine's default mode: tightened
    loose.mkdir(mode=0o755)
    Throttle(3.0, loose / "arxiv-last-request").wait()
    assert loose.stat().st_mode & 0o777 == 0o700
    fresh = tmp_path / "fresh" / "arxiv-last-request"
    Throttle(3.0, fresh).wait()
    assert fresh.parent.stat().st_mode & 0o777 == 0o700 and fresh.stat().st_mode & 0o777 == 0o600
