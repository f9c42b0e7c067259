"""The extract stage: stored PDFs into text, abstract, headings and reference entries in the store.

``extract_documents`` extracts every downloaded document not yet extracted by ``EXTRACTOR_VERSION``
in killable worker processes (``extract_pool``), stores text and reference entries, and links the
entries to works. ``extract_folder`` registers a folder of local PDFs as documents, then does the
same. Reading one PDF is ``pdftext.read_pdf``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import ExtractError
from litmine.pdf.pool import ExtractorPool, extract_many
from litmine.hashing import sha256_file
from litmine.ids import arxiv_id_in_name

# The store (DuckDB, pyarrow) is imported by the stage functions only, and pymupdf by the extractor
# processes only (importing it costs this process about 0.9 CPU s and serves nothing here).

if TYPE_CHECKING:
    from litmine.pdf.clean import Extraction
    from litmine.store import Store

log = logging.getLogger(__name__)

# Bump when the text, abstract, headings or references of any PDF would change: documents
# extracted by an older version are extracted again.
EXTRACTOR_VERSION = "extract-2"
STAGE = "extract"

FAILED_STATUSES = ("encrypted", "damaged", "empty", "no_text", "too_large", "not_pdf", "missing", "timeout",
                   "crashed")
# Failures that can go away on their own (a loaded machine, a file put back): retried on every run.
RETRIED_STATUSES = ("timeout", "crashed", "missing")


def extract_files(paths: list[str], max_pages: int, timeout: float) -> list[tuple[str, Extraction]]:
    """Compute only, no database: extract ``paths`` one after another in one killable worker
    process; returns (path, extraction) in order. What a task runner's worker (a Dask worker
    process, or a thread) runs for one chunk of ``extract_documents(map_chunks=...)``."""
    return [(str(path), result) for path, result in extract_many([Path(p) for p in paths], max_pages, timeout)]


# A chunk of files is one task on the task runner: large enough that starting its extractor process
# is a small share, small enough that a killed run loses little and two workers share the work.
CHUNK_FILES = 8


# -- the stage ----------------------------------------------------------------------------------


def extract_documents(store: Store, settings: Settings, run_id: str | None = None, limit: int | None = None,
                      workers: int | None = None, map_chunks=None) -> Counts:
    """Extract every downloaded document not yet extracted by this extractor version.

    Idempotent and resumable: results are committed in small batches as they come, and a re-run
    skips documents done by the same version (timeouts, crashes and missing files are retried).
    Reference entries are stored in ``citations`` and linked to works; earlier unresolved entries
    are linked again, as the works they name may have arrived since.

    ``map_chunks(fn, chunks)``, when given, runs ``fn`` on each chunk of file paths wherever the
    caller's task runner puts it (threads, Dask workers) and yields the results in order; this
    process only reads the work to do and writes the results. Without it, ``workers`` local
    extractor processes do the work.
    """
    from litmine.store import text as text_store

    counts = Counts(STAGE)
    with store.connect(read_only=True) as con:
        todo = text_store.pending_documents(con, EXTRACTOR_VERSION, RETRIED_STATUSES, limit)
        done = text_store.count_extracted(con, EXTRACTOR_VERSION)
        without_text = text_store.count_without_text(con, EXTRACTOR_VERSION)
    counts.add("unchanged", done - sum(1 for d in todo if d.extractor_version == EXTRACTOR_VERSION))
    if not todo and without_text:  # read, but not extracted: never say they are
        counts.notes.append(f"nothing to extract: every downloaded document was read by {EXTRACTOR_VERSION}, "
                            f"{without_text} of them without text: their reasons are in documents.extract_error")
    elif not todo:
        counts.notes.append(f"nothing to extract: every downloaded document is extracted by {EXTRACTOR_VERSION}")
    by_path = {_resolve(settings, d.path): d for d in todo}
    batch = _Batch(store, run_id, counts)
    pool = None
    if map_chunks is None:
        pool = ExtractorPool(settings.pdf_max_pages, settings.extract_timeout_seconds,
                             min(workers or settings.extract_workers, len(by_path))) if by_path else None
        results = pool.map(by_path) if pool else iter(())
    else:
        local = {str(p.absolute()): p for p in by_path}  # absolute: a worker's directory may differ
        names = list(local)
        chunks = [names[i:i + CHUNK_FILES] for i in range(0, len(names), CHUNK_FILES)]
        compute = functools.partial(extract_files, max_pages=settings.pdf_max_pages,
                                    timeout=settings.extract_timeout_seconds)
        results = ((local[p], r) for chunk in map_chunks(compute, chunks) for p, r in chunk)
    try:
        for path, result in results:
            doc = by_path[path]
            batch.add(lambda con, refs, doc=doc, result=result: _save(
                con, refs, doc.work_id, doc.path or f"work {doc.work_id}", result, run_id,
                first=doc.extractor_version is None))
        batch.close()
    finally:
        batch.abandon()
        if pool:
            pool.close()
    _finish(store, counts)
    return counts


def extract_folder(store: Store, settings: Settings, folder: Path, run_id: str | None = None,
                   workers: int | None = None) -> Counts:
    """Register every PDF under ``folder`` (recursively) as a document and extract it, in place.

    A file is linked to a work by the arXiv id in its margin stamp or its name, and a minimal work
    (metadata source ``pdf``) is made when none exists. A file that cannot be read gets its own
    minimal work, so its status and reason are stored. A file whose work already has a document
    is not stored (a failure names the other file). Files registered before, unchanged and
    extracted by this version are skipped.
    """
    from litmine.store import text as text_store

    folder = folder.resolve()
    if not folder.is_dir():
        raise ExtractError("no such folder: give a directory of PDF files", folder=folder)
    counts = Counts(STAGE)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf")
    if not files:
        counts.notes.append(f"no PDF files under {folder}")
        return counts
    # The worker processes start now: their imports overlap the hashing and the database reads.
    pool = ExtractorPool(settings.pdf_max_pages, settings.extract_timeout_seconds,
                         min(workers or settings.extract_workers, len(files)))
    try:
        hashes = {p: sha256_file(p) for p in files}
        with store.connect(read_only=True) as con:
            known = text_store.registered_files(con, [str(p) for p in files])
        todo = []
        for p in files:
            row = known.get(str(p))
            if row and row.sha256 == hashes[p] and row.extractor_version == EXTRACTOR_VERSION \
                    and row.extract_status not in RETRIED_STATUSES:
                counts.add("unchanged")
            else:
                todo.append(p)
        _store_folder(store, pool, todo, hashes, run_id, counts)
    finally:
        pool.close()
    _finish(store, counts)
    return counts


def _store_folder(store: Store, pool: ExtractorPool, todo: list[Path], hashes: dict[Path, str],
                  run_id: str | None, counts: Counts) -> None:
    from litmine.store import text as text_store
    from litmine.store.failures import record_failure

    claimed: dict[int, Path] = {}

    def store_file(con, refs: list, path: Path, result: Extraction) -> str:
        arxiv = (result.arxiv_stamp or _arxiv_id_of(path.name)) if result.status == "ok" else None
        work_id, how = text_store.register_file(
            con, path, hashes[path], path.stat().st_size, arxiv, result.title_guess or path.stem, run_id)
        if how == "has_pdf":
            counts.notes.append(f"{path.name}: its work ({arxiv}) has a downloaded PDF already; not registered")
            return "unchanged"
        if how == "taken" or work_id in claimed:
            other = claimed.get(work_id)
            if not text_store.has_open_failure(con, STAGE, str(path)):  # one row per file, not per run
                record_failure(con, run_id, STAGE, str(path), ExtractError(
                    f"another file{f' ({other.name})' if other else ''} holds the document of the same work; "
                    "this one was not stored", path=path, work_id=work_id))
            counts.notes.append(f"{path.name}: same work as another file; not stored")
            return "failed"
        claimed[work_id] = path
        return _save(con, refs, work_id, str(path), result, run_id, first=how == "new")

    batch = _Batch(store, run_id, counts)
    try:
        for path, result in pool.map(todo):
            batch.add(lambda con, refs, path=path, result=result: store_file(con, refs, path, result))
        batch.close()
    finally:
        batch.abandon()


class _Batch:
    """Results waiting to be stored: one transaction per batch (opening the database costs more
    than extracting a short PDF), committed at ``size`` results or every ``seconds``, with every
    reference entry of the batch in one insert. One writer thread stores a batch while this thread
    goes on handing files to the extractor processes; batches are stored one at a time, in order.
    """

    def __init__(self, store: Store, run_id: str | None, counts: Counts, size: int = 25, seconds: float = 5.0):
        self.store, self.run_id, self.counts = store, run_id, counts
        self.size, self.seconds = size, seconds
        self.pending: list = []
        self.since = time.monotonic()
        self.statuses: Counter = Counter()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="litmine-extract-store")
        self._writing = None

    def add(self, write) -> None:
        """``write(con, refs)`` stores one result, appends (work_id, entries) to ``refs``, returns its status."""
        self.pending.append(write)
        if len(self.pending) >= self.size or time.monotonic() - self.since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._wait()
            self._writing = self._writer.submit(self._store, self.pending)
        self.pending = []
        self.since = time.monotonic()

    def close(self) -> None:
        """Store what is pending and wait for it; a write's error is raised here."""
        self.flush()
        self._wait()

    def abandon(self) -> None:
        """Let the writer finish what it has and stop it (after ``close``, or when the run fails)."""
        self._writer.shutdown(wait=True)

    def _wait(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _store(self, pending: list) -> None:
        from litmine.store import text as text_store

        refs: list = []
        with self.store.transaction() as con:
            results = [write(con, refs) for write in pending]
            text_store.replace_citations_many(con, refs, EXTRACTOR_VERSION)
        for status in results:
            self.counts.add(status if status in ("new", "updated", "unchanged") else "failed")
            if status not in ("new", "updated", "unchanged"):
                self.statuses[status] += 1


def _save(con, refs: list, work_id: int, file: str, result: Extraction, run_id: str | None, first: bool) -> str:
    """Store one extraction, and add its reference entries to ``refs`` (stored with the batch's);
    returns new, updated, or the failure status. A failure is recorded under the file's path (as
    the documents table holds it) and keeps the entries stored before."""
    from litmine.store import text as text_store
    from litmine.store import utcnow
    from litmine.store.failures import record_failure, resolve_failures

    text_store.save_extraction(con, work_id, result, EXTRACTOR_VERSION, utcnow())
    if result.status != "ok":
        record_failure(con, run_id, STAGE, file,
                       ExtractError(result.reason or result.status, status=result.status, path=file, work_id=work_id))
        log.info("%s (work %s): %s: %s", file, work_id, result.status, result.reason)
        return result.status
    refs.append((work_id, result.citations))
    resolve_failures(con, STAGE, file)
    resolve_failures(con, STAGE, f"work {work_id}")  # recorded so by extractors before extract-2
    return "new" if first else "updated"


def _finish(store: Store, counts: Counts) -> None:
    """Link references to works, and note the failures by kind."""
    from litmine.pdf.references import link_citations
    from litmine.store import text as text_store

    with store.transaction() as con:
        linked = link_citations(con)
        failed = text_store.failure_summary(con, EXTRACTOR_VERSION)
    if linked:
        counts.notes.append(f"{linked} references newly linked to works")
    if counts.failed and failed:
        counts.notes.append("not extracted so far: " + ", ".join(f"{n} {status}" for status, n in failed))
    log.info("%s", counts)


def _resolve(settings: Settings, path: str | None) -> Path:
    p = Path(path or "")
    return p if p.is_absolute() else settings.data_dir / p


def _arxiv_id_of(name: str) -> str | None:
    """The arXiv id (with version, if any) a file name starts with or contains: '1606.03490v3'."""
    aid = arxiv_id_in_name(name)
    return aid.versioned if aid else None
