"""Supervised: one logistic regression per label on the works' vectors (and, with
``features="embedding+tfidf"``, TF-IDF of their text), trained on survey labels (``verified``,
``silver-agree``) and human labels, with probabilities calibrated by Platt scaling in
cross-validation (``CalibratedClassifierCV``, sigmoid).

A label needs ``min_examples`` positives and negatives to be calibrated by cross-validation; with
fewer (but at least one of each) it gets an uncalibrated logistic regression; with no positive or no
negative it is not scored at all, and ``params()["untrained"]`` names it. Themes have few labels
(the seed's examples and human decisions), so most themes are untrained until reviewers label them.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from litmine.classify.base import Classifier, Example, Prediction, Taxonomy, WorkItem

log = logging.getLogger(__name__)


class SupervisedClassifier(Classifier):
    name = "supervised"
    version = "1"
    trainable = True
    defaults = {"C": 4.0, "features": "embedding", "min_examples": 3, "seed": 0}

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **{**self.defaults, **params})
        if self.param_values["features"] not in ("embedding", "embedding+tfidf"):
            from litmine.errors import ConfigError

            raise ConfigError(f"supervised features must be embedding or embedding+tfidf, got {self.param_values['features']!r}")
        self._models: dict[str, dict[str, object]] = {}
        self._untrained: list[str] = []
        self._tfidf = None

    def params(self) -> dict:
        return {**super().params(), "untrained": self._untrained}

    def _features(self, items: list[WorkItem], fit: bool = False):
        x = np.stack([item.vector for item in items]).astype(np.float64)
        if self.param_values["features"] == "embedding":
            return x
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        if fit:
            self._tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), stop_words="english")
            t = self._tfidf.fit_transform([item.text for item in items])
        else:
            t = self._tfidf.transform([item.text for item in items])
        return hstack([csr_matrix(x), t]).tocsr()

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        super().fit(taxonomy, examples)
        self._models, self._untrained = {}, []
        if not examples:
            self._untrained = [f"{s}:{i}" for s in ("subsection", "theme") for i in taxonomy.ids(s)]
            return
        features = self._features([ex.item for ex in examples], fit=True)
        c, k, seed = float(self.param_values["C"]), int(self.param_values["min_examples"]), int(self.param_values["seed"])
        for label_set in ("subsection", "theme"):
            self._models[label_set] = {}
            for label_id in taxonomy.ids(label_set):
                known = [(i, ex.label(label_set, label_id)) for i, ex in enumerate(examples)]
                known = [(i, y) for i, y in known if y is not None]
                y = np.array([int(v) for _, v in known])
                pos, neg = int(y.sum()), int(len(y) - y.sum())
                if pos == 0 or neg == 0:
                    self._untrained.append(f"{label_set}:{label_id}")
                    continue
                rows = features[[i for i, _ in known]]
                base = LogisticRegression(C=c, max_iter=2000)
                if pos >= k and neg >= k:
                    model = CalibratedClassifierCV(base, method="sigmoid",
                                                   cv=StratifiedKFold(k, shuffle=True, random_state=seed))
                else:
                    model = base
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(rows, y)
                self._models[label_set][label_id] = model

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        features = self._features(items)
        out = [Prediction(item.work_id, {}) for item in items]
        for label_set, models in self._models.items():
            for label_id, model in models.items():
                proba = model.predict_proba(features)[:, 1]
                for pred, p in zip(out, proba):
                    pred.scores.setdefault(label_set, {})[label_id] = float(p)
        return out
