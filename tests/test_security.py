"""Security: hostile ids never become paths outside data/, and secrets never reach logs, rows or errors.

The read-only guard of `litmine query` is tested in test_store.py and test_cli.py; PDF size and page
caps in test_pdfs.py and test_extract.py; LLM answers outside the schema and prompt injection in
test_llm.py. Each test here fails if its protection is removed.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from conftest import send_json

from litmine.cli import main
from litmine.config import load_settings
from litmine.errors import InvalidArxivId
from litmine.ids import ArxivId, parse_arxiv_id, safe_child
from litmine.sources.pdfs import download_pdfs
from litmine.store import Store
from litmine.store.acquire import store_arxiv_work
from litmine.store.works import WorkRecord

HOSTILE_IDS = ["../../../etc/passwd", "..", "/etc/passwd", "2101.00001/../../x", ".hidden", "a\\..\\b", "2101.0001\x00"]


@pytest.mark.parametrize("raw", HOSTILE_IDS)
def test_hostile_ids_are_refused_by_the_parser(raw):
    with pytest.raises(InvalidArxivId):
        parse_arxiv_id(raw)


@pytest.mark.parametrize("raw", HOSTILE_IDS)
def test_hostile_ids_never_make_a_path_outside_their_folder(tmp_path, raw):
    root = tmp_path / "pdfs"
    root.mkdir()
    try:
        path = safe_child(root, ArxivId(raw).filename())
    except InvalidArxivId:
        return
    assert path.parent == root and path.resolve().parent == root.resolve() and "/" not in path.name


def test_a_hostile_id_in_the_database_fails_alone_and_writes_nothing_outside(replay_server, data_dir, tmp_path):
    """Even an id that reached the database unparsed (an old or hand-edited row) cannot pick a path:
    its download fails with a recorded reason, the other works' PDFs are stored, nothing lands outside."""
    cfg = load_settings(arxiv_retries=0)
    store = Store(cfg.database)
    store.migrate()
    with store.transaction() as con:
        store_arxiv_work(con, WorkRecord(title="good", metadata_source="arxiv", arxiv_id="1606.03490", arxiv_version=3),
                         "manual", "test", None)
        con.execute("INSERT INTO works (arxiv_id, arxiv_version, title, metadata_source) "
                    "VALUES ('../../outside', 1, 'hostile', 'arxiv')")
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    counts = download_pdfs(store, cfg)
    assert (counts.new, counts.failed) == (1, 1)
    with store.connect(read_only=True) as con:
        rows = dict(con.execute("SELECT w.title, d.download_status FROM documents d JOIN works w USING (work_id)"
                                ).fetchall())
        reason = con.execute("SELECT reason FROM failures WHERE stage = 'pdfs'").fetchone()[0]
    assert rows == {"good": "ok", "hostile": "failed"}
    assert reason == "not an arXiv id (expected 2207.13243v6 or hep-th/9901001) (id=../../outside)"
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    new_files = [p for p in after if p not in before]
    assert all(p.is_relative_to(cfg.data_dir) for p in new_files), new_files
    assert [p.name for p in (cfg.data_dir / "pdfs").iterdir()] == ["1606.03490v3.pdf"]


