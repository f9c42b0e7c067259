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
                                   f"`litmine backup --restore {made[2]}`\n")

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
