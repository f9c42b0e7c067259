"""What `litmine status` reads: counts per stage and per label source, and the latest runs."""

from __future__ import annotations

from litmine.store import Connection


def stage_counts(con: Connection) -> list[tuple[str, int]]:
    """Rows per stage (view ``stage_counts``), then works per scope decision once the schema has it."""
    version = schema_version(con)
    stages = con.execute("SELECT stage, n FROM stage_counts").fetchall()
    if version >= 61:  # the scope decision: out-of-scope works are kept, counted here
        stages += con.execute(
            "SELECT 'scope ' || coalesce(decision, 'undecided'), count(*) FROM scope_decisions "
            "GROUP BY ALL ORDER BY 1").fetchall()
    return stages


def schema_version(con: Connection) -> int:
    return con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]


def label_sources(con: Connection) -> list[tuple[str, str, int, int]]:
    """Source, label set, works and rows of every assigned latest label."""
    return con.execute(
        "SELECT source, label_set, count(DISTINCT work_id), count(*) FROM latest_labels WHERE assigned "
        "GROUP BY ALL ORDER BY source, label_set").fetchall()


def recent_runs(con: Connection, n: int = 5) -> list[tuple[str, str, str, str]]:
    """The ``n`` latest runs, newest first: started, command, status, error."""
    return con.execute(
        "SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S'), command, status, coalesce(error, '') "
        "FROM runs ORDER BY started_at DESC LIMIT ?", [n]).fetchall()
