"""Ensemble: its members' scores pooled with weights learnt on out-of-fold scores, in both roles.

One class (``Ensemble``) decides the placement and the scope; each role keeps its pooling rule, and
both search their weights with the same code (``weight_grid``, ``choose_weights``).

Placement. Members are registered methods, fitted on the same data, and ``bare`` (``litmine.classify.bare``:
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
weights of every label set, so each label row says which members decided it). Where at least
``judged_min`` of the training works are judged new papers (the seed's screening rows, reviewers'
placements: ``is_judged``), the placement's weights are chosen on those alone (the new papers'
distribution, not the survey's 2012-22 works), by the mean of their top-1 and macro-F1 (``criterion``
``loglik``: their pooled log-probability of the truth), and a mix must beat the best member by
``judged_margin`` (default 1: the best member out of fold decides; measured 2026-12-08 on the 366
judged candidates, every mix tried placed new papers worse than the supervised member alone, see
docs/evaluation.md). Each member's own choices (``chosen_params``: supervised's survey weight) are
kept by its out-of-fold copies, not made again. Only members that are cheap to
refit take part (those working on vectors); any other member (an LLM) gets the fixed weight
``other_weight`` and the learnt weights share the rest. With too few works to split, weights are equal.

Scope. The weighted mean of its members' calibrated probabilities (default members ``supervised``,
``zeroshot``, ``bare``, ``tuned``, and ``llm`` where one is configured), its threshold the weighted
mean of theirs, or, where no member without out-of-fold scores (an LLM) weighs, the threshold that a
new in-scope work clears with probability ``LITMINE_SCOPE_TARGET_RECALL``, from the in-scope
calibration examples' out-of-fold scores (``threshold_rule`` ``coverage``: ``coverage_threshold``;
``quantile``: keep that share of them, ``recall_threshold``, which kept 0.937-0.941 of new papers).
The weights are learnt out of fold as the placement's are (``scope_weights``): the members cheap to
refit are fitted on all folds but one and score it, and the best weights by average precision of the
calibration examples (``criterion`` ``ap``, the ranking the recall-first threshold cuts; ``f1``: F1 at
the pooled members' thresholds) are kept if they beat the best single member by more than ``margin``.
``bare`` is a member here too.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np

from litmine.classify.bare import BARE, Bare
from litmine.classify.base import (
    Classifier,
    Example,
    is_judged,
    Prediction,
    Taxonomy,
    WorkItem,
    labelled_shares,
    most_labels,
    share_thresholds,
)
from litmine.classify.method import PLACEMENT, SCOPE, Method, PerRole, get_method
from litmine.classify.scope import (
    PlacementAndScope,
    ScopeContext,
    ScopeExample,
    ScopeScore,
    _calibration_set,
    check_target_recall,
    coverage_threshold,
    recall_threshold,
)
from litmine.errors import ClassifierError

log = logging.getLogger(__name__)

EPS = 1e-6


def weight_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of ``n`` members on the simplex with steps of ``step`` (the weight search of both roles)."""
    steps = int(round(1.0 / float(step)))
    return [tuple(c / steps for c in combo) for combo in itertools.product(range(steps + 1), repeat=n)
            if sum(combo) == steps]


def choose_weights(scored: list[tuple[float, tuple[float, ...]]], margin: float) -> tuple[float, ...]:
    """Of (out-of-fold figure, weights), the best single member's weights unless a mix beats it by
    more than ``margin`` (out-of-fold figures on a few hundred works are noisy: a mix must earn its place)."""
    single = max((s for s in scored if max(s[1]) == 1.0), key=lambda s: s[0])
    mixed = max(scored, key=lambda s: s[0])
    return mixed[1] if mixed[0] > single[0] + float(margin) else single[1]


def member(role: str, name: str, env=None, **params: object) -> Method:
    """An ensemble's member of ``role``: ``bare`` (the bare library, one definition for evaluate and
    the ensemble) or a registered method."""
    if name == BARE:
        return Bare(env, role=role, **params)
    return get_method(role, name, env, **params)


