"""Classification stage on the survey seed, with the deterministic hashing embedder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.classify import PLACEMENT, SCOPE, classify_works, get_method, load_examples, load_taxonomy
from litmine.classify.base import Classifier, Prediction
from litmine.cli import main
from litmine.embed import HashingEmbedder, embed_works
from litmine.errors import ClassifierError

MODEL = "hashing:256"






env = hashing_env  # the embedder the shared `seeded` store was built with


def works(store) -> int:
    """How many works of the seeded store a classifier places: the survey's references and the screening
    candidates, less those decided out of the survey's scope."""
    from litmine.store.scope import out_of_scope

    with store.connect(read_only=True) as con:
        ids = [w for (w,) in con.execute("SELECT work_id FROM works").fetchall()]
        return len(ids) - len(out_of_scope(con, ids))


def test_unknown_classifier_lists_the_registered_ones():
    with pytest.raises(ClassifierError) as info:
        get_method(PLACEMENT, "nope")
    assert str(info.value) == "unknown classifier 'nope': choose from ensemble, llm, supervised, tuned, zeroshot"


def test_zeroshot_scores_every_label_with_provenance_and_skips_what_is_done(seeded):
    clf = get_method(PLACEMENT, "zeroshot", env())
    counts = classify_works(seeded, clf, run_id="run-1")
    n = works(seeded)
    assert (counts.new, counts.updated, counts.unchanged, counts.failed) == (n, 0, 0, 0)
    with seeded.connect() as con:
        per_work = con.execute(
            "SELECT label_set, count(*), count(*) FILTER (WHERE assigned) FROM label_assignments "
            "WHERE source = 'zeroshot' AND work_id = 1 GROUP BY 1 ORDER BY 1").fetchall()
        row = con.execute(
            "SELECT source_version, model, params, run_id, content_hash, created_by FROM label_assignments "
            "WHERE source = 'zeroshot' LIMIT 1").fetchone()
        parts_follow = con.execute(
            """SELECT count(*) FROM label_assignments s JOIN labels l ON l.label_set = 'subsection' AND l.label_id = s.label_id
               WHERE s.source = 'zeroshot' AND s.label_set = 'subsection' AND s.assigned AND NOT EXISTS (
                 SELECT 1 FROM label_assignments p WHERE p.source = 'zeroshot' AND p.work_id = s.work_id
                 AND p.label_set = 'part' AND p.label_id = l.parent_id AND p.assigned)""").fetchone()[0]
    assert per_work[0][:2] == ("part", 4) and per_work[1][:2] == ("subsection", 21) and per_work[2][:2] == ("theme", 15)
    assert per_work[0][2] >= 1 and per_work[1][2] >= 1  # the best subsection, and so its part, is always assigned
    assert parts_follow == 0
    version, model, params, run_id, content_hash, created_by = row
    assert version.startswith("3+") and model == MODEL and run_id == "run-1" and len(content_hash) == 64
    assert json.loads(params)["temperature"] == 0.03 and "@" in created_by
    again = classify_works(seeded, get_method(PLACEMENT, "zeroshot", env()))
    assert (again.new, again.unchanged) == (0, n) and "nothing new to classify" in again.notes
    # a work nobody labelled gets a new abstract: only it is scored again (a labelled work's new text
    # would change what zeroshot centers its similarities on, and so its version)
    labelled = {ex.item.work_id for ex in load_examples(seeded, MODEL)}
    with seeded.transaction() as con:
        unlabelled = min(w for (w,) in con.execute("SELECT work_id FROM survey_references").fetchall() if w not in labelled)
        con.execute("UPDATE works SET abstract = 'A new abstract about probing.' WHERE work_id = ?", [unlabelled])
    embed_works(seeded, HashingEmbedder(256))
    third = classify_works(seeded, get_method(PLACEMENT, "zeroshot", env()))
    assert (third.new, third.updated, third.unchanged) == (0, 1, n - 1)


@pytest.mark.slow  # trains the supervised classifier on the seed
def test_supervised_trains_on_trusted_labels_only_and_records_what_it_could_not_learn(seeded):
    examples = load_examples(seeded, MODEL)
    with seeded.connect() as con:
        disagree = {w for (w,) in con.execute(
            "SELECT work_id FROM survey_references WHERE label_status = 'silver-disagree'").fetchall()}
    assert examples and not {ex.item.work_id for ex in examples if ex.positives.get("subsection")} & disagree
    clf = get_method(PLACEMENT, "supervised", env())
    counts = classify_works(seeded, clf, limit=40)
    assert counts.new == 40
    # every subsection has at least its description as an example; a theme no annotator pair agreed on cannot be learnt
    assert clf.params()["untrained"] == ["theme:engineering-reverse"]
    with seeded.connect() as con:
        sets = dict(con.execute("SELECT label_set, count(DISTINCT label_id) FROM label_assignments "
                                "WHERE source = 'supervised' GROUP BY 1").fetchall())
        scores = con.execute("SELECT min(score), max(score) FROM label_assignments WHERE source = 'supervised'").fetchone()
        per_work = con.execute("SELECT sum(score) FROM label_assignments WHERE source = 'supervised' "
                               "AND label_set = 'subsection' GROUP BY work_id").fetchall()
    assert sets == {"part": 4, "subsection": 21, "theme": 14}
    assert 0.0 <= scores[0] < scores[1] <= 1.0
    assert all(total == pytest.approx(1.0) for (total,) in per_work)  # one multinomial model over the subsections


