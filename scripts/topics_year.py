"""Emerging topics (litmine.review.topics, BERTopic) on the replayed arXiv year: what they are, and are they stable.

    python scripts/topics_year.py DATA_DIR [--lookback-days 520] [--seeds 42 7] [--topics-only | --build-only] [--digest]

Like ``scripts/digest_year.py``, against the replay server of the tests (``tests/replay.py``: the
74,728 real listings of ``../shared/fixtures/metadata/``), in a fresh ``DATA_DIR``: a set-up run
(survey load, its references and screening candidates fetched), then one run on the last listing
day whose nightly query (the default interpretability terms) looks back over the whole year:
fetch-arxiv, embed (the configured embedder), screen, classify-supervised, topics. To bound the cost
on a shared 2-core machine the zero-shot and ensemble classifiers are not run (works are filed by
the survey, else the supervised classifier). ``--topics-only`` fits the topics again over
``DATA_DIR``'s database as it is; ``--build-only`` stops once the database is built (then
``scripts/topics_params.py`` compares topic parameters on it).

Printed: the in-scope works and the survey's date; for each seed's run (the first seed's last, so
that its run is the latest, the one the digest shows) every topic (size, works before/after the
survey's date, growth, emerging, subsections, how many of its works are SAE or steering papers by
the patterns of ``scripts/taxonomy_gaps.py``), the five typical titles of the 10 largest topics and
of the top 10 emerging ones (for the hand-check); then how many of the first seed's 10 largest
topics recur in each other seed (some topic there shares at least half of its works: Jaccard >= 0.5
of the work sets), and how many of its emerging topics recur as emerging. ``--digest`` then writes
the digest.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the replay server

SAE = re.compile(r"sparse auto-?encoder|\bSAEs?\b", re.I)  # the patterns of scripts/taxonomy_gaps.py
STEER = re.compile(r"steer", re.I)


def kind_of(text: str) -> str:
    return "SAE" if SAE.search(text) else "steering" if STEER.search(text) else "other"


def year_bounds():
    """The first and last listing day of the replayed year."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = ROOT.parent / "shared" / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
    days = pq.read_table(path, columns=["listing_date"]).column("listing_date")
    return tuple(datetime.fromisoformat(str(d.as_py())[:10]).date() for d in (pc.min(days), pc.max(days)))


def top_emerging(topics: list[dict], n: int = 10) -> list[dict]:
    return sorted([t for t in topics if t["emerging"]], key=lambda t: (-t["after_survey"], -t["growth"]))[:n]


def members(store, run_id: str) -> dict[int, set[int]]:
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT topic_id, list(work_id) FROM work_topics WHERE run_id = ? GROUP BY topic_id",
                           [run_id]).fetchall()
    return {t: set(ws) for t, ws in rows}


def show(store, run_id: str, texts: dict[int, str]) -> list[dict]:
    from litmine.store import topics as tdb

    with store.connect(read_only=True) as con:
        topics = tdb.topics_of_run(con, run_id)
        briefs = tdb.works_brief(con, [w for t in topics for w in t["typical"]])
    work_sets = members(store, run_id)
    params = topics[0]["params"] if topics else {}
    print(f"run {run_id}: {params.get('in_scope_works')} in-scope works ({params.get('before')} published before the "
          f"survey's date {topics[0]['survey_date'] if topics else '-'}, {params.get('after')} after); {len(topics)} "
          f"topics, {sum(t['emerging'] for t in topics)} emerging; {sum(t['size'] for t in topics)} works in a topic")
    print(f"{'topic':>5} {'size':>4} {'bef':>4} {'aft':>4} {'growth':>6} {'emerg':5} {'SAE':>3} {'steer':>5}  name  [filed under]")
    for t in sorted(topics, key=lambda t: -t["size"]):
        kinds = [kind_of(texts.get(w, "")) for w in work_sets.get(t["topic_id"], ())]
        filed = ", ".join(f"{k}:{v}" for k, v in list(t["subsections"].items())[:3])
        print(f"{t['topic_id']:>5} {t['size']:>4} {t['before_survey']:>4} {t['after_survey']:>4} {t['growth']:>5.1f}x "
              f"{'yes' if t['emerging'] else 'no':5} {kinds.count('SAE'):>3} {kinds.count('steering'):>5}  {t['name']}  [{filed}]")
    print("the 10 largest topics and the top 10 emerging ones, five most typical works each:")
    largest = sorted(topics, key=lambda t: -t["size"])[:10]
    for t in largest + [t for t in top_emerging(topics) if t not in largest]:
        print(f"  topic {t['topic_id']}{' (emerging)' if t['emerging'] else ''}: {t['name']} ({t['size']} works, "
              f"{t['after_survey']} after, {t['growth']:.1f}x); "
              f"phrases: {', '.join(t['phrases'])}")
        for w in t["typical"]:
            print(f"      {kind_of(texts.get(w, '')):8} {(briefs[w]['title'] or '')[:110]}")
    return topics


