"""`litmine backup`: consistent copies kept to LITMINE_BACKUP_KEEP, one before each `litmine run`,
named by the damaged-database message, and put back with --restore."""

from __future__ import annotations

from click.testing import CliRunner

from litmine import pipeline
from litmine.store.backup import backups
from litmine.cli import main
from litmine.config import load_settings
from litmine.store import Store


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _works(db) -> int:
    with Store(db).connect(read_only=True) as con:
        return con.execute("SELECT count(*) FROM works").fetchone()[0]


def _add_work(db, title: str) -> None:
    with Store(db).transaction() as con:
        con.execute("INSERT INTO works (title, metadata_source) VALUES (?, 'test')", [title])


def test_backups_are_kept_to_the_setting_named_when_damaged_and_restored(data_dir, monkeypatch):
    monkeypatch.setenv("LITMINE_BACKUP_KEEP", "2")
    db = load_settings().database
    assert _cli("init").exit_code == 0
    _add_work(db, "kept in every backup")
    made = []
    for _ in range(3):
        result = _cli("backup")
        assert result.exit_code == 0, result.output
        made.append(result.output.split()[1])
    assert [str(p) for p in backups(db)] == made[1:]  # the oldest went: two kept
    assert result.output.endswith(f"; 2 kept in {db.parent / 'backups'}\n")
    assert _cli("backup", "--list").output.splitlines()[0].startswith(made[1])

    _add_work(db, "written after the last backup")
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.truncate(size // 2)
    damaged = _cli("status")
    assert damaged.exit_code == 1
    assert damaged.output.endswith(f"it was left untouched: restore the last backup with "
                                   f"`litmine backup --restore {made[2]}`; `litmine doctor` checks it and its backups\n")

    restored = _cli("backup", "--restore", made[2])
    assert restored.exit_code == 0, restored.output
    aside = restored.output.strip().rsplit(" ", 1)[1]
    assert restored.output.startswith(f"restored {made[2]} to {db}; the file it replaced is at {db}.replaced-")
    assert _works(db) == 1 and _cli("status").exit_code == 0
    assert (db.parent / aside.rsplit("/", 1)[1]).stat().st_size == size // 2  # moved aside, never deleted


def test_a_run_backs_the_database_up_before_its_first_write(data_dir):
    cfg = load_settings()
    store = Store(cfg.database)
    pipeline.run_pipeline(cfg, store, ["digest"])  # no database yet: nothing to copy
    assert backups(cfg.database) == []
    _add_work(cfg.database, "before the second run")
    pipeline.run_pipeline(cfg, store, ["digest"])
    (copy,) = backups(cfg.database)
    with Store(copy).connect(read_only=True) as con:  # the copy holds the first run, not the second
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 1


def test_a_backup_without_a_database_says_what_to_do(data_dir):
    result = _cli("backup")
    assert result.exit_code == 1
    assert result.output.startswith("Error: no database at ") and "run `litmine run` first" in result.output


# -- faults round three (issue 24): restore proves the new file first, a full disk, KEEP=0 -------------


import errno  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from litmine.errors import StoreError  # noqa: E402
from litmine.store import backup as backup_module  # noqa: E402


def _db_with_a_backup(monkeypatch, keep="3"):
    monkeypatch.setenv("LITMINE_BACKUP_KEEP", keep)
    db = load_settings().database
    assert _cli("init").exit_code == 0
    _add_work(db, "the good database")
    made = _cli("backup")
    assert made.exit_code == 0, made.output
    return db, made.output.split()[1]


def _untouched(db, before: bytes) -> None:
    assert db.read_bytes() == before and _works(db) == 1
    leftovers = sorted(p.name for p in db.parent.iterdir() if ".restoring" in p.name or ".replaced-" in p.name)
    assert leftovers == []


def test_restoring_the_live_file_is_refused_and_the_database_stays(data_dir, monkeypatch):
    db, _ = _db_with_a_backup(monkeypatch)
    before = db.read_bytes()
    result = _cli("backup", "--restore", str(db))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {db} is the live database, not a backup: restore one that "
                                    "`litmine backup --list` lists") and result.output.count("\n") == 1
    _untouched(db, before)


def test_a_restore_on_a_full_disk_leaves_the_database_in_place_and_no_partial_copy(data_dir, monkeypatch):
    db, copy = _db_with_a_backup(monkeypatch)
    before = db.read_bytes()

    def fills_the_disk(source, target):
        with open(source, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read(4096))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(StoreError) as caught:
        backup_module.restore(Store(db), copy, copy=fills_the_disk)
    assert str(caught.value).startswith("the backup could not be copied beside the database: No space left on "
                                        f"device; the database was not touched: free space in {db.parent}")
    _untouched(db, before)


