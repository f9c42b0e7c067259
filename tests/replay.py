"""A loopback arXiv: the real recorded responses, served from 127.0.0.1, so real clients run end to end.

``ReplayServer`` answers the three things litmine asks of arXiv:

* ``/api/query``: the arXiv API. A request whose parameters match a recorded response in
  ``../shared/fixtures/arxiv-api/`` gets that response, byte for byte, with its status. Anything
  else is answered from the corpus: the survey's works (real abstracts in
  ``survey/abstracts.jsonl``, titles and authors from ``survey/bibliography.csv``) and the 74,728
  real listings in ``metadata/*.parquet``, as entries in the exact Atom format of the 2026
  recordings. ``id_list``, ``search_query`` (fields ``ti au abs co jr cat all``, quoted phrases,
  ``AND``/``OR``/``ANDNOT``, brackets, ``submittedDate:[A TO B]``), ``sortBy``, ``sortOrder``,
  ``start`` and ``max_results`` behave as arXiv documents; a malformed id gets arXiv's 400 error feed.
* ``/oai``: OAI-PMH ``ListRecords`` and ``GetRecord`` over the real records in ``oai-pmh/recorded/``,
  filtered by ``from``/``until``/``set`` and paged with resumption tokens (``oai_page_size`` records
  per response).
* ``/pdf/<id>``: the real PDFs of ``pdfs/real``, ``pdfs/partial`` and ``pdfs/other`` by the arXiv id
  their names start with; ``serve_pdf(id, 'broken/x.pdf')`` serves any fixture under an id.

What is not in the corpus is not invented: an unknown id is simply absent from the feed, as on
arXiv. Facts the corpus lacks are derived and documented here: a survey work's ``published`` date
is the first day of the month its new-style id names, a listing's is its listing date; versions are
1 unless ``set_version`` says otherwise; survey works carry no categories (the seed has none).

Faults can hit every n-th matching request (``every=2``: arXiv's empty replies, every second one),
trickle a normal answer a few bytes at a time, or rewrite it (an entry with an unsafe id, a date
that is not a date, a total of a billion results).

Test mode: every request is logged with what answered it (``log``), ``used`` lists the recordings
and corpus sources a run used, ``synthesise=False`` answers only from recordings, and
``check()`` fails naming the URL of every request that had no recording. ``as_of`` hides listings
announced after a date, for replaying arXiv day by day. ``inject`` adds faults: a status (503, a
429 burst with ``Retry-After``), a slow response, an empty page, a connection reset, a truncated
body, or any body and content type.

From the shell (the README's transcripts): ``python tests/replay.py --port 8080`` serves until Ctrl-C
and prints the ``LITMINE_*`` variables to export; ``--help`` lists its options.

Usage::

    with ReplayServer() as server:
        settings = load_settings(arxiv_api_url=server.api_url, arxiv_delay_seconds=0)
        server.inject("status", status=503)          # the next API request gets a 503
        ...
        server.check()                               # no request went unanswered
"""

from __future__ import annotations

import base64
import bisect
import csv
import hashlib
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

_NEW_ID = re.compile(r"^(\d{4})\.(\d{4,5})(v\d+)?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?)/(\d{7})(v\d+)?$")


# -- what was asked and what answered ----------------------------------------------------------


@dataclass
class Hit:
    """One request: what was asked, what answered it (a recording, the corpus, a fault) and how."""

    method: str
    url: str
    status: int
    source: str
    user_agent: str = ""
    at: float = field(default_factory=time.monotonic)  # when it arrived (for checking the spacing)


@dataclass
class Fault:
    """A fault served instead of (or on top of) the normal answer, ``times`` times."""

    kind: str  # status | slow | empty | reset | truncate | body | trickle | rewrite
    path: str = "/api/query"
    times: int = 1
    every: int = 1  # serve it on every n-th matching request (2: every second one), the others normally
    status: int = 503
    delay: float = 0.0
    retry_after: int | None = None
    headers: dict[str, str] | None = None  # kind status: extra headers (a redirect's Location)
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    match: str | None = None  # substring the request's path and query must contain
    rewrite: Callable[[bytes], bytes] | None = None  # kind rewrite: the normal answer's body, changed
    chunk: int = 64  # kind trickle: bytes sent per ``delay`` seconds
    seen: int = 0

    def applies(self, path: str, full: str) -> bool:
        return self.times > 0 and path.startswith(self.path) and (self.match is None or self.match in full)


