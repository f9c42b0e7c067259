"""The scope decision: every work screened in or out, with provenance; the LLM's question built
from the seed's scope statement; reviewers' decisions retrain the next screen."""

from __future__ import annotations

import json

import pytest
from conftest import hashing_env

from litmine.classify import PLACEMENT, SCOPE, ClassifierEnv, WorkItem, get_method
from litmine.classify.scope import SCHEMA, screen_all, screen_works
from litmine.errors import ClassifierError


def test_every_work_gets_a_scope_row_per_method_with_provenance_and_is_not_redone(seeded):
    env = hashing_env()
    counts = screen_all(seeded, env, ["supervised", "zeroshot", "ensemble"], run_id="run-1")
    with seeded.connect(read_only=True) as con:
        titled = con.execute("SELECT count(*) FROM works WHERE title <> ''").fetchone()[0]
        rows = con.execute(
            "SELECT source, count(*), count(DISTINCT work_id), bool_and(score BETWEEN 0 AND 1), "
            "bool_and(run_id = 'run-1' AND content_hash IS NOT NULL AND source_version IS NOT NULL "
            "AND params IS NOT NULL) FROM label_assignments WHERE label_set = 'scope' AND source LIKE 'scope-%' "
            "GROUP BY 1 ORDER BY 1").fetchall()
        title_only = con.execute(
            "SELECT count(*) FROM label_assignments a JOIN works w USING (work_id) WHERE a.source = 'scope-ensemble' "
            "AND a.status = 'title-only' AND w.abstract IS NULL").fetchone()[0]
        decided = dict(con.execute("SELECT decided_by, count(*) FROM scope_decisions GROUP BY 1").fetchall())
    assert counts.new == titled
    assert rows == [(f"scope-{m}", titled, titled, True, True) for m in ("ensemble", "supervised", "zeroshot")]
    assert title_only > 0  # works known by their title alone are screened on it, and flagged
    assert decided["screening"] == 180 and decided["survey"] > 200 and decided["scope-ensemble"] > 0
    again = screen_works(seeded, get_method(SCOPE, "supervised", env))
    assert (again.new, again.updated, again.unchanged) == (0, 0, titled)


def test_a_reviewer_scope_decision_retrains_the_next_screen(seeded):
    env = hashing_env()
    screen_works(seeded, get_method(SCOPE, "supervised", env))
    with seeded.connect(read_only=True) as con:
        (work_id,) = con.execute("SELECT work_id FROM scope_decisions WHERE decided_by = 'scope-supervised' "
                                 "ORDER BY work_id LIMIT 1").fetchone()
        (before,) = con.execute("SELECT DISTINCT source_version FROM label_assignments "
                                "WHERE source = 'scope-supervised'").fetchone()
    with seeded.transaction() as con:
        con.execute("INSERT INTO label_assignments (work_id, label_set, label_id, source, assigned, status) "
                    "VALUES (?, 'scope', 'in', 'human', true, 'accept')", [work_id])
    counts = screen_works(seeded, get_method(SCOPE, "supervised", env))
    with seeded.connect(read_only=True) as con:
        after = {v for (v,) in con.execute("SELECT DISTINCT source_version FROM latest_labels "
                                           "WHERE source = 'scope-supervised'").fetchall()}
        decision = con.execute("SELECT decision, decided_by FROM scope_decisions WHERE work_id = ?", [work_id]).fetchone()
    assert before not in after and counts.updated > 0
    assert decision == ("in", "human")


def test_the_llm_is_asked_the_seeds_scope_question_in_a_schema(seeded, monkeypatch):
    from litmine.llm import LLMClient
    from litmine.llm.fake import FakeBackend

    FakeBackend.reset()
    FakeBackend.answers.extend([
        json.dumps({"decision": "in", "confidence": "high", "reason": "probes a network's activations"}),
        json.dumps({"decision": "maybe", "confidence": "high", "reason": "?"}),
        json.dumps({"decision": "perhaps", "confidence": "high", "reason": "?"}),
    ])
    env = ClassifierEnv(make_llm=lambda: LLMClient(FakeBackend("scope-test")))
    method = get_method(SCOPE, "llm", env)
    from litmine.classify.scope import load_context

    method.fit(load_context(seeded), [])
    scores = method.score([WorkItem(1, "Probing a transformer", "h1"), WorkItem(2, "Another paper", "h2")])
    sent = FakeBackend.requests[0]
    assert sent["schema"] == SCHEMA
    assert "Inner interpretability of deep neural networks" in sent["messages"][0]["content"]
    assert "input-feature attribution" in sent["messages"][0]["content"]  # what the seed excludes
    assert (scores[0].probability, scores[0].rationale) == (0.95, "probes a network's activations")
    assert scores[1].probability is None and "not one of" in str(scores[1].error)  # asked twice, refused
    FakeBackend.reset()


