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
    from litmine.survey import load_survey

    load_survey(store, seed_dir)
    abstracts = read_abstracts()
    n = 0
    with store.transaction() as con:
        for key, work_id in con.execute("SELECT key, work_id FROM survey_references").fetchall():
            if key in abstracts and (keys is None or key in keys):
                con.execute("UPDATE works SET abstract = ? WHERE work_id = ?", [abstracts[key], work_id])
                n += 1
    return n


if __name__ == "__main__":
    from litmine.config import load_settings
    from litmine.store import Store

    cfg = load_settings()
    store = Store(cfg.database)
    store.migrate()
    print(f"{load_seed_with_abstracts(store, cfg.seed_dir)} survey works given their abstracts in {cfg.database}")
