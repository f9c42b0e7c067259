"""What the taxonomy lacks: groups of new in-scope works that sit far from every subsection.

A 2022 taxonomy has no place for method families born later (sparse autoencoders, steering
vectors). ``find_gaps`` compares each new work's embedding with the subsections' centroids (the
works the survey or a reviewer placed there). A work is *far* when its best similarity to any
centroid is below what all but ``quantile`` of the placed works reach with their own subsection's
centroid. Far works are clustered (average linkage on cosine distance); each cluster of at least
``min_size`` works is reported with its size, its most central papers, its most distinctive terms
(TF-IDF in the cluster against the placed works' texts) and the nearest existing subsection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litmine.store import Store
from litmine.store import review as db

log = logging.getLogger(__name__)


@dataclass
class Gap:
    """A cluster of new works the taxonomy has no place for."""

    size: int
    work_ids: list[int]  # most central first
    terms: list[str]
    nearest_label: str
    nearest_similarity: float
    papers: list[dict] = field(default_factory=list)  # filled by the caller: title, arxiv_id

    def __str__(self) -> str:
        return (f"{self.size} works, terms: {', '.join(self.terms)}; nearest subsection {self.nearest_label} "
                f"({self.nearest_similarity:.2f})")


@dataclass
class GapReport:
    gaps: list[Gap]
    candidates: int  # works looked at
    far: int  # of them, far from every subsection
    threshold: float  # similarity below which a work is far
    far_ids: list[int] = field(default_factory=list)  # the far works, clustered or not


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


def find_gaps(candidates: dict[int, tuple[str, list[float]]], placed: dict[int, tuple[str, list[float]]],
              placed_labels: dict[int, str], quantile: float = 0.1, min_size: int = 3,
              cluster_distance: float = 0.5, n_terms: int = 6) -> GapReport:
    """Clusters of ``candidates`` (work_id -> (text, vector)) far from every subsection's centroid,
    the centroids made from ``placed`` works and their labels (``placed_labels``: work_id -> label)."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    placed_ids = [w for w in placed if w in placed_labels]
    labels = sorted({placed_labels[w] for w in placed_ids})
    if not candidates or len(labels) < 2:
        return GapReport([], len(candidates), 0, float("nan"))
    P = _unit(np.asarray([placed[w][1] for w in placed_ids], dtype=np.float64))
    y = np.asarray([placed_labels[w] for w in placed_ids])
    centroids = _unit(np.stack([P[y == label].mean(axis=0) for label in labels]))
    own = np.einsum("ij,ij->i", P, centroids[[labels.index(label) for label in y]])
    threshold = float(np.quantile(own, quantile))

    cand_ids = sorted(candidates)
    C = _unit(np.asarray([candidates[w][1] for w in cand_ids], dtype=np.float64))
    best = (C @ centroids.T).max(axis=1)
    far = [i for i in range(len(cand_ids)) if best[i] < threshold]
    report = GapReport([], len(cand_ids), len(far), threshold, [cand_ids[i] for i in far])
    if len(far) < min_size:
        return report
    F = C[far]
    clusters = AgglomerativeClustering(n_clusters=None, distance_threshold=cluster_distance, metric="cosine",
                                       linkage="average").fit_predict(F)

    texts = [candidates[cand_ids[i]][0] for i in far]
    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b")
    tfidf = vectorizer.fit_transform(texts + [placed[w][0] for w in placed_ids])
    vocab = np.asarray(vectorizer.get_feature_names_out())
    background = np.asarray(tfidf[len(texts):].mean(axis=0)).ravel()

    for cluster in sorted(set(clusters)):
        members = np.flatnonzero(clusters == cluster)
        if len(members) < min_size:
            continue
        centre = _unit(F[members].mean(axis=0, keepdims=True))[0]
        order = members[np.argsort(-(F[members] @ centre))]
        weight = np.asarray(tfidf[members].mean(axis=0)).ravel() - background
        top = [vocab[j] for j in np.argsort(-weight)[:n_terms] if weight[j] > 0]
        sims = centroids @ centre
        report.gaps.append(Gap(len(members), [cand_ids[far[i]] for i in order], top,
                               labels[int(np.argmax(sims))], float(sims.max())))
    report.gaps.sort(key=lambda g: (-g.size, g.work_ids[0]))
    return report


def gaps_in(store: Store, work_ids: list[int], **options) -> GapReport:
    """``find_gaps`` for these works (the digest's in-scope new works) against every work the survey
    or a reviewer placed (a label of the survey's placement set), by the model that embedded most works."""
    from litmine.survey.load import label_roles

    with store.connect(read_only=True) as con:
        model_id = db.main_embedding_model(con)
        placement = label_roles(con).get("placement")
        if model_id is None or not work_ids or placement is None:
            return GapReport([], len(work_ids), 0, float("nan"))
        placed_labels: dict[int, str] = {}
        for work_id, label_id, assigned, _ in db.labelled_vectors(con, placement, ("survey", "human"), None,
                                                                 model_id):
            if assigned and work_id not in work_ids:
                placed_labels.setdefault(work_id, label_id)
        placed = db.work_vectors(con, sorted(placed_labels), model_id)
        candidates = db.work_vectors(con, sorted(work_ids), model_id)
        report = find_gaps(candidates, placed, placed_labels, **options)
        for gap in report.gaps:
            titles = {w["work_id"]: w for w in (db.work_summary(con, w) for w in gap.work_ids)}
            gap.papers = [titles[w] for w in gap.work_ids]
    return report


def recent_gaps(settings, weeks: int = 8, **options) -> GapReport:
    """``gaps_in`` for the works stored in the last ``weeks`` weeks that are not out of scope (their
    most trusted scope label says in, or nothing has judged them yet)."""
    from datetime import timedelta

    from litmine.store import utcnow

    store = Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds)
    with store.connect(read_only=True) as con:
        ids = [w["work_id"] for w in db.new_works(con, utcnow() - timedelta(weeks=weeks))]
        judged = db.scope_judged(con, ids)
        in_scope = db.best_labels(con, "scope", ids)
    keep = [w for w in ids if w not in judged or any(label == "in" for label, _, _ in in_scope.get(w, []))]
    return gaps_in(store, keep, **options)
