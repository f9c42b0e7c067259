"""Supervised: models trained on the survey's labels (``verified``, ``silver-agree``), its theme
labels and human labels, on each work's vector beside TF-IDF of its text.

The placement set (the survey seed's ``placement``): one multinomial logistic regression over the
primary label of each work (the survey's first-cited one), with classes balanced
(``class_weight="balanced"``), so rare labels are predicted too; the judged in-scope candidates (the
seed's screening rows, reviewers' placements: ``load_placement_examples``) train beside the survey's
works, each survey work weighted by one of ``survey_weights`` (a judged one 1), the one whose model
places the judged candidates of ``inner_folds`` inner folds best (top-1), so the choice is made on the
training data only (``params()["chosen"]``); each label's name and description is
one more training row of its class, so a label with few or no labelled works still has an example.
Scores are the model's probabilities (they sum to 1 over the set); they are not recalibrated: Platt
scaling per label pulled each label back toward its base rate and undid the balancing (measured:
lower macro-F1).

Themes (where the survey has a themes set): one balanced logistic regression per theme, on the works whose theme is known (a positive, or
a negative such as a theme neither annotator chose). A theme is assigned above its own threshold, set
on out-of-fold scores of the training works so that the share of works carrying it is close to its
labelled share. A theme with no known positive or no known negative is not scored, and
``params()["untrained"]`` names it.

The scope (role ``scope``): logistic regression on TF-IDF word and bigram features of title and
abstract, classes balanced, calibrated (Platt) on out-of-fold scores, its threshold at the best
out-of-fold F1.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from litmine.classify.base import (
    Example,
    is_judged,
    Prediction,
    Taxonomy,
    WorkItem,
    labelled_shares,
    share_thresholds,
)
from litmine.classify.method import PLACEMENT, PerRole
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

log = logging.getLogger(__name__)

FEATURES = ("embedding", "embedding+tfidf")


def _floats(value) -> list[float]:
    return [float(v) for v in str(value).split(",") if v.strip()]


class Supervised(PlacementAndScope):
    """Models learnt from the labelled works: on vectors and TF-IDF (placement), on TF-IDF
    (scope). See the module."""

    name = "supervised"
    version = PerRole(placement="3", scope="1")
    needs_vectors = PerRole(placement=True, scope=False)
    trainable = True
    defaults = PerRole(placement={"C": 4.0, "theme_C": 1.0, "features": "embedding+tfidf", "descriptions": True,
                                  "min_examples": 3, "seed": 0, "survey_weights": "1.0,0.3", "inner_folds": 3},
                       scope={"C": 3.0, "ngram_max": 2, "min_df": 2, "folds": 5, "seed": 0})

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **params)
        if self.role == PLACEMENT and self.param_values["features"] not in FEATURES:
            from litmine.errors import ConfigError

            raise ConfigError(f"supervised features must be {' or '.join(FEATURES)}, "
                              f"got {self.param_values['features']!r}")
        self._placement = None
        self._themes: dict[str, object] = {}
        self._untrained: list[str] = []
        self._tfidf = None
        self.chosen: dict | None = None  # placement: the survey weight chosen in ``fit`` (None: nothing to choose)

    def params(self) -> dict:
        if self.role != PLACEMENT:
            return super().params()
        return {**super().params(), "untrained": self._untrained, **({"chosen": self.chosen} if self.chosen else {})}

    def chosen_params(self) -> dict:
        """The parameters that fix what ``fit`` chose (an ensemble's out-of-fold copies reuse them)."""
        return {"survey_weights": str(self.chosen["survey_weight"])} if self.chosen else {}

    # -- features ---------------------------------------------------------------------------------

    def _features(self, vectors: np.ndarray, texts: list[str], fit: bool = False):
        x = vectors.astype(np.float64)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        if self.param_values["features"] == "embedding":
            return x
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        if fit:
            self._tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), stop_words="english")
            t = self._tfidf.fit_transform(texts)
        else:
            t = self._tfidf.transform(texts)
        return hstack([csr_matrix(x), t]).tocsr()

    def _label_rows(self, taxonomy: Taxonomy, label_set: str) -> tuple[list[str], np.ndarray, list[str]]:
        """Each label's name and description as a training row: (ids, vectors, texts)."""
        ids = taxonomy.ids(label_set)
        texts = [taxonomy.describe(label_set, label_id) for label_id in ids]
        return ids, np.asarray(list(self.env.embedder.embed(texts)), dtype=np.float32), texts

    # -- fitting ----------------------------------------------------------------------------------

    def _fit_placement(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.fit_role(taxonomy, examples)
        self._placement, self._themes, self._untrained, self.thresholds = None, {}, [], {}
        placement, themes = taxonomy.placement, taxonomy.themes
        use_descriptions = bool(self.param_values["descriptions"])
        rows: list[tuple[np.ndarray, str]] = [(ex.item.vector, ex.item.text) for ex in examples]
        described: dict[str, tuple[list[str], int]] = {}
        for label_set in taxonomy.target_sets:
            if use_descriptions and examples:
                ids, vectors, texts = self._label_rows(taxonomy, label_set)
                described[label_set] = (ids, len(rows))
                rows += list(zip(vectors, texts))
        if not examples:
            self._untrained = [f"{s}:{i}" for s in taxonomy.target_sets for i in taxonomy.ids(s)]
            return
        features = self._features(np.stack([v for v, _ in rows]), [t for _, t in rows], fit=True)

        # the placement: one multinomial model over each work's primary label, the survey's works weighted
        # against the judged candidates by a weight chosen on inner folds of the judged ones
        picked = [(i, ex.primary_label(placement)) for i, ex in enumerate(examples)]
        picked = [(i, y) for i, y in picked if y is not None]
        judged = np.array([i < len(examples) and is_judged(examples[i]) for i, _ in picked], dtype=bool)
        if placement in described:
            ids, start = described[placement]
            picked += [(start + j, label_id) for j, label_id in enumerate(ids)]
            judged = np.append(judged, np.zeros(len(ids), dtype=bool))
        classes = sorted({y for _, y in picked})
        self.chosen = None
        if len(classes) >= 2:
            rows_, labels = np.array([i for i, _ in picked]), np.array([y for _, y in picked])
            weight = self._survey_weight(features, rows_, labels, judged)
            w = np.where(judged, 1.0, weight)
            self._placement = self._placement_model(features[rows_], labels, w)
        self._untrained += [f"{placement}:{i}" for i in taxonomy.ids(placement) if i not in classes]
        if not themes:
            return

        # themes: one balanced binary model per theme, thresholded at its labelled share
        theme_ids = taxonomy.ids(themes)
        shares = labelled_shares(examples, themes, theme_ids)
        for j, label_id in enumerate(theme_ids):
            known = [(i, v) for i, v in ((i, ex.label(themes, label_id)) for i, ex in enumerate(examples))
                     if v is not None]
            y = np.array([int(v) for _, v in known])
            if y.sum() == 0 or y.sum() == len(y):
                self._untrained.append(f"{themes}:{label_id}")
                continue
            index = [i for i, _ in known]
            extra = [described[themes][1] + j] if themes in described else []  # the description: one more positive
            self._themes[label_id] = self._themes_fit(features, index, y, extra)
            if self.set_thresholds:
                oof = self._out_of_fold(features, index, y, extra)
                self.thresholds.setdefault(themes, {})[label_id] = share_thresholds(oof[:, None], [shares[label_id]])[0]

    def _placement_model(self, x, y: np.ndarray, w: np.ndarray):
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=float(self.param_values["C"]), class_weight="balanced", max_iter=3000,
                                   random_state=int(self.param_values["seed"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # every weight 1 (the survey weight 1, nothing judged): the model of before, bit for bit
            return model.fit(x, y) if np.all(w == 1.0) else model.fit(x, y, sample_weight=w)

    def _survey_weight(self, features, rows: np.ndarray, labels: np.ndarray, judged: np.ndarray) -> float:
        """The weight of the survey's works (and reviewers' labels of survey works) against the judged
        candidates (weight 1): of ``survey_weights``, the one whose model places the judged candidates
        of ``inner_folds`` held-out folds best (top-1; a tie: the larger weight), every other row
        training; the largest when fewer than two judged candidates per fold are placed."""
        from sklearn.model_selection import KFold

        weights = sorted(_floats(self.param_values["survey_weights"]), reverse=True)
        k = int(self.param_values["inner_folds"])
        held = np.flatnonzero(judged)
        if len(weights) < 2 or len(held) < 2 * k:
            if judged.any():
                self.chosen = {"survey_weight": weights[0]}
            return weights[0]
        hits = {w: 0 for w in weights}
        everyone = np.arange(len(rows))
        for _, te in KFold(k, shuffle=True, random_state=int(self.param_values["seed"])).split(held):
            fit_on = np.setdiff1d(everyone, held[te])
            for w in weights:
                model = self._placement_model(features[rows[fit_on]], labels[fit_on],
                                              np.where(judged[fit_on], 1.0, w))
                hits[w] += int((model.predict(features[rows[held[te]]]) == labels[held[te]]).sum())
        best = max(weights, key=lambda w: (hits[w], w))
        self.chosen = {"survey_weight": best, "inner_top1": round(hits[best] / len(held), 4)}
        return best

    def _theme_model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=float(self.param_values["theme_C"]), class_weight="balanced", solver="liblinear")

    def _out_of_fold(self, features, index: list[int], y: np.ndarray, extra: list[int]) -> np.ndarray:
        """Scores of the labelled works by models that did not see them (in-sample with too few positives)."""
        from sklearn.model_selection import StratifiedKFold

        k = int(self.param_values["min_examples"])
        rows = np.array(index)
        if min(int(y.sum()), int(len(y) - y.sum())) < k:
            return self._themes_predict(self._themes_fit(features, list(rows), y, extra), features[rows])
        out = np.zeros(len(y))
        folds = StratifiedKFold(k, shuffle=True, random_state=int(self.param_values["seed"]))
        for train, test in folds.split(np.zeros(len(y)), y):
            model = self._themes_fit(features, list(rows[train]), y[train], extra)
            out[test] = self._themes_predict(model, features[rows[test]])
        return out

    def _themes_fit(self, features, index: list[int], y: np.ndarray, extra: list[int]):
        return self._theme_model().fit(features[index + extra], np.append(y, [1] * len(extra)))

    @staticmethod
    def _themes_predict(model, x) -> np.ndarray:
        return model.predict_proba(x)[:, 1]

    # -- predicting -------------------------------------------------------------------------------

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        out = [Prediction(item.work_id, {}) for item in items]
        if self._placement is None and not self._themes:
            return out
        features = self._features(np.stack([item.vector for item in items]), [item.text for item in items])
        placement, themes = self.taxonomy.placement, self.taxonomy.themes
        if self._placement is not None:
            proba = self._placement.predict_proba(features)
            ids = self.taxonomy.ids(placement)
            column = {label: j for j, label in enumerate(self._placement.classes_)}
            for pred, row in zip(out, proba):
                pred.scores[placement] = {label: float(row[column[label]]) if label in column else 0.0
                                          for label in ids}
        for label_id, model in self._themes.items():
            for pred, p in zip(out, self._themes_predict(model, features)):
                pred.scores.setdefault(themes, {})[label_id] = float(p)
        return out

    # -- scope: logistic regression on TF-IDF features of title and abstract, classes balanced ------

    def _model(self, texts: list[str], y: np.ndarray, weights: np.ndarray | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        w = np.ones(len(y)) if weights is None else weights
        balanced = np.where(y, w / max(w[y].sum(), 1e-9), w / max(w[~y].sum(), 1e-9)) * len(y) / 2
        pipe = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=int(self.param_values["min_df"]),
                            ngram_range=(1, int(self.param_values["ngram_max"])), stop_words="english"),
            LogisticRegression(C=float(self.param_values["C"]), max_iter=2000))
        pipe.fit(texts, y.astype(int), logisticregression__sample_weight=balanced)
        return pipe

    def raw_scores(self, train: list[ScopeExample], texts: list[str]) -> np.ndarray:
        y = np.array([ex.inside for ex in train])
        return self._model([ex.item.text for ex in train], y).decision_function(texts)

    def _fit_scope(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        self.fit_role(context, examples)
        y = np.array([ex.inside for ex in examples])
        if y.sum() < 2 or (~y).sum() < 2:
            raise ClassifierError("the supervised scope method needs at least two in-scope and two out-of-scope "
                                  "examples: load the survey (`litmine survey load`) or record scope decisions")
        texts = [ex.item.text for ex in examples]
        from sklearn.model_selection import StratifiedKFold

        folds = min(int(self.param_values["folds"]), int(y.sum()), int((~y).sum()))
        oof = np.zeros(len(y))
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=int(self.param_values["seed"])).split(texts, y):
            oof[te] = self._model([texts[i] for i in tr], y[tr]).decision_function([texts[i] for i in te])
        cal = _calibration_set(examples)
        self.platt = Platt.fit(oof[cal], y[cal])
        self.threshold = best_f1_threshold(self.platt(oof[cal]), y[cal])
        self.pipe = self._model(texts, y)

    _last: tuple[object, np.ndarray] | None = None  # the last scores computed, by version and inputs (any instance)

    def score(self, items: list[WorkItem]) -> list[ScopeScore]:
        """Calibrated probabilities. The same version scoring the same inputs again (the ensemble's
        member after the method itself, in one screen) reuses the scores: the features of every
        work's text are computed once."""
        if not items:
            return []
        key = (self.source_version, tuple((i.work_id, i.input_hash) for i in items))
        last = Supervised._last
        if last is None or last[0] != key:
            last = Supervised._last = (key, self.platt(self.pipe.decision_function([i.text for i in items])))
        return [ScopeScore(float(x)) for x in last[1]]
