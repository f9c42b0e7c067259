"""The nightly pipeline: the ordered list of stages `litmine run` executes.

Each stage is one call of a library function, taking its collaborators from a ``PipelineContext``
and returning ``Counts``. The Prefect flow in ``flows/nightly.py`` wraps each stage in one task and
adds nothing else; ``run_pipeline`` runs the same list without Prefect.

A stage that fails for some items records them (table ``failures``) and returns counts with
``failed > 0``: the run goes on and ends ``partial``. A stage that fails as a whole (it raised, or
every item it tried failed) is recorded as a failure of item ``*`` and the run goes on with the next
stages, which work on whatever is stored; the run ends ``failed``, and `litmine run` exits 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import LitmineError, StageError
from litmine.store import Store

log = logging.getLogger(__name__)


@dataclass
class PipelineContext:
    """What stages need: settings, the store, the run id, and collaborators built once, on first use."""

    settings: Settings
    store: Store
    run_id: str | None = None
    started_at: datetime | None = None
    _built: dict[str, object] = field(default_factory=dict, repr=False)

    def get(self, name: str, build: Callable[[], object]) -> object:
        """The collaborator ``name``, built by ``build()`` the first time it is asked for."""
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[PipelineContext], Counts]
    help: str
    network: bool = False  # talks to arXiv: retried with backoff, one request at a time across tasks
    cpu_heavy: bool = False  # may run on a Dask cluster when LITMINE_TASK_RUNNER=dask


# -- the stages, as plain library calls ---------------------------------------------------------


def _decisions(ctx: PipelineContext) -> Counts:
    from litmine.review import import_decisions

    return import_decisions(ctx.store, ctx.settings, run_id=ctx.run_id)


def _survey(ctx: PipelineContext) -> Counts:
    from litmine.survey import load_survey

    return load_survey(ctx.store, ctx.settings.seed_dir, run_id=ctx.run_id)


def _extract(ctx: PipelineContext) -> Counts:
    from litmine.extract import extract_documents

    return extract_documents(ctx.store, ctx.settings, run_id=ctx.run_id)


def _digest(ctx: PipelineContext) -> Counts:
    from litmine.digest import write_digest

    since = last_run_start(ctx.store, before=ctx.started_at) or (ctx.started_at or now()) - timedelta(days=1)
    report = write_digest(ctx.store, ctx.settings, since=since)
    counts = Counts("digest")
    counts.add("new")
    counts.notes.append(f"{report.works} works since {since:%Y-%m-%d %H:%M}, {report.markdown}")
    return counts


STAGES: list[Stage] = [
    Stage("decisions", _decisions, "import review decisions recorded since the last run as human labels"),
    Stage("survey", _survey, "load the survey seed: taxonomy, themes, references and their labels"),
    Stage("extract", _extract, "extract the text of downloaded PDFs", cpu_heavy=True),
    Stage("digest", _digest, "write the Markdown and HTML digest of works new since the last run"),
]


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def select(names: list[str] | None = None) -> list[Stage]:
    """The stages named (in pipeline order), or all of them; an unknown name is an error."""
    if not names:
        return list(STAGES)
    unknown = [n for n in names if n not in stage_names()]
    if unknown:
        raise StageError(f"unknown stage {', '.join(unknown)}: known stages are {', '.join(stage_names())}")
    return [s for s in STAGES if s.name in names]


def get_stage(name: str) -> Stage:
    return select([name])[0]


# -- running stages ----------------------------------------------------------------------------


def run_stage(stage: Stage, ctx: PipelineContext) -> Counts:
    """Run one stage; raise ``StageError`` if it failed as a whole (raised, or every item failed)."""
    try:
        counts = stage.run(ctx)
    except LitmineError as exc:
        raise StageError(str(exc)) from exc
    if counts.failed and not (counts.new or counts.updated or counts.unchanged):
        raise StageError(f"all {counts.failed} items failed: their reasons are in table failures (stage {stage.name!r})")
    return counts


def record_stage_failure(store: Store, run_id: str | None, stage: str, error: BaseException) -> None:
    """Record that ``stage`` failed as a whole (item ``*``), readably, in table ``failures``."""
    from litmine.store.failures import record_failure

    with store.transaction() as con:
        record_failure(con, run_id, stage, "*", error)


def resolve_stage_failure(store: Store, stage: str) -> None:
    from litmine.store.failures import resolve_failures

    with store.transaction() as con:
        resolve_failures(con, stage, "*")


@dataclass
class RunReport:
    """Counts of every stage that ran, and the stages that failed as a whole with their reasons."""

    run_id: str | None
    counts: list[Counts] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        return "partial" if any(c.failed for c in self.counts) else "ok"

    def lines(self) -> list[str]:
        """One line per stage, in pipeline order: counts, or why the stage failed."""
        out = []
        by_name = {c.stage: c for c in self.counts}
        for name in stage_names():
            if name in self.failed:
                out.append(f"{name}: FAILED: {self.failed[name]}")
            elif name in by_name:
                out.append(str(by_name[name]))
        return out

    def as_dict(self) -> dict:
        return {
            "stages": {c.stage: c.as_dict() for c in self.counts},
            "failed": dict(self.failed),
        }


def failed_stage_message(error: BaseException) -> str:
    """The one line a failed stage reports: the error's first line, without the stage's own prefix."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text


def finish(store: Store, report: RunReport) -> None:
    """Store the run's status and counts in table ``runs``."""
    error = "; ".join(f"{k}: {v}" for k, v in report.failed.items()) or None
    store.finish_run(report.run_id, report.status, report.as_dict(), error)


def run_pipeline(settings: Settings, store: Store, names: list[str] | None = None,
                 run_id: str | None = None) -> RunReport:
    """Run the stages in order without Prefect: each stage's failure is recorded and the rest run."""
    stages = select(names)
    run_id = run_id or store.start_run("run", {"stages": [s.name for s in stages]})
    ctx = PipelineContext(settings, store, run_id, started_at=now())
    report = RunReport(run_id)
    for stage in stages:
        try:
            report.counts.append(run_stage(stage, ctx))
            resolve_stage_failure(store, stage.name)
        except Exception as exc:  # a stage failing as a whole must not stop the others
            log.warning("stage %s failed: %s", stage.name, exc)
            record_stage_failure(store, run_id, stage.name, exc)
            report.failed[stage.name] = failed_stage_message(exc)
    finish(store, report)
    return report


def last_run_start(store: Store, before: datetime | None = None) -> datetime | None:
    """When the last pipeline run that finished began, before ``before``; None if there was none."""
    from litmine.store.review import last_finished_run

    if not store.path.exists():
        return None
    with store.connect(read_only=True) as con:
        return last_finished_run(con, "run", before)


def now() -> datetime:
    from litmine.store import utcnow

    return utcnow()