@dataclass
class Paper:
    """One arXiv record of the corpus."""

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    published: datetime
    version: int = 1
    updated: datetime | None = None
    categories: list[str] = field(default_factory=list)
    primary: str = ""
    comment: str | None = None
    doi: str | None = None
    listing_date: str | None = None
    source: str = ""
    _lower: tuple[str, str, str, str] | None = None

    def fields(self) -> tuple[str, str, str, str]:
        if self._lower is None:
            self._lower = (
                _norm(self.title),
                _norm(self.abstract),
                _norm(" ".join(self.authors)),
                _norm(self.comment or ""),
            )
        return self._lower


def _norm(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the corpus ---------------------------------------------------------------------------------


class Corpus:
    """Survey works (always there) and listings (loaded on first use, filtered by ``as_of``)."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self.survey: dict[str, Paper] = self._load_survey()
        self._listings: list[Paper] | None = None
        self._listing_dates: list[str] = []
        self._by_id: dict[str, Paper] | None = None
        self._lock = threading.Lock()

    def _load_survey(self) -> dict[str, Paper]:
        folder = self.shared / "survey"
        bib = {row["key"]: row for row in csv.DictReader((folder / "bibliography.csv").open(encoding="utf-8"))}
        papers = {}
        for line in (folder / "abstracts.jsonl").open(encoding="utf-8"):
            rec = json.loads(line)
            row = bib.get(rec["key"], {})
            arxiv_id = rec["arxiv_id"]
            m = _NEW_ID.match(arxiv_id)
            published = datetime(2000 + int(m.group(1)[:2]), int(m.group(1)[2:]), 1, tzinfo=timezone.utc)
            papers[arxiv_id] = Paper(
                arxiv_id=arxiv_id,
                title=rec.get("title_seen") or row.get("title", ""),
                abstract=rec["abstract"],
                authors=[a.strip() for a in (row.get("authors") or "").split(";") if a.strip()],
                published=published,
                doi=row.get("doi") or None,
                source="survey",
            )
        return papers

    def listings(self) -> list[Paper]:
        with self._lock:
            if self._listings is None:
                import pyarrow.parquet as pq

                path = self.shared / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
                table = pq.read_table(
                    path,
                    columns=["arxiv_id", "title", "authors", "categories", "primary_category", "comment",
                             "abstract", "listing_date"],
                ).to_pylist()
                table.sort(key=lambda r: r["listing_date"])
                self._listings = [
                    Paper(
                        arxiv_id=r["arxiv_id"],
                        title=r["title"] or "",
                        abstract=" ".join((r["abstract"] or "").split()),
                        authors=list(r["authors"] or []),
                        published=datetime.fromisoformat(r["listing_date"]).replace(tzinfo=timezone.utc),
                        categories=list(r["categories"] or []),
                        primary=r["primary_category"] or "",
                        comment=r["comment"],
                        listing_date=r["listing_date"],
                        source="listings",
                    )
                    for r in table
                ]
                self._listing_dates = [p.listing_date for p in self._listings]
            return self._listings

    def warm(self) -> None:
        """Load the listings and their searchable fields now, rather than on the first search."""
        for paper in self.listings():
            paper.fields()

    def visible_listings(self, as_of: date | None) -> list[Paper]:
        papers = self.listings()
        if as_of is None:
            return papers
        return papers[: bisect.bisect_right(self._listing_dates, as_of.isoformat())]

    def get(self, arxiv_id: str, as_of: date | None) -> Paper | None:
        if arxiv_id in self.survey:
            return self.survey[arxiv_id]
        if self._by_id is None:
            self._by_id = {p.arxiv_id: p for p in self.listings()}
        paper = self._by_id.get(arxiv_id)
        if paper is not None and as_of is not None and paper.listing_date > as_of.isoformat():
            return None
        return paper


# -- arXiv's query language, as far as litmine and its tests use it -----------------------------


_TOKEN = re.compile(r'\(|\)|[A-Za-z]+:\[[^\]]*\]|[A-Za-z]+:"[^"]*"|"[^"]*"|[^\s()]+')


def parse_query(text: str) -> Callable[[Paper], bool]:
    """A predicate for an arXiv ``search_query``; operators are left-associative, as on arXiv."""
    tokens = _TOKEN.findall(text)
    pos = 0

    def expr() -> Callable[[Paper], bool]:
        nonlocal pos
        left = term()
        while pos < len(tokens) and tokens[pos] in ("AND", "OR", "ANDNOT"):
            op = tokens[pos]
            pos += 1
            right = term()
            left = _combine(op, left, right)
        return left

    def term() -> Callable[[Paper], bool]:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"query ends early: {text!r}")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError(f"unbalanced brackets: {text!r}")
            pos += 1
            return inner
        fld, sep, value = tok.partition(":")
        if not sep or fld not in _FIELDS:
            fld, value = "all", tok
        return _field_predicate(fld, value.strip('"'))

    pred = expr()
    if pos != len(tokens):
        raise ValueError(f"cannot parse query near {' '.join(tokens[pos:])!r}")
    return pred


def _combine(op: str, a, b):
    if op == "AND":
        return lambda p: a(p) and b(p)
    if op == "OR":
        return lambda p: a(p) or b(p)
    return lambda p: a(p) and not b(p)


_FIELDS = {"ti": 0, "abs": 1, "au": 2, "co": 3, "jr": None, "cat": None, "all": None, "submittedDate": None, "rn": None}


def _field_predicate(fld: str, value: str):
    if fld == "submittedDate":
        m = re.match(r"\[(\d{8,12})\s+TO\s+(\d{8,12})\]", value)
        if not m:
            raise ValueError(f"bad submittedDate range {value!r}: expected [YYYYMMDDTTTT TO YYYYMMDDTTTT]")
        lo, hi = (datetime.strptime(v.ljust(12, "0"), "%Y%m%d%H%M").replace(tzinfo=timezone.utc) for v in m.groups())
        return lambda p: lo <= p.published <= hi
    if fld == "cat":
        if value.endswith("*"):
            prefix = value[:-1]
            return lambda p: any(c.startswith(prefix) for c in p.categories)
        return lambda p: value in p.categories
    phrase = _norm(value.replace("_", " "))
    if phrase.strip() == "":
        return lambda p: False
    if fld == "all":
        return lambda p: any(phrase in f for f in p.fields())
    if fld in ("jr", "rn"):
        return lambda p: False
    index = _FIELDS[fld]
    return lambda p: phrase in p.fields()[index]


def _relevance(query: str, paper: Paper) -> float:
    words = set(re.findall(r"[a-z0-9]+", re.sub(r"\b[a-zA-Z]+:", " ", query).lower())) - {"and", "or", "andnot"}
    if not words:
        return 0.0
    title = set(paper.fields()[0].split())
    return len(words & title) / len(words | title)


# -- feeds --------------------------------------------------------------------------------------


def _feed(title_query: str, link_query: str, start: int, per_page: int, total: int, entries: list[str]) -> bytes:
    feed_id = base64.b64encode(hashlib.sha1(link_query.encode()).digest()).decode().rstrip("=")
    head = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns="http://www.w3.org/2005/Atom">\n'
        f"  <id>https://arxiv.org/api/{feed_id}</id>\n"
        f"  <title>arXiv Query: {escape(title_query)}</title>\n"
        f"  <updated>{_iso(datetime.now(timezone.utc))}</updated>\n"
        f'  <link href="https://arxiv.org/api/query?{escape(link_query)}" type="application/atom+xml"/>\n'
        f"  <opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>\n"
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
    )
    return (head + "".join(entries) + "</feed>\n").encode("utf-8")


def entry_xml(p: Paper) -> str:
    """One ``<entry>`` in the element order and indentation of the 2026 recordings."""
    vid = f"{p.arxiv_id}v{p.version}"
    updated = p.updated or p.published
    out = [
        "  <entry>\n",
        f"    <id>http://arxiv.org/abs/{vid}</id>\n",
        f"    <title>{escape(p.title)}</title>\n",
        f"    <updated>{_iso(updated)}</updated>\n",
        f'    <link href="https://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>\n',
        f'    <link href="https://arxiv.org/pdf/{vid}" rel="related" type="application/pdf" title="pdf"/>\n',
        f"    <summary>{escape(p.abstract)}</summary>\n",
    ]
    out += [f'    <category term="{escape(c)}" scheme="http://arxiv.org/schemas/atom"/>\n' for c in p.categories]
    out.append(f"    <published>{_iso(p.published)}</published>\n")
    if p.comment:
        out.append(f"    <arxiv:comment>{escape(p.comment)}</arxiv:comment>\n")
    if p.primary:
        out.append(f'    <arxiv:primary_category term="{escape(p.primary)}"/>\n')
    for a in p.authors:
        out.append(f"    <author>\n      <name>{escape(a)}</name>\n    </author>\n")
    if p.doi:
        out.append(f"    <arxiv:doi>{escape(p.doi)}</arxiv:doi>\n")
        out.append(f'    <link rel="related" href="https://doi.org/{escape(p.doi)}" title="doi"/>\n')
    out.append("  </entry>\n")
    return "".join(out)


def error_feed(message: str, anchor: str) -> bytes:
    """arXiv's error feed (one ``Error`` entry), in the format of the recorded 2026 400 response."""
    now = _iso(datetime.now(timezone.utc))
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns="http://www.w3.org/2005/Atom">\n'
        "  <id>https://arxiv.org/</id>\n"
        "  <title>arXiv Search Results</title>\n"
        f"  <updated>{now}</updated>\n"
        "  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>\n"
        "  <opensearch:totalResults>1</opensearch:totalResults>\n"
        "  <opensearch:startIndex>0</opensearch:startIndex>\n"
        "  <entry>\n"
        f"    <id>https://arxiv.org/api/errors#{escape(anchor)}</id>\n"
        "    <title>Error</title>\n"
        f"    <updated>{now}</updated>\n"
        f'    <link href="https://arxiv.org/api/errors#{escape(anchor)}" rel="alternate" type="text/html"/>\n'
        f"    <summary>{escape(message)}</summary>\n"
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n"
        "  </entry>\n"
        "</feed>\n"
    ).encode("utf-8")


