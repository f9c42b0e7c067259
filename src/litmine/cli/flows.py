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
@click.option("--stage", "stages", multiple=True, metavar="NAME",
              help="Run only this stage (repeatable): decisions, survey, resolve, fetch-arxiv, pdfs, extract, "
                   "embed, screen, classify-zeroshot, classify-supervised, classify-llm, classify-ensemble, digest.")
@click.pass_context
def run(ctx: click.Context, stages: tuple[str, ...]) -> None:
    """Run the nightly pipeline once, as a Prefect flow, and print counts per stage.

    Stages, in order: review decisions, survey seed, survey references on arXiv, new arXiv papers,
    PDFs, text, embeddings, classification, digest. A stage that fails for some works records
    them and the run goes on (exit 0). A stage that fails as a whole (arXiv unreachable, say) is
    recorded too and the other stages still run; the run then exits 1. Run it again to finish
    the job: nothing is fetched, stored or labelled twice.

    \b
    Example:
      litmine run
      litmine run --stage embed --stage classify-zeroshot
    """
    from litmine import pipeline
    from litmine.cli.common import open_store
    from litmine.config import prefect_environment
    from litmine.errors import LitmineError, StageError
    from litmine.runlock import run_lock

    cfg = settings()
    verbose = ctx.find_root().params.get("verbose", 0)
    prefect_environment(cfg, log_level="INFO" if verbose else "CRITICAL")
    selected = pipeline.select(list(stages) or None)
    with run_lock(cfg.data_dir, "run"):  # before the run is recorded: a refused run leaves no row
        store = open_store(cfg)
        run_id = store.start_run("run", {"stages": [s.name for s in selected], "flow": "litmine-nightly"})
        nightly = load_flows("nightly")
        try:
            state = nightly.build(cfg.task_runner)(stages=[s.name for s in selected], run_id=run_id,
                                                   return_state=True)
        except RuntimeError as exc:  # Prefect's own failure to start (its temporary server, say)
            store.finish_run(run_id, "failed", error=str(exc))
            raise StageError(f"Prefect could not start the flow: {str(exc).rstrip('.')}: run it again, or start a server "
                             "(`prefect server start`) and set PREFECT_API_URL", run_id=run_id) from None
        report = pipeline.load_report(store, run_id)
        if report is None:  # the flow stopped before it finished the run: say why, and close the run
            error = state.result(raise_on_failure=False)
            message = str(error) if isinstance(error, BaseException) else str(state.message)
            store.finish_run(run_id, "failed", error=message)
            if isinstance(error, LitmineError):
                raise error
            raise StageError(f"the run stopped: {message}", run_id=run_id)
    for line in report.lines():
        click.echo(line)
    click.echo(f"run {run_id}: {report.status}; database {cfg.database}")
    if report.failed:
        raise StageError(f"{len(report.failed)} of {len(selected)} stages failed as a whole "
                         f"({', '.join(report.failed)}); the others ran. Reasons: `litmine status`")


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
    for command in (run, schedule, digest):
        main.add_command(command)
