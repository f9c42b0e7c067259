"""Text extraction on the real and broken PDFs of ../shared/fixtures/pdfs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from litmine.pdf.extract import EXTRACTOR_VERSION, extract_documents, extract_folder
from litmine.pdf.pool import extract_many
from litmine.pdf.text import join_lines, read_pdf
from litmine.pdf.references import normalize_title
from litmine.store.works import WorkRecord, upsert_work

PDFS = (Path(__file__).resolve().parents[2] / "shared").resolve() / "fixtures" / "pdfs"  # as stored: resolved
REAL = PDFS / "real"


def real(prefix: str) -> Path:
    return next(REAL.glob(f"{prefix}*.pdf"))


# -- one PDF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(REAL.glob("*.pdf")), ids=lambda p: p.name[:20])
def test_every_real_pdf_gives_text_abstract_headings_and_references(path: Path):
    r = read_pdf(path, 300)
    assert r.status == "ok", r.reason
    assert r.arxiv_stamp and r.arxiv_stamp == path.name.split("__")[0]  # the stamp, versioned
    assert r.arxiv_stamp not in r.text  # the stamp itself is dropped from the text
    assert r.abstract and len(r.abstract) >= 150
    assert len(r.headings) >= 3
    if r.pages >= 5:  # the 2-page 1301.5088 runs its introduction into the text
        assert any("introduction" in h.lower() for h in r.headings)
    assert any(h.lower().rstrip(".:").endswith(("references", "bibliography")) for h in r.headings)


def test_mythos_abstract_headings_dehyphenation_and_references():
    r = read_pdf(real("1606.03490"), 300)
    assert r.abstract.startswith("Supervised machine learning models boast remarkable predictive capabilities.")
    assert r.headings[:4] == ["Abstract", "1. Introduction", "2. Desiderata of Interpretability Research", "2.1. Trust"]
    assert "remarkable" in r.text and "re- markable" not in r.text and "re-\nmarkable" not in r.text
    assert "Noémie" in r.text  # LaTeX's spacing accent joined to its letter
    assert 28 <= len(r.references) <= 40
    assert r.references[0].startswith("Athey, Susan and Imbens, Guido W. Machine learning methods")
    parsed = {c.arxiv_id for c in r.citations}
    assert {"1610.07524", "1511.06581"} <= parsed


def test_two_column_order_and_running_heads(tmp_path):
    r = read_pdf(real("1502.03167"), 300)
    text = r.text
    # Left column before right on page 1: the abstract comes before the introduction's text.
    assert text.index("Training Deep Neural Networks is complicated") < text.index("1 Introduction")
    # The page numbers printed in the footer are gone: no line is a bare number.
    assert not [line for line in text.splitlines() if line.strip().isdigit()]


# -- against the truth read by hand from the 28 real PDFs (tests/extraction_truth.json) ----------

TRUTH = json.loads((Path(__file__).parent / "extraction_truth.json").read_text())["papers"]


@pytest.fixture(scope="module")
def extracted():
    return {t["file"]: read_pdf(REAL / t["file"], 300) for t in TRUTH}


def test_the_truth_covers_every_real_pdf():
    assert sorted(t["file"] for t in TRUTH) == sorted(p.name for p in REAL.glob("*.pdf"))


def test_titles_are_the_largest_lines_of_page_one_joined(extracted):
    right = [t["file"] for t in TRUTH if normalize_title(extracted[t["file"]].title_guess) == normalize_title(t["title"])]
    assert len(right) >= 27, sorted(set(extracted) - set(right))
    for r in extracted.values():  # never the margin stamp, never cut to the first of its lines
        assert not r.title_guess.lower().startswith("arxiv:")
    assert extracted["2308.10248v5__activation_addition.pdf"].title_guess == (
        "STEERING LANGUAGE MODELS WITH ACTIVATION ENGINEERING")  # "EN-" and "GINEERING" in two sizes
    assert extracted["1811.10154v2__stop_explaining_black_box.pdf"].title_guess == (
        "Please Stop Explaining Black Box Models for High-Stakes Decisions")


def test_abstracts_begin_and_end_where_the_paper_says(extracted):
    def matches(t):
        text = normalize_title(extracted[t["file"]].abstract)
        return text.startswith(normalize_title(t["abstract_start"])) and \
            re.sub(r" ?\d$", "", text).endswith(normalize_title(t["abstract_end"]))

    right = [t["file"] for t in TRUTH if matches(t)]
    assert len(right) >= 26, sorted(set(extracted) - set(right))
    assert "Index Terms" not in extracted["1206.5538v3__representation_learning_review.pdf"].abstract
    assert "Equal contribution" not in extracted["2501.10120v1__pasa_llm_agent_paper_search.pdf"].abstract


def test_known_arxiv_ids_among_parsed_references():
    r = read_pdf(real("2309.08600"), 300)
    ids = {c.arxiv_id for c in r.citations}
    assert {"2304.14997", "2211.00593", "2103.15949", "2209.00626"} <= ids


def test_dehyphenation_keeps_hyphens_the_document_uses():
    vocabulary = {"interpretability", "state-of-the-art", "post-hoc"}
    assert join_lines(["we study inter-", "pretability"], vocabulary) == "we study interpretability"
    assert join_lines(["a post-", "hoc method"], vocabulary) == "a post-hoc method"
    assert join_lines(["deep learn-", "ing"], set()) == "deep learning"
    assert join_lines(["Smith-", "Jones"], set()) == "Smith- Jones"  # a capital: not a broken word


# -- bad input --------------------------------------------------------------------------------------

BROKEN = {
    "DERIVED_truncated_4KB__1606.03490v3.pdf": "damaged",
    "DERIVED_truncated_50pct__1606.03490v3.pdf": "damaged",
    "hepcrawl_dummy_text_named_pdf.pdf": "not_pdf",
    "qpdf_V4-aes.pdf": "ok",  # AES-encrypted with an empty user password: readable
    "qpdf_append-page-content-damaged.pdf": "damaged",
    "qpdf_bad-direct-root.pdf": "damaged",
    "qpdf_bad-encryption-length.pdf": "encrypted",
    "qpdf_bad-token-startxref.pdf": "ok",
    "qpdf_bad-xref-entry.pdf": "damaged",
    "qpdf_bad-xref.pdf": "damaged",
    "qpdf_bad1.pdf": "not_pdf",
    "qpdf_bad10.pdf": "damaged",
    "qpdf_bad2.pdf": "damaged",
    "qpdf_bad20.pdf": "ok",
    "qpdf_bad30.pdf": "ok",
    "qpdf_bad33.pdf": "damaged",
    "qpdf_bad40.pdf": "damaged",
    "qpdf_bad7.pdf": "damaged",
    "qpdf_broken-lzw.pdf": "damaged",
    "qpdf_damaged-inline-image.pdf": "damaged",
    "qpdf_empty.pdf": "empty",
    "qpdf_enc-R3_V2_O_master.pdf": "ok",  # owner password only: readable
    "qpdf_enc-XI-R6_V5_U_attachment_encrypted-attachments.pdf": "encrypted",
    "qpdf_enc-long-password.pdf": "encrypted",
    "qpdf_encrypted-40-bit-R3.pdf": "encrypted",
    "qpdf_encrypted-with-images.pdf": "no_text",
    "qpdf_global_damaged.pdf": "damaged",
}


def test_every_broken_file_gets_its_status_and_a_readable_reason():
    files = sorted((PDFS / "broken").glob("*"))
    assert sorted(p.name for p in files) == sorted(BROKEN)  # a new fixture needs a verdict here
    results = dict(extract_many(files, max_pages=300, timeout=30, workers=2))
    for path in files:
        r = results[path]
        assert r.status == BROKEN[path.name], (path.name, r.status, r.reason)
        if r.status == "ok":
            assert "Potato" in r.text
        else:
            assert r.reason and len(r.reason) > 15 and "Traceback" not in r.reason
    assert results[PDFS / "broken" / "qpdf_bad1.pdf"].reason == "not a PDF: the file starts with b'oops\\n'"
    assert results[PDFS / "broken" / "qpdf_empty.pdf"].reason == "the PDF has no pages"
    assert results[PDFS / "broken" / "qpdf_enc-long-password.pdf"].reason == (
        "the PDF is encrypted and needs a password to read")


def test_page_cap_gives_too_large():
    r = read_pdf(real("1803.03635"), max_pages=10)
    assert (r.status, r.pages) == ("too_large", 42)
    assert r.reason == "42 pages, more than the limit of 10 (LITMINE_PDF_MAX_PAGES)"


def test_a_file_past_the_time_limit_is_stopped_and_the_run_goes_on():
    big, small = real("1803.03635"), real("1301.5088")
    results = list(extract_many([big, small], max_pages=300, timeout=0.05, workers=1))
    assert results[0][0] == big and results[0][1].status == "timeout"
    assert results[0][1].reason == "extraction took longer than 0.05 s and was stopped (LITMINE_EXTRACT_TIMEOUT_SECONDS)"
    assert results[1][0] == small and results[1][1].status in ("ok", "timeout")


def test_missing_file():
    r = read_pdf(Path("/nonexistent/x.pdf"), 300)
    assert r.status == "missing" and "/nonexistent/x.pdf" in r.reason


# -- the stage ------------------------------------------------------------------------------------


def _downloaded(store, data_dir: Path, source: Path, arxiv_id: str, title: str) -> int:
    rel = Path("pdfs") / source.name
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, data_dir / rel)
    with store.transaction() as con:
        work_id, _ = upsert_work(con, WorkRecord(title=title, metadata_source="arxiv", arxiv_id=arxiv_id))
        con.execute("INSERT INTO documents (work_id, path, download_status, downloaded_at) "
                    "VALUES (?, ?, 'ok', now())", [work_id, str(rel)])
    return work_id


def test_extract_documents_links_references_and_is_idempotent(store, settings, data_dir):
    lottery = _downloaded(store, data_dir, real("1803.03635"), "1803.03635",
                          "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks")
    memorization = _downloaded(store, data_dir, real("1706.05394"), "1706.05394",
                               "A Closer Look at Memorization in Deep Networks")
    counts = extract_documents(store, settings)
    assert (counts.new, counts.failed) == (2, 0)
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT work_id, extract_status, extractor_version, pages, len(text) > 10000, "
                           "len(headings) > 5 FROM documents ORDER BY 1").fetchall()
        assert rows == [(lottery, "ok", EXTRACTOR_VERSION, 42, True, True),
                        (memorization, "ok", EXTRACTOR_VERSION, 10, True, True)]
        cited = con.execute("SELECT work_id, citing_work_id, match_method, match_score FROM cited_by").fetchall()
        assert cited == [(memorization, lottery, "title", 1.0)]
    again = extract_documents(store, settings)
    assert (again.new, again.updated, again.unchanged, again.failed) == (0, 0, 2, 0)


def test_a_failed_reextraction_keeps_the_stored_text(store, settings, data_dir):
    work_id = _downloaded(store, data_dir, real("1301.5088"), "1301.5088", "Piecewise linear multilayer perceptrons")
    extract_documents(store, settings)
    (data_dir / "pdfs" / real("1301.5088").name).unlink()
    with store.transaction() as con:
        con.execute("UPDATE documents SET extractor_version = 'extract-0'")
    counts = extract_documents(store, settings)
    assert counts.failed == 1
    with store.connect(read_only=True) as con:
        status, error, text = con.execute(
            "SELECT extract_status, extract_error, text FROM documents WHERE work_id = ?", [work_id]).fetchone()
        failures = con.execute("SELECT stage, item, error_type FROM failures WHERE resolved_at IS NULL").fetchall()
    assert status == "missing" and "no file at" in error
    assert "dropout" in text.lower()  # the earlier text is still there
    assert failures == [("extract", f"pdfs/{real('1301.5088').name}", "ExtractError")]  # the file, not "work 1"


@pytest.mark.slow  # extracts every fixture PDF
def test_extract_pdf_dir_records_every_file_in_one_run(store, settings):
    counts = extract_folder(store, settings, PDFS)
    files = sorted(p for p in PDFS.rglob("*.pdf"))
    with store.connect(read_only=True) as con:
        docs = dict(con.execute("SELECT path, extract_status FROM documents").fetchall())
        failed_items = {r[0] for r in con.execute("SELECT item FROM failures WHERE resolved_at IS NULL").fetchall()}
        links = con.execute("SELECT count(*) FROM citations WHERE cited_work_id IS NOT NULL").fetchone()[0]
        stamp_work = con.execute("SELECT w.metadata_source, w.arxiv_version FROM documents d JOIN works w "
                                 "USING (work_id) WHERE w.arxiv_id = '1606.03490'").fetchall()
    for path in files:  # every file: a document row with a status, or a failure naming it
        assert str(path) in docs or str(path) in failed_items, path
    for name, status in BROKEN.items():
        assert docs[str(PDFS / "broken" / name)] == status
        if status != "ok":  # its failure names the file, not "work 3"
            assert str(PDFS / "broken" / name) in failed_items, name
    assert not [item for item in failed_items if item.startswith("work ")]
    assert all(docs[str(p)] == "ok" for p in REAL.glob("*.pdf"))
    assert stamp_work == [("pdf", 3)]  # the real file, not its truncated copy, holds the arXiv id
    assert links >= 10
    assert counts.total == len(files)
    again = extract_folder(store, settings, PDFS)
    assert again.new == 0 and again.unchanged == len(docs)


def test_cli_extract_pdf_dir(data_dir, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    shutil.copyfile(real("1301.5088"), folder / "1301.5088v1.pdf")
    (folder / "notes.pdf").write_text("not a pdf")
    from litmine.cli import main

    result = CliRunner().invoke(main, ["extract", "--pdf-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "extract: 1 new, 0 updated, 0 unchanged, 1 failed (not extracted so far: 1 not_pdf)",
        "extract: 0 new, 0 updated, 2 unchanged, 0 failed "
        f"(nothing to extract: every downloaded document was read by {EXTRACTOR_VERSION}, 1 of them without text: "
        "their reasons are in documents.extract_error)",
    ]


def test_cli_extract_exits_1_when_every_pdf_failed_and_never_says_they_are_extracted(data_dir, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "notes.pdf").write_text("not a pdf")
    (folder / "empty.pdf").write_bytes(b"")
    from litmine.cli import main

    result = CliRunner().invoke(main, ["extract", "--pdf-dir", str(folder)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("extract: 0 new, 0 updated, 0 unchanged, 2 failed")
    assert lines[-1] == "Error: the stage extract failed: not extracted so far: 1 empty, 1 not_pdf"
    again = CliRunner().invoke(main, ["extract"])
    assert "every downloaded document is extracted" not in again.output
    assert again.output.splitlines()[0] == (
        "extract: 0 new, 0 updated, 2 unchanged, 0 failed "
        f"(nothing to extract: every downloaded document was read by {EXTRACTOR_VERSION}, 2 of them without text: "
        "their reasons are in documents.extract_error)")
