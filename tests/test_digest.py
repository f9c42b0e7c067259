"""`litmine digest`: new works by taxonomy node and theme, Markdown and HTML, with plots."""

from __future__ import annotations

import re
import struct
from datetime import timedelta

from click.testing import CliRunner

from litmine.cli import main
from litmine.store import utcnow
from test_review import NEW_WORKS, build_review_db


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def screen_new_works(store, new_ids):
    """Scope labels as `litmine screen` writes them: the first new work clearly in, the second in by
    0.05 over the ensemble's threshold, the third out by the ensemble though supervised says in."""
    from litmine.store import ml as ml_store

    rows = []
    for work_id, (ensemble, supervised) in zip(new_ids, [(0.9, 0.85), (0.55, 0.7), (0.2, 0.6)]):
        for source, p in (("scope-ensemble", ensemble), ("scope-supervised", supervised)):
            rows.append({"work_id": work_id, "label_set": "scope", "label_id": "in", "source": source,
                         "source_version": "1", "params": {"threshold": 0.5}, "score": p, "assigned": p >= 0.5})
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM labels WHERE label_set = 'scope' AND label_id = 'in'").fetchall():
            con.execute("INSERT INTO labels (label_set, label_id, name, position) VALUES ('scope', 'in', 'in scope', 0)")
        ml_store.write_assignments(con, rows)


