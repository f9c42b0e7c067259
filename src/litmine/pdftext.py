"""PDF text: one PDF into clean text, title, abstract, headings and reference entries (pymupdf).

``read_pdf`` turns one file into an ``Extraction`` and never raises for a bad file: its ``status``
says what happened (``ok``, ``encrypted``, ``damaged``, ``empty``, ``no_text``, ``too_large``,
``not_pdf``, ``missing``; the worker pool adds ``timeout`` and ``crashed``) and ``reason`` says why.
It needs pymupdf alone (no store), so the extractor processes start fast.

Cleaning, in order: ligatures expanded and LaTeX's spacing accents joined to their letters; the
arXiv margin stamp dropped (its id kept); running headers, footers and page numbers dropped
(margin lines that repeat across pages); two-column pages read left column then right, band by
band between full-width blocks; words hyphenated across line and column breaks joined, keeping
the hyphen where the document spells the word with one elsewhere, or where neither spelling occurs
and both halves are words ("high-performance").

The title is the largest-font lines at the top of page 1, joined; the abstract the text after
"Abstract" up to the first heading, keywords or author footnotes. The reference list starts at its
heading (or, with none, where blocks start to look like entries) and ends at the next heading,
appendices included; its entries are split by their numbers, or by the list's shape (hanging
indents or spacing, read from the lines' positions), and captions are left out.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pymupdf

from litmine.ids import ID_IN_TEXT, try_parse_arxiv_id

_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # no ligatures kept: "ﬁ" -> "fi"
_MARGIN = 0.09  # top and bottom share of the page where running heads and footers live
_KEEP_TEXTPAGES = 100  # pages whose mupdf text is kept while a file is read, so it is not built twice

_STAMP = re.compile(rf"^arXiv:\s*({ID_IN_TEXT})\s+\[[^\]]+\]\s+\d{{1,2}}\s+\w{{3}}\s+\d{{4}}$")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s+(?:of|/)\s+\d{1,4})?$", re.I)
_HEADING_NUMBERED = re.compile(r"^((?:[1-9]|1[0-5])(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^\n]{1,90})$")
_HEADING_LETTERED = re.compile(r"^([A-H](?:\.\d{1,2}){0,3})\.?\s+([A-Z][^\n]{1,90})$")
_HEADING_ROMAN = re.compile(r"^([IVX]{1,5})\.\s+([A-Z][^\n]{1,90})$")
_HEADING_NAMES = re.compile(
    r"^(abstract|introduction|related work|background|conclusions?|discussion|references|bibliography|"
    r"acknowledge?ments?|appendix|appendices|limitations|broader impacts?|methods?|results|experiments|"
    r"supplementary material|literature cited|works cited)[.:]?$",
    re.I,
)
_REFERENCE_NAMES = re.compile(r"^(references|bibliography|literature cited|works cited|references and notes)[.:]?$", re.I)
_AFTER_REFERENCES = re.compile(r"^(appendix|appendices|supplementary|acknowledge?ments?|checklist|"
                               r"neurips paper checklist|author contributions)", re.I)
_APPENDIX_HEADING = re.compile(r"^([A-H](?:\.\d{1,2}){0,3}|appendix(?: [A-H])?)[.:]?\s+([^.]{3,100})$", re.I)
_ABSTRACT_START = re.compile(r"^(abstract|a b s t r a c t|summary)\s*[.:—–-]?\s*", re.I)
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_HYPHEN_END = re.compile(r"([A-Za-z]+)-$")
_WORD_START = re.compile(r"([a-z][A-Za-z]*)")
_ACCENT_CHARS = re.compile("[´`¨ˆ˜ˇ˚¯¸]")
_ACCENTS = {"´": "\u0301", "`": "\u0300", "¨": "\u0308", "ˆ": "\u0302", "˜": "\u0303", "ˇ": "\u030c",
            "˚": "\u030a", "¯": "\u0304"}
_SPACING_ACCENT = re.compile(r"([´`¨ˆ˜ˇ˚¯])\s?([A-Za-z])")
_CEDILLA = re.compile(r"([cCsS])\s?¸\s?")


@dataclass
class Block:
    """A text block of a page: its box and its lines."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass
class Extraction:
    """What reading one PDF gave. ``status`` is ``ok`` or the kind of failure, ``reason`` why."""

    status: str
    reason: str | None = None
    pages: int | None = None
    text: str | None = None
    abstract: str | None = None
    headings: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    citations: list = field(default_factory=list)  # the references parsed: ParsedReference
    arxiv_stamp: str | None = None  # the margin stamp's id, with its version: "1606.03490v3"
    title_guess: str | None = None  # the largest-font lines of page 1, or the PDF's own title
    seconds: float = 0.0


# -- one PDF ------------------------------------------------------------------------------------


def read_pdf(path: Path | str, max_pages: int) -> Extraction:
    """Extract one PDF. Never raises for a bad file: the returned status says what went wrong."""
    started = time.perf_counter()
    result = _read(Path(path), max_pages)
    if result.status == "ok":
        from litmine.references import parse_reference

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
            Block(pno, b[0], b[1], b[2], b[3], [_fix_chars(line) for line in b[4].splitlines() if line.strip()])
            for b in page.get_text("blocks", flags=_FLAGS, textpage=textpage)
            if b[6] == 0 and b[4].strip()
        ])
    vocabulary = _vocabulary(b for blocks in pages for b in blocks)
    lines_of = functools.cache(lambda pno: page_lines(*textpages[pno], pno) if pno in textpages
                               else page_lines(doc[pno], None, pno))
    title_guess = _title(page_lines(*textpages[0], 0, sizes=True), sizes[0][1], doc.metadata or {}, pages, vocabulary)
    result = clean(pages, sizes, vocabulary, lines_of)
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


def _fix_chars(line: str) -> str:
    """Join LaTeX's spacing accents to their letters ("No´emie" -> "Noémie"); NFC-normalise."""
    if line.isascii():
        return line.rstrip()
    if _ACCENT_CHARS.search(line):
        line = _SPACING_ACCENT.sub(lambda m: m.group(2) + _ACCENTS[m.group(1)], line)
        line = _CEDILLA.sub(lambda m: m.group(1) + "\u0327", line)
    return unicodedata.normalize("NFC", line.rstrip())


_BOILERPLATE = re.compile(r"^(published (?:as|at|in)|proceedings|preprint|under review|accepted|workshop|in submission|"
                         r"arxiv|journal of|to appear|copyright|\d{4} (ieee|acm))", re.I)
_ARXIV_LINE = re.compile(rf"^\s*arxiv:?\s*{ID_IN_TEXT}", re.I)