def test_theme_labels_of_the_seed_are_examples_with_known_negatives(seeded):
    examples = {ex.item.work_id: ex for ex in load_examples(seeded, MODEL)}
    with seeded.connect() as con:
        keys = dict(con.execute("SELECT key, work_id FROM survey_references").fetchall())
    kaplan = examples[keys["kaplan2020scaling"]]  # neither annotator chose a theme: every theme a negative
    assert not kaplan.positives.get("theme") and len(kaplan.negatives["theme"]) == 15
    abnar = examples[keys["abnar2020quantifying"]]  # one annotator alone chose hypothesis-testing: unknown
    assert abnar.label("theme", "rigorous-evaluation") is True
    assert abnar.label("theme", "hypothesis-testing") is None
    assert abnar.label("theme", "circuits") is False


@pytest.mark.slow  # trains the supervised classifier on the seed
def test_themes_are_assigned_to_about_their_labelled_share_of_works(seeded):
    with seeded.connect() as con:
        labelled = dict(con.execute(
            "SELECT label_id, avg(assigned::int) FROM latest_labels WHERE source = 'survey' AND label_set = 'theme' "
            "AND status = 'silver-agree' GROUP BY 1").fetchall())
    for method in ("zeroshot", "supervised"):
        classify_works(seeded, get_method(PLACEMENT, method, env()))
        with seeded.connect() as con:
            shares = dict(con.execute(
                "SELECT label_id, avg(assigned::int) FROM label_assignments WHERE source = ? AND label_set = 'theme' "
                "AND work_id IN (SELECT work_id FROM survey_references) GROUP BY 1", [method]).fetchall())
        assert max(shares.values()) < 0.5, method  # no theme on half the survey's works
        gaps = {theme: abs(share - labelled.get(theme, 0.0)) for theme, share in shares.items()}
        assert max(gaps.values()) < 0.15 and sum(gaps.values()) / len(gaps) < 0.05, (method, gaps)  # a weak embedder


@pytest.mark.slow  # trains the supervised classifier on the seed
def test_human_labels_train_the_supervised_classifier_and_change_its_version(seeded):
    before = get_method(PLACEMENT, "supervised", env())
    classify_works(seeded, before, limit=1)
    assert "theme:engineering-reverse" in before.params()["untrained"]
    with seeded.transaction() as con:
        for work_id, decision in [(1, "accept"), (2, "accept"), (3, "accept"), (4, "reject"), (5, "reject"), (6, "reject")]:
            con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                        "VALUES (?, 'theme', 'engineering-reverse', 'human', ?, ?)", [work_id, decision == "accept", decision])
    after = get_method(PLACEMENT, "supervised", env())
    classify_works(seeded, after, limit=1)
    assert "theme:engineering-reverse" not in after.params()["untrained"]
    assert after.source_version != before.source_version


def test_ensemble_pools_its_members_with_weights_learnt_out_of_fold(seeded):
    ens = get_method(PLACEMENT, "ensemble", env(), members="zeroshot,supervised")
    classify_works(seeded, ens, limit=5)
    weights = ens.weights["subsection"]
    assert set(weights) == {"zeroshot", "supervised"} and sum(weights.values()) == pytest.approx(1.0)
    zs, sup = ens.members
    item = load_examples(seeded, MODEL)[0].item
    member_scores = [m.predict([item])[0].scores["subsection"] for m in (zs, sup)]
    pooled = {label: np.exp(sum(weights[m.name] * np.log(s[label] + 1e-6) for m, s in zip((zs, sup), member_scores)))
              for label in member_scores[0]}
    total = sum(pooled.values())
    got = ens.predict([item])[0].scores["subsection"]
    assert got == pytest.approx({label: v / total for label, v in pooled.items()})
    with seeded.connect() as con:
        params = json.loads(con.execute("SELECT params FROM label_assignments WHERE source = 'ensemble' LIMIT 1").fetchone()[0])
    assert params["members"] == {"zeroshot": zs.source_version, "supervised": sup.source_version}
    assert params["weights"]["subsection"] == pytest.approx(weights)


