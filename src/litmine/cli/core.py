"""Commands over the store itself: init, status, query, schema, config."""

from __future__ import annotations

import click

from litmine.cli.common import open_store, settings


@click.command()
def init() -> None:
    """Create the database, or bring its schema up to date.

    \b
    Example:
      litmine init
    """
    cfg = settings()
    applied = open_store(cfg, migrate=False).migrate()
    for name in applied:
        click.echo(f"applied migration {name}")
    click.echo(f"database ready: {cfg.database} ({len(applied)} migrations applied)")


def register(main: click.Group) -> None:
    main.add_command(init)
