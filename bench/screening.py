"""Screening: litmine against ASReview LAB on the same pool with the same prior records.

The pool reported on is the candidates judged after the seed's (the rows of ../shared/survey/screening.csv
not in the seed's screening.csv that both annotators called ``in`` or ``out``): no setting of either tool
was chosen on them. The prior knowledge, given to both, is everything litmine trains on before them: the
survey's works (placed in 2.1-5.7: relevant; cited only in the introduction or discussion: irrelevant;
abstracts from ../shared/survey/abstracts.jsonl where there is one) and the seed's judged candidates.
Titles and abstracts are read in place from ../shared/fixtures/metadata. The comparison is repeated on
``--subsamples`` stratified subsamples (``--share`` of the pool), the same records and prior for both
tools in each; printed: each pair, the paired WSS@95 difference (mean, sd, bootstrap 95% interval) and
how often litmine is ahead.

litmine: its screening simulation (``litmine.evaluation.scope.rank_pool``, a report of the evaluation
harness): the most likely in-scope candidate first, the stored ``supervised`` scope method refitted
through the harness after every ``--batch`` labels (on the prior and the labels revealed so far). ASReview LAB 3.x: its default model (ELAS u4: TF-IDF,
SVM, balanced, maximum querier), the same records as prior knowledge, then one record at a time.
Both screen the whole pool; WSS@95 and recall after 10% and 20% are computed the same way.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/screening.py --subsamples 10   # prints the pairs, saves bench/results/screening_recall.png
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, SHARED, header

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


def new_batch(seed_ids: set[str]) -> tuple[list[str], np.ndarray]:
    """The candidates judged after the seed's (../shared/survey/screening.csv rows not in the seed) that both
    annotators called in or out: texts from the listings fixture, read in place."""
    import csv

    from ml_seed import listing_records

    rows = [r for r in csv.DictReader(open(SHARED / "survey" / "screening.csv", encoding="utf-8"))
            if r["arxiv_id"] not in seed_ids and r["scope"] in ("in", "out") and r["label_status"] == "silver-agree"]
    records = listing_records({r["arxiv_id"] for r in rows})
    rows = [r for r in rows if r["arxiv_id"] in records]
    texts = [" ".join(records[r["arxiv_id"]]["title"].split()) + "\n\n"
             + " ".join((records[r["arxiv_id"]]["abstract"] or "").split()) for r in rows]
    return texts, np.array([r["scope"] == "in" for r in rows])


def main() -> None:
    import argparse
    import csv

    from litmine.classify.base import WorkItem
    from litmine.classify.scope import ScopeExample, load_context, load_scope_examples
    from litmine.config import load_settings
    from litmine.evaluation.scope import Simulation, plot_recall, rank_pool

    parser = argparse.ArgumentParser()
    parser.add_argument("--subsamples", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.8)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    header("screening: litmine against ASReview LAB (default model), paired subsamples of the new candidates")
    import asreview

    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp))
        examples = load_scope_examples(store, None, context_negatives=True)
        context = load_context(store)
    seed_ids = {r["arxiv_id"] for r in csv.DictReader(open(load_settings(env={}).seed_dir / "screening.csv",
                                                           encoding="utf-8"))}
    # prior knowledge, for both tools: the survey's works and the seed's judged candidates (litmine's settings
    # were chosen on those); the pool reported on: the candidates judged later, never used to choose a setting
    prior_texts, prior_y = [ex.item.text for ex in examples], np.array([ex.inside for ex in examples])
    pool_texts, pool_y = new_batch(seed_ids)
    print(f"pool: {len(pool_texts)} later candidates, {int(pool_y.sum())} in scope; prior: {len(prior_texts)} "
          f"records ({int(prior_y.sum())} relevant, {int((~prior_y).sum())} irrelevant); {args.subsamples} "
          f"stratified {args.share:.0%} subsamples, the same records and prior for both, whole pool screened")
    name = f"ASReview LAB {asreview.__version__} (ELAS u4)"
    rng = np.random.default_rng(0)
    rows, first = [], {}
    print(f"{'subsample':>9} {'n':>4} {'in':>3}  {'litmine':>8} {'ASReview':>8} {'diff':>7}  {'s litmine':>9} {'s ASR':>6}")
    for k in range(args.subsamples):
        pick = np.concatenate([rng.choice(np.flatnonzero(pool_y == c), int(round(args.share * (pool_y == c).sum())),
                                          replace=False) for c in (True, False)])
        texts, y = [pool_texts[i] for i in pick], pool_y[pick]
        start = time.perf_counter()
        pool = [ScopeExample(WorkItem(-1 - int(i), pool_texts[i], f"pool-{i}", None, None, False), bool(pool_y[i]),
                             "screening") for i in pick]
        ours = rank_pool(examples, pool, batch=args.batch, context=context)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        theirs = asreview_order(prior_texts, prior_y, texts, y, seed=k)
        t_theirs = time.perf_counter() - start
        a = Simulation([int(i) for i in ours], [bool(y[i]) for i in ours], args.batch)
        b = Simulation(theirs, [bool(y[i]) for i in theirs], 1)
        if not first:
            first = {f"litmine (batches of {args.batch})": a, name: b}
        rows.append((a.wss95, b.wss95))
        print(f"{k:>9} {len(y):>4} {int(y.sum()):>3}  {a.wss95:8.3f} {b.wss95:8.3f} {a.wss95 - b.wss95:+7.3f}  "
              f"{t_ours:9.1f} {t_theirs:6.1f}")
    ours_w, theirs_w = np.array(rows).T
    diff = ours_w - theirs_w
    boots = [np.mean(rng.choice(diff, len(diff))) for _ in range(2000)]
    ahead = int((diff > 0).sum())
    print(f"WSS@95 litmine {ours_w.mean():.3f} (sd {ours_w.std(ddof=1):.3f}), {name} {theirs_w.mean():.3f} "
          f"(sd {theirs_w.std(ddof=1):.3f})")
    print(f"paired difference litmine - ASReview: mean {diff.mean():+.3f}, sd {diff.std(ddof=1):.3f}, bootstrap 95% "
          f"[{np.percentile(boots, 2.5):+.3f}, {np.percentile(boots, 97.5):+.3f}]; litmine ahead in {ahead} of "
          f"{len(diff)}")
    need = int(np.ceil(0.8 * len(diff)))
    print(f"target: litmine ahead in >= {need} of {len(diff)} paired subsamples: "
          + ("met" if ahead >= need else f"missed by {need - ahead}"))
    path = plot_recall(first, RESULTS / "screening_recall.png")
    print(f"recall curves of subsample 0: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
