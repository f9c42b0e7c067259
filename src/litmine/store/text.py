"""Documents' extracted text and their reference lists (tables ``documents`` and ``citations``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from litmine.ids import try_parse_arxiv_id
from litmine.store import Connection, utcnow
from litmine.store.works import WorkRecord, add_source, find_work, upsert_work


class Extraction(Protocol):
    """What the store keeps of a PDF's extraction (``pdftext.Extraction``); the store imports no stage."""

    status: str
    reason: str | None
    pages: int | None
    text: str | None
    abstract: str | None
    headings: list[str]


class ParsedReference(Protocol):
    """What the store keeps of a reference entry (``references.ParsedReference``)."""

    raw: str
    title: str | None
    authors: list[str] | None
    year: int | None
    venue: str | None
    arxiv_id: str | None
    doi: str | None


@dataclass(frozen=True)
class DocumentRow:
    work_id: int
    path: str | None
    sha256: str | None
    extractor_version: str | None
    extract_status: str | None


_DOC_COLUMNS = "work_id, path, sha256, extractor_version, extract_status"


def pending_documents(con: Connection, version: str, retried: tuple[str, ...], limit: int | None = None) -> list[DocumentRow]:
    """Downloaded documents not extracted by ``version``, extracted before their file changed, or
    whose last attempt ended in a status worth retrying."""
    sql = (
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE download_status = 'ok' AND ("
        "extractor_version IS DISTINCT FROM ? OR extract_status IN (SELECT unnest(?)) "
        "OR extracted_at < downloaded_at) ORDER BY work_id"
    )
    params: list = [version, list(retried)]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [DocumentRow(*row) for row in con.execute(sql, params).fetchall()]


def count_extracted(con: Connection, version: str) -> int:
    return con.execute(
        "SELECT count(*) FROM documents WHERE download_status = 'ok' AND extractor_version = ?", [version]
    ).fetchone()[0]


def count_without_text(con: Connection, version: str) -> int:
    """Downloaded documents this extractor version read and got no text from (damaged, empty ...)."""
    return con.execute(
        "SELECT count(*) FROM documents WHERE download_status = 'ok' AND extractor_version = ? "
        "AND extract_status IS DISTINCT FROM 'ok'", [version]
    ).fetchone()[0]


def registered_files(con: Connection, paths: list[str]) -> dict[str, DocumentRow]:
    """Documents registered from local files, by their absolute path."""
    rows = con.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE path IN (SELECT unnest(?))", [paths]
    ).fetchall()
    return {row[1]: DocumentRow(*row) for row in rows}


def register_file(con: Connection, path: Path, sha256: str, size: int, arxiv: str | None, title: str,
                  run_id: str | None) -> tuple[int | None, str]:
    """Make ``path`` the document of a work; returns (work_id, how).

    ``how`` is ``new`` (a new document row), ``again`` (the file was registered before), ``has_pdf``
    (the work already has a downloaded PDF: work_id is None, nothing written) or ``taken`` (another
    local file holds the work's document: nothing written). ``arxiv`` may carry a version.
    """
    row = con.execute("SELECT work_id FROM documents WHERE path = ?", [str(path)]).fetchone()
    if row:
        work_id, how = row[0], "again"
    else:
        arxiv_id, version = _split_version(arxiv)
        work_id = find_work(con, arxiv_id=arxiv_id) if arxiv_id else None
        if work_id is None and not arxiv_id:
            same = con.execute("SELECT work_id FROM documents WHERE sha256 = ? LIMIT 1", [sha256]).fetchone()
            if same:
                return same[0], "taken"
        if work_id is not None:
            doc = con.execute("SELECT path, download_status FROM documents WHERE work_id = ?", [work_id]).fetchone()
            if doc and doc[1] == "ok" and doc[0] and not Path(doc[0]).is_absolute():
                return None, "has_pdf"
            if doc and doc[0] and Path(doc[0]).is_absolute():
                return work_id, "taken"
        if work_id is None:
            work_id, _ = upsert_work(con, WorkRecord(title=title[:500], metadata_source="pdf", arxiv_id=arxiv_id,
                                                     arxiv_version=version))
        add_source(con, work_id, "manual", str(path), run_id)
        how = "new"
    con.execute(
        "INSERT INTO documents (work_id, path, sha256, bytes, download_status, downloaded_at) "
        "VALUES (?, ?, ?, ?, 'ok', ?) ON CONFLICT (work_id) DO UPDATE SET path = excluded.path, "
        "sha256 = excluded.sha256, bytes = excluded.bytes, download_status = 'ok', download_error = NULL, "
        "downloaded_at = CASE WHEN documents.sha256 IS DISTINCT FROM excluded.sha256 "
        "THEN excluded.downloaded_at ELSE documents.downloaded_at END",
        [work_id, str(path), sha256, size, utcnow()],
    )
    return work_id, how


def _split_version(arxiv: str | None) -> tuple[str | None, int | None]:
    """("1606.03490", 3) from "1606.03490v3"; (None, None) from what is not an arXiv id."""
    aid = try_parse_arxiv_id(arxiv)
    return (aid.base, aid.version) if aid else (None, None)


