"""Survey references resolved to arXiv: by id, by scored title search, or not linked with a reason."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import arxiv
import pytest
from click.testing import CliRunner

from litmine.cli import main
from litmine.errors import SourceUnreachable
from litmine.ids import normalize_title
from litmine.sources.resolve import match_score, title_similarity
from litmine.store.acquire import SurveyRef


def _result(title, year, first_author):
    return arxiv.Result(entry_id="http://arxiv.org/abs/1810.03292v1", title=title,
                        published=datetime(year, 10, 8, tzinfo=timezone.utc), updated=datetime(year, 10, 8, tzinfo=timezone.utc),
                        authors=[arxiv.Result.Author(first_author)])


def test_title_normalisation_and_similarity():
    assert normalize_title("Sanity Checks for {S}aliency Maps!") == "sanity checks for s aliency maps"
    assert normalize_title("Réseaux  de $\\alpha$-neurones") == "reseaux de neurones"
    assert title_similarity("Fooling LIME and SHAP", "Fooling LIME and SHAP: Adversarial Attacks on Post hoc Explanation Methods") == 0.9
    assert title_similarity("Sanity checks for saliency maps", "Sanity Checks for Saliency Maps") == 1.0
    assert title_similarity("Attention is not explanation", "Deep residual learning") < 0.5


def test_match_score_weighs_title_year_and_first_author():
    ref = SurveyRef("s", "k", None, "Sanity Checks for Saliency Maps", ["Julius Adebayo", "Justin Gilmer"], 2018,
                    None, None, None)
    assert match_score(ref, _result("Sanity Checks for Saliency Maps", 2018, "Julius Adebayo")) == 1.0
    assert match_score(ref, _result("Sanity Checks for Saliency Maps", 2021, "Someone Else")) == pytest.approx(0.7)
    no_meta = SurveyRef("s", "k", None, "Sanity Checks for Saliency Maps", None, None, None, None, None)
    assert match_score(no_meta, _result("Sanity Checks for Saliency Maps", 2030, "X")) == 1.0


def test_fetch_survey_end_to_end_then_nothing_changes(replay_server, data_dir):
    runner = CliRunner()
    assert runner.invoke(main, ["survey", "load"]).exit_code == 0
    first = runner.invoke(main, ["fetch", "survey"])
    assert first.exit_code == 0, first.output
    assert first.output == (
        "fetch-survey: 453 new, 75 updated, 0 unchanged, 0 failed "
        "(251 by-id, 1 by-title, 48 not-found, 27 not-on-arxiv; 201 screening candidates fetched)\n"
    )
    second = runner.invoke(main, ["fetch", "survey"])
    assert second.output == ("fetch-survey: 0 new, 0 updated, 528 unchanged, 0 failed "
                             "(nothing to resolve: every reference is already resolved)\n")

    from litmine.config import load_settings
    from litmine.store import Store

    served = {json.loads(line)["arxiv_id"] for line in (replay_server.shared / "survey/abstracts.jsonl").open()}
    with Store(load_settings().database).connect(read_only=True) as con:
        linked = {r[0] for r in con.execute(
            "SELECT w.arxiv_id FROM survey_references r JOIN works w USING (work_id) "
            "WHERE r.match_status IN ('by-id', 'by-title')").fetchall()}
        stored = con.execute("SELECT count(*) FROM works WHERE metadata_source = 'arxiv' AND abstract IS NOT NULL").fetchone()
        engstrom = con.execute("SELECT match_status, match_reason FROM survey_references WHERE key = 'engstrom2019adversarial'").fetchone()
        unlinked = con.execute(
            "SELECT count(*) FROM survey_references r JOIN works w USING (work_id) "
            "WHERE r.match_status IN ('not-found', 'not-on-arxiv') AND w.metadata_source = 'seed' "
            "AND r.match_reason IS NOT NULL AND (r.doi IS NULL OR w.doi = r.doi)").fetchone()
        sources = con.execute("SELECT count(*) FROM work_sources WHERE source = 'survey'").fetchone()
        twice = con.execute("""SELECT count(*) FROM (SELECT 1 FROM label_assignments
                               GROUP BY work_id, label_set, label_id, source, source_version, assigned, status
                               HAVING count(*) > 1)""").fetchone()
        merged = con.execute("SELECT count(*) FROM (SELECT work_id FROM survey_references GROUP BY 1 "
                             "HAVING count(*) > 1)").fetchone()
    assert merged[0] >= 1 and twice == (0,)  # two references, one work: its survey labels are not doubled
    assert served <= linked  # every reference whose arXiv record is served is linked to it
    assert stored == (len(linked) + 201,)  # and the seed's 201 screening candidates
    assert engstrom[0] == "by-id" and "match score 0.5" in engstrom[1]  # retitled on arXiv; year and author agree
    assert unlinked == (75,)  # not on arXiv: seed metadata and DOI kept, the reason recorded
    assert sources == (327,)


def test_an_unreachable_arxiv_is_asked_once_not_per_reference(surveyed):
    """No network: one request, then every reference stays unresolved with the reason."""
    import socket

    from litmine.sources.arxiv import ArxivClient
    from litmine.sources.resolve import fetch_survey

    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = surveyed  # the survey seed loaded (a copy of the session's)
    client = ArxivClient(f"http://127.0.0.1:{port}/api/query", delay_seconds=0, retries=2, timeout=2)
    with pytest.raises(SourceUnreachable, match="^arXiv cannot be reached: the connection was refused"):
        fetch_survey(store, client)
    assert client.requests_made == 1  # a refused connection is not a flake: no retries, no title search
    with store.connect(read_only=True) as con:
        reasons = con.execute("SELECT DISTINCT reason FROM failures WHERE item <> 'id batch'").fetchall()
        pending = con.execute("SELECT count(*) FROM survey_references WHERE match_status = 'pending'").fetchone()[0]
    assert reasons == [("not asked: arXiv failed earlier in this run: arXiv cannot be reached: the connection was "
                        "refused; check the network, or LITMINE_ARXIV_API_URL",)]
    assert pending == 327


# -- arXiv's empty replies (issue 13: D1) ---------------------------------------------------------


def _resolve_with(server, store, retries=2, **inject):
    """``fetch_survey`` on ``store`` (the survey seed loaded) against ``server`` with ``inject``'s fault."""
    from litmine.sources.arxiv import ArxivClient
    from litmine.sources.resolve import fetch_survey

    if inject:
        server.inject("empty", **inject)
    counts = fetch_survey(store, ArxivClient(server.api_url, delay_seconds=0, retries=retries, timeout=30))
    with store.connect(read_only=True) as con:
        statuses = dict(con.execute("SELECT match_status, count(*) FROM survey_references GROUP BY 1").fetchall())
        reasons = [r for (r,) in con.execute("SELECT reason FROM failures WHERE item = 'id batch'").fetchall()]
    return counts, statuses, reasons


def test_every_second_reply_empty_resolves_as_a_clean_run(replay_server, surveyed):
    counts, statuses, _ = _resolve_with(replay_server, surveyed, times=10_000, every=2)
    assert statuses == {"by-id": 251, "by-title": 1, "not-found": 48, "not-on-arxiv": 27}
    assert counts.failed == 0
    empties = [h for h in replay_server.log if h.source == "fault:empty-page"]
    assert empties and len(empties) * 2 >= len(replay_server.log) - 1


def test_an_id_batch_answered_empty_past_its_retries_fails_and_is_never_not_found(replay_server, surveyed):
    counts, statuses, reasons = _resolve_with(replay_server, surveyed, match="search_query=&id_list=", times=3)
    assert statuses == {"pending": 327}  # unresolved, so the next run asks again
    assert counts.failed == 327
    assert reasons == [r for r in reasons if r.startswith(
        "arXiv did not answer after 3 tries: an empty page where results were expected")] and len(reasons) == 1
