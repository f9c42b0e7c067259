"""A PDF's reference list split into one string per entry (parsing an entry is ``references.py``).

Numbered lists ("[12] ...", "12. ...") split at their numbers; other lists by their shape, read
from the lines' positions: hanging indents, or wider gaps between entries than between lines.
Figure and table captions are left out, and an entry broken by a column or page break is joined.
"""

from __future__ import annotations

import re
from typing import Callable

from litmine.pdf.layout import Block, Line, group_rows, join_lines

NUMBERED = re.compile(r"^\s*\[(\d{1,4})\]\s*")
_ALPHA_LABEL = re.compile(r"^\s*\[([A-Z][A-Za-z+]{0,7}\d{2}[a-z]?)\]\s*")  # biblatex alphabetic: [ACF24], [SZSB+14]
_DOTTED = re.compile(r"^\s*(\d{1,4})\.\s+(?=\S)")
_CAPTION = re.compile(r"^(?:figure|fig\.|table|algorithm|listing)\s*[A-Z]?[\d.]+\s*[:.]", re.I)
_AUTHOR_LIKE = re.compile(r"^(?:[A-Z][\w'’.-]*,? ){1,4}|^[A-Z][\w'’-]+\.")
_SURNAME = r"(?:(?:van|von|de|der|den|del|di|da|le|la|du|dos|ur)\s)*[A-Z][\w'’´¨`-]*(?:\s[A-Z][\w'’-]+)?"
_INITIALS = r"[A-Z]\.(?:\s?-?[A-Z]\.)*"
# What starts an author-year entry: "Surname, I." (natbib, AAAI, APA), "Surname I.," (MNRAS),
# "Surname, Given," (old ICML), "Given Surname," or "Given Surname and" (full names), an
# organisation followed by its year ("OpenAI. 2023.").
_ENTRY_START = re.compile(
    rf"^(?:{_SURNAME},\s{_INITIALS}(?:,|;|\s(?:and|&)\s|\s\(?(?:19|20)\d\d|\s[A-Z]|$)"
    rf"|{_SURNAME}\s{_INITIALS},"
    rf"|{_SURNAME},\s[A-Z][a-z]+(?:\s[A-Z]\.?)?(?:,|\sand\s|\.)"
    rf"|[A-Z][a-z]+(?:[\s-][A-Z](?:[a-z]+|\.))*\s{_SURNAME}(?:,|\sand\s|\.\s(?:19|20)\d\d)"
    rf"|[A-Z][\w-]+\.\s(?:19|20)\d\d)")
_HAS_YEAR = re.compile(r"(?<![\d./-])(?:19[5-9]|20[0-4])\d[a-z]?(?![\d-])|\bn\.d\.|https?://|arXiv", re.I)


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
    if sum(1 for text in texts if NUMBERED.match(text)) >= 3:
        entries = _split_numbered(texts, NUMBERED, vocabulary)
    elif sum(1 for text in texts if _ALPHA_LABEL.match(text)) >= 3:
        entries = _split_numbered(texts, _ALPHA_LABEL, vocabulary)
    else:
        dotted = [int(m.group(1)) for text in texts if (m := _DOTTED.match(text))]
        if len(dotted) >= 3 and dotted[:3] == [1, 2, 3]:
            entries = _split_numbered(texts, _DOTTED, vocabulary, sequential=True)
        else:
            entries = [e for e in (join_lines(part, vocabulary) for part in _split_by_shape(lines)) if _entry_like(e)]
    return [e for e in entries if not _CAPTION.match(e)]


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
        middle = _middle(every)
        two_columns = sum(ln.x0 < middle - 10 and ln.x1 > middle + 10 for ln in every) <= 0.2 * len(every)
        top, bottom = min(b.y0 for b in on_page) - 1, max(b.y1 for b in on_page) + 1
        inside = [ln for ln in every if top <= (ln.y0 + ln.y1) / 2 <= bottom
                  and any(b.x0 - 1 <= (ln.x0 + ln.x1) / 2 <= b.x1 + 1 and b.y0 - 1 <= (ln.y0 + ln.y1) / 2 <= b.y1 + 1
                          for b in on_page)]
        pieces = []
        for row in group_rows(inside):
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
    middle = {page: _middle([ln for ln in lines if ln.page == page]) for page in {ln.page for ln in lines}}

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
            # Spacing first; then what the line starts with, read against the entry so far: a line
            # that starts like an entry after a finished one starts a new one even without a gap,
            # and a gap inside an entry that has not reached its year does not end it.
            starts = ln.y0 - prev.y1 > wide
            if not starts and _finished(entries[-1]) and _ENTRY_START.match(ln.text):
                starts = True
            elif starts and not _HAS_YEAR.search(" ".join(entries[-1])) and not _ENTRY_START.match(ln.text):
                starts = False
        else:  # the first line of a column: a new entry only if the last one ended and this one starts like one
            last = entries[-1][-1].rstrip()
            starts = bool(_AUTHOR_LIKE.match(ln.text)) and last.endswith((".", ")")) and not ln.text[:1].islower()
        if starts:
            entries.append([ln.text])
        else:
            entries[-1].append(ln.text)
    return _drop_trailing_matter(entries)


def _middle(lines: list[Line]) -> float:
    """The page's middle from its lines' extent; a few lines running past the margin (a long URL)
    do not move it."""
    right = sorted(ln.x1 for ln in lines)
    return (min(ln.x0 for ln in lines) + right[int(0.9 * (len(right) - 1))]) / 2


def _finished(entry: list[str]) -> bool:
    """Whether an author-year entry has reached its year and a title and ends like an entry."""
    text = " ".join(entry).rstrip()
    return bool(_HAS_YEAR.search(text)) and text.endswith((".", ")", "]")) and len(re.findall(r"\. ", text)) >= 1


def _drop_trailing_matter(entries: list[list[str]]) -> list[list[str]]:
    """Table rows or figure text after the last entry: trailing entries with no year and no link
    that do not start like an entry."""
    while len(entries) > 1:
        text = " ".join(entries[-1])
        if _HAS_YEAR.search(text) or _ENTRY_START.match(text):
            break
        entries.pop()
    return entries


def _split_numbered(lines: list[str], marker: re.Pattern, vocabulary: set[str], sequential: bool = False) -> list[str]:
    entries: list[list[str]] = []
    expected = 1
    for line in lines:
        m = marker.match(line)
        if m and (not sequential or int(m.group(1)) == expected):
            expected = int(m.group(1)) + 1 if sequential else expected
            entries.append([line[m.end():]])
        elif entries:
            entries[-1].append(line)
    return [e for e in (join_lines(lines, vocabulary) for lines in entries) if _entry_like(e)]


def _entry_like(entry: str) -> bool:
    return len(entry) >= 20 and sum(map(str.isalpha, entry)) >= 10
