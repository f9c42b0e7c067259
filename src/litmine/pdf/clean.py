"""The blocks of every page of a PDF into clean text, abstract, headings and reference entries.

Cleaning, in order: the arXiv margin stamp dropped (its id kept); running headers, footers and
page numbers dropped (margin lines that repeat across pages); two-column pages read left column
then right, band by band between full-width blocks; a block that carries on the sentence of the
one before (a column or page break) joined to it, words mended across line breaks
(``pdflayout.join_lines``).

The abstract is the text after "Abstract" up to the first heading, keywords or author footnotes.
The reference list starts at its heading (or, with none, where blocks start to look like entries)
and ends at the next heading, appendices included, or at a page that opens with the paper's title
again; a heading run into the first lines of its text ("References" atop the first entries) counts,
and a page of figures or tables among the entries is skipped. ``pdfrefs.split_references`` splits it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from litmine.ids import ID_IN_TEXT, try_parse_arxiv_id
from litmine.pdf.layout import Block, Line, document_words, join_lines
from litmine.pdf.refsplit import NUMBERED, split_references

_MARGIN = 0.09  # top and bottom share of the page where running heads and footers live
STAMP = re.compile(rf"^arXiv:\s*({ID_IN_TEXT})\s+\[[^\]]+\]\s+\d{{1,2}}\s+\w{{3}}\s+\d{{4}}$")
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
_YEAR_OR_LINK = re.compile(r"\b(?:19|20)\d\d[a-z]?\b|arxiv|https?://|doi", re.I)
_NAMES_START = re.compile(r"^(?:\[1\]\s*)?[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]*){0,3}(?:,| and )")
_THREE_LETTERS = re.compile(r"[A-Za-z]{3}")
# In a heading-like line inside the list, what shows it is an entry's: initials, names after commas,
# a sentence's end ("Hinton. Imagenet"; not "vs. Natural").
_NAMES_IN = re.compile(r"\b[A-Z]\.(?:\s|-|$)|,\s+(?:and\s+)?[A-Z]|\b(?!(?:vs|etc|al|cf|Fig|Eq|Sec|No)\.)[A-Za-z][a-z]+\.\s+[A-Z]")
# A block's inner line that is the list's heading (capitalised: a wrapped word "references" is not).
_REFERENCE_LINE = re.compile(r"^\s*(?:[1-9]\d?\.?\s+|[IVX]{1,5}\.?\s+)?(?:References|REFERENCES|Bibliography|BIBLIOGRAPHY)\s*$")
_CAPTION_START = re.compile(r"^(?:figure|fig\.|table)\s*[A-Z]?\d+\s*[:.]", re.I)
_FOUR_DIGITS = re.compile(r"\d{4}")
_YEAR_OR_COMMA = re.compile(r"\b(?:19|20)\d\d\b|, ")
_ENDS_APPENDIX = re.compile(r"\b(?:appendix|appendices|supplementary materials?)\)?$", re.I)
# A heading printed as the first line of a block whose other lines are its text (mupdf merges a
# bold run-in heading with what follows): the reference list's own heading, or one that ends it.
_LEADING_HEADING = re.compile(r"^(?:(?:[1-9]|1[0-5]|[IVX]{1,5}|[A-H])\.?\s+)?(?:references|bibliography|literature cited|"
                              r"works cited|references and notes|acknowledge?ments?|appendix|appendices|"
                              r"supplementary materials?|technical appendix)[.:]?$", re.I)
_SECTION_NUMBER = re.compile(r"^(?:[\dIVX]+(?:\.\d+)*|[A-H](?:\.\d+)*)\.?\s+")
# Where an abstract's block runs on: its keywords, or the first page's author footnotes.
_ABSTRACT_TAIL = re.compile(r"\s+(?:(?:index terms|keywords|key words)\s*[—–:-]|[∗*†‡]+\s*(?:equal contribution|"
                            r"corresponding author|work (?:done|performed)|these authors)).*$", re.I | re.S)


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


def clean(pages: list[list[Block]], sizes: list[tuple[float, float]], vocabulary: set[str] | None = None,
          lines_of: Callable[[int], list[Line]] | None = None, title: str | None = None) -> Extraction:
    """Clean text, abstract, headings and reference entries from the blocks of every page.

    ``lines_of(page)`` gives a page's lines with their boxes, read only for the reference list's
    pages (hanging indents and spacing separate its entries); without it each block's lines are used.
    ``title``, the paper's, ends the reference list where a page after it opens with the title
    again (a supplement or appendix that repeats it).
    """
    stamp = None
    kept_pages = []
    for blocks, (width, height) in zip(pages, sizes):
        kept = []
        for b in blocks:
            m = STAMP.match(" ".join(b.text.split()))
            if m and (b.x1 < 0.15 * width or b.x0 > 0.85 * width):
                aid = try_parse_arxiv_id(m.group(1))
                stamp = stamp or (aid.versioned if aid else None)
                continue
            kept.append(b)
        kept_pages.append(kept)
    kept_pages = _drop_running_lines(kept_pages, sizes)
    ordered = [b for blocks, (width, _) in zip(kept_pages, sizes) for b in _reading_order(blocks, width)]
    ordered = [piece for b in ordered for piece in _split_leading_heading(b)]
    if vocabulary is None:
        vocabulary = document_words(ordered)

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
    if refs_start is not None and title:
        refs_end = next((j for j in range(refs_start + 1, refs_end)
                         if ordered[j].page != ordered[j - 1].page and _repeats_title(ordered[j], title)), refs_end)

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
        references = split_references(_without_float_pages(ordered[refs_start:refs_end]), vocabulary, lines_of)
    return Extraction(
        status="ok",
        text=text or None,
        abstract=_abstract(ordered, heading_at, vocabulary),
        headings=headings,
        references=references,
        arxiv_stamp=stamp,
    )


def _without_float_pages(blocks: list[Block]) -> list[Block]:
    """The reference list's blocks less those of a page inside it that holds no year and no link (a
    page of figures or tables that LaTeX placed among the references): the list goes on after it."""
    if not blocks:
        return blocks
    cited = {b.page for b in blocks if _YEAR_OR_LINK.search(b.text)}
    return [b for b in blocks if b.page == blocks[0].page or b.page in cited]


def _repeats_title(b: Block, title: str) -> bool:
    """Whether a short block is the paper's title, or its first line or lines (four words at least)."""
    if len(b.lines) > 3:
        return False
    text, whole = _letters(b.text), _letters(title)
    return len(text.split()) >= 4 and whole.startswith(text)


