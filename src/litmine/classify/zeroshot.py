"""Zero-shot: cosine similarity between a work's vector and each label's description.

Subsections: a softmax over the 21 similarities (temperature ``temperature``), so scores sum to 1
and the best subsection is always assigned. Themes: each independently, a logistic of the
similarity around ``theme_center`` (scale ``theme_scale``): a work may carry none.
"""

from __future__ import annotations

import numpy as np

from litmine.classify.base import Classifier, Prediction, Taxonomy, WorkItem, sigmoid, softmax


class ZeroShotClassifier(Classifier):
    name = "zeroshot"
    version = "1"
    defaults = {"temperature": 0.03, "theme_center": 0.3, "theme_scale": 0.05}

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **{**self.defaults, **params})
        self._label_vectors: dict[str, tuple[list[str], np.ndarray]] = {}

    def fit(self, taxonomy: Taxonomy, examples) -> None:
        super().fit(taxonomy, examples)
        for label_set in ("subsection", "theme"):
            ids = taxonomy.ids(label_set)
            texts = [taxonomy.describe(label_set, label_id) for label_id in ids]
            self._label_vectors[label_set] = (ids, np.asarray(list(self.env.embedder.embed(texts)), dtype=np.float32))

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        x = np.stack([item.vector for item in items])
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        p = self.param_values
        ids, vecs = self._label_vectors["subsection"]
        sub = softmax(x @ vecs.T, float(p["temperature"]))
        tids, tvecs = self._label_vectors["theme"]
        theme = sigmoid((x @ tvecs.T - float(p["theme_center"])) / float(p["theme_scale"]))
        return [
            Prediction(item.work_id, {"subsection": dict(zip(ids, map(float, sub[i]))),
                                      "theme": dict(zip(tids, map(float, theme[i])))})
            for i, item in enumerate(items)
        ]
