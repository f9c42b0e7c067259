"""Review library: disagreements with their evidence, decisions that become human labels, figures.

``build_review_db`` fills a store the way the pipeline would (survey seed, hashing embeddings,
two classifiers' labels, an evaluation) through the library's own store functions; the notebook
and digest tests use it too. Run as a script to fill the configured database.
"""

from __future__ import annotations


import pytest

from litmine.store import utcnow

# Survey works (by citation key) given classifier labels, and three works new from "arXiv".
NEW_WORKS = [
    ("2601.00001", "Sparse autoencoders find circuits in transformer weights", 2026),
    ("2601.00002", "Probing latent representations of vision models", 2026),
    ("2601.00003", "A benchmark of feature attribution methods", 2026),
]


def build_review_db(store, seed_dir, n_survey_works: int = 24) -> dict:
    """Survey seed + embeddings + labels of two classifiers that disagree + an evaluation."""
    from litmine.embed import HashingEmbedder, embed_works
    from litmine.store import ml as ml_store
    from litmine.store.works import WorkRecord, upsert_work
    from litmine.survey.load import load_survey

    load_survey(store, seed_dir)
    with store.transaction() as con:
        new_ids = [upsert_work(con, WorkRecord(title=t, metadata_source="arxiv", arxiv_id=a, year=y,
                                               abstract=f"{t}. We study interpretability."))[0]
                   for a, t, y in NEW_WORKS]
    embed_works(store, HashingEmbedder(64), fulltext=False)
    with store.connect(read_only=True) as con:
        parts = [p for (p,) in con.execute("SELECT label_id FROM labels WHERE label_set = 'part' ORDER BY position").fetchall()]
        subs = [s for (s,) in con.execute(
            "SELECT label_id FROM labels WHERE label_set = 'subsection' ORDER BY position").fetchall()]
        surveyed = con.execute(
            "SELECT work_id, list(label_id ORDER BY label_id) FROM latest_labels WHERE source = 'survey' "
            "AND label_set = 'subsection' AND assigned GROUP BY work_id ORDER BY work_id LIMIT ?",
            [n_survey_works]).fetchall()
    rows = []
    for i, (work_id, labels) in enumerate(surveyed + [(w, []) for w in new_ids]):
        truth = labels[0] if labels else subs[i % len(subs)]
        other = subs[(subs.index(truth) + 1) % len(subs)]
        for method, version, chosen in (("zeroshot", "zs-1", truth if i % 3 else other), ("supervised", "sv-1", truth)):
            for label in (truth, other):
                yes = label == chosen
                rows.append({"work_id": work_id, "label_set": "subsection", "label_id": label, "source": method,
                             "source_version": version, "score": 0.8 if yes else 0.3, "assigned": yes,
                             "rationale": f"{method} thinks {label}" if method == "zeroshot" else None})
            part = parts[int(chosen.split(".")[0]) - 2] if chosen.split(".")[0].isdigit() else parts[0]
            rows.append({"work_id": work_id, "label_set": "part", "label_id": part, "source": method,
                         "source_version": version, "score": 0.7, "assigned": True})
    with store.transaction() as con:
        ml_store.write_assignments(con, rows)
        ml_store.write_evaluation(con, "eval-1", [
            ("zeroshot", "part", "all", "*", "macro_f1", 0.5),
            ("supervised", "part", "all", "*", "macro_f1", 0.9),
        ], {"folds": 5})
    return {"new_work_ids": new_ids, "surveyed": [w for w, _ in surveyed]}


@pytest.fixture
def review_db(review_copy):
    """``build_review_db``'s database: a copy of the one built once per session (tests/conftest.py)."""
    return review_copy


