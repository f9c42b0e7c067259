"""PDF text: one PDF file into an ``Extraction``: clean text, title, abstract, headings and
reference entries (pymupdf).

``read_pdf`` never raises for a bad file: its ``status`` says what happened (``ok``,
``encrypted``, ``damaged``, ``empty``, ``no_text``, ``too_large``, ``not_pdf``, ``missing``; the
worker pool adds ``timeout`` and ``crashed``) and ``reason`` says why. It needs pymupdf alone (no
store), so the extractor processes start fast.

Here mupdf reads each page's blocks and lines, ligatures expanded ("ﬁ" -> "fi") and LaTeX's
spacing accents joined to their letters ("No´emie" -> "Noémie"), and the title is found: the
largest-font lines at the top of page 1, joined, else the PDF's own title. The rest is done on
those blocks: cleaning in ``pdfclean``, the reference list in ``pdfrefs``, lines in ``pdflayout``.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from pathlib import Path

import pymupdf

from litmine.ids import ID_IN_TEXT
from litmine.pdf.clean import STAMP, Extraction, clean
from litmine.pdf.layout import Block, Line, document_words, group_rows, join_lines, row_size, row_text
from litmine.pdf.references import parse_reference

_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # no ligatures kept: "ﬁ" -> "fi"
_KEEP_TEXTPAGES = 100  # pages whose mupdf text is kept while a file is read, so it is not built twice
_ACCENT_CHARS = re.compile("[´`¨ˆ˜ˇ˚¯¸]")
_ACCENTS = {"´": "\u0301", "`": "\u0300", "¨": "\u0308", "ˆ": "\u0302", "˜": "\u0303", "ˇ": "\u030c",
            "˚": "\u030a", "¯": "\u0304"}
_SPACING_ACCENT = re.compile(r"([´`¨ˆ˜ˇ˚¯])\s?([A-Za-z])")
_CEDILLA = re.compile(r"([cCsS])\s?¸\s?")
_BOILERPLATE = re.compile(r"^(published (?:as|at|in)|proceedings|preprint|under review|accepted|workshop|in submission|"
                         r"arxiv|journal of|to appear|copyright|\d{4} (ieee|acm))", re.I)
_ARXIV_LINE = re.compile(rf"^\s*arxiv:?\s*{ID_IN_TEXT}", re.I)


def read_pdf(path: Path | str, max_pages: int) -> Extraction:
    """Extract one PDF. Never raises for a bad file: the returned status says what went wrong."""
    started = time.perf_counter()
    result = _read(Path(path), max_pages)
    if result.status == "ok":
        result.citations = [parse_reference(raw) for raw in result.references]
    result.seconds = time.perf_counter() - started
    return result


def _read(path: Path, max_pages: int) -> Extraction:
    if not path.is_file():
        return Extraction("missing", f"no file at {path}: download it again (`litmine fetch pdfs`) or fix the path")
    with path.open("rb") as fh:
        head = fh.read(1024)
    if not head:
        return Extraction("empty", "the file is empty (0 bytes)")
    if b"%PDF" not in head and not re.search(rb"\d+ \d+ obj", head):
        return Extraction("not_pdf", f"not a PDF: the file starts with {head[:16]!r}")
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.reset_mupdf_warnings()
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        return Extraction("damaged", f"mupdf cannot open it: {_mupdf_problem(str(exc))}")
    try:
        return _read_document(doc, max_pages)
    except (RuntimeError, ValueError) as exc:  # mupdf raises these for damage it finds while reading
        return Extraction("damaged", f"mupdf failed while reading it: {_mupdf_problem(str(exc))}")
    finally:
        doc.close()


def _read_document(doc: pymupdf.Document, max_pages: int) -> Extraction:
    if doc.needs_pass:
        return Extraction("encrypted", "the PDF is encrypted and needs a password to read", pages=doc.page_count)
    n = doc.page_count
    if n == 0:
        problem = _warnings()
        if doc.is_repaired or problem:
            return Extraction("damaged", f"no page could be read: the file is truncated or its structure is "
                                         f"broken (mupdf: {problem or 'repaired on open'})", pages=0)
        return Extraction("empty", "the PDF has no pages", pages=0)
    if n > max_pages:
        return Extraction("too_large", f"{n} pages, more than the limit of {max_pages} (LITMINE_PDF_MAX_PAGES)",
                          pages=n)
    pages: list[list[Block]] = []
    sizes: list[tuple[float, float]] = []
    textpages = {}  # kept (up to _KEEP_TEXTPAGES pages) for reading the title's and references' lines
    for pno, page in enumerate(doc):
        rect = page.rect
        sizes.append((rect.width, rect.height))
        textpage = page.get_textpage(flags=_FLAGS)
        if pno < _KEEP_TEXTPAGES:
            textpages[pno] = page, textpage  # a text page holds its page weakly
        pages.append([
            Block(pno, b[0], b[1], b[2], b[3], _block_lines(b[4]))
            for b in page.get_text("blocks", flags=_FLAGS, textpage=textpage)
            if b[6] == 0 and b[4].strip()
        ])
    vocabulary = document_words(b for blocks in pages for b in blocks)
    lines_of = functools.cache(lambda pno: page_lines(*textpages[pno], pno) if pno in textpages
                               else page_lines(doc[pno], None, pno))
    title_guess = _title(page_lines(*textpages[0], 0, sizes=True), sizes[0][1], doc.metadata or {}, pages, vocabulary)
    result = clean(pages, sizes, vocabulary, lines_of, title=title_guess)
    result.pages = n
    result.title_guess = title_guess
    problem = _warnings()
    if doc.is_repaired:
        result.status = "damaged"
        result.reason = (f"mupdf had to repair the file ({problem or 'broken cross-reference table'}); the text "
                         f"it recovered from {n} page(s) is stored but may be incomplete")
    elif not result.text:
        if problem:
            result.status, result.reason = "damaged", f"no text could be read: mupdf: {problem}"
        else:
            result.status = "no_text"
            result.reason = f"{n} page(s) but no extractable text: probably scanned images (litmine does no OCR)"
    return result


def _warnings() -> str:
    """mupdf's complaints about the open document, in one line; '' if none were errors."""
    lines = [w.strip() for w in pymupdf.TOOLS.mupdf_warnings().splitlines() if "error" in w.lower()]
    return "; ".join(dict.fromkeys(lines))[:300]


