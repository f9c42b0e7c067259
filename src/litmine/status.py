"""What the database holds: counts per stage, per label source, and the latest runs."""

from __future__ import annotations

from dataclasses import dataclass

from litmine.store import Store


@dataclass
class Status:
    database: str
    schema_version: int
    stages: list[tuple[str, int]]
    label_sources: list[tuple[str, str, int, int]]  # source, label set, works, rows
    runs: list[tuple[str, str, str, str]]  # started, command, status, error


def status(store: Store, runs: int = 5) -> Status:
    with store.connect(read_only=True) as con:
        version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        stages = con.execute("SELECT stage, n FROM stage_counts").fetchall()
        if version >= 61:  # the scope decision: out-of-scope works are kept, counted here
            stages += con.execute(
                "SELECT 'scope ' || coalesce(decision, 'undecided'), count(*) FROM scope_decisions "
                "GROUP BY ALL ORDER BY 1").fetchall()
        sources = con.execute(
            "SELECT source, label_set, count(DISTINCT work_id), count(*) FROM latest_labels WHERE assigned "
            "GROUP BY ALL ORDER BY source, label_set"
        ).fetchall()
        recent = con.execute(
            "SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S'), command, status, coalesce(error, '') "
            "FROM runs ORDER BY started_at DESC LIMIT ?",
            [runs],
        ).fetchall()
    return Status(str(store.path), version, stages, sources, recent)
