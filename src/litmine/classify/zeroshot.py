"""Zero-shot: cosine similarity between a work's vector and each label's description.

The placement set (the survey seed's ``placement``): a softmax over the similarities (temperature
``temperature``), so scores sum to 1 and the best label is always assigned. With ``center`` on, each
label's mean similarity over the training works is subtracted first, so a label whose description
resembles every abstract (a hub) does not win them all. Where the placement is multi-label, a label
other than the best is assigned above its own threshold on that softmax, set on the training works so
that about its labelled share of works carries it (``placement_share`` where none is labelled), up
to the most labels a training work carries: a work gets as many labels as its scores earn, not
always one. Themes (where the survey has a themes
set): each independently, a logistic of the similarity around
``theme_center`` (scale ``theme_scale``); a theme is assigned above its own threshold, set on the
training works (their vectors only, and each theme's labelled share where theme labels exist, else
``theme_share``) so that about that share of works carries it. Without training works every theme
uses the base threshold.

The scope (role ``scope``): nearness to the in-scope works (mean cosine of the ``k`` nearest, never
itself) plus ``description_weight`` times the best cosine to the scope statement and the in-scope
labels' descriptions, calibrated (Platt) on the judged candidates where there are some.
"""

from __future__ import annotations

import numpy as np

from litmine.classify.base import (
    Example,
    Prediction,
    Taxonomy,
    WorkItem,
    labelled_shares,
    most_labels,
    share_thresholds,
    sigmoid,
    softmax,
)
from litmine.classify.method import PerRole
from litmine.classify.scope import (
    PlacementAndScope,
    Platt,
    ScopeContext,
    ScopeExample,
    ScopeScore,
    _calibration_set,
    best_f1_threshold,
)
from litmine.errors import ClassifierError


