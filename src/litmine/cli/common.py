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


def echo_counts(*counts: Counts | None) -> None:
    for c in counts:
        if c is not None:  # None: the stage raised; exit_status says why
            click.echo(str(c))


def run_stage(command: str, stage: str, config: dict | None = None, **options) -> None:
    """A command that is one stage of the table with the command's ``options``: run it as a ``Run``
    (the run lock, its row in ``runs``, ended whatever happens), print its counts, and exit 1 when it
    failed as a whole (``exit_status``). Its failure is recorded, and a success clears an earlier one,
    exactly as in the nightly run."""
    from litmine.pipeline import Run

    with Run.open(settings(), command, config) as run:
        counts = run.stage(stage, **options)
    echo_counts(counts)
    exit_status(run.report)


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
    by_reason: dict[str, list[str]] = {}
    for name, reason in report.failed.items():  # stages that failed for the same reason: named once, together
        by_reason.setdefault(reason, []).append(name)
    why = "; ".join(f"{', '.join(names)} failed: {reason}" for reason, names in by_reason.items())
    raise StageError(f"the stage {why}" if len(report.failed) == 1 else f"the stages {why}")
