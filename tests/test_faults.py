"""Faults: after each, no row is lost, none is duplicated, and a re-run completes the job.

Faults served by the replay server (429 and 503 bursts, empty pages, a connection reset, a slow
server) hit a later page of a multi-page nightly query; a real disk write failure comes from a
file-size limit (RLIMIT_FSIZE) on a real `litmine` process; a kill is a real SIGKILL mid-write.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import datetime
from functools import partial

import pytest

from waits import CEILING

from litmine.sources.arxiv import ArxivClient, fetch_new, nightly_query, watermark_name
from litmine.config import load_settings
from litmine.store import Store
from litmine.store import acquire

NOW = datetime(2026, 6, 20, 12, 0)


def _settings(server, tmp_path, name, **kw):
    kw.setdefault("arxiv_retries", 2)
    kw.setdefault("arxiv_timeout_seconds", 10)  # the replay server filters 74,728 listings per query
    return load_settings(env={}, data_dir=tmp_path / name, arxiv_api_url=server.api_url, arxiv_delay_seconds=0,
                         arxiv_page_size=10, arxiv_lookback_days=3, **kw)


def _fetch(server, tmp_path, name, **kw):
    cfg = _settings(server, tmp_path, name, **kw)
    store = Store(cfg.database)
    store.migrate()
    return cfg, store, fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)


def _ids(store):
    with store.connect(read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT arxiv_id FROM works ORDER BY arxiv_id").fetchall()]
        sources = con.execute("SELECT count(*), count(DISTINCT work_id) FROM work_sources").fetchone()
    assert sources[0] == sources[1], "a work was recorded twice from the same source"
    return ids


@pytest.fixture(scope="module")
def clean_result(tmp_path_factory):
    """The ids a fetch without faults stores: fetched once per module from a server of its own (the
    tests only read them), so each test's ``replay_server`` starts with an empty log."""
    from replay import ReplayServer

    with ReplayServer() as server:
        # no fault to time out on: a ceiling for a loaded machine, where one query can take over 10 s
        _, store, counts = _fetch(server, tmp_path_factory.mktemp("faults"), "clean", arxiv_timeout_seconds=300)
    assert counts.new > 20 and counts.failed == 0  # at least three pages of 10
    return _ids(store)


