"""Bulk backfill over OAI-PMH, the route arXiv asks bulk harvesters to use.

``harvest_oai`` sends ``ListRecords`` (``metadataPrefix=arXiv``) with ``from``/``until`` and an
optional ``set`` (``cs``, ``physics:hep-th``), follows resumption tokens to the end, and upserts each
record as a work (``metadata_source='oai-pmh'``; arXiv API metadata outranks it). Each page is
stored in its own transaction, and the resumption token is kept as a watermark after each page, so
a killed harvest resumes where it stopped; a finished one stores the day it reached, which the next
harvest starts from. Requests share the API client's politeness (``polite.PoliteClient``): one
every ``arxiv_delay_seconds``, a deadline on the whole request, retries with backoff for 429 (arXiv's
OAI server says ``Retry-After``), 5xx and timeouts, redirects only to the configured arXiv hosts.
Elements are matched by local name, so records that lost their namespace declaration still parse.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import requests

from litmine.clock import not_after, utcnow
from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import FetchError, SourceUnreachable
from litmine.ids import try_parse_arxiv_id
from litmine.sources import refuse
from litmine.sources.polite import PoliteClient, Throttle, hosts_of
from litmine.store import Store
from litmine.store import acquire
from litmine.store.failures import record_failure
from litmine.store.works import WorkRecord

log = logging.getLogger(__name__)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _text(elem: ET.Element | None, name: str) -> str | None:
    found = _child(elem, name) if elem is not None else None
    if found is None or found.text is None:
        return None
    return " ".join(found.text.split()) or None


def parse_records(xml: bytes) -> tuple[list[WorkRecord], str | None, str | None]:
    """(records, resumption token or None, OAI error code or None) of one OAI-PMH response."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise FetchError(f"unreadable OAI-PMH response: {exc}") from None
    error = next((e for e in root.iter() if _local(e.tag) == "error"), None)
    if error is not None:
        return [], None, error.get("code") or "error"
    records, token = [], None
    for elem in root.iter():
        name = _local(elem.tag)
        if name == "resumptionToken":
            token = (elem.text or "").strip() or None
        elif name == "record":
            header = _child(elem, "header")
            if header is not None and header.get("status") == "deleted":
                continue
            meta = _child(elem, "metadata")
            arx = next(iter(meta), None) if meta is not None else None
            rec = _record(arx) if arx is not None else None
            if rec is not None:
                records.append(rec)
    return records, token, None


def _record(arx: ET.Element) -> WorkRecord | None:
    aid = try_parse_arxiv_id(_text(arx, "id"))
    title = _text(arx, "title")
    if aid is None or not title:
        return None
    authors = []
    block = _child(arx, "authors")
    for a in list(block) if block is not None else []:
        parts = [_text(a, "forenames"), _text(a, "keyname"), _text(a, "suffix")]
        authors.append(" ".join(p for p in parts if p))
    now = utcnow()
    created = not_after(_date(_text(arx, "created")), now, f"OAI-PMH record {aid.base}'s created date")
    updated = not_after(_date(_text(arx, "updated")), now, f"OAI-PMH record {aid.base}'s updated date")
    cats = (_text(arx, "categories") or "").split()
    return WorkRecord(
        title=title,
        metadata_source="oai-pmh",
        arxiv_id=aid.base,
        doi=(_text(arx, "doi") or "").split()[0].lower() if _text(arx, "doi") else None,
        authors=authors or None,
        year=created.year if created else None,
        venue=_text(arx, "journal-ref"),
        abstract=_text(arx, "abstract"),
        categories=cats or None,
        primary_category=cats[0] if cats else None,
        published=created,
        updated=updated,
        comment=_text(arx, "comments"),
    )


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class OaiClient:
    """``ListRecords`` requests, through the one retry policy of ``polite.PoliteClient``."""

    def __init__(self, settings: Settings, session: requests.Session | None = None, throttle: Throttle | None = None):
        self.url = settings.arxiv_oai_url
        self.http = PoliteClient(
            "the OAI-PMH server", "LITMINE_ARXIV_OAI_URL", timeout=settings.arxiv_timeout_seconds,
            retries=settings.arxiv_retries, backoff=settings.arxiv_delay_seconds,
            throttle=throttle or Throttle(settings.arxiv_delay_seconds, settings.arxiv_spacing_file),
            hosts=hosts_of(settings.arxiv_api_url, settings.arxiv_oai_url, settings.arxiv_pdf_url),
            max_bytes=settings.feed_max_bytes, size_setting="LITMINE_FEED_MAX_BYTES", session=session)

    @property
    def throttle(self) -> Throttle:
        return self.http.throttle

    def get(self, params: dict[str, str]) -> bytes:
        resp = self.http.get(self.url, params=params)
        if resp.status_code != 200:
            raise FetchError(f"the OAI-PMH server answered HTTP {resp.status_code}", url=resp.url)
        return resp.content


