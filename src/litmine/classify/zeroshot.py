"""Zero-shot: cosine similarity between a work's vector and each label's description.

Subsections: a softmax over the 21 similarities (temperature ``temperature``), so scores sum to 1
and the best subsection is always assigned. With ``center`` on, each label's mean similarity over
the training works is subtracted first, so a label whose description resembles every abstract (a hub)
does not win them all. Themes: each independently, a logistic of the similarity around
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
    share_thresholds,
    sigmoid,
    softmax,
)


class ZeroShotClassifier(Classifier):
    name = "zeroshot"
    version = "2"
    trainable = True  # no model is learnt: the training works set the centering and the theme thresholds
    defaults = {"temperature": 0.03, "theme_center": 0.3, "theme_scale": 0.05, "center": True,
                "theme_share": 0.1}

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **{**self.defaults, **params})
        self._label_vectors: dict[str, tuple[list[str], np.ndarray]] = {}
        self._offsets: np.ndarray | None = None

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        super().fit(taxonomy, examples)
        self.thresholds, self._offsets = {}, None
        for label_set in ("subsection", "theme"):
            ids = taxonomy.ids(label_set)
            texts = [taxonomy.describe(label_set, label_id) for label_id in ids]
            self._label_vectors[label_set] = (ids, np.asarray(list(self.env.embedder.embed(texts)), dtype=np.float32))
        vectors = [ex.item.vector for ex in examples if ex.item.vector is not None]
        if not vectors:
            return
        x = _unit(np.stack(vectors))
        if self.param_values["center"]:
            sims = x @ self._label_vectors["subsection"][1].T
            self._offsets = sims.mean(axis=0) - sims.mean()
        tids, _ = self._label_vectors["theme"]
        shares = labelled_shares(examples, "theme", tids, default=float(self.param_values["theme_share"]))
        theme = self._theme_scores(x)
        self.thresholds["theme"] = dict(zip(tids, share_thresholds(theme, [shares[t] for t in tids])))

    def _theme_scores(self, x: np.ndarray) -> np.ndarray:
        p = self.param_values
        _, tvecs = self._label_vectors["theme"]
        return sigmoid((x @ tvecs.T - float(p["theme_center"])) / float(p["theme_scale"]))

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        x = _unit(np.stack([item.vector for item in items]))
        ids, vecs = self._label_vectors["subsection"]
        sims = x @ vecs.T
        if self._offsets is not None:
            sims = sims - self._offsets
        sub = softmax(sims, float(self.param_values["temperature"]))
        tids, _ = self._label_vectors["theme"]
        theme = self._theme_scores(x)
        return [
            Prediction(item.work_id, {"subsection": dict(zip(ids, map(float, sub[i]))),
                                      "theme": dict(zip(tids, map(float, theme[i])))})
            for i, item in enumerate(items)
        ]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
