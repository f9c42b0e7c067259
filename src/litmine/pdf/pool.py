"""The extractor processes: PDFs read in worker processes that are killed past a time limit.

No PDF can hang or crash a run: a file that takes longer than the limit gets status ``timeout``,
one whose worker dies (a crash inside mupdf) ``crashed``, and the worker is replaced.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from litmine.errors import ExtractError

if TYPE_CHECKING:
    from litmine.pdf.clean import Extraction

# This module imports no pymupdf itself: a worker process unpickles ``_serve`` from here, and
# ``_serve`` decides how pymupdf is imported there.
_UNUSED_PYMUPDF_EXTRAS = ("pymupdf.layout", "pymupdf4llm")


def _serve(conn, max_pages: int) -> None:  # pragma: no cover - runs in the worker process
    # pymupdf imports its layout-model package (pymupdf.layout, with onnx helpers: about 0.5 CPU s)
    # and pymupdf4llm (with numpy and tabulate: about 0.3 CPU s) whenever they are installed; the
    # extractor uses neither, so a worker skips both imports.
    for optional in _UNUSED_PYMUPDF_EXTRAS:
        sys.modules.setdefault(optional, None)
    from litmine.pdf.text import read_pdf

    conn.send("ready")  # imports done: the parent starts a job's clock only now
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        conn.send(read_pdf(job, max_pages))


_START_SECONDS = 120.0  # how long a worker may take to start (import pymupdf) before it is given up


class _Worker:
    def __init__(self, ctx, max_pages: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, max_pages), daemon=True, name="litmine-extract")
        self.process.start()
        child.close()
        self.ready = False
        self.job: Path | None = None
        self.deadline = time.monotonic() + _START_SECONDS

    def stop(self) -> None:
        """Kill the worker: it holds nothing worth a clean exit, and exiting cleanly is slower."""
        self.process.kill()
        self.process.join()
        self.conn.close()


def _start(w: _Worker, job: Path, timeout: float) -> None:
    w.job = job
    w.deadline = time.monotonic() + timeout
    w.conn.send(job)


class ExtractorPool:
    """Worker processes started once, when the pool is made (their imports overlap whatever the
    caller does next: reading the work to do, opening the database), and used by ``map``.

    A file that takes longer than ``timeout`` seconds gets status ``timeout`` and its worker is
    killed and replaced; a worker that dies (a crash inside mupdf) gives ``crashed``.
    """

    def __init__(self, max_pages: int, timeout: float, workers: int = 1) -> None:
        self.ctx = multiprocessing.get_context("spawn")  # no fork: the parent may hold DuckDB and threads
        self.max_pages, self.timeout = max_pages, timeout
        self.pool = [_Worker(self.ctx, max_pages) for _ in range(max(1, workers))]

    def __enter__(self) -> "ExtractorPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self.pool:
            w.stop()
        self.pool = []

    def map(self, paths: Iterable[Path]) -> Iterator[tuple[Path, Extraction]]:
        """Yields (path, extraction) of each file as it finishes."""
        from litmine.pdf.clean import Extraction  # not pdftext: the parent imports no pymupdf

        queue = list(paths)
        queue.reverse()
        pool, timeout = self.pool, self.timeout
        while queue or any(w.job for w in pool):
            for w in pool:
                if w.ready and w.job is None and queue:
                    _start(w, queue.pop(), timeout)
            waiting = [w for w in pool if w.job is not None or not w.ready]
            ready = wait([w.conn for w in waiting],
                         timeout=max(0.0, min(w.deadline for w in waiting) - time.monotonic()))
            for i, w in enumerate(pool):
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.process.exitcode
                        w.stop()
                        pool[i] = _Worker(self.ctx, self.max_pages)
                        if w.job is None:
                            raise ExtractError(f"the extractor process died while starting (exit code {code})")
                        yield w.job, Extraction("crashed", f"the extractor process died reading it (exit code {code})")
                        continue
                    if message == "ready":
                        w.ready = True
                        continue
                    job, w.job = w.job, None
                    if queue:  # the next job first, so the worker runs while the caller stores this one
                        _start(w, queue.pop(), timeout)
                    yield job, message
                elif time.monotonic() >= w.deadline:
                    w.stop()
                    pool[i] = _Worker(self.ctx, self.max_pages)
                    if w.job is None:
                        raise ExtractError(f"the extractor process did not start within {_START_SECONDS:g} s")
                    yield w.job, Extraction("timeout", f"extraction took longer than {timeout:g} s and was stopped "
                                                       "(LITMINE_EXTRACT_TIMEOUT_SECONDS)")


def extract_many(paths: Iterable[Path], max_pages: int, timeout: float,
                 workers: int = 1) -> Iterator[tuple[Path, Extraction]]:
    """Extract files in ``workers`` worker processes started for this call; yields (path,
    extraction) as each finishes (``ExtractorPool`` for the rules)."""
    queue = list(paths)
    if not queue:
        return
    with ExtractorPool(max_pages, timeout, min(workers, len(queue))) as pool:
        yield from pool.map(queue)
