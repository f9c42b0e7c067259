"""Classification stage on the survey seed, with the deterministic hashing embedder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import hashing_env
from litmine.classify import classify_works, get_classifier, load_examples
from litmine.cli import main
from litmine.embed import HashingEmbedder, embed_works
from litmine.errors import ClassifierError

MODEL = "hashing:256"






env = hashing_env  # the embedder the shared `seeded` store was built with


def test_unknown_classifier_lists_the_registered_ones():
    with pytest.raises(ClassifierError) as info:
        get_classifier("nope")
    assert str(info.value) == "unknown classifier 'nope': choose from ensemble, llm, supervised, zeroshot"


def test_zeroshot_scores_every_label_with_provenance_and_skips_what_is_done(seeded):
    clf = get_classifier("zeroshot", env())
    counts = classify_works(seeded, clf, run_id="run-1")
    assert (counts.new, counts.updated, counts.unchanged, counts.failed) == (327, 0, 0, 0)
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
    assert version.startswith("1+") and model == MODEL and run_id == "run-1" and len(content_hash) == 64
    assert json.loads(params)["temperature"] == 0.03 and "@" in created_by
    again = classify_works(seeded, get_classifier("zeroshot", env()))
    assert (again.new, again.unchanged) == (0, 327) and again.notes == ["nothing new to classify"]
    with seeded.transaction() as con:
        con.execute("UPDATE works SET abstract = 'A new abstract about probing.' WHERE work_id = 1")
    embed_works(seeded, HashingEmbedder(256))
    third = classify_works(seeded, get_classifier("zeroshot", env()))
    assert (third.new, third.updated, third.unchanged) == (0, 1, 326)


def test_supervised_trains_on_trusted_labels_only_and_records_what_it_could_not_learn(seeded):
    examples = load_examples(seeded, MODEL)
    with seeded.connect() as con:
        disagree = {w for (w,) in con.execute(
            "SELECT work_id FROM survey_references WHERE label_status = 'silver-disagree'").fetchall()}
    assert examples and not {ex.item.work_id for ex in examples if ex.positives.get("subsection")} & disagree
    clf = get_classifier("supervised", env())
    counts = classify_works(seeded, clf, limit=40)
    assert counts.new == 40
    untrained = clf.params()["untrained"]
    # the seed labels examples of two themes only, with no negatives: no theme can be learnt
    assert untrained == [f"theme:{t}" for t in clf.taxonomy.ids("theme")]
    with seeded.connect() as con:
        sets = dict(con.execute("SELECT label_set, count(DISTINCT label_id) FROM label_assignments "
                                "WHERE source = 'supervised' GROUP BY 1").fetchall())
        scores = con.execute("SELECT min(score), max(score) FROM label_assignments WHERE source = 'supervised'").fetchone()
    assert sets == {"part": 4, "subsection": 21}
    assert 0.0 <= scores[0] < scores[1] <= 1.0


def test_human_labels_train_the_supervised_classifier_and_change_its_version(seeded):
    before = get_classifier("supervised", env())
    classify_works(seeded, before, limit=1)
    with seeded.transaction() as con:
        for work_id, decision in [(1, "accept"), (2, "accept"), (3, "accept"), (4, "reject"), (5, "reject"), (6, "reject")]:
            con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                        "VALUES (?, 'theme', 'circuits', 'human', ?, ?)", [work_id, decision == "accept", decision])
    after = get_classifier("supervised", env())
    classify_works(seeded, after, limit=1)
    assert "theme:circuits" not in after.params()["untrained"]
    assert after.source_version != before.source_version


def test_ensemble_averages_its_members_and_names_their_versions(seeded):
    ens = get_classifier("ensemble", env(), members="zeroshot,supervised")
    classify_works(seeded, ens, limit=5)
    zs = get_classifier("zeroshot", env())
    classify_works(seeded, zs, limit=5)
    sup = get_classifier("supervised", env())
    classify_works(seeded, sup, limit=5)
    with seeded.connect() as con:
        rows = con.execute(
            "SELECT source, score FROM label_assignments WHERE work_id = 1 AND label_set = 'subsection' "
            "AND label_id = '5.1' ORDER BY source").fetchall()
        params = json.loads(con.execute("SELECT params FROM label_assignments WHERE source = 'ensemble' LIMIT 1").fetchone()[0])
    scores = dict(rows)
    assert scores["ensemble"] == pytest.approx((scores["zeroshot"] + scores["supervised"]) / 2)
    assert params["members"] == {"zeroshot": zs.source_version, "supervised": sup.source_version}


def test_classify_without_the_survey_says_what_to_do(store):
    with pytest.raises(ClassifierError) as info:
        classify_works(store, get_classifier("zeroshot", env()))
    assert str(info.value) == ("the database has no part, subsection, theme labels: load the survey first "
                               "(`litmine survey load`)")


def test_classify_command_and_the_disagreements_view(seeded):
    runner = CliRunner()
    out = runner.invoke(main, ["classify", "-m", "zeroshot", "-m", "supervised"], env={"LITMINE_EMBED_MODEL": MODEL})
    assert out.exit_code == 0, out.output
    assert out.output == ("classify zeroshot: 327 new, 0 updated, 0 unchanged, 0 failed\n"
                          "classify supervised: 327 new, 0 updated, 0 unchanged, 0 failed\n")
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
    clf = get_classifier("supervised", env())
    fits = []
    real_fit = type(clf).fit
    monkeypatch.setattr(type(clf), "fit", lambda self, *a: (fits.append(1), real_fit(self, *a))[1])
    first = classify_works(seeded, clf)
    again = classify_works(seeded, clf)
    assert len(fits) == 1 and first.new == 327 and again.unchanged == 327
    version = clf.source_version
    with seeded.transaction() as con:  # a reviewer's decision changes the training data
        con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                    "VALUES (1, 'subsection', '2.2', 'human', true, 'accept')")
    third = classify_works(seeded, clf)
    assert len(fits) == 2 and clf.source_version != version and third.updated == 327
