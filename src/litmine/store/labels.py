"""Label sets, labels, and label assignments from sources that state labels (survey, human)."""

from __future__ import annotations

import json

from litmine.store import Connection, insert_columns, who


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
    current = current_labels(con, work_id, label_set, source)  # this work's only: one call, one small read
    rows = _changes(current, wanted, status, only_add)
    for label, assigned in rows:
        add_assignment(con, work_id, label_set, label, source, assigned, status=status,
                       source_version=source_version, run_id=run_id)
    return bool(rows)


def _changes(current: dict[str, tuple[bool, str | None]], wanted: set[str], status: str | None,
             only_add: bool) -> list[tuple[str, bool]]:
    """The rows that make ``current`` state ``wanted``: each wanted label not assigned with ``status``,
    and (unless ``only_add``) each assigned label no longer wanted, withdrawn."""
    rows = [(label, True) for label in sorted(wanted) if current.get(label) != (True, status)]
    if not only_add:
        rows += [(label, False) for label, (assigned, _) in sorted(current.items()) if assigned and label not in wanted]
    return rows


_ROW_COLUMNS = ["work_id", "label_set", "label_id", "source", "source_version", "assigned", "status", "run_id",
                "created_by"]


class LabelRows:
    """Label rows from sources that state labels, written in one bulk insert per ``flush`` instead of one
    INSERT a row (a survey load writes thousands). What it reads as current includes the rows it holds
    and has not written yet, so a loader sees its own writes; ``flush`` before anything else reads
    ``label_assignments`` in the same transaction. Two rows for one work, label set, label and source
    never go in one insert (the older would not be told from the newer by ``latest_labels``)."""

    def __init__(self, con: Connection):
        self.con = con
        self._current: dict[tuple[int, str, str], dict[str, tuple[bool, str | None]]] = {}
        self._held: dict[str, list] = {c: [] for c in _ROW_COLUMNS}
        self._held_keys: set[tuple[int, str, str, str]] = set()
        self._sources_read: set[str] = set()
        self._creator = who()

    def current_labels(self, work_id: int, label_set: str, source: str) -> dict[str, tuple[bool, str | None]]:
        """``current_labels`` of the database with the rows held here applied."""
        return dict(self._known(work_id, label_set, source))

    def _known(self, work_id: int, label_set: str, source: str) -> dict[str, tuple[bool, str | None]]:
        if source not in self._sources_read:  # a source's current labels of every work in one query
            self._sources_read.add(source)
            for work, set_id, label, assigned, status in self.con.execute(
                    "SELECT work_id, label_set, label_id, assigned, status FROM latest_labels WHERE source = ?",
                    [source]).fetchall():
                self._current.setdefault((work, set_id, source), {})[label] = (assigned, status)
        return self._current.setdefault((work_id, label_set, source), {})

    def add(self, work_id: int, label_set: str, label_id: str, source: str, assigned: bool, *,
            status: str | None, source_version: str | None, run_id: str | None) -> None:
        """One row, as ``add_assignment`` writes it, held until ``flush``."""
        known = self._known(work_id, label_set, source)
        if (work_id, label_set, label_id, source) in self._held_keys:
            self.flush()
        known[label_id] = (assigned, status)
        self._held_keys.add((work_id, label_set, label_id, source))
        for column, value in zip(_ROW_COLUMNS, (work_id, label_set, label_id, source, source_version, assigned,
                                                status, run_id, self._creator)):
            self._held[column].append(value)

    def set_source_labels(self, work_id: int, label_set: str, source: str, wanted: set[str], *,
                          status: str | None, source_version: str | None, run_id: str | None,
                          only_add: bool = False) -> bool:
        """``set_source_labels`` (the module function), its rows held until ``flush``."""
        rows = _changes(self.current_labels(work_id, label_set, source), wanted, status, only_add)
        for label, assigned in rows:
            self.add(work_id, label_set, label, source, assigned, status=status, source_version=source_version,
                     run_id=run_id)
        return bool(rows)

    def flush(self) -> int:
        """Write the rows held; their count."""
        n = len(self._held["work_id"])
        if n:
            insert_columns(self.con, "label_assignments", self._held)
            self._held = {c: [] for c in _ROW_COLUMNS}
            self._held_keys.clear()
        return n


def add_assignment(con: Connection, work_id: int, label_set: str, label_id: str, source: str, assigned: bool, *,
                   status: str | None, source_version: str | None, run_id: str | None) -> None:
    """One row of ``label_assignments`` from a source that states labels, created by this user@host."""
    con.execute(
        "INSERT INTO label_assignments (work_id, label_set, label_id, source, source_version, assigned, status, "
        "run_id, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [work_id, label_set, label_id, source, source_version, assigned, status, run_id, who()],
    )
