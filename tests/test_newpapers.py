"""New papers: the nested evaluation, the recall-first threshold and its setting."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.classify.base import Taxonomy
from litmine.classify.scope import ScopeContext
from litmine.evaluation import harness, newpapers
from litmine.classify.scope import check_target_recall, recall_threshold
from litmine.cli import main
from litmine.config import load_settings
from litmine.errors import ClassifierError, ConfigError


def synthetic(n_survey: int = 60, n_new: int = 80, title_only: int = 6, seed: int = 0) -> harness.Records:
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
    return harness.Records(list(range(n)), texts, x, inside, sub, candidate, only)


def synthetic_setup() -> harness.Setup:
    rows = [("sub", label, None, label, "subsection", "", None) for label in ("2.1", "3.2", "5.1", "9.9")]
    return harness.Setup(ScopeContext("what the survey covers", []),
                         Taxonomy.from_rows(rows, {"roles": {"placement": "sub"}}), None)


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


def spy_on_the_harness(monkeypatch) -> list[tuple]:
    """Every ``harness.fit`` and ``harness.predict``, in order: ("fit", (role, spec), the ids it trained
    on, the method) and ("predict", role, the ids it scored, the method)."""
    events = []
    real_fit, real_predict = harness.fit, harness.predict

    def fit(role, spec, env, data, examples):
        method = real_fit(role, spec, env, data, examples)
        events.append(("fit", (role, spec), {ex.item.work_id for ex in examples if ex is not None}, method))
        return method

    def predict(role, method, items):
        events.append(("predict", role, {item.work_id for item in items}, method))
        return real_predict(role, method, items)

    monkeypatch.setattr(harness, "fit", fit)
    monkeypatch.setattr(harness, "predict", predict)
    return events


def test_no_held_out_record_is_trained_on_or_tuned_on(monkeypatch):
    records = synthetic()
    events = spy_on_the_harness(monkeypatch)
    report = harness.run(records, synthetic_setup(), ["tuned"], repeats=2, folds=3, bootstrap=20)
    fits = [e[1] for e in events if e[0] == "fit"]
    per_repeat = [(role, m) for m in ("tuned", "bare") for role in ("scope", "placement") for _ in range(3)]
    assert fits == per_repeat * 2  # both methods, in both roles, on every outer fold
    targets = set(np.flatnonzero(records.candidate).tolist())
    for (_, (role, _), train, method), (kind, predicted_role, test, predictor) in zip(events[::2], events[1::2]):
        assert kind == "predict" and predictor is method and predicted_role == role
        assert not train & test and test <= targets
        if role == "scope":
            assert set(range(60)) <= train  # the survey's works always train
        if method.name == "tuned" and role == "scope":  # its own inner folds (its choices) saw the training records only
            assert method.kernels.x.shape[0] == len(train)
    assert report.records == 80 and report.title_only == 6 and report.repeats == 2
    assert len(report.choices["scope tuned"]) == 6  # one choice per outer fold, made inside it


def test_every_figure_is_reported_with_its_spread_beside_the_bare_row_and_title_only_apart():
    records = synthetic()
    report = harness.run(records, synthetic_setup(), ["tuned"], repeats=3, folds=3, bootstrap=30)
    assert report.methods == ["tuned", "bare"]
    for method in report.methods:
        for metric in (*harness.SCOPE_METRICS, *harness.PLACEMENT_METRICS):
            s = report.figures[(method, "all", metric)]
            assert s.sd >= 0 and s.low <= s.high
        assert report.figures[(method, "title-only", "ap")].n == 6
        assert report.figures[(method, "abstract", "ap")].n == 74
    assert report.figures[("tuned", "all", "ap")].mean > 0.8  # separable data: ranked well
    lines = newpapers.format_new_papers(report)
    assert lines[0].startswith("== new papers: 80 judged (") and "6 title only" in lines[0]
    assert any(line.split()[:3] == ["title-only", "scope", "recall"] for line in lines)
    assert any(line.startswith("   target tuned top-1 >= 0.6: ") for line in newpapers.format_targets(report))
    again = harness.run(records, synthetic_setup(), ["tuned"], repeats=3, folds=3, bootstrap=30)
    assert again.figures == report.figures  # a fixed seed: the same figures


def test_too_few_judged_candidates_are_refused_with_the_fix():
    records = synthetic(n_new=8)
    with pytest.raises(ClassifierError, match="too few for 5 folds; judge more candidates"):
        harness.run(records, synthetic_setup(), ["tuned"], repeats=1)


def test_an_unknown_method_is_refused_naming_those_there_are():
    with pytest.raises(ClassifierError, match="unknown method 'nope': choose from .*tuned"):
        harness.run(synthetic(), synthetic_setup(), ["nope"], repeats=1)


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
    out = CliRunner().invoke(main, ["evaluate", "-m", "zeroshot", "--folds", "3", "--repeats", "2",
                                    "--new-papers-method", "tuned"],
                             env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("== new papers: 180 judged (33 in scope")
    assert any(line.startswith("   all        scope recall ") for line in lines)
    assert any(line.startswith("== survey works: ") for line in lines)
    first = lines.index(next(line for line in lines if line.startswith("3-fold cross-validation")))
    assert first > lines.index(next(line for line in lines if line.startswith("== survey works: ")))


def test_a_figure_below_the_bare_row_is_marked_and_listed():
    """A method's mean under bare's same mean carries ``<`` in the table and is listed after it."""
    report = harness.Report("new papers", 10, 4, 4, 0, 2, 2, 0.95, methods=["tuned", "bare"])
    report.figures = {("tuned", "all", "ap"): harness.Summary(0.9, 0.01, 0.8, 0.95, 10),
                      ("bare", "all", "ap"): harness.Summary(0.7, 0.01, 0.6, 0.8, 10),
                      ("tuned", "all", "top1"): harness.Summary(0.3, 0.02, 0.2, 0.4, 4),
                      ("bare", "all", "top1"): harness.Summary(0.4, 0.02, 0.3, 0.5, 4)}
    lines = newpapers.format_new_papers(report)
    ap = next(line for line in lines if line.split()[:3] == ["all", "scope", "AP"])
    top1 = next(line for line in lines if line.split()[:3] == ["all", "place", "top-1"])
    assert "<" not in ap and top1.count("<") == 1
    assert lines[-2:] == ["   below the bare row (<): 1", "   tuned all place top-1: 0.300 against bare 0.400"]


def test_the_learning_curve_fits_the_stored_method_and_bare_on_the_survey_and_reviewed_candidates_only(monkeypatch):
    records = synthetic()
    events = spy_on_the_harness(monkeypatch)
    curves = newpapers.learning_curve(records, synthetic_setup(), "tuned", ks=(0, 5, 10), repeats=2, batch=5)
    fits = [(role, spec, trained, method) for kind, (role, spec), trained, method in
            (e for e in events if e[0] == "fit")]
    for _, _, scored, method in (e for e in events if e[0] == "predict"):
        trained = next(f[2] for f in fits if f[3] is method)
        assert not trained & scored  # the rest only: never a work it trained on
    assert list(curves) == ["tuned", "bare"]
    for points in curves.values():
        assert [p.k for p in points] == [0, 5, 10]
        assert all(len(p.values[m]) == 2 for p in points for m in newpapers.CURVE_METRICS)
        assert all(0 <= v <= 1 or np.isnan(v) for p in points for values in p.values.values() for v in values)
        assert all(0 <= v <= 1 for p in points[:2] for values in p.values.values() for v in values)
    scope_fits = [f for f in fits if f[0] == "scope" and f[1] == "tuned"]
    survey = set(range(60))
    assert all(survey <= f[2] for f in scope_fits)  # the survey's works always train
    # the queue: 0, 5, then 10 reviewed candidates (the tuned scope method refitted every 5), per repeat
    assert [len(f[2] - survey) for f in scope_fits] == [0, 5, 10] * 2
    lines = newpapers.format_curve(curves)
    assert lines[0].split()[:2] == ["method", "k"] and lines[1].split()[:2] == ["tuned", "0"]
    assert any(line.split()[:2] == ["bare", "10"] for line in lines)
    with pytest.raises(ClassifierError, match="decides scope"):
        newpapers.learning_curve(records, synthetic_setup(), "zeroshot-nope", ks=(0,), repeats=1)
