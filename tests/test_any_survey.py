"""Any survey's label sets: a second, small survey (tests/data/surveys/ocean-plastic-monitoring: one flat
multi-label set of 14 labels, 1 to 5 per work, no themes, no derived set, its own scope statement) taken
end to end through the CLI. Nothing in the code names the Räuker survey's sets."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from litmine.cli import main
from litmine.llm.fake import FakeBackend

FIXTURE = Path(__file__).parent / "data" / "surveys" / "ocean-plastic-monitoring"
TITLE = "Watching the Tide: A Survey of Ocean Plastic Monitoring Methods"


@pytest.fixture
def cli(data_dir, monkeypatch):
    monkeypatch.setenv("LITMINE_SURVEY_DIR", str(FIXTURE))
    monkeypatch.setenv("LITMINE_EMBED_MODEL", "hashing:256")
    monkeypatch.setenv("LITMINE_LLM_BACKEND", "fake")
    monkeypatch.setenv("LITMINE_LLM_MODEL", "m")
    FakeBackend.reset()
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield invoke
    FakeBackend.reset()


def _q(settings, sql: str, params=None) -> list[tuple]:
    from litmine.store import Store

    with Store(settings.database).connect(read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.slow  # every stage of another survey, end to end
def test_a_flat_multi_label_survey_end_to_end(cli, settings, data_dir):
    assert cli("survey", "load").output == "survey: 42 new, 0 updated, 0 unchanged, 0 failed\n"
    roles = json.loads(_q(settings, "SELECT meta FROM surveys")[0][0])["roles"]
    assert roles == {"placement": "method", "placement_multi_label": True, "derived": {}, "themes": None}
    assert _q(settings, "SELECT label_set, count(*) FROM labels GROUP BY 1 ORDER BY 1") == [("method", 14), ("scope", 1)]
    cli("embed", "--no-fulltext")

    cli("classify", "-m", "zeroshot", "-m", "supervised", "-m", "llm", "-m", "ensemble")
    per_method = _q(settings, "SELECT source, label_set, count(DISTINCT work_id) FROM label_assignments "
                              "WHERE source NOT IN ('survey') GROUP BY 1, 2 ORDER BY 1, 2")
    assert per_method == [("ensemble", "method", 42), ("llm", "method", 42), ("supervised", "method", 42),
                          ("zeroshot", "method", 42)]
    # zero-shot gives a work more than one label where its scores earn it (the placement is multi-label)
    per_work = dict(_q(settings, "SELECT work_id, count(*) FROM label_assignments WHERE source = 'zeroshot' "
                                 "AND assigned GROUP BY 1"))
    assert len(per_work) == 42 and max(per_work.values()) > 1
    # the LLM's prompt is this survey's: its title, scope and labels, never the Räuker survey's
    system = FakeBackend.requests[0]["messages"][0]["content"]
    assert TITLE in system and "plastic debris in oceans" in system
    assert "\nMethod labels (choose 1 to 3, best first):\n" in system
    assert ("\n- satellite: Satellite remote sensing: Detecting floating plastic from orbit with multispectral "
            "satellite imagery such as Sentinel-2.\n") in system
    assert "Transparent AI" not in system and "subsection" not in system.lower()
    schema = FakeBackend.requests[0]["schema"]["properties"]
    assert set(schema) == {"rationale", "method"} and len(schema["method"]["items"]["enum"]) == 14

    report = cli("evaluate", "-m", "zeroshot", "-m", "supervised", "--folds", "3").output
    assert "-- method: macro F1 / top-1" in report and "\n-- method\n" in report
    for absent in ("part", "subsection", "theme"):
        assert f"-- {absent}" not in report
    assert {r[0] for r in _q(settings, "SELECT DISTINCT label_set FROM evaluations")} <= {"method", "*"}

    out = cli("digest", "--since", date.today().isoformat()).output
    folder = next((data_dir / "digests").iterdir())
    markdown = (folder / "digest.md").read_text(encoding="utf-8")
    # The survey's own 42 references are never new work; the digest is laid out by its placement set.
    assert out.startswith("digest: 0 works since") and "## New in-scope works by method" in markdown
    assert all(name in markdown for (name,) in _q(settings, "SELECT name FROM labels WHERE label_set = 'method'"))

    from litmine.review.decisions import card, queue_items

    queue = queue_items(settings, "disagreements")  # the placement set's, by default
    assert queue and {item.label_set for item in queue} == {"method"}
    first = card(settings, queue[0])
    assert first.themes == set() and first.label_name in {name for _, name in _q(settings, "SELECT label_id, name FROM labels")}


def test_commands_name_the_sets_the_database_holds_and_the_ones_they_need(cli, settings, store):
    with store.transaction() as con:  # a survey loaded with no roles: another tool's, or an old seed's
        con.execute("INSERT INTO label_sets (label_set, survey_id, description, multi_label) "
                    "VALUES ('facet', NULL, '', true)")
        con.execute("INSERT INTO labels (label_set, label_id, name, position) VALUES ('facet', 'a', 'A', 0)")
    result = cli("classify", "-m", "zeroshot", ok=False)
    assert result.exit_code != 0
    assert result.output.strip().endswith(
        "the database holds label sets facet; `litmine classify` needs the placement set declared by the survey "
        "seed: load it with `litmine survey load`")
    result = cli("evaluate", "-m", "zeroshot", ok=False)
    assert "`litmine evaluate` needs the placement set declared by the survey seed" in result.output


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["label_sets"][0].pop("role"),
         r'0 label sets have "role": "placement": give it to exactly one'),
        (lambda d: d["label_sets"][0].update(role="primary"),
         r"label set 'method' has role 'primary': choose placement, derived, themes, or none"),
        (lambda d: d["label_sets"].append({"id": "topic", "role": "themes", "labels": []}) or
         d["label_sets"].append({"id": "topic2", "role": "themes", "labels": []}),
         r'2 label sets have "role": "themes" \(topic, topic2\): give it to one at most'),
        (lambda d: d["label_sets"].append({"id": "area", "role": "derived", "labels": []}),
         r"label set 'area' has role 'derived' but is not the parent_set of the placement set 'method'"),
        (lambda d: d["references"].update(derived_label_sets={"area": "method"}),
         r"field 'derived_label_sets' in references is replaced by \"role\": \"derived\""),
    ],
)
def test_seed_roles_are_checked(tmp_path, edit, message):
    from litmine.errors import SeedError
    from litmine.survey.seed import read_seed

    seed = tmp_path / "seed"
    shutil.copytree(FIXTURE, seed)
    doc = json.loads((seed / "survey.json").read_text(encoding="utf-8"))
    edit(doc)
    (seed / "survey.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SeedError, match=message):
        read_seed(seed)
