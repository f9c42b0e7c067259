"""Screening: litmine against ASReview LAB on the same pool with the same prior records.

The pool is the seed's 180 screening candidates judged ``in`` or ``out`` by both annotators (33 in);
their titles and abstracts are read in place from ../shared/fixtures/metadata (what `litmine fetch
survey` stores from arXiv). The prior knowledge, given to both, is the survey's works as litmine
trains on them: the works placed in 2.1-5.7 (relevant) and those cited only in the introduction or
discussion (irrelevant), with abstracts from ../shared/survey/abstracts.jsonl where there is one.

litmine: its screening simulation (``litmine.scope_eval.simulate``): the most likely in-scope
candidate first, retrained after every label. ASReview LAB 3.x: its default model (ELAS u4: TF-IDF,
SVM, balanced, maximum querier), the same records as prior knowledge, then one record at a time.
Both screen the whole pool; WSS@95 and recall after 10% and 20% are computed the same way.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/screening.py            # prints the table, saves bench/results/screening_recall.png
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, header

RESULTS = ROOT / "bench" / "results"


def build_store(folder: Path):
    from ml_seed import load_seed_with_abstracts

    from litmine.config import load_settings
    from litmine.store import Store

    store = Store(folder / "bench.duckdb")
    store.migrate()
    load_seed_with_abstracts(store, load_settings(env={}).seed_dir)
    return store


def asreview_order(prior_texts: list[str], prior_y: np.ndarray, pool_texts: list[str], pool_y: np.ndarray,
                   seed: int = 0) -> list[int]:
    """ASReview LAB's screening order of the pool (indices), its default model, the prior labelled first."""
    import pandas as pd
    from asreview.learner import ActiveLearningCycle
    from asreview.models.models import get_ai_config
    from asreview.simulation.simulate import Simulate

    np.random.seed(seed)
    texts = prior_texts + pool_texts
    titles = [t.split("\n\n", 1)[0] for t in texts]
    abstracts = [t.split("\n\n", 1)[1] if "\n\n" in t else "" for t in texts]
    frame = pd.DataFrame({"title": titles, "abstract": abstracts})
    labels = np.concatenate([prior_y, pool_y]).astype(int)
    cycle = ActiveLearningCycle.from_meta(get_ai_config()["value"])
    sim = Simulate(frame, labels, [cycle], stopper=-1, print_progress=False)
    sim.label(list(range(len(prior_texts))))  # the prior knowledge, as ASReview's --prior-idx gives it
    sim.review()
    screened = [int(r) for r in sim._results["record_id"].tolist()[len(prior_texts):]]
    return [r - len(prior_texts) for r in screened]


def main() -> None:
    from litmine.classify.scope import load_scope_examples
    from litmine.scope_eval import JUDGED, Simulation, plot_recall, rank_pool

    header("screening: litmine against ASReview LAB (default model), same pool, same prior")
    import asreview

    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp))
        examples = load_scope_examples(store, None, context_negatives=True)
    prior = [ex for ex in examples if ex.origin not in JUDGED]
    pool = [ex for ex in examples if ex.origin in JUDGED]
    prior_texts, prior_y = [ex.item.text for ex in prior], np.array([ex.inside for ex in prior])
    pool_texts, pool_y = [ex.item.text for ex in pool], np.array([ex.inside for ex in pool])
    print(f"pool: {len(pool)} candidates, {int(pool_y.sum())} in scope; prior: {len(prior)} survey works "
          f"({int(prior_y.sum())} relevant, {int((~prior_y).sum())} irrelevant)")

    curves, seconds = {}, {}
    for batch in (1, 5):
        start = time.perf_counter()
        order = rank_pool(prior_texts, prior_y, pool_texts, pool_y, batch=batch)
        seconds[f"litmine (batches of {batch})"] = time.perf_counter() - start
        curves[f"litmine (batches of {batch})"] = Simulation([int(i) for i in order], [bool(pool_y[i]) for i in order], batch)
    start = time.perf_counter()
    order = asreview_order(prior_texts, prior_y, pool_texts, pool_y)
    name = f"ASReview LAB {asreview.__version__} (ELAS u4)"
    seconds[name] = time.perf_counter() - start
    curves[name] = Simulation(order, [bool(pool_y[i]) for i in order], 1)

    print(f"{'method':<34} {'WSS@95':>7} {'R@10%':>6} {'R@20%':>6} {'seconds':>8}")
    for label, sim in curves.items():
        print(f"{label:<34} {sim.wss95:7.3f} {sim.recall_at(0.1):6.3f} {sim.recall_at(0.2):6.3f} {seconds[label]:8.1f}")
    ours, theirs = curves["litmine (batches of 1)"], curves[name]
    ratio = ours.wss95 / theirs.wss95 if theirs.wss95 > 0 else float("inf")
    print(f"WSS@95 ratio litmine / ASReview: {ratio:.2f} (target: litmine >= 0.75)")
    path = plot_recall(curves, RESULTS / "screening_recall.png")
    print(f"recall curves: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
