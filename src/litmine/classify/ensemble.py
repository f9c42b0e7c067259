"""Ensemble: its members' scores pooled with weights learnt on out-of-fold scores.

Members are registered classifiers, fitted on the same data. Subsections: a weighted log-linear pool
(the normalised product of the members' probabilities, each raised to its weight), so one member's
over-confident softmax cannot outvote the others unless it earns the weight. Themes: a weighted mean
of the members that score the theme, assigned above a per-theme threshold set so that the share of
works carrying it is close to its labelled share.

The weights are learnt in ``fit``: the training works are split into ``folds`` folds, each member is
fitted on the other folds and scores the held-out one, and the weights (a grid over the simplex, step
``step``) that give the best out-of-fold macro-F1 (subsections: of the best-scoring subsection against
each work's primary one; themes: of the thresholded themes) are kept, if they beat the best single
member by more than ``margin``, else that member alone is. Only members that are cheap to
refit take part (those working on vectors); any other member (an LLM) gets the fixed weight
``other_weight`` and the learnt weights share the rest. With too few works to split, weights are equal.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np

from litmine.classify.base import (
    Classifier,
    Example,
    Prediction,
    Taxonomy,
    WorkItem,
    labelled_shares,
    share_thresholds,
)

log = logging.getLogger(__name__)

EPS = 1e-6


class EnsembleClassifier(Classifier):
    name = "ensemble"
    version = "2"
    trainable = True
    defaults = {"folds": 3, "step": 0.1, "margin": 0.02, "other_weight": 0.3, "seed": 0}

    def __init__(self, env=None, members: str | list[str] | None = None, **params: object) -> None:
        from litmine.classify import get_classifier

        if members is None:
            members = ["zeroshot", "supervised"] + (["llm"] if env is not None and env.has_llm else [])
        elif isinstance(members, str):
            members = [m.strip() for m in members.split(",") if m.strip()]
        super().__init__(env, **{**self.defaults, **params})
        self.members = [get_classifier(name, env) for name in members]
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
        self.thresholds = {}
        for m in self.members:
            m.fit(taxonomy, examples)
        equal = {m.name: 1.0 / len(self.members) for m in self.members}
        self.weights = {"subsection": dict(equal), "theme": dict(equal)}
        refit = [m for m in self.members if m.needs_vectors]
        folds = int(self.param_values["folds"])
        if len(refit) < 2 or len(examples) < 2 * folds:
            return
        oof = self._out_of_fold(taxonomy, examples, refit, folds)
        share = 1.0 - float(self.param_values["other_weight"]) * (len(self.members) - len(refit))
        for label_set, search in (("subsection", self._best_subsection_weights),
                                  ("theme", self._best_theme_weights)):
            best = search(taxonomy, examples, refit, oof)
            if best is None:
                continue
            weights = {m.name: float(self.param_values["other_weight"]) for m in self.members}
            weights.update({m.name: w * share for m, w in zip(refit, best)})
            self.weights[label_set] = weights
        theme_ids = taxonomy.ids("theme")
        pooled = self._pool_themes([oof[m.name] for m in refit], [self.weights["theme"][m.name] for m in refit],
                                   theme_ids)
        shares = labelled_shares(examples, "theme", theme_ids)
        self.thresholds["theme"] = dict(zip(theme_ids, share_thresholds(pooled, [shares[t] for t in theme_ids])))

    def _out_of_fold(self, taxonomy: Taxonomy, examples: list[Example], refit: list[Classifier],
                     folds: int) -> dict[str, list[Prediction]]:
        from sklearn.model_selection import StratifiedKFold

        from litmine.classify import get_classifier

        keys = [ex.primary_label("subsection") or "-" for ex in examples]
        splitter = StratifiedKFold(folds, shuffle=True, random_state=int(self.param_values["seed"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # subsections with fewer works than folds
            splits = list(splitter.split(np.zeros(len(examples)), keys))
        out: dict[str, list[Prediction]] = {}
        for m in refit:
            preds: list[Prediction | None] = [None] * len(examples)
            for train, test in splits:
                clone = get_classifier(m.name, self.env, **m.param_values)
                clone.set_thresholds = False  # only its scores are needed
                clone.fit(taxonomy, [examples[i] for i in train])
                for i, pred in zip(test, clone.predict([examples[i].item for i in test])):
                    preds[i] = pred
            out[m.name] = preds  # type: ignore[assignment]
        return out

    def _grid(self, n: int) -> list[tuple[float, ...]]:
        steps = int(round(1.0 / float(self.param_values["step"])))
        return [tuple(c / steps for c in combo) for combo in itertools.product(range(steps + 1), repeat=n)
                if sum(combo) == steps]

    def _best_subsection_weights(self, taxonomy, examples, refit, oof) -> tuple[float, ...] | None:
        ids = taxonomy.ids("subsection")
        rows = [i for i, ex in enumerate(examples) if ex.primary_label("subsection") in ids]
        if not rows:
            return None
        truth = [ids.index(examples[i].primary_label("subsection")) for i in rows]
        logs = [np.log(np.array([[oof[m.name][i].scores.get("subsection", {}).get(label, 0.0) for label in ids]
                                 for i in rows]) + EPS) for m in refit]
        scored = [(_macro_f1(truth, list(np.argmax(sum(w * lp for w, lp in zip(weights, logs)), axis=1)), len(ids)),
                   weights) for weights in self._grid(len(refit))]
        return self._choose(scored)

    def _choose(self, scored: list[tuple[float, tuple[float, ...]]]) -> tuple[float, ...]:
        """The best single member, unless a mix beats it out of fold by more than ``margin`` (out-of-fold
        figures on a few hundred works are noisy: a mix must earn its place)."""
        single = max((s for s in scored if max(s[1]) == 1.0), key=lambda s: s[0])
        mixed = max(scored, key=lambda s: s[0])
        return mixed[1] if mixed[0] > single[0] + float(self.param_values["margin"]) else single[1]

    def _best_theme_weights(self, taxonomy, examples, refit, oof) -> tuple[float, ...] | None:
        ids = taxonomy.ids("theme")
        truth = np.array([[ex.label("theme", t) for t in ids] for ex in examples], dtype=object)
        known = truth != None  # noqa: E711  (None: unknown)
        if not known.any():
            return None
        shares = labelled_shares(examples, "theme", ids)
        scored = []
        for weights in self._grid(len(refit)):
            pooled = self._pool_themes([oof[m.name] for m in refit], list(weights), ids)
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
    def _pool_themes(member_preds: list[list[Prediction]], weights: list[float], ids: list[str]) -> np.ndarray:
        """Works x themes: the weighted mean of the members that score each theme (nan where none does)."""
        n = len(member_preds[0])
        total, mass = np.zeros((n, len(ids))), np.zeros((n, len(ids)))
        for preds, w in zip(member_preds, weights):
            for i, pred in enumerate(preds):
                for j, t in enumerate(ids):
                    s = pred.scores.get("theme", {}).get(t)
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
            scores: dict[str, dict[str, float]] = {}
            sub = [(self.weights["subsection"][m.name], p.scores["subsection"])
                   for m, p in zip(self.members, preds) if p.scores.get("subsection")]
            if sub:
                labels = sorted({label for _, s in sub for label in s})
                logit = np.array([sum(w * np.log(s.get(label, 0.0) + EPS) for w, s in sub) for label in labels])
                pooled = np.exp(logit - logit.max())
                scores["subsection"] = dict(zip(labels, map(float, pooled / pooled.sum())))
            themes: dict[str, list[tuple[float, float]]] = {}
            for m, p in zip(self.members, preds):
                for label, s in p.scores.get("theme", {}).items():
                    themes.setdefault(label, []).append((self.weights["theme"][m.name], s))
            if themes:
                scores["theme"] = {label: (sum(w * s for w, s in v) / sum(w for w, _ in v)
                                           if sum(w for w, _ in v) > 0 else float(np.mean([s for _, s in v])))
                                   for label, v in themes.items()}
            rationale = " | ".join(f"{m.name}: {p.rationale}" for m, p in zip(self.members, preds) if p.rationale)
            out.append(Prediction(item.work_id, scores, rationale=rationale or None))
        return out


def _macro_f1(truth: list[int], predicted: list[int], n: int) -> float:
    f1s = []
    for label in range(n):
        tp = sum(1 for t, p in zip(truth, predicted) if t == label and p == label)
        support = sum(1 for t in truth if t == label)
        chosen = sum(1 for p in predicted if p == label)
        if support:
            f1s.append(2 * tp / (support + chosen))
    return float(np.mean(f1s)) if f1s else 0.0