def test_classify_without_the_survey_says_what_to_do(store):
    with pytest.raises(ClassifierError) as info:
        classify_works(store, get_method(PLACEMENT, "zeroshot", env()))
    assert str(info.value) == ("the database holds no label sets; `litmine classify` needs the placement set "
                               "declared by the survey seed: load it with `litmine survey load`")


def test_classify_command_and_the_disagreements_view(seeded):
    runner = CliRunner()
    out = runner.invoke(main, ["classify", "-m", "zeroshot", "-m", "supervised"], env={"LITMINE_EMBED_MODEL": MODEL})
    assert out.exit_code == 0, out.output
    n = works(seeded)
    lines = out.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"classify zeroshot: {n} new, 0 updated, 0 unchanged, 0 failed")
    assert lines[1].startswith(f"classify supervised: {n} new, 0 updated, 0 unchanged, 0 failed")
    res = seeded.query_readonly("select * from disagreements limit 5")
    assert len(res.rows) == 5
    row = dict(zip(res.columns, res.rows[0]))
    assert row["disagreement"] in ("methods", "survey", "methods and survey")
    assert {m["method"] for m in row["methods"]} == {"zeroshot", "supervised"}
    priorities = [r[res.columns.index("priority")] for r in res.rows]
    assert priorities == sorted(priorities, reverse=True)
    # a human decision takes the label out of the review queue
    with seeded.transaction() as con:
        con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                    "VALUES (?, ?, ?, 'human', true, 'accept')", [row["work_id"], row["label_set"], row["label_id"]])
    left = seeded.query_readonly(
        "select count(*) from disagreements where work_id = ? and label_set = ? and label_id = ?",
        [row["work_id"], row["label_set"], row["label_id"]])
    assert left.rows == [(0,)]
    with seeded.connect() as con:
        run = con.execute("SELECT status, config FROM runs WHERE command = 'classify zeroshot supervised'").fetchone()
    assert run[0] == "ok" and "llm_api_key" not in json.loads(run[1])


def test_a_run_with_nothing_new_to_learn_fits_nothing_and_new_labels_refit(seeded, monkeypatch):
    clf = get_method(PLACEMENT, "supervised", env())
    fits = []
    real_fit = type(clf).fit
    monkeypatch.setattr(type(clf), "fit", lambda self, *a: (fits.append(1), real_fit(self, *a))[1])
    first = classify_works(seeded, clf)
    again = classify_works(seeded, clf)
    n = works(seeded)
    assert len(fits) == 1 and first.new == n and again.unchanged == n
    version = clf.source_version
    with seeded.transaction() as con:  # a reviewer's decision changes the training data
        con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                    "VALUES (1, 'subsection', '2.2', 'human', true, 'accept')")
    third = classify_works(seeded, clf)
    assert len(fits) == 2 and clf.source_version != version and third.updated == n