def _foreign(path):
    with Store(path).connect() as con:  # another program's DuckDB file that happens to have a runs table
        con.execute("CREATE TABLE runs (run_id VARCHAR, status VARCHAR)")
        con.execute("INSERT INTO runs VALUES ('x', 'ok')")


def _zero_tail(path):
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\0" * (size - size // 2))


@pytest.mark.parametrize("spoil", ["truncated", "foreign", "zeroed tail"])
def test_a_backup_that_is_not_a_whole_litmine_database_is_refused(data_dir, monkeypatch, tmp_path, spoil):
    db, copy = _db_with_a_backup(monkeypatch)
    _cli("survey", "load")  # blocks enough that a zeroed half hits the tables' data
    before = db.read_bytes()
    bad = tmp_path / "bad.duckdb"
    if spoil == "foreign":
        _foreign(bad)
    else:
        bad.write_bytes(before)
        if spoil == "truncated":
            with bad.open("r+b") as fh:
                fh.truncate(len(before) // 2)
        else:
            _zero_tail(bad)
    result = _cli("backup", "--restore", str(bad))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: refused {bad}: ") and result.output.count("\n") == 1
    assert "the database was not touched" in result.output and "Traceback" not in result.output
    assert db.read_bytes() == before
    assert not [p for p in db.parent.iterdir() if ".restoring" in p.name or ".replaced-" in p.name]


def _limit_file_size(limit_bytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_a_backup_on_a_full_disk_is_one_line_and_leaves_no_partial_copy(data_dir):
    """The disk fills while the backup folds the write-ahead log into the file (DuckDB's FatalException)."""
    cfg = load_settings()
    env = {**os.environ}
    assert _cli("init").exit_code == 0
    loaded = subprocess.run([sys.executable, "-m", "litmine", "survey", "load"], env=env, capture_output=True,
                            text=True, preexec_fn=_limit_file_size(3 * 1024 * 1024))
    assert loaded.returncode == 0, loaded.stderr  # committed in the log; its checkpoint did not fit
    full = subprocess.run([sys.executable, "-m", "litmine", "backup"], env=env, capture_output=True, text=True,
                          preexec_fn=_limit_file_size(3 * 1024 * 1024))
    assert full.returncode == 1
    assert full.stderr.startswith("Error: the backup could not be written: ") and full.stderr.count("\n") == 1
    assert "File too large" in full.stderr and "run `litmine backup` again" in full.stderr
    assert list((cfg.database.parent / "backups").glob("*.part")) == [] and backups(cfg.database) == []
    again = subprocess.run([sys.executable, "-m", "litmine", "backup"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    with Store(cfg.database).connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 327 + 201


def test_a_run_whose_end_cannot_be_written_is_marked_interrupted_by_the_next(data_dir):
    """The end of a run cannot be written (the disk is full): one line, exit 1; the next run marks it."""
    assert _cli("init").exit_code == 0
    script = ("import sys\nfrom litmine.store import Store\nfrom litmine.errors import StoreError\n"
              "def full(self, *a, **k):\n"
              "    raise StoreError('database write failed, nothing of it was kept: No space left on device')\n"
              "Store.finish_run = full\nfrom litmine.cli import main\nmain(['survey', 'load'])\n")
    failed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert failed.returncode == 1
    assert failed.stderr == "Error: database write failed, nothing of it was kept: No space left on device\n"
    assert _cli("survey", "load").exit_code == 0
    with Store(load_settings().database).connect(read_only=True) as con:
        assert con.execute("SELECT status FROM runs ORDER BY started_at").fetchall() == [("interrupted",), ("ok",)]


def test_keep_0_makes_no_copy_and_replaced_files_are_pruned(data_dir, monkeypatch):
    db, copy = _db_with_a_backup(monkeypatch, keep="2")
    for _ in range(3):
        assert _cli("backup", "--restore", copy).exit_code == 0
    replaced = sorted(p.name for p in db.parent.glob(f"{db.name}.replaced-*"))
    assert len(replaced) == 2  # the newest two of three
    monkeypatch.setenv("LITMINE_BACKUP_KEEP", "0")
    off = _cli("backup")
    assert off.exit_code == 1
    assert off.output == ("Error: backups are turned off (LITMINE_BACKUP_KEEP=0): set LITMINE_BACKUP_KEEP to the "
                          f"number of copies to keep (path={db})\n")
    assert [str(p) for p in backups(db)] == [copy]


def test_a_database_with_a_zeroed_tail_is_one_line_naming_the_backup_and_doctor(data_dir, monkeypatch):
    db, copy = _db_with_a_backup(monkeypatch)
    assert _cli("survey", "load").exit_code == 0
    _zero_tail(db)
    result = _cli("status")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: the database file {db} is damaged (a block does not read back: ")
    assert result.output.endswith(f"restore the last backup with `litmine backup --restore {copy}`; "
                                  "`litmine doctor` checks it and its backups\n")
