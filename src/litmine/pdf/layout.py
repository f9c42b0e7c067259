"""A PDF page's text as blocks and lines (with their boxes), and the line handling every later
step shares: lines side by side grouped into rows, and lines joined into a paragraph with words
hyphenated across line breaks mended.

A word broken at a line end is joined, keeping the hyphen where the document spells the word
with one elsewhere, or where neither spelling occurs and both halves are words
("high-performance"): the document's own words (``document_words``) decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_HYPHEN_END = re.compile(r"([A-Za-z]+)-$")
_WORD_START = re.compile(r"([a-z][A-Za-z]*)")
_BROKEN_WORD = re.compile(r"[A-Za-z]+-\n[A-Za-z]+")


@dataclass
class Box:
    """Where something sits: its page (from 0) and its box in points, top-left origin."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Block(Box):
    """A text block of a page: its box and its lines."""

    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass
class Line(Box):
    """One text line of a page, with its box and its largest font size."""

    text: str
    size: float = 0.0


def group_rows(lines: list[Line]) -> list[list[Line]]:
    """Lines side by side (sharing a baseline band) grouped into rows, top to bottom."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: (ln.y0, ln.x0)):
        middle = (line.y0 + line.y1) / 2
        if rows and rows[-1][0].y0 <= middle <= rows[-1][0].y1:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(r, key=lambda ln: ln.x0) for r in rows]


def row_text(row: list[Line]) -> str:
    return " ".join(" ".join(line.text for line in row).split())


def row_size(row: list[Line]) -> float:
    return max(line.size for line in row)


def document_words(blocks: Iterable[Block]) -> set[str]:
    """Lower-cased words of the document, hyphenated compounds included, for de-hyphenation; the
    pieces of a word broken at a line end ("prac-" and "tices") are not words."""
    # One pass over the whole text: blocks apart by a blank line, so no match spans two blocks.
    text = "\n\n".join("\n".join(b.lines) for b in blocks)
    return set(_WORD.findall(_BROKEN_WORD.sub(" ", text).lower()))


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
