"""Orchestration commands: run the pipeline once, schedule it nightly, write a digest."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime

import click

from litmine.cli.common import settings
from litmine.config import PROJECT_ROOT
from litmine.errors import ConfigError


def load_flows(name: str):
    """``flows/<name>.py`` of the checkout, as a module: the flows are scripts beside the package."""
    module_name = f"litmine_flows_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = PROJECT_ROOT / "flows" / f"{name}.py"
    if not path.exists():
        raise ConfigError(f"no {path}: litmine's flows live in the checkout's flows/ folder; run from a checkout")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@click.command()
@click.option("--serve", is_flag=True, help="After registering, keep running and execute the scheduled runs here.")
@click.option("--api-url", default=None, help="Prefect server API (default: LITMINE_PREFECT_API_URL).")
def schedule(serve: bool, api_url: str | None) -> None:
    """Register the nightly flow with a Prefect server, on LITMINE_SCHEDULE_CRON.

    The default, "30 1 * * 1-5" in UTC, runs Monday to Friday at 01:30 UTC: after arXiv's
    announcements (20:00 US Eastern, Sunday to Thursday). Start the server first with
    `prefect server start`; watch runs at http://127.0.0.1:4200. The scheduled runs execute
    where `litmine schedule --serve` keeps running.

    \b
    Example:
      prefect server start &
      litmine schedule
      litmine schedule --serve
    """
    cfg = settings()
    deploy = load_flows("deploy")
    if serve:
        click.echo(f"serving litmine-nightly/{deploy.DEPLOYMENT} ({cfg.schedule_cron}, {cfg.schedule_timezone}); "
                   "Ctrl-C stops")
        deploy.serve(cfg, api_url)
        return
    reg = deploy.register(cfg, api_url)
    click.echo(f"registered {reg.name} with {reg.api_url}: cron \"{reg.cron}\" in {reg.timezone}")
    if reg.upcoming:
        click.echo("next runs: " + ", ".join(f"{t:%Y-%m-%d %H:%M %Z}" for t in reg.upcoming[:3]))
    else:
        click.echo("the server lists the next runs within a minute")
    click.echo("to execute them, keep `litmine schedule --serve` running")


@click.command()
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
              help="Works stored on or after this date (UTC).")
def digest(since: datetime) -> None:
    """Write a Markdown and HTML report of new works by taxonomy node and theme, with plots.

    Reports go to DATA_DIR/digests/.

    \b
    Example:
      litmine digest --since 2026-07-01
    """
    from litmine.cli.common import open_store
    from litmine.digest import write_digest

    cfg = settings()
    report = write_digest(open_store(cfg), cfg, since=since)
    click.echo(f"digest: {report.works} works since {since:%Y-%m-%d}")
    click.echo(f"markdown: {report.markdown}")
    click.echo(f"html: {report.html}")


def register(main: click.Group) -> None:
    for command in (schedule, digest):
        main.add_command(command)
