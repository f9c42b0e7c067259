"""The store: migrations, transactions, the read-only guard, locked and corrupt files."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from litmine.errors import DatabaseLocked, ReadOnlyViolation, StoreError
from litmine.store import Store, migrations
from litmine.store.works import WorkRecord, add_source, upsert_work


def test_migrate_creates_every_table_and_records_each_migration(tmp_path):
    store = Store(tmp_path / "db.duckdb")
    applied = store.migrate()
    assert [a.split()[0] for a in applied] == [f"{m.version:03d}" for m in migrations.MIGRATIONS]
    assert [v for v, _, _ in store.applied_migrations()] == [m.version for m in migrations.MIGRATIONS]
    tables = {row[0] for row in store.schema()}
    for name in ["works", "work_sources", "survey_references", "documents", "citations", "embeddings",
                 "label_sets", "labels", "label_assignments", "runs", "failures", "watermarks",
                 "survey_labels", "latest_labels"]:
        assert name in tables
    assert store.migrate() == []


def test_every_table_and_column_is_documented(store):
    undocumented = [(t, c) for t, tdoc, c, _, cdoc in store.schema()
                    if not tdoc or (not cdoc and not _is_view(store, t))]
    assert undocumented == []


def _is_view(store, name):
    with store.connect(read_only=True) as con:
        return con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0] > 0


def test_migrating_an_old_database_keeps_its_rows(tmp_path):
    store = Store(tmp_path / "old.duckdb")
    store.migrate(upto=1)  # a database written by an earlier litmine
    with store.transaction() as con:
        work_id, status = upsert_work(con, WorkRecord(title="Old work", metadata_source="arxiv", arxiv_id="2101.00001"))
        add_source(con, work_id, "arxiv-query", "old query")
    assert status == "new"
    applied = store.migrate()
    assert applied and all(int(a.split()[0]) > 1 for a in applied)
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT title, arxiv_id FROM works").fetchall() == [("Old work", "2101.00001")]
        assert con.execute("SELECT count(*) FROM work_sources").fetchone()[0] == 1


def test_a_failing_migration_is_rolled_back_and_not_recorded(tmp_path, monkeypatch):
    store = Store(tmp_path / "db.duckdb")
    store.migrate()
    bad = migrations.Migration(999, "broken", "CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, bad])
    monkeypatch.setattr("litmine.store.MIGRATIONS", migrations.MIGRATIONS)
    with pytest.raises(StoreError, match=r"migration 999 \(broken\) failed"):
        store.migrate()
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 999").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half_done'").fetchone()[0] == 0


def test_a_database_from_a_newer_litmine_is_refused(tmp_path):
    store = Store(tmp_path / "db.duckdb")
    store.migrate()
    with store.connect() as con:
        con.execute("INSERT INTO schema_migrations VALUES (10000, 'from the future', now())")
    with pytest.raises(StoreError, match="written by a newer litmine"):
        store.migrate()


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as con:
            upsert_work(con, WorkRecord(title="Lost", metadata_source="arxiv", arxiv_id="2101.00002"))
            raise RuntimeError("boom")
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 0


def test_upsert_work_ranks_sources_and_versions(store):
    with store.transaction() as con:
        wid, s1 = upsert_work(con, WorkRecord(title="Seed title", metadata_source="seed", doi="10.1/ABC", year=2020))
        wid2, s2 = upsert_work(con, WorkRecord(title="arXiv title", metadata_source="arxiv", doi="10.1/abc",
                                               arxiv_id="2001.00001", arxiv_version=3))
        _, s3 = upsert_work(con, WorkRecord(title="Seed again", metadata_source="seed", doi="10.1/abc", venue="ICML"))
        _, s4 = upsert_work(con, WorkRecord(title="Older version", metadata_source="arxiv", arxiv_id="2001.00001",
                                            arxiv_version=2))
        _, s5 = upsert_work(con, WorkRecord(title="arXiv title", metadata_source="arxiv", arxiv_id="2001.00001",
                                            arxiv_version=3))
        row = con.execute("SELECT title, arxiv_version, venue, doi, metadata_source FROM works").fetchall()
    assert wid == wid2
    assert (s1, s2, s3, s4, s5) == ("new", "updated", "updated", "unchanged", "unchanged")
    # the seed filled only the empty venue; the older version changed nothing
    assert row == [("arXiv title", 3, "ICML", "10.1/abc", "arxiv")]


@pytest.mark.parametrize(
    "sql, message",
    [
        ("insert into works (title, metadata_source) values ('x', 'seed')", "INSERT is refused"),
        ("delete from works", "DELETE is refused"),
        ("attach '/tmp/elsewhere.duckdb' as e", "ATTACH is refused"),
        ("copy works to '/tmp/works.csv'", "COPY is refused"),
        ("install vss", "INSTALL and LOAD are refused"),
        ("load vss", "INSTALL and LOAD are refused"),
        ("select 1; drop table works", "one statement at a time"),
        ("set enable_external_access = true", "SET is refused"),
        ("select * from read_csv('/etc/passwd')", "file system operations are disabled"),
    ],
)
def test_query_readonly_refuses_writes_and_escapes(store, sql, message):
    with pytest.raises(ReadOnlyViolation, match=message):
        store.query_readonly(sql)
    assert store.query_readonly("select count(*) from works").rows == [(0,)]


def test_locked_database_waits_then_gives_a_clear_error(store):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(store.path)!r})
            print('locked', flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        waiting = Store(store.path, lock_timeout=0.5)
        with pytest.raises(DatabaseLocked, match="in use by another process"):
            with waiting.transaction():
                pass
    finally:
        holder.communicate("done\n", timeout=30)
    with Store(store.path, lock_timeout=5).transaction() as con:  # released: works again
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 0


def test_a_writer_waits_for_a_short_lock_instead_of_failing(store):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; con = duckdb.connect({str(store.path)!r}); "
                               "print('locked', flush=True); time.sleep(1.0)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with Store(store.path, lock_timeout=30).transaction() as con:
        con.execute("INSERT INTO watermarks (name, value) VALUES ('t', 'v')")
    holder.wait(timeout=30)
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT value FROM watermarks").fetchall() == [("v",)]


def test_a_corrupt_file_is_reported_and_left_untouched(tmp_path):
    path = tmp_path / "litmine.duckdb"
    junk = b"this is not a database" * 100
    path.write_bytes(junk)
    with pytest.raises(StoreError, match="not a valid DuckDB database or is damaged; it was left untouched"):
        Store(path).migrate()
    assert path.read_bytes() == junk


def test_a_connection_is_closed_when_its_open_fails_after_connecting(store, monkeypatch):
    """Issue 24 item 12: an exception between connect and return (here the size check, as a query
    interrupted by a signal) must not leave the connection open, or every later open of the file
    with another configuration fails ("different configuration than existing connections")."""
    import litmine.store as store_module

    real = store_module.check_size

    def interrupted(con, path):
        monkeypatch.setattr(store_module, "check_size", real)  # once
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(store_module, "check_size", interrupted)
    with pytest.raises(RuntimeError) as caught:  # the traceback, kept, holds the frames that opened it
        with store.connect(read_only=True):
            pass
    with store.transaction() as con:  # read-write: another configuration of the same file
        con.execute("CREATE TABLE after_the_interrupt (x INTEGER)")
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM after_the_interrupt").fetchone() == (0,)
    assert caught.value is not None
