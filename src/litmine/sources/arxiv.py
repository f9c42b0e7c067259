"""The arXiv API client, on the ``arxiv`` package's search and entry parsing, and the nightly query stage.

``ArxivClient`` pages and requests by itself, to follow arXiv's terms of use
(https://info.arxiv.org/help/api/tou.html):

* one request every ``delay_seconds`` (default 3) over one connection, sleeping only for the time
  still owed since the last request of any litmine process on the machine (``polite.Throttle``);
* the one retry policy of ``polite.PoliteClient``: a deadline on every whole request, not on each
  read; redirects followed only to the configured arXiv hosts, each hop spaced like a request;
* retries with exponential backoff (and ``Retry-After``) only for what can succeed on retry: 429,
  5xx, timeouts, dropped connections, and the API's known empty pages; never for a 400, nor for a
  host that cannot be reached at all (``SourceUnreachable``: no network, a refused connection);
* an empty answer to a list of ids is retried, and past the retries it is a failure, never "no
  such record"; an empty first page of a search is asked once more before it is believed;
* each entry is read on its own: one unreadable entry (an unsafe id, a date that is not a date) is
  handed to the caller as a ``BadEntry`` and the page's other entries are kept;
* at most ``max_pages`` pages per query, so a server claiming endless results cannot page forever;
* a user-agent naming litmine and its version (``polite.USER_AGENT``);
* one base URL (``LITMINE_ARXIV_API_URL``), so tests and mirrors can point it elsewhere.

arXiv's error feed (HTTP 400, one ``Error`` entry) becomes ``ArxivApiError`` carrying arXiv's own
message; exhausted retries become ``FetchError``.

``fetch_new`` is the nightly stage: the interpretability query over the configured categories,
restricted to ``submittedDate`` since the stored watermark (less a day of overlap; a first run looks
back ``arxiv_lookback_days``), paged, upserted (a new version updates its work), and the watermark
moved only once every page is stored. Unreadable entries are recorded in ``failures`` one by one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import arxiv
import requests
from lxml import etree

from litmine.clock import not_after, utcnow
from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import ArxivApiError, FetchError, InvalidArxivId, SourceUnreachable
from litmine.hashing import sha256_hex
from litmine.ids import parse_arxiv_id
from litmine.sources import refuse
from litmine.sources.polite import PoliteClient, Retry, Throttle, hosts_of
from litmine.store import Store
from litmine.store import acquire
from litmine.store.failures import record_failure
from litmine.store.works import WorkRecord

log = logging.getLogger(__name__)

_ATOM = "http://www.w3.org/2005/Atom"
_NS = {"atom": _ATOM, "os": "http://a9.com/-/spec/opensearch/1.1/", "arxiv": "http://arxiv.org/schemas/atom"}

# The nightly query's terms, when LITMINE_ARXIV_QUERY is empty. Phrases in titles or abstracts that
# name interpretability work in the survey's sense: explaining or dissecting a model's internals.
DEFAULT_TERMS = (
    'abs:interpretability', 'ti:interpretable', 'abs:"mechanistic interpretability"', 'abs:"sparse autoencoder"',
    'abs:"sparse autoencoders"', 'abs:"feature attribution"', 'abs:"saliency map"', 'abs:"probing classifier"',
    'abs:"linear probe"', 'abs:"circuit discovery"', 'abs:"activation patching"', 'abs:"causal tracing"',
    'abs:"steering vector"', 'abs:"representation engineering"', 'abs:"model editing"', 'abs:"neuron activation"',
    'abs:explainability', 'abs:"concept activation"',
)


@dataclass
class BadEntry:
    """An entry of an answered page that cannot be read (an unsafe id, a date that is not a date):
    it fails alone and is recorded; the page's other entries are kept."""

    entry_id: str
    reason: str


@dataclass
class Page:
    """One page of results: what arXiv says the total is, the readable entries and the others."""

    total: int
    results: list[arxiv.Result] = field(default_factory=list)
    bad: list[BadEntry] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.results) + len(self.bad)


