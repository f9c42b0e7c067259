"""Test data for the embedding, classification and evaluation tests: the survey seed, with the
survey works' real abstracts read in place from ../shared/survey/abstracts.jsonl (never copied).

On a machine with network access the acquisition stage stores abstracts from arXiv; offline, this
stands in for it. Run as a script to fill a database the same way (for `litmine evaluate` on the
seed set): ``python tests/ml_seed.py`` fills the configured database.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABSTRACTS = ROOT.parent / "shared" / "survey" / "abstracts.jsonl"


def read_abstracts(path: Path = ABSTRACTS) -> dict[str, str]:
    """Citation key -> abstract."""
    out = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("abstract"):
                out[row["key"]] = row["abstract"]
    return out


def load_seed_with_abstracts(store, seed_dir: Path, keys: set[str] | None = None) -> int:
    """Load the survey seed, then give its works their abstracts; returns how many got one.

    ``keys`` keeps only those references' abstracts (the other works keep only their titles).
    """
    from litmine.survey.load import load_survey

    load_survey(store, seed_dir)
    abstracts = read_abstracts()
    n = 0
    with store.transaction() as con:
        for key, work_id in con.execute("SELECT key, work_id FROM survey_references").fetchall():
            if key in abstracts and (keys is None or key in keys):
                con.execute("UPDATE works SET abstract = ? WHERE work_id = ?", [abstracts[key], work_id])
                n += 1
    fill_screening_candidates(store)
    return n


LISTINGS = ROOT.parent / "shared" / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"


def listing_records(arxiv_ids: set[str], path: Path = LISTINGS) -> dict[str, dict]:
    """arXiv id -> {title, abstract, categories, listing_date} of real listings, read in place."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["arxiv_id", "title", "abstract", "categories", "listing_date"])
    return {r["arxiv_id"]: r for r in table.to_pylist() if r["arxiv_id"] in arxiv_ids}


def fill_screening_candidates(store) -> int:
    """Give the seed's screening candidates their arXiv title and abstract from the listings fixture
    (what `litmine fetch survey` stores from arXiv); returns how many got them."""
    with store.connect(read_only=True) as con:
        wanted = dict(con.execute("SELECT arxiv_id, work_id FROM screening_candidates").fetchall())
    records = listing_records(set(wanted))
    with store.transaction() as con:
        for aid, rec in records.items():
            con.execute(
                "UPDATE works SET title = ?, abstract = ?, categories = ?, metadata_source = 'arxiv' WHERE work_id = ?",
                [" ".join(rec["title"].split()), " ".join((rec["abstract"] or "").split()) or None,
                 list(rec["categories"] or []), wanted[aid]])
    return len(records)


if __name__ == "__main__":
    from litmine.config import load_settings
    from litmine.store import Store

    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    print(f"{load_seed_with_abstracts(store, cfg.seed_dir)} survey works given their abstracts in {cfg.database}")