def _mupdf_problem(text: str) -> str:
    return text.splitlines()[0][:300] if text else "unknown error"


def _block_lines(text: str) -> list[str]:
    """A block's non-blank lines, each through ``_fix_chars`` (an ASCII block's lines only right-stripped)."""
    if text.isascii():
        return [line.rstrip() for line in text.splitlines() if line.strip()]
    return [_fix_chars(line) for line in text.splitlines() if line.strip()]


def _fix_chars(line: str) -> str:
    """Join LaTeX's spacing accents to their letters ("No´emie" -> "Noémie"); NFC-normalise."""
    if line.isascii():
        return line.rstrip()
    if _ACCENT_CHARS.search(line):
        line = _SPACING_ACCENT.sub(lambda m: m.group(2) + _ACCENTS[m.group(1)], line)
        line = _CEDILLA.sub(lambda m: m.group(1) + "\u0327", line)
    return unicodedata.normalize("NFC", line.rstrip())


def page_lines(page: pymupdf.Page, textpage: pymupdf.TextPage | None, pno: int, sizes: bool = False) -> list[Line]:
    """The page's text lines, in mupdf's order. With ``sizes`` (mupdf's slower "dict" reading) each
    line has its largest font size, and side-ways lines such as the margin stamp are left out."""
    if not sizes:
        lines: dict[tuple[int, int], list] = {}
        for x0, y0, x1, y1, word, block, line, _ in page.get_text("words", flags=_FLAGS, textpage=textpage):
            box = lines.get((block, line))
            if box is None:
                lines[block, line] = [x0, y0, x1, y1, [word]]
            else:  # words come left to right: the line's right edge is the last word's
                box[1], box[2], box[3] = min(box[1], y0), x1, max(box[3], y1)
                box[4].append(word)
        return [Line(pno, x0, y0, x1, y1, _fix_chars(" ".join(words))) for x0, y0, x1, y1, words in lines.values()]
    out = []
    for block in page.get_text("dict", flags=_FLAGS, textpage=textpage)["blocks"]:
        for line in block.get("lines", ()):
            spans = [s for s in line["spans"] if s["text"].strip()]
            if not spans or abs(line["dir"][1]) > 0.1:
                continue
            x0, y0, x1, y1 = line["bbox"]
            out.append(Line(pno, x0, y0, x1, y1, _fix_chars("".join(s["text"] for s in line["spans"]).strip()),
                            max(s["size"] for s in spans)))
    return out


def _title(first_page: list[Line], height: float, metadata: dict, pages: list[list[Block]],
           vocabulary: set[str]) -> str | None:
    """The title: the largest-font lines at the top of the first page, joined; failing that the
    PDF's own title (not an arXiv id line), failing that its first line."""
    rows = group_rows(first_page)
    top = [r for r in rows if r[0].y0 < 0.5 * height and sum(ch.isalpha() for ch in row_text(r)) >= 4
           and not _BOILERPLATE.match(row_text(r)) and not STAMP.match(row_text(r))][:5]
    if top:
        size = max(row_size(r) for r in top)
        start = next(i for i, r in enumerate(top) if row_size(r) >= size - 0.5)
        first = rows.index(top[start])
        title = [rows[first]]
        for row in rows[first + 1:]:
            gap = row[0].y0 - max(line.y1 for line in title[-1])
            caps = row_text(row).isupper() and row_text(title[0]).isupper()
            if gap > 0.9 * size or not (row_size(row) >= 0.95 * size or caps and row_size(row) >= 0.75 * size):
                break
            title.append(row)
        text = _join_title([row_text(r) for r in title], vocabulary)
        if 10 <= len(text) <= 300:
            return text
    meta = " ".join((metadata.get("title") or "").split())
    if 10 <= len(meta) <= 300 and not re.search(r"\.(pdf|docx?|tex|dvi)$|^microsoft word|^untitled", meta, re.I) \
            and not _ARXIV_LINE.match(meta):
        return meta
    for block in pages[0][:8] if pages else []:
        text = _join_title(block.lines, vocabulary)
        if 10 <= len(text) <= 300 and not STAMP.match(text) and not _BOILERPLATE.match(text):
            return text
    return None


def _join_title(lines: list[str], vocabulary: set[str]) -> str:
    """Title lines joined; a word broken at a line end is mended in capitals too ("EN- GINEERING")."""
    text = join_lines(lines, vocabulary)

    def mend(m: re.Match) -> str:
        head, tail = m.group(1), m.group(2)
        joined = (head + tail).lower() in vocabulary or f"{head}-{tail}".lower() not in vocabulary
        return head + ("" if joined else "-") + tail

    return re.sub(r"([A-Za-z]{2,})- ([A-Z][A-Za-z]+)", mend, text)
