"""Scale-out: the nightly flow on a real local Dask cluster of two worker processes.

The CPU-heavy stages (extraction, embedding) hand their compute to the workers; the flow's process
alone opens DuckDB. Each worker gets a guard that refuses to open the database and counts the
compute calls it ran, and the stored results must equal those of the thread runner.
"""

from __future__ import annotations

import os

import pytest

from conftest import SHARED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PDFS = sorted((SHARED / "fixtures" / "pdfs" / "real").glob("*.pdf"))[:4]


def _guard_worker():
    """Runs in each Dask worker: opening the database raises; compute calls are counted."""
    import functools

    from litmine import embed
    from litmine.pdf import extract
    from litmine.store import Store

    def refuse(self, *args, **kwargs):
        raise RuntimeError(f"a Dask worker (pid {os.getpid()}) tried to open the database {self.path}")

    Store._open = refuse
    calls = {"extract_files": 0, "embed_texts": 0}

    def counted(module, name):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        setattr(module, name, wrapper)

    counted(extract, "extract_files")
    counted(embed, "embed_texts")
    import builtins

    builtins._litmine_calls = calls  # read back by _calls
    return os.getpid()


def _calls():
    import builtins

    return dict(builtins._litmine_calls)


def _prepare(data_dir):
    """A database whose documents are four real PDFs, registered as downloaded."""
    import hashlib

    from litmine.config import load_settings
    from litmine.store import Store
    from litmine.store import text as text_store

    store = Store(load_settings().database)
    store.migrate()
    with store.transaction() as con:
        for path in PDFS:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            work_id, how = text_store.register_file(con, path, digest, path.stat().st_size, path.name.split("v")[0],
                                                    path.stem, None)
            assert how == "new", (path, how)
    return store


def _results(store):
    with store.connect(read_only=True) as con:
        docs = con.execute("SELECT work_id, extract_status, pages, md5(text), headings FROM documents ORDER BY 1").fetchall()
        cites = con.execute("SELECT count(*), count(cited_work_id) FROM citations").fetchone()
        vectors = con.execute("SELECT work_id, kind, chunk, content_hash, vector FROM embeddings ORDER BY 1, 2, 3"
                              ).fetchall()
    return docs, cites, vectors


def test_extract_and_embed_on_a_two_worker_dask_cluster_match_the_thread_runner(harness, tmp_path, monkeypatch):
    import dask
    from distributed import Client, LocalCluster
    from prefect_dask import DaskTaskRunner

    from litmine.flows import nightly

    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:64")

    monkeypatch.setenv("LITMINE_DATA_DIR", str(tmp_path / "threads"))
    threaded = _prepare(tmp_path / "threads")
    nightly.build(kind="thread")(stages=["extract", "embed"])
    expected = _results(threaded)
    assert len(expected[0]) == len(PDFS) and all(status == "ok" for _, status, *_ in expected[0])
    assert len(expected[2]) > len(PDFS)  # title/abstract and full-text chunk vectors

    monkeypatch.setenv("LITMINE_DATA_DIR", str(tmp_path / "dask"))
    distributed = _prepare(tmp_path / "dask")
    with dask.config.set({"distributed.worker.daemon": False}):  # workers start extractor processes
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            worker_pids = set(client.run(_guard_worker).values())
            assert len(worker_pids) == 2 and os.getpid() not in worker_pids
            flow = nightly.nightly.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
            flow(stages=["extract", "embed"])
            calls = list(client.run(_calls).values())
    assert sum(c["extract_files"] for c in calls) >= 1 and sum(c["embed_texts"] for c in calls) >= 1
    assert _results(distributed) == expected