def test_disagreements_come_with_their_evidence(review_db, settings):
    from litmine.review import decisions as review

    found = review.list_disagreements(settings, label_set="subsection", limit=200)
    assert found, "the two classifiers disagree on every third work"
    assert [d.priority for d in found] == sorted((d.priority for d in found), reverse=True)
    top = found[0]
    ev = review.evidence(settings, top)
    assert ev.work["work_id"] == top.work_id and ev.work["title"] == top.title
    sources = {m["source"] for m in ev.methods}
    assert {"zeroshot", "supervised"} <= sources
    zs = [m for m in ev.methods if m["source"] == "zeroshot"]
    assert all(m["rationale"] == f"zeroshot thinks {m['label_id']}" for m in zs)
    assert all(m["score"] in (0.8, 0.3) for m in zs)
    if top.work_id in review_db["surveyed"]:
        assert ev.survey is not None and ev.survey["label_status"] in ("verified", "silver-agree", "silver-disagree")
    assert 1 <= len(ev.nearest) <= 5
    assert all(n["work_id"] != top.work_id and n["labels"] for n in ev.nearest)
    assert [n["similarity"] for n in ev.nearest] == sorted((n["similarity"] for n in ev.nearest), reverse=True)
    text = str(ev)
    assert top.title in text and "nearest labelled works:" in text
    assert "<table>" in ev._repr_html_()


def test_a_decision_becomes_a_human_label_and_leaves_the_list(review_db, settings, store):
    from litmine.review import decisions as review

    top = review.list_disagreements(settings, label_set="subsection")[0]
    d = review.record_decision(settings, top.work_id, top.label_set, top.label_id, "reject", note="not about weights")
    assert d.imported is True
    assert str(d) == f"reject subsection {top.label_id} for work {top.work_id}: recorded as a human label"
    with store.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT assigned, status, rationale, source_version FROM latest_labels WHERE source = 'human' "
            "AND work_id = ? AND label_set = 'subsection' AND label_id = ?", [top.work_id, top.label_id]).fetchall()
    assert rows == [(False, "reject", "not about weights", "review")]
    remaining = review.list_disagreements(settings, label_set="subsection", limit=500)
    assert (top.work_id, top.label_id) not in {(x.work_id, x.label_id) for x in remaining}
    # The next run's import finds nothing new: a decision never doubles.
    again = review.import_decisions(store, settings)
    assert (again.new, again.unchanged) == (0, 1)
    assert review.evidence(settings, top).decisions[0]["decision"] == "reject"


def test_figures_data(review_db, settings):
    from litmine.review import decisions as review

    dist = review.label_distribution_by_year(settings, "part")
    assert dist and all(year > 1900 for per in dist.values() for year in per)
    agreement = {r["method"]: r for r in review.method_agreement(settings, "subsection")}
    assert set(agreement) == {"zeroshot", "supervised"}
    assert agreement["supervised"]["agreement"] > agreement["zeroshot"]["agreement"]
    cm = review.latest_confusion(settings, "part")
    assert cm["method"] == "supervised"  # best macro F1 of the latest evaluation
    assert len(cm["matrix"]) == len(cm["labels"]) == 4
    assert sum(map(sum, cm["matrix"])) >= 1
    for fig in (review.plot_label_distribution(settings), review.plot_method_agreement(settings),
                review.plot_confusion(settings)):
        assert fig.axes


def test_import_refuses_a_journal_entry_naming_an_unknown_label(review_db, settings, store):
    import json

    from litmine.review import decisions as review

    path = review.journal_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"decision_id": "d-1", "work_id": review_db["new_work_ids"][0], "label_set": "subsection",
                                "label_id": "9.9", "decision": "accept", "decided_at": utcnow().isoformat()}) + "\n"
                    + '{"decision_id": "torn', encoding="utf-8")
    counts = review.import_decisions(store, settings)
    assert (counts.new, counts.failed) == (0, 1)
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT stage, item, reason FROM failures").fetchall() == [
            ("decisions", "d-1", f"no label '9.9' in label set 'subsection': see labels() "
                                 f"(work_id={review_db['new_work_ids'][0]})")]


if __name__ == "__main__":
    from litmine.config import load_settings
    from litmine.store import Store

    cfg = load_settings()
    st = Store(cfg.database)
    st.migrate()
    print(build_review_db(st, cfg.seed_dir))


