"""Two runs started at once: the second refuses cleanly; a killed run leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from waits import CEILING

from litmine.runlock import RunInProgress, run_lock

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from litmine.runlock import run_lock
    with run_lock(Path(sys.argv[1]), "run"):
        print("holding", flush=True)
        time.sleep(60)
""")


def _holder(data_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_second_run_refuses_and_names_the_first(data_dir):
    first = _holder(data_dir)
    try:
        with pytest.raises(RunInProgress, match=rf"another litmine run is in progress \(`litmine run`, pid {first.pid}, since "):
            with run_lock(data_dir, "run"):
                pass
    finally:
        first.kill()
        first.wait()


def test_a_killed_run_leaves_no_stale_lock(data_dir):
    first = _holder(data_dir)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with run_lock(data_dir, "run"):  # taken at once: the kernel released the dead holder's lock
        pass


def test_lock_is_released_after_an_error(data_dir):
    with pytest.raises(ValueError):
        with run_lock(data_dir, "run"):
            raise ValueError("stage failed")
    with run_lock(data_dir, "run"):
        pass


# -- fetch commands and the arXiv spacing across processes (issue 13: D3, D6) --------------------


def _litmine(args, env=None):
    return subprocess.run([sys.executable, "-m", "litmine", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=CEILING)


def test_a_fetch_command_refuses_while_a_run_holds_the_lock(data_dir):
    first = _holder(data_dir)
    try:
        refused = _litmine(["fetch", "arxiv"], {"LITMINE_ARXIV_API_URL": "http://127.0.0.1:9/api/query"})
    finally:
        first.kill()
        first.wait()
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"Error: another litmine run is in progress (`litmine run`, pid {first.pid}, since ")
    assert refused.stderr.count("\n") == 1


SPACED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from litmine.sources.polite import Throttle
    throttle = Throttle(float(sys.argv[2]), Path(sys.argv[1]))
    for _ in range(3):
        throttle.wait()
        print(repr(time.time()), flush=True)
""")


def test_two_processes_keep_the_spacing_between_them(tmp_path):
    """Two processes, each with its own client, share one spacing file: no two requests closer than the delay."""
    spacing = tmp_path / "spacing" / "arxiv-last-request"
    procs = [subprocess.Popen([sys.executable, "-c", SPACED, str(spacing), "0.4"], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    stamps = sorted(float(line) for proc in procs for line in proc.communicate(timeout=CEILING)[0].split())
    assert len(stamps) == 6
    assert min(b - a for a, b in zip(stamps, stamps[1:])) >= 0.4 - 0.01


def test_clients_built_from_settings_share_the_machine_wide_spacing_file(settings):
    from litmine.sources.arxiv import ArxivClient
    from litmine.sources.oai import OaiClient
    from litmine.sources.pdfs import PdfDownloader

    assert ArxivClient.from_settings(settings).throttle.path == settings.arxiv_spacing_file
    assert OaiClient(settings).throttle.path == settings.arxiv_spacing_file
    assert PdfDownloader(settings).throttle.path == settings.arxiv_spacing_file


KILLED = textwrap.dedent("""
    import os, signal
    from litmine.config import load_settings
    from litmine.store import Store
    store = Store(load_settings().database)
    store.start_run("fetch arxiv")
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_killed_command_s_run_is_marked_interrupted_by_the_next_command(data_dir):
    from litmine.config import load_settings
    from litmine.store import Store

    store = Store(load_settings().database)
    store.migrate()
    killed = subprocess.run([sys.executable, "-c", KILLED], timeout=CEILING)
    assert killed.returncode == -signal.SIGKILL
    alive = store.start_run("query")  # this process: alive, so left running
    nxt = _litmine(["fetch", "oai"], {"LITMINE_ARXIV_OAI_URL": "http://127.0.0.1:9/oai"})
    assert nxt.returncode == 1, nxt.stderr
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT command, status, error FROM runs ORDER BY started_at").fetchall()
    assert [r[:2] for r in rows] == [("fetch arxiv", "interrupted"), ("query", "running"), ("fetch oai", "failed")]
    assert rows[0][2].startswith("its process stopped before the run finished")
    assert alive