def _error_message(content: bytes) -> str | None:
    """arXiv's own message from an error feed, or None if this is not one."""
    m = re.search(rb"<id>[^<]*/api/errors#[^<]*</id>.*?<summary>([^<]*)</summary>", content, re.S)
    return m.group(1).decode("utf-8", "replace").strip() if m else None


def _text(elem, path: str) -> str | None:
    found = elem.find(path, _NS)
    return found.text if found is not None else None


def _when(text: str | None) -> datetime | None:
    """An Atom date (``2016-05-26T17:59:46Z``) as aware UTC; ValueError if it is not one."""
    if text is None:
        return None
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _result(entry) -> arxiv.Result | None:
    """An ``arxiv.Result`` from one Atom ``<entry>`` (through its public constructor), as the
    ``arxiv`` package builds it; None without an id or either date."""
    entry_id = _text(entry, "atom:id")
    updated, published = _when(_text(entry, "atom:updated")), _when(_text(entry, "atom:published"))
    if not entry_id or updated is None or published is None:
        return None
    primary = entry.find("arxiv:primary_category", _NS)
    return arxiv.Result(
        entry_id=entry_id, updated=updated, published=published,
        title=re.sub(r"\s+", " ", _text(entry, "atom:title") or ""),
        authors=[arxiv.Result.Author(_text(a, "atom:name") or "",
                                     [af.text for af in a.iterfind("arxiv:affiliation", _NS) if af.text is not None])
                 for a in entry.iterfind("atom:author", _NS)],
        summary=_text(entry, "atom:summary") or "",
        comment=_text(entry, "arxiv:comment"), journal_ref=_text(entry, "arxiv:journal_ref"),
        doi=_text(entry, "arxiv:doi"),
        primary_category=(primary.get("term") if primary is not None else "") or "",
        categories=[c.get("term") for c in entry.iterfind("atom:category", _NS) if c.get("term") is not None],
        links=[arxiv.Result.Link(link.get("href"), title=link.get("title"), rel=link.get("rel") or "",
                                 content_type=link.get("type"))
               for link in entry.iterfind("atom:link", _NS) if link.get("href") is not None],
    )


def parse_page(content: bytes) -> Page | None:
    """A page from an Atom feed, each entry read on its own; None when the feed is unreadable."""
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    if root is None or root.tag != f"{{{_ATOM}}}feed":
        return None
    try:
        total = int((root.findtext("os:totalResults", "0", _NS) or "0").strip())
    except ValueError:
        return None
    page = Page(total)
    for entry in root.iterfind("atom:entry", _NS):
        entry_id = (entry.findtext("atom:id", "", _NS) or "").strip()
        try:
            result = _result(entry)
            if result is None:
                raise ValueError("an entry without its id or dates")
            parse_arxiv_id(result.get_short_id())
        except (ValueError, InvalidArxivId) as exc:
            page.bad.append(BadEntry(entry_id or "(no id)", str(exc).splitlines()[0][:300]))
            continue
        page.results.append(result)
    return page


