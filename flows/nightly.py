"""The nightly pipeline as a Prefect flow: one task per stage of ``litmine.pipeline``, nothing else.

Network stages are retried with exponential backoff and run one after another in the flow's process,
each with one polite client, so arXiv never sees two requests at once from a run; the run lock keeps
a second run on the same data from starting. (No Prefect global concurrency slot: the server keeps
its holders, so a killed run's slot would block every later run.) Every stage runs in the flow's
process, which alone reads and writes DuckDB; the CPU-heavy stages (extract, embed) hand their
compute, one task per chunk of PDFs or batch of texts, to the task runner through ``submit_many``:
threads by default, the processes of a local Dask cluster with ``LITMINE_TASK_RUNNER=dask``.
Run it with ``litmine run`` or ``python flows/nightly.py``.
"""

from __future__ import annotations

from litmine.config import load_settings, prefect_environment

prefect_environment(load_settings())  # before prefect reads its settings

from prefect import flow, get_run_logger, task, unmapped  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.tasks import exponential_backoff  # noqa: E402

from litmine import pipeline  # noqa: E402
from litmine.counts import Counts  # noqa: E402
from litmine.errors import StageError, StageUnreachable  # noqa: E402
from litmine.runlock import run_lock  # noqa: E402
from litmine.store import Store  # noqa: E402


def _context(run_id: str, started_at, mapped: bool = False) -> pipeline.PipelineContext:
    settings = load_settings()
    store = Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds)
    return pipeline.PipelineContext(settings, store, run_id, started_at=started_at,
                                    map=submit_many if mapped else None)


@task(task_run_name="{name}")
def run_stage(name: str, run_id: str, started_at, mapped: bool = False) -> Counts:
    """One stage of the pipeline (``litmine.pipeline.run_stage``), in the flow's process."""
    return pipeline.run_stage(pipeline.get_stage(name), _context(run_id, started_at, mapped))


@task(cache_policy=NO_CACHE)
def compute(fn, item):
    """A stage's compute on one item (a chunk of PDFs, a batch of texts), on the task runner."""
    return fn(item)


def submit_many(fn, items: list):
    """Submit ``fn`` on every item to the flow's task runner at once; yield the results in order."""
    futures = compute.map(unmapped(fn), items) if items else []
    return (future.result() for future in futures)


@task(task_run_name="{name}")
def run_network_stage(name: str, run_id: str, started_at) -> Counts:
    """A stage that talks to arXiv: retried with backoff; called (not submitted), so one at a time."""
    return pipeline.run_stage(pipeline.get_stage(name), _context(run_id, started_at))


def _worth_retrying(task, task_run, state) -> bool:
    """Retry a network stage, unless its host cannot be reached at all (no network: retrying costs minutes)."""
    return not isinstance(state.result(raise_on_failure=False), StageUnreachable)


def task_runner(kind: str, cluster_kwargs: dict | None = None):
    """The task runner a setting names: ``thread`` (default: LITMINE_EXTRACT_WORKERS threads) or
    ``dask`` (a local cluster of two single-threaded worker processes, or ``cluster_kwargs``)."""
    workers = max(1, load_settings().extract_workers)
    if kind == "dask":
        import sys

        import cloudpickle
        import dask
        from prefect_dask import DaskTaskRunner

        # This file is loaded by path, not installed: Dask workers get its tasks by value.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        # Worker processes start a child to extract each chunk (killed at the time limit), which a
        # daemonic process may not do.
        dask.config.set({"distributed.worker.daemon": False})
        return DaskTaskRunner(cluster_kwargs=cluster_kwargs or {
            "n_workers": workers, "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


@flow(name="litmine-nightly", log_prints=False)
def nightly(stages: list[str] | None = None, run_id: str | None = None) -> dict:
    """Run the pipeline's stages in order; a stage that fails as a whole is recorded and the rest run.

    Returns the run's counts; ends Failed (after every stage has run) if a stage failed as a whole.
    """
    settings = load_settings()
    # `litmine run` holds the lock already (it is re-entrant); a scheduled run takes it here.
    with run_lock(settings.data_dir, "schedule --serve"):
        return _nightly(settings, stages, run_id)


def _nightly(settings, stages: list[str] | None, run_id: str | None) -> dict:
    logger = get_run_logger()
    store = Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds)
    store.migrate()
    selected = pipeline.select(stages)
    run_id = run_id or store.start_run("run", {"stages": [s.name for s in selected], "flow": "litmine-nightly"})
    pipeline.close_interrupted_runs(store, keep=run_id)
    started_at = pipeline.now()
    report = pipeline.RunReport(run_id)
    network_task = run_network_stage.with_options(
        retries=settings.flow_retries, retry_jitter_factor=0.2, retry_condition_fn=_worth_retrying,
        retry_delay_seconds=exponential_backoff(backoff_factor=settings.flow_retry_delay_seconds)
        if settings.flow_retry_delay_seconds > 0 else 0)
    for stage in selected:
        if stage.network and report.unreachable:  # arXiv cannot be reached: the later network stages are not tried
            try:
                pipeline.skip_if_offline(stage, report)
            except StageError as exc:
                pipeline.record_stage_failure(store, run_id, stage.name, exc)
                report.failed[stage.name] = str(exc)
                logger.error("%s failed: %s", stage.name, exc)
            continue
        if stage.network:
            state = network_task(stage.name, run_id, started_at, return_state=True)
        else:  # the CPU-heavy stages' compute goes to the task runner; their writes stay here
            state = run_stage(stage.name, run_id, started_at, mapped=stage.cpu_heavy, return_state=True)
        if state.is_completed():
            counts = state.result()
            report.counts[stage.name] = counts
            pipeline.resolve_stage_failure(store, stage.name)
            logger.info("%s", counts)
        else:
            error = state.result(raise_on_failure=False)
            message = pipeline.failed_stage_message(error) if isinstance(error, BaseException) else str(state.message)
            pipeline.record_stage_failure(store, run_id, stage.name, error if isinstance(error, BaseException)
                                          else RuntimeError(message))
            report.failed[stage.name] = message
            if isinstance(error, StageUnreachable):
                report.unreachable = report.unreachable or message
            logger.error("%s failed: %s", stage.name, message)
    pipeline.finish(store, report)
    create_markdown_artifact(key="litmine-run-counts", markdown=_summary(report),
                             description="litmine nightly run: counts per stage")
    if report.failed:
        raise StageError(
            f"{len(report.failed)} of {len(selected)} stages failed: {', '.join(report.failed)}", run_id=run_id)
    return report.as_dict()


def _summary(report: pipeline.RunReport) -> str:
    rows = ["| stage | new | updated | unchanged | failed | notes |", "|---|---|---|---|---|---|"]
    for name, c in report.counts.items():
        rows.append(f"| {name} | {c.new} | {c.updated} | {c.unchanged} | {c.failed} | {'; '.join(c.notes)} |")
    for name, reason in report.failed.items():
        rows.append(f"| {name} | | | | stage failed | {reason} |")
    return f"# litmine run {report.run_id}: {report.status}\n\n" + "\n".join(rows) + "\n"


def build(task_runner_kind: str | None = None, cluster_kwargs: dict | None = None):
    """The flow with the configured task runner (``LITMINE_TASK_RUNNER``)."""
    kind = task_runner_kind or load_settings().task_runner
    return nightly.with_options(task_runner=task_runner(kind, cluster_kwargs))


if __name__ == "__main__":
    build()()
