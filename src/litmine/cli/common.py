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
