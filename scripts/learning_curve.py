"""The learning curve on new papers (docs/learning_curve.png), from the configured database.

    python scripts/learning_curve.py [--method ensemble] [--repeats 10] [--out docs/learning_curve.png]

After k = 0, 10, 20, 40, 80 reviewed candidates, drawn in the review queue's own order (the most likely
in scope by the method first, refitted every 10), scope recall and precision at the method's own
threshold (fitted for LITMINE_SCOPE_TARGET_RECALL) and placement top-1/top-3 on the judged candidates
not yet reviewed, over repeated stratified 80% subsamples of them. A report of the evaluation harness
(``litmine.evaluation.newpapers.learning_curve``): the stored method (``--method``, as `litmine screen`
and `litmine classify` fit it; default the ensemble) and ``bare`` beside it, fitted on the same reviewed
candidates in the same run. The database must hold the survey, its judged screening candidates and
their embeddings (`litmine survey load`, `litmine fetch survey`, `litmine embed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litmine.classify import env_from_settings
from litmine.config import load_settings
from litmine.evaluation import harness
from litmine.evaluation.newpapers import CURVE_KS, CURVE_METHOD, format_curve, learning_curve, plot_curve
from litmine.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default=CURVE_METHOD, help="the stored method (name or name:key=value;...)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="docs/learning_curve.png")
    args = parser.parse_args()
    cfg = load_settings()
    store = Store(cfg.database, lock_timeout=cfg.db_lock_timeout_seconds)
    env = env_from_settings(cfg, store)  # the methods as `litmine screen` / `litmine classify` build them
    model_id = env.embedder.model_id
    records = harness.load_records(store, model_id)
    setup = harness.load_setup(store, env)
    n, inside = int(records.candidate.sum()), int((records.inside & records.candidate).sum())
    print(f"{n} judged candidates ({inside} in scope), {int((~records.candidate).sum())} survey works, "
          f"{model_id}; {args.method} beside bare; {args.repeats} repeats of a stratified 80% subsample; "
          f"target recall {cfg.scope_target_recall:g}")
    curves = learning_curve(records, setup, args.method, CURVE_KS, args.repeats,
                            target_recall=cfg.scope_target_recall)
    print("\n".join(format_curve(curves)))
    at40 = next(p for p in curves[args.method] if p.k == 40)
    for metric, goal in (("top1", 0.6), ("top3", 0.85)):
        mean = sum(at40.values[metric]) / len(at40.values[metric])
        print(f"target placement {metric} >= {goal} at k = 40: {mean:.3f} "
              + ("met" if mean >= goal else f"missed by {goal - mean:.3f}"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"plot: {plot_curve(curves, args.out)}")


if __name__ == "__main__":
    main()
