"""Failures: what a stage could not do, and why, until a later run succeeds."""

from __future__ import annotations

from litmine.store import Connection, utcnow


def record_failure(con: Connection, run_id: str | None, stage: str, item: str, error: BaseException) -> None:
    """Store a readable reason for ``item`` failing in ``stage``."""
    con.execute(
        "INSERT INTO failures (run_id, stage, item, error_type, reason) VALUES (?, ?, ?, ?, ?)",
        [run_id, stage, str(item), type(error).__name__, str(error) or type(error).__name__],
    )


def resolve_failures(con: Connection, stage: str, item: str) -> None:
    """Mark earlier failures of ``item`` in ``stage`` resolved, after it succeeded."""
    con.execute(
        "UPDATE failures SET resolved_at = ? WHERE stage = ? AND item = ? AND resolved_at IS NULL",
        [utcnow(), stage, str(item)],
    )


def open_failures(con: Connection, stage: str | None = None) -> list[tuple]:
    """(stage, item, error_type, reason, failed_at) of unresolved failures, newest first."""
    sql = "SELECT stage, item, error_type, reason, failed_at FROM failures WHERE resolved_at IS NULL"
    params: list = []
    if stage:
        sql += " AND stage = ?"
        params.append(stage)
    return con.execute(sql + " ORDER BY failed_at DESC", params).fetchall()
