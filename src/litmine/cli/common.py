"""What every command shares: settings, the store, and printing counts."""

from __future__ import annotations

import click

from litmine.config import Settings, load_settings
from litmine.counts import Counts
from litmine.store import Store


def settings() -> Settings:
    return load_settings()


def open_store(cfg: Settings | None = None, migrate: bool = True) -> Store:
    """The configured store, migrated to the current schema unless ``migrate`` is false."""
    cfg = cfg or settings()
    store = Store(cfg.database, lock_timeout=cfg.db_lock_timeout_seconds)
    if migrate:
        store.migrate()
    return store


def echo_counts(*counts: Counts) -> None:
    for c in counts:
        click.echo(str(c))


def exit_status(report, stages: int | None = None) -> None:
    """The exit rule of every command that runs stages: exit 1, with one line naming what failed and
    why, when the run's report lists a stage that failed as a whole (it raised, stopped early, or
    every item it tried failed); ``stages``: how many the command ran, when several."""
    from litmine.errors import StageError

    if not report.failed:
        return
    if stages is not None:
        raise StageError(f"{len(report.failed)} of {stages} stages failed as a whole "
                         f"({', '.join(report.failed)}); the others ran. Reasons: `litmine status`")
    why = "; ".join(f"{name} failed: {reason}" for name, reason in report.failed.items())
    raise StageError(f"the stage {why}" if len(report.failed) == 1 else f"the stages {why}")