class ArxivClient:
    """Polite access to the arXiv API. Build it with ``from_settings``; tests set ``delay_seconds=0``."""

    def __init__(
        self,
        api_url: str = "https://export.arxiv.org/api/query",
        *,
        delay_seconds: float = 3.0,
        timeout: float = 30.0,
        retries: int = 4,
        page_size: int = 100,
        max_pages: int = 100,
        backoff_seconds: float | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        hosts: Iterable[str] = (),
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.api_url = api_url
        self.delay_seconds = delay_seconds
        self.page_size = page_size
        self.max_pages = max_pages
        self.http = PoliteClient(
            "arXiv", "LITMINE_ARXIV_API_URL", timeout=timeout, retries=retries,
            backoff=delay_seconds if backoff_seconds is None else backoff_seconds,
            throttle=throttle or Throttle(delay_seconds), hosts=hosts_of(api_url) | set(hosts),
            max_bytes=max_bytes, size_setting="LITMINE_FEED_MAX_BYTES", session=session)

    @classmethod
    def from_settings(cls, settings: Settings, **kw) -> "ArxivClient":
        kw.setdefault("throttle", Throttle(settings.arxiv_delay_seconds, settings.arxiv_spacing_file))
        kw.setdefault("hosts", hosts_of(settings.arxiv_api_url, settings.arxiv_oai_url, settings.arxiv_pdf_url))
        return cls(
            settings.arxiv_api_url,
            delay_seconds=settings.arxiv_delay_seconds,
            timeout=settings.arxiv_timeout_seconds,
            retries=settings.arxiv_retries,
            page_size=settings.arxiv_page_size,
            max_pages=settings.arxiv_max_pages,
            max_bytes=settings.feed_max_bytes,
            **kw,
        )

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    @property
    def retries(self) -> int:
        return self.http.retries

    @property
    def throttle(self) -> Throttle:
        return self.http.throttle

    # -- one page

    def get_page(self, url: str) -> Page:
        """Fetch and read one page, retrying (``PoliteClient``) what can succeed on retry.

        An empty page is retried when results were expected: a later page, a page short of the
        total arXiv announced, or any page answering a list of ids (arXiv's known glitch is an
        empty answer); past the retries it is a failure, never "no such record". An empty first
        page of a search is asked once more before it is believed.
        """
        params = parse_qs(urlsplit(url).query)
        start = int((params.get("start") or ["0"])[0])
        by_ids = bool((params.get("id_list") or [""])[0]) and not (params.get("search_query") or [""])[0].strip()
        empty_first = 0

        def read(resp: requests.Response, body: Iterator[bytes]) -> Page:
            nonlocal empty_first
            content = b"".join(body)
            message = _error_message(content)
            if resp.status_code != 200 or message:
                message = message or f"HTTP {resp.status_code}"
                raise ArxivApiError(f"arXiv refused the request: {message}", status=resp.status_code, url=url)
            page = parse_page(content)
            if page is None:
                raise Retry("unreadable feed")
            if page.size == 0:
                if by_ids or start > 0 or page.total > start:
                    # arXiv's known glitch: an empty page where results exist. Asking again usually works.
                    raise Retry("an empty page where results were expected")
                if empty_first < 1 and self.retries > 0:
                    empty_first += 1  # an empty search may be the same glitch: believe it the second time
                    raise Retry("an empty first page")
            return page

        return self.http.get(url, read=read)

    # -- searches

    def page_url(self, search: arxiv.Search, start: int, size: int) -> str:
        args = search._url_args()
        args.update(start=str(start), max_results=str(size))
        return f"{self.api_url}?{urlencode(args)}"

    def results(self, search: arxiv.Search, page_size: int | None = None,
                on_bad: Callable[[BadEntry], None] | None = None) -> Iterator[arxiv.Result]:
        """Every result of ``search``, a page at a time, each page fetched politely. An unreadable
        entry goes to ``on_bad`` (default: logged) and paging goes on. Raises ``FetchError`` past
        ``max_pages`` pages (a server announcing more results than any nightly query has)."""
        size = page_size or self.page_size
        limit = search.max_results
        start, pages = 0, 0
        while limit is None or start < limit:
            url = self.page_url(search, start, size)
            if pages >= self.max_pages:
                raise FetchError(f"stopped after {pages} pages ({start} results): the query claims more; "
                                 "narrow LITMINE_ARXIV_QUERY or raise LITMINE_ARXIV_MAX_PAGES", url=url)
            page = self.get_page(url)
            pages += 1
            yield from page.results[: None if limit is None else limit - start]
            for bad in page.bad:
                if on_bad is None:
                    log.warning("skipped an unreadable entry %s: %s", bad.entry_id, bad.reason)
                else:
                    on_bad(bad)
            start += page.size
            if page.size == 0 or start >= page.total:
                return

    def by_ids(self, ids: Iterable[str], failed: dict[str, FetchError] | None = None) -> dict[str, arxiv.Result]:
        """Records for ``ids``, fetched in batches of ``page_size``, keyed by id without version.
        Ids arXiv does not have are absent; a batch answered with nothing at all, past the
        retries, raises ``FetchError`` (it is arXiv's glitch, not proof that no id exists). With
        ``failed``, such a batch is split and asked again in halves down to single ids, the ids that
        still fail go into ``failed`` with their error, and the other batches are kept; an
        unreachable arXiv still raises ``SourceUnreachable``."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, arxiv.Result] = {}
        batches = [wanted[i : i + self.page_size] for i in range(0, len(wanted), self.page_size)]
        while batches:
            batch = batches.pop(0)
            search = arxiv.Search(id_list=batch, max_results=len(batch))
            try:
                got = {parse_arxiv_id(r.get_short_id()).base: r for r in self.results(search)}
            except SourceUnreachable:
                raise
            except FetchError as exc:
                if failed is None:
                    raise
                if len(batch) == 1:
                    failed[batch[0]] = exc
                else:
                    log.warning("a batch of %d ids failed (%s); asking again in halves", len(batch), exc)
                    half = len(batch) // 2
                    batches[:0] = [batch[:half], batch[half:]]
                continue
            found.update(got)
        return found

    def search(self, query: str, max_results: int | None = 10, newest_first: bool = False) -> list[arxiv.Result]:
        sort = arxiv.SortCriterion.SubmittedDate if newest_first else arxiv.SortCriterion.Relevance
        return list(self.results(arxiv.Search(query, max_results=max_results, sort_by=sort)))


def to_record(result: arxiv.Result, source: str = "arxiv", now: datetime | None = None) -> WorkRecord:
    """A ``WorkRecord`` from an API result: id split from its version, whitespace tidied, dates
    from the future taken as ``now`` (default: the clock's now, naive UTC)."""
    aid = parse_arxiv_id(result.get_short_id())
    now = now or utcnow()
    published = result.published.astimezone(timezone.utc).replace(tzinfo=None) if result.published else None
    updated = result.updated.astimezone(timezone.utc).replace(tzinfo=None) if result.updated else None
    published = not_after(published, now, f"arXiv entry {aid.versioned}'s published date")
    updated = not_after(updated, now, f"arXiv entry {aid.versioned}'s updated date")
    return WorkRecord(
        title=" ".join(result.title.split()),
        metadata_source=source,
        arxiv_id=aid.base,
        arxiv_version=aid.version or 1,
        doi=result.doi.lower() if result.doi else None,
        authors=[a.name for a in result.authors] or None,
        year=published.year if published else None,
        venue=result.journal_ref or None,
        abstract=" ".join(result.summary.split()) or None,
        categories=list(result.categories) or None,
        primary_category=result.primary_category or None,
        published=published,
        updated=updated,
        pdf_url=result.pdf_url,
        comment=result.comment,
    )


# -- the nightly stage --------------------------------------------------------------------------


def nightly_query(settings: Settings) -> str:
    """The interpretability query over the configured categories, without its date range; with
    ``arxiv_query = "all"``, every paper of the categories (the scope decision does the filtering)."""
    cats = " OR ".join(f"cat:{c}" for c in settings.arxiv_categories)
    if settings.arxiv_query.strip().lower() == "all":
        return f"({cats})"
    terms = settings.arxiv_query.strip() or " OR ".join(DEFAULT_TERMS)
    return f"({cats}) AND ({terms})"


def watermark_name(query: str) -> str:
    return "arxiv-query:" + sha256_hex(query)[:12]


def fetch_new(
    store: Store,
    client: ArxivClient,
    settings: Settings,
    run_id: str | None = None,
    now: datetime | None = None,
    max_results: int | None = None,
) -> Counts:
    """Bring in papers matching the nightly query submitted since the last run. Resumable: each page
    is stored in its own transaction; the watermark moves only after the last one."""
    counts = Counts("fetch-arxiv")
    query = nightly_query(settings)
    mark = watermark_name(query)
    clock = utcnow()
    # LITMINE_ARXIV_NOW fixes the lookback's clock for replays; the watermark never moves past the real now
    now = now.replace(tzinfo=None) if now else settings.clock()
    ceiling = min(now, clock)  # nor past the range asked for
    with store.connect(read_only=True) as con:
        seen = acquire.get_watermark(con, mark)
        seen_at = datetime.fromisoformat(seen) if seen else None
        if seen_at is not None and seen_at > clock:
            # left by an older litmine that believed a future-dated entry: every night since asked
            # for a range that ends before it starts. Back to the newest real entry of this query.
            seen_at = acquire.newest_published(con, "arxiv-query", query, clock)
            log.warning("the arXiv watermark %s is in the future; repaired to %s (the newest stored entry of "
                        "the query that is not from the future)", seen,
                        seen_at.isoformat() if seen_at else f"none: looking back {settings.arxiv_lookback_days} days")
    since = seen_at - timedelta(days=1) if seen_at else now - timedelta(days=settings.arxiv_lookback_days)
    dated = f"{query} AND submittedDate:[{since:%Y%m%d%H%M} TO {now:%Y%m%d%H%M}]"
    if since >= now:
        exc = FetchError(f"the date range to fetch ends before it starts (from {since:%Y-%m-%d %H:%M}, the day "
                         f"before the watermark, to {now:%Y-%m-%d %H:%M}): nothing asked; give a later --until",
                         watermark=seen)
        return refuse(store, counts, run_id, dated, exc, "nightly query")
    log.info("nightly query since %s: %s", since.isoformat(), dated)
    search = arxiv.Search(dated, max_results=max_results, sort_by=arxiv.SortCriterion.SubmittedDate)
    newest = seen_at
    batch: list[WorkRecord] = []
    bad: list[BadEntry] = []
    try:
        for result in client.results(search, on_bad=bad.append):
            batch.append(to_record(result, now=clock))
            if len(batch) >= client.page_size:
                newest = _store_batch(store, batch, query, run_id, counts, newest)
                batch = []
            _record_bad(store, bad, run_id, counts)
        newest = _store_batch(store, batch, query, run_id, counts, newest)
        _record_bad(store, bad, run_id, counts)
    except FetchError as exc:
        _store_batch(store, batch, query, run_id, counts, newest)
        _record_bad(store, bad, run_id, counts)
        with store.transaction() as con:
            record_failure(con, run_id, "fetch-arxiv", dated, exc)
        counts.add("failed")
        counts.notes.append(f"stopped early: {exc}")
        counts.error = f"stopped early: {exc}"  # the query did not finish: the stage failed, the watermark stays
        log.warning("nightly query failed: %s", exc)
        if isinstance(exc, SourceUnreachable):
            raise
        return counts
    with store.transaction() as con:
        acquire.set_watermark(con, mark, min(newest or since, ceiling).isoformat(), run_id)
    if counts.new == 0 and counts.updated == 0:
        counts.notes.append(f"nothing new since {since:%Y-%m-%d %H:%M}")
    log.info("%s", counts)
    return counts


def _record_bad(store: Store, bad: list[BadEntry], run_id: str | None, counts: Counts) -> None:
    """Record each unreadable entry as a failure of its own, and empty ``bad`` for the next ones."""
    if bad:
        with store.transaction() as con:
            for entry in bad:
                record_failure(con, run_id, "fetch-arxiv", entry.entry_id,
                               FetchError(f"an unreadable entry was skipped: {entry.reason}", id=entry.entry_id))
                counts.add("failed")
        log.warning("skipped %d unreadable entries", len(bad))
        bad.clear()


def _store_batch(store, batch, query, run_id, counts, newest):
    if not batch:
        return newest
    with store.transaction() as con:
        stored = acquire.store_arxiv_works(con, batch, "arxiv-query", query, run_id)
    for rec, (_, status) in zip(batch, stored):
        counts.add(status)
        if rec.published and (newest is None or rec.published > newest):
            newest = rec.published
    return newest
