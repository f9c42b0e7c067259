"""Which topic parameters give stable topics on the replayed year: the criterion's figures per setting.

    python scripts/topics_params.py DATA_DIR [--seeds 42 7 1234] [--config NAME ...] [--out FILE.json]

Over ``DATA_DIR``'s database as ``scripts/topics_year.py --build-only`` left it (nothing is stored
there), each setting of ``CONFIGS`` is fitted with every UMAP seed (``litmine.review.topics.fit_and_describe``,
the stored embeddings). The criterion, fixed before any setting was looked at for sparse
autoencoders or steering (this script never tells them apart):

- *admissible*: in every seed no topic holds more than ``MAX_SHARE`` of the in-scope works, at most
  ``MAX_OUTLIERS`` of them are in no topic, and at least one topic is emerging;
- *score* (higher is better): the mean of
  (a) top-10 stability: over ordered pairs of seeds (a, b), the mean over a's 10 largest topics of
      the best Jaccard (of the work sets) with any topic of b, and
  (b) emerging agreement: over pairs of seeds, the share of both seeds' emerging topics that recur
      as an emerging topic of the other (best Jaccard >= 0.5).

The admissible setting of highest score is chosen. Printed: one row per setting with its figures,
per seed the number of topics, emerging topics, outliers and the largest topic's share.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

MAX_SHARE = 0.20
MAX_OUTLIERS = 0.40
RECUR = 0.5

EOM = {"selection": "eom", "min_topic_size": 10, "reduce_outliers": False}  # the first default
LEAF = {"selection": "leaf", "reduce_outliers": False}
CONFIGS: dict[str, dict] = {  # every setting spelt out from the first default (the defaults change)
    "default (eom, 10)": EOM,
    "eom, 10, min_samples 5": {**EOM, "min_samples": 5},
    "eom, 10, min_samples 2": {**EOM, "min_samples": 2},
    "eom, 20": {**EOM, "min_topic_size": 20},
    "eom, 10, cap 15%": {**EOM, "max_topic_share": 0.15},
    "eom, 10, cap 10%": {**EOM, "max_topic_share": 0.10},
    "eom, 10, min_samples 5, cap 10%": {**EOM, "min_samples": 5, "max_topic_share": 0.10},
    "leaf, 10": {**LEAF, "min_topic_size": 10},
    "leaf, 15": {**LEAF, "min_topic_size": 15},
    "leaf, 20": {**LEAF, "min_topic_size": 20},
    "leaf, 15, min_samples 5": {**LEAF, "min_topic_size": 15, "min_samples": 5},
    "eom, 10, 30 neighbours": {**EOM, "n_neighbors": 30},
    "eom, 10, 30 neighbours, cap 10%": {**EOM, "n_neighbors": 30, "max_topic_share": 0.10},
    "eom, 20, cap 15%": {**EOM, "min_topic_size": 20, "max_topic_share": 0.15},
    "eom, 10, min_samples 5, cap 15%": {**EOM, "min_samples": 5, "max_topic_share": 0.15},
    "leaf, 15, outliers reduced": {**LEAF, "min_topic_size": 15, "reduce_outliers": True},
    "leaf, 20, outliers reduced (the default)": {**LEAF, "min_topic_size": 20, "reduce_outliers": True},
    "eom, 10, min_samples 5, cap 15%, outliers reduced": {**EOM, "min_samples": 5, "max_topic_share": 0.15,
                                                          "reduce_outliers": True},
}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def best(topic: set, others: list[set]) -> float:
    return max((jaccard(topic, o) for o in others), default=0.0)


def criterion(fits: dict[int, dict], n_works: int) -> dict:
    """The criterion's figures over the fits of one setting ({seed: {"topics": [...], "outliers": n}})."""
    top10, recur10, agree = [], [], []
    for a, b in itertools.permutations(fits, 2):
        largest = sorted(fits[a]["topics"], key=lambda t: -t["size"])[:10]
        others = [set(t["members"]) for t in fits[b]["topics"]]
        scores = [best(set(t["members"]), others) for t in largest]
        top10.append(sum(scores) / max(len(scores), 1))
        recur10.append(sum(s >= RECUR for s in scores))
    for a, b in itertools.combinations(fits, 2):
        ea = [set(t["members"]) for t in fits[a]["topics"] if t["emerging"]]
        eb = [set(t["members"]) for t in fits[b]["topics"] if t["emerging"]]
        matched = sum(best(t, eb) >= RECUR for t in ea) + sum(best(t, ea) >= RECUR for t in eb)
        agree.append(matched / (len(ea) + len(eb)) if ea or eb else 0.0)
    per_seed = {s: {"topics": len(f["topics"]), "emerging": sum(t["emerging"] for t in f["topics"]),
                    "outliers": f["outliers"] / n_works,
                    "largest": max((t["size"] for t in f["topics"]), default=0) / n_works} for s, f in fits.items()}
    admissible = all(p["largest"] <= MAX_SHARE and p["outliers"] <= MAX_OUTLIERS and p["emerging"] >= 1
                     for p in per_seed.values())
    top10_j = sum(top10) / len(top10)
    agreement = sum(agree) / len(agree)
    return {"top10_jaccard": top10_j, "top10_recur": sum(recur10) / len(recur10), "emerging_agreement": agreement,
            "score": (top10_j + agreement) / 2, "admissible": admissible, "per_seed": per_seed}


def main() -> None:
    from litmine.config import load_settings
    from litmine.store import Store
    from litmine.review.topics import fit_and_describe, topic_inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1234])
    parser.add_argument("--config", nargs="+", choices=list(CONFIGS), help="only these settings")
    parser.add_argument("--out", type=Path, help="also write every fit's topics (members, emerging) here")
    args = parser.parse_args()
    store = Store(load_settings(data_dir=args.data_dir).database)
    _, _, when, works, filed, _ = topic_inputs(store)
    print(f"{len(works)} in-scope works, survey date {when}; seeds {args.seeds}; admissible: largest topic <= "
          f"{MAX_SHARE:.0%}, outliers <= {MAX_OUTLIERS:.0%}, >= 1 emerging, in every seed")
    results = {}
    for name in args.config or CONFIGS:
        start = time.perf_counter()
        fits = {}
        for seed in args.seeds:
            topics, _, outliers = fit_and_describe(works, when, filed, {**CONFIGS[name], "seed": seed})
            fits[seed] = {"topics": [{k: t[k] for k in ("topic_id", "name", "size", "emerging", "growth",
                                                        "after_survey", "members")} for t in topics],
                          "outliers": outliers}
        c = criterion(fits, len(works))
        results[name] = {"options": CONFIGS[name], "criterion": c, "fits": fits}
        seeds = "; ".join(f"{s}: {p['topics']} t, {p['emerging']} em, out {p['outliers']:.0%}, max {p['largest']:.0%}"
                          for s, p in c["per_seed"].items())
        print(f"{name:34} {'yes' if c['admissible'] else 'no ':3} score {c['score']:.3f}  top10 J {c['top10_jaccard']:.3f} "
              f"(recur {c['top10_recur']:.1f}/10)  emerging agree {c['emerging_agreement']:.2f}  [{seeds}] "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    ok = {n: r for n, r in results.items() if r["criterion"]["admissible"]}
    if ok:
        chosen = max(ok, key=lambda n: ok[n]["criterion"]["score"])
        print(f"chosen: {chosen} (score {ok[chosen]['criterion']['score']:.3f})")
    else:
        print("no setting is admissible")
    if args.out:
        args.out.write_text(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
