"""The tuned method: one self-tuning model for scope and placement, its choices made in its own fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from litmine.classify import ClassifierEnv
from litmine.classify.base import Example, Taxonomy, WorkItem
from litmine.classify.method import PLACEMENT, SCOPE, get_method
from litmine.classify.scope import ScopeContext, ScopeExample
from litmine.classify.tuned import Tuned
from litmine.errors import ClassifierError

SUBS = ("2.1", "3.2", "5.1")


def examples(n: int = 120, seed: int = 0):
    """Works in and out of scope, three subsections, the last third judged candidates."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        inside = i % 5 < 2
        sub = SUBS[i % 3] if inside else None
        x = rng.normal(size=8).astype(np.float32)
        x[{None: 0, "2.1": 1, "3.2": 2, "5.1": 3}[sub]] += 2.5
        text = f"paper {i} " + ("circuits neurons probing " if inside else "robots traffic vision ") + (sub or "none")
        out.append((WorkItem(i, text, str(i), None, x), inside, sub, "screening" if i >= 2 * n // 3 else "survey"))
    return out


def test_tuned_is_one_class_registered_for_both_roles():
    for role in (SCOPE, PLACEMENT):
        method = get_method(role, "tuned")
        assert isinstance(method, Tuned) and method.role == role


def test_the_scope_threshold_keeps_the_target_recall_of_the_judged_candidates_out_of_fold():
    data = examples()
    train = [ScopeExample(item, inside, origin) for item, inside, _, origin in data]
    thresholds = {}
    for target in (0.5, 0.95):
        method = Tuned(replace(ClassifierEnv(), target_recall=target), role=SCOPE, Cs="3.0", mixes="0.0,1.0")
        method.fit(ScopeContext("what the survey covers"), train)
        chosen = method.params()["chosen"]
        assert chosen["C"] == 3.0 and chosen["mix"] in (0.0, 1.0) and chosen["target_recall"] == target
        thresholds[target] = method.threshold
        p = np.array([s.probability for s in method.score([ex.item for ex in train])])
        y = np.array([ex.inside for ex in train])
        assert 0 <= p.min() and p.max() <= 1 and p[y].mean() > p[~y].mean()
    assert thresholds[0.95] <= thresholds[0.5]


def test_one_class_only_is_refused_with_the_fix():
    data = [ScopeExample(item, True, origin) for item, _, _, origin in examples(12)]
    with pytest.raises(ClassifierError, match="load the survey"):
        Tuned(role=SCOPE).fit(ScopeContext("s"), data)


def test_placement_ranks_the_subsections_and_records_its_choice():
    data = examples()
    taxonomy = Taxonomy.from_rows([("sub", s, None, s, "subsection", "", None) for s in (*SUBS, "9.9")],
                                  {"roles": {"placement": "sub"}})
    train = [Example(item, {"sub": {sub}}, complete={"sub"}, sources={origin}, primary={"sub": sub})
             for item, _, sub, origin in data[:100] if sub]
    method = Tuned(role=PLACEMENT, Cs="3.0")
    method.fit(taxonomy, train)
    assert set(method.params()["chosen"]) >= {"survey_weight", "C", "mix"}
    held = [(item, sub) for item, _, sub, _ in data[100:] if sub]
    preds = method.classify([item for item, _ in held])
    hits = [max(p.scores["sub"], key=p.scores["sub"].get) == sub for p, (_, sub) in zip(preds, held)]
    assert np.mean(hits) > 0.6 and all(p.assigned["sub"] for p in preds)
    assert all(abs(sum(p.scores["sub"].values()) - 1) < 1e-6 for p in preds)
