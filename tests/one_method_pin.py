"""The rows the screen and classify stages write on the seeded database, as a JSON snapshot.

``tests/test_one_method.py`` compares a fresh run to ``tests/data/one_method_snapshot.json``, taken
from the code before the two classification families became one (issue 23): the same label rows,
versions and failures before and after. Run as a script to take the snapshot again
(``python tests/one_method_pin.py``), only when a method's maths is meant to change.
"""

from __future__ import annotations

import json
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parent / "data" / "one_method_snapshot.json"
SCOPE_METHODS = ["supervised", "zeroshot", "llm", "ensemble"]
CLASSIFIERS = ["zeroshot", "supervised", "llm", "ensemble"]
BAD_ANSWERS = 6  # the LLM's first answers are not JSON: some works fail, and their failures are recorded


def _counts(c) -> dict:
    import sys
    import time

    print(f"{time.strftime('%H:%M:%S')} {c.stage if hasattr(c, 'stage') else ''} done", file=sys.stderr)
    return {"new": c.new, "updated": c.updated, "unchanged": c.unchanged, "failed": c.failed, "notes": list(c.notes)}


def run_stages(store) -> dict:
    """Screen with every scope method and classify with every classifier (the fake LLM answering),
    then once more (nothing new); returns what each call counted and every row written."""
    from litmine.classify import PLACEMENT, ClassifierEnv, classify_works, get_method
    from litmine.classify.scope import screen_all
    from litmine.embed import HashingEmbedder
    from litmine.llm import LLMClient, StoreCache, get_backend
    from litmine.llm.fake import FakeBackend

    FakeBackend.reset()
    emb = HashingEmbedder(256)
    client = LLMClient(get_backend("fake", "pin"), StoreCache(store))
    env = ClassifierEnv(make_embedder=lambda: emb, make_llm=lambda: client)
    counts = {}
    FakeBackend.answers.extend(["not json"] * BAD_ANSWERS)
    counts["screen"] = _counts(screen_all(store, env, SCOPE_METHODS, run_id="pin-1"))
    for name in CLASSIFIERS:
        FakeBackend.answers.extend(["not json"] * BAD_ANSWERS)
        counts[f"classify-{name}"] = _counts(classify_works(store, get_method(PLACEMENT, name, env), run_id="pin-1"))
    counts["screen-again"] = _counts(screen_all(store, env, ["supervised"], run_id="pin-2"))
    counts["classify-zeroshot-again"] = _counts(classify_works(store, get_method(PLACEMENT, "zeroshot", env), run_id="pin-2"))
    FakeBackend.reset()
    return {"counts": counts, **rows(store)}


def rows(store) -> dict:
    """Every label row a method wrote (all but survey and human labels) and every failure, sorted."""
    with store.connect(read_only=True) as con:
        labels = con.execute(
            """SELECT work_id, label_set, label_id, source, source_version, model, prompt_version, params,
                      round(score, 9), assigned, status, rationale, content_hash, run_id
               FROM label_assignments WHERE source NOT IN ('survey', 'human', 'screening')
               ORDER BY source, label_set, work_id, label_id, run_id""").fetchall()
        failures = con.execute(
            "SELECT run_id, stage, item, error_type, reason, resolved_at IS NOT NULL FROM failures "
            "ORDER BY stage, item, run_id").fetchall()
    by_source: dict[str, list] = {}
    for r in labels:
        by_source.setdefault(f"{r[3]} {r[1]}", []).append(list(r))
    return {"label_assignments": {key: {"rows": len(rs), "versions": sorted({r[4] for r in rs}),
                                        "digest": digest(rs), "first": [r for r in rs if r[0] <= 2]}
                                  for key, rs in by_source.items()},
            "failures": [list(r) for r in failures]}


def digest(rows: list) -> str:
    """A hash of ``rows`` as JSON (a difference shows in the rows kept whole, or by running both codes)."""
    import hashlib

    return hashlib.sha256(json.dumps(normal(rows), sort_keys=True).encode()).hexdigest()


def seeded_store(path: Path):
    """The seeded database of ``tests/conftest.py`` (``seeded_db``), built at ``path``."""
    from ml_seed import load_seed_with_abstracts

    from litmine.config import load_settings
    from litmine.embed import HashingEmbedder, embed_works
    from litmine.store import Store

    store = Store(path)
    store.migrate()
    load_seed_with_abstracts(store, load_settings(env={}).seed_dir)
    embed_works(store, HashingEmbedder(256))
    return store


def normal(obj):
    """``obj`` as JSON would give it back (tuples as lists), for comparison."""
    return json.loads(json.dumps(obj, default=str))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        got = run_stages(seeded_store(Path(tmp) / "litmine.duckdb"))
    SNAPSHOT.write_text(json.dumps(normal(got), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{sum(v['rows'] for v in got['label_assignments'].values())} label rows, {len(got['failures'])} failures written to {SNAPSHOT}")
