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