def main() -> None:
    from replay import ReplayServer

    from litmine import pipeline
    from litmine.config import load_settings
    from litmine.store import Store
    from litmine.store import review as db
    from litmine.review.topics import find_topics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--lookback-days", type=int, default=520)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    parser.add_argument("--topics-only", action="store_true")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--digest", action="store_true", help="then write the digest (its topics: the first seed's)")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    store = Store(settings.database)
    if not args.topics_only:
        first, last = year_bounds()
        server = ReplayServer(as_of=last).start()
        try:
            settings = load_settings(data_dir=args.data_dir, arxiv_api_url=server.api_url, arxiv_delay_seconds=0.0,
                                     arxiv_lookback_days=args.lookback_days)
            store.migrate()
            start = time.perf_counter()
            setup = pipeline.run_pipeline(settings, store, ["survey", "fetch-survey"])
            print(f"set-up run: {setup.status}; {', '.join(f'{k} {c.new} new' for k, c in setup.counts.items())}")
            year = pipeline.run_pipeline(settings, store, ["fetch-arxiv", "embed", "screen", "classify-supervised"])
            for counts in year.counts.values():
                print(f"  {counts}")
            print(f"year run ({first} to {last}): {year.status}, {time.perf_counter() - start:.0f} s in all")
        finally:
            server.stop()
    if args.build_only:
        return
    with store.connect(read_only=True) as con:
        model = db.main_embedding_model(con)
        ids = [w for (w,) in con.execute("SELECT work_id FROM scope_decisions WHERE decision = 'in'").fetchall()]
        texts = {w: t for w, (t, _) in db.work_vectors(con, ids, model).items()}
    runs = []
    for seed in args.seeds[1:] + args.seeds[:1]:  # the first seed last: its run is the latest, the digest's
        start = time.perf_counter()
        counts = find_topics(store, run_id=f"topics-year-seed{seed}", force=True, seed=seed)
        print(f"seed {seed}: {counts} in {time.perf_counter() - start:.0f} s")
        runs.append((seed, f"topics-year-seed{seed}"))
    runs = runs[-1:] + runs[:-1]
    first_topics = show(store, runs[0][1], texts)
    base = members(store, runs[0][1])
    for seed, run_id in runs[1:]:
        other_topics = show(store, run_id, texts)
        other = members(store, run_id)
        other_emerging = [other[t["topic_id"]] for t in other_topics if t["emerging"]]
        largest = sorted(first_topics, key=lambda t: -t["size"])[:10]
        recur = 0
        for t in largest:
            mine = base[t["topic_id"]]
            best = max((len(mine & o) / len(mine | o) for o in other.values()), default=0.0)
            recur += best >= 0.5
            print(f"  seed {runs[0][0]} topic {t['topic_id']} ({t['size']}, {t['name']}): best Jaccard with seed {seed} "
                  f"{best:.2f}")
        print(f"of seed {runs[0][0]}'s {len(largest)} largest topics, {recur} recur with seed {seed} (Jaccard >= 0.5)")
        top = top_emerging(first_topics)
        recur = sum(max((len(base[t["topic_id"]] & o) / len(base[t["topic_id"]] | o) for o in other_emerging),
                        default=0.0) >= 0.5 for t in top)
        print(f"of seed {runs[0][0]}'s {len(top)} emerging topics, {recur} recur as emerging with seed {seed} "
              f"(Jaccard >= 0.5)")
    if args.digest:
        from litmine.review.digest import write_digest

        written = write_digest(store, settings)
        print(f"digest of seed {runs[0][0]}'s topics: {written.markdown}")


if __name__ == "__main__":
    main()
