"""The arXiv API client, on the ``arxiv`` package, and the nightly query stage.

``ArxivClient`` keeps the ``arxiv`` package's paging and Atom parsing and replaces how one page is
requested, to follow arXiv's terms of use (https://info.arxiv.org/help/api/tou.html):

* one request every ``delay_seconds`` (default 3) over one connection, sleeping only for the time
  still owed since the last request;
* a timeout on every request;
* retries with exponential backoff (and ``Retry-After``) only for what can succeed on retry: 429,
  5xx, timeouts, dropped connections, and the API's known empty pages; never for a 400;
* a user-agent naming litmine and its version;
* one base URL (``LITMINE_ARXIV_API_URL``), so tests and mirrors can point it elsewhere.

arXiv's error feed (HTTP 400, one ``Error`` entry) becomes ``ArxivApiError`` carrying arXiv's own
message; exhausted retries become ``FetchError``.

``fetch_new`` is the nightly stage: the interpretability query over the configured categories,
restricted to ``submittedDate`` since the stored watermark (less a day of overlap; a first run looks
back ``arxiv_lookback_days``), paged, upserted (a new version updates its work), and the watermark
moved only once every page is stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

import arxiv
import requests

from litmine import __version__
from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import ArxivApiError, FetchError
from litmine.ids import parse_arxiv_id
from litmine.store import Store
from litmine.store import acquire
from litmine.store.failures import record_failure
from litmine.store.works import WorkRecord

log = logging.getLogger(__name__)

USER_AGENT = f"litmine/{__version__} (literature mining for interpretability research; python-requests)"

# The nightly query's terms, when LITMINE_ARXIV_QUERY is empty. Phrases in titles or abstracts that
# name interpretability work in the survey's sense: explaining or dissecting a model's internals.
DEFAULT_TERMS = (
    'abs:interpretability', 'ti:interpretable', 'abs:"mechanistic interpretability"', 'abs:"sparse autoencoder"',
    'abs:"sparse autoencoders"', 'abs:"feature attribution"', 'abs:"saliency map"', 'abs:"probing classifier"',
    'abs:"linear probe"', 'abs:"circuit discovery"', 'abs:"activation patching"', 'abs:"causal tracing"',
    'abs:"steering vector"', 'abs:"representation engineering"', 'abs:"model editing"', 'abs:"neuron activation"',
    'abs:explainability', 'abs:"concept activation"',
)


class Throttle:
    """At most one request per ``delay`` seconds; waits only for the time still owed. Thread-safe."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            if self._last is not None:
                owed = self.delay - (time.monotonic() - self._last)
                if owed > 0:
                    log.debug("politeness: sleeping %.2f s", owed)
                    time.sleep(owed)
            self._last = time.monotonic()


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def _error_message(content: bytes) -> str | None:
    """arXiv's own message from an error feed, or None if this is not one."""
    feed = arxiv._feed.parse(content)
    for result in feed.results:
        if "/api/errors" in result.entry_id:
            return result.summary.strip()
    m = re.search(rb"<id>[^<]*/api/errors#[^<]*</id>.*?<summary>([^<]*)</summary>", content, re.S)
    return m.group(1).decode("utf-8", "replace").strip() if m else None