# -- recordings -----------------------------------------------------------------------------------


@dataclass
class Recording:
    name: str
    url: str
    status: int
    body: bytes
    params: dict[str, str]
    loose: bool = False  # older recordings: match on search_query/id_list at start 0 only


def _params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def load_recordings(shared: Path) -> list[Recording]:
    base = shared / "fixtures" / "arxiv-api"
    recs = []
    for path in sorted((base / "recorded-2026").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        recs.append(
            Recording(
                f"recorded-2026/{path.name}", data["url"], int(data["status_code"]), data["body"].encode("utf-8"),
                _params(urlsplit(data["url"]).query),
            )
        )
    for path in sorted((base / "recorded-2019" / "xml").glob("id_list=*.xml")):
        m = re.match(r"id_list=(.+)__http(\d+)\.xml", path.name)
        ids = m.group(1).replace("_", "/")
        recs.append(
            Recording(f"recorded-2019/xml/{path.name}", f"https://export.arxiv.org/api/query?id_list={ids}",
                      int(m.group(2)), path.read_bytes(), {"id_list": ids, "search_query": ""}, loose=True)
        )
    for path in sorted((base / "recorded-2016").glob("*.xml")):
        key, _, value = path.stem.partition("=")
        recs.append(
            Recording(f"recorded-2016/{path.name}", f"https://export.arxiv.org/api/query?{path.stem}", 200,
                      path.read_bytes(), {key: value}, loose=True)
        )
    return recs


def _match_recording(recs: list[Recording], params: dict[str, str]) -> Recording | None:
    for rec in recs:
        if not rec.loose and rec.params == params:
            return rec
    if params.get("start", "0") != "0":
        return None
    for rec in recs:
        if rec.loose and "id_list" in rec.params and not params.get("search_query"):
            if params.get("id_list") == rec.params["id_list"]:
                return rec
    return None


# -- OAI-PMH ------------------------------------------------------------------------------------


@dataclass
class OaiRecord:
    identifier: str
    datestamp: str
    sets: list[str]
    xml: str
    source: str


def load_oai_records(shared: Path) -> list[OaiRecord]:
    seen: dict[str, OaiRecord] = {}
    for path in sorted((shared / "fixtures" / "oai-pmh" / "recorded").glob("*.xml")):
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"<record>.*?</record>", text, flags=re.S):
            ident = re.search(r"<identifier>\s*(.*?)\s*</identifier>", block).group(1)
            stamp = re.search(r"<datestamp>\s*(.*?)\s*</datestamp>", block).group(1)
            sets = re.findall(r"<setSpec>\s*(.*?)\s*</setSpec>", block)
            seen.setdefault(ident, OaiRecord(ident, stamp, sets, block, f"oai-pmh/recorded/{path.name}"))
    return sorted(seen.values(), key=lambda r: (r.datestamp, r.identifier))