def harvest_oai(
    store: Store,
    settings: Settings,
    client: OaiClient | None = None,
    run_id: str | None = None,
    from_date: date | None = None,
    until: date | None = None,
    set_spec: str | None = None,
) -> Counts:
    """Harvest ``ListRecords`` from ``from_date`` (default: where the last harvest of this set
    ended, else ``arxiv_lookback_days`` ago) to ``until`` (default: today)."""
    counts = Counts("oai-pmh")
    client = client or OaiClient(settings)
    mark = f"oai-pmh:{set_spec or '*'}"
    with store.connect(read_only=True) as con:
        saved = acquire.get_watermark(con, mark)
    state = json.loads(saved) if saved else {}
    today = utcnow().date()
    until = until or settings.clock().date()
    token = state.get("token") if from_date is None else None
    if from_date is None:
        from_date = date.fromisoformat(state["next_from"]) if state.get("next_from") else until - timedelta(
            days=settings.arxiv_lookback_days)
        if from_date > today:  # an older litmine kept an `--until` from the future
            log.warning("the OAI-PMH watermark %s of set %s is in the future; repaired to today, %s",
                        from_date, set_spec or "*", today)
            from_date = today
        if token:
            from_date, until = date.fromisoformat(state["from"]), date.fromisoformat(state["until"])
    source_ref = f"ListRecords set={set_spec or '*'} from={from_date} until={until}"
    if from_date > until:
        exc = FetchError(f"the harvest window ends before it starts (from {from_date} to {until}): nothing asked; "
                         "give a later --until or an earlier --from", set=set_spec)
        return refuse(store, counts, run_id, source_ref, exc, "harvest")
    pages = 0
    while True:
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": str(from_date), "until": str(until)}
            if set_spec:
                params["set"] = set_spec
        try:
            records, token, error = parse_records(client.get(params))
        except FetchError as exc:
            with store.transaction() as con:
                record_failure(con, run_id, "oai-pmh", source_ref, exc)
            counts.add("failed")
            counts.notes.append(f"stopped after {pages} pages: {exc}; run again to resume")
            counts.error = counts.notes[-1]  # the harvest did not finish: the stage failed
            if isinstance(exc, SourceUnreachable):
                raise
            return counts
        pages += 1
        if error == "badResumptionToken":
            log.warning("resumption token expired; starting the harvest window again")
            token = None
            continue
        if error and error != "noRecordsMatch":
            exc = FetchError(f"the OAI-PMH server refused the request: {error}", url=client.url)
            with store.transaction() as con:
                record_failure(con, run_id, "oai-pmh", source_ref, exc)
            counts.add("failed")
            return counts
        with store.transaction() as con:
            for rec in records:
                _, status = acquire.store_arxiv_work(con, rec, "oai-pmh", source_ref, run_id)
                counts.add(status)
            value = {"from": str(from_date), "until": str(until), "token": token} if token else {
                "next_from": str(min(until, today))}
            acquire.set_watermark(con, mark, json.dumps(value), run_id)
        if not token:
            break
    if counts.new == 0 and counts.updated == 0:
        counts.notes.append(f"nothing new from {from_date} to {until}")
    counts.notes.append(f"{pages} pages")
    log.info("%s", counts)
    return counts
