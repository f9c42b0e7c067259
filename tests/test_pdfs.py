"""PDF download against the replay server: real PDFs stored, every bad one recorded with its reason."""

from __future__ import annotations

import hashlib

import pytest

from litmine.config import load_settings
from litmine.errors import SourceUnreachable
from litmine.sources.pdfs import download_pdfs
from litmine.store import Store
from litmine.store.acquire import store_arxiv_work
from litmine.store.works import WorkRecord

IDS = {"1606.03490": 3, "2309.08600": 3, "astro-ph/0601001": 1, "2207.13243": 6, "1502.03167": 2}


@pytest.fixture
def setup(replay_server, data_dir):
    cfg = load_settings(arxiv_retries=1, arxiv_timeout_seconds=10.0)
    store = Store(cfg.database)
    store.migrate()
    with store.transaction() as con:
        for aid, version in IDS.items():
            store_arxiv_work(con, WorkRecord(title=aid, metadata_source="arxiv", arxiv_id=aid, arxiv_version=version),
                             "manual", "test", None)
    return cfg, store, replay_server


def _docs(store):
    with store.connect(read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT w.arxiv_id, d.download_status, d.path, d.sha256, d.bytes, d.download_error "
            "FROM documents d JOIN works w USING (work_id)").fetchall()}


def test_valid_pdfs_stored_bad_ones_recorded_and_a_rerun_changes_nothing(setup, shared):
    cfg, store, server = setup
    server.serve_pdf("1502.03167", "broken/DERIVED_truncated_50pct__1606.03490v3.pdf")  # a cut-off file, sent whole
    server.inject("body", path="/pdf/2309.08600", times=1, body=b"<html>Our servers are busy</html>")
    counts = download_pdfs(store, cfg)
    assert (counts.new, counts.failed) == (1, 4)
    docs = _docs(store)
    real = shared / "fixtures/pdfs/real/1606.03490v3__mythos_of_model_interpretability.pdf"
    assert docs["1606.03490"][:4] == ("ok", "pdfs/1606.03490v3.pdf", hashlib.sha256(real.read_bytes()).hexdigest(),
                                      real.stat().st_size)
    assert (cfg.data_dir / "pdfs/1606.03490v3.pdf").read_bytes() == real.read_bytes()
    assert docs["2309.08600"][0] == "failed" and docs["2309.08600"][4] == (
        f"not a PDF: the server sent text/html (url={server.pdf_url}/2309.08600v3)")
    assert docs["1502.03167"][4] == (
        f"the PDF is cut off: no %%EOF marker at its end (183923 bytes) (url={server.pdf_url}/1502.03167v2)")
    assert docs["astro-ph/0601001"][4] == f"the server answered HTTP 404 (url={server.pdf_url}/astro-ph/0601001v1)"
    assert docs["2207.13243"][4].startswith("the server answered HTTP 404")
    assert sorted(p.name for p in (cfg.data_dir / "pdfs").iterdir()) == ["1606.03490v3.pdf"]  # no partial files left
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM failures WHERE stage = 'pdfs'").fetchone() == (4,)

    again = download_pdfs(store, cfg)
    assert (again.new, again.updated, again.unchanged, again.failed) == (0, 0, 1, 0)
    assert again.notes == ["nothing to download: every PDF is stored or has failed (retry with --retry-failed)"]

    retried = download_pdfs(store, cfg, retry_failed=True)  # the busy page is gone now: that one succeeds
    assert (retried.new, retried.failed) == (1, 3)
    assert _docs(store)["2309.08600"][0] == "ok"


def test_a_truncated_download_is_retried_then_recorded(setup):
    cfg, store, server = setup
    server.inject("truncate", path="/pdf/1606.03490", times=2)
    counts = download_pdfs(store, cfg, limit=1)
    assert counts.failed == 1
    assert _docs(store)["1606.03490"][4] == (
        f"the PDF server did not answer after 2 tries: the answer broke off before its end (url={server.pdf_url}/1606.03490v3)")
    server.inject("truncate", path="/pdf/1606.03490", times=1)
    assert download_pdfs(store, cfg, limit=1, retry_failed=True).new == 1  # a retry succeeds


