"""New papers: the nested evaluation, the recall-first threshold and its setting."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.evaluation import newpapers
from litmine.classify.scope import check_target_recall, recall_threshold
from litmine.cli import main
from litmine.config import load_settings
from litmine.errors import ClassifierError, ConfigError


def synthetic(n_survey: int = 60, n_new: int = 80, title_only: int = 6, seed: int = 0) -> newpapers.Records:
    """Two scope classes and three subsections, separable in the vectors and the words."""
    rng = np.random.default_rng(seed)
    n = n_survey + n_new
    inside = rng.random(n) < 0.4
    sub = [("2.1", "3.2", "5.1")[i % 3] if inside[i] else None for i in range(n)]
    centre = {None: 0, "2.1": 1, "3.2": 2, "5.1": 3}
    x = rng.normal(size=(n, 8))
    for i, s in enumerate(sub):
        x[i, centre[s]] += 2.5
    texts = [f"paper {i} " + ("circuits neurons probing " if inside[i] else "robots traffic vision ") + (s or "none")
             for i, s in enumerate(sub)]
    candidate = np.arange(n) >= n_survey
    only = np.zeros(n, bool)
    only[n_survey:n_survey + title_only] = True
    return newpapers.Records(list(range(n)), texts, x, inside, sub, candidate, only)


def test_a_target_recall_outside_zero_to_one_is_refused_naming_the_setting():
    assert load_settings(env={"LITMINE_SCOPE_TARGET_RECALL": "0.8"}).scope_target_recall == 0.8
    assert load_settings(env={}).scope_target_recall == 0.95
    for bad in ("0", "1.5", "-0.2"):
        with pytest.raises(ConfigError, match="LITMINE_SCOPE_TARGET_RECALL must be in \\(0, 1\\]"):
            load_settings(env={"LITMINE_SCOPE_TARGET_RECALL": bad})
    with pytest.raises(ClassifierError, match="LITMINE_SCOPE_TARGET_RECALL"):
        check_target_recall(1.01)


def test_the_recall_threshold_keeps_the_target_share_of_the_positives():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 0], bool)
    for target in (0.2, 0.6, 0.8, 0.95, 1.0):
        t = recall_threshold(p, y, target)
        assert (p[y] >= t).mean() >= target
        assert (p[y] > t).mean() < target  # the highest such threshold


def test_no_held_out_record_is_trained_on_or_tuned_on(monkeypatch):
    records = synthetic()
    seen = []
    real = newpapers._scope_probs

    def spy(f, r, train, test, *args, **kw):
        seen.append((set(train.tolist()), set(test.tolist())))
        return real(f, r, train, test, *args, **kw)

    monkeypatch.setattr(newpapers, "_scope_probs", spy)
    report = newpapers.evaluate_new_papers(records, repeats=2, folds=3, inner_folds=2, bootstrap=20)
    assert seen and all(not train & test for train, test in seen)
    targets = set(np.flatnonzero(records.candidate).tolist())
    assert all(set(range(60)) <= train for train, _ in seen)  # the survey's works always train
    assert all(test <= targets for _, test in seen)
    assert report.records == 80 and report.title_only == 6 and report.repeats == 2
    assert len(report.choices) == 6  # one choice per outer fold, made inside it


def test_every_figure_is_reported_with_its_spread_beside_the_bare_row_and_title_only_apart():
    records = synthetic()
    report = newpapers.evaluate_new_papers(records, repeats=3, folds=3, inner_folds=2, bootstrap=30)
    for method in ("litmine", "bare"):
        for metric in (*newpapers.SCOPE_METRICS, *newpapers.PLACEMENT_METRICS):
            s = report.figures[(method, "all", metric)]
            assert s.sd >= 0 and s.low <= s.high
        assert report.figures[(method, "title-only", "ap")].n == 6
        assert report.figures[(method, "abstract", "ap")].n == 74
    assert report.figures[("litmine", "all", "ap")].mean > 0.8  # separable data: ranked well
    lines = newpapers.format_new_papers(report)
    assert lines[0].startswith("== new papers: 80 judged (") and "6 title only" in lines[0]
    assert any(line.split()[:3] == ["title-only", "scope", "recall"] for line in lines)
    again = newpapers.evaluate_new_papers(records, repeats=3, folds=3, inner_folds=2, bootstrap=30)
    assert again.figures == report.figures  # a fixed seed: the same figures


def test_too_few_judged_candidates_are_refused_with_the_fix():
    records = synthetic(n_new=8)
    with pytest.raises(ClassifierError, match="too few for 5 folds; judge more candidates"):
        newpapers.evaluate_new_papers(records, repeats=1)


def test_the_scope_ensemble_threshold_follows_the_target_recall(seeded):
    from dataclasses import replace

    from litmine.classify.scope import load_context, load_scope_examples
    from litmine.classify.ensemble import Ensemble
    from litmine.classify.method import SCOPE

    examples = load_scope_examples(seeded, "hashing:256")
    thresholds = {}
    for target in (0.5, 0.95):
        method = Ensemble(replace(hashing_env(), target_recall=target), role=SCOPE, members="supervised,bare", step=0.5)
        method.fit(load_context(seeded), examples)
        thresholds[target] = method.threshold
        assert method.params()["target_recall"] == target
    assert thresholds[0.95] < thresholds[0.5]


def test_evaluate_leads_with_the_new_papers(seeded):
    out = CliRunner().invoke(main, ["evaluate", "-m", "zeroshot", "--folds", "3", "--repeats", "2"],
                             env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("== new papers: 180 judged (33 in scope")
    assert any(line.startswith("   all        scope recall ") for line in lines)
    assert any(line.startswith("== survey works: ") for line in lines)
    first = lines.index(next(line for line in lines if line.startswith("3-fold cross-validation")))
    assert first > lines.index(next(line for line in lines if line.startswith("== survey works: ")))