class _EchoingEndpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that refuses the key and echoes it, as real services do."""

    def do_POST(self):
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        send_json(self, 401, {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}})

    def log_message(self, *args):
        pass


def test_an_api_key_reaches_no_log_row_or_error_even_when_the_endpoint_echoes_it(data_dir, monkeypatch, caplog):
    secret = "sk-live-SECRET-never-to-be-seen-4242"
    server = HTTPServer(("127.0.0.1", 0), _EchoingEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runner = CliRunner()
    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:256")
    assert runner.invoke(main, ["survey", "load"]).exit_code == 0
    assert runner.invoke(main, ["embed"]).exit_code == 0
    monkeypatch.setenv("LITMINE_LLM_BACKEND", "openai")
    monkeypatch.setenv("LITMINE_LLM_MODEL", "gpt-test")
    monkeypatch.setenv("LITMINE_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("LITMINE_LLM_API_KEY", secret)
    caplog.set_level(logging.DEBUG)
    try:
        result = runner.invoke(main, ["-vv", "classify", "-m", "llm", "--limit", "2"])
        config = runner.invoke(main, ["config"])
    finally:
        server.shutdown()
    assert "401" in result.output or "401" in caplog.text  # the endpoint's refusal did get reported
    assert secret not in result.output
    assert secret not in caplog.text
    assert secret not in config.output and "LITMINE_LLM_API_KEY=(set)" in config.output
    store = Store(load_settings().database)
    with store.connect(read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            dump = con.execute(f"SELECT string_agg(CAST(t AS VARCHAR), ' ') FROM {table} t").fetchone()[0] or ""
            assert secret not in dump, f"the API key is stored in {table}"


# -- a damaged database, DuckDB's side files, a query that never ends (issue 13) -----------------


def _loaded_db(data_dir):
    from litmine.survey.load import load_survey

    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    load_survey(store, cfg.seed_dir)
    return cfg.database


def test_a_truncated_database_is_one_line_and_query_never_answers_from_it(data_dir):
    db = _loaded_db(data_dir)
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.truncate(size // 2)
    runner = CliRunner()
    for args in (["status"], ["query", "select count(*) from works"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: the database file {db} is damaged (it is cut short: {size // 2} "
                                        "bytes where its ")
        assert result.output.endswith("); it was left untouched: restore it from a copy, or move it aside and run "
                                      "`litmine run` to rebuild; `litmine doctor` checks it and its backups\n") and result.output.count("\n") == 1
    assert db.stat().st_size == size // 2


@pytest.mark.parametrize("side", [".tmp", ".wal"])
def test_a_symlink_beside_the_database_is_refused(data_dir, tmp_path, side):
    db = _loaded_db(data_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = db.with_name(db.name + side)
    link.symlink_to(elsewhere)
    result = CliRunner().invoke(main, ["query", "select count(*) from works"])
    assert result.exit_code == 1
    assert result.output == f"Error: {link} is a symbolic link; litmine will not follow it: remove it (path={db})\n"


def test_a_query_past_its_time_limit_is_stopped_with_one_line(data_dir, monkeypatch):
    _loaded_db(data_dir)
    monkeypatch.setenv("LITMINE_QUERY_TIMEOUT_SECONDS", "1")
    endless = "select count(*) from range(1000000) a, range(1000000) b where a.range * b.range = 7"
    result = CliRunner().invoke(main, ["query", endless])
    assert result.exit_code == 1
    assert result.output == ("Error: the query was stopped after 1 s: narrow it (a WHERE, a LIMIT), or raise "
                             "LITMINE_QUERY_TIMEOUT_SECONDS\n")
    assert CliRunner().invoke(main, ["query", "select count(*) from works"]).exit_code == 0


# -- hostile seed files (issue 13) ---------------------------------------------------------------


def _seed_copy(tmp_path, change):
    import shutil

    seed = tmp_path / "seed"
    shutil.copytree(load_settings(env={}).seed_dir, seed)
    refs = seed / "references.csv"
    refs.write_bytes(change(refs.read_bytes()))
    return seed, refs


def test_a_seed_with_a_byte_order_mark_is_read(tmp_path):
    from litmine.survey.load import read_seed

    plain = read_seed(_seed_copy(tmp_path / "a", lambda raw: raw)[0])
    marked = read_seed(_seed_copy(tmp_path / "b", lambda raw: b"\xef\xbb\xbf" + raw)[0])
    assert [r.key for r in marked.references] == [r.key for r in plain.references]


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw.replace(b"Quantifying Attention Flow", b"Quantifying\x00Attention Flow", 1),
     r"^a NUL byte: the file is binary or damaged \(file=.*references.csv, line=\d+\)$"),
    (lambda raw: raw.replace(b",2005.00928,", b",../../etc/passwd,", 1),
     r"^field 'arxiv_id' is not an arXiv id: '../../etc/passwd' \(file=.*references.csv, line=\d+\)$"),
    (lambda raw: raw.replace(b"Quantifying Attention Flow", b"Q" + b"x" * 5_000_000, 1),
     r"^field 'title' is 5000\d{3} characters long, over 100000: shorten it \(file=.*references.csv, line=\d+\)$"),
])
def test_a_hostile_seed_is_refused_naming_file_line_and_field(tmp_path, change, message):
    from litmine.errors import SeedError
    from litmine.survey.load import read_seed

    seed, refs = _seed_copy(tmp_path, change)
    assert refs.read_bytes() != (load_settings(env={}).seed_dir / "references.csv").read_bytes()
    with pytest.raises(SeedError, match=message):
        read_seed(seed)
