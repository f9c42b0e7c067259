"""The bare library: the one definition of ``bare``, the reference every litmine method must beat.

``bare_model()`` is scikit-learn's ``LogisticRegression(class_weight="balanced")`` on the stored
vectors as they are, nothing added. ``Bare`` fits it multinomial over each work's primary placement
label and binary per theme (role placement), or on the in/out scope examples (role scope). `litmine
evaluate` prints it as its ``bare`` rows, and the ensemble takes it as a candidate member in both
roles (``litmine.classify.ensemble.member``), so its out-of-fold weight search can always fall back
to it. It is not registered: ``bare`` is the reference, not a method to run.
"""

from __future__ import annotations

import warnings

import numpy as np

from litmine.classify.base import Example, Prediction, Taxonomy, WorkItem
from litmine.classify.method import PerRole
from litmine.classify.scope import PlacementAndScope, ScopeContext, ScopeExample, ScopeScore
from litmine.errors import ClassifierError

BARE = "bare"


def bare_model():
    """The bare library's model, unfitted."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight="balanced", max_iter=2000)


class Bare(PlacementAndScope):
    """``bare_model()`` on the stored vectors. Placement: multinomial over each work's primary
    placement label, binary per theme (a theme without both a known positive and a known negative is
    not scored). Scope: on the vectors of the in/out scope examples, threshold 0.5 (its balanced
    probabilities are not recalibrated)."""

    name = BARE
    version = PerRole(placement="1", scope="1")
    needs_vectors = PerRole(placement=True, scope=True)
    trainable = True

    def _fit_placement(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.fit_role(taxonomy, examples)
        self._sub, self._themes = None, {}
        x = np.stack([ex.item.vector for ex in examples]) if examples else None
        placement, themes = taxonomy.placement, taxonomy.themes
        rows = [(i, ex.primary_label(placement)) for i, ex in enumerate(examples)]
        rows = [(i, y) for i, y in rows if y is not None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len({y for _, y in rows}) >= 2:
                self._sub = bare_model().fit(x[[i for i, _ in rows]], [y for _, y in rows])
            for label_id in taxonomy.ids(themes) if themes else ():
                known = [(i, v) for i, v in ((i, ex.label(themes, label_id)) for i, ex in enumerate(examples))
                         if v is not None]
                if len({v for _, v in known}) == 2:
                    self._themes[label_id] = bare_model().fit(x[[i for i, _ in known]], [int(v) for _, v in known])

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        out = [Prediction(item.work_id, {}) for item in items]
        if not items or (self._sub is None and not self._themes):
            return out
        x = np.stack([item.vector for item in items])
        placement, themes = self.taxonomy.placement, self.taxonomy.themes
        if self._sub is not None:
            ids = self.taxonomy.ids(placement)
            column = {label: j for j, label in enumerate(self._sub.classes_)}
            for pred, row in zip(out, self._sub.predict_proba(x)):
                pred.scores[placement] = {label: float(row[column[label]]) if label in column else 0.0
                                          for label in ids}
        for label_id, model in self._themes.items():
            for pred, p in zip(out, model.predict_proba(x)[:, 1]):
                pred.scores.setdefault(themes, {})[label_id] = float(p)
        return out

    def _fit_scope(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        self.fit_role(context, examples)
        y = [ex.inside for ex in examples]
        if len(set(y)) < 2:
            raise ClassifierError("the bare scope model needs in-scope and out-of-scope examples with vectors: "
                                  "load the survey (`litmine survey load`) and run `litmine embed`")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.lr = bare_model().fit(np.vstack([ex.item.vector for ex in examples]), y)

    def score(self, items: list[WorkItem]) -> list[ScopeScore]:
        out = [ScopeScore(None, error=ClassifierError("no vector: run `litmine embed`", work_id=i.work_id))
               for i in items]
        have = [n for n, i in enumerate(items) if i.vector is not None]
        if have:
            p = self.lr.predict_proba(np.vstack([items[n].vector for n in have]))[:, 1]
            for n, x in zip(have, p):
                out[n] = ScopeScore(float(x))
        return out