@dataclass
class Line:
    """One text line of a page, with its box and its largest font size."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float = 0.0


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
    rows = _rows(first_page)
    top = [r for r in rows if r[0].y0 < 0.5 * height and sum(ch.isalpha() for ch in _row_text(r)) >= 4
           and not _BOILERPLATE.match(_row_text(r)) and not _STAMP.match(_row_text(r))][:5]
    if top:
        size = max(_row_size(r) for r in top)
        start = next(i for i, r in enumerate(top) if _row_size(r) >= size - 0.5)
        first = rows.index(top[start])
        title = [rows[first]]
        for row in rows[first + 1:]:
            gap = row[0].y0 - max(line.y1 for line in title[-1])
            caps = _row_text(row).isupper() and _row_text(title[0]).isupper()
            if gap > 0.9 * size or not (_row_size(row) >= 0.95 * size or caps and _row_size(row) >= 0.75 * size):
                break
            title.append(row)
        text = _join_title([_row_text(r) for r in title], vocabulary)
        if 10 <= len(text) <= 300:
            return text
    meta = " ".join((metadata.get("title") or "").split())
    if 10 <= len(meta) <= 300 and not re.search(r"\.(pdf|docx?|tex|dvi)$|^microsoft word|^untitled", meta, re.I) \
            and not _ARXIV_LINE.match(meta):
        return meta
    for block in pages[0][:8] if pages else []:
        text = _join_title(block.lines, vocabulary)
        if 10 <= len(text) <= 300 and not _STAMP.match(text) and not _BOILERPLATE.match(text):
            return text
    return None


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Lines side by side (sharing a baseline band) grouped into rows, top to bottom."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: (ln.y0, ln.x0)):
        middle = (line.y0 + line.y1) / 2
        if rows and rows[-1][0].y0 <= middle <= rows[-1][0].y1:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(r, key=lambda ln: ln.x0) for r in rows]


def _row_text(row: list[Line]) -> str:
    return " ".join(" ".join(line.text for line in row).split())


def _row_size(row: list[Line]) -> float:
    return max(line.size for line in row)


def _join_title(lines: list[str], vocabulary: set[str]) -> str:
    """Title lines joined; a word broken at a line end is mended in capitals too ("EN- GINEERING")."""
    text = join_lines(lines, vocabulary)

    def mend(m: re.Match) -> str:
        head, tail = m.group(1), m.group(2)
        joined = (head + tail).lower() in vocabulary or f"{head}-{tail}".lower() not in vocabulary
        return head + ("" if joined else "-") + tail

    return re.sub(r"([A-Za-z]{2,})- ([A-Z][A-Za-z]+)", mend, text)


# -- cleaning -----------------------------------------------------------------------------------


def clean(pages: list[list[Block]], sizes: list[tuple[float, float]], vocabulary: set[str] | None = None,
          lines_of: Callable[[int], list[Line]] | None = None) -> Extraction:
    """Clean text, abstract, headings and reference entries from the blocks of every page.

    ``lines_of(page)`` gives a page's lines with their boxes, read only for the reference list's
    pages (hanging indents and spacing separate its entries); without it each block's lines are used.
    """
    stamp = None
    kept_pages = []
    for blocks, (width, height) in zip(pages, sizes):
        kept = []
        for b in blocks:
            m = _STAMP.match(" ".join(b.text.split()))
            if m and (b.x1 < 0.15 * width or b.x0 > 0.85 * width):
                aid = try_parse_arxiv_id(m.group(1))
                stamp = stamp or (aid.versioned if aid else None)
                continue
            kept.append(b)
        kept_pages.append(kept)
    kept_pages = _drop_running_lines(kept_pages, sizes)
    ordered = [b for blocks, (width, _) in zip(kept_pages, sizes) for b in _reading_order(blocks, width)]
    if vocabulary is None:
        vocabulary = _vocabulary(ordered)

    paragraphs: list[str] = []
    headings: list[str] = []
    heading_at: list[int] = []  # index into ordered of each heading
    in_references = False
    refs_start = refs_end = None
    for i, b in enumerate(ordered):
        heading = _heading(b, in_references)
        if heading:
            if in_references and refs_end is None:
                refs_end = i
            headings.append(heading)
            heading_at.append(i)
            if _REFERENCE_NAMES.match(_strip_number(heading)):
                in_references, refs_start, refs_end = True, i + 1, None
    if refs_start is None:  # no heading: a list found by its shape, ended like a headed one
        refs_start = _unheaded_references(ordered)
        if refs_start is not None:
            refs_end = next((j for j in range(refs_start + 1, len(ordered)) if _heading(ordered[j], True)), None)
    if refs_start is not None and refs_end is None:
        refs_end = len(ordered)

    # Paragraph text: a block that continues the previous one's sentence is joined to it.
    heading_set = set(heading_at)
    for i, b in enumerate(ordered):
        para = join_lines(b.lines, vocabulary)
        if (paragraphs and i not in heading_set and (i - 1) not in heading_set
                and _continues(paragraphs[-1], para)):
            paragraphs[-1] = join_lines([paragraphs[-1], para], vocabulary)
        else:
            paragraphs.append(para)
    text = "\n".join(p for p in paragraphs if p).strip()

    references = []
    if refs_start is not None:
        references = split_references(ordered[refs_start:refs_end], vocabulary, lines_of)
    return Extraction(
        status="ok",
        text=text or None,
        abstract=_abstract(ordered, heading_at, vocabulary),
        headings=headings,
        references=references,
        arxiv_stamp=stamp,
    )


_YEAR_OR_LINK = re.compile(r"\b(?:19|20)\d\d[a-z]?\b|arxiv|https?://|doi", re.I)
_NAMES_START = re.compile(r"^(?:\[1\]\s*)?[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]*){0,3}(?:,| and )")


def _unheaded_references(blocks: list[Block]) -> int | None:
    """Where a reference list with no heading starts, past the document's first fifth of pages: a
    block opening "[1]", or a block opening with names where five of ten blocks open with names and five
    hold a year or a link (an entry may span several blocks)."""
    half = next((i for i, b in enumerate(blocks) if b.page >= blocks[-1].page // 5), 0) if blocks else 0
    for i in range(half, len(blocks)):
        if _NUMBERED.match(blocks[i].text) and _NUMBERED.match(blocks[i].text).group(1) == "1":
            return i
    for i in range(half, len(blocks)):
        if _NAMES_START.match(blocks[i].text):
            window = [b.text for b in blocks[i:i + 10]]
            if sum(1 for t in window if _NAMES_START.match(t)) >= 5 and sum(1 for t in window if _YEAR_OR_LINK.search(t)) >= 5:
                return i
    return None


def _drop_running_lines(pages: list[list[Block]], sizes: list[tuple[float, float]]) -> list[list[Block]]:
    """Drop page numbers and margin blocks whose text recurs on several pages (running heads, footers)."""
    def key(b: Block) -> str:
        return re.sub(r"\d+", "#", " ".join(b.text.lower().split()))

    def in_margin(b: Block, height: float) -> bool:
        return b.y1 < _MARGIN * height or b.y0 > (1 - _MARGIN) * height

    seen = Counter()
    for blocks, (_, height) in zip(pages, sizes):
        seen.update({key(b) for b in blocks if in_margin(b, height)})
    repeat = max(2, int(0.3 * len(pages)))
    out = []
    for blocks, (_, height) in zip(pages, sizes):
        out.append([
            b for b in blocks
            if not (in_margin(b, height) and (_PAGE_NUMBER.match(b.text.strip()) or seen[key(b)] >= repeat))
        ])
    return out


def _reading_order(blocks: list[Block], width: float) -> list[Block]:
    """Two-column pages: left column then right, band by band between full-width blocks."""
    mid = width / 2
    left = [b for b in blocks if b.x1 <= mid + 0.02 * width]
    right = [b for b in blocks if b.x0 >= mid - 0.02 * width]
    if len(left) < 2 or len(right) < 2:
        return blocks
    out: list[Block] = []
    band_left: list[Block] = []
    band_right: list[Block] = []
    for b in sorted(blocks, key=lambda b: (b.y0, b.x0)):
        if b.x1 <= mid + 0.02 * width:
            band_left.append(b)
        elif b.x0 >= mid - 0.02 * width:
            band_right.append(b)
        else:  # spans both columns: ends the band
            out += band_left + band_right + [b]
            band_left, band_right = [], []
    return out + band_left + band_right


def _vocabulary(blocks: Iterable[Block]) -> set[str]:
    """Lower-cased words of the document, hyphenated compounds included, for de-hyphenation; the
    pieces of a word broken at a line end ("prac-" and "tices") are not words."""
    words: set[str] = set()
    for b in blocks:
        words.update(_WORD.findall(_BROKEN_WORD.sub(" ", "\n".join(b.lines)).lower()))
    return words


_BROKEN_WORD = re.compile(r"[A-Za-z]+-\n[A-Za-z]+")


def join_lines(lines: list[str], vocabulary: set[str]) -> str:
    """Join lines into one paragraph, mending words hyphenated across line breaks."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
            continue
        m = _HYPHEN_END.search(out[-60:]) if out.endswith("-") else None
        n = _WORD_START.match(line) if m else None
        if m and n:
            head, tail = m.group(1), n.group(1)
            joined = (head + tail).lower()
            # The hyphen stays where the document spells the word with one, or where neither spelling
            # is known but both halves are words ("high-performance", "mass-editing").
            keep_hyphen = joined not in vocabulary and (
                f"{head}-{tail}".lower() in vocabulary
                or len(head) >= 3 and len(tail) >= 4 and head.lower() in vocabulary and tail.lower() in vocabulary)
            out = out[:-1] + ("-" if keep_hyphen else "") + line
        else:
            out += " " + line
    return out


