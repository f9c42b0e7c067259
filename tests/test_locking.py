"""DuckDB's one-writer rule with two real processes: a writing run, and a reviewer or `litmine query`.

The writer holds the database in short write transactions (as every stage does); the reviewer
records decisions and reads evidence, and `litmine query` reads, at the same time. Neither may fail,
and every decision must end up exactly once as a human label.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from waits import CEILING

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

WRITER = textwrap.dedent("""
    import sys, time
    from litmine.store import Store
    from litmine.store.works import WorkRecord, upsert_work
    from pathlib import Path
    store = Store(sys.argv[1], lock_timeout=60)
    stop, deadline = Path(sys.argv[2]), time.monotonic() + 300  # runs until the test says stop
    n = 0
    while not stop.exists() and time.monotonic() < deadline:
        with store.transaction() as con:   # one stage batch: holds the write lock ~0.2 s
            for _ in range(20):
                n += 1
                upsert_work(con, WorkRecord(title=f"writer work {n}", metadata_source="arxiv",
                                            arxiv_id=f"9901.{n:05d}"))
            time.sleep(0.2)
        if n == 20:
            print("writing", flush=True)  # its first batch is in: the test starts the others
        time.sleep(0.02)
    print(n, flush=True)
""")

REVIEWER = textwrap.dedent("""
    import sys
    from litmine.config import load_settings
    from litmine.review import decisions as review
    settings = load_settings()
    work_ids = [int(x) for x in sys.argv[1].split(",")]
    imported = 0
    for i, work_id in enumerate(work_ids):
        d = review.record_decision(settings, work_id, "subsection", "2.1", "accept" if i % 2 else "reject",
                                   note=f"decision {i}")
        imported += d.imported
        review.labels(settings, "subsection")          # a read between writes
        review.decisions(settings)
    print(imported)
""")


def _seed(store) -> list[int]:
    from litmine.store.labels import upsert_label, upsert_label_set
    from litmine.store.works import WorkRecord, upsert_work

    with store.transaction() as con:
        upsert_label_set(con, "subsection", "tt", "subsections", True)
        upsert_label(con, "subsection", "2.1", "2", "Weights", "intrinsic", "weights", 1, {})
        ids = [upsert_work(con, WorkRecord(title=f"reviewed work {i}", metadata_source="seed"))[0] for i in range(12)]
    return ids


def test_reviewer_and_query_alongside_a_writing_run(store, settings, data_dir):
    work_ids = _seed(store)
    env = dict(os.environ, LITMINE_DATA_DIR=str(data_dir))
    stop = data_dir / "stop-writing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.database), str(stop)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing", writer.communicate()  # the writer is mid-run
    reviewer = subprocess.Popen([sys.executable, "-c", REVIEWER, ",".join(map(str, work_ids))], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    queries = []
    # however slow the machine, every query and the whole review happen while the writer writes
    while reviewer.poll() is None or len(queries) < 3:
        assert writer.poll() is None, writer.communicate()
        queries.append(subprocess.run([str(BIN / "litmine"), "query", "--format", "csv",
                                       "select count(*) as n from works"],
                                      env=env, capture_output=True, text=True, timeout=CEILING))
    stop.touch()
    w_out, w_err = writer.communicate(timeout=CEILING)
    r_out, r_err = reviewer.communicate(timeout=CEILING)
    assert writer.returncode == 0, w_err
    assert reviewer.returncode == 0, r_err
    assert len(queries) >= 3
    for q in queries:
        assert q.returncode == 0, q.stderr
        assert q.stdout.splitlines()[0] == "n"
        assert int(q.stdout.splitlines()[1]) >= 12

    written = int(w_out.split()[-1])
    assert written >= 40

    from litmine.review import decisions as review

    # Decisions the busy database could not take at once wait in the journal; the run imports them.
    pending = review.pending_decisions(settings)
    assert review.import_decisions(store, settings).new == len(pending)
    assert review.import_decisions(store, settings).new == 0
    with store.connect(read_only=True) as con:
        assert con.execute("select count(*) from works").fetchone()[0] == written + 12
        rows = con.execute(
            "select work_id, assigned, status, rationale from label_assignments where source = 'human' "
            "order by work_id").fetchall()
    assert [r[0] for r in rows] == work_ids  # each decision exactly once
    assert [(r[1], r[2]) for r in rows] == [(bool(i % 2), "accept" if i % 2 else "reject") for i in range(12)]
    assert [r[3] for r in rows] == [f"decision {i}" for i in range(12)]


def test_a_decision_recorded_while_the_database_is_held_waits_in_the_journal(store, settings, monkeypatch):
    work_ids = _seed(store)
    from litmine.review import decisions as review

    monkeypatch.setattr(review, "IMPORT_WAIT_SECONDS", 0.5)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from litmine.store import Store
            with Store(sys.argv[1]).transaction() as con:
                print("holding", flush=True)
                sys.stdin.readline()  # held until the test says so, however slow the machine
        """), str(settings.database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        decision = review.record_decision(settings, work_ids[0], "subsection", "2.1", "accept", note="busy db")
        assert holder.poll() is None  # the notebook returned while the run still holds the database
        assert decision.imported is False
        assert str(decision) == f"accept subsection 2.1 for work {work_ids[0]}: saved; the next `litmine run` imports it"
    finally:
        holder.communicate("release\n", timeout=CEILING)
    assert [d["note"] for d in review.pending_decisions(settings)] == ["busy db"]
    assert review.import_decisions(store, settings).new == 1
    assert review.pending_decisions(settings) == []
    assert review.decisions(settings)[0]["decision"] == "accept"


def test_a_bad_decision_is_refused_with_a_readable_error(store, settings):
    work_ids = _seed(store)
    from litmine.review import decisions as review
    from litmine.errors import ReviewError

    with pytest.raises(ReviewError) as err:
        review.record_decision(settings, work_ids[0], "subsection", "9.9", "accept")
    assert str(err.value) == f"no label '9.9' in label set 'subsection': see labels() (work_id={work_ids[0]})"
    with pytest.raises(ReviewError) as err:
        review.record_decision(settings, work_ids[0], "subsection", "2.1", "maybe")
    assert str(err.value) == f"unknown decision 'maybe': use accept or reject (work_id={work_ids[0]})"
    assert review.read_journal(settings) == []
