"""Backups of the database: consistent copies beside it in ``backups/``, the last few kept.

`litmine backup` makes one; `litmine run` makes one before its first write (``LITMINE_BACKUP_KEEP``
copies are kept; 0 turns both off). A copy is consistent: DuckDB's write lock keeps every other
writer out while the database is checkpointed (its write-ahead log folded into the file) and
copied; the copy is opened and checked before it takes its final name. `litmine backup --restore
FILE` puts a copy back, moving the current file (and its write-ahead log) aside, never deleting it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from litmine.config import Settings
from litmine.errors import StoreError


def backup_dir(database: Path) -> Path:
    """Where the backups of ``database`` live: ``backups/`` beside it."""
    return database.parent / "backups"


def backups(database: Path) -> list[Path]:
    """The backups of ``database``, oldest first (their names sort by time)."""
    folder = backup_dir(database)
    return sorted(folder.glob(f"{database.stem}-*.duckdb")) if folder.is_dir() else []


def latest_backup(database: Path) -> Path | None:
    found = backups(database)
    return found[-1] if found else None


def backup(store, keep: int) -> Path:
    """Copy the database consistently into ``backups/``; keep the last ``keep`` copies. Its path."""
    database = store.path
    if not database.exists():
        raise StoreError(f"no database at {database} to back up: run `litmine run` first", path=database)
    folder = backup_dir(database)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{database.stem}-{stamp}.duckdb"
    part = final.with_name(final.name + ".part")
    try:
        with store.connect() as con:  # the write lock: no other process writes while we copy
            con.execute("CHECKPOINT")
            shutil.copyfile(database, part)
        _check(part)
        os.replace(part, final)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise StoreError(f"the backup could not be written: {exc.strerror or exc}", path=final) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    for old in backups(database)[:-max(keep, 1)]:
        old.unlink()
    return final


def _check(path: Path) -> None:
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            con.execute("SELECT count(*) FROM runs").fetchone()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise StoreError(f"the copy does not read back: {str(exc).splitlines()[0]}", path=path) from None


def backup_before_run(settings: Settings, store) -> Path | None:
    """The nightly run's copy before its first write; None when turned off or there is no database yet."""
    if settings.backup_keep <= 0 or not store.path.exists() or store.path.stat().st_size == 0:
        return None
    return backup(store, settings.backup_keep)


def restore(store, source: Path) -> Path | None:
    """Put the backup ``source`` in place of the database; the current file (and its write-ahead
    log) is moved aside, never deleted. Returns where it went (None: there was none)."""
    source = Path(source)
    if not source.is_file():
        raise StoreError(f"no backup at {source}: `litmine backup --list` lists them", path=source)
    _check(source)
    database = store.path
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = database.with_name(f"{database.name}.replaced-{stamp}")
    if database.exists():
        os.replace(database, aside)
    else:
        aside = None
    wal = database.with_name(database.name + ".wal")
    if wal.exists():  # a log of the replaced file must not be replayed into the backup
        os.replace(wal, database.with_name(f"{database.name}.replaced-{stamp}.wal"))
    part = database.with_name(database.name + ".restoring")
    shutil.copyfile(source, part)
    os.replace(part, database)
    return aside