def test_a_label_file_naming_an_unknown_label_is_refused_with_file_and_line(tmp_path):
    import shutil

    from litmine.config import load_settings
    from litmine.errors import SeedError
    from litmine.survey.load import read_seed

    seed = tmp_path / "seed"
    shutil.copytree(load_settings(env={}).seed_dir, seed)
    rows = (seed / "theme_labels.csv").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace(",circuits;", ",circuitry;", 1)
    (seed / "theme_labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(SeedError) as info:
        read_seed(seed)
    assert "fields 'positive'/'negative' name unknown label(s) circuitry of set 'theme'" in str(info.value)
    assert "theme_labels.csv" in str(info.value) and "3" in str(info.value)
    known = read_seed(load_settings(env={}).seed_dir).references
    kaplan = next(ref for ref in known if ref.key == "kaplan2020scaling")
    assert kaplan.known_labels["theme"][0] == set() and len(kaplan.known_labels["theme"][1]) == 15


class Constant(Classifier):
    """Knows nothing: the same score for every label (a member worse than the bare library)."""

    name = "const"
    trainable = True

    def predict(self, items):
        sets = [s for s in self.taxonomy.target_sets]
        return [Prediction(i.work_id, {s: {label: 0.5 for label in self.taxonomy.ids(s)} for s in sets})
                for i in items]


def test_the_ensemble_takes_the_bare_library_and_is_it_where_it_is_best_out_of_fold(seeded, monkeypatch):
    from litmine.classify import ensemble as ensemble_module
    from litmine.classify.bare import Bare

    assert [m.name for m in get_method(PLACEMENT, "ensemble", env()).members] == ["zeroshot", "supervised", "bare"]
    real = ensemble_module.member
    monkeypatch.setattr(ensemble_module, "member",
                        lambda role, name, e, **p: Constant(e, **p) if name == "const" else real(role, name, e, **p))
    ens = get_method(PLACEMENT, "ensemble", env(), members="const,bare", folds=2, step=0.25)
    taxonomy = load_taxonomy(seeded)
    examples = [ex for ex in load_examples(seeded, MODEL) if ex.item.vector is not None]
    ens.fit(taxonomy, examples)
    for label_set in taxonomy.target_sets:  # the bare library wins out of fold: it alone decides
        assert ens.weights[label_set] == {"const": 0.0, "bare": 1.0}
    bare = Bare(env())
    bare.fit(taxonomy, examples)
    items = [ex.item for ex in load_examples(seeded, MODEL)[:20]]
    for mine, theirs in zip(ens.classify(items), bare.classify(items)):
        for label_set in (taxonomy.placement, taxonomy.themes):
            scored = theirs.scores[label_set]  # a theme bare cannot learn (no positive) is left to the others
            assert {k: mine.scores[label_set][k] for k in scored} == pytest.approx(scored, abs=1e-4)
        for label_set in (taxonomy.placement, *taxonomy.derived):
            best = max(mine.scores[label_set], key=mine.scores[label_set].get)
            assert best == max(theirs.scores[label_set], key=theirs.scores[label_set].get)
    classify_works(seeded, ens, limit=3)
    with seeded.connect() as con:
        params = json.loads(con.execute("SELECT params FROM label_assignments WHERE source = 'ensemble' LIMIT 1").fetchone()[0])
    assert set(params["members"]) == {"const", "bare"} and params["weights"][taxonomy.placement]["bare"] == 1.0


def test_the_scope_ensemble_takes_the_bare_library_with_weights_learnt_out_of_fold(seeded):
    from litmine.classify.scope import load_context, load_scope_examples

    ens = get_method(SCOPE, "ensemble", env(), folds=2, step=0.25)
    assert [m.name for m in ens.members] == ["supervised", "zeroshot", "bare", "tuned"]
    ens.fit(load_context(seeded), load_scope_examples(seeded, MODEL))
    assert set(ens.weights) == {"supervised", "zeroshot", "bare", "tuned"}
    assert sum(ens.weights.values()) == pytest.approx(1.0)
    assert ens.params()["weights"] == pytest.approx(ens.weights)
    items = [ex.item for ex in load_scope_examples(seeded, MODEL)[:10]]
    alone = [m for m in ens.members if ens.weights[m.name] == 1.0]
    if alone:  # one member won out of fold: the ensemble scores as that member (its threshold stays its own:
        # the out-of-fold one for the target recall, not the member's)
        assert [s.probability for s in ens.score(items)] == pytest.approx([s.probability for s in alone[0].score(items)])
    assert 0.0 <= ens.threshold <= 1.0 and ens.params()["target_recall"] == 0.95


def test_classify_trains_on_the_judged_candidates_as_the_evaluation_harness_does(seeded):
    """Production = evaluated: `litmine classify` fits a classifier on the survey's works and the judged
    in-scope candidates' subsections, each candidate the same example the harness trains on."""
    from litmine.classify import load_placement_examples
    from litmine.classify.base import training_digest
    from litmine.evaluation import harness

    taxonomy = load_taxonomy(seeded)
    examples = [ex for ex in load_placement_examples(seeded, MODEL, taxonomy) if ex.item.vector is not None]
    judged = {ex.item.work_id: ex for ex in examples if ex.sources == {"screening"}}
    assert len(judged) >= 10
    sup = get_method(PLACEMENT, "supervised", env())
    classify_works(seeded, sup, limit=1)
    assert sup.training == training_digest(examples)
    assert sup.params()["chosen"]["survey_weight"] in (1.0, 0.3)  # chosen on inner folds of the judged ones
    records = harness.load_records(seeded, MODEL)
    placed = [i for i in np.flatnonzero(records.candidate) if records.placement_example(i, taxonomy.placement)]
    assert placed and {records.ids[i] for i in placed} <= set(judged)
    for i in placed:
        theirs, mine = records.placement_example(i, taxonomy.placement), judged[records.ids[i]]
        assert (mine.positives, mine.complete, mine.sources, mine.primary) == (
            theirs.positives, theirs.complete, theirs.sources, theirs.primary)
    llm = get_method(PLACEMENT, "llm", env())
    assert not llm.reads_judged  # its few-shot examples stay the survey's and reviewers' works


def test_the_ensemble_places_with_its_best_member_on_the_judged_candidates_out_of_fold(seeded):
    from litmine.classify import load_placement_examples

    taxonomy = load_taxonomy(seeded)
    examples = [ex for ex in load_placement_examples(seeded, MODEL, taxonomy) if ex.item.vector is not None]
    ens = get_method(PLACEMENT, "ensemble", env(), members="zeroshot,supervised", step=0.5)
    ens.fit(taxonomy, examples)
    weights = ens.weights[taxonomy.placement]
    assert sorted(weights.values()) == [0.0, 1.0]  # a mix must beat the best member by judged_margin (1: never)
