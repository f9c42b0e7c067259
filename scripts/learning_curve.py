"""The learning curve on new papers (docs/learning_curve.png), from the configured database.

    python scripts/learning_curve.py [--repeats 10] [--out docs/learning_curve.png]

After k = 0, 10, 20, 40, 80 reviewed candidates, drawn in the review queue's own order (the most likely
in scope first, the model refitted every 10), scope recall and precision at the recall-first threshold
(LITMINE_SCOPE_TARGET_RECALL) and placement top-1/top-3 on the judged candidates not yet reviewed,
over repeated stratified 80% subsamples of them (``litmine.evaluation.newpapers.learning_curve``). The database
must hold the survey, its judged screening candidates and their embeddings (`litmine survey load`,
`litmine fetch survey`, `litmine embed`). The review notebook's curves (``litmine.evaluation.learning``) are
the older, random-draw ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litmine.config import load_settings
from litmine.embed import get_embedder
from litmine.evaluation.newpapers import CURVE_KS, Features, format_curve, learning_curve, load_records, plot_curve
from litmine.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="docs/learning_curve.png")
    args = parser.parse_args()
    cfg = load_settings()
    model_id = get_embedder(cfg.embed_model).model_id  # the model loads on first use only: not here
    records = load_records(Store(cfg.database, lock_timeout=cfg.db_lock_timeout_seconds), model_id)
    n, inside = int(records.candidate.sum()), int((records.inside & records.candidate).sum())
    print(f"{n} judged candidates ({inside} in scope), {int((~records.candidate).sum())} survey works, "
          f"{model_id}; {args.repeats} repeats of a stratified 80% subsample; target recall "
          f"{cfg.scope_target_recall:g}")
    points = learning_curve(records, CURVE_KS, args.repeats, target_recall=cfg.scope_target_recall,
                            features=Features(records))
    print("\n".join(format_curve(points)))
    at40 = next(p for p in points if p.k == 40)
    for metric, goal in (("top1", 0.6), ("top3", 0.85)):
        mean = sum(at40.values[metric]) / len(at40.values[metric])
        print(f"target placement {metric} >= {goal} at k = 40: {mean:.3f} "
              + ("met" if mean >= goal else f"missed by {goal - mean:.3f}"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"plot: {plot_curve(points, args.out)}")


if __name__ == "__main__":
    main()