def test_size_cap_and_a_file_left_by_a_killed_run(setup, shared):
    cfg, store, server = setup
    small = load_settings(arxiv_retries=0, pdf_max_bytes=1000)
    counts = download_pdfs(store, small, limit=1)
    assert counts.failed == 1
    real = shared / "fixtures/pdfs/real/1606.03490v3__mythos_of_model_interpretability.pdf"
    assert _docs(store)["1606.03490"][4].startswith(
        f"too large: {real.stat().st_size} bytes, the limit is 1000 (LITMINE_PDF_MAX_BYTES)")
    # A run killed after the rename but before its commit left the file: it is hashed, not fetched.
    (cfg.pdf_dir).mkdir(parents=True, exist_ok=True)
    (cfg.pdf_dir / "1606.03490v3.pdf").write_bytes(real.read_bytes())
    server.reset_log()
    assert download_pdfs(store, cfg, limit=1, retry_failed=True).new == 1
    assert server.log == []
    assert _docs(store)["1606.03490"][0] == "ok"


def test_a_redirect_is_followed_only_to_a_configured_host(setup):
    cfg, store, server = setup
    server.inject("status", path="/pdf/1606.03490", status=302, headers={"Location": "http://pdfs.elsewhere.test/x.pdf"})
    counts = download_pdfs(store, cfg, limit=1)
    assert counts.failed == 1
    assert _docs(store)["1606.03490"][4] == (
        "refused a redirect to pdfs.elsewhere.test, not a configured arXiv host (LITMINE_ARXIV_API_URL, "
        f"LITMINE_ARXIV_OAI_URL, LITMINE_ARXIV_PDF_URL) (url={server.pdf_url}/1606.03490v3, "
        "to=http://pdfs.elsewhere.test/x.pdf)")
    assert len(server.log) == 1  # the other host was never asked

    server.inject("status", path="/pdf/1606.03490", status=301, headers={"Location": "/pdf/1606.03490v3.pdf"})
    assert download_pdfs(store, cfg, limit=1, retry_failed=True).new == 1  # the same host: followed
    assert [h.status for h in server.log[1:]] == [301, 200]


def test_a_redirect_to_the_same_host_waits_its_turn(setup):
    cfg, store, server = setup
    spaced = load_settings(arxiv_retries=0, arxiv_delay_seconds=0.5)
    server.inject("status", path="/pdf/1606.03490", status=302, headers={"Location": "/pdf/1606.03490v3.pdf"})
    assert download_pdfs(store, spaced, limit=1).new == 1
    redirect, followed = server.log
    assert (redirect.status, followed.status) == (302, 200)
    assert followed.at - redirect.at > 0.4  # spaced (0.5 s) like any other request


def test_a_trickled_pdf_is_cut_off_at_the_whole_request_deadline(setup):
    """The deadline covers the whole download, not each read: a server sending 4 KiB every 0.1 s
    (the 368 KB file in ~9 s) never lets a read wait 1 s, yet the download stops at 1 s."""
    cfg, store, server = setup
    server.inject("trickle", path="/pdf/1606.03490", times=2, chunk=4096, delay=0.1)
    hurried = load_settings(arxiv_retries=1, arxiv_timeout_seconds=1.0)
    assert download_pdfs(store, hurried, limit=1).failed == 1
    assert _docs(store)["1606.03490"][4] == (
        f"the PDF server did not answer after 2 tries: no answer within 1 s (url={server.pdf_url}/1606.03490v3)")
    assert [h.source.split("(")[0] for h in server.log] == ["fault:trickle"] * 2
    assert not list(cfg.pdf_dir.glob("*"))  # no partial file left behind


def test_an_unreachable_pdf_server_stops_the_stage_after_one_try_and_keeps_the_rest_pending(setup):
    import socket

    cfg, store, _ = setup
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = load_settings(arxiv_retries=3, arxiv_pdf_url=f"http://127.0.0.1:{port}/pdf")
    with pytest.raises(SourceUnreachable, match="^the PDF server cannot be reached: the connection was refused"):
        download_pdfs(store, offline)
    assert _docs(store) == {}  # nothing marked failed: the next run downloads them all
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), min(error_type) FROM failures").fetchone() == (1, "SourceUnreachable")
