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
    from litmine.store import status as status_store

    with store.connect(read_only=True) as con:
        return Status(str(store.path), status_store.schema_version(con), status_store.stage_counts(con),
                      status_store.label_sources(con), status_store.recent_runs(con, runs))
