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
"""

from __future__ import annotations

import numpy as np

from litmine.classify.base import (
    Classifier,
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


class ZeroShotClassifier(Classifier):
    name = "zeroshot"
    version = "3"
    trainable = True  # no model is learnt: the training works set the centering and the theme thresholds
    defaults = {"temperature": 0.03, "theme_center": 0.3, "theme_scale": 0.05, "center": True,
                "theme_share": 0.1, "placement_share": 0.1}

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **{**self.defaults, **params})
        self._label_vectors: dict[str, tuple[list[str], np.ndarray]] = {}
        self._offsets: np.ndarray | None = None

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        super().fit(taxonomy, examples)
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


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
