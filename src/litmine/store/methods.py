"""Reads and writes of the methods that score works for a label set (``litmine.classify``) and of
their evaluations, which had run their own SQL: the survey's sections per work, the judged labels of
a label set, the screening candidates' strata, the evaluation rows.
"""

from __future__ import annotations

import json
from typing import Sequence

from litmine.store import Connection, utcnow


def cited_sections(con: Connection) -> list[tuple[int, list[str] | None]]:
    """(work id, the survey's sections citing it, primary first) for every resolved reference."""
    return con.execute("SELECT work_id, sections FROM survey_references WHERE work_id IS NOT NULL").fetchall()


def work_title(con: Connection, work_id: int) -> str | None:
    row = con.execute("SELECT title FROM works WHERE work_id = ?", [work_id]).fetchone()
    return row[0] if row else None


def has_abstract(con: Connection) -> dict[int, bool]:
    """Per work, whether it has a (non-empty) abstract."""
    return dict(con.execute("SELECT work_id, coalesce(abstract, '') <> '' FROM works").fetchall())


def screened_labels(con: Connection, label_set: str) -> list[tuple[int, str]]:
    """(work id, label) of the screening's assigned labels of ``label_set``, by work and label."""
    return con.execute(
        "SELECT work_id, label_id FROM latest_labels WHERE source = 'screening' AND label_set = ? "
        "AND assigned ORDER BY work_id, label_id", [label_set]).fetchall()


def judged_labels(con: Connection, label_set: str) -> dict[int, str]:
    """Per work, its judged label of ``label_set`` (a reviewer's over the screening's)."""
    return dict(con.execute(
        "SELECT work_id, label_id FROM latest_labels WHERE source IN ('screening', 'human') AND label_set = ? "
        "AND assigned ORDER BY source DESC, work_id, label_id", [label_set]).fetchall())


def judged_scope_count(con: Connection) -> int:
    """How many works' scope was judged (by the screening labels or a reviewer)."""
    return con.execute("SELECT count(*) FROM latest_labels WHERE label_set = 'scope' "
                       "AND source IN ('screening', 'human')").fetchone()[0]


def candidate_strata(con: Connection) -> dict[int, str]:
    """Per screening candidate, its label status (its stratum)."""
    return dict(con.execute("SELECT work_id, label_status FROM screening_candidates").fetchall())


def uncertain_candidates(con: Connection) -> dict[int, str]:
    """Per candidate whose scope is not settled, ``borderline`` or ``disputed``."""
    return dict(con.execute(
        "SELECT work_id, coalesce(scope, 'disputed') FROM screening_candidates "
        "WHERE scope IS NULL OR scope = 'borderline'").fetchall())


def write_evaluations(con: Connection, rows: Sequence[tuple], config: dict) -> None:
    """Insert ``evaluations`` rows: (run id, method, label set, stratum, label, metric, value) each."""
    for r in rows:
        con.execute("INSERT INTO evaluations (run_id, method, label_set, stratum, label_id, metric, value, config) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [*r, json.dumps(config)])


def resolve_item_failures(con: Connection, stage: str, items: Sequence[str]) -> None:
    """Mark open failures of ``items`` in ``stage`` resolved (they succeeded since)."""
    con.execute(
        "UPDATE failures SET resolved_at = ? WHERE stage = ? AND resolved_at IS NULL AND list_contains(?, item)",
        [utcnow(), stage, [str(i) for i in items]])
