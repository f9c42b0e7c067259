"""The nightly pipeline as a Prefect flow: Prefect executes the stages of a ``pipeline.Run``.

The run itself (lock, row in ``runs``, interrupted runs, the stage table, the row's end) belongs to
``litmine.pipeline.Run``; this module only says how Prefect executes a stage: one task per stage,
network stages retried with backoff (unless their host cannot be reached at all) and called one
after another, so arXiv never sees two requests at once from a run. Every stage runs in the flow's
process, which alone reads and writes DuckDB; the CPU-heavy stages (extract, embed) hand their
compute to the task runner through ``submit_many``: threads by default, the processes of a local
Dask cluster with ``LITMINE_TASK_RUNNER=dask``.

`litmine run` opens the run and hands it to ``PrefectExecutor``; a scheduled run (`litmine schedule
--serve`) or ``python -m litmine.flows.nightly`` starts the flow, which opens the run itself.
"""

from __future__ import annotations

import os

from litmine.config import Settings, load_settings, prefect_environment

if "PREFECT_HOME" not in os.environ:  # imported without `litmine run` (a Dask worker, python -m): before prefect
    prefect_environment(load_settings())

from prefect import flow, get_run_logger, task, unmapped  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.tasks import exponential_backoff  # noqa: E402

from litmine import pipeline  # noqa: E402
from litmine.counts import Counts  # noqa: E402
from litmine.errors import StageError, StageUnreachable  # noqa: E402

FLOW_NAME = "litmine-nightly"


@task(task_run_name="{name}", cache_policy=NO_CACHE)
def run_stage(name: str, run_id: str) -> Counts:
    """One stage of the run ``run_id`` (open in this process), in the flow's process."""
    run = pipeline.Run.active(run_id)
    return pipeline.run_stage(pipeline.get_stage(name), run.ctx)


@task(cache_policy=NO_CACHE)
def compute(fn, item):
    """A stage's compute on one item (a chunk of PDFs, a batch of texts), on the task runner."""
    return fn(item)


def submit_many(fn, items: list):
    """Submit ``fn`` on every item to the flow's task runner at once; yield the results in order."""
    futures = compute.map(unmapped(fn), items) if items else []
    return (future.result() for future in futures)


def _worth_retrying(task, task_run, state) -> bool:
    """Retry a network stage, unless its host cannot be reached at all (no network: retrying costs
    minutes) or a signal stopped it (SIGTERM, Ctrl-C: the run ends now)."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, StageUnreachable) and not pipeline.stopping(error)


def _stage_call(settings: Settings, run_id: str):
    """How the run calls a stage under Prefect: a task, with retries when the stage talks to arXiv."""
    network_task = run_stage.with_options(
        retries=settings.flow_retries, retry_jitter_factor=0.2, retry_condition_fn=_worth_retrying,
        retry_delay_seconds=exponential_backoff(backoff_factor=settings.flow_retry_delay_seconds)
        if settings.flow_retry_delay_seconds > 0 else 0)

    def call(stage: pipeline.Stage) -> Counts:
        return (network_task if stage.network else run_stage)(stage.name, run_id)

    return call


@flow(name=FLOW_NAME, log_prints=False)
def nightly(stages: list[str] | None = None, run_id: str | None = None) -> dict:
    """Run the pipeline's stages in order; a stage that fails as a whole is recorded and the rest run.

    ``run_id`` names a run open in this process (`litmine run`); without it the flow opens one.
    Returns the run's counts; ends Failed (after every stage has run) if a stage failed as a whole.
    """
    run = pipeline.Run.active(run_id) if run_id else None
    if run is not None:
        _execute(run, stages)
    else:  # a scheduled run: Prefect is the entry point, so the flow opens the run
        with pipeline.Run.open(load_settings(), "run", {"stages": stages, "flow": FLOW_NAME}) as run:
            _execute(run, stages)
    report = run.report
    create_markdown_artifact(key="litmine-run-counts", markdown=_summary(report),
                             description="litmine nightly run: counts per stage")
    if report.failed:
        raise StageError(f"{len(report.failed)} stages failed: {', '.join(report.failed)}", run_id=report.run_id)
    return report.as_dict()


def _execute(run: pipeline.Run, names: list[str] | None) -> None:
    logger = get_run_logger()
    run.ctx.map = submit_many  # the CPU-heavy stages' compute goes to the task runner; writes stay here
    call = _stage_call(run.settings, run.run_id)
    for stage in pipeline.select(names):
        counts = run.stage(stage.name, call=call)
        if counts is None:
            logger.error("%s failed: %s", stage.name, run.report.failed[stage.name])
        else:
            logger.info("%s", counts)


def _summary(report: pipeline.RunReport) -> str:
    rows = ["| stage | new | updated | unchanged | failed | notes |", "|---|---|---|---|---|---|"]
    for name, c in report.counts.items():
        rows.append(f"| {name} | {c.new} | {c.updated} | {c.unchanged} | {c.failed} | {'; '.join(c.notes)} |")
    for name, reason in report.failed.items():
        rows.append(f"| {name} | | | | stage failed | {reason} |")
    return f"# litmine run {report.run_id}: {report.status}\n\n" + "\n".join(rows) + "\n"


def task_runner(kind: str, workers: int = 2, cluster_kwargs: dict | None = None):
    """The task runner a setting names: ``thread`` (``workers`` threads) or ``dask`` (a local
    cluster of ``workers`` single-threaded worker processes, or ``cluster_kwargs``)."""
    workers = max(1, workers)
    if kind == "dask":
        import dask
        from prefect_dask import DaskTaskRunner

        # Worker processes start a child to extract each chunk (killed at the time limit), which a
        # daemonic process may not do.
        dask.config.set({"distributed.worker.daemon": False})
        return DaskTaskRunner(cluster_kwargs=cluster_kwargs or {
            "n_workers": workers, "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


def build(settings: Settings | None = None, kind: str | None = None, cluster_kwargs: dict | None = None):
    """The flow with the task runner ``kind`` (default: ``LITMINE_TASK_RUNNER``)."""
    settings = settings or load_settings()
    return nightly.with_options(task_runner=task_runner(kind or settings.task_runner, settings.extract_workers,
                                                        cluster_kwargs))


class PrefectExecutor:
    """Executes an open ``pipeline.Run``'s stages as the Prefect flow ``litmine-nightly``."""

    def __init__(self, kind: str | None = None) -> None:
        self.kind = kind

    def __call__(self, run: pipeline.Run, stages: list[pipeline.Stage]) -> None:
        flow_ = build(run.settings, self.kind)
        try:
            state = flow_(stages=[s.name for s in stages], run_id=run.run_id, return_state=True)
        except RuntimeError as exc:  # Prefect's own failure to start (its temporary server, say)
            raise StageError(f"Prefect could not start the flow: {str(exc).rstrip('.')}: run it again, or start a "
                             "server (`prefect server start`) and set PREFECT_API_URL", run_id=run.run_id) from None
        if state.is_completed() or run.report.failed:  # failed stages are in the run's report already
            return
        error = state.result(raise_on_failure=False)
        if isinstance(error, BaseException):
            raise error
        raise StageError(f"the run stopped: {state.message}", run_id=run.run_id)


if __name__ == "__main__":
    build()()
