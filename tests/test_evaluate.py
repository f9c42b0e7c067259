"""Evaluation: cross-validation on the survey seed with a fixed seed, bounds, no leakage, the table."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.classify import PLACEMENT, ClassifierEnv, get_method, load_taxonomy
from litmine.classify.base import Classifier, Prediction
from litmine.cli import main
from litmine.embed import HashingEmbedder
from litmine.evaluation.evaluate import _ece, evaluate

import numpy as np






env = hashing_env  # the embedder the shared `seeded` store was built with


class Spy(Classifier):
    """Remembers what it was trained on and asked about; predicts the first subsection."""

    name = "spy"
    overlaps: list[set[int]] = []
    predicted: list[int] = []
    trained_statuses: set[str] = set()

    trained_ids: set[int] = set()

    def fit(self, taxonomy, examples):
        super().fit(taxonomy, examples)
        self.trained = {ex.item.work_id for ex in examples}
        Spy.trained_ids |= self.trained

    def predict(self, items):
        ids = {i.work_id for i in items}
        Spy.overlaps.append(self.trained & ids)
        Spy.predicted += sorted(ids)
        first = self.taxonomy.ids("subsection")[0]
        return [Prediction(i.work_id, {"subsection": {label: float(label == first) for label in self.taxonomy.ids("subsection")}})
                for i in items]


def test_no_method_is_evaluated_on_works_it_was_trained_on(seeded):
    Spy.overlaps, Spy.predicted, Spy.trained_ids = [], [], set()
    emb = HashingEmbedder(256)
    spy_env = ClassifierEnv(make_embedder=lambda: emb)
    result = evaluate(seeded, {"spy": lambda: Spy(spy_env)}, folds=5, seed=0, save=False)
    assert len(Spy.overlaps) == 6 and all(not o for o in Spy.overlaps)  # five folds, then the new papers
    assert len(Spy.predicted) == len(set(Spy.predicted)) == result.config["works"] + result.config["new_papers"]
    with seeded.connect() as con:
        disagree = {w for (w,) in con.execute(
            "SELECT work_id FROM survey_references WHERE label_status = 'silver-disagree'").fetchall()}
    assert result.value("spy", "subsection", "silver-disagree", "*", "works") == 13  # evaluated ...
    assert Spy.trained_ids and not Spy.trained_ids & disagree  # ... and never trained on
    with seeded.connect() as con:
        screened = {w for (w,) in con.execute("SELECT work_id FROM label_assignments WHERE source = 'screening'").fetchall()}
    assert not Spy.trained_ids & screened  # the new papers are predicted by models trained on the survey only


def test_evaluation_on_the_seed_set_with_a_fixed_seed(seeded):
    new_papers = add_new_papers(seeded)
    methods = {n: (lambda n=n: get_method(PLACEMENT, n, env())) for n in ("zeroshot", "supervised")}
    methods["ensemble"] = lambda: get_method(PLACEMENT, "ensemble", env(), folds=2, step=0.25)  # a cheaper search
    result = evaluate(seeded, methods, folds=3, seed=0, run_id="eval-1")
    again = evaluate(seeded, {"supervised": methods["supervised"]}, folds=3, seed=0, save=False, bare=False)
    assert [r for r in result.rows if r[0] == "supervised"] == again.rows  # fixed seed: the same figures
    v = result.value
    for method in ("bare", *methods):  # the bare library beside every method
        assert v(method, "subsection", "primary", "*", "works") == 248
        assert v(method, "subsection", "primary-abstract", "*", "works") + v(
            method, "subsection", "primary-title-only", "*", "works") == 248
        assert v(method, "subsection", "new-papers", "*", "works") == new_papers
        for stratum in ("primary", "new-papers"):
            for label_set in ("part", "subsection"):
                assert 0 <= v(method, label_set, stratum, "*", "macro_f1") <= v(method, label_set, stratum, "*", "top1") + 1
        assert v(method, "theme", "all", "*", "macro_f1") is not None
    assert v("supervised", "subsection", "primary", "*", "macro_f1") >= v("bare", "subsection", "primary", "*", "macro_f1")
    for method in methods:
        assert v(method, "subsection", "all", "*", "works") == 248
        assert v(method, "part", "all", "*", "works") == 248
        for label in load_taxonomy(seeded).ids("subsection"):
            assert v(method, "subsection", "all", label, "support") is not None
    chance_top3 = 3 / 21
    # bounds for the deterministic hashing embedder: well above chance, far from perfect
    assert 0.35 < v("supervised", "subsection", "all", "*", "top3") < 0.95
    assert v("supervised", "subsection", "all", "*", "top3") > 2 * chance_top3
    assert 0.3 < v("supervised", "part", "all", "*", "micro_f1") < 0.95
    assert v("ensemble", "subsection", "all", "*", "top3") > 2 * chance_top3
    assert 0 <= v("supervised", "subsection", "all", "*", "ece") < 0.2
    assert v("zeroshot", "subsection", "verified", "*", "works") is None  # the verified rows cite the intro only
    confusion = sum(value for m, ls, st, _, met, value in result.rows
                    if (m, ls, st) == ("supervised", "part", "all") and met.startswith("predicted:"))
    assert confusion == 248
    with seeded.connect() as con:
        stored = con.execute("SELECT count(*), count(DISTINCT method), any_value(config) FROM evaluations "
                             "WHERE run_id = 'eval-1'").fetchone()
    assert stored[0] == len(result.rows) and stored[1] == 4 and '"seed": 0' in stored[2]


def add_new_papers(store) -> int:
    """Three works nobody labelled become in-scope screening candidates with an agreed subsection (as
    `litmine survey load` records the seed's screening judgements); returns how many such works there are."""
    with store.transaction() as con:
        unlabelled = con.execute(
            "SELECT work_id FROM works WHERE abstract IS NOT NULL AND work_id NOT IN "
            "(SELECT work_id FROM label_assignments) ORDER BY work_id LIMIT 3").fetchall()
        for (work_id,), label in zip(unlabelled, ("2.1", "3.2", "5.1")):
            con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                        "VALUES (?, 'subsection', ?, 'screening', true, 'silver-agree')", [work_id, label])
        return con.execute("SELECT count(DISTINCT work_id) FROM latest_labels WHERE source = 'screening' "
                           "AND label_set = 'subsection' AND assigned").fetchone()[0]


