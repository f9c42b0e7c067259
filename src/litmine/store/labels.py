"""Label sets, labels, and label assignments from sources that state labels (survey, human)."""

from __future__ import annotations

import json

from litmine.store import Connection, who


def upsert_label_set(con: Connection, label_set: str, survey_id: str, description: str, multi_label: bool) -> None:
    con.execute(
        "INSERT INTO label_sets VALUES (?, ?, ?, ?) ON CONFLICT (label_set) DO UPDATE SET "
        "survey_id = excluded.survey_id, description = excluded.description, multi_label = excluded.multi_label",
        [label_set, survey_id, description, multi_label],
    )


def upsert_label(con: Connection, label_set: str, label_id: str, parent_id: str | None, name: str,
                 kind: str | None, description: str, position: int, meta: dict) -> None:
    con.execute(
        "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (label_set, label_id) DO UPDATE SET "
        "parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind, "
        "description = excluded.description, position = excluded.position, meta = excluded.meta",
        [label_set, label_id, parent_id, name, kind, description, position, json.dumps(meta, ensure_ascii=False)],
    )


def current_labels(con: Connection, work_id: int, label_set: str, source: str) -> dict[str, tuple[bool, str | None]]:
    """{label_id: (assigned, status)} of the newest row per label from ``source``."""
    rows = con.execute(
        "SELECT label_id, assigned, status FROM latest_labels WHERE work_id = ? AND label_set = ? AND source = ?",
        [work_id, label_set, source],
    ).fetchall()
    return {label: (assigned, status) for label, assigned, status in rows}


def set_source_labels(con: Connection, work_id: int, label_set: str, source: str, wanted: set[str], *,
                      status: str | None, source_version: str | None, run_id: str | None,
                      only_add: bool = False) -> bool:
    """Make ``source``'s current labels of the work in ``label_set`` equal ``wanted``.

    Appends rows only for what changed: a label newly wanted (assigned), a label no longer
    wanted (a row with assigned = false, unless ``only_add``), or a changed status. History stays.
    Returns whether anything was written.
    """
    current = current_labels(con, work_id, label_set, source)
    rows = []
    for label in sorted(wanted):
        if current.get(label) != (True, status):
            rows.append((label, True))
    if not only_add:
        for label, (assigned, _) in sorted(current.items()):
            if assigned and label not in wanted:
                rows.append((label, False))
    for label, assigned in rows:
        add_assignment(con, work_id, label_set, label, source, assigned, status=status,
                       source_version=source_version, run_id=run_id)
    return bool(rows)


def add_assignment(con: Connection, work_id: int, label_set: str, label_id: str, source: str, assigned: bool, *,
                   status: str | None, source_version: str | None, run_id: str | None) -> None:
    """One row of ``label_assignments`` from a source that states labels, created by this user@host."""
    con.execute(
        "INSERT INTO label_assignments (work_id, label_set, label_id, source, source_version, assigned, status, "
        "run_id, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [work_id, label_set, label_id, source, source_version, assigned, status, run_id, who()],
    )
