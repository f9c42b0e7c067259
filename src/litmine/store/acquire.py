"""Acquisition's reads and writes: watermarks, arXiv works, survey reference matches, PDF rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litmine.store import Connection, utcnow
from litmine.store.works import WorkRecord, add_source, add_sources, find_work, insert_works, upsert_work

# -- watermarks ---------------------------------------------------------------------------------


def get_watermark(con: Connection, name: str) -> str | None:
    row = con.execute("SELECT value FROM watermarks WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def set_watermark(con: Connection, name: str, value: str, run_id: str | None) -> None:
    con.execute(
        "INSERT INTO watermarks (name, value, updated_at, run_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
        "run_id = excluded.run_id",
        [name, value, utcnow(), run_id],
    )


def newest_published(con: Connection, source: str, source_ref: str, before: datetime) -> datetime | None:
    """The latest ``published`` date, no later than ``before``, of the works found by ``source_ref``
    (a query): where a watermark should be, when the stored one cannot be believed."""
    return con.execute(
        "SELECT max(w.published) FROM works w JOIN work_sources s USING (work_id) "
        "WHERE s.source = ? AND s.source_ref = ? AND w.published <= ?", [source, source_ref, before]).fetchone()[0]


# -- works --------------------------------------------------------------------------------------


def store_arxiv_work(
    con: Connection, rec: WorkRecord, source: str, source_ref: str, run_id: str | None, work_id: int | None = None
) -> tuple[int, str]:
    """Upsert an arXiv record and note where it came from; (work_id, 'new'|'updated'|'unchanged').

    With ``work_id`` (a survey reference's seed work), the arXiv metadata lands on that work; if
    another work already holds the arXiv id, the seed work is merged into it, so one paper is one work.
    """
    holder = find_work(con, arxiv_id=rec.arxiv_id)
    if work_id is not None and holder is not None and holder != work_id:
        merge_work(con, work_id, holder)
        work_id = holder
    work_id, status = upsert_work(con, rec, work_id=work_id or holder)
    add_source(con, work_id, source, source_ref, run_id)
    return work_id, status


def store_arxiv_works(con: Connection, records: list[WorkRecord], source: str, source_ref: str,
                      run_id: str | None) -> list[tuple[int, str]]:
    """``store_arxiv_work`` for a page of records, in order, with the same outcome, in a few bulk
    statements: a record whose arXiv id and DOI match no stored work and no other record of the page
    is inserted with the others like it (ids taken from the sequence in the records' order); any
    other record (an update, a duplicate) goes through ``store_arxiv_work`` after the inserts before it."""
    for rec in records:
        if rec.doi:
            rec.doi = rec.doi.lower()
    by_arxiv = dict(con.execute("SELECT arxiv_id, work_id FROM works WHERE arxiv_id IN (SELECT unnest(?::VARCHAR[]))",
                                [[r.arxiv_id for r in records if r.arxiv_id]]).fetchall())
    by_doi = dict(con.execute("SELECT doi, min(work_id) FROM works WHERE doi IN (SELECT unnest(?::VARCHAR[])) GROUP BY doi",
                              [[r.doi for r in records if r.doi]]).fetchall())
    out: list[tuple[int, str] | None] = [None] * len(records)
    pending: list[int] = []  # positions of records to insert together
    seen: set[tuple[str, str]] = set()  # the keys of the page's records so far: a later match is an update

    def flush() -> None:
        for i, work_id in zip(pending, insert_works(con, [records[i] for i in pending])):
            out[i] = (work_id, "new")
        add_sources(con, [(out[i][0], source, source_ref, run_id) for i in pending])
        pending.clear()

    for i, rec in enumerate(records):
        keys = {("arxiv", rec.arxiv_id)} | ({("doi", rec.doi)} if rec.doi else set())
        known = rec.arxiv_id in by_arxiv or (rec.doi is not None and rec.doi in by_doi)
        if rec.arxiv_id and not known and not keys & seen:
            pending.append(i)
        else:
            flush()
            out[i] = store_arxiv_work(con, rec, source, source_ref, run_id)
        seen |= keys
    flush()
    return out  # type: ignore[return-value]


def merge_work(con: Connection, from_id: int, into_id: int) -> None:
    """Move everything that points at ``from_id`` onto ``into_id`` and delete ``from_id``."""
    con.execute(
        "INSERT INTO work_sources (work_id, source, source_ref, run_id, first_seen) "
        "SELECT ?, source, source_ref, run_id, first_seen FROM work_sources WHERE work_id = ? ON CONFLICT DO NOTHING",
        [into_id, from_id],
    )
    con.execute("DELETE FROM work_sources WHERE work_id = ?", [from_id])
    # Two references to one work both carry the survey's labels: keep one row of each, not two.
    con.execute(
        """DELETE FROM label_assignments a WHERE a.work_id = ? AND EXISTS (
               SELECT 1 FROM label_assignments b WHERE b.work_id = ? AND b.label_set = a.label_set
               AND b.label_id = a.label_id AND b.source = a.source AND b.assigned = a.assigned
               AND b.source_version IS NOT DISTINCT FROM a.source_version
               AND b.status IS NOT DISTINCT FROM a.status
               AND b.content_hash IS NOT DISTINCT FROM a.content_hash)""",
        [from_id, into_id],
    )
    con.execute("UPDATE label_assignments SET work_id = ? WHERE work_id = ?", [into_id, from_id])
    con.execute("UPDATE survey_references SET work_id = ? WHERE work_id = ?", [into_id, from_id])
    con.execute("UPDATE citations SET cited_work_id = ? WHERE cited_work_id = ?", [into_id, from_id])
    for table in ("embeddings", "documents", "citations"):
        column = "citing_work_id" if table == "citations" else "work_id"
        con.execute(f"DELETE FROM {table} WHERE {column} = ?", [from_id])
    con.execute("DELETE FROM works WHERE work_id = ?", [from_id])


# -- survey references ---------------------------------------------------------------------------

RESOLVED = ("by-id", "by-title", "not-found", "not-on-arxiv")


@dataclass
class SurveyRef:
    survey_id: str
    key: str
    work_id: int | None
    title: str | None
    authors: list[str] | None
    year: int | None
    arxiv_id: str | None
    doi: str | None
    match_status: str | None


def survey_refs(con: Connection, survey_id: str | None = None, unresolved_only: bool = True) -> list[SurveyRef]:
    sql = (
        "SELECT survey_id, key, work_id, title, authors, year, arxiv_id, doi, match_status FROM survey_references"
        " WHERE (? IS NULL OR survey_id = ?)"
    )
    if unresolved_only:
        sql += f" AND coalesce(match_status, 'pending') NOT IN ({', '.join(repr(s) for s in RESOLVED)})"
    rows = con.execute(sql + " ORDER BY survey_id, ref", [survey_id, survey_id]).fetchall()
    return [SurveyRef(*row) for row in rows]


def count_refs(con: Connection, survey_id: str | None = None) -> int:
    return con.execute(
        "SELECT count(*) FROM survey_references WHERE (? IS NULL OR survey_id = ?)", [survey_id, survey_id]
    ).fetchone()[0]


def set_match(
    con: Connection,
    ref: SurveyRef,
    status: str,
    reason: str,
    score: float | None = None,
    query: str | None = None,
    work_id: int | None = None,
) -> bool:
    """Record how a reference was resolved; True if anything changed."""
    old = con.execute(
        "SELECT match_status, match_score, match_query, match_reason, work_id FROM survey_references "
        "WHERE survey_id = ? AND key = ?",
        [ref.survey_id, ref.key],
    ).fetchone()
    work_id = work_id if work_id is not None else ref.work_id
    score = None if score is None else round(score, 4)
    if old == (status, score, query, reason, work_id):
        return False
    con.execute(
        "UPDATE survey_references SET match_status = ?, match_score = ?, match_query = ?, match_reason = ?, "
        "work_id = ?, resolved_at = ? WHERE survey_id = ? AND key = ?",
        [status, score, query, reason, work_id, utcnow(), ref.survey_id, ref.key],
    )
    return True


# -- documents (the download half) ----------------------------------------------------------------


@dataclass
class PdfTask:
    work_id: int
    arxiv_id: str
    version: int | None
    path: str | None
    sha256: str | None
    status: str | None


def pdf_tasks(con: Connection, limit: int | None = None, retry_failed: bool = True) -> list[PdfTask]:
    """arXiv works whose PDF is not stored at their latest version (or whose download failed)."""
    sql = """
        SELECT w.work_id, w.arxiv_id, w.arxiv_version, d.path, d.sha256, d.download_status
        FROM works w LEFT JOIN documents d USING (work_id)
        WHERE w.arxiv_id IS NOT NULL
          AND (d.work_id IS NULL OR d.download_status <> 'ok'
               OR coalesce(d.arxiv_version, 0) < coalesce(w.arxiv_version, 0))
    """
    if not retry_failed:
        sql += " AND coalesce(d.download_status, 'pending') <> 'failed'"
    sql += " ORDER BY w.work_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [PdfTask(*row) for row in con.execute(sql).fetchall()]


def count_pdf_ok(con: Connection) -> int:
    return con.execute("SELECT count(*) FROM documents WHERE download_status = 'ok'").fetchone()[0]


def set_pdf_ok(
    con: Connection, work_id: int, version: int | None, url: str, path: str, sha256: str, size: int,
    when: datetime | None = None,
) -> None:
    con.execute(
        "INSERT INTO documents (work_id, arxiv_version, url, path, sha256, bytes, download_status, download_error, "
        "downloaded_at) VALUES (?, ?, ?, ?, ?, ?, 'ok', NULL, ?) ON CONFLICT (work_id) DO UPDATE SET "
        "arxiv_version = excluded.arxiv_version, url = excluded.url, path = excluded.path, sha256 = excluded.sha256, "
        "bytes = excluded.bytes, download_status = 'ok', download_error = NULL, downloaded_at = excluded.downloaded_at",
        [work_id, version, url, path, sha256, size, when or utcnow()],
    )


def set_pdf_failed(con: Connection, work_id: int, version: int | None, url: str, reason: str) -> None:
    """Record a failed download; a PDF already stored for an older version is kept."""
    con.execute(
        "INSERT INTO documents (work_id, arxiv_version, url, download_status, download_error) "
        "VALUES (?, ?, ?, 'failed', ?) ON CONFLICT (work_id) DO UPDATE SET "
        "download_status = CASE WHEN documents.path IS NOT NULL THEN documents.download_status ELSE 'failed' END, "
        "download_error = excluded.download_error",
        [work_id, version, url, reason],
    )