class ZeroShot(PlacementAndScope):
    """Nearness of vectors, no model learnt: to the labels' descriptions (placement), to the in-scope
    works and the scope's descriptions (scope). See the module."""

    name = "zeroshot"
    version = PerRole(placement="3", scope="1")
    needs_vectors = PerRole(placement=True, scope=True)
    trainable = True  # no model is learnt: the training works set the centering and the theme thresholds
    defaults = PerRole(placement={"temperature": 0.03, "theme_center": 0.3, "theme_scale": 0.05, "center": True,
                                  "theme_share": 0.1, "placement_share": 0.1},
                       scope={"k": 5, "description_weight": 0.5})

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **params)
        self._label_vectors: dict[str, tuple[list[str], np.ndarray]] = {}
        self._offsets: np.ndarray | None = None

    # -- placement -----------------------------------------------------------------------------------

    def _fit_placement(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.fit_role(taxonomy, examples)
        self.thresholds, self._offsets, self._label_vectors, self.placement_max = {}, None, {}, None
        for label_set in taxonomy.target_sets:
            ids = taxonomy.ids(label_set)
            texts = [taxonomy.describe(label_set, label_id) for label_id in ids]
            self._label_vectors[label_set] = (ids, np.asarray(list(self.env.embedder.embed(texts)), dtype=np.float32))
        vectors = [ex.item.vector for ex in examples if ex.item.vector is not None]
        if not vectors:
            return
        x = _unit(np.stack(vectors))
        placement = taxonomy.placement
        if self.param_values["center"]:
            sims = x @ self._label_vectors[placement][1].T
            self._offsets = sims.mean(axis=0) - sims.mean()
        if taxonomy.placement_multi_label:
            ids, _ = self._label_vectors[placement]
            shares = labelled_shares(examples, placement, ids, default=float(self.param_values["placement_share"]))
            self.thresholds[placement] = dict(zip(ids, share_thresholds(self._placement_scores(x),
                                                                        [shares[i] for i in ids])))
            self.placement_max = most_labels(examples, placement)
        themes = taxonomy.themes
        if themes:
            tids, _ = self._label_vectors[themes]
            shares = labelled_shares(examples, themes, tids, default=float(self.param_values["theme_share"]))
            self.thresholds[themes] = dict(zip(tids, share_thresholds(self._theme_scores(x),
                                                                      [shares[t] for t in tids])))

    def _placement_scores(self, x: np.ndarray) -> np.ndarray:
        sims = x @ self._label_vectors[self.taxonomy.placement][1].T
        if self._offsets is not None:
            sims = sims - self._offsets
        return softmax(sims, float(self.param_values["temperature"]))

    def _theme_scores(self, x: np.ndarray) -> np.ndarray:
        p = self.param_values
        _, tvecs = self._label_vectors[self.taxonomy.themes]
        return sigmoid((x @ tvecs.T - float(p["theme_center"])) / float(p["theme_scale"]))

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        x = _unit(np.stack([item.vector for item in items]))
        placement, themes = self.taxonomy.placement, self.taxonomy.themes
        ids, _ = self._label_vectors[placement]
        scores = self._placement_scores(x)
        out = [Prediction(item.work_id, {placement: dict(zip(ids, map(float, scores[i])))})
               for i, item in enumerate(items)]
        if themes:
            tids, _ = self._label_vectors[themes]
            for pred, row in zip(out, self._theme_scores(x)):
                pred.scores[themes] = dict(zip(tids, map(float, row)))
        return out

    # -- scope ---------------------------------------------------------------------------------------

    def _fit_scope(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        self.fit_role(context, examples)
        inside = [ex for ex in examples if ex.inside and ex.item.vector is not None]
        if not inside:
            raise ClassifierError("the zero-shot scope method needs in-scope works with vectors: run `litmine embed`")
        self.ids = np.array([ex.item.work_id for ex in inside])
        self.pos = np.vstack([ex.item.vector for ex in inside])
        texts = [context.statement, *context.label_texts]
        self.desc = np.array(list(self.env.embedder.embed(texts)), dtype=np.float32)
        labelled = [ex for ex in examples if ex.item.vector is not None]
        raw = self.raw([ex.item for ex in labelled])
        y = np.array([ex.inside for ex in labelled])
        cal = _calibration_set(labelled)
        if cal.all() and len(labelled) > len(inside):  # no judged candidates: survey works only
            cal = np.ones(len(labelled), dtype=bool)
        self.platt = Platt.fit(raw[cal], y[cal]) if y[cal].any() and (~y[cal]).any() else Platt(20.0, -20.0 * 0.5)
        self.threshold = best_f1_threshold(self.platt(raw[cal]), y[cal]) if y[cal].any() and (~y[cal]).any() else 0.5

    def raw(self, items: list[WorkItem], chunk: int = 4096) -> np.ndarray:
        """Per item: the mean cosine of its ``k`` nearest in-scope works (never itself) plus
        ``description_weight`` times its best cosine to the descriptions; matrix products a chunk
        of items at a time (an item without a vector scores 0: ``score`` reports it)."""
        k, weight = int(self.param_values["k"]), float(self.param_values["description_weight"])
        out = np.zeros(len(items))
        rows = [n for n, item in enumerate(items) if item.vector is not None]
        for start in range(0, len(rows), chunk):
            picked = rows[start:start + chunk]
            x = np.stack([items[n].vector for n in picked])
            sims = np.matmul(self.pos, x[:, :, None])[..., 0]  # one matrix-vector product per item, as before
            sims[~np.isfinite(sims)] = -np.inf
            sims[np.array([items[n].work_id for n in picked])[:, None] == self.ids[None, :]] = -np.inf  # not itself
            near = np.sort(np.partition(sims, -k, axis=1)[:, -k:], axis=1) if sims.shape[1] >= k else np.sort(sims, axis=1)
            full = np.isfinite(near).all(axis=1)
            means = np.zeros(len(picked), dtype=sims.dtype)
            means[full] = near[full].mean(axis=1)
            for j in np.flatnonzero(~full):  # fewer than k other in-scope works
                finite = near[j][np.isfinite(near[j])]
                means[j] = finite.mean() if finite.size else 0.0
            best = np.matmul(self.desc, x[:, :, None])[..., 0].max(axis=1)
            described = (weight * best.astype(np.float64)).astype(sims.dtype)
            out[picked] = means + described  # in the vectors' precision, as one item's sum was
        return out

    def score(self, items: list[WorkItem]) -> list[ScopeScore]:
        out = []
        for item, p in zip(items, self.platt(self.raw(items)) if items else []):
            out.append(ScopeScore(float(p)) if item.vector is not None else
                       ScopeScore(None, error=ClassifierError("no vector: run `litmine embed`", work_id=item.work_id)))
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
