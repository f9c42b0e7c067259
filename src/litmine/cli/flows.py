"""Orchestration commands: run the pipeline once, schedule it nightly, write a digest."""

from __future__ import annotations

import logging
from datetime import datetime

import click

from litmine.cli.common import exit_status, settings
from litmine.pipeline import stage_help


@click.command()
@click.option("--stage", "stages", multiple=True, metavar="NAME", help=stage_help())
@click.pass_context
def run(ctx: click.Context, stages: tuple[str, ...]) -> None:
    """Run the nightly pipeline once, as a Prefect flow, and print counts per stage.

    Stages, in order: review decisions, survey seed, survey references on arXiv, new arXiv papers,
    PDFs, text, embeddings, scope, classification, topics, digest. A stage that fails for some works records
    them and the run goes on (exit 0). A stage that fails as a whole (arXiv unreachable, say) is
    recorded too and the other stages still run; the run then exits 1. Run it again to finish
    the job: nothing is fetched, stored or labelled twice. The database is backed up first
    (LITMINE_BACKUP_KEEP copies kept).

    \b
    Example:
      litmine run
      litmine run --stage embed --stage classify-zeroshot
    """
    from litmine import pipeline
    from litmine.config import prefect_environment
    from litmine.errors import StageError

    cfg = settings()
    verbose = ctx.find_root().params.get("verbose", 0)
    prefect_environment(cfg, log_level="INFO" if verbose else "CRITICAL")
    if not verbose:  # Prefect's queue services log under their class names, out of PREFECT_LOGGING_LEVEL's reach:
        for service in ("EventsWorker", "APILogWorker"):  # "Still processing items" at exit on a busy machine
            logging.getLogger(service).setLevel(logging.ERROR)
    cfg.prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect makes only the last folder of its home
    names = [s.name for s in pipeline.select(list(stages) or None)]
    from litmine.flows import nightly  # after prefect_environment
    from litmine.flows.server import start_tied_server
    from litmine.runlock import run_lock

    with run_lock(cfg.data_dir, "run"):  # another run holds it: refused at once; the flow's run takes it too
        try:  # Prefect's temporary server, stopped by a watchdog if this process is killed
            start_tied_server()
        except RuntimeError as exc:
            with pipeline.Run.open(cfg, "run", nightly.run_config(names)) as run:  # recorded as a failed run
                raise StageError(f"Prefect could not start its temporary server: {str(exc).rstrip('.')}: run it "
                                 "again, or start a server (`prefect server start`) and set PREFECT_API_URL",
                                 run_id=run.run_id) from None
        report = nightly.run_flow(cfg, names, cfg.task_runner)  # the flow opens the run: one task per stage
    for line in report.lines():
        click.echo(line)
    click.echo(f"run {report.run_id}: {report.status}; database {cfg.database}")
    exit_status(report, stages=len(names))


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
    from litmine.config import prefect_environment

    cfg = settings()
    prefect_environment(cfg)
    from litmine.flows import deploy  # after prefect_environment
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
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
              help="Works first stored after this date (UTC); default: where the last digest ended.")
def digest(since: datetime | None) -> None:
    """Write a Markdown and HTML report of the works new since the last digest: the papers to read,
    charts, what changed, works by taxonomy node and theme.

    Reports go to DATA_DIR/digests/; the next digest starts where this one ends.

    \b
    Examples:
      litmine digest
      litmine digest --since 2026-07-01
    """
    from litmine.pipeline import Run

    with Run.open(settings(), "digest") as run:
        counts = run.stage("digest", since=since)
    if counts is not None:
        report = run.ctx.results["digest"]
        click.echo(f"digest: {report.works} works since {report.since:%Y-%m-%d}")
        click.echo(f"markdown: {report.markdown}")
        click.echo(f"html: {report.html}")
    exit_status(run.report)


def register(main: click.Group) -> None:
    for command in (run, schedule, digest):
        main.add_command(command)