class Ensemble(PlacementAndScope):
    """Its members' scores pooled with weights learnt out of fold: log-linear over the placement's
    labels, a weighted mean of calibrated probabilities for the scope (see the module).
    ``params()["weights"]`` records the weights each row was decided with."""

    name = "ensemble"
    version = PerRole(placement="5", scope="3")
    trainable = True
    defaults = PerRole(placement={"folds": 3, "step": 0.1, "margin": 0.02, "other_weight": 0.3, "seed": 0,
                                  "judged_min": 20, "criterion": "f1", "judged_margin": 1.0},
                       scope={"members": "supervised,zeroshot,bare,tuned,llm", "folds": 3, "step": 0.1, "margin": 0.02,
                              "other_weight": 0.3, "seed": 0, "criterion": "ap", "threshold_rule": "coverage"})

    def __init__(self, env=None, members: str | list[str] | None = None, **params: object) -> None:
        super().__init__(env, **params)
        has_llm = env is not None and getattr(env, "has_llm", False)
        if self.role == SCOPE:  # the members are a parameter (a comma-separated list)
            if members is not None:
                self.param_values["members"] = members
            wanted = [m for m in str(self.param_values["members"]).split(",") if m]
            members = [m for m in wanted if m != "llm" or has_llm]
        elif members is None:
            members = ["zeroshot", "supervised", BARE] + (["llm"] if has_llm else [])
        elif isinstance(members, str):
            members = [m.strip() for m in members.split(",") if m.strip()]
        self.members = [member(self.role, name, env) for name in members]
        self.needs_vectors = any(m.needs_vectors for m in self.members)
        self.weights: dict = {}  # placement: per label set, member -> weight; scope: member -> weight

    def params(self) -> dict:
        members = {m.name: m.source_version for m in self.members}
        if self.role == PLACEMENT:
            return {**super().params(), "members": members, "weights": self.weights}
        return {**super().params(), "members": members, "weights": {k: round(v, 4) for k, v in self.weights.items()}}

    @property
    def model(self) -> str | None:
        models = sorted({m.model for m in self.members if m.model})
        return ",".join(models) or None

    # -- placement: a weighted log-linear pool -------------------------------------------------------

    def _fit_placement(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.fit_role(taxonomy, examples)
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
                # what the member chose on all the training works (its survey weight ...) is kept, not chosen again
                clone = member(PLACEMENT, m.name, self.env, **{**m.param_values, **m.chosen_params()})
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
        judged = [i for i in rows if is_judged(examples[i])]
        on_judged = len(judged) >= int(self.param_values["judged_min"])
        if on_judged:  # the new papers' distribution: the weights that place the judged candidates best
            rows = judged
        truth = np.array([ids.index(examples[i].primary_label(placement)) for i in rows])
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
            pooled = sum(w * lp for w, lp in zip(weights, logs))
            if on_judged and self.param_values["criterion"] == "loglik":  # the pooled log-probability of the truth
                pooled = pooled - pooled.max(axis=1, keepdims=True)
                norm = np.log(np.exp(pooled).sum(axis=1))
                return float(np.mean(pooled[np.arange(len(truth)), truth] - norm))
            best = np.argmax(pooled, axis=1)
            figures = [_macro_f1(truth, list(best), len(ids))] + ([float(np.mean(best == truth))] if on_judged else [])
            figures += [_macro_f1(list(index[truth]), list(index[best]), n) for index, n in up]
            return float(np.mean(figures))

        scored = [(score(weights), weights) for weights in self._grid(len(refit))]
        return choose_weights(scored, float(self.param_values["judged_margin" if on_judged else "margin"]))

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

    # -- scope: a weighted mean of calibrated probabilities ------------------------------------------

    def weight(self, member: Method) -> float:
        return float(self.weights.get(member.name, 1.0))

    def _fit_scope(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        for m in self.members:
            m.fit(context, [ex for ex in examples if not m.needs_vectors or ex.item.vector is not None])
        self.fit_role(context, examples)
        p = self.param_values
        oof: dict = {}
        target = check_target_recall(float(getattr(self.env, "target_recall", 0.95)))
        self.weights = scope_weights(self.members, lambda name: member(SCOPE, name, self.env), context, examples,
                                     int(p["folds"]), float(p["step"]), float(p["margin"]),
                                     float(p["other_weight"]), int(p["seed"]), oof=oof, criterion=str(p["criterion"]),
                                     target=target)
        used = [m for m in self.members if self.weight(m) > 0]
        if oof and not others_weigh(self.members, self.weights) and oof["y"].any():
            # recall first: the threshold keeps the target share of the in-scope calibration examples, out of fold
            rule = coverage_threshold if p["threshold_rule"] == "coverage" else recall_threshold
            self.threshold = rule(oof["p"], oof["y"], target)
        else:
            self.threshold = float(np.average([m.threshold for m in used], weights=[self.weight(m) for m in used]))
        self.param_values["target_recall"] = target

    def score(self, items: list[WorkItem]) -> list[ScopeScore]:
        per_member = [m.score(items) for m in self.members]
        out = []
        for n, item in enumerate(items):
            got = [(s[n].probability, self.weight(m)) for m, s in zip(self.members, per_member)
                   if s[n].probability is not None and self.weight(m) > 0]
            if not got:
                out.append(ScopeScore(None, error=ClassifierError("no member could score the work", work_id=item.work_id)))
                continue
            reasons = [f"{m.name}: {s[n].rationale}" for m, s in zip(self.members, per_member) if s[n].rationale]
            out.append(ScopeScore(float(np.average([p for p, _ in got], weights=[w for _, w in got])),
                                  " | ".join(reasons) or None))
        return out


def others_weigh(members: list, weights: dict[str, float]) -> bool:
    """Whether a member not refitted out of fold (an LLM) has weight: then no out-of-fold threshold."""
    return any(m.prompt_version is not None and weights.get(m.name, 0) > 0 for m in members)


def scope_weights(members: list, make, context, examples: list, folds: int = 3, step: float = 0.1,
                  margin: float = 0.02, other_weight: float = 0.3, seed: int = 0,
                  oof: dict | None = None, criterion: str = "f1", target: float = 0.95) -> dict[str, float]:
    """The scope ensemble's member weights, learnt out of fold like the label sets' (see the module):
    the members cheap to refit (all but an LLM, which weighs ``other_weight``) are fitted by ``make(name)``
    on ``folds`` - 1 folds of ``examples`` and score the held-out one; the weights on a grid of step
    ``step`` with the best F1 on the calibration examples (judged candidates where there are enough),
    pooled probability against pooled threshold, are kept if they beat the best single member by more
    than ``margin``, else that member alone is. Equal weights when there are too few examples. ``oof``,
    when given, receives the chosen weights' out-of-fold probabilities of the calibration examples
    (``p``) and their truth (``y``)."""
    from sklearn.model_selection import StratifiedKFold

    refit = [m for m in members if m.prompt_version is None]
    others = [m for m in members if m.prompt_version is not None]
    equal = {m.name: 1.0 for m in members}
    usable = [ex for ex in examples if ex.item.vector is not None] if any(m.needs_vectors for m in refit) else examples
    y = np.array([ex.inside for ex in usable])
    if len(refit) < 2 or min(int(y.sum()), int((~y).sum())) < folds:
        return equal
    p, t = np.zeros((len(refit), len(usable))), np.zeros(len(refit))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        for j, m in enumerate(refit):
            clone = make(m.name)
            clone.fit(context, [usable[i] for i in train])
            p[j, test] = [s.probability if s.probability is not None else 0.0
                          for s in clone.score([usable[i].item for i in test])]
            t[j] += clone.threshold / folds
    cal = _calibration_set(usable)
    scored = []
    for weights in weight_grid(len(refit), step):
        w = np.array(weights, dtype=float)
        truth = y[cal]
        if criterion == "ap":  # the ranking of the calibration examples (the threshold is set for recall after)
            scored.append((_average_precision(w @ p[:, cal], truth), weights))
            continue
        chosen = (w @ p[:, cal]) >= float(w @ t)
        tp = int((chosen & truth).sum())
        scored.append((2 * tp / (chosen.sum() + truth.sum()) if chosen.sum() + truth.sum() else 0.0, weights))
    best = choose_weights(scored, margin)
    top = max(s for s, _ in scored)
    if oof is not None:
        oof.update(p=np.asarray(best) @ p[:, cal], y=y[cal])
    share = 1.0 - other_weight * len(others)
    log.info("scope ensemble: out-of-fold %s %.3f with weights %s", "AP" if criterion == "ap" else "F1", top,
             dict(zip([m.name for m in refit], best)))
    return {**{m.name: other_weight for m in others}, **{m.name: w * share for m, w in zip(refit, best)}}


def _average_precision(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-p, kind="stable")
    hits = y[order].astype(float)
    if not hits.sum():
        return 0.0
    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1) * hits).sum() / hits.sum())


def _macro_f1(truth: list[int], predicted: list[int], n: int) -> float:
    f1s = []
    for label in range(n):
        tp = sum(1 for t, p in zip(truth, predicted) if t == label and p == label)
        support = sum(1 for t in truth if t == label)
        chosen = sum(1 for p in predicted if p == label)
        if support:
            f1s.append(2 * tp / (support + chosen))
    return float(np.mean(f1s)) if f1s else 0.0

