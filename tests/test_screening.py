"""The seed's scope statement and screening candidates: validation, load, and fetch from arXiv."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from litmine.cli import main
from litmine.config import load_settings
from litmine.errors import SeedError
from litmine.survey.load import load_survey, read_seed

SEED = load_settings(env={}).seed_dir


def _copy_seed(tmp_path):
    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    return seed


def test_the_seed_carries_its_scope_statement_and_screening_judgements():
    seed = read_seed(SEED)
    assert seed.scope.statement.startswith("Inner interpretability of deep neural networks")
    assert "SHAP" in seed.scope.excludes
    assert seed.scope.in_scope_label_sets == ["subsection"]
    scopes = {}
    for row in seed.screening:
        scopes[row.scope] = scopes.get(row.scope, 0) + 1
    assert scopes == {"in": 33, "out": 147, "borderline": 15, "": 6}


def test_a_seed_without_a_scope_statement_is_refused_naming_the_field(tmp_path):
    seed = _copy_seed(tmp_path)
    doc = json.loads((seed / "survey.json").read_text(encoding="utf-8"))
    del doc["scope"]
    (seed / "survey.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SeedError, match=r"^missing field 'scope' in the survey: add .* \(file=.*survey.json\)$"):
        read_seed(seed)
    doc["scope"] = {"statement": "  "}
    (seed / "survey.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SeedError, match=r"field 'statement' in scope is empty"):
        read_seed(seed)


def test_a_bad_screening_row_names_its_line_and_field(tmp_path):
    seed = _copy_seed(tmp_path)
    path = seed / "screening.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace(",in,", ",maybe,", 1)
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SeedError, match=r"field 'scope' must be in, out, borderline or empty, got 'maybe' "
                                        r"\(file=.*screening.csv, line=4\)"):
        read_seed(seed)


def test_screening_candidates_load_as_works_with_training_labels_only_where_clear(store):
    counts = load_survey(store, SEED)
    assert "screening candidates: 201 new, 0 updated, 0 unchanged" in counts.notes
    with store.connect(read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        assert q("SELECT count(*), count(DISTINCT work_id) FROM screening_candidates") == [(201, 201)]
        assert q("SELECT count(*) FROM works w JOIN screening_candidates c USING (work_id) "
                 "WHERE w.arxiv_id = c.arxiv_id AND w.title = ''") == [(201,)]  # titles come from arXiv
        assert q("SELECT assigned, status, count(*) FROM latest_labels WHERE source = 'screening' "
                 "AND label_set = 'scope' GROUP BY ALL ORDER BY ALL") == [
            (False, "silver-agree", 147), (True, "silver-agree", 33)]
        # borderline and disputed candidates are kept, with no training label
        assert q("SELECT coalesce(c.scope, 'disputed'), count(*) FROM screening_candidates c "
                 "LEFT JOIN latest_labels l ON l.work_id = c.work_id AND l.source = 'screening' "
                 "WHERE l.work_id IS NULL GROUP BY 1 ORDER BY 1") == [("borderline", 15), ("disputed", 6)]
        assert q("SELECT count(*) FROM latest_labels WHERE source = 'screening' AND label_set = 'subsection'") == [(31,)]
        assert q("SELECT description LIKE 'Inner interpretability%Not in scope: Methods that only%' "
                 "FROM labels WHERE label_set = 'scope' AND label_id = 'in'") == [(True,)]
    again = load_survey(store, SEED)
    assert (again.new, again.updated) == (0, 0)


def test_fetch_survey_gives_the_candidates_their_arxiv_title_and_abstract(replay_server, data_dir):
    runner = CliRunner()
    assert runner.invoke(main, ["survey", "load"]).exit_code == 0
    first = runner.invoke(main, ["fetch", "survey"])
    assert first.exit_code == 0, first.output
    assert "201 screening candidates fetched" in first.output

    from litmine.store import Store

    with Store(load_settings().database).connect(read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM screening_candidates c JOIN works w USING (work_id) "
            "WHERE w.metadata_source = 'arxiv' AND w.title <> '' AND w.abstract IS NOT NULL").fetchone() == (201,)
    second = runner.invoke(main, ["fetch", "survey"])
    assert "screening" not in second.output and second.exit_code == 0


# -- evaluation and the screening simulation ---------------------------------------------------------


def test_simulation_figures_follow_their_definitions():
    from litmine.evaluation.scope import Simulation

    # 20 candidates, 4 in scope, found at positions 1, 2, 5 and 10
    relevant = [i in (0, 1, 4, 9) for i in range(20)]
    sim = Simulation(list(range(20)), relevant, 1)
    assert sim.recall_at(0.1) == 0.5  # 2 screened, 2 of 4 found
    assert sim.recall_at(0.2) == 0.5
    assert sim.wss95 == pytest.approx((20 - 10) / 20 - 0.05)  # 95% of 4 needs all 4: 10 screened


def test_the_simulation_asks_for_the_likely_in_scope_candidates_first(monkeypatch):
    from litmine.classify.base import WorkItem
    from litmine.classify.scope import ScopeExample
    from litmine.evaluation import harness
    from litmine.evaluation.scope import rank_pool

    def example(i, text, inside):
        return ScopeExample(WorkItem(i, text, str(i), None, None, False), inside, "survey")

    inside = ["neurons and circuits inside the network", "probing latent representations of neurons",
              "circuits of attention heads", "probing features of neurons in circuits"]
    outside = ["crop yield forecasting with weather data", "traffic forecasting with weather sensors",
               "weather sensors on farms", "crop data for traffic forecasting"]
    prior = [example(i, f"{text} {i}", True) for i, text in enumerate(inside * 3)] + \
            [example(100 + i, f"{text} {i}", False) for i, text in enumerate(outside * 3)]
    pool = [example(200 + i, text, y) for i, (text, y) in enumerate(
        [("weather forecasting for farms", False), ("circuits of neurons in a transformer", True),
         ("sensor data for traffic", False), ("probing neurons and circuits", True), ("farm yield data", False)])]
    fits = []
    real_fit = harness.fit
    monkeypatch.setattr(harness, "fit", lambda role, spec, env, data, examples: fits.append(
        {ex.item.work_id for ex in examples}) or real_fit(role, spec, env, data, examples))
    order = rank_pool(prior, pool, batch=1)
    assert sorted(order) == list(range(5))
    assert set(order[:2]) == {1, 3}
    # each step is one fold of the harness: trained on the prior and the labels revealed so far only
    assert [len(f) for f in fits] == [24 + k for k in range(5)]
    assert all(not f & {200 + i for i in order[k:]} for k, f in enumerate(fits))
    uncertain = rank_pool(prior, pool, most_uncertain=True, batch=2)
    assert sorted(uncertain) == list(range(5))


def test_scope_is_evaluated_out_of_fold_per_stratum_with_the_bare_library_beside(seeded):
    from conftest import hashing_env

    from litmine.evaluation.scope import evaluate_scope, format_scope_report

    report = evaluate_scope(seeded, hashing_env(), ["supervised"], folds=3, batch=20, run_id="eval-1")
    rows = {(f.method, f.stratum): f for f in report.figures}
    assert set(rows) == {("supervised", "silver-agree"), ("supervised", "borderline"), ("supervised", "disputed"),
                         ("bare", "silver-agree"), ("bare", "borderline"), ("bare", "disputed")}
    agree = rows[("supervised", "silver-agree")]
    assert (agree.n, agree.positives) == (180, 33) and 0 <= agree.f1 <= 1 and 0 < agree.average_precision <= 1
    assert rows[("supervised", "borderline")].n == 15 and rows[("supervised", "disputed")].n == 6
    sim = report.simulation
    assert len(sim.order) == 180 and sum(sim.relevant) == 33 and -0.05 <= sim.wss95 <= 0.95
    lines = format_scope_report(report)
    assert lines[0].startswith("scope (out of fold")
    assert any(line.startswith("screening simulation") for line in lines)
    assert any(line.startswith("scope below the bare row") for line in lines[-2:])
    with seeded.connect(read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM evaluations WHERE run_id = 'eval-1' AND label_set = 'scope' "
                             "AND metric = 'wss95'").fetchone()[0]
    assert stored == 1


def test_one_id_arxiv_does_not_answer_fails_alone_never_its_batch(replay_server, data_dir, monkeypatch):
    """A batch answered with nothing is asked again in halves: only the id that never answers fails."""
    from litmine.store import Store

    monkeypatch.setenv("LITMINE_ARXIV_RETRIES", "0")
    runner = CliRunner()
    assert runner.invoke(main, ["survey", "load"]).exit_code == 0
    with Store(load_settings().database).connect(read_only=True) as con:
        (silent,) = con.execute("SELECT min(arxiv_id) FROM screening_candidates").fetchone()
    replay_server.inject("empty", match=silent, times=100)
    first = runner.invoke(main, ["fetch", "survey"])
    assert "200 screening candidates fetched" in first.output, first.output
    with Store(load_settings().database).connect(read_only=True) as con:
        failed = con.execute("SELECT item FROM failures WHERE stage = 'fetch-survey' AND resolved_at IS NULL").fetchall()
        stored = con.execute("SELECT count(*) FROM screening_candidates c JOIN works w USING (work_id) "
                             "WHERE w.metadata_source = 'arxiv'").fetchone()[0]
    assert stored == 200 and [item.split(":", 1)[1] for (item,) in failed] == [silent]
    replay_server.faults.clear()
    again = runner.invoke(main, ["fetch", "survey"])
    assert "1 screening candidates fetched" in again.output, again.output
