"""A real `litmine run` killed midway (SIGKILL), then run again: the job finishes with nothing lost
and nothing duplicated, and the database matches that of one clean uninterrupted run.

Both runs talk to the replay arXiv (real recorded data and real PDFs on 127.0.0.1). The kill point
is deterministic: the replay server holds one real PDF's download, and the run is killed once that
request has arrived, so the survey, its resolution, the arXiv fetch and two PDFs are stored and
everything after is not. While the run waits there, a second `litmine run` must refuse at once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date

import duckdb
import pytest
from replay import ReplayServer

from litmine import pipeline
from litmine.errors import StoreError
from litmine.store import Store, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HELD_PDF = "1606.03490"  # a real PDF the pdfs stage reaches after two others that download fine

# Rows that say what one piece of work is: none may appear twice after a kill and a re-run.
PER_RUN = ("runs", "digests", "digest_states", "topics", "work_topics", "topic_proposals")
UNIQUE = {
    "works": "arxiv_id",
    "documents": "work_id",
    "embeddings": "work_id, kind, chunk, model_id",
    "label_assignments": "work_id, label_set, label_id, source, source_version, content_hash, assigned, status",
    "work_sources": "work_id, source, source_ref",
    "citations": "citing_work_id, position",
}


def _env(replay_server, data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITMINE_")}
    env.update(replay_server.env())
    env.update(
        PREFECT_HOME=str(data_dir / "prefect"),  # each run its own temporary Prefect server and database
        LITMINE_DATA_DIR=str(data_dir),
        LITMINE_EMBED_MODEL="hashing:256",  # the flow, not the model, is under test here
        LITMINE_FLOW_RETRY_DELAY_SECONDS="0",
        # The replay listings end on 2026-07-01: look back far enough to reach their last days.
        LITMINE_ARXIV_LOOKBACK_DAYS=str((utcnow().date() - date(2026, 6, 27)).days),
    )
    return env


class Run:
    """`litmine run` in a subprocess, its output in files (a full pipe must not stall it)."""

    def __init__(self, env: dict[str, str], folder, args: list[str] | None = None) -> None:
        self.out, self.err = folder / "stdout.txt", folder / "stderr.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            # its own process group, killed whole as cron or systemd would: the run and the
            # temporary Prefect server it started
            self.proc = subprocess.Popen([sys.executable, "-m", "litmine", "run", *(args or [])], env=env, cwd=folder,
                                         stdout=out, stderr=err, text=True, start_new_session=True)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def finish(self, timeout: float) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"`litmine run` did not finish within {timeout:g} s: {self.out.read_text()}{self.err.read_text()}")
        return code, self.out.read_text(), self.err.read_text()


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> tuple[Store, str]:
    """One uninterrupted `litmine run` from an empty data directory, against a replay arXiv of its own:
    the baseline both kill tests compare with (it was run once in each); its database and stdout."""
    folder = tmp_path_factory.mktemp("clean-run")
    data_dir = folder / "data"
    data_dir.mkdir()
    with ReplayServer() as server:
        code, out, err = Run(_env(server, data_dir), folder).finish(timeout=900)
    assert code == 0, err
    return Store(data_dir / "litmine.duckdb", lock_timeout=60), out


def _tables(store: Store) -> list[str]:
    with store.connect(read_only=True) as con:
        return [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1").fetchall()]


def _sizes(store: Store, tables: list[str]) -> dict[str, int]:
    with store.connect(read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _wait_until_held(fault, run: Run, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while fault.times > 0:
        if run.proc.poll() is not None:
            code, out, err = run.finish(0)
            pytest.fail(f"the run ended (exit {code}) before it asked for {HELD_PDF}: {out}{err}")
        if time.monotonic() > deadline:
            run.kill()
            pytest.fail(f"the run never asked for the PDF of {HELD_PDF} within {seconds:g} s")
        time.sleep(0.2)


@pytest.mark.timeout(3600)  # ceilings only: two runs side by side on a loaded machine
def test_a_killed_run_then_a_rerun_equals_one_clean_run(clean_run, replay_server, tmp_path):
    killed_dir = tmp_path / "killed"
    for folder in (killed_dir, tmp_path / "victim", tmp_path / "rerun"):
        folder.mkdir()
    held = replay_server.inject("slow", path="/pdf/", match=HELD_PDF, delay=600)
    victim = Run(_env(replay_server, killed_dir), tmp_path / "victim")
    _wait_until_held(held, victim, 300)  # the victim now waits for that PDF, holding the run lock

    second = subprocess.run([sys.executable, "-m", "litmine", "run"], env=_env(replay_server, killed_dir),
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert second.returncode == 1
    assert second.stdout == ""
    assert re.fullmatch(
        rf"Error: another litmine run is in progress \(`litmine run`, pid {victim.proc.pid}, since [0-9: -]+\): "
        r"wait for it to finish; its results will be in `litmine status` \(lock=.*run\.lock\)\n", second.stderr)

    victim.kill()
    victim.proc.wait(timeout=30)
    store = Store(killed_dir / "litmine.duckdb", lock_timeout=60)
    with store.connect(read_only=True) as con:
        (killed_id, status, finished), = con.execute("SELECT run_id, status, finished_at FROM runs").fetchall()
        ok_pdfs = con.execute("SELECT count(*) FROM documents WHERE download_status = 'ok'").fetchone()[0]
        extracted = con.execute("SELECT count(*) FROM documents WHERE extract_status IS NOT NULL").fetchone()[0]
        embedded = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    assert (status, finished) == ("running", None)  # nobody was left to say otherwise
    assert ok_pdfs == 2 and extracted == 0 and embedded == 0  # killed midway through the PDFs

    code, out, err = Run(_env(replay_server, killed_dir), tmp_path / "rerun").finish(timeout=900)
    assert code == 0, err
    baseline, clean_out = clean_run  # the uninterrupted run (a fixture: one for both kill tests)
    tables = _tables(baseline)
    assert _tables(store) == tables
    after, expected = _sizes(store, tables), _sizes(baseline, tables)
    assert expected["runs"] == 1 and after["runs"] == 2
    del after["runs"], expected["runs"]
    assert after == expected
    with store.connect(read_only=True) as con:
        for table, key in UNIQUE.items():
            first = key.split(",")[0]  # a work with no arXiv id is not a duplicate of another
            dupes = con.execute(f"SELECT {key}, count(*) FROM {table} WHERE {first} IS NOT NULL "
                                "GROUP BY ALL HAVING count(*) > 1").fetchall()
            assert dupes == [], f"{table} has duplicate rows: {dupes[:3]}"
        runs = con.execute("SELECT run_id, status, finished_at IS NULL, error FROM runs ORDER BY started_at").fetchall()
        assert con.execute("SELECT count(*) FROM documents WHERE download_status = 'ok'").fetchone()[0] == 4
    assert runs[0][:3] == (killed_id, "interrupted", True)
    assert runs[0][3].startswith("its process stopped before the run finished")
    assert runs[1][1:3] == ("partial", False)  # PDFs the replay arXiv lacks failed, as in the clean run
    assert out.splitlines()[-1] == f"run {runs[1][0]}: partial; database {killed_dir / 'litmine.duckdb'}"
    # Same stages reported as by the clean run, one line each, then the run's own line.
    stages = [[line.split(":")[0] for line in text.splitlines() if not line.startswith("run ")]
              for text in (out, clean_out)]
    assert stages[0] == stages[1] == pipeline.stage_names()  # every stage of the one stage table, in its order


# -- the run's own processes go with it (issue 24, item 11) -------------------------------------


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                parents[int(entry)] = parent
    found, todo = set(), [pid]
    while todo:
        here = todo.pop()
        for child, parent in parents.items():
            if parent == here and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:g} s")
        time.sleep(0.2)


def _held_run(replay_server, tmp_path, name: str) -> tuple[Run, Store, set[int]]:
    """`litmine run --stage fetch-arxiv` waiting on a held arXiv answer; its child processes."""
    data_dir, folder = tmp_path / name, tmp_path / f"{name}-cwd"
    data_dir.mkdir()
    folder.mkdir()
    held = replay_server.inject("slow", path="/api/query", delay=600)
    env = _env(replay_server, data_dir)
    run = Run(env, folder, ["--stage", "fetch-arxiv"])
    deadline = time.monotonic() + 600
    while held.times > 0:
        if run.proc.poll() is not None or time.monotonic() > deadline:
            code, out, err = run.finish(0) if run.proc.poll() is not None else (None, "", "")
            run.kill()
            pytest.fail(f"the run never asked arXiv its query (exit {code}): {out}{err}")
        time.sleep(0.2)
    children = descendants(run.proc.pid)
    assert any("uvicorn" in _cmdline(pid) for pid in children), "the run started no Prefect server"
    return run, Store(data_dir / "litmine.duckdb", lock_timeout=60), children


def test_a_run_killed_with_sigkill_takes_its_prefect_server_with_it(replay_server, tmp_path):
    run, _, children = _held_run(replay_server, tmp_path, "sigkill")
    os.kill(run.proc.pid, signal.SIGKILL)  # the run alone, not its process group
    run.proc.wait()
    try:
        _wait_for(lambda: not any(_alive(pid) for pid in children), 60,
                  f"the run's processes outlived it: {[_cmdline(p) for p in children if _alive(p)]}")
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_ends_a_prefect_run_at_once_as_interrupted(replay_server, tmp_path):
    run, store, children = _held_run(replay_server, tmp_path, "sigterm")
    run.proc.send_signal(signal.SIGTERM)  # the answer it waits for is held for 600 s
    try:
        code, out, err = run.finish(timeout=600)
        _wait_for(lambda: not any(_alive(pid) for pid in children), 60, "the run's processes outlived it")
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert code == 128 + signal.SIGTERM, err
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT command, status, error FROM runs").fetchall() == [
            ("run", "interrupted", "stopped by a signal")]


# -- the whole nightly run killed at 8 random points (issue 24) ---------------------------------

KILLS, SEED = 8, 24
# What a run has done so far, read from its database: rows that stages add, in pipeline order.
PROGRESS = ("SELECT (SELECT count(*) FROM survey_references) + (SELECT count(*) FROM works)"
            " + (SELECT count(*) FROM documents WHERE download_status = 'ok')"
            " + (SELECT count(*) FROM documents WHERE extract_status IS NOT NULL)"
            " + (SELECT count(*) FROM embeddings) + (SELECT count(*) FROM label_assignments)")


def _progress(store: Store) -> int:
    if not store.path.exists():
        return 0
    try:
        with store.connect(read_only=True) as con:
            return con.execute(PROGRESS).fetchone()[0]
    except (StoreError, duckdb.Error):  # not migrated yet, or held past the lock timeout: none seen
        return 0


def _what_a_run_leaves(store: Store) -> dict:
    with store.connect(read_only=True) as con:
        def rows(sql):
            return sorted(con.execute(sql).fetchall(), key=repr)

        return {
            "works": rows("SELECT arxiv_id, title FROM works"),
            "labels per source": rows("SELECT source, label_set, count(*) FROM latest_labels GROUP BY ALL"),
            "decisions": rows("SELECT w.arxiv_id, w.title, d.decision, d.decided_by FROM scope_decisions d "
                              "JOIN works w USING (work_id)"),
        }


@pytest.mark.timeout(3600)  # ten nightly runs; pytest-timeout's signal would also interrupt a query
def test_a_run_killed_at_eight_random_points_then_rerun_equals_one_clean_run(clean_run, replay_server, tmp_path):
    """SIGKILL of the `litmine run` process alone (as the OOM killer or a crashed shell would) at 8
    points drawn at random over the clean run's progress, each followed by the next run; the last
    run finishes. Then the database holds what one uninterrupted run's does, nothing twice, and no
    process of any run is left."""
    import random

    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    baseline, _ = clean_run  # the uninterrupted run
    total = _progress(baseline)
    rng = random.Random(SEED)

    store = Store(killed_dir / "litmine.duckdb", lock_timeout=60)
    left: set[int] = set()
    for i in range(KILLS):
        # a point past what is stored, so that each run is killed having done something of its own
        done = _progress(store)
        point = done + 1 + rng.randrange(max(1, total - done))
        (tmp_path / f"kill{i}").mkdir()
        run = Run(_env(replay_server, killed_dir), tmp_path / f"kill{i}")
        deadline = time.monotonic() + 900
        while run.proc.poll() is None and _progress(store) < point:
            if time.monotonic() > deadline:
                run.kill()
                pytest.fail(f"kill {i}: the run did not reach {point} of {total} within 400 s")
            time.sleep(0.3)
        left |= descendants(run.proc.pid)  # its Prefect server, the server's watchdog, workers
        if run.proc.poll() is None:  # else it finished before its point: the next run has nothing to do
            os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait()
    (tmp_path / "last").mkdir()
    code, out, err = Run(_env(replay_server, killed_dir), tmp_path / "last").finish(timeout=900)
    try:
        _wait_for(lambda: not any(_alive(pid) for pid in left), 60,
                  f"processes of the killed runs outlived them: {[_cmdline(p) for p in left if _alive(p)]}")
    finally:
        for pid in left:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert code == 0, out + err
    # ok or partial: PDFs the replay arXiv lacks failed in an earlier run, and are not tried again
    assert re.fullmatch(rf"run \S+: (ok|partial); database {re.escape(str(killed_dir / 'litmine.duckdb'))}",
                        out.splitlines()[-1])

    assert _what_a_run_leaves(store) == _what_a_run_leaves(baseline)
    tables = _tables(baseline)
    after, expected = _sizes(store, tables), _sizes(baseline, tables)
    # tables that keep a set of rows per run: each run that got that far added its own (the runs, each
    # digest and what it saw, each topics fit); the latest of each is there in both
    for per_run in PER_RUN:
        assert (after.pop(per_run, 0) > 0) == (expected.pop(per_run, 0) > 0) or per_run == "topic_proposals", per_run
    assert after == expected
    with store.connect(read_only=True) as con:
        for table, key in UNIQUE.items():
            first = key.split(",")[0]
            dupes = con.execute(f"SELECT {key}, count(*) FROM {table} WHERE {first} IS NOT NULL "
                                "GROUP BY ALL HAVING count(*) > 1").fetchall()
            assert dupes == [], f"{table} has duplicate rows: {dupes[:3]}"
        statuses = [s for (s,) in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]
    assert len(statuses) == KILLS + 1 and set(statuses) <= {"interrupted", "partial", "ok"}
