"""The survey seed: its load, idempotence, and errors naming file, line and field."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from litmine.config import load_settings
from litmine.errors import SeedError
from litmine.survey.load import load_survey, read_seed

SEED = load_settings(env={}).seed_dir


def test_seed_reads_the_whole_survey():
    seed = read_seed(SEED)
    assert len(seed.references) == 327
    sets = {s.id: s for s in seed.label_sets}
    assert [label.id for label in sets["part"].labels] == ["2", "3", "4", "5"]
    assert len(sets["subsection"].labels) == 21
    assert {label.kind for label in sets["subsection"].labels} == {"intrinsic", "post hoc", "hazard"}
    assert len(sets["theme"].labels) == 15
    assert Counter(r.label_status for r in seed.references) == {"silver-agree": 273, "silver-disagree": 45, "verified": 9}


def test_load_stores_works_taxonomy_themes_and_labels_by_status(store):
    counts = load_survey(store, SEED)
    assert (counts.new, counts.updated, counts.unchanged, counts.failed) == (327, 0, 0, 0)
    with store.connect(read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        assert q("SELECT count(*) FROM works") == [(327 + 201,)]  # the references and the screening candidates
        assert q("SELECT count(*) FROM survey_references") == [(327,)]
        assert q("SELECT label_set, count(*) FROM labels GROUP BY 1 ORDER BY 1") == [
            ("part", 4), ("scope", 1), ("section", 3), ("subsection", 21), ("theme", 15)]
        assert q("SELECT label_status, count(*) FROM survey_references GROUP BY 1 ORDER BY 1") == [
            ("silver-agree", 273), ("silver-disagree", 45), ("verified", 9)]
        # every reference with a section has survey labels; the 19 without have none
        assert q("SELECT count(DISTINCT key) FROM survey_labels") == [(327 - 19,)]
        # a subsection's part follows from it: 2.x -> part 2
        assert q("""SELECT count(*) FROM latest_labels s JOIN labels l
                    ON l.label_set = 'subsection' AND l.label_id = s.label_id
                    WHERE s.label_set = 'subsection' AND s.assigned AND NOT EXISTS (
                      SELECT 1 FROM latest_labels p WHERE p.work_id = s.work_id AND p.label_set = 'part'
                      AND p.label_id = l.parent_id AND p.assigned)""") == [(0,)]
        # provenance: source, status, version, who
        assert q("""SELECT DISTINCT source, source_version IS NOT NULL, created_by IS NOT NULL
                    FROM label_assignments ORDER BY 1""") == [("screening", True, True), ("survey", True, True)]
        # the seed's 10 theme examples are works its theme labels already speak for: the label file's word wins
        assert q("SELECT count(*) FROM label_assignments WHERE label_set = 'theme' AND status = 'example'") == [(0,)]
        # the seed's theme labels: agreed themes positive, themes neither annotator chose negative
        assert q("SELECT assigned, count(*) FROM label_assignments WHERE label_set = 'theme' AND status = 'silver-agree' "
                 "GROUP BY 1 ORDER BY 1") == [(False, 3444), (True, 253)]
        # screening candidates are keyed by their arXiv id at once; references' ids wait for resolution
        # seed arXiv ids stay unverified on the reference until resolution
        assert q("SELECT count(*) FROM works w WHERE arxiv_id IS NOT NULL AND work_id NOT IN "
                 "(SELECT work_id FROM screening_candidates)") == [(0,)]
        assert q("SELECT count(*) FROM survey_references WHERE arxiv_id IS NOT NULL") == [(251,)]


def test_the_seed_roles_are_stored_with_the_survey_for_every_reader(store):
    from litmine.classify import load_taxonomy
    from litmine.survey.load import label_roles

    load_survey(store, SEED)
    with store.connect(read_only=True) as con:
        assert label_roles(con) == {"placement": "subsection", "placement_multi_label": True,
                                    "derived": {"part": "subsection"}, "themes": "theme"}
    taxonomy = load_taxonomy(store)
    assert (taxonomy.placement, taxonomy.derived, taxonomy.themes) == ("subsection", {"part": "subsection"}, "theme")
    assert taxonomy.target_sets == ("subsection", "theme") and taxonomy.all_sets == ("part", "subsection", "theme")


def test_loading_twice_changes_nothing(store):
    load_survey(store, SEED)
    snapshot = _snapshot(store)
    again = load_survey(store, SEED)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 327)
    assert _snapshot(store) == snapshot


def test_reloading_changed_files_writes_only_the_change(store, tmp_path):
    load_survey(store, SEED)
    seed_copy = tmp_path / "seed"
    shutil.copytree(SEED, seed_copy)
    refs = seed_copy / "references.csv"
    lines = refs.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[2].startswith("2,abnar2020quantifying,") and ",5.4,silver-agree," in lines[2]
    lines[2] = lines[2].replace(",5.4,silver-agree,", ",5.6,verified,")
    refs.write_text("".join(lines), encoding="utf-8")
    before = _snapshot(store)
    counts = load_survey(store, seed_copy)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 326)
    after = _snapshot(store)
    assert after["works"] == before["works"]
    with store.connect(read_only=True) as con:
        rows = con.execute("""SELECT label_set, label_id, assigned, status FROM latest_labels l
                              JOIN survey_references r USING (work_id)
                              WHERE r.key = 'abnar2020quantifying' AND label_set <> 'theme' ORDER BY 1, 2""").fetchall()
    assert rows == [("part", "5", True, "verified"), ("subsection", "5.4", False, "verified"),
                    ("subsection", "5.6", True, "verified")]


def _snapshot(store):
    with store.connect(read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ["works", "survey_references", "labels", "label_sets", "label_assignments", "work_sources"]}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["references.csv"].replace("abnar2020quantifying,Quantifying Attention Flow in Transformers,"
                                               "Samira Abnar; Willem Zuidema,2020",
                                               "abnar2020quantifying,Quantifying Attention Flow in Transformers,"
                                               "Samira Abnar; Willem Zuidema,twenty"),
         r"field 'year' must be an integer, got 'twenty' \(file=.*references.csv, line=3\)"),
        (lambda d: d["references.csv"].replace(",5.4,silver-agree,", ",9.9,silver-agree,", 1),
         r"field 'sections' names unknown label\(s\) 9.9 \(file=.*references.csv, line=3\)"),
        (lambda d: d["references.csv"].replace(",silver-agree,", ",gold,", 1),
         r"field 'label_status' must be one of .*got 'gold' \(file=.*references.csv, line=2\)"),
        (lambda d: d["references.csv"].replace("ref,key,", "ref,cle,", 1),
         r"missing column\(s\) key \(file=.*references.csv, line=1\)"),
        (lambda d: d["survey.json"].replace('"format"', '"format" "', 1),
         r"invalid JSON: .*\(file=.*survey.json, line=2\)"),
        (lambda d: d["survey.json"].replace('"name": "Weights"', '"nom": "Weights"', 1),
         r"missing field 'name' in label_sets\[0\]\.labels\[0\] \(file=.*survey.json\)"),
    ],
)
def test_malformed_seed_names_file_line_and_field(tmp_path, edit, message):
    seed_copy = tmp_path / "seed"
    shutil.copytree(SEED, seed_copy)
    files = {name: (seed_copy / name).read_text(encoding="utf-8") for name in ["survey.json", "references.csv"]}
    edited = edit(files)
    target = "survey.json" if edited.lstrip().startswith("{") else "references.csv"
    assert edited != files[target], "the edit did not apply"
    (seed_copy / target).write_text(edited, encoding="utf-8")
    with pytest.raises(SeedError, match=message):
        read_seed(seed_copy)


def test_missing_seed_folder_is_named(tmp_path):
    with pytest.raises(SeedError, match=r"survey seed not found: expected survey.json .*file=.*nowhere/survey.json"):
        read_seed(tmp_path / "nowhere")


def test_seed_format_describes_any_survey(tmp_path, store):
    """A second, tiny survey loads through the same code: nothing survey-specific is in Python."""
    seed_dir = tmp_path / "tiny"
    seed_dir.mkdir()
    (seed_dir / "survey.json").write_text(json.dumps({
        "format": "litmine-survey/1", "id": "tiny", "title": "A tiny survey",
        "scope": {"statement": "Topic A", "in_scope_label_sets": ["topic"]},
        "label_sets": [
            {"id": "area", "role": "derived", "labels": [{"id": "A", "name": "Area A"}]},
            {"id": "topic", "role": "placement", "parent_set": "area",
             "labels": [{"id": "A1", "parent": "A", "name": "Topic A1"}]},
        ],
        "references": {"file": "refs.csv", "sections_label_sets": ["topic"]},
    }), encoding="utf-8")
    (seed_dir / "refs.csv").write_text(
        "ref,key,title,authors,year,venue,arxiv_id,doi,metadata_confidence,sections,label_status\n"
        "1,k1,Some work,A. Author,2024,,2401.00001,,high,A1,verified\n", encoding="utf-8")
    counts = load_survey(store, seed_dir)
    assert counts.new == 1
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT label_set, label_id FROM latest_labels ORDER BY 1").fetchall() == [
            ("area", "A"), ("topic", "A1")]
