"""Tuned: class-balanced linear models on the embeddings and on TF-IDF that choose their own settings
by inner cross-validation on whatever training data they are given.

One method, one class, both roles (``tuned`` in ``litmine.methods``). Its
``fit`` makes every choice on the training examples alone, so an evaluation that fits it on a
training fold (``litmine.evaluation.harness``) is nested without knowing it:

- the weight of the survey's own works against the judged candidates (the seed's screening labels
  and reviewers' decisions, weight 1): one of ``survey_weights``;
- the penalty 1/C of a weighted ridge regression (one of ``Cs``), classes balanced;
- the share of the embedding model in its mean with the same model on TF-IDF features of title and
  abstract (one of ``mixes``; ASReview's default features; 0 is the TF-IDF model alone);

chosen on ``inner_folds`` stratified folds of the judged candidates (every other example always
trains; on every example when fewer than ``inner_folds`` of each class are judged): scope by average
precision, placement by top-1. The scope threshold is the one at which the inner out-of-fold scores
of the judged candidates keep the target recall (``LITMINE_SCOPE_TARGET_RECALL``, default 0.95);
scores are mapped to probabilities by a Platt fit on the same out-of-fold scores (monotone: the
ranking and the threshold are unchanged). Placement scores are a softmax of the per-subsection ridge
scores (``temperature``); themes are not scored (an ensemble takes them from its other members).

Every ridge fit is one linear solve in the dual (kernel) form: ``a = (W K + I/C)^-1 W Y`` with the
linear kernel ``K`` of the features plus one (the intercept). The TF-IDF vocabulary is fitted on the
training texts only (no label read).
"""

from __future__ import annotations

import logging

import numpy as np

from litmine.classify.base import Example, Prediction, Taxonomy, WorkItem, is_judged, softmax
from litmine.classify.method import PerRole
from litmine.classify.scope import (
    PlacementAndScope,
    Platt,
    ScopeContext,
    ScopeExample,
    ScopeScore,
    check_target_recall,
    recall_threshold,
)
from litmine.errors import ClassifierError

log = logging.getLogger(__name__)

JUDGED = ("screening", "human")
DEFAULTS = {"survey_weights": "0.1,0.3,1.0", "Cs": "0.3,3.0", "mixes": "0.0,0.5,1.0", "inner_folds": 3, "seed": 0}


def _floats(value) -> list[float]:
    return [float(v) for v in str(value).split(",") if v.strip()]


def balanced(y, w: np.ndarray) -> np.ndarray:
    """Sample weights ``w`` rescaled so that every class weighs the same in total."""
    y = np.asarray(y)
    out = np.array(w, dtype=float)
    classes = sorted(set(y.tolist()))
    for c in classes:
        m = y == c
        out[m] *= len(y) / (len(classes) * out[m].sum())
    return out


def ap(p: np.ndarray, y: np.ndarray) -> float:
    """Average precision of the ranking ``p`` (nan without a positive)."""
    order = np.argsort(-p, kind="stable")
    hits = np.asarray(y, dtype=float)[order]
    if not hits.sum():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