def test_an_unknown_scope_method_lists_the_available_ones():
    with pytest.raises(ClassifierError, match=r"unknown scope method 'magic': choose from ensemble, llm, supervised, tuned, zeroshot"):
        get_method(SCOPE, "magic")


def test_placement_follows_scope_and_the_digest_lists_out_of_scope_works_apart(seeded):
    from datetime import datetime

    from litmine.classify import classify_works
    from litmine.review.digest import build_digest, render_markdown

    env = hashing_env()
    screen_works(seeded, get_method(SCOPE, "supervised", env))
    counts = classify_works(seeded, get_method(PLACEMENT, "zeroshot", env))
    with seeded.connect(read_only=True) as con:
        out = {w for (w,) in con.execute("SELECT work_id FROM scope_decisions WHERE decision = 'out'").fetchall()}
        placed = {w for (w,) in con.execute("SELECT DISTINCT work_id FROM label_assignments "
                                            "WHERE source = 'zeroshot'").fetchall()}
    assert out and not out & placed  # out-of-scope works are kept, never placed by a classifier
    assert f"{len(out)} works out of the survey's scope, not placed" in counts.notes
    digest = build_digest(seeded, since=datetime(2000, 1, 1))
    # the digest lists new works only (never the survey's references nor its screening candidates,
    # which are all the seeded works): out-of-scope ones apart, never placed
    assert {w["work_id"] for w in digest.out_of_scope} <= out
    assert not out & {w["work_id"] for g in digest.taxonomy for w in g.works}
    assert not out & {w["work_id"] for w in digest.unplaced}
    listed = len(digest.out_of_scope)
    assert f"## Out of the survey's scope ({listed})" in render_markdown(digest, [])


@pytest.mark.parametrize("order", ["likely", "uncertain"])
def test_the_screening_queue_order_is_a_setting(seeded, settings, order):
    import dataclasses

    from litmine.review import decisions as review

    screen_works(seeded, get_method(SCOPE, "supervised", hashing_env()))
    items = review.queue_items(dataclasses.replace(settings, screening_order=order), "screening")
    scores = [i.score for i in items]
    assert len(items) == 21  # the borderline and disputed candidates: no one decided their scope
    key = (lambda p: -p) if order == "likely" else (lambda p: abs(p - 0.5))
    assert [key(p) for p in scores] == sorted(key(p) for p in scores)


def test_a_scope_decision_on_an_unknown_work_is_refused_with_its_id(seeded, settings):
    from litmine.review import decisions as review
    from litmine.errors import ReviewError

    with pytest.raises(ReviewError, match=r"no such work.*work_id=999999"):
        review.record_decision(settings, 999999, "scope", "in", "accept")


def test_the_coverage_threshold_keeps_a_new_positive_with_the_target_probability():
    import numpy as np

    from litmine.classify.scope import coverage_threshold, recall_threshold

    p = np.linspace(0, 1, 100)
    y = p >= 0.5  # 50 positives
    # floor(51 * 0.05) = 2: the second-lowest positive; keeping 95% of these 50 keeps the third-lowest
    assert coverage_threshold(p, y, 0.95) == pytest.approx(sorted(p[y])[1])
    assert recall_threshold(p, y, 0.95) == pytest.approx(sorted(p[y])[2])
    assert coverage_threshold(p[:60], y[:60], 0.95) < min(p[:60][y[:60]])  # 10 positives: below every one
    assert coverage_threshold(p, np.zeros(100, bool), 0.95) == 0.5
