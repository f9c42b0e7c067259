"""Does "what the taxonomy lacks" find the sparse-autoencoder and steering papers of screening.csv?

    python scripts/taxonomy_gaps.py [--embedder all-MiniLM-L6-v2] [--quantile 0.1] [--distance 0.5]

Placed works: the survey's works with an abstract and a subsection (abstracts.jsonl, bibliography.csv).
Candidates: the screening papers both annotators called in scope or borderline (title and abstract from
the listings parquet). A paper counts as SAE when its title or abstract says "sparse autoencoder"/"SAE",
as steering when it says "steer". Read in place from ../shared, never copied.
"""

from __future__ import annotations

import argparse
import csv
import re

from litmine.embed import DEFAULT_MODEL, get_embedder
from litmine.review.gaps import find_gaps
from learning_curve import LISTINGS, SURVEY, subsection_examples  # noqa: F401  (same folder)

SAE = re.compile(r"sparse auto-?encoder|\bSAEs?\b", re.I)
STEER = re.compile(r"steer", re.I)


def report_far_kinds(report, candidates, placed, placed_labels, kind) -> dict[str, int]:
    """How many far works of each kind (SAE, steering, other), clustered or not."""
    import numpy as np

    from litmine.review.gaps import _unit

    labels = sorted(set(placed_labels.values()))
    P = _unit(np.asarray([placed[w][1] for w in placed_labels]))
    y = np.asarray(list(placed_labels.values()))
    centroids = _unit(np.stack([P[y == label].mean(axis=0) for label in labels]))
    out = {"SAE": 0, "steering": 0, "other": 0}
    for w, (_, v) in candidates.items():
        if float((centroids @ _unit(np.asarray([v]))[0]).max()) < report.threshold:
            out[kind[w]] += 1
    return out


def main() -> None:
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default=DEFAULT_MODEL)
    parser.add_argument("--quantile", type=float, default=0.1)
    parser.add_argument("--distance", type=float, default=0.6)
    parser.add_argument("--min-size", type=int, default=3)
    args = parser.parse_args()
    embedder = get_embedder(args.embedder)

    texts, labels = subsection_examples()
    placed_vectors = list(embedder.embed(texts))
    placed = {i: (t, v) for i, (t, v) in enumerate(zip(texts, placed_vectors))}
    placed_labels = dict(enumerate(labels))

    rows = [r for r in csv.DictReader(open(SURVEY / "screening.csv", encoding="utf-8"))
            if r["scope"] in ("in", "borderline")]
    listing = {r["arxiv_id"]: r for r in pq.read_table(LISTINGS, columns=["arxiv_id", "title", "abstract"]).to_pylist()}
    rows = [r for r in rows if r["arxiv_id"] in listing]
    ctexts = [f"{listing[r['arxiv_id']]['title']}. {listing[r['arxiv_id']]['abstract']}" for r in rows]
    cvectors = list(embedder.embed(ctexts))
    base = 10_000
    candidates = {base + i: (t, v) for i, (t, v) in enumerate(zip(ctexts, cvectors))}
    kind = {base + i: ("SAE" if SAE.search(t) else "steering" if STEER.search(t) else "other")
            for i, t in enumerate(ctexts)}

    report = find_gaps(candidates, placed, placed_labels, quantile=args.quantile, min_size=args.min_size,
                       cluster_distance=args.distance)
    total = {k: sum(1 for v in kind.values() if v == k) for k in ("SAE", "steering", "other")}
    print(f"candidates: {report.candidates} in-scope or borderline screening papers "
          f"({total['SAE']} SAE, {total['steering']} steering, {total['other']} other)")
    far = {k: 0 for k in total}
    print(f"far from every subsection (similarity < {report.threshold:.3f}): {report.far} "
          f"({', '.join(f'{k} {n}' for k, n in report_far_kinds(report, candidates, placed, placed_labels, kind).items())})")
    for n, gap in enumerate(report.gaps, 1):
        kinds = [kind[w] for w in gap.work_ids]
        print(f"cluster {n}: {gap}; SAE {kinds.count('SAE')}, steering {kinds.count('steering')}, "
              f"other {kinds.count('other')}")
        for w in gap.work_ids[:3]:
            print(f"    {kind[w]:8} {candidates[w][0].split('. ')[0][:90]}")
        for k in kinds:
            far[k] += 1
    for k in ("SAE", "steering"):
        print(f"{k} papers in a reported cluster: {far[k]} of {total[k]}")


if __name__ == "__main__":
    main()
