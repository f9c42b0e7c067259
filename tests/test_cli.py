"""The CLI's exact output and error text."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from litmine.cli import main
from litmine.store.migrations import MIGRATIONS


@pytest.fixture
def cli(data_dir):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_help_shows_an_example_and_the_next_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "Example:\n    litmine run\n" in result.output
    assert result.output.endswith("\n  Next: litmine run, then litmine status.\n")


def test_every_command_has_help_with_an_example(cli):
    def walk(group, path):
        for name, command in group.commands.items():
            yield [*path, name], command
            if hasattr(command, "commands"):
                yield from walk(command, [*path, name])

    for path, _ in walk(main, []):
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"`litmine {' '.join(path)} --help` shows no example"


@pytest.mark.slow  # runs the pipeline's stages
def test_init_then_run_then_status(cli, data_dir):
    first = cli("init")
    assert first.exit_code == 0
    n = len(MIGRATIONS)
    assert first.output.endswith(f"database ready: {data_dir / 'litmine.duckdb'} ({n} migrations applied)\n")
    assert cli("init").output == f"database ready: {data_dir / 'litmine.duckdb'} (0 migrations applied)\n"
    assert cli("survey", "load").output == (
        "survey: 327 new, 0 updated, 0 unchanged, 0 failed (screening candidates: 201 new, 0 updated, 0 unchanged)\n")
    assert cli("survey", "load").output == (
        "survey: 0 new, 0 updated, 327 unchanged, 0 failed (seed unchanged since last load)\n")
    status = cli("status").output
    assert "  works                528\n" in status  # 327 references and 201 screening candidates
    assert "  survey       subsection     248 works     278 labels\n" in status
    assert "survey load    ok" in status


@pytest.mark.slow  # loads the whole survey (76 s on a loaded machine, 2026-12-07)
def test_query_table_csv_and_json(cli):
    cli("survey", "load")
    sql = "select section, count(*) as n from survey_labels where section in ('2.1', '2.2') group by 1 order by 1"
    assert cli("query", sql).output == "section  n\n-------  --\n2.1      10\n2.2      4\n(2 rows)\n"
    assert cli("query", "--format", "csv", sql).output == "section,n\n2.1,10\n2.2,4\n"
    assert cli("query", "--format", "json", sql).output == (
        '[\n {\n  "section": "2.1",\n  "n": 10\n },\n {\n  "section": "2.2",\n  "n": 4\n }\n]\n')


@pytest.mark.parametrize(
    "sql, error",
    [
        ("delete from works", "Error: DELETE is refused: litmine query is read-only, use SELECT\n"),
        ("attach 'x.duckdb'", "Error: ATTACH is refused: litmine query reads only the litmine database\n"),
        ("copy works to 'x.csv'",
         "Error: COPY is refused: to export, use --format csv or --format json and redirect the output\n"),
        ("load vss", "Error: INSTALL and LOAD are refused: litmine query cannot load extensions\n"),
        ("selec 1", 'Error: query failed: Parser Error: syntax error at or near "selec"\n'),
    ],
)
def test_query_refusals_are_one_line(cli, sql, error):
    cli("init")
    result = CliRunner().invoke(main, ["query", sql])
    assert result.exit_code == 1
    assert result.output == error


def test_query_before_init_names_the_fix(cli, data_dir):
    result = CliRunner().invoke(main, ["query", "select 1"])
    assert result.exit_code == 1
    assert result.output == (f"Error: no database at {data_dir / 'litmine.duckdb'}: run `litmine init` or "
                             f"`litmine run` first (path={data_dir / 'litmine.duckdb'})\n")


def test_corrupt_database_gives_one_line_and_is_not_overwritten(data_dir):
    db = data_dir / "litmine.duckdb"
    junk = b"\x00not duckdb\xff" * 512
    db.write_bytes(junk)
    for args in (["run"], ["status"], ["query", "select 1"]):
        proc = subprocess.run([sys.executable, "-m", "litmine", *args], capture_output=True, text=True)
        assert proc.returncode == 1, args
        assert proc.stdout == ""
        assert proc.stderr == (
            "Error: the database file is not a valid DuckDB database or is damaged; it was left untouched: restore "
            "it from a copy, or move it aside and run `litmine run` to rebuild, or point LITMINE_DB_PATH elsewhere; "
            f"`litmine doctor` checks it and its backups (path={db})\n")
    assert db.read_bytes() == junk


def test_locked_database_gives_one_line(data_dir, monkeypatch):
    db = data_dir / "litmine.duckdb"
    subprocess.run([sys.executable, "-m", "litmine", "init"], check=True, capture_output=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('ok', flush=True); "
                               "sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        monkeypatch.setenv("LITMINE_DB_LOCK_TIMEOUT_SECONDS", "1")
        proc = subprocess.run([sys.executable, "-m", "litmine", "survey", "load"], capture_output=True, text=True)
    finally:
        holder.communicate("\n", timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: the database is in use by another process (")
    assert "stayed locked for 1 s: wait for it to finish, or raise LITMINE_DB_LOCK_TIMEOUT_SECONDS" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_bad_setting_is_one_line(data_dir, monkeypatch):
    monkeypatch.setenv("LITMINE_ARXIV_DELAY_SECONDS", "soon")
    proc = subprocess.run([sys.executable, "-m", "litmine", "config"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "Error: arxiv_delay_seconds must be float, got 'soon' (LITMINE_ARXIV_DELAY_SECONDS)\n"


def test_schema_documents_tables(cli):
    out = cli("schema", "works").output
    assert out.startswith("works: One row per scholarly work, whatever brought it in.\n")
    assert "  arxiv_id             VARCHAR      arXiv id without version (2207.13243, hep-th/9901001)\n" in out
    result = CliRunner().invoke(main, ["schema", "nope"])
    assert result.exit_code == 1
    assert result.output == "Error: no table or view named 'nope': run `litmine schema` for the list\n"


def test_stages_that_fail_for_one_reason_name_it_once(data_dir):
    """`litmine classify` on a database with no survey: every classify stage fails for the same reason,
    and the one error line names the stages together and the reason once."""
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    result = CliRunner().invoke(main, ["classify"])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: the stages classify-zeroshot, classify-supervised, classify-ensemble failed: ")
    assert last.count("litmine survey load") == 1