FAULTS = {
    "429 burst": dict(kind="status", status=429, retry_after=0),
    "503 burst": dict(kind="status", status=503),
    "empty pages": dict(kind="empty"),
    "connection reset": dict(kind="reset"),
    "slow server": dict(kind="slow", delay=12.0),  # past the 10 s timeout
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_fault_past_the_retries_keeps_earlier_pages_and_a_rerun_completes(replay_server, tmp_path, clean_result,
                                                                          fault):
    # the second page fails on every try (3 tries: arxiv_retries=2); the first page is stored
    replay_server.inject(path="/api/query", match="start=10", times=3, **FAULTS[fault])
    cfg, store, counts = _fetch(replay_server, tmp_path, "faulty")
    assert counts.failed == 1 and counts.new == 10
    assert counts.notes[0].startswith("stopped early: arXiv did not answer after 3 tries: ")
    stored = _ids(store)
    assert len(stored) == 10 and set(stored) < set(clean_result)
    with store.connect(read_only=True) as con:
        failures = con.execute("SELECT stage, reason FROM failures").fetchall()
        assert acquire.get_watermark(con, watermark_name(nightly_query(cfg))) is None  # not moved past the gap
    assert len(failures) == 1 and failures[0][0] == "fetch-arxiv" and "start=10" in failures[0][1]

    again = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert again.failed == 0 and again.new == len(clean_result) - 10 and again.unchanged == 10
    assert _ids(store) == clean_result


def test_a_fault_within_the_retries_is_invisible(replay_server, tmp_path, clean_result):
    replay_server.inject("status", status=503, match="start=10", times=2)
    replay_server.inject("reset", match="start=20", times=1)
    _, store, counts = _fetch(replay_server, tmp_path, "retried")
    assert counts.failed == 0
    assert _ids(store) == clean_result


def _litmine(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "litmine", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_killed_during_a_nightly_fetch_then_rerun(replay_server, tmp_path, clean_result):
    """SIGKILL while the third page is in flight: two committed pages stay, the re-run finishes."""
    data = tmp_path / "killed"
    env = {**replay_server.env(), "LITMINE_DATA_DIR": str(data), "LITMINE_ARXIV_PAGE_SIZE": "10",
           "LITMINE_ARXIV_LOOKBACK_DAYS": "3"}
    cfg = load_settings(env=env)
    Store(cfg.database).migrate()
    replay_server.inject("slow", match="start=20", delay=60.0)  # the third page hangs
    proc = _litmine(["fetch", "arxiv", "--until", "2026-06-20T12:00"], env)
    store = Store(cfg.database, lock_timeout=30)
    deadline = time.monotonic() + CEILING
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with store.connect(read_only=True) as con:
            if con.execute("SELECT count(*) FROM works").fetchone()[0] >= 20:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # while it waits for the third page
    proc.wait()
    assert len(_ids(store)) == 20
    replay_server.faults.clear()
    rerun = _litmine(["fetch", "arxiv", "--until", "2026-06-20T12:00"], env)
    out, err = rerun.communicate(timeout=CEILING)
    assert rerun.returncode == 0, err
    assert _ids(store) == clean_result
    with store.connect(read_only=True) as con:  # the killed run is not left 'running' forever
        assert con.execute("SELECT command, status FROM runs ORDER BY started_at").fetchall() == [
            ("fetch arxiv", "interrupted"), ("fetch arxiv", "ok")]


def _snapshot(store):
    with store.connect(read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ["works", "survey_references", "labels", "label_assignments", "work_sources"]}


@pytest.mark.slow  # `litmine survey load` processes, one killed mid-write: 94 s wall at load 8 (2026-12-07)
def test_killed_inside_a_write_transaction_keeps_nothing_half_done(data_dir):
    """SIGKILL while the survey load's transaction is open: all or nothing, and a re-run loads it."""
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    wal = cfg.database.with_name(cfg.database.name + ".wal")
    proc = _litmine(["survey", "load"], {})
    deadline = time.monotonic() + CEILING
    while not (wal.exists() and wal.stat().st_size > 0) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _snapshot(store)["works"] in (0, 327 + 201)  # never a partial load (references and screening candidates)
    again = _litmine(["survey", "load"], {})
    out, err = again.communicate(timeout=CEILING)
    assert again.returncode == 0, err
    expected = Store(data_dir / "clean.duckdb")
    expected.migrate()
    from litmine.survey.load import load_survey

    load_survey(expected, cfg.seed_dir)
    assert _snapshot(store) == _snapshot(expected)


def _limit_file_size(limit_bytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


@pytest.mark.slow  # `litmine survey load` processes under a file-size limit: 59 s wall at load 8 (2026-12-07)
def test_a_disk_write_failure_is_one_clear_line_and_loses_nothing(data_dir):
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    with store.transaction() as con:
        con.execute("INSERT INTO watermarks (name, value) VALUES ('kept', 'before the failure')")
    limited = _litmine(["survey", "load"], {}, preexec_fn=_limit_file_size(64 * 1024))
    out, err = limited.communicate(timeout=CEILING)
    assert limited.returncode == 1
    assert err.startswith("Error: database write failed, nothing of it was kept: ")
    assert "File too large" in err and "Traceback" not in err and err.count("\n") == 1
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT value FROM watermarks").fetchall() == [("before the failure",)]
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 0
    again = _litmine(["survey", "load"], {})
    out, err = again.communicate(timeout=CEILING)
    assert again.returncode == 0, err
    assert out == "survey: 327 new, 0 updated, 0 unchanged, 0 failed (screening candidates: 201 new, 0 updated, 0 unchanged)\n"



@pytest.mark.slow  # `litmine survey load` processes, a checkpoint cut short: 70 s wall at load 8 (2026-12-07)
def test_a_failed_checkpoint_write_keeps_every_row_and_the_next_command_folds_it_in(data_dir):
    """A disk that fills while a commit is folded into the file (the checkpoint, not the commit):
    the write-ahead log keeps the transaction, the file is not damaged, and the next command
    replays the log and completes the checkpoint. (The 3 MB limit lets the ~1 MB log of a survey
    load be written whole, but not the ~5 MB file it is folded into.)"""
    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    wal = cfg.database.with_name(cfg.database.name + ".wal")
    full = _litmine(["survey", "load"], {}, preexec_fn=_limit_file_size(3 * 1024 * 1024))
    out, err = full.communicate(timeout=CEILING)
    assert full.returncode == 0, err  # committed: the log holds it
    assert wal.exists() and wal.stat().st_size > 0  # the checkpoint did fail: its work waits in the log
    assert cfg.database.stat().st_size <= 3 * 1024 * 1024
    expected = Store(data_dir / "clean.duckdb")
    expected.migrate()
    from litmine.survey.load import load_survey

    load_survey(expected, cfg.seed_dir)
    assert _snapshot(store) == _snapshot(expected)  # the log replayed: every row, none twice
    again = _litmine(["survey", "load"], {})
    out, err = again.communicate(timeout=CEILING)
    assert again.returncode == 0, err
    assert out.startswith("survey: 0 new, 0 updated, 327 unchanged, 0 failed")
    assert not wal.exists() or wal.stat().st_size == 0  # folded into the file at last
    assert _snapshot(store) == _snapshot(expected)

NOTEBOOK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)  # a notebook cell that keeps its connection
con.execute("SELECT count(*) FROM works").fetchall()
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _notebook(db, seconds):
    proc = subprocess.Popen([sys.executable, "-c", NOTEBOOK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_notebook_holding_the_database_open(replay_server, tmp_path, clean_result):
    """Held briefly: the nightly fetch waits and completes. Held past the lock timeout: it stops with one
    line, nothing half-written, and the re-run completes."""
    data = tmp_path / "notebook"
    env = {**replay_server.env(), "LITMINE_DATA_DIR": str(data), "LITMINE_ARXIV_PAGE_SIZE": "10",
           "LITMINE_ARXIV_LOOKBACK_DAYS": "3"}
    cfg = load_settings(env=env)
    store = Store(cfg.database)
    store.migrate()
    args = ["fetch", "arxiv", "--until", "2026-06-20T12:00"]

    held_past = _notebook(cfg.database, 30)
    refused = _litmine(args, {**env, "LITMINE_DB_LOCK_TIMEOUT_SECONDS": "2"})
    out, err = refused.communicate(timeout=CEILING)
    held_past.kill()
    held_past.wait()
    assert refused.returncode == 1
    assert err.startswith("Error: the database is in use by another process (") and err.count("\n") == 1
    assert _ids(store) == []

    held_briefly = _notebook(cfg.database, 3)
    waited = _litmine(args, {**env, "LITMINE_DB_LOCK_TIMEOUT_SECONDS": "60"})
    out, err = waited.communicate(timeout=CEILING)
    held_briefly.wait()
    assert waited.returncode == 0, err
    assert _ids(store) == clean_result


# -- one bad entry, a trickled answer, endless results (issue 13: D2, D5) -------------------------


def _spoil_first_two_entries(body: bytes) -> bytes:
    """The first entry's id becomes ``../x``; the second one's ``<published>`` is not a date."""
    head, first, second, *rest = body.split(b"<entry>")
    first = re.sub(rb"<id>[^<]+</id>", b"<id>http://arxiv.org/abs/../x</id>", first, count=1)
    second = re.sub(rb"<published>[^<]+</published>", b"<published>not-a-date</published>", second)
    return b"<entry>".join([head, first, second, *rest])


def test_an_unreadable_entry_fails_alone_and_the_watermark_moves(replay_server, tmp_path, clean_result):
    replay_server.inject("rewrite", match="start=0&", rewrite=_spoil_first_two_entries)
    cfg, store, counts = _fetch(replay_server, tmp_path, "spoiled")
    assert (counts.new, counts.failed) == (len(clean_result) - 2, 2)
    stored = _ids(store)
    assert len(stored) == len(clean_result) - 2 and set(stored) < set(clean_result)
    with store.connect(read_only=True) as con:
        failures = dict(con.execute("SELECT item, reason FROM failures WHERE stage = 'fetch-arxiv'").fetchall())
        mark = acquire.get_watermark(con, watermark_name(nightly_query(cfg)))
    assert len(failures) == 2
    assert failures.pop("http://arxiv.org/abs/../x").startswith("an unreadable entry was skipped: ")
    (dated_item, reason), = failures.items()
    assert dated_item.startswith("http://arxiv.org/abs/2606.") and "not-a-date" in reason
    assert mark == "2026-06-19T00:00:00"  # moved past the page, as in a clean run


def test_a_trickled_answer_is_cut_off_at_the_whole_request_deadline(replay_server):
    from litmine.errors import FetchError

    replay_server.inject("trickle", chunk=200, delay=0.2, times=2)  # a page of ~30 KB would take ~30 s
    client = ArxivClient(replay_server.api_url, delay_seconds=0, timeout=1.0, retries=1)
    with pytest.raises(FetchError, match=r"arXiv did not answer after 2 tries: no answer within 1 s"):
        client.search("testing", max_results=10)
    assert [h.source.split("(")[0] for h in replay_server.log] == ["fault:trickle"] * 2


def test_a_server_claiming_a_billion_results_stops_at_the_page_cap(replay_server, tmp_path):
    endless = partial(re.sub, rb"<opensearch:totalResults>\d+<", b"<opensearch:totalResults>1000000000<")
    replay_server.inject("rewrite", times=1000, rewrite=lambda body: endless(body))
    cfg = _settings(replay_server, tmp_path, "endless", arxiv_max_pages=2)
    store = Store(cfg.database)
    store.migrate()
    counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg, now=NOW)
    assert counts.failed == 1 and counts.new > 0
    assert counts.notes[0].startswith("stopped early: stopped after 2 pages (20 results): the query claims more; "
                                      "narrow LITMINE_ARXIV_QUERY or raise LITMINE_ARXIV_MAX_PAGES")
    assert len(replay_server.log) == 2
    with store.connect(read_only=True) as con:
        assert acquire.get_watermark(con, watermark_name(nightly_query(cfg))) is None


def test_fetch_arxiv_exits_1_when_its_query_failed_and_0_when_it_completed(replay_server, data_dir, monkeypatch):
    from click.testing import CliRunner

    from litmine.cli import main

    monkeypatch.setenv("LITMINE_ARXIV_RETRIES", "1")
    monkeypatch.setenv("LITMINE_ARXIV_LOOKBACK_DAYS", "3")
    Store(load_settings().database).migrate()
    replay_server.inject("status", status=503, times=2)  # every try of the first page
    failed = CliRunner().invoke(main, ["fetch", "arxiv", "--until", "2026-06-20T12:00"])
    assert failed.exit_code == 1, failed.output
    assert "arXiv did not answer after 2 tries: HTTP 503" in failed.output
    done = CliRunner().invoke(main, ["fetch", "arxiv", "--until", "2026-06-20T12:00"])
    assert done.exit_code == 0, done.output


def test_fetch_arxiv_exits_1_when_its_query_stopped_at_the_page_cap(replay_server, data_dir, monkeypatch):
    """Pages stored before the cap do not make the run a success: the query as a whole failed."""
    from click.testing import CliRunner

    from litmine.cli import main

    endless = partial(re.sub, rb"<opensearch:totalResults>\d+<", b"<opensearch:totalResults>1000000000<")
    replay_server.inject("rewrite", times=1000, rewrite=lambda body: endless(body))
    for var, value in {"LITMINE_ARXIV_MAX_PAGES": "2", "LITMINE_ARXIV_PAGE_SIZE": "10",
                       "LITMINE_ARXIV_LOOKBACK_DAYS": "3", "LITMINE_ARXIV_DELAY_SECONDS": "0",
                       **{k: v for k, v in replay_server.env().items() if k.startswith("LITMINE_")}}.items():
        monkeypatch.setenv(var, value)
    result = CliRunner().invoke(main, ["fetch", "arxiv", "--until", "2026-06-20T12:00"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("fetch-arxiv: 20 new, 0 updated, 0 unchanged, 1 failed (stopped early: stopped after 2 "
                               "pages (20 results)")
    assert lines[-1].startswith("Error: the stage fetch-arxiv failed: stopped early: stopped after 2 pages")
    store = Store(load_settings().database)
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT command, status FROM runs").fetchall() == [("fetch arxiv", "failed")]