def _continues(previous: str, following: str) -> bool:
    """Whether ``following`` carries on the sentence ``previous`` broke off (column or page break)."""
    if not previous or not following or not following[0].islower():
        return False
    return previous.endswith("-") or previous[-1] not in ".!?:;)]"


def _strip_number(heading: str) -> str:
    return re.sub(r"^(?:[\dIVX]+(?:\.\d+)*|[A-H](?:\.\d+)*)\.?\s+", "", heading)


def _heading(b: Block, in_references: bool) -> str | None:
    """The block's text if it is a section heading, else None."""
    text = " ".join(" ".join(b.lines).split())
    if len(b.lines) > 3 or len(b.lines) == 3 and len(text) > 90:  # a number or letter may sit on its own line
        return None
    if len(text) > 100 or not re.search(r"[A-Za-z]{3}", text):
        return None
    if _HEADING_NAMES.match(text):
        return text.rstrip(".:")
    if in_references:  # a numbered reference ("12. Smith, ...") must not end the list
        m = _HEADING_LETTERED.match(text)
        if m and _title_like(m.group(2)) or _AFTER_REFERENCES.match(text) and len(text.split()) <= 6:
            return text
        m = _APPENDIX_HEADING.match(text)
        if m and len(m.group(2).split()) <= 14 and not re.search(r"\b(?:19|20)\d\d\b|, ", m.group(2)) \
                or re.search(r"\bappendix$", text, re.I) and len(text.split()) <= 10:
            return text  # "A EFFECTIVE INITIALIZATION ...", "A 50% circuits ...", "<running title> Appendix"
        return None
    for pattern in (_HEADING_NUMBERED, _HEADING_ROMAN):
        m = pattern.match(text)
        if m and _title_like(m.group(2)):
            return text
    m = _HEADING_LETTERED.match(text)
    if m and "." in m.group(1) and _title_like(m.group(2)):
        return text
    return None


