"""The DuckDB store: the only code that imports ``duckdb``.

DuckDB lets one process write a file at a time, and a writer excludes readers. So litmine never
holds a connection longer than one transaction: ``Store.transaction()`` opens the file, waits (with
backoff, up to ``lock_timeout``) while another process holds it, commits or rolls back, and closes.
A notebook or ``litmine query`` therefore only ever waits seconds for a nightly run, and vice versa.

Stage-specific reads and writes live in the submodules (``works``, ``documents``, ...), as plain
functions taking an open connection, so a stage can do several of them in one transaction.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import duckdb

from litmine.clock import utcnow
from litmine.errors import DatabaseLocked, QueryTimeout, ReadOnlyViolation, StoreError
from litmine.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

Connection = duckdb.DuckDBPyConnection

# Statement types `litmine query` accepts; everything else is refused before it reaches DuckDB.
_READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}
_REFUSAL_HINTS = {
    "ATTACH": "ATTACH is refused: litmine query reads only the litmine database",
    "DETACH": "DETACH is refused: litmine query reads only the litmine database",
    "COPY": "COPY is refused: to export, use --format csv or --format json and redirect the output",
    "EXPORT": "EXPORT is refused: to export, use --format csv or --format json and redirect the output",
    "LOAD": "INSTALL and LOAD are refused: litmine query cannot load extensions",
}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]


class Store:
    """A DuckDB file with litmine's schema. Holds a path, never an open connection."""

    def __init__(self, path: Path | str, lock_timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    # -- connections ---------------------------------------------------------------------------

    def _open(self, read_only: bool, config: dict[str, Any] | None = None) -> Connection:
        if read_only and not self.path.exists():
            raise StoreError(
                f"no database at {self.path}: run `litmine init` or `litmine run` first", path=self.path
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        check_file(self.path)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only, config=config or {})
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower():
                    if time.monotonic() >= deadline:
                        holder = text.split("Conflicting lock is held in", 1)[-1].split(".")[0].strip()
                        raise DatabaseLocked(
                            f"the database is in use by another process ({holder}) and stayed locked for "
                            f"{self.lock_timeout:.0f} s: wait for it to finish, or raise LITMINE_DB_LOCK_TIMEOUT_SECONDS",
                            path=self.path,
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                raise StoreError(_describe_open_error(text, self.path), path=self.path) from None
            except duckdb.Error as exc:
                raise StoreError(_describe_open_error(str(exc), self.path), path=self.path) from None
            try:
                check_size(con, self.path)
            except BaseException:  # closed on every path: a connection left open would make every later
                con.close()        # open of this file with another configuration fail in this process
                raise
            return con

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Connection]:
        """An open connection, closed on exit. No transaction: each statement commits alone."""
        con = self._open(read_only)
        try:
            yield con
        except duckdb.Error as exc:
            if is_damage(exc):  # a checksum that does not match: one line naming the backup, not a traceback
                raise StoreError(_damaged(self.path, f"a block does not read back: {_first(exc)}")) from None
            raise
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed if the block ends normally, rolled back otherwise."""
        con = self._open(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except duckdb.Error as exc:
                _rollback(con)
                if is_damage(exc):
                    raise StoreError(_damaged(self.path, f"a block does not read back: {_first(exc)}")) from None
                # A full disk, a file-size limit, an I/O error: nothing of the transaction is kept.
                raise StoreError(
                    f"database write failed, nothing of it was kept: {str(exc).splitlines()[0]}", path=self.path
                ) from None
            except BaseException:
                _rollback(con)
                raise
        finally:
            con.close()

    # -- schema --------------------------------------------------------------------------------

    def migrate(self, upto: int | None = None) -> list[str]:
        """Apply the migrations this database lacks (up to version ``upto``), each in its own
        transaction. Returns their names."""
        applied: list[str] = []
        with self.connect() as con:
            fresh = not con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' AND schema_name = 'main'"
            ).fetchone()[0]
            if fresh:
                con.execute(
                    "CREATE TABLE schema_migrations ("
                    "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL);"
                    "COMMENT ON TABLE schema_migrations IS 'Schema migrations applied to this file, in order.';"
                    "COMMENT ON COLUMN schema_migrations.version IS 'migration number';"
                    "COMMENT ON COLUMN schema_migrations.name IS 'what the migration changed';"
                    "COMMENT ON COLUMN schema_migrations.applied_at IS 'when it was applied (UTC)'"
                )
            done = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
            newest_known = max(m.version for m in MIGRATIONS)
            if done and max(done) > newest_known:
                raise StoreError(
                    f"the database was written by a newer litmine (schema {max(done)}, this one knows "
                    f"{newest_known}): upgrade litmine",
                    path=self.path,
                )
            for m in sorted(MIGRATIONS, key=lambda m: m.version):
                if m.version in done or (upto is not None and m.version > upto):
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    if callable(m.sql):
                        m.sql(con)
                    else:
                        con.execute(m.sql)
                    con.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", [m.version, m.name, utcnow()]
                    )
                except duckdb.Error as exc:
                    con.execute("ROLLBACK")
                    raise StoreError(f"migration {m.version} ({m.name}) failed: {exc}", path=self.path) from None
                con.execute("COMMIT")
                log.info("applied migration %s: %s", m.version, m.name)
                applied.append(f"{m.version:03d} {m.name}")
        return applied

    def applied_migrations(self) -> list[tuple[int, str, datetime]]:
        with self.connect(read_only=True) as con:
            return con.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()

    def schema(self) -> list[tuple[str, str, str, str, str]]:
        """(table, table comment, column, type, column comment) for every table and view."""
        with self.connect(read_only=True) as con:
            return con.execute(
                """
                SELECT c.table_name, coalesce(t.comment, v.comment, ''), c.column_name, c.data_type,
                       coalesce(c.comment, '')
                FROM duckdb_columns() c
                LEFT JOIN duckdb_tables() t ON t.table_name = c.table_name AND t.schema_name = c.schema_name
                LEFT JOIN duckdb_views() v ON v.view_name = c.table_name AND v.schema_name = c.schema_name
                WHERE c.schema_name = 'main' AND c.database_name = current_database()
                ORDER BY (t.table_name IS NULL), c.table_name, c.column_index
                """
            ).fetchall()

    # -- read-only queries ---------------------------------------------------------------------

    def query_readonly(self, sql: str, params: list | None = None, timeout: float | None = None) -> QueryResult:
        """Run one user query with no way to write, attach, copy out, read files or load extensions,
        stopped after ``timeout`` seconds (a reader holds writers off while it runs)."""
        check_read_only(sql)
        spill = tempfile.mkdtemp(prefix="litmine-query-")  # never DuckDB's default <db>.tmp beside the file
        con = self._open(
            read_only=True,
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "temp_directory": spill,
                "lock_configuration": True,
            },
        )
        timer = threading.Timer(timeout, con.interrupt) if timeout else None
        try:
            if timer is not None:
                timer.start()
            cur = con.execute(sql, params or [])
            columns = [d[0] for d in cur.description] if cur.description else []
            return QueryResult(columns, cur.fetchall())
        except duckdb.InterruptException:
            raise QueryTimeout(f"the query was stopped after {timeout:g} s: narrow it (a WHERE, a LIMIT), or raise "
                               "LITMINE_QUERY_TIMEOUT_SECONDS") from None
        except duckdb.PermissionException as exc:
            raise ReadOnlyViolation(f"refused: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            if is_damage(exc):
                raise StoreError(_damaged(self.path, f"a block does not read back: {_first(exc)}")) from None
            raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None
        finally:
            if timer is not None:
                timer.cancel()
            con.close()
            shutil.rmtree(spill, ignore_errors=True)

    # -- runs (the table's reads and writes are ``store.runs``) ------------------------------------

    def start_run(self, command: str, config: dict | None = None) -> str:
        """Record a run of ``command`` as ``running``, in its own transaction (``runs.start_run``)."""
        from litmine.store import runs

        with self.transaction() as con:
            return runs.start_run(con, command, config)

    def finish_run(self, run_id: str, status: str, counts: dict | None = None, error: str | None = None) -> None:
        from litmine.store import runs

        with self.transaction() as con:
            runs.finish_run(con, run_id, status, counts, error)


def interrupted_by_signal(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is a DuckDB query stopped because a Python signal handler
    raised while it ran (Ctrl-C, SIGTERM, a test's time limit): DuckDB then raises its own
    ``RuntimeError("Query interrupted")`` and the handler's exception is lost."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error) is RuntimeError and str(error) == "Query interrupted":
            return True
        error = error.__cause__ or error.__context__
    return False


def _rollback(con: Connection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:  # the failed commit already ended the transaction
        pass


def check_read_only(sql: str) -> None:
    """Refuse any statement that is not a plain read, with a message naming what was refused."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise ReadOnlyViolation("empty query: give one SELECT statement")
    if len(statements) > 1:
        raise ReadOnlyViolation(f"one statement at a time: got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _READ_ONLY_TYPES:
        hint = _REFUSAL_HINTS.get(kind, f"{kind} is refused: litmine query is read-only, use SELECT")
        raise ReadOnlyViolation(hint)


_HEADER = 4096  # DuckDB's file: a main header, then two database headers, each 4 KiB, then the blocks


def check_file(path: Path) -> None:
    """Refuse a database file whose headers are cut off, and symbolic links where DuckDB keeps the
    file's write-ahead log and spill files."""
    for side in (path.with_name(path.name + ".wal"), path.with_name(path.name + ".tmp")):
        if side.is_symlink():
            raise StoreError(f"{side} is a symbolic link; litmine will not follow it: remove it", path=path)
    try:
        with path.open("rb") as fh:
            head = fh.read(3 * _HEADER)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the database file: {exc.strerror}", path=path) from None
    if size == 0:
        return  # a file DuckDB is about to create
    if head[8:12] != b"DUCK":
        return  # not a DuckDB file at all: DuckDB says so when it opens it
    if len(head) < 3 * _HEADER:
        raise StoreError(_damaged(path, "its header is cut off"))


def check_size(con: Connection, path: Path) -> None:
    """Refuse a file shorter than the blocks DuckDB says are in use: DuckDB itself would answer
    from what is left (counts come from its catalogue) and fail only on reading a missing block."""
    try:
        block_size, used = con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                                       "WHERE database_name = current_database()").fetchone()
    except (duckdb.Error, TypeError) as exc:
        raise StoreError(_damaged(path, f"DuckDB cannot read its block list: {str(exc).splitlines()[0]}")) from None
    needed = 3 * _HEADER + used * block_size
    size = path.stat().st_size
    if size < needed:
        raise StoreError(_damaged(path, f"it is cut short: {size} bytes where its {used} blocks in use need {needed}"))


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error says the file's bytes are damaged (a checksum, a corrupt block)."""
    text = str(exc)
    return "checksum" in text or "Corrupt database file" in text


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


_DOCTOR = "`litmine doctor` checks it and its backups"


def _damaged(path: Path, what: str) -> str:
    return f"the database file {path} is damaged ({what}); it was left untouched: {_restore_hint(path)}; {_DOCTOR}"


def _restore_hint(path: Path) -> str:
    """What to do about a damaged database: restore its last backup (store.backup), if it has one."""
    from litmine.store.backup import latest_backup

    last = latest_backup(path)
    if last is not None:
        return f"restore the last backup with `litmine backup --restore {last}`"
    return "restore it from a copy, or move it aside and run `litmine run` to rebuild"


def _describe_open_error(text: str, path: Path) -> str:
    first = text.splitlines()[0] if text else "unknown error"
    if "not a valid DuckDB database" in text or "Corrupt" in text or "corrupt" in text:
        return (
            "the database file is not a valid DuckDB database or is damaged; it was left untouched: "
            f"{_restore_hint(path)}, or point LITMINE_DB_PATH elsewhere; {_DOCTOR}"
        )
    return f"cannot open the database: {first}"


def who() -> str:
    """``user@host``, recorded as ``created_by`` on labels a person or process writes."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def json_param(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def insert_columns(con: Connection, table: str, cols: dict[str, list], conflict: str = "") -> None:
    """Bulk insert of column lists through an Arrow table (row-by-row inserts are slow in DuckDB)."""
    import pyarrow as pa

    batch = pa.table(cols)
    con.execute("SELECT 1").fetchall()  # ends a result a fetchone() left open: register refuses to run beside one
    con.register("_litmine_batch", batch)
    try:
        names = ", ".join(cols)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _litmine_batch {conflict}")
    finally:
        con.unregister("_litmine_batch")
