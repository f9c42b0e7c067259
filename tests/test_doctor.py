"""`litmine doctor`: one line per check, and for each problem one line saying what to do (issue 24)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections import namedtuple

from click.testing import CliRunner

from litmine.cli import main
from litmine.config import load_settings
from litmine.doctor import diagnose


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _healthy():
    assert _cli("init").exit_code == 0
    assert _cli("survey", "load").exit_code == 0
    assert _cli("backup").exit_code == 0
    return load_settings()


def _problems(result):
    return [line for line in result.output.splitlines() if line.startswith("PROBLEM")]


def test_a_healthy_data_directory(data_dir):
    cfg = _healthy()
    result = _cli("doctor")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "ok       database", "ok       journal", "ok       backups", "ok       disk", "ok       locks",
        "ok       processes"]
    assert lines[0].startswith(f"ok       database: {cfg.database}: schema ") and lines[-1] == "healthy"


def test_a_zeroed_tail_is_found_with_the_backup_to_restore(data_dir):
    cfg = _healthy()
    size = cfg.database.stat().st_size
    with cfg.database.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\0" * (size - size // 2))
    result = _cli("doctor")
    assert result.exit_code == 1
    (line,) = _problems(result)
    from litmine.store.backup import latest_backup

    assert line.startswith(f"PROBLEM  database: {cfg.database} is damaged (a block does not read back: ")
    assert line.endswith(f"restore the last backup with `litmine backup --restore {latest_backup(cfg.database)}`")
    assert result.output.endswith("1 problem found\n")


def test_a_torn_journal_line_is_found_with_what_to_do(data_dir):
    cfg = _healthy()
    from litmine.review.decisions import journal_path

    path = journal_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"decision_id": "d-1", "work_id": 1, "decis', encoding="utf-8")
    result = _cli("doctor")
    assert result.exit_code == 1
    assert _problems(result) == [
        f"PROBLEM  journal: line 1 of {path} is unreadable (cut off mid-write (no newline at its end)): the next "
        f"`litmine run` keeps it aside in {path.with_name('decisions.rejected.jsonl')}; make that decision again in "
        "the review notebook if it is missing"]


def test_a_stale_run_lock_is_found_and_a_held_one_is_not(data_dir):
    cfg = _healthy()
    lock = cfg.data_dir / "run.lock"
    lock.write_text(json.dumps({"pid": 999999, "command": "run", "started": "2026-12-01 03:00:00"}))
    result = _cli("doctor")
    assert result.exit_code == 1
    assert _problems(result) == [
        f"PROBLEM  locks: {lock} is stale: `litmine run` (pid 999999, since 2026-12-01 03:00:00) was killed before "
        "it let go; nothing is blocked: run `litmine run` again to finish its work (that clears it)"]
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run going on now: not stale
        assert _cli("doctor").exit_code == 0
    finally:
        os.close(fd)


def test_a_left_over_prefect_server_and_a_full_disk(data_dir):
    cfg = _healthy()
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--factory",
                             "prefect.server.api.server:create_app"],
                            env={**os.environ, "PREFECT_HOME": str(cfg.prefect_home), "PREFECT__SERVER_EPHEMERAL": "1"})
    try:
        usage = namedtuple("usage", "total used free")
        found = [f for f in diagnose(cfg, disk_usage=lambda _: usage(10**9, 10**9, 2**20)) if not f.ok]
    finally:
        fake.kill()
        fake.wait()
    assert str(found[0]).startswith(f"PROBLEM  disk: 1 MiB free in {cfg.data_dir}; a backup and a checkpoint need "
                                    "about ")
    assert str(found[0]).endswith(" MiB: free space there, or move LITMINE_DATA_DIR")
    assert [str(f) for f in found[1:]] == [
        f"PROBLEM  processes: a Prefect API server (pid {fake.pid}) that a litmine run started is left behind (its "
        f"run is gone): stop it with `kill {fake.pid}`"]


def test_a_damaged_backup_and_a_run_whose_process_is_gone(data_dir):
    cfg = _healthy()
    from litmine.store import Store
    from litmine.store.backup import latest_backup

    copy = latest_backup(cfg.database)
    with copy.open("r+b") as fh:
        fh.truncate(copy.stat().st_size // 2)
    store = Store(cfg.database)
    run_id = store.start_run("fetch arxiv")
    with store.transaction() as con:  # as if its process were killed
        con.execute("UPDATE runs SET config = ? WHERE run_id = ?",
                    [json.dumps({"process": {"host": os.uname().nodename, "pid": 999999, "start": "1"}}), run_id])
    problems = _problems(_cli("doctor"))
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"PROBLEM  runs: run {run_id} (`litmine fetch arxiv`, started ")
    assert problems[0].endswith("is still marked running but its process is gone (killed, or its end could not be "
                                "written): the next litmine command that writes marks it interrupted; run it again")
    assert problems[1] == (f"PROBLEM  backups: {copy} is not a whole database (it is cut short: blocks in use are "
                           "missing): delete it; `litmine backup` makes a new one")
