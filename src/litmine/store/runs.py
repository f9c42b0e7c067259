"""Table ``runs``: a run started and finished, with the process that runs it, and the runs of
processes that are gone marked ``interrupted``. ``Store.start_run`` and ``Store.finish_run`` call
these in a transaction of their own; ``pipeline.Run`` is the one owner of a run's life."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from pathlib import Path

from litmine import __version__
from litmine.store import Connection, utcnow

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
DEAD_RUN_REASON = ("its process stopped before the run finished (killed, or the machine went down); "
                   "a later run picked up its work")


def start_run(con: Connection, command: str, config: dict | None = None) -> str:
    """Record a run of ``command`` as ``running``, with the process that runs it; first mark
    ``interrupted`` every run of any command left ``running`` by a process of this machine that is
    gone (killed, or the machine went down). Returns the run's id."""
    run_id = str(uuid.uuid4())
    config = {**(config or {}), "process": this_process()}
    close_dead_runs(con)
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, litmine_version, config) "
        "VALUES (?, ?, ?, 'running', ?, ?)",
        [run_id, command, utcnow(), __version__, json.dumps(config, default=str)],
    )
    return run_id


def finish_run(con: Connection, run_id: str, status: str, counts: dict | None = None, error: str | None = None) -> None:
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, counts = ?, error = ? WHERE run_id = ?",
        [utcnow(), status, json.dumps(counts or {}, default=str), error, run_id],
    )


def this_process() -> dict:
    """Who runs a run: host, pid and the process's start time, so a later run can tell it is gone."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (so a reused pid is not taken for it), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def process_gone(process: dict) -> bool:
    """Whether the process recorded by ``this_process`` has ended (on this host; elsewhere: unknown, False)."""
    if process.get("host") != socket.gethostname() or not isinstance(process.get("pid"), int):
        return False
    pid = process["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    start = process.get("start")
    return start is not None and _process_start(pid) not in (None, start)


def close_dead_runs(con: Connection) -> list[str]:
    """Mark ``interrupted`` the runs still ``running`` whose process is gone; their ids."""
    dead = []
    for run_id, config in con.execute("SELECT run_id, config FROM runs WHERE status = 'running'").fetchall():
        try:
            process = json.loads(config or "{}").get("process") or {}
        except (ValueError, AttributeError):
            continue
        if process_gone(process):
            dead.append(run_id)
    if dead:
        con.execute("UPDATE runs SET status = ?, error = ? WHERE list_contains(?, run_id)",
                    [INTERRUPTED, DEAD_RUN_REASON, dead])
        if len(dead) == 1:
            log.warning("run %s was interrupted: %s", dead[0], DEAD_RUN_REASON)
        else:
            log.warning("runs %s were interrupted: each one's process stopped before it finished (killed, or the "
                        "machine went down); a later run picked up their work", ", ".join(dead))
    return dead


def dead_runs(con: Connection) -> list[tuple[str, str, str]]:
    """(run id, command, started) of the runs still ``running`` whose process is gone; reads only."""
    dead = []
    for run_id, command, started, config in con.execute(
            "SELECT run_id, command, strftime(started_at, '%Y-%m-%d %H:%M:%S'), config FROM runs "
            "WHERE status = 'running' ORDER BY started_at").fetchall():
        try:
            process = json.loads(config or "{}").get("process") or {}
        except (ValueError, AttributeError):
            continue
        if process_gone(process):
            dead.append((run_id, command, started))
    return dead
