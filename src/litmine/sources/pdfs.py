"""PDF download: the latest version of every arXiv work's PDF, checked, hashed and stored atomically.

A download must: arrive within ``arxiv_timeout_seconds``, be no larger than ``pdf_max_bytes``, be
sent as a PDF (``Content-Type``), start with ``%PDF-`` and end with ``%%EOF`` (a cut-off file
lacks it), and arrive whole (``Content-Length``). It is streamed into a temporary file beside its
destination, hashed on the way, and renamed into place, so a killed run never leaves half a PDF.
Files are named by ``ArxivId.filename`` (``hep-th/9901001v2`` -> ``hep-th_9901001v2.pdf``) under
``pdf_dir``; ``documents.path`` holds the path relative to the data directory.

A file already in place (a run killed between rename and commit) is hashed and recorded, not
fetched again. A failure is recorded on the work (``documents.download_status = 'failed'``, with a
readable ``download_error``) and in ``failures``; the run goes on. Failed downloads are tried again
only with ``retry_failed``. Requests to arXiv share the API's politeness (``polite.PoliteClient``):
one every ``arxiv_delay_seconds``, retries with backoff for 429, 5xx, timeouts and dropped
connections, a deadline on the whole download (a trickled file is cut off), and redirects followed
only to the configured arXiv hosts, each hop spaced like any other request.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

import requests

from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import FetchError, InvalidArxivId, PdfError, SourceUnreachable
from litmine.hashing import sha256_file
from litmine.ids import ArxivId, parse_arxiv_id, safe_child
from litmine.sources.polite import PoliteClient, Throttle, hosts_of
from litmine.store import Store
from litmine.store import acquire
from litmine.store.failures import record_failure, resolve_failures

log = logging.getLogger(__name__)

_ACCEPTED_TYPES = ("application/pdf", "application/x-pdf", "application/octet-stream")


def pdf_url(settings: Settings, aid: ArxivId) -> str:
    return f"{settings.arxiv_pdf_url.rstrip('/')}/{aid.versioned}"


def check_pdf_file(path: Path, url: str | None = None) -> None:
    """Raise ``PdfError`` unless the file starts like a PDF and ends with its ``%%EOF`` marker."""
    where = {"url": url} if url else {"path": path.name}
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(5)
        fh.seek(max(0, size - 2048))
        tail = fh.read()
    if head != b"%PDF-":
        raise PdfError(f"not a PDF: the file starts with {head!r}, not %PDF-", **where)
    if b"%%EOF" not in tail:
        raise PdfError(f"the PDF is cut off: no %%EOF marker at its end ({size} bytes)", **where)


class PdfDownloader:
    """Downloads one PDF at a time, through the one retry policy of ``polite.PoliteClient`` (its
    deadline covers the whole download). ``fetch`` returns (sha256, size) of the stored file."""

    def __init__(self, settings: Settings, session: requests.Session | None = None, throttle: Throttle | None = None,
                 backoff_seconds: float | None = None) -> None:
        self.settings = settings
        self.http = PoliteClient(
            "the PDF server", "LITMINE_ARXIV_PDF_URL", timeout=settings.arxiv_timeout_seconds,
            retries=settings.arxiv_retries,
            backoff=settings.arxiv_delay_seconds if backoff_seconds is None else backoff_seconds,
            throttle=throttle or Throttle(settings.arxiv_delay_seconds, settings.arxiv_spacing_file),
            hosts=hosts_of(settings.arxiv_pdf_url, settings.arxiv_api_url, settings.arxiv_oai_url),
            max_bytes=settings.pdf_max_bytes, size_setting="LITMINE_PDF_MAX_BYTES", session=session)

    @property
    def throttle(self) -> Throttle:
        return self.http.throttle

    def fetch(self, url: str, dest: Path) -> tuple[str, int]:
        return self.http.get(url, read=lambda resp, body: self._store(resp, body, url, dest))

    def _store(self, resp: requests.Response, body: Iterator[bytes], url: str, dest: Path) -> tuple[str, int]:
        if resp.status_code != 200:
            raise PdfError(f"the server answered HTTP {resp.status_code}", url=url)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in _ACCEPTED_TYPES:
            raise PdfError(f"not a PDF: the server sent {ctype or 'no content type'}", url=url)
        cap = self.settings.pdf_max_bytes
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise PdfError(f"too large: {int(declared)} bytes, the limit is {cap} (LITMINE_PDF_MAX_BYTES)", url=url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".", suffix=".part")
        tmp = Path(tmp_name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in body:
                    size += len(chunk)
                    if size > cap:
                        raise PdfError(f"too large: more than {cap} bytes (LITMINE_PDF_MAX_BYTES)", url=url)
                    out.write(chunk)
            check_pdf_file(tmp, url)
            digest = sha256_file(tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return digest, size


def download_pdfs(
    store: Store,
    settings: Settings,
    downloader: PdfDownloader | None = None,
    run_id: str | None = None,
    limit: int | None = None,
    retry_failed: bool = False,
) -> Counts:
    """Store the PDF of every arXiv work lacking one at its latest version. Counts: new (first PDF
    of a work), updated (a newer version), unchanged (already in place), failed."""
    counts = Counts("pdfs")
    downloader = downloader or PdfDownloader(settings)
    with store.connect(read_only=True) as con:
        tasks = acquire.pdf_tasks(con, limit, retry_failed=retry_failed)
        stored = acquire.count_pdf_ok(con)
    if not tasks:
        counts.add("unchanged", stored)
        counts.notes.append("nothing to download: every PDF is stored or has failed (retry with --retry-failed)")
        return counts
    pdf_dir = settings.pdf_dir
    for task in tasks:
        aid = ArxivId(task.arxiv_id, task.version)
        url = pdf_url(settings, aid)
        try:
            # re-parsed: an id that reached the database unchecked cannot choose a path
            dest = safe_child(pdf_dir, parse_arxiv_id(task.arxiv_id).with_version(task.version).filename())
            rel = str(dest.relative_to(settings.data_dir))
            if dest.exists() and dest.stat().st_size:
                check_pdf_file(dest)  # kept from a run killed before its commit
                sha, size, fetched = sha256_file(dest), dest.stat().st_size, False
            else:
                sha, size = downloader.fetch(url, dest)
                fetched = True
        except SourceUnreachable as exc:  # every other download would fail the same way: stop, keep them pending
            with store.transaction() as con:
                record_failure(con, run_id, "pdfs", aid.versioned, exc)
            log.warning("PDF downloads stopped: %s", exc)
            raise
        except (PdfError, FetchError, InvalidArxivId) as exc:
            log.info("PDF of %s failed: %s", aid, exc)
            with store.transaction() as con:
                acquire.set_pdf_failed(con, task.work_id, task.version, url, str(exc))
                record_failure(con, run_id, "pdfs", aid.versioned, exc)
            counts.add("failed")
            continue
        with store.transaction() as con:
            acquire.set_pdf_ok(con, task.work_id, task.version, url, rel, sha, size)
            resolve_failures(con, "pdfs", aid.versioned)
        if task.path and task.path != rel:
            old = settings.data_dir / task.path
            if old.parent == pdf_dir:
                old.unlink(missing_ok=True)
        status = "unchanged" if not fetched and task.sha256 == sha else "updated" if task.path else "new"
        counts.add(status)
    log.info("%s", counts)
    return counts
