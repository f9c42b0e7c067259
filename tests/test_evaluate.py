"""Evaluation: cross-validation on the survey seed with a fixed seed, bounds, no leakage, the table."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.classify import ClassifierEnv, get_classifier, load_taxonomy
from litmine.classify.base import Classifier, Prediction
from litmine.cli import main
from litmine.embed import HashingEmbedder
from litmine.evaluate import _ece, evaluate

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
    assert len(Spy.overlaps) == 5 and all(not o for o in Spy.overlaps)
    assert len(Spy.predicted) == len(set(Spy.predicted)) == result.config["works"]  # every work once
    with seeded.connect() as con:
        disagree = {w for (w,) in con.execute(
            "SELECT work_id FROM survey_references WHERE label_status = 'silver-disagree'").fetchall()}
    assert result.value("spy", "subsection", "silver-disagree", "*", "works") == 13  # evaluated ...
    assert Spy.trained_ids and not Spy.trained_ids & disagree  # ... and never trained on


def test_evaluation_on_the_seed_set_with_a_fixed_seed(seeded):
    methods = {n: (lambda n=n: get_classifier(n, env())) for n in ("zeroshot", "supervised", "ensemble")}
    result = evaluate(seeded, methods, folds=5, seed=0, run_id="eval-1")
    again = evaluate(seeded, methods, folds=5, seed=0, save=False)
    assert result.rows == again.rows  # fixed seed: the same figures
    v = result.value
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
    assert stored[0] == len(result.rows) and stored[1] == 3 and '"seed": 0' in stored[2]


def test_ece_is_zero_when_scores_match_frequencies_and_large_when_not():
    scores = np.array([0.25] * 4 + [0.75] * 4)
    truth = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert _ece(scores, truth) == pytest.approx(0.0)
    assert _ece(np.array([0.95] * 4), np.zeros(4, dtype=bool)) == pytest.approx(0.95)


def test_evaluate_command_prints_every_label_of_every_method(seeded):
    out = CliRunner().invoke(main, ["evaluate", "-m", "zeroshot", "--folds", "3"], env={"LITMINE_EMBED_MODEL": "hashing:256"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "3-fold cross-validation, seed 0, 252 labelled works, embeddings hashing:256"
    tax = load_taxonomy(seeded)
    for label_set in ("part", "subsection", "theme"):
        for label in tax.labels[label_set]:
            assert any(line.startswith(f"   {label.label_id} ") for line in lines), label.label_id
    assert "   no labelled works in: verified, human" in lines
    assert "   themes have positive labels only (the seed's examples): recall and support only" in lines
    assert lines[-1].startswith("stored as evaluation run ")
