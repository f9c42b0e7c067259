"""Reference lists in the common styles: one real PDF of each style of ../shared/fixtures/pdfs/styles
(tuning set), against the counts and entries read from them by hand (tests/reference_truth.json).
The full measurement, held-out papers included, is ``bench/extract_quality.py --styles``."""

from __future__ import annotations

import json
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from litmine.pdf.text import read_pdf
from litmine.pdf.references import normalize_title

STYLES = (Path(__file__).resolve().parents[2] / "shared").resolve() / "fixtures" / "pdfs" / "styles"
TRUTH = {p["file"]: p for p in json.loads((Path(__file__).parent / "reference_truth.json").read_text())["papers"]}
# One short paper per style: numbered [n], natbib full names, AAAI "Surname, I.; ... 2016.", APA "(2016).",
# biblatex alphabetic labels.
PICKED = ["2508.18098.pdf", "1907.05550.pdf", "2405.00492.pdf", "2512.03048.pdf", "2312.02119.pdf"]


def test_the_truth_keeps_fifteen_papers_aside_and_covers_every_style():
    papers = list(TRUTH.values())
    assert len(papers) == 50 and sum(p["split"] == "heldout" for p in papers) == 15
    for split in ("tuning", "heldout"):
        assert {p["style"] for p in papers if p["split"] == split} == {"numbered", "natbib", "acl-aaai", "other"}
    assert all(TRUTH[f]["split"] == "tuning" for f in PICKED)


@pytest.mark.parametrize("file", PICKED)
def test_count_within_a_tenth_and_hand_read_entries_parsed(file):
    truth = TRUTH[file]
    got = read_pdf(STYLES / file, 300)
    assert got.status == "ok", got.reason
    assert abs(len(got.citations) - truth["count"]) <= 0.1 * truth["count"], (len(got.citations), truth["count"])
    for entry in truth["entries"]:
        key = " ".join(normalize_title(entry["title"]).split()[:6])
        found = [c for c in got.citations if key in normalize_title(c.raw)]
        assert found, f"no entry holds {entry['title']!r}"
        c = next((c for c in found if c.year == entry["year"]), found[0])  # a work cited twice (preprint, paper)
        assert c.year == entry["year"], (c.raw, c.year)
        assert normalize_title(entry["first_author"]) in normalize_title((c.authors or [""])[0]), (c.raw, c.authors)
        assert SequenceMatcher(None, normalize_title(c.title), normalize_title(entry["title"])).ratio() >= 0.9, c.title


def test_a_figure_page_inside_a_real_list_and_its_run_in_heading(tmp_path):
    # AAAI prints "References" run into the first entries (one block for mupdf); a page of figures
    # placed by LaTeX among the entries neither ends the list nor adds entries.
    import pymupdf

    doc = pymupdf.open(STYLES / "2405.00492.pdf")  # tuning set; its list spans pages 9-10
    page = doc.new_page(9, width=doc[8].rect.width, height=doc[8].rect.height)
    page.draw_rect(pymupdf.Rect(100, 100, 500, 400))
    for i, label in enumerate(["0.0", "0.2", "0.4", "Training steps", "Ours (full)"]):
        page.insert_text((90, 390 - 60 * i), label, fontsize=7)
    page.insert_textbox(pymupdf.Rect(100, 430, 500, 480), "Figure 7: Accuracy during training for each model, "
                                                          "averaged over five seeds.", fontsize=9)
    doc.save(tmp_path / "figure.pdf")
    got = read_pdf(tmp_path / "figure.pdf", 300)
    assert "References" in got.headings
    assert len(got.citations) == TRUTH["2405.00492.pdf"]["count"]
    assert not any("Training steps" in c.raw for c in got.citations)


def test_a_list_ends_where_the_appendix_repeats_the_papers_title():
    got = read_pdf(STYLES / "2409.17504.pdf", 300)  # tuning set: "<title> (Appendix)" opens the page after the list
    assert len(got.references) == TRUTH["2409.17504.pdf"]["count"]
    assert got.references[-1].endswith("arXiv:2310.01405, 2023.")