def test_ece_is_zero_when_scores_match_frequencies_and_large_when_not():
    scores = np.array([0.25] * 4 + [0.75] * 4)
    truth = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert _ece(scores, truth) == pytest.approx(0.0)
    assert _ece(np.array([0.95] * 4), np.zeros(4, dtype=bool)) == pytest.approx(0.95)


def test_evaluate_command_prints_every_label_of_every_method(seeded):
    out = CliRunner().invoke(main, ["evaluate", "-m", "zeroshot", "--folds", "3", "--repeats", "0"],
                             env={"LITMINE_EMBED_MODEL": "hashing:256"})  # the new papers: tests/test_newpapers.py
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "3-fold cross-validation, seed 0, 295 labelled works, embeddings hashing:256"
    tax = load_taxonomy(seeded)
    for label_set in ("part", "subsection", "theme"):
        for label in tax.labels[label_set]:
            assert any(line.startswith(f"   {label.label_id} ") for line in lines), label.label_id
    assert "   no labelled works in: verified, human" in lines
    assert "   macroF1 over themes with at least 5 positives; share: of the works labelled for a theme, those assigned it" in lines
    assert lines[2].startswith("== summary (bare: ") and "== bare (1)" in lines and "== zeroshot (3)" in lines
    assert lines[-1].startswith("stored as evaluation run ")


class FirstLabel(Classifier):
    """Places every work in the first placement label: worse than the bare library."""

    name = "first"
    trainable = True

    def predict(self, items):
        ids = self.taxonomy.ids(self.taxonomy.placement)
        return [Prediction(i.work_id, {self.taxonomy.placement: {label: float(label == ids[0]) for label in ids}})
                for i in items]


def test_evaluate_marks_every_figure_below_the_bare_row_and_lists_it_last(seeded):
    from litmine.classify.bare import Bare
    from litmine.evaluation.report import BELOW, NOT_DECISIONS, format_report

    # "ensemble": a method whose labels litmine files as the decision; "copy": the bare library itself
    result = evaluate(seeded, {"ensemble": lambda: FirstLabel(env()), "copy": lambda: Bare(env())},
                      folds=3, seed=0, save=False)
    lines = format_report(result, load_taxonomy(seeded)).splitlines()
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("-- subsection: macro F1 / top-1")):]
    rows = {line.split()[0]: line for line in summary[2:6] if not line.startswith(f"   {NOT_DECISIONS}")}
    assert BELOW in rows["ensemble"] and BELOW not in rows["bare"] and BELOW not in rows["copy"]
    assert summary[4] == f"   {NOT_DECISIONS}" and summary[5].startswith("   copy ")  # not a decision: apart
    head = next(line for line in lines if line.startswith("below the bare row (<), methods whose labels litmine"))
    listed = lines[lines.index(head) + 1:]  # the closing lines: nothing of "copy" (never below)
    assert int(head.rsplit(": ", 1)[1]) == len(listed) > 0
    assert all(line.startswith("   ensemble ") for line in listed)
    assert "   ensemble subsection primary macro_f1: " in {line.split(":")[0] + ": " for line in listed}


def test_the_scope_report_marks_and_lists_what_is_below_the_bare_row():
    from litmine.evaluation.scope import ScopeFigures, ScopeReport, format_scope_report

    report = ScopeReport([ScopeFigures("ensemble", "silver-agree", 180, 33, 0.7, 0.7, 0.70, 0.80),
                          ScopeFigures("zeroshot", "silver-agree", 180, 33, 0.4, 0.6, 0.48, 0.42),
                          ScopeFigures("bare", "silver-agree", 180, 33, 0.6, 0.6, 0.60, 0.70)])
    lines = format_scope_report(report)
    rows = {line.split()[0]: line for line in lines[2:5]}
    assert "<" not in rows["ensemble"] and "<" not in rows["bare"] and rows["zeroshot"].count("<") == 2
    assert lines[-2] == "scope below the bare row (<), the method that decides scope (ensemble): none"
    assert lines[-1].count("zeroshot silver-agree") == 2