def test_litmine_classify_imports_decisions_waiting_in_the_journal(data_dir, monkeypatch):
    """A decision journaled while the database was busy becomes a human label at the next classify."""
    import json as _json

    from click.testing import CliRunner

    from litmine.cli import main
    from litmine.config import load_settings
    from litmine.review.decisions import journal_path
    from litmine.store import Store

    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:64")
    runner = CliRunner()
    assert runner.invoke(main, ["survey", "load"]).exit_code == 0
    assert runner.invoke(main, ["embed"]).exit_code == 0
    cfg = load_settings()
    path = journal_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_json.dumps({"decision_id": "d-1", "work_id": 1, "label_set": "subsection", "label_id": "2.1",
                                 "decision": "accept", "note": "waited", "reviewer": "tester",
                                 "decided_at": "2026-11-24T10:00:00"}) + "\n")
    result = runner.invoke(main, ["classify", "-m", "zeroshot", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("decisions: 1 new, 0 updated, 0 unchanged, 0 failed")
    with Store(cfg.database).connect(read_only=True) as con:
        assert con.execute("SELECT work_id, label_id, assigned, status, created_by FROM label_assignments "
                           "WHERE source = 'human'").fetchall() == [(1, "2.1", True, "accept", "tester")]


# -- the review queue widget: its buttons' callbacks, driven as a click would -------------------------


def _ensure_scope_label(store):
    """The seed loader creates label set ``scope`` (label ``in``); older seeds may lack it."""
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM labels WHERE label_set = 'scope' AND label_id = 'in'").fetchone():
            con.execute("INSERT INTO labels (label_set, label_id, name, position) VALUES ('scope', 'in', 'in scope', 0)")


def _human(store, work_id, label_set=None):
    with store.connect(read_only=True) as con:
        return con.execute("SELECT label_set, label_id, assigned FROM latest_labels WHERE source = 'human' "
                           "AND work_id = ? AND (? IS NULL OR label_set = ?) ORDER BY label_set, label_id",
                           [work_id, label_set, label_set]).fetchall()


def test_queue_widget_accept_move_theme_skip_undo(review_db, settings, store):
    from litmine.review import decisions as review
    from litmine.review.queue import ReviewQueue

    q = ReviewQueue.open(settings, "disagreements", label_set="subsection")
    first, second, third = q.session.items[:3]
    assert "Does it belong to subsection" in q.card.value and q.progress.value.startswith("<b>disagreements</b>: 0 reviewed")
    assert "zeroshot" in q.card.value and "zeroshot thinks" in q.card.value  # a bar per method, the rationale
    assert q.undo.disabled

    q.accept.click()
    assert _human(store, first.work_id, "subsection") == [("subsection", first.label_id, True)]
    assert q.session.current == second
    assert q.progress.value.startswith("<b>disagreements</b>: 1 reviewed")
    assert q.message.value == html_escape(f"accept subsection {first.label_id} for work {first.work_id}: "
                                          "recorded as a human label")

    other = next(lid for lid, _ in review.labels(settings, "subsection") if lid not in (first.label_id, second.label_id))
    q.move_to.value = other
    q.move.click()
    said = {label: assigned for _, label, assigned in _human(store, second.work_id, "subsection")}
    assert (said[second.label_id], said[other]) == (False, True)
    assert q.session.current == third

    theme = next(iter(q.themes))
    q.themes[theme].value = True  # a check-box click journals a theme decision and keeps the card
    assert _human(store, third.work_id, "theme") == [("theme", theme, True)] and q.session.current == third

    q.skip.click()
    assert q.session.position == 3 and q.message.value == "skipped"

    q.undo.click()  # the skip
    q.undo.click()  # the theme
    assert _human(store, third.work_id, "theme") == [] and q.session.current == third
    assert not q.themes[theme].value
    q.undo.click()  # the move: both its decisions
    before = [("subsection", first.label_id, True)] if first.work_id == second.work_id else []
    assert _human(store, second.work_id) == before and q.session.current == second
    journal = review.read_journal(settings)
    assert [e["decision"] for e in journal] == ["accept", "reject", "accept", "accept", "undo", "undo", "undo"]
    assert review.pending_decisions(settings) == []
    # The undone labels are undecided again: the move's pair is back among the disagreements.
    back = {(d.work_id, d.label_id) for d in review.list_disagreements(settings, "subsection", limit=500)}
    assert (second.work_id, second.label_id) in back and (first.work_id, first.label_id) not in back
    assert [d["decision"] for d in review.decisions(settings)] == ["accept"]
    # A later import of the whole journal changes nothing.
    assert review.import_decisions(store, settings).new == 0


def html_escape(text):
    import html

    return html.escape(text)


def test_queue_widget_screening_and_scope(review_db, settings, store):
    from litmine.review.queue import ReviewQueue

    _ensure_scope_label(store)
    q = ReviewQueue.open(settings, "screening")
    surveyed = set(review_db["surveyed"])
    assert q.session.items and not surveyed & {i.work_id for i in q.session.items}
    assert q.accept.disabled and q.reject.disabled and "Is it in the survey's scope?" in q.card.value
    first = q.session.current
    q.in_scope.click()
    second = q.session.current  # the queue may have reordered after the decision
    q.out_of_scope.click()
    assert _human(store, first.work_id, "scope") == [("scope", "in", True)]
    assert _human(store, second.work_id, "scope") == [("scope", "in", False)]
    assert q.session.progress()["found_in_scope"] == 1
    assert "2 reviewed" in q.progress.value
    # Screened works leave the queue the next time it opens.
    again = ReviewQueue.open(settings, "screening")
    assert {first.work_id, second.work_id}.isdisjoint({i.work_id for i in again.session.items})
    q.accept.click()  # disabled in a browser; called anyway it explains itself and records nothing
    assert q.message.value.startswith("<span") and "screening queue" in q.message.value


def test_queue_keyboard_shortcuts_click_the_same_buttons(review_db, settings, store):
    from litmine.review import decisions as review
    from litmine.review.queue import SHORTCUTS, ReviewQueue

    _ensure_scope_label(store)
    q = ReviewQueue.open(settings, "disagreements", label_set="subsection")
    first, second = q.session.items[:2]
    assert q.accept.description == "Accept (a)" and q.undo.description == "Undo (u)"
    assert q.keys.shortcuts == list(SHORTCUTS) and "a accept" in q.keys.legend and "u undo" in q.keys.legend

    def key(k):  # what the browser half sends when a key is pressed in the queue
        q.keys._handle_custom_msg({"key": k}, [])

    key("a")
    assert ("subsection", first.label_id, True) in _human(store, first.work_id, "subsection")
    assert q.session.current == second
    key("R")  # Caps Lock on: the same key
    assert ("subsection", second.label_id, False) in _human(store, second.work_id, "subsection")
    key("u")
    assert q.session.current == second
    assert ("subsection", second.label_id, False) not in _human(store, second.work_id, "subsection")
    key("s")
    assert q.message.value == "skipped"
    key("x")
    assert "no shortcut &#x27;x&#x27;: the keys are i in scope, o out of scope, a accept" in q.message.value
    assert [e["decision"] for e in review.read_journal(settings)] == ["accept", "reject", "undo"]

    screening = ReviewQueue.open(settings, "screening")
    top = screening.session.current
    screening.press("a")  # Accept is disabled in screening: nothing journaled, and it says so
    assert "Accept (a) is not available on this card" in screening.message.value
    screening.press("o")
    assert _human(store, top.work_id, "scope") == [("scope", "in", False)]
    screening.press("i")
    assert _human(store, screening.session.items[1].work_id, "scope") == [("scope", "in", True)]


def _screen_with_ensemble(store, work_ids, scores):
    from litmine.store import ml as ml_store

    _ensure_scope_label(store)
    rows = []
    for w, (ensemble, zeroshot) in zip(work_ids, scores):
        for source, p in (("scope-ensemble", ensemble), ("scope-zeroshot", zeroshot)):
            rows.append({"work_id": w, "label_set": "scope", "label_id": "in", "source": source, "source_version": "1",
                         "params": {"threshold": 0.5}, "score": p, "assigned": p >= 0.5})
    with store.transaction() as con:
        ml_store.write_assignments(con, rows)


def test_one_pass_records_scope_placement_themes_and_a_note_then_reorders(review_db, settings, store, monkeypatch):
    from litmine.review import decisions as review
    from litmine.config import load_settings
    from litmine.review.queue import ReviewQueue

    monkeypatch.setenv("LITMINE_REVIEWER", "carol")
    settings = load_settings()  # the reviewer's name from the setting
    new = review_db["new_work_ids"]
    # The ensemble orders the queue, never zero-shot: zero-shot's 0.99 for the last work changes nothing.
    _screen_with_ensemble(store, new, [(0.45, 0.1), (0.4, 0.2), (0.2, 0.99)])
    q = ReviewQueue.open(settings, "screening")
    assert [i.work_id for i in q.session.items] == new
    assert review.count_unscreened(settings) == 3 and "3 left" in q.progress.value
    c = q.session.card()
    assert c.scope_probability == 0.45 and "In scope: <b>0.45</b>" in q.card.value
    assert len(c.placements) == 2 and q.place_1.description.startswith(f"In, {c.placements[0][0]}")
    assert q.place_3.disabled  # the classifiers offer two placements for this work
    theme = next(iter(q.themes))
    assert not any(box.value for box in q.themes.values())  # unticked, whatever the machine guessed
    q.themes[theme].value = True  # collected, not recorded yet: one pass
    assert _human(store, new[0], "theme") == []
    q.note.value = "a circuits paper"
    q.press("1")
    placed = c.placements[0][0]
    assert _human(store, new[0]) == [("scope", "in", True), ("subsection", placed, True), ("theme", theme, True)]
    decided = [d for d in review.read_journal(settings) if d["work_id"] == new[0]]
    assert {d["note"] for d in decided} == {"a circuits paper"} and {d["reviewer"] for d in decided} == {"carol"}
    assert q.note.value == "" and not q.themes[theme].value
    p = q.session.progress()
    assert (p["reviewed"], p["found"], p["left"]) == (1, 1, 2) and "relevant left" in q.progress.value
    # History: change the first decision to out of scope.
    assert q.history.options and q.history.options[0][1] == 0
    q.history.value = 0
    q.change.click()
    assert q.session.current.work_id == new[0]
    q.out_of_scope.click()
    assert _human(store, new[0]) == [("scope", "in", False)]
    assert [d["decision"] for d in review.read_journal(settings)][-4:] == ["undo", "undo", "undo", "reject"]
    # A reviewer's "out" takes the work out of every placement queue.
    assert new[0] not in {i.work_id for i in review.queue_items(settings, "label", label_id=placed)}


def test_the_queue_reorders_as_you_decide_and_skips_come_back(review_db, settings, store):
    from litmine.review.queue import ReviewSession

    new = review_db["new_work_ids"]
    _screen_with_ensemble(store, new, [(0.9, 0.5), (0.5, 0.5), (0.1, 0.5)])
    calls = []

    def refit(settings, label_set, label_id, work_ids):  # the light model's answer: the last work is likeliest
        calls.append(list(work_ids))
        return {w: 0.1 + 0.8 * (w == new[2]) for w in work_ids}, 7

    import litmine.review.decisions as review_mod
    original = review_mod.refit_scores
    review_mod.refit_scores = refit
    try:
        s = ReviewSession.open(settings, "screening")
        assert [i.work_id for i in s.items] == new
        s.skip()
        assert [i.work_id for i in s.items] == new + [new[0]]  # kept: it comes back at the end
        s.decide(False)
        assert calls and [i.work_id for i in s.items[s.position:]] == [new[2], new[0]]  # reordered, skip last
        assert s.refits == 1 and "refit on 7 labelled works" in s.current.why
        assert "in-kernel refit" in s.progress()["estimate_method"]
    finally:
        review_mod.refit_scores = original


def test_a_skip_is_kept_for_the_next_session_and_an_undone_skip_is_not(review_db, settings, store):
    from litmine.review import decisions as review
    from litmine.review.queue import ReviewSession

    new = review_db["new_work_ids"]
    _screen_with_ensemble(store, new, [(0.9, 0.5), (0.5, 0.5), (0.1, 0.5)])
    s = ReviewSession.open(settings, "screening", refit_every=1000)
    assert [i.work_id for i in s.items] == new
    s.skip()
    assert review.skipped_works(settings, "screening") == {new[0]}
    again = ReviewSession.open(settings, "screening", refit_every=1000)  # a later session: the skip comes last
    assert [i.work_id for i in again.items] == [new[1], new[2], new[0]]
    assert review.skipped_works(settings, "label") == set()  # kept per queue
    again.skip()
    again.undo()  # taken back: the skip is no longer kept
    assert review.skipped_works(settings, "screening") == {new[0]}
    with open(review.skips_path(settings), "ab") as f:
        f.write(b'{"work_id": "torn')  # a line cut off by a crash orders nothing and loses nothing
    assert review.skipped_works(settings, "screening") == {new[0]}


def test_refit_scores_learn_from_decisions(review_db, settings, store):
    from litmine.review import decisions as review

    new = review_db["new_work_ids"]
    _ensure_scope_label(store)
    review.record_decision(settings, new[0], "scope", "in", "accept")
    review.record_decision(settings, new[1], "scope", "in", "reject")
    scores, examples = review.refit_scores(settings, "scope", "in", new)
    assert examples >= 2 and set(scores) == set(new) and all(0.0 <= p <= 1.0 for p in scores.values())


def test_queue_of_one_subsection_and_a_bad_queue(review_db, settings):
    from litmine.review import decisions as review
    from litmine.errors import ReviewError
    from litmine.review.queue import ReviewQueue, card_html

    label = review.list_disagreements(settings, "subsection")[0].label_id
    q = ReviewQueue.open(settings, "label", label_id=label)
    assert q.session.items and all(i.label_id == label for i in q.session.items)
    q.reject.click()
    assert q.session.progress()["reviewed"] == 1
    with pytest.raises(ReviewError, match="unknown queue 'nope': use one of disagreements, label, screening"):
        review.queue_items(settings, "nope")
    with pytest.raises(ReviewError, match="no label '9.9' in label set 'subsection'"):
        review.queue_items(settings, "subsection", label_id="9.9")
    assert "Nothing left in this queue" in card_html(None)


# -- the learning curve ------------------------------------------------------------------------------


def test_learning_curve_grows_with_decisions_and_beats_the_bare_baseline():
    import numpy as np

    from litmine.evaluation.learning import curve

    rng = np.random.default_rng(1)
    y_scope = rng.random(200) < 0.2
    X_scope = rng.normal(size=(200, 16)) + np.outer(y_scope, np.ones(16)) * 0.8
    c = curve(X_scope, y_scope, "scope", sizes=(10, 40, 160), repeats=4, seed=0)
    assert c.sizes == [10, 40, 160] and c.metric == "average_precision" and c.pool == 200
    assert all(m > b + 0.2 for m, b in zip(c.mean, c.baseline))
    assert c.mean[-1] > c.mean[0]
    y_sub = np.array([f"{2 + i % 4}.1" for i in range(200)])
    X_sub = rng.normal(size=(200, 16)) + np.eye(16)[[i % 4 for i in range(200)]] * 3
    s = curve(X_sub, y_sub, "subsection", sizes=(10, 80), repeats=3, seed=0)
    assert s.metric == "macro_f1" and s.mean[-1] > s.mean[0] and s.mean[-1] > s.baseline[-1]
    assert s.rows()[0].startswith("subsection macro_f1 n=10: ")


def test_the_learning_curve_is_a_report_of_the_harness_training_on_the_drawn_works_only(monkeypatch):
    """Each point fits the bare library through the one harness, on the drawn decisions only, and
    scores every work not drawn."""
    import numpy as np

    from litmine.evaluation import harness
    from litmine.evaluation.learning import curve

    calls = []
    real = harness.out_of_fold

    def spy(role, spec, env, data, examples, items, folds):
        calls.append((role, spec, folds))
        return real(role, spec, env, data, examples, items, folds)

    monkeypatch.setattr(harness, "out_of_fold", spy)
    rng = np.random.default_rng(2)
    y = rng.random(60) < 0.3
    curve(rng.normal(size=(60, 8)) + np.outer(y, np.ones(8)), y, "scope", sizes=(10, 20), repeats=2, seed=0)
    labels = np.array([f"{1 + i % 3}.1" for i in range(60)])
    curve(rng.normal(size=(60, 8)) + np.eye(8)[[i % 3 for i in range(60)]] * 3, labels, "subsection", sizes=(10,),
          repeats=2, seed=0)
    assert [(role, spec) for role, spec, _ in calls] == [("scope", "bare")] * 4 + [("placement", "bare")] * 2
    for _, _, [(train, test)] in calls:
        assert not set(train) & set(test) and len(train) + len(test) == 60


def test_learning_curves_from_the_database(review_db, settings):
    from litmine.evaluation import learning

    curves = learning.learning_curves(settings, sizes=(5, 10), repeats=2)
    by_task = {c.task: c for c in curves}
    assert "subsection" in by_task  # scope too where the seed carries screening judgements
    assert all(c.pool >= 12 and c.sizes and len(c.mean) == len(c.baseline) for c in curves)
    assert learning.plot(curves).axes


# -- what the taxonomy lacks ---------------------------------------------------------------------------


def test_find_gaps_reports_a_group_far_from_every_subsection():
    import numpy as np

    from litmine.review.gaps import find_gaps

    rng = np.random.default_rng(0)
    axes = np.eye(8)

    def near(axis, n, start, noise=0.1):
        return {start + i: (f"a paper on model behaviour {i}", list(axes[axis] + rng.normal(scale=noise, size=8)))
                for i in range(n)}

    placed = {**near(0, 10, 0), **near(1, 10, 100)}
    labels = {w: ("2.1" if w < 100 else "5.6") for w in placed}
    new = {**near(0, 3, 1000, noise=0.01), **near(5, 4, 2000)}  # three fit 2.1; four form a new family
    for w in range(2000, 2004):
        new[w] = (f"steering vectors: steering model behaviour by steering, paper {w}", new[w][1])
    report = find_gaps(new, placed, labels)
    assert (report.candidates, report.far) == (7, 4)
    [gap] = report.gaps
    assert gap.size == 4 and sorted(gap.work_ids) == [2000, 2001, 2002, 2003]
    assert gap.terms[0] == "steering" and "model" not in gap.terms  # the placed works' words are not distinctive
    assert gap.nearest_label in ("2.1", "5.6")
    assert str(gap).startswith("4 works, terms: ")


def test_the_digest_names_what_the_taxonomy_lacks(surveyed, settings):
    from datetime import timedelta

    from litmine.review.digest import write_digest
    from litmine.embed import HashingEmbedder, embed_works
    from litmine.store.works import WorkRecord, upsert_work

    store = surveyed  # the survey seed loaded (a copy of the session's)
    since = utcnow() - timedelta(minutes=5)
    with store.transaction() as con:
        con.execute("UPDATE works SET created_at = created_at - INTERVAL 30 DAY")
    family = ["Steering vectors steer refusal", "Contrastive steering vectors steer honesty",
              "Steering vectors steer sentiment", "Activation steering vectors steer style"]
    with store.transaction() as con:
        for i, title in enumerate(family):
            upsert_work(con, WorkRecord(title=title, metadata_source="arxiv", arxiv_id=f"2611.0000{i}", year=2026,
                                        published=utcnow(), abstract=f"{title}: steering vectors steer behaviour."))
    embed_works(store, HashingEmbedder(2048), fulltext=False)  # wide enough that unshared words stay apart
    from litmine.review import decisions as review

    with store.connect(read_only=True) as con:
        family_ids = [w for (w,) in con.execute("SELECT work_id FROM works WHERE arxiv_id LIKE '2611.0000%' "
                                                "ORDER BY arxiv_id").fetchall()]
    _ensure_scope_label(store)
    for work_id in family_ids:  # the digest looks for gaps among the works in the survey's scope
        review.record_decision(settings, work_id, "scope", "in", "accept")
    review.record_decision(settings, family_ids[0], "subsection", "2.1", "accept")  # placed: counted per month
    report = write_digest(store, settings, since)
    md = report.markdown.read_text()
    section = md[md.index("## What the taxonomy lacks"):]
    header = next(line for line in section.splitlines() if line.startswith("### Group 1: "))
    assert header.startswith("### Group 1: 4 works; ") and "steering" in header
    assert all(title in section for title in family)
    assert "](plots/works_by_subsection_per_month.png)" in md
    from litmine.review.gaps import recent_gaps  # the same groups, as the review notebook shows them

    assert [g.size for g in recent_gaps(settings, weeks=1).gaps] == [4]
    assert (report.folder / "plots" / "works_by_subsection_per_month.png").stat().st_size > 1000


def test_a_torn_last_line_is_kept_aside_and_the_next_decision_is_whole(review_db, settings, store):
    """A crash mid-write left half a line with no newline: the next decision gets a line of its own
    and is imported; the torn half is kept aside with its reason and reported, never dropped."""
    import json

    from litmine.review import decisions as review

    work = review_db["new_work_ids"][0]
    path = review.journal_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"decided_at": "2026-12-01T10:00:00", "decision": "acc', encoding="utf-8")
    decision = review.record_decision(settings, work, "subsection", review.labels(settings, "subsection")[0][0],
                                      "accept")
    assert decision.imported
    assert [e["decision_id"] for e in review.read_journal(settings)] == [decision.decision_id]
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT decision_id FROM review_decisions").fetchall() == [(decision.decision_id,)]
    (kept,) = [json.loads(line) for line in review.rejected_path(settings).read_text(encoding="utf-8").splitlines()]
    assert kept["text"] == '{"decided_at": "2026-12-01T10:00:00", "decision": "acc'
    assert kept["reason"] == "not a whole decision (cut off mid-write, or not JSON)" and kept["line"] == 1
    assert path.read_text(encoding="utf-8").count("\n") == 1  # the journal holds only readable lines now


def test_a_decision_glued_to_a_torn_line_by_an_older_litmine_is_recovered(review_db, settings, store):
    import json

    from litmine.review import decisions as review

    work = review_db["new_work_ids"][1]
    label = review.labels(settings, "subsection")[0][0]
    glued = {"decision_id": "d-glued", "work_id": work, "label_set": "subsection", "label_id": label,
             "decision": "reject", "note": None, "reviewer": "tester", "decided_at": "2026-12-01T10:00:01"}
    path = review.journal_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"decided_at": "2026-12-01T10:00:00", "deci' + json.dumps(glued) + "\n", encoding="utf-8")
    counts = review.import_decisions(store, settings)
    assert counts.new == 1
    assert counts.notes == [f"journal line 1 was unreadable (cut off mid-write; the decision written after it was "
                            f"recovered): kept in {review.rejected_path(settings)}"]
    assert [e["decision_id"] for e in review.read_journal(settings)] == ["d-glued"]


def test_a_reviewers_out_removes_the_machine_placements(review_db, settings, store):
    """Out of scope by a reviewer: no classifier's subsection or theme places the work any more (the
    digest, the figures, topics read ``best_labels``); the labels stay stored, and an undo restores them."""
    from litmine.review import decisions as review
    from litmine.store import review as db

    new = review_db["new_work_ids"]
    _screen_with_ensemble(store, new, [(0.9, 0.8)])

    def placed():
        with store.connect(read_only=True) as con:
            return db.best_labels(con, "subsection", [new[0]]).get(new[0], [])

    before = placed()
    assert before and all(source not in ("human", "survey") for _, source, _ in before)
    out = review.record_decision(settings, new[0], "scope", "in", "reject", reviewer="ada")
    assert placed() == []
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM latest_labels WHERE work_id = ? AND label_set = 'subsection' "
                           "AND source NOT IN ('human', 'survey')", [new[0]]).fetchone()[0] > 0
    review.undo_decision(settings, out)
    assert placed() == before
