"""arXiv identifiers: parsed once, kept with their version, and never turned into an unsafe path.

Two schemes exist (https://info.arxiv.org/help/arxiv_identifier.html): new-style ``YYMM.NNNN[N]``
(``2207.13243v6``) since April 2007, and old-style ``archive[.SC]/YYMMNNN`` (``hep-th/9901001``,
``math.GT/0309136``) before. Both may carry a version ``vN``. The id without version names the
work (``works.arxiv_id``); the version names one of its PDFs.

This module is the one place that knows what an id looks like: ``parse_arxiv_id`` reads an id
given alone, ``find_arxiv_id`` one cited inside text (a reference entry, a PDF's margin stamp),
``arxiv_id_in_name`` one a file is named by, and ``ID_IN_TEXT`` lets a pattern that reads a
line around an id (the margin stamp) match the id's shape without spelling it again.
A work without an id is recognised by its title: ``normalize_title`` is the one way titles are compared.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from litmine.errors import InvalidArxivId

_NEW = re.compile(r"^(?P<base>\d{4}\.\d{4,5})(?:v(?P<version>\d+))?$")
_OLD = re.compile(r"^(?P<base>(?P<archive>[a-z]+(?:-[a-z]+)*)(?:\.(?P<sc>[a-z]{2}))?/\d{7})(?:v(?P<version>\d+))?$", re.I)
_PREFIXES = re.compile(r"^(?:arxiv:|https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf)/)", re.I)

# An id's shape inside text, either scheme, with its version if any (checked by ``parse_arxiv_id``).
ID_IN_TEXT = r"(?:\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v\d+)?"
# Where text cites an id: "arXiv:1606.03490", "arXiv preprint arXiv:2101.00001", "arxiv.org/abs/...",
# "CoRR, abs/1301.4083".
_CITED = re.compile(rf"(?:arxiv(?:\.org/(?:abs|pdf)/|\s*(?:preprint)?\s*(?:arxiv)?\s*[:\s]\s*)|abs/)({ID_IN_TEXT})(?!\d)",
                    re.I)
# A file named by a new-style id: "1606.03490v3__title.pdf" (an old-style name, "hep-th_9901001", is
# too like any "report_2019001" to be taken for one).
_IN_NAME = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5}(?:v\d+)?)(?!\d)")


@dataclass(frozen=True, order=True)
class ArxivId:
    """An arXiv identifier: ``base`` names the work, ``version`` (or None) one of its versions."""

    base: str
    version: int | None = None

    def __str__(self) -> str:
        return self.versioned

    @property
    def versioned(self) -> str:
        return f"{self.base}v{self.version}" if self.version else self.base

    @property
    def old_style(self) -> bool:
        return "/" in self.base

    def with_version(self, version: int | None) -> "ArxivId":
        return ArxivId(self.base, version)

    def filename(self, suffix: str = ".pdf") -> str:
        """A file name that is one path component of safe characters: ``hep-th/9901001v2`` becomes
        ``hep-th_9901001v2.pdf`` (``_`` cannot occur in an id, so the mapping is reversible)."""
        name = self.versioned.replace("/", "_") + suffix
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise InvalidArxivId("id makes an unsafe file name", id=self.versioned)
        return name


def parse_arxiv_id(text: str) -> ArxivId:
    """Parse ``2207.13243v6``, ``arXiv:2207.13243``, ``https://arxiv.org/abs/hep-th/9901001v2``,
    ``math.GT/0309136``. Raises ``InvalidArxivId`` for anything else."""
    raw = str(text).strip()
    cleaned = _PREFIXES.sub("", raw).removesuffix(".pdf").strip("/")
    m = _NEW.match(cleaned)
    if m:
        yymm = int(m["base"][2:4])
        if not 1 <= yymm <= 12:
            raise InvalidArxivId(f"not an arXiv id: month {yymm:02d} does not exist", id=raw)
        return ArxivId(m["base"], int(m["version"]) if m["version"] else None)
    m = _OLD.match(cleaned)
    if m:
        archive = m["archive"].lower()
        base = archive + (f".{m['sc'].upper()}" if m["sc"] else "") + "/" + m["base"].split("/")[1]
        return ArxivId(base, int(m["version"]) if m["version"] else None)
    raise InvalidArxivId("not an arXiv id (expected 2207.13243v6 or hep-th/9901001)", id=raw)


def try_parse_arxiv_id(text: str | None) -> ArxivId | None:
    if not text:
        return None
    try:
        return parse_arxiv_id(text)
    except InvalidArxivId:
        return None


def find_arxiv_id(text: str | None) -> ArxivId | None:
    """The first arXiv id ``text`` cites ("... arXiv preprint arXiv:2304.14997, 2023."), or None."""
    for m in _CITED.finditer(text or ""):
        aid = try_parse_arxiv_id(m.group(1))
        if aid is not None:
            return aid
    return None


def arxiv_id_in_name(name: str) -> ArxivId | None:
    """The arXiv id a file name starts with or contains ("1606.03490v3__mythos.pdf"), or None."""
    m = _IN_NAME.search(name)
    return try_parse_arxiv_id(m.group(1)) if m else None


def safe_child(root: Path, name: str) -> Path:
    """``root / name``, refusing any name that would land outside ``root`` or in a subdirectory."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise InvalidArxivId("unsafe file name", name=name)
    path = root / name
    if path.resolve().parent != root.resolve():
        raise InvalidArxivId("file name escapes its folder", name=name)
    return path


def normalise_doi(text: str | None) -> str | None:
    """``10.1109/access.2018.2870052`` from any of its usual spellings, or None."""
    if not text:
        return None
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", text.strip(), flags=re.I)
    return doi.lower() if doi.startswith("10.") else None


# -- titles: how a work without an id is recognised ----------------------------------------------


def normalize_title(title: str | None) -> str:
    """A title as compared with another: LaTeX commands dropped (``\\alpha``), accents removed,
    lower case, every run of other characters (punctuation, braces, ``$``) one space."""
    if not title:
        return ""
    text = unicodedata.normalize("NFKD", title)
    if "\\" in text:
        text = _LATEX_COMMAND.sub(" ", text)
    if not text.isascii():  # only non-ASCII text has combining marks to drop (most titles: none)
        text = text.translate(_COMBINING)
    text = text.lower()
    return " ".join(_NOT_ALNUM.sub(" ", text).split())


class _CombiningMarks(dict):
    """A ``str.translate`` table that deletes combining marks: each character is looked up once,
    then found in C (a per-character Python filter cost half of linking's time)."""

    def __missing__(self, code: int) -> int | None:
        self[code] = None if unicodedata.combining(chr(code)) else code
        return self[code]


_COMBINING = _CombiningMarks()
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
