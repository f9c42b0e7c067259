"""Emerging topics (litmine.review.topics): BERTopic on the seeded works' stored hashing embeddings, the
tables and view it fills, the digest's section, and a proposed label accepted, filed under by a
reviewer and learnt by the next classify run."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from click.testing import CliRunner

from conftest import hashing_env


def test_survey_date_comes_from_the_survey_data():
    from litmine.review.topics import survey_date

    assert survey_date({"meta": {"date": "2023-02-14"}, "arxiv_id": "2207.13243", "published": None}) == date(2023, 2, 14)
    assert survey_date({"meta": {}, "arxiv_id": "2207.13243", "published": datetime(2022, 7, 27, 12)}) == date(2022, 7, 27)
    assert survey_date({"meta": {}, "arxiv_id": "2207.13243", "published": None}) == date(2022, 7, 1)
    assert survey_date({"meta": {}, "arxiv_id": "hep-th/9901001", "published": None}) is None
    assert survey_date(None) is None


def test_topic_name_keeps_a_word_once():
    from litmine.review.topics import topic_name

    assert topic_name(["sparse", "sparse autoencoders", "features", "autoencoders", "saes"]) == \
        "sparse autoencoders, features, saes"


def test_no_topics_before_a_run(store):
    from litmine.review.topics import latest_topics, topics_section

    assert latest_topics(store) == (None, [])
    assert "No topics yet" in topics_section(store)


def test_topics_fill_the_tables_and_the_view(seeded, tmp_path):
    from litmine.review.topics import find_topics, topics_section

    counts = find_topics(seeded, run_id="run-a", min_topic_size=8)
    assert counts.new >= 2, counts
    with seeded.connect(read_only=True) as con:
        topics = con.execute("SELECT topic_id, size, typical, survey_date, model_version, params, name, "
                             "before_survey + after_survey FROM topics WHERE run_id = 'run-a'").fetchall()
        members = dict(con.execute("SELECT topic_id, list(work_id) FROM topic_works GROUP BY topic_id").fetchall())
        stored = con.execute("SELECT count(*) FROM work_topics WHERE run_id = 'run-a'").fetchone()[0]
        survey_works = con.execute("SELECT count(*) FROM topic_works JOIN survey_references USING (work_id)").fetchone()[0]
    assert len(topics) == counts.new
    assert sum(len(v) for v in members.values()) == stored == sum(t[1] for t in topics)
    assert survey_works > 0  # the survey's own works are clustered with the new ones
    for topic_id, size, typical, when, version, params, name, dated in topics:
        assert len(members[topic_id]) == size and name
        assert 1 <= len(typical) <= 5 and set(typical) <= set(members[topic_id])
        assert when == date(2022, 7, 1)  # the survey's arXiv id, 2207.13243: no date in the seed
        assert "bertopic" in version and '"seed": 42' in params
        assert dated <= size

    # nothing changed: the latest topics are kept, not fitted again
    again = find_topics(seeded, run_id="run-c", min_topic_size=8)
    assert (again.new, again.unchanged) == (0, counts.new)
    # the same seed, the same topics
    find_topics(seeded, run_id="run-b", force=True, min_topic_size=8)
    with seeded.connect(read_only=True) as con:
        a, b = (con.execute("SELECT list(topic_id ORDER BY work_id), list(work_id ORDER BY work_id) FROM work_topics "
                            "WHERE run_id = ?", [r]).fetchone() for r in ("run-a", "run-b"))
    assert a == b

    section = topics_section(seeded, tmp_path / "plots")
    assert section.startswith("## Emerging topics")
    assert "| topic | name |" in section or "No topic grows" in section
    assert ("plots/emerging_topics.png" in section) == (tmp_path / "plots" / "emerging_topics.png").exists()


def test_an_accepted_topic_is_a_label_the_next_classify_learns(seeded, settings):
    from litmine.classify import PLACEMENT, classify_works, get_method
    from litmine.cli import main
    from litmine.review.decisions import record_decision

    runner = CliRunner()
    result = runner.invoke(main, ["topics", "run", "--min-topic-size", "8"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("topics: ")
    listed = runner.invoke(main, ["topics", "list", "--all"])
    assert listed.exit_code == 0 and listed.output.startswith("run "), listed.output
    topic_id = int(listed.output.splitlines()[2].split()[0])  # the first topic listed

    accepted = runner.invoke(main, ["topics", "accept", str(topic_id)])
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.startswith("label new-1 ")
    again = runner.invoke(main, ["topics", "accept", str(topic_id)])
    assert again.output == accepted.output  # accepting twice adds nothing
    missing = runner.invoke(main, ["topics", "accept", "999"])
    assert missing.exit_code == 1
    assert "no such topic: pick a topic id from `litmine topics list`" in missing.output

    with seeded.connect(read_only=True) as con:
        label = con.execute("SELECT name, description, parent_id FROM labels "
                            "WHERE label_set = 'subsection' AND label_id = 'new-1'").fetchone()
        status = con.execute("SELECT status, label_id FROM topic_proposals WHERE topic_id = ?", [topic_id]).fetchall()
        # three works the survey does not place, in the topic: a reviewer files them under the new label
        reviewed = [w for (w,) in con.execute(
            "SELECT work_id FROM topic_works WHERE topic_id = ? AND work_id NOT IN (SELECT work_id FROM latest_labels "
            "WHERE source = 'survey' AND label_set = 'subsection') ORDER BY similarity DESC LIMIT 3",
            [topic_id]).fetchall()]
    assert label is not None and label[1].startswith("Works on ")
    assert status == [("accepted", "new-1")]
    if len(reviewed) < 3:  # the topic holds only survey works: file the screening candidates most like it
        with seeded.connect(read_only=True) as con:
            reviewed = [w for (w,) in con.execute(
                "SELECT work_id FROM screening_candidates WHERE work_id IS NOT NULL ORDER BY work_id LIMIT 3").fetchall()]
    for work_id in reviewed:
        assert record_decision(settings, work_id, "subsection", "new-1", "accept").imported

    # descriptions off: only the reviewer's works can teach the classifier the new label
    clf = get_method(PLACEMENT, "supervised", hashing_env(), descriptions=False)
    classify_works(seeded, clf)
    with seeded.connect(read_only=True) as con:
        scored = con.execute("SELECT count(*), max(score) FROM latest_labels WHERE source = 'supervised' "
                             "AND label_set = 'subsection' AND label_id = 'new-1'").fetchone()
    assert scored[0] > 0 and scored[1] > 0


def test_without_reviewed_works_the_new_label_is_not_learnt(seeded):
    from litmine.classify import PLACEMENT, classify_works, get_method
    from litmine.review.topics import TopicError, accept_proposal, find_topics

    find_topics(seeded, run_id="run-a", min_topic_size=8)
    with seeded.connect(read_only=True) as con:
        first, second = con.execute("SELECT topic_id FROM topics ORDER BY topic_id LIMIT 2").fetchall()
    assert accept_proposal(seeded, first[0], label_id="sae", name="Sparse autoencoders").label_id == "sae"
    with pytest.raises(TopicError, match="already exists"):
        accept_proposal(seeded, second[0], label_id="sae")
    clf = get_method(PLACEMENT, "supervised", hashing_env(), descriptions=False)
    classify_works(seeded, clf)
    with seeded.connect(read_only=True) as con:
        best = con.execute("SELECT max(score) FROM latest_labels WHERE source = 'supervised' AND label_id = 'sae'"
                           ).fetchone()[0]
    assert best in (None, 0.0)
