"""The nightly pipeline as a Prefect flow: the flow opens a ``pipeline.Run`` and runs each stage as a task.

The run itself (lock, row in ``runs``, interrupted runs, the stage table, the failure rule, the row's
end) belongs to ``litmine.pipeline.Run``; the flow is a thin caller of it and only says how Prefect
executes a stage: one task per stage,
network stages retried with backoff (unless their host cannot be reached at all) and called one
after another, so arXiv never sees two requests at once from a run. Every stage runs in the flow's
process, which alone reads and writes DuckDB; the CPU-heavy stages (extract, embed) hand their
compute to the task runner through ``submit_many``: threads by default, the processes of a local
Dask cluster with ``LITMINE_TASK_RUNNER=dask``.

`litmine run` (``run_flow``), a scheduled run (`litmine schedule --serve`) and ``python -m
litmine.flows.nightly`` all start the flow, which opens the run; control never passes back.
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
from prefect.utilities.annotations import quote  # noqa: E402

from litmine import pipeline  # noqa: E402
from litmine.counts import Counts  # noqa: E402
from litmine.errors import StageError, StageUnreachable  # noqa: E402
from litmine.store import Store  # noqa: E402

FLOW_NAME = "litmine-nightly"


@task(task_run_name="{name}", cache_policy=NO_CACHE)
def run_stage(name: str, ctx: pipeline.PipelineContext, options: dict) -> Counts:
    """One stage of the run whose context is ``ctx``, in the flow's process; raises when it failed as
    a whole (so a network stage is retried)."""
    return pipeline.run_stage(pipeline.get_stage(name), ctx, **options)


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


def as_task(settings: Settings) -> pipeline.Via:
    """How the run executes a stage under Prefect: a task, with retries when the stage talks to arXiv."""
    network_task = run_stage.with_options(
        retries=settings.flow_retries, retry_jitter_factor=0.2, retry_condition_fn=_worth_retrying,
        retry_delay_seconds=exponential_backoff(backoff_factor=settings.flow_retry_delay_seconds)
        if settings.flow_retry_delay_seconds > 0 else 0)

    def via(stage: pipeline.Stage, ctx: pipeline.PipelineContext, **options) -> Counts:
        # quote: Prefect passes the context as it is (never copies nor walks it)
        return (network_task if stage.network else run_stage)(stage.name, quote(ctx), options)

    return via


def run_config(names: list[str]) -> dict:
    """What the run records as its configuration in table ``runs``."""
    return {"stages": names, "flow": FLOW_NAME}


@flow(name=FLOW_NAME, log_prints=False)
def nightly(stages: list[str] | None = None) -> dict:
    """Open the run and run the pipeline's stages in order, each a task; a stage that fails as a
    whole is recorded and the rest run.

    Returns the run's id and counts; ends Failed (after every stage has run) if a stage failed as a whole.
    """
    logger = get_run_logger()
    settings = load_settings()
    names = pipeline.stage_names() if not stages else [s.name for s in pipeline.select(stages)]
    with pipeline.Run.open(settings, "run", run_config(names)) as run:
        run.ctx.map = submit_many  # the CPU-heavy stages' compute goes to the task runner; writes stay here
        via = as_task(settings)
        for name in names:
            counts = run.stage(name, via=via)
            if counts is None or name in run.report.failed:
                logger.error("%s failed: %s", name, run.report.failed[name])
            else:
                logger.info("%s", counts)
    report = run.report
    create_markdown_artifact(key="litmine-run-counts", markdown=_summary(report),
                             description="litmine nightly run: counts per stage")
    if report.failed:
        raise StageError(f"{len(report.failed)} stages failed: {', '.join(report.failed)}", run_id=report.run_id)
    return {"run_id": report.run_id, **report.as_dict()}


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


def run_flow(settings: Settings, names: list[str] | None = None, kind: str | None = None) -> pipeline.RunReport:
    """Run the flow (task runner ``kind``) on the stages ``names`` (default: every nightly stage) and
    return its run's report: what `litmine run` prints."""
    flow_ = build(settings, kind)
    try:
        state = flow_(stages=names, return_state=True)
    except RuntimeError as exc:  # Prefect's own failure to start (its temporary server, say)
        raise StageError(f"Prefect could not start the flow: {str(exc).rstrip('.')}: run it again, or start a "
                         "server (`prefect server start`) and set PREFECT_API_URL") from None
    result = state.result(raise_on_failure=False)
    if state.is_completed():
        return pipeline.RunReport.from_dict(result["run_id"], result)
    run_id = result.context.get("run_id") if isinstance(result, StageError) else None
    report = pipeline.load_report(Store(settings.database), run_id) if run_id else None
    if report is not None:  # stages failed as a whole: they are in the run's report
        return report
    if isinstance(result, BaseException):
        raise result
    raise StageError(f"the run stopped: {state.message}")


if __name__ == "__main__":
    build()()
