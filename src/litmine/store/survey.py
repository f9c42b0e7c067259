"""The survey's own tables: ``surveys`` (one row per loaded seed), ``survey_references`` (its
bibliography, with the sections citing each entry) and ``screening_candidates`` (the seed's papers
judged in or out of scope).

How a reference is resolved to a work (``match_*`` columns) is written by ``store.acquire``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from litmine.store import Connection

# -- surveys -------------------------------------------------------------------------------------


def seed_hash(con: Connection, survey_id: str) -> str | None:
    """The hash of the seed last loaded as ``survey_id``, or None if it was never loaded."""
    row = con.execute("SELECT seed_hash FROM surveys WHERE survey_id = ?", [survey_id]).fetchone()
    return row[0] if row else None


def upsert_survey(con: Connection, survey_id: str, title: str, arxiv_id: str | None, doi: str | None,
                  meta_json: str, seed_hash: str, loaded_at: datetime) -> None:
    con.execute(
        "INSERT INTO surveys VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id) DO UPDATE SET "
        "title = excluded.title, arxiv_id = excluded.arxiv_id, doi = excluded.doi, meta = excluded.meta, "
        "seed_hash = excluded.seed_hash, loaded_at = excluded.loaded_at",
        [survey_id, title, arxiv_id, doi, meta_json, seed_hash, loaded_at],
    )


def survey_ids(con: Connection) -> list[str]:
    """Every loaded survey's id, sorted."""
    return [r[0] for r in con.execute("SELECT survey_id FROM surveys ORDER BY 1").fetchall()]


def survey_labels(con: Connection, survey_id: str) -> list[tuple[str, str, str | None]]:
    """(label_set, label_id, parent_id) of every label of the survey's label sets."""
    return con.execute(
        "SELECT l.label_set, l.label_id, l.parent_id FROM labels l JOIN label_sets s USING (label_set) "
        "WHERE s.survey_id = ?", [survey_id]).fetchall()


# -- survey_references ---------------------------------------------------------------------------

# The columns a seed states for a reference, in the order ``insert_reference``/``update_reference`` take them.
REFERENCE_COLUMNS = ("ref", "title", "authors", "year", "venue", "arxiv_id", "doi", "openalex_id",
                     "metadata_confidence", "sections", "label_status", "annotations")


def reference(con: Connection, survey_id: str, key: str) -> tuple | None:
    """(work_id, *REFERENCE_COLUMNS) of the reference ``key``, or None if the survey has none."""
    return con.execute(
        f"SELECT work_id, {', '.join(REFERENCE_COLUMNS)} FROM survey_references WHERE survey_id = ? AND key = ?",
        [survey_id, key]).fetchone()


def reference_work(con: Connection, survey_id: str, key: str) -> int | None:
    row = con.execute("SELECT work_id FROM survey_references WHERE survey_id = ? AND key = ?",
                      [survey_id, key]).fetchone()
    return row[0] if row else None


def insert_reference(con: Connection, survey_id: str, key: str, work_id: int, values: Sequence) -> None:
    """A new reference (``values`` in the order of ``REFERENCE_COLUMNS``), pending resolution."""
    con.execute(
        f"INSERT INTO survey_references (survey_id, key, work_id, {', '.join(REFERENCE_COLUMNS)}, match_status) "
        f"VALUES (?, ?, ?, {', '.join('?' * len(REFERENCE_COLUMNS))}, 'pending')",
        [survey_id, key, work_id, *values])


def update_reference(con: Connection, survey_id: str, key: str, values: Sequence) -> None:
    """The seed's columns of a reference (``values`` in the order of ``REFERENCE_COLUMNS``)."""
    con.execute(
        f"UPDATE survey_references SET {', '.join(f'{c} = ?' for c in REFERENCE_COLUMNS)} "
        "WHERE survey_id = ? AND key = ?", [*values, survey_id, key])


def reference_sections(con: Connection, survey_id: str) -> dict[str, tuple[int | None, list[str] | None]]:
    """{key: (work_id, sections)} of every reference of the survey."""
    return {key: (work_id, sections) for key, work_id, sections in con.execute(
        "SELECT key, work_id, sections FROM survey_references WHERE survey_id = ?", [survey_id]).fetchall()}


def set_verified_sections(con: Connection, survey_id: str, key: str, sections: list[str]) -> None:
    """The sections citing a reference, as read from the survey's own text (status ``verified``)."""
    con.execute("UPDATE survey_references SET sections = ?, label_status = 'verified' "
                "WHERE survey_id = ? AND key = ?", [sections, survey_id, key])


# -- screening_candidates ------------------------------------------------------------------------

# The columns a seed states for a candidate, in the order ``insert_candidate``/``update_candidate`` take them.
CANDIDATE_COLUMNS = ("work_id", "listing_date", "scope", "subsection", "label_status", "annotations")


def candidate(con: Connection, survey_id: str, arxiv_id: str) -> tuple | None:
    """CANDIDATE_COLUMNS of a candidate (its listing date as YYYY-MM-DD), or None."""
    return con.execute(
        "SELECT work_id, strftime(listing_date, '%Y-%m-%d'), scope, subsection, label_status, annotations "
        "FROM screening_candidates WHERE survey_id = ? AND arxiv_id = ?", [survey_id, arxiv_id]).fetchone()


def insert_candidate(con: Connection, survey_id: str, arxiv_id: str, values: Sequence) -> None:
    con.execute(
        f"INSERT INTO screening_candidates (survey_id, arxiv_id, {', '.join(CANDIDATE_COLUMNS)}) "
        f"VALUES (?, ?, {', '.join('?' * len(CANDIDATE_COLUMNS))})", [survey_id, arxiv_id, *values])


def update_candidate(con: Connection, survey_id: str, arxiv_id: str, values: Sequence) -> None:
    con.execute(
        f"UPDATE screening_candidates SET {', '.join(f'{c} = ?' for c in CANDIDATE_COLUMNS)} "
        "WHERE survey_id = ? AND arxiv_id = ?", [*values, survey_id, arxiv_id])


def pending_candidates(con: Connection, refresh: bool = False) -> list[tuple[str, str, int]]:
    """(survey_id, arxiv_id, work_id) of candidates whose arXiv metadata is not stored yet (all, with ``refresh``)."""
    return con.execute(
        "SELECT c.survey_id, c.arxiv_id, c.work_id FROM screening_candidates c JOIN works w USING (work_id) "
        "WHERE ? OR w.metadata_source = 'seed' ORDER BY c.arxiv_id",
        [refresh],
    ).fetchall()


def count_candidates(con: Connection) -> int:
    return con.execute("SELECT count(*) FROM screening_candidates").fetchone()[0]
