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


def test_digest_groups_new_works_and_renders_plots(store, settings):
    build_review_db(store, settings.seed_dir)
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
    assert md.startswith("# litmine digest: 3 new works\n")
    for arxiv_id, title, _ in NEW_WORKS:
        assert f"[arXiv:{arxiv_id}](https://arxiv.org/abs/{arxiv_id})" in md
    # Each new work sits under the subsection its most confident classifier gave it.
    sections = re.findall(r"^### (\d\.\d) .*\((\d+)\)$", md, flags=re.M)
    assert sum(int(n) for _, n in sections) == 3
    assert "| | not placed | 0 |" in md
    assert "by supervised 0.80" in md or "by zeroshot 0.80" in md
    plots = sorted(p.name for p in (md_path.parent / "plots").iterdir())
    assert plots == ["works_by_subsection.png", "works_by_theme.png", "works_per_day.png"]
    for name in plots:
        assert f"](plots/{name})" in md
        width, height = _png_size(md_path.parent / "plots" / name)
        assert width >= 400 and height >= 200
    html = md_path.with_suffix(".html").read_text()
    assert html.startswith("<!doctype html>")
    assert '<img alt="works by theme" src="plots/works_by_theme.png"' in html
    assert "<table>" in html and NEW_WORKS[0][1] in html


def test_a_human_decision_moves_a_work_in_the_digest(store, settings):
    from litmine import review
    from litmine.digest import build_digest

    built = build_review_db(store, settings.seed_dir)
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