class _PoliteClient(arxiv.Client):
    """The ``arxiv`` package's client with litmine's request policy in place of its own."""

    def __init__(self, owner: "ArxivClient", page_size: int) -> None:
        super().__init__(page_size=page_size, delay_seconds=owner.delay_seconds, num_retries=owner.retries)
        self.owner = owner
        self._session = owner.session

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0):  # the arxiv package's hook
        return self.owner.get_feed(url, first_page=first_page)


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
        backoff_seconds: float | None = None,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.api_url = api_url
        self.delay_seconds = delay_seconds
        self.timeout = timeout
        self.retries = retries
        self.page_size = page_size
        self.backoff_seconds = delay_seconds if backoff_seconds is None else backoff_seconds
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.throttle = throttle or Throttle(delay_seconds)
        self.requests_made = 0

    @classmethod
    def from_settings(cls, settings: Settings, **kw) -> "ArxivClient":
        return cls(
            settings.arxiv_api_url,
            delay_seconds=settings.arxiv_delay_seconds,
            timeout=settings.arxiv_timeout_seconds,
            retries=settings.arxiv_retries,
            page_size=settings.arxiv_page_size,
            **kw,
        )

    # -- one page

    def get_feed(self, url: str, first_page: bool = True):
        """Fetch and parse one page, retrying only what can succeed on retry."""
        start = int((parse_qs(urlsplit(url).query).get("start") or ["0"])[0])
        last_problem, wait_hint = "no attempt made", None
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff_seconds * 2 ** (attempt - 1)
                if wait_hint is not None:
                    pause = max(pause, min(wait_hint, 300.0))
                if pause > 0:
                    log.info("retrying in %.1f s (%s): %s", pause, last_problem, url)
                    time.sleep(pause)
            wait_hint = None
            self.throttle.wait()
            self.requests_made += 1
            log.debug("GET %s (try %d)", url, attempt + 1)
            try:
                resp = self.session.get(url, timeout=self.timeout)
            except requests.Timeout:
                last_problem = f"no answer within {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                last_problem = f"connection failed: {type(exc).__name__}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last_problem = f"HTTP {resp.status_code}"
                wait_hint = _retry_after(resp)
                continue
            if resp.status_code != 200:
                message = _error_message(resp.content) or f"HTTP {resp.status_code}"
                raise ArxivApiError(f"arXiv refused the request: {message}", status=resp.status_code, url=url)
            message = _error_message(resp.content)
            if message:
                raise ArxivApiError(f"arXiv refused the request: {message}", status=200, url=url)
            feed = arxiv._feed.parse(resp.content)
            if feed.malformed:
                last_problem = f"unreadable feed: {feed.error}"
                continue
            if not feed.results and (not first_page or feed.header.total_results > start):
                # arXiv's known glitch: an empty page where results exist. Asking again usually works.
                last_problem = "an empty page where results were expected"
                continue
            return feed
        raise FetchError(f"arXiv did not answer after {self.retries + 1} tries: {last_problem}", url=url)

    # -- searches

    def results(self, search: arxiv.Search, page_size: int | None = None) -> Iterator[arxiv.Result]:
        """Every result of ``search``, paged by the ``arxiv`` package, each page fetched politely."""
        client = _PoliteClient(self, page_size or self.page_size)
        client.query_url_format = self.api_url + "?{}"
        return client.results(search)

    def by_ids(self, ids: Iterable[str]) -> dict[str, arxiv.Result]:
        """Records for ``ids``, fetched in batches of ``page_size``, keyed by id without version.
        Ids arXiv does not have are simply absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, arxiv.Result] = {}
        for i in range(0, len(wanted), self.page_size):
            batch = wanted[i : i + self.page_size]
            search = arxiv.Search(id_list=batch, max_results=len(batch))
            for result in self.results(search):
                found[parse_arxiv_id(result.get_short_id()).base] = result
        return found

    def search(self, query: str, max_results: int | None = 10, newest_first: bool = False) -> list[arxiv.Result]:
        sort = arxiv.SortCriterion.SubmittedDate if newest_first else arxiv.SortCriterion.Relevance
        return list(self.results(arxiv.Search(query, max_results=max_results, sort_by=sort)))


def to_record(result: arxiv.Result, source: str = "arxiv") -> WorkRecord:
    """A ``WorkRecord`` from an API result: id split from its version, whitespace tidied."""
    aid = parse_arxiv_id(result.get_short_id())
    published = result.published.astimezone(timezone.utc).replace(tzinfo=None) if result.published else None
    updated = result.updated.astimezone(timezone.utc).replace(tzinfo=None) if result.updated else None
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
    """The interpretability query over the configured categories, without its date range."""
    cats = " OR ".join(f"cat:{c}" for c in settings.arxiv_categories)
    terms = settings.arxiv_query.strip() or " OR ".join(DEFAULT_TERMS)
    return f"({cats}) AND ({terms})"


def watermark_name(query: str) -> str:
    return "arxiv-query:" + hashlib.sha256(query.encode()).hexdigest()[:12]


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
    now = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    with store.connect(read_only=True) as con:
        seen = acquire.get_watermark(con, mark)
    since = datetime.fromisoformat(seen) - timedelta(days=1) if seen else now - timedelta(days=settings.arxiv_lookback_days)
    dated = f"{query} AND submittedDate:[{since:%Y%m%d%H%M} TO {now:%Y%m%d%H%M}]"
    log.info("nightly query since %s: %s", since.isoformat(), dated)
    search = arxiv.Search(dated, max_results=max_results, sort_by=arxiv.SortCriterion.SubmittedDate)
    newest = datetime.fromisoformat(seen) if seen else None
    batch: list[WorkRecord] = []
    try:
        for result in client.results(search):
            batch.append(to_record(result))
            if len(batch) >= client.page_size:
                newest = _store_batch(store, batch, query, run_id, counts, newest)
                batch = []
        newest = _store_batch(store, batch, query, run_id, counts, newest)
    except FetchError as exc:
        with store.transaction() as con:
            record_failure(con, run_id, "fetch-arxiv", dated, exc)
        counts.add("failed")
        counts.notes.append(f"stopped early: {exc}")
        log.warning("nightly query failed: %s", exc)
        return counts
    with store.transaction() as con:
        acquire.set_watermark(con, mark, (newest or since).isoformat(), run_id)
    if counts.new == 0 and counts.updated == 0:
        counts.notes.append(f"nothing new since {since:%Y-%m-%d %H:%M}")
    log.info("%s", counts)
    return counts


def _store_batch(store, batch, query, run_id, counts, newest):
    if not batch:
        return newest
    with store.transaction() as con:
        for rec in batch:
            _, status = acquire.store_arxiv_work(con, rec, "arxiv-query", query, run_id)
            counts.add(status)
            if rec.published and (newest is None or rec.published > newest):
                newest = rec.published
    return newest
