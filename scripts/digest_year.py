"""The digest over the replayed arXiv year, and whether "what the taxonomy lacks" finds the new families.

    python scripts/digest_year.py DATA_DIR [--lookback-days 520]

Against the replay server of the tests (``tests/replay.py``: the 74,728 real listings of
``../shared/fixtures/metadata/``), in a fresh ``DATA_DIR``: a set-up run (survey load, its
references and screening candidates fetched), then one run on the last listing day whose nightly
query looks back over the whole year (fetch-arxiv, embed with the
configured embedder, screen, classify zero-shot, supervised, ensemble). The digest covers the works
the year run brought in (not the survey's nor the screening candidates, fetched at set-up).

Printed: the digest's counts and where it is, its borderline list, its "not in the taxonomy"
groups with their sparse-autoencoder / steering / other make-up, then the same clustering with the
screening candidates both annotators called in or borderline added to the year's in-scope works
(where do screening.csv's SAE and steering papers land?). SAE and steering are told by the same
patterns as ``scripts/taxonomy_gaps.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the replay server

from taxonomy_gaps import SAE, STEER  # noqa: E402  (same folder)


def kind_of(text: str) -> str:
    return "SAE" if SAE.search(text) else "steering" if STEER.search(text) else "other"


def describe(report, texts: dict[int, str], label: str) -> None:
    kinds = {w: kind_of(t) for w, t in texts.items()}
    total = {k: list(kinds.values()).count(k) for k in ("SAE", "steering", "other")}
    print(f"{label}: {report.candidates} works ({total['SAE']} SAE, {total['steering']} steering); "
          f"{report.far} far from every subsection (similarity < {report.threshold:.3f}); {len(report.gaps)} groups")
    far = [kinds[w] for w in report.far_ids]
    print(f"  far: SAE {far.count('SAE')}, steering {far.count('steering')}, other {far.count('other')}")
    grouped = {"SAE": 0, "steering": 0, "other": 0}
    for n, gap in enumerate(report.gaps, 1):
        ks = [kinds[w] for w in gap.work_ids]
        for k in ks:
            grouped[k] += 1
        print(f"  group {n}: {gap}; SAE {ks.count('SAE')}, steering {ks.count('steering')}, other {ks.count('other')}")
        for w in gap.work_ids[:4]:
            print(f"      {kinds[w]:8} {texts[w].split('. ')[0][:100]}")
    print(f"  in a group: SAE {grouped['SAE']} of {total['SAE']}, steering {grouped['steering']} of {total['steering']}")


def year_bounds():
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = ROOT.parent / "shared" / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
    days = pq.read_table(path, columns=["listing_date"]).column("listing_date")
    first, last = (datetime.fromisoformat(str(d.as_py())[:10]).date() for d in (pc.min(days), pc.max(days)))
    return first, last


def main() -> None:
    from replay import ReplayServer

    from litmine import pipeline
    from litmine.config import load_settings
    from litmine.store import Store, utcnow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--lookback-days", type=int, default=520)
    parser.add_argument("--since", type=datetime.fromisoformat,
                        help="only the digest and the clustering, over DATA_DIR's database as it is, for the works "
                             "stored since then (the start of the year run it printed)")
    args = parser.parse_args()
    if args.since:
        settings = load_settings(data_dir=args.data_dir)
        return report(Store(settings.database), settings, args.since)
    first, last = year_bounds()
    server = ReplayServer(as_of=last).start()  # the set-up run fetches the screening candidates too
    try:
        settings = load_settings(data_dir=args.data_dir, arxiv_api_url=server.api_url, arxiv_delay_seconds=0.0,
                                 arxiv_lookback_days=args.lookback_days)
        store = Store(settings.database)
        store.migrate()
        start = time.perf_counter()
        setup = pipeline.run_pipeline(settings, store, ["survey", "fetch-survey"])
        print(f"set-up run: {setup.status}; {', '.join(f'{k} {c.new} new' for k, c in setup.counts.items())}")
        since = utcnow()
        print(f"year run from {since:%Y-%m-%d %H:%M:%S}")
        year = pipeline.run_pipeline(settings, store, ["fetch-arxiv", "embed", "screen", "classify-zeroshot",
                                                       "classify-supervised", "classify-ensemble"])
        for name, counts in year.counts.items():
            print(f"  {counts}")
        print(f"year run ({first} to {last}): {year.status}, {time.perf_counter() - start:.0f} s in all")
    finally:
        server.stop()
    report(store, settings, since)


def report(store, settings, since: datetime) -> None:
    from litmine.review.digest import build_digest, write_digest
    from litmine.review.gaps import gaps_in
    from litmine.store import review as db

    written = write_digest(store, settings, since)
    md = written.markdown.read_text()
    print(f"digest: {written.works} works; {md.splitlines()[2]}")
    print(f"markdown: {written.markdown}")
    digest = build_digest(store, since)
    print(f"borderline ({len(digest.borderline)}):")
    for w in digest.borderline:
        print(f"  {w['arxiv_id']} {w['title'][:70]}: {w['why']}")
    year_in = [w["work_id"] for g in digest.taxonomy for w in g.works] + [w["work_id"] for w in digest.unplaced]
    year_in = sorted(set(year_in))
    with store.connect(read_only=True) as con:
        model = db.main_embedding_model(con)
        candidates = [w for (w,) in con.execute(
            "SELECT work_id FROM screening_candidates WHERE scope IN ('in', 'borderline')").fetchall()]
        texts = {w: t for w, (t, _) in db.work_vectors(con, sorted(set(year_in) | set(candidates)), model).items()}
    describe(digest.gaps, {w: texts[w] for w in year_in if w in texts}, "the digest's in-scope works of the year")
    both = sorted(set(year_in) | set(candidates))
    combined = gaps_in(store, both)
    describe(combined, {w: texts[w] for w in both if w in texts},
             "the same with the screening candidates called in or borderline")
    where = {w: n for n, gap in enumerate(combined.gaps, 1) for w in gap.work_ids}
    far = set(combined.far_ids)
    for w in candidates:
        if w in texts and kind_of(texts[w]) != "other":
            place = f"group {where[w]}" if w in where else "far, in no group" if w in far else "near a subsection"
            print(f"  candidate {kind_of(texts[w]):8} {place:18} {texts[w].split('. ')[0][:80]}")
    cand = {w: texts[w] for w in candidates if w in texts}
    describe(gaps_in(store, sorted(cand)), cand, "the screening candidates called in or borderline alone")


if __name__ == "__main__":
    main()
