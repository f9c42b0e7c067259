"""Works and where they came from."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from litmine.store import Connection, insert_columns, utcnow

# Metadata from arXiv (or OAI-PMH) outranks metadata recalled in a seed, guessed from a local PDF
# (`litmine extract --pdf-dir`) or parsed from a citation.
_RANK = {"citation": 0, "pdf": 0.5, "seed": 1, "oai-pmh": 2, "arxiv": 3}


@dataclass
class WorkRecord:
    """A work's metadata as one source gives it. ``arxiv_id`` carries no version."""

    title: str
    metadata_source: str
    arxiv_id: str | None = None
    arxiv_version: int | None = None
    doi: str | None = None
    authors: list[str] | None = None
    year: int | None = None
    venue: str | None = None
    abstract: str | None = None
    categories: list[str] | None = None
    primary_category: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    pdf_url: str | None = None
    comment: str | None = None


_COLUMNS = [f.name for f in fields(WorkRecord)]


def find_work(con: Connection, arxiv_id: str | None = None, doi: str | None = None) -> int | None:
    """The work_id of the work with this arXiv id (preferred) or DOI, or None."""
    if arxiv_id:
        row = con.execute("SELECT work_id FROM works WHERE arxiv_id = ?", [arxiv_id]).fetchone()
        if row:
            return row[0]
    if doi:
        row = con.execute("SELECT work_id FROM works WHERE doi = ? ORDER BY work_id LIMIT 1", [doi.lower()]).fetchone()
        if row:
            return row[0]
    return None


def get_work(con: Connection, work_id: int) -> WorkRecord | None:
    row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM works WHERE work_id = ?", [work_id]).fetchone()
    return WorkRecord(**dict(zip(_COLUMNS, row))) if row else None


def upsert_work(con: Connection, rec: WorkRecord, work_id: int | None = None) -> tuple[int, str]:
    """Insert or update a work; returns (work_id, 'new' | 'updated' | 'unchanged').

    Matched by ``work_id`` if given, else arXiv id, else DOI. A lower-ranked source (seed,
    citation) only fills fields that are empty; an older arXiv version never replaces a newer one.
    """
    if rec.doi:
        rec.doi = rec.doi.lower()
    work_id = work_id or find_work(con, rec.arxiv_id, rec.doi)
    if work_id is None:
        cols = [c for c in _COLUMNS if getattr(rec, c) is not None]
        row = con.execute(
            f"INSERT INTO works ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) RETURNING work_id",
            [getattr(rec, c) for c in cols],
        ).fetchone()
        return row[0], "new"

    old = get_work(con, work_id)
    old_rank, new_rank = _RANK.get(old.metadata_source, 0), _RANK.get(rec.metadata_source, 0)
    older_version = (
        old.arxiv_version is not None and rec.arxiv_version is not None and rec.arxiv_version < old.arxiv_version
    )
    overwrite = new_rank >= old_rank and not older_version
    changes = {}
    for col in _COLUMNS:
        new_value, old_value = getattr(rec, col), getattr(old, col)
        if new_value is None or new_value == old_value:
            continue
        if col == "metadata_source" and new_rank < old_rank:
            continue
        if overwrite or old_value is None:
            changes[col] = new_value
    if not changes:
        return work_id, "unchanged"
    assignments = ", ".join(f"{c} = ?" for c in changes) + ", modified_at = ?"
    con.execute(f"UPDATE works SET {assignments} WHERE work_id = ?", [*changes.values(), utcnow(), work_id])
    return work_id, "updated"


def add_source(con: Connection, work_id: int, source: str, source_ref: str, run_id: str | None = None) -> bool:
    """Record that ``source`` brought in the work; True if this is the first time."""
    row = con.execute(
        "INSERT INTO work_sources (work_id, source, source_ref, run_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING RETURNING work_id",
        [work_id, source, source_ref, run_id],
    ).fetchone()
    return row is not None


def insert_works(con: Connection, records: list[WorkRecord]) -> list[int]:
    """Insert new works in one statement; their work_ids, taken from the sequence in the records' order
    (as inserting them one by one would)."""
    if not records:
        return []
    ids = sorted(w for (w,) in con.execute("SELECT nextval('work_id_seq') FROM range(?)", [len(records)]).fetchall())
    insert_columns(con, "works", {"work_id": ids, **{c: [getattr(r, c) for r in records] for c in _COLUMNS}})
    return ids


def add_sources(con: Connection, rows: list[tuple[int, str, str, str | None]]) -> None:
    """``add_source`` for many (work_id, source, source_ref, run_id) rows in one statement."""
    if rows:
        insert_columns(con, "work_sources", dict(zip(("work_id", "source", "source_ref", "run_id"),
                                                     (list(c) for c in zip(*rows)))), "ON CONFLICT DO NOTHING")
