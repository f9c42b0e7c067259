"""Is a DuckDB file a whole litmine database? Used before a restore, after a backup, and by `litmine doctor`.

A file is proven when it opens read-only, its blocks in use are all there (``check_size``), it
carries litmine's ``schema_migrations`` (migration 1 by its name, nothing newer than this litmine
knows), and every row of every table reads back: DuckDB checks each block's checksum as it reads
it, so a full read finds a zeroed or overwritten stretch that counts from the catalogue never touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from litmine.errors import StoreError
from litmine.store import Connection, check_file, check_size
from litmine.store.migrations import MIGRATIONS


@dataclass(frozen=True)
class Health:
    schema_version: int
    newest_known: int
    tables: int
    rows: int


def newest_known() -> int:
    return max(m.version for m in MIGRATIONS)


def schema_version(con: Connection) -> int:
    """The file's schema version; StoreError when it is not a litmine database or a newer litmine's."""
    has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' "
                      "AND schema_name = 'main' AND database_name = current_database()").fetchone()[0]
    if not has:
        raise StoreError("it is not a litmine database (it has no schema_migrations table)")
    first = next(m for m in sorted(MIGRATIONS, key=lambda m: m.version))
    row = con.execute("SELECT name FROM schema_migrations WHERE version = ?", [first.version]).fetchone()
    if row is None or row[0] != first.name:
        raise StoreError(f"it is not a litmine database (its migration {first.version} is not litmine's)")
    version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    if version > newest_known():
        raise StoreError(f"it was written by a newer litmine (schema {version}, this one knows {newest_known()}): "
                         "upgrade litmine")
    return version


def read_everything(con: Connection) -> tuple[int, int]:
    """Read every row of every table (checksums are checked block by block): (tables, rows)."""
    names = [n for (n,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database() "
        "AND NOT temporary ORDER BY table_name").fetchall()]
    rows = 0
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        reader = con.sql(f"SELECT * FROM {quoted}").to_arrow_reader(50_000)
        for batch in reader:
            rows += batch.num_rows
    return len(names), rows


def inspect(con: Connection, path: Path) -> Health:
    """Health of an open connection's file: schema, then a full read (StoreError naming what failed)."""
    try:
        version = schema_version(con)
        tables, rows = read_everything(con)
    except duckdb.Error as exc:
        raise StoreError(f"a block does not read back: {str(exc).splitlines()[0]}") from None
    return Health(version, newest_known(), tables, rows)


def verify(path: Path) -> Health:
    """Prove that the file at ``path`` is a whole litmine database (see the module's docstring);
    StoreError saying what is wrong otherwise. Opens it read-only and closes it."""
    path = Path(path)
    check_file(path)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"it does not open: {str(exc).splitlines()[0]}") from None
    try:
        try:
            check_size(con, path)
        except StoreError:
            raise StoreError("it is cut short: blocks in use are missing") from None
        return inspect(con, path)
    finally:
        con.close()
