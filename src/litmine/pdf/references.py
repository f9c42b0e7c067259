"""Reference-list entries: parsed into fields, and linked to the works litmine has.

``parse_reference`` reads one entry's text ("A. Author and B. Author. Title. In Venue, 2019.")
into authors, title, year, venue, arXiv id and DOI. It reads the common styles (natbib
author-year, ACL, IEEE with quoted titles, APA with the year after the authors); a field it
cannot find is left empty, and the raw text is always kept.

``link_citations`` links stored entries to works: by arXiv id (the works' own, or one a survey's
bibliography gives for its entry), by DOI, or by title and year. A title matches when a work's
normalised title appears whole in the normalised entry, or when it is at least ``TITLE_MATCH``
similar to the parsed title, and the entry's year (where both are known) is the work's within a
year; the score is stored with the link.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from typing import TYPE_CHECKING

from litmine.ids import find_arxiv_id, normalize_title, try_parse_arxiv_id

if TYPE_CHECKING:  # parsing runs in extraction workers, which do not load the store
    from litmine.store import Connection

log = logging.getLogger(__name__)

PARSER_VERSION = "refs-1"
TITLE_MATCH = 0.9  # least similarity of a parsed title to a work's title for a fuzzy link
YEAR_SLACK = 1  # most years between an entry's year and its work's for a title link
CONTAINED_MATCH = 0.6  # least similarity of the parsed title to a work's title found whole in the entry
_KEY_WORDS = 4  # title index key: the first words of a normalised title

_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.I)
_YEAR = re.compile(r"(?<![\d/.:-])((?:18[5-9]|19\d|20[0-4])\d)[a-z]?(?![\d])")
_ACCESSED = re.compile(r"\b(?:Accessed|Retrieved|Last accessed)\b.*$", re.I)
_QUOTED = re.compile(r"[“\"]([^”\"]{8,300}?)[,.]?[”\"]")
_VENUE_START = re.compile(r"^(In |Proc\b|Proc\.|Proceedings|Advances in|arXiv|(?-i:CoRR)|Journal|Trans\.|Transactions|IEEE|ACM|"
                          r"Nature\b|Science\b|"
                          r"Technical Report|Ph\.? ?D|URL|https?://|Distill|Transformer Circuits)", re.I)
_LNCS_AUTHORS = re.compile(r"^([^:]{2,600}?(?:[A-Z]\.|et al\.?)):\s+(?=\S)")
# ACL/AAAI "Authors. 2016. Title." and natbib "Authors (2016). Title.": the year standing alone after the authors
_YEAR_AFTER_AUTHORS = re.compile(r"(?:(?<=[.,;]) \(?|\s\()((?:19|20)\d\d)[a-z]?\)?[.,:]?(?= )")


@dataclass
class ParsedReference:
    raw: str
    title: str | None = None
    authors: list[str] | None = None
    year: int | None = None
    venue: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None


def normalize_arxiv_id(value: str | None) -> str | None:
    """'arXiv:1606.03490v3' -> '1606.03490'; old-style ids keep their archive: 'hep-th/9901001'."""
    parsed = try_parse_arxiv_id(value)
    return parsed.base if parsed else None


def parse_reference(raw: str) -> ParsedReference:
    """Fields of one reference entry; what cannot be found stays None."""
    raw = " ".join(raw.split())
    ref = ParsedReference(raw=raw)
    cited = find_arxiv_id(raw)
    if cited:
        ref.arxiv_id = cited.base
    m = _DOI.search(raw)
    if m:
        ref.doi = m.group(1).rstrip(".,;)]").lower()
    body = re.sub(r"https?://\S+", "", raw)
    years = [int(y) for y in _YEAR.findall(_ACCESSED.sub("", body))]
    if years:
        ref.year = years[-1] if not re.search(r"\((?:19|20)\d\d[a-z]?\)", body[:200]) else years[0]

    quoted = _QUOTED.search(body)
    if quoted:  # IEEE: A. Author, B. Author, "Title," in Venue, 2019.
        ref.title = quoted.group(1).strip(" ,.")
        ref.authors = _split_authors(body[: quoted.start()])
        ref.venue = _clean_venue(body[quoted.end():])
        return ref
    after = _year_after_authors(body)
    lncs = _LNCS_AUTHORS.match(body)
    if lncs and after is None:  # Springer LNCS: "Surname, I., Surname, I.: Title. Venue (2019)"
        sentences = [lncs.group(1)] + _sentences(body[lncs.end():])
    elif after is not None:  # "Authors. 2016. Title. Venue." or "Authors (2016). Title. Venue."
        year, cut = after
        ref.year = year
        sentences = [body[:cut]] + _sentences(body[cut:].lstrip(" .,:)"))
    else:
        sentences = _sentences(body)
    if not sentences:
        return ref
    ref.authors = _split_authors(sentences[0])
    rest = [s for s in sentences[1:] if not re.fullmatch(r"\(?(?:19|20)\d\d[a-z]?\)?", s.strip(" .,"))]
    if rest:
        ref.title = re.sub(r",?\s*\(?(?:19|20)\d\d[a-z]?\)?$", "", rest[0].strip(" .,")).strip(" .,") or None
        ref.venue = _clean_venue(" ".join(rest[1:])) if len(rest) > 1 else None
    if ref.title and _VENUE_START.match(ref.title):  # no title: the "title" is the venue
        ref.venue, ref.title = ref.title, None
    return ref


def _year_after_authors(body: str) -> tuple[int, int] | None:
    """(year, where the text after it starts) when the year stands right after the author list, in the
    first two thirds of the entry and with nothing but names before it; else None."""
    for m in _YEAR_AFTER_AUTHORS.finditer(body[:max(60, 2 * len(body) // 3)]):
        before = body[:m.start()].strip()
        if before and len(_sentences(before)) == 1 and not _VENUE_START.match(before):
            return int(m.group(1)), m.end()
    return None


def _sentences(text: str) -> list[str]:
    """Split at '. ' boundaries that are not after an initial, 'et al', or an abbreviation."""
    parts, start = [], 0
    for m in re.finditer(r"[.?!]\s+(?=\S)|\)\.\s+", text):
        before = text[start:m.start() + 1]
        last = before.split()[-1] if before.split() else ""
        if re.fullmatch(r"(?:[A-Z]|[a-z]|[A-Z][a-z]?|[A-Z]\.-?[A-Z]|al|et al|vol|no|pp|eds?|Proc|Conf|Int|Jr|St|vs)\.?",
                        last.rstrip(".")) and not last.endswith(").") and not _prose_follows(text[m.end():]):
            continue
        if m.group(0).startswith(("?", "!")):
            if text[m.end():m.end() + 1].islower():  # "Can llms reproduce labels? a study of ..." goes on
                continue
            parts.append(text[start:m.start() + 1].strip())
        else:
            keep = ")" if m.group(0).startswith(")") else "." if re.fullmatch(r"[A-Z]\.?", last) else ""
            parts.append(text[start:m.start()].strip() + keep)
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _prose_follows(text: str) -> bool:
    """Whether ``text`` starts like a title ("Machine learning methods"), not a name ("Smith, ")."""
    return bool(re.match(r"[A-Z][\w’'-]*(?::|\s+(?!and\b|van\b|von\b|de\b|der\b|del\b|la\b|di\b|et\b)[a-z][\w’'-]*)", text))


def _split_authors(text: str) -> list[str] | None:
    text = re.sub(r"\(?(?:19|20)\d\d[a-z]?\)?\.?\s*$", "", text.strip()).strip(" ,")
    if text.count(";") >= 1 and re.match(r"[^;,]+, [A-Z]", text):  # AAAI: "Surname, I.; Surname, I.; and Surname, I."
        pieces = [p.strip() for p in re.split(r";\s*(?:and\s+)?|,?\s+and\s+(?=[^,;]+, [A-Z])", text) if p.strip()]
        names = []
        for piece in pieces:
            surname, _, given = piece.partition(", ")
            names.append(f"{given.strip()} {surname.strip()}".strip())
        return names or None
    if text.endswith(".") and not re.search(r"(?:^|[\s.])[A-Z]\.$", text):
        text = text[:-1]
    if not text or len(text) > 600:
        return None
    text = re.sub(r",?\s+(?:and|&)\s+", ", ", text)
    text = re.sub(r",?\s*et al\.?$", "", text)
    pieces = [p.strip() for p in text.split(",") if p.strip() and p.strip() != "..."]
    # "Surname, Given" pairs (natbib author-year) or "Given Surname" names.
    if len(pieces) >= 2 and all(len(p.split()) == 1 for p in pieces[0::2]) and all(
            re.fullmatch(r"(?:[A-Z][\w’'-]*\.?\s?)+", p) for p in pieces[1::2]):
        return [f"{given} {surname}" for surname, given in zip(pieces[0::2], pieces[1::2])]
    return pieces or None


def _clean_venue(text: str) -> str | None:
    text = re.sub(r"https?://\S+|doi:\s*\S+|arXiv:\S+", "", text)
    text = re.sub(r"^(?:in|In)\s+", "", text.strip(" .,"))
    text = re.sub(r",?\s*(?:19|20)\d\d[a-z]?\.?$", "", text).strip(" .,")
    return text[:300] or None


# -- linking ------------------------------------------------------------------------------------


class TitleIndex:
    """Works' normalised titles (and years, where known), keyed by their first words, for matching
    reference entries by title and year."""

    def __init__(self, titles: list[tuple]) -> None:
        self.by_key: dict[tuple[str, ...], list[tuple[int, str, int | None]]] = {}
        self.exact: dict[str, list[tuple[int, int | None]]] = {}
        for work_id, title, *rest in titles:
            year = rest[0] if rest else None
            norm = normalize_title(title)
            words = tuple(norm.split())
            if len(norm) < 12:
                continue
            self.exact.setdefault(norm, []).append((work_id, year))
            if len(words) < _KEY_WORDS:  # short titles link only when the parsed title is exactly theirs
                continue
            self.by_key.setdefault(words[:_KEY_WORDS], []).append((work_id, norm, year))

    def match(self, raw: str, title: str | None, year: int | None = None) -> tuple[int, float] | None:
        """(work_id, score) of the work the entry names by title and year, or None.

        Score 1.0: the parsed title is the work's title. Otherwise the similarity of the parsed
        title to a work's title that appears whole in the entry (a wrongly split entry still
        links), or to one sharing its first words; at least ``CONTAINED_MATCH`` or ``TITLE_MATCH``.
        Where both the entry and the work have a year, they must agree within ``YEAR_SLACK``
        (a preprint and its proceedings version a year apart are one work; "Deep learning" of 2015
        and of 1998 are not).
        """
        norm_title = normalize_title(title)
        exact = [work_id for work_id, work_year in self.exact.get(norm_title, ()) if _years_agree(year, work_year)]
        if exact:
            return exact[0], 1.0
        words = normalize_title(raw).split()
        text = " " + " ".join(words) + " "
        best: tuple[int, float] | None = None
        for i in range(len(words) - _KEY_WORDS + 1):
            for work_id, norm, work_year in self.by_key.get(tuple(words[i:i + _KEY_WORDS]), ()):
                if f" {norm} " not in text or not _years_agree(year, work_year):
                    continue
                score = _similarity(norm_title, norm) if norm_title else 1.0
                if score >= CONTAINED_MATCH and (best is None or score > best[1]):
                    best = (work_id, round(score, 3))
        if best is None and norm_title:
            for work_id, norm, work_year in self.by_key.get(tuple(norm_title.split()[:_KEY_WORDS]), ()):
                score = _similarity(norm_title, norm)
                if score >= TITLE_MATCH and _years_agree(year, work_year) and (best is None or score > best[1]):
                    best = (work_id, round(score, 3))
        return best


def _years_agree(entry_year: int | None, work_year: int | None) -> bool:
    return entry_year is None or work_year is None or abs(entry_year - work_year) <= YEAR_SLACK


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a and b else 0.0


def link_citations(con: "Connection", citing_work_id: int | None = None) -> int:
    """Link unresolved stored entries (all, or one work's) to works; returns how many were linked."""
    from litmine.store import text as text_store

    rows = text_store.unresolved_citations(con, citing_work_id)
    if not rows:
        return 0
    by_arxiv = text_store.works_by_arxiv_id(con)
    by_doi = text_store.works_by_doi(con)
    index = TitleIndex(text_store.work_titles(con))
    links = []
    for citing, position, raw, title, year, arxiv_id, doi in rows:
        arxiv = normalize_arxiv_id(arxiv_id)
        target = None
        if arxiv and arxiv in by_arxiv:
            target = (by_arxiv[arxiv], "arxiv_id", None)
        elif doi and doi.lower() in by_doi:
            target = (by_doi[doi.lower()], "doi", None)
        else:
            hit = index.match(raw, title, year)
            if hit:
                target = (hit[0], "title", hit[1])
        if target and target[0] != citing:
            links.append((citing, position, *target))
    text_store.set_citation_links(con, links)
    log.info("linked %d of %d unresolved references", len(links), len(rows))
    return len(links)