def _title_like(title: str) -> bool:
    words = title.split()
    if not 1 <= len(words) <= 12 or title.endswith((".", ",", ";")) and not title.endswith("et al."):
        return False
    letters = sum(ch.isalpha() for ch in title)
    return letters >= 0.6 * len(title.replace(" ", "")) and not re.search(r"\d{4}", title)


def _abstract(blocks: list[Block], heading_at: list[int], vocabulary: set[str]) -> str | None:
    """The abstract: the text under an 'Abstract' heading or after a leading 'Abstract' word."""
    stop = set(heading_at)
    early = [i for i, b in enumerate(blocks) if b.page <= 1]
    for i in early:
        text = join_lines(blocks[i].lines, vocabulary)
        m = _ABSTRACT_START.match(text)
        if not m:
            continue
        parts = [text[m.end():]] if text[m.end():].strip() else []
        j = i + 1
        while j < len(blocks) and j not in stop and sum(map(len, parts)) < 2500:
            nxt = join_lines(blocks[j].lines, vocabulary)
            if re.match(r"^(keywords|index terms|key words)\b", nxt, re.I) or (parts and _looks_like_footnote(nxt)):
                break
            parts.append(nxt)
            j += 1
        abstract = _ABSTRACT_TAIL.sub("", join_lines(parts, vocabulary)) if parts else ""
        if len(abstract) >= 100:
            return abstract
    # No 'Abstract' word: the first long paragraph before the first numbered heading.
    first_heading = heading_at[0] if heading_at else len(blocks)
    for i in early:
        if i >= first_heading:
            break
        text = join_lines(blocks[i].lines, vocabulary)
        if len(text) >= 400:
            return text
    return None


