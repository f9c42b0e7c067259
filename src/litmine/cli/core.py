"""Commands over the store itself: init, status, query, schema, config."""

from __future__ import annotations

import csv
import json
import sys

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


@click.command()
def status() -> None:
    """Show counts per stage and per label source, and the latest runs.

    \b
    Example:
      litmine status
    """
    from litmine.status import status as read_status

    st = read_status(open_store(migrate=False))
    click.echo(f"database: {st.database} (schema {st.schema_version})")
    width = max(len(name) for name, _ in st.stages)
    for name, n in st.stages:
        click.echo(f"  {name:<{width}}  {n:>7}")
    click.echo("labels by source (works carrying a label now):")
    if not st.label_sources:
        click.echo("  none yet")
    for source, label_set, works, rows in st.label_sources:
        click.echo(f"  {source:<12} {label_set:<11} {works:>6} works {rows:>7} labels")
    click.echo("latest runs:")
    if not st.runs:
        click.echo("  none yet")
    for started, command, run_status, error in st.runs:
        click.echo(f"  {started}  {command:<14} {run_status}" + (f": {error}" if error else ""))


def _cell(value: object, width: int) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--max-width", type=int, default=60, show_default=True,
              help="Cut table cells longer than this (table format only).")
def query(sql: str, fmt: str, max_width: int) -> None:
    """Run one read-only SQL query against the database.

    Writes, ATTACH, COPY ... TO, INSTALL and LOAD are refused, and no file outside the database
    can be read. A query is stopped after LITMINE_QUERY_TIMEOUT_SECONDS (a reader holds off the
    nightly run's writes). `litmine schema` lists the tables and views.

    \b
    Examples:
      litmine query "select section, count(*) from survey_labels group by 1 order by 1"
      litmine query --format csv "select * from works" > works.csv
    """
    cfg = settings()
    result = open_store(cfg, migrate=False).query_readonly(sql, timeout=cfg.query_timeout_seconds)
    if fmt == "json":
        rows = [dict(zip(result.columns, row)) for row in result.rows]
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return
    cells = [[_cell(v, max_width) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(result.columns, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    click.echo(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")


@click.command()
@click.argument("table", required=False)
def schema(table: str | None) -> None:
    """Document every table and view of the database, column by column.

    \b
    Examples:
      litmine schema
      litmine schema works
    """
    rows = open_store().schema()
    if table:
        rows = [r for r in rows if r[0] == table]
        if not rows:
            raise click.ClickException(f"no table or view named {table!r}: run `litmine schema` for the list")
    current = None
    for name, doc, column, typ, comment in rows:
        if name != current:
            if current is not None:
                click.echo()
            click.echo(f"{name}: {doc}")
            current = name
        click.echo(f"  {column:<20} {typ:<12} {comment}")


@click.command()
@click.option("--list", "list_", is_flag=True, help="List the backups, oldest first.")
@click.option("--restore", type=click.Path(dir_okay=False, path_type=None), metavar="FILE",
              help="Put this backup in place of the database (the current file is moved aside, not deleted).")
def backup(list_: bool, restore: str | None) -> None:
    """Copy the database consistently into backups/ beside it, keeping the last LITMINE_BACKUP_KEEP.

    `litmine run` makes one too before its first write. Restore one with --restore: the backup is
    copied beside the database and proven (it opens, has litmine's schema, every row reads back)
    before the current file (and its write-ahead log) is moved aside to
    litmine.duckdb.replaced-<time>, never deleted; the last LITMINE_BACKUP_KEEP of those are kept.

    \b
    Example:
      litmine backup
      litmine backup --list
      litmine backup --restore data/backups/litmine-20260701T013000000000Z.duckdb
    """
    from pathlib import Path

    from litmine.store import backup as backups
    from litmine.runlock import run_lock

    cfg = settings()
    store = open_store(cfg, migrate=False)
    if list_:
        for path in backups.backups(store.path):
            click.echo(f"{path}  {path.stat().st_size:>12,} bytes")
        return
    with run_lock(cfg.data_dir, "backup"):  # no litmine run writes meanwhile
        if restore:
            aside = backups.restore(store, Path(restore), keep=cfg.backup_keep)
            click.echo(f"restored {restore} to {store.path}" + (f"; the file it replaced is at {aside}" if aside else ""))
            return
        made = backups.backup(store, cfg.backup_keep)
    click.echo(f"backup: {made} ({made.stat().st_size:,} bytes); {len(backups.backups(store.path))} kept "
               f"in {made.parent}")


@click.command()
def doctor() -> None:
    """Check the database, the review journal, the backups, free disk space, stale locks and
    leftover processes; one line for each, and for each problem what to do. Exits 1 on a problem.

    It only reads. The database is read in full (every row of every table, so DuckDB checks each
    block's checksum), and so is each backup.

    \b
    Example:
      litmine doctor
    """
    from litmine.doctor import diagnose

    findings = diagnose(settings())
    for finding in findings:
        click.echo(str(finding))
    problems = sum(not f.ok for f in findings)
    click.echo(f"{problems} problem{'s' if problems != 1 else ''} found" if problems else "healthy")
    if problems:
        raise SystemExit(1)


@click.command("config")
def show_config() -> None:
    """List every setting: its environment variable, current value and meaning.

    Settings come from LITMINE_* environment variables, then litmine.toml, then the defaults.

    \b
    Example:
      LITMINE_ARXIV_LOOKBACK_DAYS=14 litmine config
    """
    from litmine.config import describe

    cfg = settings()
    for var, default, meaning in describe():
        value = getattr(cfg, var.removeprefix("LITMINE_").lower())
        if var == "LITMINE_LLM_API_KEY":
            value = "(set)" if value else ""
        elif isinstance(value, tuple):
            value = ",".join(value)
        click.echo(f"{var}={'' if value is None else value}")
        click.echo(f"    {meaning}")


def register(main: click.Group) -> None:
    for command in (init, status, query, schema, show_config, backup, doctor):  # `run`: litmine.cli.flows
        main.add_command(command)
