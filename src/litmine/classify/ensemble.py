"""Ensemble: its members' scores pooled with weights learnt on out-of-fold scores.

Members are registered classifiers, fitted on the same data, and ``bare`` (``litmine.classify.bare``:
the bare library that `litmine evaluate` prints beside every method), so the out-of-fold search below
can always fall back to it: the ensemble is not chosen worse than the bare library out of fold. The placement set (the survey seed's
``placement``): a weighted log-linear pool (the normalised product of the members' probabilities,
each raised to its weight), so one member's over-confident softmax cannot outvote the others unless
it earns the weight; where the placement is multi-label, a label beyond the best is assigned above
its own threshold on the pooled out-of-fold scores, set at its labelled share (up to the most labels
a training work carries). Themes (where the
survey has a themes set): a weighted mean of the members that score the theme, assigned above a
per-theme threshold set so that the share of works carrying it is close to its labelled share (a
theme no member with weight scores, such as one ``bare`` cannot learn for want of a positive, is the
plain mean of the members that score it).

The weights are learnt in ``fit``: the training works are split into ``folds`` folds, each member is
fitted on the other folds and scores the held-out one, and the weights (a grid over the simplex, step
``step``) that give the best out-of-fold macro-F1 (placement: of the best-scoring label against each
work's primary one, averaged with the same figure of each set derived from it; themes: of the
thresholded themes) are kept, if they beat the best single
member by more than ``margin``, else that member alone is (``params()["weights"]`` records the
weights of every label set, so each label row says which members decided it). Only members that are cheap to
refit take part (those working on vectors); any other member (an LLM) gets the fixed weight
``other_weight`` and the learnt weights share the rest. With too few works to split, weights are equal.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from litmine.classify.bare import BARE, get_member
from litmine.classify.base import (
    Classifier,
    Example,
    Prediction,
    Taxonomy,
    WorkItem,
    labelled_shares,
    most_labels,
    share_thresholds,
)
from litmine.classify.method import PLACEMENT, choose_weights, weight_grid

log = logging.getLogger(__name__)

EPS = 1e-6


class EnsembleClassifier(Classifier):
    name = "ensemble"
    version = "4"
    trainable = True
    defaults = {"folds": 3, "step": 0.1, "margin": 0.02, "other_weight": 0.3, "seed": 0}

    def __init__(self, env=None, members: str | list[str] | None = None, **params: object) -> None:
        if members is None:
            members = ["zeroshot", "supervised", BARE] + (["llm"] if env is not None and env.has_llm else [])
        elif isinstance(members, str):
            members = [m.strip() for m in members.split(",") if m.strip()]
        super().__init__(env, **{**self.defaults, **params})
        self.members = [member(name, env) for name in members]
        self.weights: dict[str, dict[str, float]] = {}

    def params(self) -> dict:
        return {**super().params(), "members": {m.name: m.source_version for m in self.members},
                "weights": self.weights}

    @property
    def model(self) -> str | None:
        models = sorted({m.model for m in self.members if m.model})
        return ",".join(models) or None

    @property
    def needs_vectors(self) -> bool:  # type: ignore[override]
        return any(m.needs_vectors for m in self.members)

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        super().fit(taxonomy, examples)
        self.thresholds, self.placement_max = {}, None
        for m in self.members:
            m.fit(taxonomy, examples)
        equal = {m.name: 1.0 / len(self.members) for m in self.members}
        placement, themes = taxonomy.placement, taxonomy.themes
        self.weights = {label_set: dict(equal) for label_set in taxonomy.target_sets}
        refit = [m for m in self.members if m.needs_vectors]
        folds = int(self.param_values["folds"])
        if len(refit) < 2 or len(examples) < 2 * folds:
            return
        oof = self._out_of_fold(taxonomy, examples, refit, folds)
        share = 1.0 - float(self.param_values["other_weight"]) * (len(self.members) - len(refit))
        searches = [(placement, self._best_placement_weights)] + ([(themes, self._best_theme_weights)] if themes else [])
        for label_set, search in searches:
            best = search(taxonomy, examples, refit, oof)
            if best is None:
                continue
            weights = {m.name: float(self.param_values["other_weight"]) for m in self.members}
            weights.update({m.name: w * share for m, w in zip(refit, best)})
            self.weights[label_set] = weights
        if taxonomy.placement_multi_label:
            ids = taxonomy.ids(placement)
            pooled = np.array([[pred.scores.get(placement, {}).get(label, 0.0) for label in ids] for pred in (
                self._pool(taxonomy, [oof[m.name][i] for m in refit], refit) for i in range(len(examples)))])
            shares = labelled_shares(examples, placement, ids)
            self.thresholds[placement] = dict(zip(ids, share_thresholds(pooled, [shares[t] for t in ids])))
            self.placement_max = most_labels(examples, placement)
        if themes:
            theme_ids = taxonomy.ids(themes)
            pooled = self._pool_themes([oof[m.name] for m in refit], [self.weights[themes][m.name] for m in refit],
                                       theme_ids, themes)
            shares = labelled_shares(examples, themes, theme_ids)
            self.thresholds[themes] = dict(zip(theme_ids, share_thresholds(pooled, [shares[t] for t in theme_ids])))

    def _out_of_fold(self, taxonomy: Taxonomy, examples: list[Example], refit: list[Classifier],
                     folds: int) -> dict[str, list[Prediction]]:
        from collections import Counter

        from sklearn.model_selection import KFold, StratifiedKFold

        keys = [ex.primary_label(taxonomy.placement) or "-" for ex in examples]
        # stratified by primary label, unless no label has a work for each fold (a small survey)
        split = StratifiedKFold if max(Counter(keys).values()) >= folds else KFold
        splitter = split(folds, shuffle=True, random_state=int(self.param_values["seed"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # labels with fewer works than folds
            splits = list(splitter.split(np.zeros(len(examples)), keys))
        out: dict[str, list[Prediction]] = {}
        for m in refit:
            preds: list[Prediction | None] = [None] * len(examples)
            for train, test in splits:
                clone = member(m.name, self.env, **m.param_values)
                clone.set_thresholds = False  # only its scores are needed
                clone.fit(taxonomy, [examples[i] for i in train])
                for i, pred in zip(test, clone.predict([examples[i].item for i in test])):
                    preds[i] = pred
            out[m.name] = preds  # type: ignore[assignment]
        return out

    def _grid(self, n: int) -> list[tuple[float, ...]]:
        return weight_grid(n, float(self.param_values["step"]))

    def _best_placement_weights(self, taxonomy, examples, refit, oof) -> tuple[float, ...] | None:
        placement = taxonomy.placement
        ids = taxonomy.ids(placement)
        rows = [i for i, ex in enumerate(examples) if ex.primary_label(placement) in ids]
        if not rows:
            return None
        truth = [ids.index(examples[i].primary_label(placement)) for i in rows]
        logs = [np.log(np.array([[oof[m.name][i].scores.get(placement, {}).get(label, 0.0) for label in ids]
                                 for i in rows]) + EPS) for m in refit]
        # each derived set: a placement label's index -> its parent's (the best parent is the best label's)
        up = []
        for derived, source in taxonomy.derived.items():
            if source != placement:
                continue
            parents, parent_ids = taxonomy.parents(placement), taxonomy.ids(derived)
            index = np.array([parent_ids.index(parents[label]) if parents.get(label) in parent_ids else -1
                              for label in ids])
            up.append((index, len(parent_ids)))

        def score(weights: tuple[float, ...]) -> float:
            best = np.argmax(sum(w * lp for w, lp in zip(weights, logs)), axis=1)
            figures = [_macro_f1(truth, list(best), len(ids))]
            figures += [_macro_f1(list(index[truth]), list(index[best]), n) for index, n in up]
            return float(np.mean(figures))

        return self._choose([(score(weights), weights) for weights in self._grid(len(refit))])

    def _choose(self, scored: list[tuple[float, tuple[float, ...]]]) -> tuple[float, ...]:
        return choose_weights(scored, float(self.param_values["margin"]))

    def _best_theme_weights(self, taxonomy, examples, refit, oof) -> tuple[float, ...] | None:
        themes = taxonomy.themes
        ids = taxonomy.ids(themes)
        truth = np.array([[ex.label(themes, t) for t in ids] for ex in examples], dtype=object)
        known = truth != None  # noqa: E711  (None: unknown)
        if not known.any():
            return None
        shares = labelled_shares(examples, themes, ids)
        scored = []
        for weights in self._grid(len(refit)):
            pooled = self._pool_themes([oof[m.name] for m in refit], list(weights), ids, themes)
            cut = share_thresholds(pooled, [shares[t] for t in ids])
            f1s = []
            for j in range(len(ids)):
                k = known[:, j]
                y = truth[k, j].astype(bool)
                if not y.any():
                    continue
                chosen = pooled[k, j] >= cut[j]
                tp = int((chosen & y).sum())
                f1s.append(2 * tp / (chosen.sum() + y.sum()) if chosen.sum() + y.sum() else 0.0)
            scored.append((float(np.mean(f1s)) if f1s else 0.0, weights))
        return self._choose(scored)

    @staticmethod
    def _pool_themes(member_preds: list[list[Prediction]], weights: list[float], ids: list[str],
                     themes: str) -> np.ndarray:
        """Works x themes: the weighted mean of the members that score each theme (nan where none does)."""
        n = len(member_preds[0])
        total, mass = np.zeros((n, len(ids))), np.zeros((n, len(ids)))
        for preds, w in zip(member_preds, weights):
            for i, pred in enumerate(preds):
                for j, t in enumerate(ids):
                    s = pred.scores.get(themes, {}).get(t)
                    if s is not None:
                        total[i, j] += w * s
                        mass[i, j] += w
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(mass > 0, total / np.maximum(mass, 1e-12), 0.0)

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        per_member = [m.predict(items) for m in self.members]
        out = []
        for i, item in enumerate(items):
            preds = [p[i] for p in per_member]
            failed = [p for p in preds if p.error is not None]
            if failed:
                out.append(Prediction(item.work_id, error=failed[0].error))
                continue
            out.append(self._pool(self.taxonomy, preds, self.members))
        return out

    def _pool(self, taxonomy: Taxonomy, preds: list[Prediction], members: list[Classifier]) -> Prediction:
        """One work's pooled prediction from its members' (in the order of ``members``)."""
        placement, themes = taxonomy.placement, taxonomy.themes
        scores: dict[str, dict[str, float]] = {}
        sub = [(self.weights[placement][m.name], p.scores[placement])
               for m, p in zip(members, preds) if p.scores.get(placement)]
        if sub:
            labels = sorted({label for _, s in sub for label in s})
            logit = np.array([sum(w * np.log(s.get(label, 0.0) + EPS) for w, s in sub) for label in labels])
            pooled = np.exp(logit - logit.max())
            scores[placement] = dict(zip(labels, map(float, pooled / pooled.sum())))
        by_theme: dict[str, list[tuple[float, float]]] = {}
        for m, p in zip(members, preds):
            for label, s in p.scores.get(themes, {}).items() if themes else ():
                by_theme.setdefault(label, []).append((self.weights[themes][m.name], s))
        if by_theme:
            scores[themes] = {label: (sum(w * s for w, s in v) / sum(w for w, _ in v)
                                      if sum(w for w, _ in v) > 0 else float(np.mean([s for _, s in v])))
                              for label, v in by_theme.items()}
        rationale = " | ".join(f"{m.name}: {p.rationale}" for m, p in zip(members, preds) if p.rationale)
        return Prediction(preds[0].work_id, scores, rationale=rationale or None)


def member(name: str, env, **params: object) -> Classifier:
    """An ensemble member by name: ``bare`` (the bare library, one definition for evaluate and here)
    or a registered classifier."""
    return get_member(PLACEMENT, name, env, **params)


def _macro_f1(truth: list[int], predicted: list[int], n: int) -> float:
    f1s = []
    for label in range(n):
        tp = sum(1 for t, p in zip(truth, predicted) if t == label and p == label)
        support = sum(1 for t in truth if t == label)
        chosen = sum(1 for p in predicted if p == label)
        if support:
            f1s.append(2 * tp / (support + chosen))
    return float(np.mean(f1s)) if f1s else 0.0