class Kernels:
    """The training texts' linear kernels (embeddings as stored; TF-IDF fitted on these texts), and
    the same between new items and the training items."""

    def __init__(self, vectors: np.ndarray, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.x = np.asarray(vectors, dtype=np.float64)
        self.tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2 if len(texts) > 20 else 1, ngram_range=(1, 2),
                                     stop_words="english")
        self.t = self.tfidf.fit_transform(texts)
        self.train = {"embeddings": self.x @ self.x.T + 1.0, "tfidf": (self.t @ self.t.T).toarray() + 1.0}

    def against(self, vectors: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
        x = np.asarray(vectors, dtype=np.float64)
        t = self.tfidf.transform(texts)
        return {"embeddings": x @ self.x.T + 1.0, "tfidf": (t @ self.t.T).toarray() + 1.0}


def solve(k: np.ndarray, targets: np.ndarray, w: np.ndarray, C: float) -> np.ndarray:
    """The dual coefficients of the weighted ridge regression on the kernel ``k`` (penalty 1/C)."""
    return np.linalg.solve(w[:, None] * k + np.eye(len(k)) / C, w[:, None] * targets)


class Tuner:
    """The shared core: weighted, class-balanced ridge models chosen by inner folds of the judged
    examples (see the module)."""

    def __init__(self, params: dict) -> None:
        self.survey_weights = _floats(params["survey_weights"])
        self.Cs = _floats(params["Cs"])
        self.mixes = _floats(params["mixes"])
        self.inner_folds = int(params["inner_folds"])
        self.seed = int(params["seed"])

    def scores(self, kernels: dict[str, np.ndarray], train: np.ndarray, test_rows: dict[str, np.ndarray],
               targets: np.ndarray, w: np.ndarray, C: float, mixes: list[float]) -> dict[float, np.ndarray]:
        """Scores of the test rows per mix, the models fitted on ``train`` (indices into the kernels)."""
        out = {}
        parts = {}
        for name, wanted in (("embeddings", any(m > 0 for m in mixes)), ("tfidf", any(m < 1 for m in mixes))):
            if wanted:
                a = solve(kernels[name][np.ix_(train, train)], targets, w, C)
                parts[name] = test_rows[name][:, train] @ a
        for m in mixes:
            out[m] = m * parts.get("embeddings", 0.0) + (1 - m) * parts.get("tfidf", 0.0)
        return out

    def folds(self, strata: np.ndarray, judged: np.ndarray, classes: int = 2,
              least: int | None = None) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The examples the inner folds hold out (the judged ones when they hold ``classes`` strata of
        at least ``least`` examples each (default: ``inner_folds``), else every example) and the
        folds over them, stratified by ``strata``."""
        import warnings

        from sklearn.model_selection import StratifiedKFold

        least = self.inner_folds if least is None else least

        def enough(idx: np.ndarray) -> bool:
            counts = np.unique(strata[idx], return_counts=True)[1]
            return len(idx) > 0 and len(counts) >= classes and int(counts.min()) >= least

        targets = np.flatnonzero(judged)
        if not enough(targets):
            targets = np.arange(len(strata))
        counts = np.unique(strata[targets], return_counts=True)[1]
        k = max(2, min(self.inner_folds, int(counts.min()))) if classes > 1 else self.inner_folds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class with fewer members than folds: sklearn warns and splits
            splits = list(StratifiedKFold(k, shuffle=True, random_state=self.seed)
                          .split(np.zeros(len(targets)), strata[targets]))
        return targets, splits


class Tuned(PlacementAndScope):
    """The method ``tuned`` (see the module), for either role: scope (survey weight, C, mix and the
    recall-first threshold chosen in ``fit`` by inner folds of the judged candidates) or placement (one
    ridge score per subsection, the same choices by top-1; like every placement method it trains on the
    survey's works and the judged candidates' placements: ``load_placement_examples``)."""

    name = "tuned"
    version = PerRole(placement="1", scope="1")
    needs_vectors = PerRole(placement=True, scope=True)
    trainable = True
    defaults = PerRole(placement={**DEFAULTS, "temperature": 0.1}, scope=dict(DEFAULTS))

    def params(self) -> dict:
        return {**super().params(), "chosen": getattr(self, "chosen", None)}

    def chosen_params(self) -> dict:
        chosen = getattr(self, "chosen", None)
        if not chosen:
            return {}
        return {"survey_weights": str(chosen["survey_weight"]), "Cs": str(chosen["C"]), "mixes": str(chosen["mix"])}

    # -- scope -----------------------------------------------------------------------------------------

    def _fit_scope(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        self.fit_role(context, examples)
        examples = [ex for ex in examples if ex.item.vector is not None]
        y = np.array([ex.inside for ex in examples])
        if y.sum() < 2 or (~y).sum() < 2:
            raise ClassifierError("the tuned scope method needs at least two in-scope and two out-of-scope examples "
                                  "with vectors: load the survey (`litmine survey load`) and run `litmine embed`")
        target = check_target_recall(float(getattr(self.env, "target_recall", 0.95)))
        tuner = Tuner(self.param_values)
        judged = np.array([ex.origin in JUDGED for ex in examples])
        self.kernels = Kernels(np.vstack([ex.item.vector for ex in examples]), [ex.item.text for ex in examples])
        k = self.kernels.train
        signed = np.where(y, 1.0, -1.0)[:, None]
        held, splits = tuner.folds(y, judged)
        everyone = np.arange(len(y))
        oof = {(sw, C): {m: np.zeros(len(held)) for m in tuner.mixes} for sw in tuner.survey_weights for C in tuner.Cs}
        for tr, te in splits:
            fit_on = np.setdiff1d(everyone, held[te])
            rows = {name: kk[held[te]] for name, kk in k.items()}
            for (sw, C), by_mix in oof.items():
                w = balanced(y[fit_on], np.where(judged[fit_on], 1.0, sw))
                for m, s in self.scores_of(tuner, k, fit_on, rows, signed[fit_on], w, C).items():
                    by_mix[m][te] = s
        yh = y[held]
        scored = [(ap(p, yh), -abs(sw - 0.3), (sw, C, m)) for (sw, C), by in oof.items() for m, p in by.items()]
        score, _, (sw, C, mix) = max(scored)
        raw = oof[(sw, C)][mix]
        self.platt = Platt.fit(raw, yh)
        if self.platt.a <= 0:  # a ranking worse than chance out of fold: keep the order, not the calibration
            self.platt = Platt(1.0, 0.0)
        self.threshold = float(self.platt(np.array([recall_threshold(raw, yh, target)]))[0])
        w = balanced(y, np.where(judged, 1.0, sw))
        self.mix, self.coef = mix, {}
        for name, wanted in (("embeddings", mix > 0), ("tfidf", mix < 1)):
            if wanted:
                self.coef[name] = solve(k[name], signed, w, C)
        self.chosen = {"survey_weight": sw, "C": C, "mix": mix, "inner_ap": round(score, 4), "target_recall": target}
        self.param_values["target_recall"] = target

    @staticmethod
    def scores_of(tuner, k, fit_on, rows, targets, w, C):
        return {m: s[:, 0] for m, s in tuner.scores(k, fit_on, rows, targets, w, C, tuner.mixes).items()}

    def raw(self, items: list[WorkItem]) -> np.ndarray:
        rows = self.kernels.against(np.vstack([i.vector for i in items]), [i.text for i in items])
        return sum(((self.mix if name == "embeddings" else 1 - self.mix) * (rows[name] @ a)[:, 0]
                    for name, a in self.coef.items()), np.zeros(len(items)))

    def score(self, items: list[WorkItem]) -> list[ScopeScore]:
        out = [ScopeScore(None, error=ClassifierError("no vector: run `litmine embed`", work_id=i.work_id))
               for i in items]
        have = [n for n, i in enumerate(items) if i.vector is not None]
        if have:
            for n, p in zip(have, self.platt(self.raw([items[n] for n in have]))):
                out[n] = ScopeScore(float(p))
        return out

    # -- placement ---------------------------------------------------------------------------------------

    def _fit_placement(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.fit_role(taxonomy, examples)
        placement = taxonomy.placement
        self._untrained = [f"{taxonomy.themes}:{i}" for i in taxonomy.ids(taxonomy.themes)] if taxonomy.themes else []
        self.coef, self.classes = {}, []
        placed = [ex for ex in examples if ex.item.vector is not None and ex.primary_label(placement)]
        labels = np.array([ex.primary_label(placement) for ex in placed])
        self.classes = sorted(set(labels.tolist()))
        if len(self.classes) < 2:
            return
        tuner = Tuner(self.param_values)
        judged = np.array([is_judged(ex) for ex in placed])
        self.kernels = Kernels(np.vstack([ex.item.vector for ex in placed]), [ex.item.text for ex in placed])
        k = self.kernels.train
        onehot = (labels[:, None] == np.array(self.classes)[None, :]).astype(float)
        everyone = np.arange(len(placed))
        held, splits = tuner.folds(np.zeros(len(placed), dtype=int), judged, classes=1, least=2 * tuner.inner_folds)
        hits = {(sw, C, m): 0 for sw in tuner.survey_weights for C in tuner.Cs for m in tuner.mixes}
        for tr, te in splits:
            fit_on = np.setdiff1d(everyone, held[te])
            rows = {name: kk[held[te]] for name, kk in k.items()}
            for sw in tuner.survey_weights:
                w = balanced(labels[fit_on], np.where(judged[fit_on], 1.0, sw))
                for C in tuner.Cs:
                    for m, s in tuner.scores(k, fit_on, rows, onehot[fit_on], w, C, tuner.mixes).items():
                        hits[(sw, C, m)] += int((onehot[held[te], s.argmax(axis=1)] > 0).sum())
        (sw, C, mix), best = max(hits.items(), key=lambda kv: (kv[1], -abs(kv[0][0] - 0.3)))
        w = balanced(labels, np.where(judged, 1.0, sw))
        self.mix = mix
        for name, wanted in (("embeddings", mix > 0), ("tfidf", mix < 1)):
            if wanted:
                self.coef[name] = solve(k[name], onehot, w, C)
        self.chosen = {"survey_weight": sw, "C": C, "mix": mix, "inner_top1": round(best / max(1, len(held)), 4)}

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        out = [Prediction(item.work_id, {}) for item in items]
        if not self.coef or not items:
            return out
        rows = self.kernels.against(np.vstack([i.vector for i in items]), [i.text for i in items])
        s = sum(((self.mix if name == "embeddings" else 1 - self.mix) * (rows[name] @ a)
                 for name, a in self.coef.items()), np.zeros((len(items), len(self.classes))))
        p = softmax(s, float(self.param_values["temperature"]))
        column = {label: j for j, label in enumerate(self.classes)}
        for pred, row in zip(out, p):
            pred.scores[self.taxonomy.placement] = {label: float(row[column[label]]) if label in column else 0.0
                                                    for label in self.taxonomy.ids(self.taxonomy.placement)}
        return out

