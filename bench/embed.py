"""Benchmark: abstracts/s of `litmine embed` (embed_works into a DuckDB file) against a bare
SentenceTransformer.encode of the same texts in the same run, and the peak memory of each.

Reads arXiv listings in place from ../shared/fixtures/metadata/ (never copied).

    .venv/bin/python bench/embed.py                # 20,000 abstracts (the issue's figure)
    .venv/bin/python bench/embed.py --n 2000       # a quicker run

Peak memory is the process's resident set high-water mark (ru_maxrss) sampled after each phase;
the baseline runs first, so the RSS figure of `litmine embed` shows only growth beyond it. Nothing
traces allocations during the timings (tracemalloc slowed the side with more Python objects). CPU
seconds (every thread of the process) are printed beside wall seconds: other jobs on a shared
machine inflate the wall time of whichever side they overlap, far less its CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARQUET = ROOT.parent / "shared" / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="abstracts to embed")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import pyarrow.parquet as pq

    from litmine.embed import embed_works, get_embedder
    from litmine.store import Store
    from litmine.store.works import WorkRecord, upsert_work

    table = pq.read_table(PARQUET, columns=["arxiv_id", "title", "abstract"]).slice(0, args.n).to_pylist()
    print(f"{len(table)} abstracts from {PARQUET.name}; batch size {args.batch_size}; torch threads "
          f"{__import__('torch').get_num_threads()}")

    embedder = get_embedder("all-MiniLM-L6-v2", batch_size=args.batch_size)
    model = embedder.model  # load once, outside both timings
    texts = [f"{r['title'].strip()}\n\n{r['abstract'].strip()}" for r in table]
    model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    print(f"model loaded, RSS high-water {rss_mib():.0f} MiB")

    t0, c0 = time.perf_counter(), cpu_s()
    model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)
    bare_s, bare_cpu = time.perf_counter() - t0, cpu_s() - c0
    bare_rss = rss_mib()

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.migrate()
        with store.transaction() as con:
            for r in table:
                upsert_work(con, WorkRecord(title=r["title"], abstract=r["abstract"], arxiv_id=r["arxiv_id"],
                                            metadata_source="arxiv"))
        t0, c0 = time.perf_counter(), cpu_s()
        counts = embed_works(store, embedder)
        litmine_s, litmine_cpu = time.perf_counter() - t0, cpu_s() - c0
        t0 = time.perf_counter()
        again = embed_works(store, embedder)
        rerun_s = time.perf_counter() - t0
        db_mib = (Path(tmp) / "bench.duckdb").stat().st_size / 2**20
    lit_rss = rss_mib()

    n = len(texts)
    print(f"bare SentenceTransformer.encode: {n / bare_s:8.1f} abstracts/s  ({bare_s:.1f} s wall, {bare_cpu:.1f} CPU s), "
          f"RSS high-water {bare_rss:.0f} MiB")
    print(f"litmine embed (embed_works):     {n / litmine_s:8.1f} abstracts/s  ({litmine_s:.1f} s wall, "
          f"{litmine_cpu:.1f} CPU s), RSS high-water {lit_rss:.0f} MiB; {counts}")
    print(f"ratio litmine / bare: {bare_s / litmine_s:.3f} wall, {bare_cpu / litmine_cpu:.3f} CPU (goal: at least 0.95)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared with other jobs)")
    print(f"re-run with nothing changed: {rerun_s:.1f} s ({again}); database {db_mib:.0f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
