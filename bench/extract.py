"""Pages per second of `litmine extract` against plain pymupdf `page.get_text()`, same files, same run.

``read_pdf`` is litmine's work per file alone. The stage's figure is the whole stage: registering the files, worker processes with a time limit,
cleaning, headings, abstract, reference parsing, storing text and citations in DuckDB, and linking.
Each measurement runs in a fresh process; the best of REPEATS is kept for each side. The stage's CPU
line counts the CPU seconds of the stage and of its extractor processes (user + system, waited-for
children included), against plain pymupdf's in one process: unlike wall time, other jobs on a
shared machine do not inflate it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import SHARED, header, measure

FOLDER = SHARED / "fixtures" / "pdfs" / "real"
REPEATS = 3
GOAL = 0.9


def _cpu() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_pymupdf(folder: Path) -> int:
    import pymupdf

    pages = 0
    for path in sorted(folder.glob("*.pdf")):
        with pymupdf.open(path) as doc:
            for page in doc:
                page.get_text()
                pages += 1
    return pages


def litmine_read_pdf(folder: Path) -> int:
    """litmine's per-file work alone (text, cleaning, headings, abstract, references), in one process."""
    from litmine.pdf.text import read_pdf

    return sum(read_pdf(path, 10_000).pages for path in sorted(folder.glob("*.pdf")))


def litmine_extract(folder: Path, workers: int, cpu: bool = False):
    """Pages extracted by the whole stage; with ``cpu``, (pages, CPU seconds of the stage and its
    extractor processes)."""
    from litmine.config import load_settings
    from litmine.pdf.extract import extract_folder
    from litmine.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, data_dir=Path(tmp))
        store = Store(settings.database)
        store.migrate()
        started = _cpu()
        counts = extract_folder(store, settings, folder, workers=workers)
        spent = _cpu() - started
        if counts.failed:
            raise RuntimeError(f"extraction failed: {counts}")
        with store.connect(read_only=True) as con:
            pages = con.execute("SELECT sum(pages) FROM documents WHERE extract_status = 'ok'").fetchone()[0]
        return (pages, spent) if cpu else pages


def cpu_seconds(side: str, folder: Path) -> float:
    """CPU seconds of one side's per-file work in this process: unlike wall time, not inflated by
    other jobs sharing the machine."""
    started = _cpu()
    plain_pymupdf(folder) if side == "plain" else litmine_read_pdf(folder)
    return _cpu() - started


def best(func, *args) -> tuple[int, float]:
    runs = [measure(func, *args) for _ in range(REPEATS)]
    pages = runs[0][0]
    return pages, min(seconds for _, seconds, _ in runs)


if __name__ == "__main__":
    header(f"extract: {FOLDER.relative_to(SHARED)} ({len(list(FOLDER.glob('*.pdf')))} PDFs), best of {REPEATS}")
    pages, plain_s = best(plain_pymupdf, FOLDER)
    print(f"plain pymupdf get_text, 1 process     : {pages} pages in {plain_s:6.2f} s = {pages / plain_s:7.1f} pages/s")
    cpu_pages, cpu_s = best(litmine_read_pdf, FOLDER)
    print(f"litmine read_pdf, 1 process, no store: {pages} pages in {cpu_s:6.2f} s = {pages / cpu_s:7.1f} pages/s, "
          f"ratio {plain_s / cpu_s:.2f}")
    plain_cpu = min(measure(cpu_seconds, "plain", FOLDER)[0] for _ in range(REPEATS))
    litmine_cpu = min(measure(cpu_seconds, "litmine", FOLDER)[0] for _ in range(REPEATS))
    print(f"CPU time, plain get_text vs read_pdf : {plain_cpu:6.2f} s vs {litmine_cpu:6.2f} s, ratio {plain_cpu / litmine_cpu:.2f}")
    for workers in (1, 2):
        stage_cpu = min(measure(litmine_extract, FOLDER, workers, True)[0][1] for _ in range(REPEATS))
        print(f"CPU time, plain get_text vs the whole stage, {workers} worker(s): {plain_cpu:6.2f} s vs "
              f"{stage_cpu:6.2f} s, ratio {plain_cpu / stage_cpu:.2f}")
    for workers in (1, 2):
        lit_pages, lit_s = best(litmine_extract, FOLDER, workers)
        if lit_pages != pages:
            raise SystemExit(f"litmine extracted {lit_pages} pages, pymupdf {pages}")
        ratio = plain_s / lit_s
        print(f"litmine extract, {workers} worker(s){' ' * (10 - len(str(workers)))}: {pages} pages in {lit_s:6.2f} s "
              f"= {pages / lit_s:7.1f} pages/s, ratio {ratio:.2f} (goal >= {GOAL})")