def _oai_envelope(request_attrs: dict[str, str], body: str) -> bytes:
    attrs = "".join(f' {k}="{escape(v)}"' for k, v in request_attrs.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{_iso(datetime.now(timezone.utc))}</responseDate>\n"
        f"<request{attrs}>http://export.arxiv.org/oai2</request>\n"
        f"{body}\n"
        "</OAI-PMH>\n"
    ).encode("utf-8")


_CACHE: dict[Path, tuple] = {}


def _loaded(shared: Path) -> tuple[list[Recording], Corpus, list[OaiRecord]]:
    """Recordings and corpus, read once per process: servers share them (they are never changed)."""
    if shared not in _CACHE:
        _CACHE[shared] = (load_recordings(shared), Corpus(shared), load_oai_records(shared))
    return _CACHE[shared]


# -- the server ---------------------------------------------------------------------------------


class ReplayServer:
    """The loopback arXiv. Start it with ``with ReplayServer() as server:`` or ``start()``/``stop()``."""

    def __init__(
        self,
        shared: Path = SHARED,
        *,
        as_of: date | None = None,
        synthesise: bool = True,
        oai_page_size: int = 2,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        if not shared.is_dir():
            raise FileNotFoundError(f"the shared fixtures folder is missing: expected it at {shared}")
        self.shared = shared
        self.as_of = as_of
        self.synthesise = synthesise
        self.oai_page_size = oai_page_size
        self.address = (host, port)  # port 0: any free port (the tests); the command line names one
        self.recordings, self.corpus, self.oai_records = _loaded(shared)
        self.pdfs = self._index_pdfs()
        self.versions: dict[str, tuple[int, datetime | None]] = {}
        self.faults: list[Fault] = []
        self.log: list[Hit] = []
        self._oai_tokens: dict[str, tuple[list[OaiRecord], int, dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> "ReplayServer":
        self.corpus.warm()  # once per test process: a first request must not pay for it (a deadline would cut it)
        handler = type("Handler", (_Handler,), {"replay": self})
        self._httpd = _QuietServer(self.address, handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the replay server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/query"

    @property
    def oai_url(self) -> str:
        return f"{self.base_url}/oai"

    @property
    def pdf_url(self) -> str:
        return f"{self.base_url}/pdf"

    def env(self) -> dict[str, str]:
        """``LITMINE_*`` variables that point litmine at this server, with no politeness delay."""
        return {
            "LITMINE_ARXIV_API_URL": self.api_url,
            "LITMINE_ARXIV_OAI_URL": self.oai_url,
            "LITMINE_ARXIV_PDF_URL": self.pdf_url,
            "LITMINE_ARXIV_DELAY_SECONDS": "0",
        }

    # -- test controls

    def inject(self, kind: str, *, path: str = "/api/query", times: int = 1, **kw) -> Fault:
        """Serve a fault on the next ``times`` requests under ``path`` (with ``every=n``, on every n-th
        of them). Kinds: status, slow, empty, reset, truncate, body, trickle (the normal answer, ``chunk``
        bytes every ``delay`` seconds), rewrite (the normal answer passed through ``rewrite``); see ``Fault``."""
        if kind not in ("status", "slow", "empty", "reset", "truncate", "body", "trickle", "rewrite"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind=kind, path=path, times=times, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def set_version(self, arxiv_id: str, version: int, updated: datetime | None = None) -> None:
        """Pretend arXiv now has ``version`` of the corpus paper ``arxiv_id``, updated at ``updated``."""
        self.versions[arxiv_id] = (version, updated)

    def serve_pdf(self, arxiv_id: str, fixture: str | Path) -> None:
        """Serve the file ``fixture`` (relative to ``fixtures/pdfs`` or absolute) as the PDF of ``arxiv_id``."""
        path = Path(fixture)
        self.pdfs[arxiv_id] = path if path.is_absolute() else self.shared / "fixtures" / "pdfs" / path

    @property
    def used(self) -> list[str]:
        """Recordings, corpus sources and files that answered requests, in first-use order."""
        seen: dict[str, None] = {}
        for hit in self.log:
            seen.setdefault(hit.source, None)
        return list(seen)

    @property
    def missing(self) -> list[str]:
        return [h.url for h in self.log if h.source == "MISSING"]

    def check(self) -> None:
        """Fail naming every request that had no recording (or corpus answer, where allowed)."""
        if self.missing:
            raise AssertionError("no recording for: " + "; ".join(f"GET {u}" for u in self.missing))

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- answers (called from the handler's threads)

    def _take_fault(self, path: str, full: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.applies(path, full):
                    fault.seen += 1
                    if fault.seen % fault.every:
                        continue
                    fault.times -= 1
                    return fault
        return None

    def answer_api(self, query: str) -> tuple[int, bytes, str]:
        params = _params(query)
        rec = _match_recording(self.recordings, params)
        if rec is not None:
            return rec.status, rec.body, rec.name
        if not self.synthesise:
            return 404, b"no recording for this request\n", "MISSING"
        try:
            start = int(params.get("start", "0") or 0)
            max_results = int(params.get("max_results", "10") or 10)
        except ValueError:
            return 400, error_feed("start and max_results must be integers", "start_must_be_an_integer"), "synth:error"
        ids = [i for i in params.get("id_list", "").split(",") if i]
        search = params.get("search_query", "")
        for raw in ids:
            if not (_NEW_ID.match(raw) or _OLD_ID.match(raw)):
                return 400, error_feed(f"incorrect id format for {raw}", f"incorrect_id_format_for_{raw}"), "synth:error"
        papers: list[Paper] = []
        sources: set[str] = set()
        if ids:
            for raw in ids:
                base, ver = _split_id(raw)
                paper = self._versioned(self.corpus.get(base, self.as_of))
                if paper is None or (ver and int(ver) > paper.version):
                    continue
                papers.append(paper)
                sources.add(paper.source)
        if search:
            try:
                pred = parse_query(search)
            except ValueError as exc:
                return 400, error_feed(str(exc), "malformed_query"), "synth:error"
            pool = papers if ids else list(self.corpus.survey.values()) + self.corpus.visible_listings(self.as_of)
            papers = [self._versioned(p) for p in pool if pred(p)]
            sources |= {p.source for p in papers} or {"corpus"}
            order = params.get("sortBy", "relevance")
            desc = params.get("sortOrder", "descending") == "descending"
            if order == "submittedDate":
                papers.sort(key=lambda p: (p.published, p.arxiv_id), reverse=desc)
            elif order == "lastUpdatedDate":
                papers.sort(key=lambda p: (p.updated or p.published, p.arxiv_id), reverse=desc)
            else:
                papers.sort(key=lambda p: (-_relevance(search, p), p.arxiv_id))
        page = papers[start : start + max_results]
        link = urlencode({"search_query": search, "start": start, "max_results": max_results, "id_list": ",".join(ids)}, safe=":,/\"[] ")
        title = f"search_query={search}&id_list={','.join(ids)}&start={start}&max_results={max_results}"
        body = _feed(title, link, start, max_results, len(papers), [entry_xml(p) for p in page])
        return 200, body, "synth:" + "+".join(sorted(sources or {"corpus"}))

    def _versioned(self, paper: Paper | None) -> Paper | None:
        if paper is None or paper.arxiv_id not in self.versions:
            return paper
        version, updated = self.versions[paper.arxiv_id]
        import copy

        out = copy.copy(paper)
        out.version, out.updated = version, updated or paper.updated
        return out

    def answer_oai(self, query: str) -> tuple[int, bytes, str]:
        params = _params(query)
        verb = params.get("verb", "")
        if verb == "GetRecord":
            ident = params.get("identifier", "")
            for rec in self.oai_records:
                if rec.identifier == ident:
                    return 200, _oai_envelope(params, f"<GetRecord>{rec.xml}</GetRecord>"), rec.source
            return 200, _oai_envelope(params, f'<error code="idDoesNotExist">No matching identifier {escape(ident)}</error>'), "synth:oai"
        if verb != "ListRecords":
            return 200, _oai_envelope({}, f'<error code="badVerb">Illegal verb {escape(verb)}</error>'), "synth:oai"
        if "resumptionToken" in params:
            token = params["resumptionToken"]
            with self._lock:
                state = self._oai_tokens.get(token)
            if state is None:
                return 200, _oai_envelope(params, f'<error code="badResumptionToken">Unknown token {escape(token)}</error>'), "synth:oai"
            records, cursor, _ = state
        else:
            if params.get("metadataPrefix") not in ("arXiv", "arXivRaw", "oai_dc"):
                return 200, _oai_envelope(params, '<error code="cannotDisseminateFormat">metadataPrefix</error>'), "synth:oai"
            lo, hi, wanted = params.get("from", ""), params.get("until", "9999"), params.get("set")
            records = [
                r for r in self.oai_records
                if lo <= r.datestamp <= hi and (not wanted or any(s == wanted or s.startswith(wanted + ":") for s in r.sets))
            ]
            cursor = 0
            if not records:
                return 200, _oai_envelope(params, '<error code="noRecordsMatch">No records match</error>'), "synth:oai"
        page = records[cursor : cursor + self.oai_page_size]
        nxt = cursor + len(page)
        if nxt < len(records):
            token = hashlib.sha1(f"{id(records)}:{nxt}".encode()).hexdigest()[:16] + f"|{nxt}"
            with self._lock:
                self._oai_tokens[token] = (records, nxt, params)
            tail = f'<resumptionToken cursor="{cursor}" completeListSize="{len(records)}">{token}</resumptionToken>'
        else:
            tail = f'<resumptionToken cursor="{cursor}" completeListSize="{len(records)}"/>' if cursor else ""
        body = "<ListRecords>\n" + "\n".join(r.xml for r in page) + ("\n" + tail if tail else "") + "\n</ListRecords>"
        return 200, _oai_envelope(params, body), "+".join(sorted({r.source for r in page}))

    def _index_pdfs(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for folder in ("real", "other", "partial"):
            for path in sorted((self.shared / "fixtures" / "pdfs" / folder).glob("*.pdf")):
                m = re.match(r"(\d{4}\.\d{4,5})", path.name)
                if m:
                    found.setdefault(m.group(1), path)
        return found

    def answer_pdf(self, path: str) -> tuple[int, bytes, str, str]:
        raw = path[len("/pdf/") :].removesuffix(".pdf")
        base = re.sub(r"v\d+$", "", raw)
        file = self.pdfs.get(base)
        if file is None:
            return 404, b"<html><body>No PDF for this id</body></html>", "text/html", "MISSING"
        rel = file.relative_to(self.shared / "fixtures") if file.is_relative_to(self.shared / "fixtures") else file
        return 200, file.read_bytes(), "application/pdf", f"pdf:{rel}"


def _split_id(raw: str) -> tuple[str, str]:
    """``('2207.13243', '6')`` for ``2207.13243v6``; the version is '' when absent."""
    m = _NEW_ID.match(raw)
    if m:
        return f"{m.group(1)}.{m.group(2)}", (m.group(3) or "")[1:]
    m = _OLD_ID.match(raw)
    return f"{m.group(1)}/{m.group(2)}", (m.group(3) or "")[1:]


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (timeouts, truncation tests) are expected, not errors worth a traceback."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    replay: ReplayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        full = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
        fault = self.replay._take_fault(split.path, self.path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None  # then answer normally (if the client is still listening)
        if fault is not None and fault.kind in ("status", "reset", "body", "empty"):
            self._serve_fault(fault, full)
            return
        if split.path == "/api/query":
            status, body, source = self.replay.answer_api(split.query)
            ctype = "application/atom+xml; charset=utf-8"
        elif split.path == "/oai":
            status, body, source = self.replay.answer_oai(split.query)
            ctype = "text/xml; charset=utf-8"
        elif split.path.startswith("/pdf/"):
            status, body, ctype, source = self.replay.answer_pdf(split.path)
        else:
            status, body, ctype, source = 404, b"not found\n", "text/plain", "MISSING"
        if fault is not None and fault.kind == "truncate":
            self._record(full, status, f"fault:truncate({source})")
            self._send(status, body, ctype, truncate=True)
            return
        if fault is not None and fault.kind == "rewrite":
            self._record(full, status, f"fault:rewrite({source})")
            self._send(status, fault.rewrite(body), ctype)
            return
        if fault is not None and fault.kind == "trickle":
            self._record(full, status, f"fault:trickle({source})")
            self._send(status, body, ctype, trickle=(fault.chunk, fault.delay))
            return
        self._record(full, status, source)
        self._send(status, body, ctype)

    def _serve_fault(self, fault: Fault, full: str) -> None:
        if fault.kind == "reset":
            self._record(full, 0, "fault:reset")
            # SO_LINGER 0: closing sends a TCP reset, as a dropped connection does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault.kind == "status":
            self._record(full, fault.status, f"fault:{fault.status}")
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            headers.update(fault.headers or {})
            self._send(fault.status, f"<html><body>{fault.status}</body></html>".encode(), "text/html", headers=headers)
            return
        if fault.kind == "empty":
            self._record(full, 200, "fault:empty-page")
            params = _params(urlsplit(self.path).query)
            start = params.get("start", "0")
            body = _feed(f"search_query={params.get('search_query', '')}", urlsplit(self.path).query, int(start or 0),
                         int(params.get("max_results", "10") or 10), 0, [])
            self._send(200, body, "application/atom+xml; charset=utf-8")
            return
        self._record(full, fault.status if fault.status != 503 else 200, "fault:body")
        self._send(fault.status if fault.status != 503 else 200, fault.body or b"", fault.content_type)

    def _record(self, url: str, status: int, source: str) -> None:
        with self.replay._lock:
            self.replay.log.append(Hit("GET", url, status, source, self.headers.get("User-Agent", "")))

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None, truncate: bool = False,
              trickle: tuple[int, float] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if trickle is not None:
                size, pause = trickle
                for i in range(0, len(body), size):
                    self.wfile.write(body[i : i + size])
                    self.wfile.flush()
                    time.sleep(pause)
                return
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            self.wfile.flush()
            if truncate:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): nothing to do


def main(argv: list[str] | None = None) -> int:
    """The replay server from the shell, for the README's transcripts: ``python tests/replay.py --help``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python tests/replay.py",
        description="Serve the recorded arXiv (API, OAI-PMH, PDFs) of ../shared/ on 127.0.0.1 until Ctrl-C, "
        "and print the LITMINE_* variables that point litmine at it.")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0: any free port)")
    parser.add_argument("--shared", type=Path, default=SHARED, help=f"the shared data folder (default {SHARED})")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="hide listings announced after this date (replay arXiv day by day)")
    parser.add_argument("--oai-page-size", type=int, default=2, help="OAI-PMH records per response (default 2)")
    parser.add_argument("--recordings-only", action="store_true",
                        help="answer only from recordings: anything else is a 404 (the tests' synthesise=False)")
    args = parser.parse_args(argv)
    try:
        server = ReplayServer(args.shared, as_of=args.as_of, synthesise=not args.recordings_only,
                              oai_page_size=args.oai_page_size, port=args.port).start()
    except (FileNotFoundError, OSError) as exc:
        print(f"replay: cannot start: {exc}", file=sys.stderr)
        return 1
    for name, value in server.env().items():
        print(f"export {name}={value}")
    print(f"# serving {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
