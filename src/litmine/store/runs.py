"""Reads and writes of table ``runs`` beyond starting and finishing one (``Store.start_run``)."""

from __future__ import annotations

from litmine.store import Connection

INTERRUPTED = "interrupted"


def mark_interrupted(con: Connection, command: str, keep: str | None, reason: str) -> list[str]:
    """Set every run of ``command`` still ``running`` (except ``keep``) to ``interrupted`` with
    ``reason``; ``finished_at`` stays NULL, as nobody saw it end. Returns their ids, oldest first."""
    ids = [r for (r,) in con.execute(
        "SELECT run_id FROM runs WHERE command = ? AND status = 'running' AND run_id IS DISTINCT FROM ? "
        "ORDER BY started_at", [command, keep]).fetchall()]
    if ids:
        con.execute("UPDATE runs SET status = ?, error = ? WHERE list_contains(?, run_id)", [INTERRUPTED, reason, ids])
    return ids