# Where an abstract's block runs on: its keywords, or the first page's author footnotes.
_ABSTRACT_TAIL = re.compile(r"\s+(?:(?:index terms|keywords|key words)\s*[—–:-]|[∗*†‡]+\s*(?:equal contribution|"
                            r"corresponding author|work (?:done|performed)|these authors)).*$", re.I | re.S)


def _looks_like_footnote(text: str) -> bool:
    return bool(re.match(r"^(\*|†|‡|\d\s?[A-Z][a-z]+ (University|Institute)|Correspondence|Preprint|Under review|"
                         r"Proceedings|Copyright|\d{4} (ICML|NeurIPS|IEEE))", text))


# -- reference lists ----------------------------------------------------------------------------

_NUMBERED = re.compile(r"^\s*\[(\d{1,4})\]\s*")
_DOTTED = re.compile(r"^\s*(\d{1,4})\.\s+(?=\S)")


def split_references(blocks: list[Block], vocabulary: set[str],
                     lines_of: Callable[[int], list[Line]] | None = None) -> list[str]:
    """Split the blocks of a reference list into one string per entry.

    Numbered lists ("[12] ...", "12. ...") split at their numbers. Other lists split by their
    shape: where continuation lines hang indented, every line at the column's edge starts an
    entry; where they do not, a wider gap between lines does. Figure and table captions are left
    out, and an entry broken by a column or page break is joined again.
    """
    lines = _reference_lines([b for b in blocks if not _CAPTION.match(b.text)], lines_of)
    texts = [line.text for line in lines]
    if sum(1 for text in texts if _NUMBERED.match(text)) >= 3:
        entries = _split_numbered(texts, _NUMBERED, vocabulary)
    else:
        dotted = [int(m.group(1)) for text in texts if (m := _DOTTED.match(text))]
        if len(dotted) >= 3 and dotted[:3] == [1, 2, 3]:
            entries = _split_numbered(texts, _DOTTED, vocabulary, sequential=True)
        else:
            entries = [e for e in (join_lines(part, vocabulary) for part in _split_by_shape(lines)) if _entry_like(e)]
    return [e for e in entries if not _CAPTION.match(e)]


_CAPTION = re.compile(r"^(?:figure|fig\.|table|algorithm|listing)\s*[A-Z]?[\d.]+\s*[:.]", re.I)
_AUTHOR_LIKE = re.compile(r"^(?:[A-Z][\w'’.-]*,? ){1,4}|^[A-Z][\w'’-]+\.")