def save_extraction(con: Connection, work_id: int, result: Extraction, version: str, at: datetime) -> None:
    """Store an extraction's status and text. A failed extraction keeps any text stored earlier."""
    con.execute(
        "UPDATE documents SET pages = coalesce(?, pages), extract_status = ?, extract_error = ?, "
        "extractor_version = ?, extracted_at = ?, text = coalesce(?, text), "
        "abstract_text = coalesce(?, abstract_text), headings = coalesce(?, headings) WHERE work_id = ?",
        [result.pages, result.status, result.reason, version, at, result.text, result.abstract,
         result.headings or None, work_id],
    )


def replace_citations(con: Connection, work_id: int, refs: list[ParsedReference], version: str) -> None:
    """Replace the work's stored reference list with ``refs`` (positions from 1); links are redone."""
    replace_citations_many(con, [(work_id, refs)], version)


def replace_citations_many(con: Connection, lists: list[tuple[int, list[ParsedReference]]], version: str) -> None:
    """Replace the stored reference lists of several works at once: one delete, one bulk insert."""
    if not lists:
        return
    con.execute("DELETE FROM citations WHERE list_contains(?, citing_work_id)", [[w for w, _ in lists]])
    refs = [r for _, entries in lists for r in entries]
    if not refs:
        return
    # The columns go in as list parameters, unnested side by side: no Arrow table (pyarrow's first
    # conversion in a process costs about 0.2 CPU s, more than the insert).
    con.execute(
        "INSERT INTO citations (citing_work_id, position, raw, title, authors, year, venue, arxiv_id, doi, "
        "extractor_version) SELECT unnest(?::INTEGER[]), unnest(?::INTEGER[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[][]), unnest(?::INTEGER[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?",
        [[w for w, entries in lists for _ in entries], [i for _, entries in lists for i in range(1, len(entries) + 1)],
         [r.raw for r in refs], [r.title for r in refs], [r.authors for r in refs], [r.year for r in refs],
         [r.venue for r in refs], [r.arxiv_id for r in refs], [r.doi for r in refs], version])


def unresolved_citations(con: Connection, citing_work_id: int | None = None) -> list[tuple]:
    """(citing_work_id, position, raw, title, year, arxiv_id, doi) of entries not linked to a work."""
    sql = ("SELECT citing_work_id, position, raw, title, year, arxiv_id, doi FROM citations "
           "WHERE cited_work_id IS NULL")
    params: list = []
    if citing_work_id is not None:
        sql += " AND citing_work_id = ?"
        params.append(citing_work_id)
    return con.execute(sql + " ORDER BY citing_work_id, position", params).fetchall()


def works_by_arxiv_id(con: Connection) -> dict[str, int]:
    """arXiv id -> work_id: the works' own ids, and the (unverified) ids a survey gives its entries."""
    rows = con.execute(
        "SELECT arxiv_id, work_id FROM survey_references WHERE arxiv_id IS NOT NULL AND work_id IS NOT NULL "
        "UNION ALL SELECT arxiv_id, work_id FROM works WHERE arxiv_id IS NOT NULL"
    ).fetchall()
    return dict(rows)  # works' own ids come last and win


def works_by_doi(con: Connection) -> dict[str, int]:
    return dict(con.execute("SELECT lower(doi), min(work_id) FROM works WHERE doi IS NOT NULL GROUP BY 1").fetchall())


def work_titles(con: Connection) -> list[tuple[int, str, int | None]]:
    """(work_id, title, year) of every work, for linking entries by title and year."""
    return con.execute("SELECT work_id, title, year FROM works ORDER BY work_id").fetchall()


def set_citation_links(con: Connection, links: list[tuple[int, int, int, str, float | None]]) -> None:
    """Store links: (citing_work_id, position, cited_work_id, match_method, match_score)."""
    if not links:
        return
    citing, position, cited, method, score = (list(column) for column in zip(*links))
    con.execute(
        "UPDATE citations SET cited_work_id = l.cited_work_id, match_method = l.match_method, "
        "match_score = l.match_score FROM (SELECT unnest(?::INTEGER[]) AS citing_work_id, "
        "unnest(?::INTEGER[]) AS position, unnest(?::INTEGER[]) AS cited_work_id, "
        "unnest(?::VARCHAR[]) AS match_method, unnest(?::DOUBLE[]) AS match_score) l "
        "WHERE citations.citing_work_id = l.citing_work_id AND citations.position = l.position",
        [citing, position, cited, method, score])


def failure_summary(con: Connection, version: str) -> list[tuple[str, int]]:
    """(status, count) of documents whose extraction by ``version`` failed, most common first."""
    return con.execute(
        "SELECT extract_status, count(*) FROM documents WHERE extractor_version = ? AND extract_status <> 'ok' "
        "GROUP BY 1 ORDER BY 2 DESC, 1", [version]
    ).fetchall()


def has_open_failure(con: Connection, stage: str, item: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM failures WHERE stage = ? AND item = ? AND resolved_at IS NULL", [stage, item]
    ).fetchone()[0] > 0
