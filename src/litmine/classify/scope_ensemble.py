"""The scope ensemble: the weighted mean of its members' calibrated probabilities, the weights learnt
out of fold as the label sets' ensemble learns its own (``litmine.classify.ensemble``): the members
cheap to refit are fitted on all folds but one and score it, and the best weights (a grid over the
simplex) by F1 on the calibration examples are kept if they beat the best single member by more than
``margin``, else that member alone is. ``bare`` (``litmine.classify.bare``, the bare library `litmine
evaluate` prints beside every method) is a member, so the ensemble is not chosen worse than it out of fold.
"""

from __future__ import annotations

import logging

import numpy as np

from litmine.classify.bare import get_member
from litmine.classify.method import SCOPE, choose_weights, weight_grid
from litmine.classify.scope import (
    ScopeContext,
    ScopeExample,
    ScopeItem,
    ScopeMethod,
    ScopeScore,
    _calibration_set,
    check_target_recall,
    recall_threshold,
)
from litmine.errors import ClassifierError

log = logging.getLogger(__name__)


class EnsembleScope(ScopeMethod):
    """The weighted mean of its members' calibrated probabilities; its threshold is the weighted mean of
    theirs. The weights are learnt out of fold (``litmine.classify.ensemble.scope_weights``); ``bare``,
    the bare library of `litmine evaluate`, is a member, so the ensemble is not chosen worse than it
    out of fold, and ``params()["weights"]`` records the weights each row was decided with."""

    name = "ensemble"
    version = "2"
    defaults = {"members": "supervised,zeroshot,bare,llm", "folds": 3, "step": 0.1, "margin": 0.02,
                "other_weight": 0.3, "seed": 0}

    def weight(self, member: ScopeMethod) -> float:
        return float(self.weights.get(member.name, 1.0))

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **params)
        wanted = [m for m in str(self.param_values["members"]).split(",") if m]
        has_llm = env is not None and getattr(env, "has_llm", False)
        self.members = [get_member(SCOPE, m, env) for m in wanted if m != "llm" or has_llm]
        self.needs_vectors = any(m.needs_vectors for m in self.members)
        self.weights: dict[str, float] = {}

    @property
    def model(self) -> str | None:
        return ",".join(sorted({m.model for m in self.members if m.model})) or None

    def params(self) -> dict:
        return {**super().params(), "members": {m.name: m.source_version for m in self.members},
                "weights": {k: round(v, 4) for k, v in self.weights.items()}}

    def fit(self, context: ScopeContext, examples: list[ScopeExample]) -> None:
        for m in self.members:
            m.fit(context, [ex for ex in examples if not m.needs_vectors or ex.item.vector is not None])
        super().fit(context, examples)
        p = self.param_values
        oof: dict = {}
        self.weights = scope_weights(self.members, lambda name: get_member(SCOPE, name, self.env), context, examples,
                                     int(p["folds"]), float(p["step"]), float(p["margin"]),
                                     float(p["other_weight"]), int(p["seed"]), oof=oof)
        used = [m for m in self.members if self.weight(m) > 0]
        target = check_target_recall(float(getattr(self.env, "target_recall", 0.95)))
        if oof and not others_weigh(self.members, self.weights) and oof["y"].any():
            # recall first: the threshold keeps the target share of the in-scope calibration examples, out of fold
            self.threshold = recall_threshold(oof["p"], oof["y"], target)
        else:
            self.threshold = float(np.average([m.threshold for m in used], weights=[self.weight(m) for m in used]))
        self.param_values["target_recall"] = target

    def score(self, items: list[ScopeItem]) -> list[ScopeScore]:
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
                  oof: dict | None = None) -> dict[str, float]:
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
        chosen = (w @ p[:, cal]) >= float(w @ t)
        truth = y[cal]
        tp = int((chosen & truth).sum())
        scored.append((2 * tp / (chosen.sum() + truth.sum()) if chosen.sum() + truth.sum() else 0.0, weights))
    best = choose_weights(scored, margin)
    top = max(s for s, _ in scored)
    if oof is not None:
        oof.update(p=np.asarray(best) @ p[:, cal], y=y[cal])
    share = 1.0 - other_weight * len(others)
    log.info("scope ensemble: out-of-fold F1 %.3f with weights %s", top,
             dict(zip([m.name for m in refit], best)))
    return {**{m.name: other_weight for m in others}, **{m.name: w * share for m, w in zip(refit, best)}}
