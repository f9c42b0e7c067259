"""Backups of the database: consistent copies beside it in ``backups/``, the last few kept.

`litmine backup` makes one; `litmine run` makes one before its first write (``LITMINE_BACKUP_KEEP``
copies are kept; 0 turns both off). A copy is consistent: DuckDB's write lock keeps every other
writer out while the database is checkpointed (its write-ahead log folded into the file) and
copied; the copy is proven (``health.verify``: it opens, has litmine's schema, every row reads
back) before it takes its final name.

`litmine backup --restore FILE` is copy, then verify, then an atomic rename: the backup is copied
to ``<database>.restoring`` beside the database and proven there; only then is the current file
linked aside to ``<database>.replaced-<time>`` (never deleted) and the proven copy renamed over it,
so the database's path never lacks a database. Every failure removes the partial copy and leaves
the current file as it was. The replaced files are pruned to the last ``LITMINE_BACKUP_KEEP`` too.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Callable

import duckdb

from litmine.clock import utcnow
from litmine.config import Settings
from litmine.errors import StoreError
from litmine.store.health import verify

log = logging.getLogger(__name__)


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


def replaced(database: Path) -> list[Path]:
    """The files restores moved aside (``<database>.replaced-<time>``), oldest first."""
    return sorted(p for p in database.parent.glob(f"{database.name}.replaced-*") if not p.name.endswith(".wal"))


def leftovers(database: Path) -> list[Path]:
    """Partial copies a killed backup or restore left behind (``.part``, ``.restoring``)."""
    found = [p for p in [database.with_name(database.name + ".restoring")] if p.exists()]
    folder = backup_dir(database)
    return found + (sorted(folder.glob("*.part")) if folder.is_dir() else [])


def _stamp() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S%fZ")


def backup(store, keep: int) -> Path:
    """Copy the database consistently into ``backups/``; keep the last ``keep`` copies. Its path."""
    database = store.path
    if keep <= 0:
        raise StoreError("backups are turned off (LITMINE_BACKUP_KEEP=0): set LITMINE_BACKUP_KEEP to the number "
                         "of copies to keep", path=database)
    if not database.exists():
        raise StoreError(f"no database at {database} to back up: run `litmine run` first", path=database)
    folder = backup_dir(database)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{database.stem}-{_stamp()}.duckdb"
    part = final.with_name(final.name + ".part")
    again = f"free space in {folder} and run `litmine backup` again"
    try:
        with store.connect() as con:  # the write lock: no other process writes while we copy
            con.execute("CHECKPOINT")
            shutil.copyfile(database, part)
        try:
            verify(part)
        except StoreError as exc:
            raise StoreError(f"the copy does not read back ({exc.message}): the database itself may be damaged: "
                             "run `litmine doctor`", path=part) from None
        os.replace(part, final)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise StoreError(f"the backup could not be written: {exc.strerror or exc}: {again}", path=final) from None
    except duckdb.Error as exc:  # the checkpoint could not write the file (a full disk: DuckDB's FatalException)
        part.unlink(missing_ok=True)
        raise StoreError(f"the backup could not be written: {str(exc).splitlines()[0]}: {again}",
                         path=database) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _prune(backups(database), keep)
    _prune(replaced(database), keep)
    return final


def _prune(paths: list[Path], keep: int) -> None:
    for old in paths[:-keep] if keep > 0 else paths:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".wal").unlink(missing_ok=True)
        log.info("pruned %s", old)


def backup_before_run(settings: Settings, store) -> Path | None:
    """The nightly run's copy before its first write; None when turned off or there is no database yet."""
    if settings.backup_keep <= 0 or not store.path.exists() or store.path.stat().st_size == 0:
        return None
    return backup(store, settings.backup_keep)


def restore(store, source: Path, keep: int = 1,
            copy: Callable[[Path, Path], object] = shutil.copyfile) -> Path | None:
    """Put the backup ``source`` in place of the database: copy it beside the database (by ``copy``),
    prove the copy, link the current file (and its write-ahead log) aside, rename the copy over it.
    Returns where the replaced file went (None: there was none). Keeps the last ``keep`` replaced
    files (at least the one just made)."""
    source, database = Path(source), store.path
    untouched = "the database was not touched"
    if not source.is_file():
        raise StoreError(f"no backup at {source}: `litmine backup --list` lists them", path=source)
    if database.exists() and os.path.samefile(source, database):
        raise StoreError(f"{source} is the live database, not a backup: restore one that `litmine backup --list` "
                         "lists")
    try:
        verify(source)
    except StoreError as exc:
        raise StoreError(f"refused {source}: {exc.message}; {untouched}: restore another backup "
                         "(`litmine backup --list`)") from None
    part = database.with_name(database.name + ".restoring")
    try:
        try:
            copy(source, part)
        except OSError as exc:
            raise StoreError(f"the backup could not be copied beside the database: {exc.strerror or exc}; "
                             f"{untouched}: free space in {database.parent} and restore again", path=part) from None
        try:
            verify(part)
        except StoreError as exc:
            raise StoreError(f"refused the copy of {source}: {exc.message}; {untouched}: free space in "
                             f"{database.parent} and restore again", path=part) from None
        try:
            aside = _swap(database, part)
        except OSError as exc:
            raise StoreError(f"the proven copy could not take the database's place: {exc.strerror or exc}; "
                             f"{untouched}: restore again", path=database) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _prune(replaced(database), max(keep, 1))
    return aside


def _swap(database: Path, proven: Path) -> Path | None:
    """Link the current file and its log aside, then rename ``proven`` over the database: its path
    holds a database at every moment. The old log must not be replayed into the new file."""
    wal = database.with_name(database.name + ".wal")
    if not database.exists():
        wal.unlink(missing_ok=True)
        os.replace(proven, database)
        return None
    aside = database.with_name(f"{database.name}.replaced-{_stamp()}")
    aside_wal = aside.with_name(aside.name + ".wal")
    os.link(database, aside)  # a second name for the current file: nothing moves yet
    try:
        if wal.exists():
            os.link(wal, aside_wal)
            wal.unlink()
        try:
            os.replace(proven, database)
        except OSError:
            if aside_wal.exists() and not wal.exists():
                os.link(aside_wal, wal)  # the current file gets its log back
            raise
    except BaseException:
        if database.exists() and os.path.samefile(database, aside):
            aside.unlink(missing_ok=True)
            aside_wal.unlink(missing_ok=True)
        raise
    return aside