def _letters(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _split_leading_heading(b: Block) -> list[Block]:
    """A section heading run into a block's text, as a block of its own: "References" (or the like)
    on any line of the block, a heading that ends the list ("Acknowledgements", "Appendix") on its
    first line. The pieces share the box's height line by line."""
    if len(b.lines) < 2:
        return [b]
    at = next((i for i, line in enumerate(b.lines) if len(line) <= 40 and (i == 0 or _REFERENCE_LINE.match(line))
               and _LEADING_HEADING.match(line.strip())), None)
    if at is None:
        return [b]
    step = (b.y1 - b.y0) / len(b.lines)
    cuts = [c for c in (at, at + 1) if 0 < c < len(b.lines)]
    edges = [0, *cuts, len(b.lines)]
    return [Block(b.page, b.x0, b.y0 + lo * step, b.x1, b.y0 + hi * step, b.lines[lo:hi])
            for lo, hi in zip(edges, edges[1:])]


def _unheaded_references(blocks: list[Block]) -> int | None:
    """Where a reference list with no heading starts, past the document's first fifth of pages: a
    block opening "[1]", or a block opening with names where five of ten blocks open with names and five
    hold a year or a link (an entry may span several blocks)."""
    half = next((i for i, b in enumerate(blocks) if b.page >= blocks[-1].page // 5), 0) if blocks else 0
    for i in range(half, len(blocks)):
        if NUMBERED.match(blocks[i].text) and NUMBERED.match(blocks[i].text).group(1) == "1":
            return i
    for i in range(half, len(blocks)):
        if _NAMES_START.match(blocks[i].text):
            # ten blocks with words: a figure's numbers and a caption (a float among the entries) skipped
            window = [t for t in (b.text for b in blocks[i:i + 30]) if _THREE_LETTERS.search(t)
                      and not _CAPTION_START.match(t)][:10]
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


def _continues(previous: str, following: str) -> bool:
    """Whether ``following`` carries on the sentence ``previous`` broke off (column or page break)."""
    if not previous or not following or not following[0].islower():
        return False
    return previous.endswith("-") or previous[-1] not in ".!?:;)]"


def _strip_number(heading: str) -> str:
    return _SECTION_NUMBER.sub("", heading)


def _heading(b: Block, in_references: bool) -> str | None:
    """The block's text if it is a section heading, else None."""
    if len(b.lines) > 3:  # most blocks: paragraphs, rejected before their text is built
        return None
    text = " ".join(" ".join(b.lines).split())
    if len(b.lines) == 3 and len(text) > 90:  # a number or letter may sit on its own line
        return None
    if len(text) > 100 or not _THREE_LETTERS.search(text):
        return None
    if _HEADING_NAMES.match(text):
        return text.rstrip(".:")
    if in_references:  # a numbered reference ("12. Smith, ...") must not end the list
        m = _HEADING_LETTERED.match(text)  # nor an entry's line of names: "C. Author, D. Author, and"
        if m and _title_like(m.group(2)) and not _NAMES_IN.search(m.group(2)) or _AFTER_REFERENCES.match(text) and len(text.split()) <= 6:
            return text
        m = _APPENDIX_HEADING.match(text)
        if m and len(m.group(2).split()) <= 14 and not _YEAR_OR_COMMA.search(m.group(2)) \
                or _ENDS_APPENDIX.search(text) and len(text.split()) <= 10:
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
    return letters >= 0.6 * len(title.replace(" ", "")) and not _FOUR_DIGITS.search(title)


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


def _looks_like_footnote(text: str) -> bool:
    return bool(re.match(r"^(\*|†|‡|\d\s?[A-Z][a-z]+ (University|Institute)|Correspondence|Preprint|Under review|"
                         r"Proceedings|Copyright|\d{4} (ICML|NeurIPS|IEEE))", text))