def test_digest_lists_in_scope_works_by_subsection_the_borderline_and_counts_the_rest(store, settings):
    built = build_review_db(store, settings.seed_dir)
    first, second, third = built["new_work_ids"]
    screen_new_works(store, built["new_work_ids"])
    since = utcnow() - timedelta(minutes=5)
    with store.transaction() as con:  # the survey works count as old; the three arXiv works are new
        con.execute("UPDATE works SET created_at = created_at - INTERVAL 30 DAY WHERE metadata_source <> 'arxiv'")
    result = CliRunner().invoke(main, ["digest", "--since", f"{since:%Y-%m-%d %H:%M}"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"digest: 3 works since {since:%Y-%m-%d}"
    md_path = settings.digest_dir / f"{since:%Y-%m-%d}_{utcnow():%Y-%m-%d}" / "digest.md"
    assert lines[1] == f"markdown: {md_path}"
    assert lines[2] == f"html: {md_path.with_suffix('.html')}"
    md = md_path.read_text()
    assert md.startswith("# litmine digest: 2 new works in the survey's scope\n")
    assert ": 3; in the survey's scope 2, out of it 1, not yet screened 0." in md
    listed = md[md.index("## New in-scope works by subsection"):md.index("## Borderline")]
    for arxiv_id, title, _ in NEW_WORKS[:2]:  # in scope: under a subsection, with its link and confidence
        assert f"- {title} (2026), [arXiv:{arxiv_id}](https://arxiv.org/abs/{arxiv_id}) — by " in listed
    assert NEW_WORKS[2][1] not in listed  # out of scope: counted, not listed
    assert "in scope 0.90" in listed and "in scope 0.55" in listed
    sections = re.findall(r"^### (\d\.\d) .*\((\d+)\)$", md, flags=re.M)
    assert sum(int(n) for _, n in sections) == 2
    assert "| | not placed | 0 |" in md
    assert "by supervised 0.80" in md or "by zeroshot 0.80" in md
    # Borderline: the two scope calls near the threshold or split, then the work the classifiers place apart.
    borderline = md[md.index("## Borderline: to review first (3)"):md.index("## By theme")].splitlines()
    items = [line for line in borderline if line.startswith("- ")]
    assert items[0].startswith(f"- {NEW_WORKS[1][1]}, [arXiv:{NEW_WORKS[1][0]}]")
    assert items[0].endswith("scope: in by scope-ensemble at 0.550, threshold 0.500")
    assert items[1].startswith(f"- {NEW_WORKS[2][1]}, ")
    assert items[1].endswith("scope: out by scope-ensemble at 0.200, threshold 0.500; scope-supervised says in (0.60)")
    assert items[2].startswith(f"- {NEW_WORKS[0][1]}, ") and "placement: supervised places it in " in items[2]
    # Out of scope: the count and the query that lists them, which really does.
    assert "## Out of the survey's scope (1)" in md
    [query] = re.findall(r'^    litmine query "(.*)"$', md, flags=re.M)
    with store.connect(read_only=True) as con:
        assert [r[0] for r in con.execute(query).fetchall()] == [third]
    listed_out = CliRunner().invoke(main, ["query", "--format", "csv", query])
    assert listed_out.exit_code == 0 and NEW_WORKS[2][1] in listed_out.output
    plots = sorted(p.name for p in (md_path.parent / "plots").iterdir())
    assert plots == ["works_by_listing_date.png", "works_by_subsection.png", "works_by_theme.png"]
    for name in plots:
        assert f"](plots/{name})" in md
        width, height = _png_size(md_path.parent / "plots" / name)
        assert width >= 400 and height >= 200
    html = md_path.with_suffix(".html").read_text()
    assert html.startswith("<!doctype html>")
    assert '<img alt="works by theme" src="plots/works_by_theme.png"' in html
    assert "<table>" in html and NEW_WORKS[0][1] in html and NEW_WORKS[2][1] in html  # the latter in the query


def test_unscreened_works_are_counted_with_their_query(store, settings):
    from litmine.review.digest import build_digest, render_markdown

    build_review_db(store, settings.seed_dir)
    since = utcnow() - timedelta(minutes=5)
    with store.transaction() as con:
        con.execute("UPDATE works SET created_at = created_at - INTERVAL 30 DAY WHERE metadata_source <> 'arxiv'")
    digest = build_digest(store, since)
    assert (digest.count, digest.in_scope, len(digest.unscreened)) == (3, 0, 3)
    md = render_markdown(digest, [])
    assert "## Not yet screened (3)" in md and "`litmine screen` decides them" in md
    assert all(title not in md for _, title, _ in NEW_WORKS)


def test_a_human_decision_moves_a_work_in_the_digest(store, settings):
    from litmine.review import decisions as review
    from litmine.review.digest import build_digest

    built = build_review_db(store, settings.seed_dir)
    screen_new_works(store, built["new_work_ids"])
    since = utcnow() - timedelta(minutes=5)
    before = build_digest(store, since)
    work_id = built["new_work_ids"][0]
    placed = [g.label_id for g in before.taxonomy if any(w["work_id"] == work_id for w in g.works)]
    assert placed
    target = next(g.label_id for g in before.taxonomy if g.label_id not in placed)
    review.record_decision(settings, work_id, "subsection", target, "accept")
    after = build_digest(store, since)
    now_in = [g.label_id for g in after.taxonomy if any(w["work_id"] == work_id for w in g.works)]
    assert target in now_in
    assert [w["source"] for g in after.taxonomy for w in g.works if w["work_id"] == work_id and g.label_id == target] \
        == ["human"]


def test_digest_needs_a_date(settings):
    result = CliRunner().invoke(main, ["digest", "--since", "last week"])
    assert result.exit_code == 2
    assert "Invalid value for '--since'" in result.output


def _add_arxiv_works(store, works):
    from litmine.store.works import WorkRecord, upsert_work

    with store.transaction() as con:
        return [upsert_work(con, WorkRecord(title=t, metadata_source="arxiv", arxiv_id=a, year=2026,
                                            abstract=f"{t}. We study interpretability."))[0] for a, t in works]


def test_each_digest_starts_where_the_last_ended_and_reports_what_flipped(store, settings):
    """Night 1 lists its three new works (never the survey's references, never seed placeholders);
    night 2 lists only its own, ranked, and says which earlier works flipped and why."""
    from litmine.review import decisions as review
    from litmine.review.digest import write_digest
    from litmine.store import ml as ml_store

    built = build_review_db(store, settings.seed_dir)
    first, second, third = built["new_work_ids"]
    screen_new_works(store, built["new_work_ids"])
    one = write_digest(store, settings)
    md1 = one.markdown.read_text()
    with store.connect(read_only=True) as con:
        listed1 = {w for (w,) in con.execute("SELECT work_id FROM digest_states").fetchall()}
        placeholders = con.execute("SELECT count(*) FROM works WHERE metadata_source = 'seed'").fetchone()[0]
    assert placeholders > 0 and listed1 == {first, second, third}
    assert "(uncertain)" not in md1 and md1.index("## Papers to read first (2)") < md1.index("![")
    read = md1[md1.index("## Papers to read first"):md1.index("![")]
    assert read.index(NEW_WORKS[0][1]) < read.index(NEW_WORKS[1][1])  # 0.90 before 0.55
    assert "in scope very likely, 0.90" in read and "in scope uncertain, leaning in, 0.55" in read

    new4, new5 = _add_arxiv_works(store, [("2601.00004", "Circuit discovery at scale"),
                                          ("2601.00005", "Concept bottlenecks revisited")])
    with store.transaction() as con:
        ml_store.write_assignments(con, [
            {"work_id": w, "label_set": "scope", "label_id": "in", "source": "scope-ensemble", "source_version": "2",
             "params": {"threshold": 0.5}, "score": p, "assigned": p >= 0.5}
            for w, p in ((new4, 0.6), (new5, 0.95), (second, 0.3))])  # the second night's retrained model
    review.record_decision(settings, first, "scope", "in", "reject", reviewer="alice")
    two = write_digest(store, settings)
    md2 = two.markdown.read_text()
    assert two.folder != one.folder and two.works == 2
    with store.connect(read_only=True) as con:
        (since2,) = con.execute("SELECT since FROM digests ORDER BY digest_id DESC LIMIT 1").fetchone()
        (until1,) = con.execute("SELECT until FROM digests ORDER BY digest_id LIMIT 1").fetchone()
    assert since2 == until1  # the watermark
    read = md2[md2.index("## Papers to read first (2)"):md2.index("![")]
    assert read.index("Concept bottlenecks revisited") < read.index("Circuit discovery at scale")
    assert all(title not in md2[:md2.index("## Changed since")] for _, title, _ in NEW_WORKS)
    changed = md2[md2.index("## Changed since the last digest (2)"):md2.index("## New in-scope works")]
    assert f"{NEW_WORKS[0][1]}" in changed and "scope in -> out: a reviewer's decision (alice)" in changed
    assert f"{NEW_WORKS[1][1]}" in changed and "scope in -> out: the scope models were retrained" in changed
    three = write_digest(store, settings)  # nothing new, nothing flipped since
    assert three.works == 0 and "## Changed since the last digest (0)" in three.markdown.read_text()


def test_a_reviewers_placement_is_credited_to_the_reviewer(store, settings):
    from litmine.review import decisions as review
    from litmine.review.digest import build_digest, render_markdown

    built = build_review_db(store, settings.seed_dir)
    screen_new_works(store, built["new_work_ids"])
    work_id = built["new_work_ids"][0]
    review.record_decision(settings, work_id, "subsection", "2.1", "accept", reviewer="bob")
    md = render_markdown(build_digest(store), [])
    arxiv_id, title, _ = NEW_WORKS[0]
    assert f"- {title} (2026), [arXiv:{arxiv_id}](https://arxiv.org/abs/{arxiv_id}) — by reviewer bob;" in md


def test_two_replayed_nights_give_two_digests_with_no_work_in_both(replay_server, tmp_path):
    """The lookback counts back from LITMINE_ARXIV_NOW, so the replay gives the same works any day."""
    from litmine.sources.arxiv import ArxivClient, fetch_new
    from litmine.config import load_settings
    from litmine.review.digest import write_digest
    from litmine.store import Store

    def night(now):
        cfg = load_settings(env={}, data_dir=tmp_path, arxiv_api_url=replay_server.api_url, arxiv_delay_seconds=0.0,
                            arxiv_page_size=50, arxiv_lookback_days=2, arxiv_now=now)
        counts = fetch_new(store, ArxivClient.from_settings(cfg), cfg)
        return counts, write_digest(store, cfg)

    store = Store(tmp_path / "litmine.duckdb")
    store.migrate()
    fetched1, one = night("2026-06-17T12:00")
    fetched2, two = night("2026-06-19T12:00")
    with store.connect(read_only=True) as con:
        seen = con.execute("SELECT digest_id, list(work_id) FROM digest_states GROUP BY digest_id "
                           "ORDER BY digest_id").fetchall()
    assert fetched1.new > 0 and fetched2.new > 0 and fetched2.unchanged > 0  # the nights overlap a day at arXiv
    assert (one.works, two.works) == (fetched1.new, fetched2.new)
    assert len(seen) == 2 and not set(seen[0][1]) & set(seen[1][1])


def test_the_first_section_is_the_papers_to_read_and_a_long_shot_says_why_it_is_in(store, settings):
    """A work in scope only because the ensemble's threshold is low (0.2 over 0.1) is called a long
    shot with its threshold, and is not among the papers to read first; that list comes first."""
    from litmine.review.digest import build_digest, render_markdown
    from litmine.store import ml as ml_store

    built = build_review_db(store, settings.seed_dir)
    first, second, third = built["new_work_ids"]
    screen_new_works(store, built["new_work_ids"])
    with store.transaction() as con:
        ml_store.write_assignments(con, [
            {"work_id": third, "label_set": "scope", "label_id": "in", "source": "scope-ensemble",
             "source_version": "2", "params": {"threshold": 0.1}, "score": 0.2, "assigned": True}])
    md = render_markdown(build_digest(store), [])
    assert re.findall(r"^## .*$", md, flags=re.M)[0] == "## Papers to read first (2)"
    read = md[md.index("## Papers to read first"):md.index("## Changed since")]
    assert NEW_WORKS[0][1] in read and NEW_WORKS[1][1] in read and NEW_WORKS[2][1] not in read
    assert "The other 1 new in-scope works (less likely in scope) are listed by subsection below." in read
    listed = md[md.index("## New in-scope works by subsection"):md.index("## Borderline")]
    assert "in scope 0.20 (a long shot, kept in so as to miss few (threshold 0.10))" in listed


def test_a_reviewer_who_confirms_the_machines_placement_is_credited_and_the_rest_goes(store, settings):
    """The reviewer accepts the subsection the classifier chose (one pass in the queue): the digest
    credits the reviewer, not the classifier, and keeps no other classifier's subsection beside it."""
    from litmine.review import decisions as review
    from litmine.review.digest import build_digest
    from litmine.store import review as db

    built = build_review_db(store, settings.seed_dir)
    screen_new_works(store, built["new_work_ids"])
    work_id = built["new_work_ids"][0]
    with store.connect(read_only=True) as con:
        [(label, source, _)] = db.best_labels(con, "subsection", [work_id])[work_id][:1]
    assert source not in ("human", "survey")
    review.record_decision(settings, work_id, "subsection", label, "accept", reviewer="bob")
    digest = build_digest(store)
    placed = [(g.label_id, w["source"], w["reviewer"]) for g in digest.taxonomy for w in g.works
              if w["work_id"] == work_id]
    assert placed == [(label, "human", "bob")]
