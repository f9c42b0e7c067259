"""`litmine doctor`: checks everything a night depends on and says, for each problem, what to do.

The database (it opens, its schema version, every row of every table reads back), runs left
``running`` by a process that is gone, the review journal (lines that cannot be read), the backups
(each one is a whole litmine database), partial copies a killed backup or restore left, free disk
space, the run lock (a stale one: its holder was killed) and Prefect API servers a litmine run
started and left behind. It only reads. Each finding is one line; ``ok`` is false for a problem.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from litmine.config import Settings
from litmine.errors import DatabaseLocked, StoreError
from litmine.store import Store

PREFECT_APP = "prefect.server.api.server:create_app"  # the ephemeral server Prefect starts for a flow


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    text: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':<8} {self.check}: {self.text}"


def diagnose(settings: Settings, disk_usage: Callable = shutil.disk_usage, proc: Path = Path("/proc")) -> list[Finding]:
    """Every check's findings, in order (the collaborators are for tests: a disk, the process table)."""
    return [*_database(settings), *_journal(settings), *_backups(settings), _disk(settings, disk_usage),
            *_locks(settings, proc), *_processes(settings, proc)]


def _database(settings: Settings) -> list[Finding]:
    from litmine.store import health
    from litmine.store.runs import dead_runs

    db = settings.database
    if not db.exists():
        return [Finding("database", False, f"no database at {db}: run `litmine init`, or `litmine run`")]
    store = Store(db, lock_timeout=5)
    try:
        with store.connect(read_only=True) as con:
            try:
                state = health.inspect(con, db)
            except StoreError as exc:
                return [Finding("database", False, f"{db} is damaged ({exc.message}): {_restore(db)}")]
            dead = dead_runs(con) if state.schema_version >= 1 else []
    except DatabaseLocked as exc:
        return [Finding("database", False, f"{exc.message}; if no litmine command is running, end the process "
                                           "that holds it (a notebook's open connection)")]
    except StoreError as exc:
        return [Finding("database", False, exc.message)]
    found = [Finding("database", True, f"{db}: schema {state.schema_version}, {state.rows:,} rows of "
                                       f"{state.tables} tables read back")]
    if state.schema_version < state.newest_known:
        found.append(Finding("database", False, f"schema {state.schema_version} is behind this litmine's "
                                                f"{state.newest_known}: run `litmine init`"))
    found += [Finding("runs", False, f"run {run_id} (`litmine {command}`, started {started}) is still marked running "
                                     "but its process is gone (killed, or its end could not be written): the next "
                                     "litmine command that writes marks it interrupted; run it again")
              for run_id, command, started in dead]
    return found


def _restore(db: Path) -> str:
    from litmine.store.backup import latest_backup

    last = latest_backup(db)
    if last is None:
        return "restore it from a copy, or move it aside and run `litmine run` to rebuild"
    return f"restore the last backup with `litmine backup --restore {last}`"


def _journal(settings: Settings) -> list[Finding]:
    from litmine.review.decisions import journal_path, journal_problems, read_journal, rejected_lines, rejected_path

    path = journal_path(settings)
    found = [Finding("journal", False, f"line {b.line} of {path} is unreadable ({b.reason}): the next `litmine run` "
                                       f"keeps it aside in {rejected_path(settings)}; make that decision again in the "
                                       "review notebook if it is missing")
             for b in journal_problems(settings)]
    kept = rejected_lines(settings)
    if kept:
        found.append(Finding("journal", False, f"{len(kept)} unreadable journal line(s) were kept aside in "
                                               f"{rejected_path(settings)}: make those decisions again if they are "
                                               "missing, then delete that file"))
    if not found:
        found.append(Finding("journal", True, f"{len(read_journal(settings))} decisions, every line reads"))
    return found


def _backups(settings: Settings) -> list[Finding]:
    from litmine.store import health
    from litmine.store.backup import backups, leftovers

    db = settings.database
    found = []
    copies = backups(db)
    for path in copies:
        try:
            health.verify(path)
        except StoreError as exc:
            found.append(Finding("backups", False, f"{path} is not a whole database ({exc.message}): delete it; "
                                                   "`litmine backup` makes a new one"))
    found += [Finding("backups", False, f"{p} is a partial copy a killed backup or restore left: delete it")
              for p in leftovers(db)]
    if not copies and db.exists() and settings.backup_keep > 0:
        found.append(Finding("backups", False, "the database has no backup: run `litmine backup`"))
    if not found:
        found.append(Finding("backups", True, f"{len(copies)} in {db.parent / 'backups'}, each opens and reads back"
                             if copies else "none, and no database yet" if not db.exists()
                             else "turned off (LITMINE_BACKUP_KEEP=0)"))
    return found


def _disk(settings: Settings, disk_usage: Callable) -> Finding:
    folder = settings.database.parent if settings.database.parent.exists() else settings.data_dir
    size = sum(p.stat().st_size for p in (settings.database, settings.database.with_name(settings.database.name
                                                                                          + ".wal")) if p.exists())
    need = 2 * size + 64 * 2**20  # a backup's copy and a checkpoint's growth, and a margin
    free = disk_usage(folder if folder.exists() else Path(".")).free
    if free < need:
        return Finding("disk", False, f"{_size(free)} free in {folder}; a backup and a checkpoint need about "
                                      f"{_size(need)}: free space there, or move LITMINE_DATA_DIR")
    return Finding("disk", True, f"{_size(free)} free in {folder}")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _locks(settings: Settings, proc: Path) -> list[Finding]:
    path = settings.data_dir / "run.lock"
    if not path.exists():
        return [Finding("locks", True, "no run lock")]
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    held_by = _flock_holder(path, proc)
    if held_by is not None:
        return [Finding("locks", True, f"the run lock is held by pid {held_by} (a litmine command is running)")]
    if holder:
        return [Finding("locks", False, f"{path} is stale: `litmine {holder.get('command', '?')}` (pid "
                                        f"{holder.get('pid', '?')}, since {holder.get('started', '?')}) was killed "
                                        f"before it let go; nothing is blocked: run `litmine "
                                        f"{holder.get('command', 'run')}` again to finish its work (that clears it)")]
    return [Finding("locks", True, "the run lock is free")]


def _flock_holder(path: Path, proc: Path) -> int | None:
    """The pid holding an OS file lock (flock) on ``path``, from the kernel's lock table; None if free."""
    inode = path.stat().st_ino
    try:
        table = (proc / "locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            return int(fields[4])
    return None


def _processes(settings: Settings, proc: Path) -> list[Finding]:
    home = str(settings.prefect_home)
    lock = settings.data_dir / "run.lock"
    running = _flock_holder(lock, proc) if lock.exists() else None
    found = []
    for entry in proc.glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(PREFECT_APP.encode() in a for a in argv):
                continue
            env = dict(v.split(b"=", 1) for v in (entry / "environ").read_bytes().split(b"\0") if b"=" in v)
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if env.get(b"PREFECT_HOME", b"").decode(errors="replace") != home:
            continue  # another project's server
        if running is not None and parent == running:
            continue  # the temporary server of the run going on now
        pid = int(entry.name)
        found.append(Finding("processes", False, f"a Prefect API server (pid {pid}) that a litmine run started is "
                                                 f"left behind (its run is gone): stop it with `kill {pid}`"))
    return found or [Finding("processes", True, "no Prefect server left behind")]