def _reference_lines(blocks: list[Block], lines_of: Callable[[int], list[Line]] | None) -> list[Line]:
    """The lines of the blocks, page by page; on a two-column page left column first, whatever the
    blocks' order (mupdf may put both columns in one block). Pieces of one printed line are joined."""
    if lines_of is None:
        out = []
        for b in blocks:
            step = (b.y1 - b.y0) / max(1, len(b.lines))
            out += [Line(b.page, b.x0, b.y0 + i * step, b.x1, b.y0 + (i + 1) * step, text)
                    for i, text in enumerate(b.lines)]
        return out
    by_page: dict[int, list[Block]] = {}
    for b in blocks:
        by_page.setdefault(b.page, []).append(b)
    out = []
    for page, on_page in by_page.items():
        every = lines_of(page)
        middle = (min(ln.x0 for ln in every) + max(ln.x1 for ln in every)) / 2
        two_columns = sum(ln.x0 < middle - 10 and ln.x1 > middle + 10 for ln in every) <= 0.2 * len(every)
        top, bottom = min(b.y0 for b in on_page) - 1, max(b.y1 for b in on_page) + 1
        inside = [ln for ln in every if top <= (ln.y0 + ln.y1) / 2 <= bottom
                  and any(b.x0 - 1 <= (ln.x0 + ln.x1) / 2 <= b.x1 + 1 and b.y0 - 1 <= (ln.y0 + ln.y1) / 2 <= b.y1 + 1
                          for b in on_page)]
        pieces = []
        for row in _rows(inside):
            cut = next((i for i in range(1, len(row)) if two_columns and row[i - 1].x1 < middle + 5
                        and row[i].x0 > middle - 5 and row[i].x0 - row[i - 1].x1 > 8), len(row))
            pieces += [piece for piece in (row[:cut], row[cut:]) if piece]
        if two_columns:
            pieces.sort(key=lambda piece: (piece[0].x0 > middle - 5, piece[0].y0))
        out += [Line(page, piece[0].x0, min(ln.y0 for ln in piece), max(ln.x1 for ln in piece),
                     max(ln.y1 for ln in piece), " ".join(ln.text for ln in piece)) for piece in pieces]
    return out


def _split_by_shape(lines: list[Line]) -> list[list[str]]:
    """Group an author-year list's lines into entries by indentation, or by spacing (see above)."""
    if not lines:
        return []
    middle: dict[int, float] = {}
    for page in {ln.page for ln in lines}:
        on_page = [ln for ln in lines if ln.page == page]
        middle[page] = (min(ln.x0 for ln in on_page) + max(ln.x1 for ln in on_page)) / 2

    def column(ln: Line) -> tuple[int, bool]:
        return ln.page, ln.x0 > middle[ln.page] - 5

    edge: dict[tuple[int, bool], float] = {}
    for ln in lines:
        edge[column(ln)] = min(edge.get(column(ln), ln.x0), ln.x0)
    indent = [ln.x0 - edge[column(ln)] for ln in lines]
    hanging = sum(1 for d in indent if 2.5 < d < 40) >= 0.2 * len(lines)
    gaps = sorted(b.y0 - a.y1 for a, b in zip(lines, lines[1:]) if column(a) == column(b) and b.y0 > a.y0)
    height = sorted(ln.y1 - ln.y0 for ln in lines)[len(lines) // 2]
    wide = (gaps[len(gaps) // 4] if gaps else 0.0) + max(1.5, 0.2 * height)

    entries: list[list[str]] = []
    for i, ln in enumerate(lines):
        prev = lines[i - 1] if i else None
        if not entries:
            starts = True
        elif indent[i] > 2.5:
            starts = False
        elif hanging:
            starts = True
        elif prev is not None and column(prev) == column(ln) and ln.y0 > prev.y0:
            starts = ln.y0 - prev.y1 > wide
        else:  # the first line of a column: a new entry only if the last one ended and this one starts like one
            last = entries[-1][-1].rstrip()
            starts = bool(_AUTHOR_LIKE.match(ln.text)) and last.endswith((".", ")")) and not ln.text[:1].islower()
        if starts:
            entries.append([ln.text])
        else:
            entries[-1].append(ln.text)
    return entries


def _split_numbered(lines: list[str], marker: re.Pattern, vocabulary: set[str], sequential: bool = False) -> list[str]:
    entries: list[list[str]] = []
    expected = 1
    for line in lines:
        m = marker.match(line)
        if m and (not sequential or int(m.group(1)) == expected):
            expected = int(m.group(1)) + 1
            entries.append([line[m.end():]])
        elif entries:
            entries[-1].append(line)
    return [e for e in (join_lines(lines, vocabulary) for lines in entries) if _entry_like(e)]


def _entry_like(entry: str) -> bool:
    return len(entry) >= 20 and sum(map(str.isalpha, entry)) >= 10
