"""The one stage table, and ``Run``: the owner of every run of a command that writes.

Each stage is one call of a library function, taking its collaborators from a ``PipelineContext``
and its options as keywords (``Stage.run(ctx, **options)``), and returning ``Counts``; its name in
``STAGES`` is the one name it has everywhere (`litmine run --stage`, the run's report, table
``failures``). The table is the only wiring: a command is a stage's entry with the command's options
(``run.stage("fetch-arxiv", max_results=10)``), the nightly run is the entries with none. ``Run``
owns a run's life and applies one failure rule to both; `litmine run`, the Prefect flow
(``litmine.flows.nightly``, which opens the run and hands each stage to a task) and the other
commands are thin callers of it.

A stage that fails for some items records them (table ``failures``) and returns counts with
``failed > 0``: the run goes on and ends ``partial``. A stage that fails as a whole (it raised, it
stopped early (``Counts.error``: what it stored stays), or every item it tried failed) is recorded
and the run goes on with the next stages, which work on whatever is stored; the run ends ``failed``,
and the command exits 1 (``litmine.cli.common.exit_status``: the one rule of every command). A
stage that succeeds clears its earlier whole-stage failure, whichever command or run recorded it.
The store itself failing (``StoreError``: locked past its timeout, a write lost) stops the run: nothing
more could be recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from litmine.clock import utcnow
from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import (LitmineError, RunInterrupted, SourceUnreachable, StageError, StageUnreachable,
                            StoreError)
from litmine.store import Store, interrupted_by_signal

log = logging.getLogger(__name__)

Mapper = Callable[[Callable, list], Iterable]


@dataclass
class PipelineContext:
    """What stages need: settings, the store, the run id, and collaborators built once, on first use."""

    settings: Settings
    store: Store
    run_id: str | None = None
    started_at: datetime | None = None
    # ``map(fn, items)``: runs ``fn`` on each item on the task runner and yields the results in
    # order. The CPU-heavy stages hand it their compute (chunks of PDFs, batches of texts) and
    # write the results here; None computes in this process.
    map: Mapper | None = None
    # What a stage hands its command beyond counts (the digest's files, the evaluation's figures),
    # by stage name: the command prints it.
    results: dict[str, object] = field(default_factory=dict, repr=False)
    _built: dict[str, object] = field(default_factory=dict, repr=False)

    def get(self, name: str, build: Callable[[], object]) -> object:
        """The collaborator ``name``, built by ``build()`` the first time it is asked for."""
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]


@dataclass(frozen=True)
class Stage:
    name: str
    fn: Callable[..., Counts]  # fn(ctx, **options): the library call, with a command's options
    help: str
    network: bool = False  # talks to arXiv: retried with backoff, one request at a time across tasks
    cpu_heavy: bool = False  # its compute goes to the task runner (ctx.map): Dask workers when LITMINE_TASK_RUNNER=dask
    nightly: bool = True  # part of `litmine run`; False: run by its own command only

    def run(self, ctx: PipelineContext, **options) -> Counts:
        """Run the stage on ``ctx`` with a command's ``options`` (none: the nightly run's defaults)."""
        return self.fn(ctx, **options)


# -- the stages, as plain library calls ---------------------------------------------------------


def _decisions(ctx: PipelineContext) -> Counts:
    from litmine.review.decisions import import_decisions

    return import_decisions(ctx.store, ctx.settings, run_id=ctx.run_id)


def _survey(ctx: PipelineContext, seed_dir=None) -> Counts:
    from litmine.survey.load import load_survey

    return load_survey(ctx.store, seed_dir or ctx.settings.seed_dir, run_id=ctx.run_id)


def arxiv_client(ctx: PipelineContext):
    from litmine.sources.arxiv import ArxivClient

    return ctx.get("arxiv", lambda: ArxivClient.from_settings(ctx.settings))


def _fetch_survey(ctx: PipelineContext, refresh: bool = False, threshold: float | None = None) -> Counts:
    from litmine.sources.resolve import THRESHOLD, fetch_survey
    from litmine.sources.candidates import fetch_candidates

    counts = fetch_survey(ctx.store, arxiv_client(ctx), run_id=ctx.run_id, refresh=refresh,
                          threshold=THRESHOLD if threshold is None else threshold)
    return counts.merge(fetch_candidates(ctx.store, arxiv_client(ctx), run_id=ctx.run_id, refresh=refresh))


def _oai(ctx: PipelineContext, set_spec: str | None = None, from_date=None, until=None) -> Counts:
    from litmine.sources.oai import harvest_oai

    return harvest_oai(ctx.store, ctx.settings, run_id=ctx.run_id, set_spec=set_spec, from_date=from_date,
                       until=until)


def _fetch_arxiv(ctx: PipelineContext, max_results: int | None = None, until: datetime | None = None) -> Counts:
    from litmine.sources.arxiv import fetch_new

    return fetch_new(ctx.store, arxiv_client(ctx), ctx.settings, run_id=ctx.run_id, max_results=max_results,
                     now=until)


def _pdfs(ctx: PipelineContext, limit: int | None = None, retry_failed: bool = False) -> Counts:
    from litmine.sources.pdfs import download_pdfs

    return download_pdfs(ctx.store, ctx.settings, run_id=ctx.run_id, limit=limit, retry_failed=retry_failed)


def _extract(ctx: PipelineContext, pdf_dir=None, limit: int | None = None, workers: int | None = None) -> Counts:
    """The downloaded documents not yet extracted; with ``pdf_dir``, the PDFs of that folder instead
    (registered, read in place)."""
    from litmine.pdf.extract import extract_documents, extract_folder

    if pdf_dir is not None:
        return extract_folder(ctx.store, ctx.settings, pdf_dir, run_id=ctx.run_id, workers=workers)
    return extract_documents(ctx.store, ctx.settings, run_id=ctx.run_id, limit=limit, workers=workers,
                             map_chunks=ctx.map)


def embedder(ctx: PipelineContext):
    from litmine.embed import shared_embedder

    # Shared with the embedding tasks that run in this process (thread runner): one model in memory.
    return ctx.get("embedder", lambda: shared_embedder(ctx.settings.embed_model, ctx.settings.embed_batch_size))


def _embed(ctx: PipelineContext, model: str | None = None, batch_size: int | None = None,
           fulltext: bool = True) -> Counts:
    from functools import partial

    from litmine.embed import embed_texts, embed_works, get_embedder

    model, batch_size = model or ctx.settings.embed_model, batch_size or ctx.settings.embed_batch_size
    own = (model, batch_size) != (ctx.settings.embed_model, ctx.settings.embed_batch_size)
    chosen = get_embedder(model, batch_size) if own else embedder(ctx)
    work = partial(embed_texts, model, batch_size)

    def on_task_runner(batches: list[list[str]]) -> Iterable:
        return ctx.map(work, batches)

    compute = on_task_runner if ctx.map is not None else None
    return embed_works(ctx.store, chosen, run_id=ctx.run_id, compute=compute, fulltext=fulltext)


def classifier_env(ctx: PipelineContext):
    """The classifiers' collaborators (``classify.env_from_settings``), built once per run, with the
    process's shared embedder."""
    from dataclasses import replace

    from litmine.classify import env_from_settings

    return ctx.get("classifier_env", lambda: replace(env_from_settings(ctx.settings, ctx.store),
                                                     make_embedder=lambda: embedder(ctx)))


def _classifier_stage(method: str) -> Callable[..., Counts]:
    def run(ctx: PipelineContext, limit: int | None = None) -> Counts:
        from litmine.classify import PLACEMENT, classify_works, get_method

        env = classifier_env(ctx)
        if method == "llm" and not env.has_llm:
            counts = Counts(f"classify {method}")
            counts.notes.append("skipped: no LLM configured (set LITMINE_LLM_BACKEND and LITMINE_LLM_MODEL)")
            return counts
        return classify_works(ctx.store, get_method(PLACEMENT, method, env), run_id=ctx.run_id, limit=limit)

    return run


def _screen(ctx: PipelineContext, methods: list[str] | None = None) -> Counts:
    from litmine.classify.scope import screen_all

    return screen_all(ctx.store, classifier_env(ctx), names=list(methods or []) or None, run_id=ctx.run_id)


def _topics(ctx: PipelineContext, force: bool = False, **params) -> Counts:
    from litmine.review.topics import find_topics

    return find_topics(ctx.store, run_id=ctx.run_id, force=force, **params)


def _digest(ctx: PipelineContext, since: datetime | None = None) -> Counts:
    from litmine.review.digest import write_digest

    report = write_digest(ctx.store, ctx.settings, since=since, run_id=ctx.run_id)  # default: since the last one
    ctx.results["digest"] = report
    counts = Counts("digest")
    counts.add("new")
    counts.notes.append(f"{report.works} works since {report.since:%Y-%m-%d %H:%M}, {report.markdown}")
    return counts


def _labels_from_latex(ctx: PipelineContext, citations=None, survey_id: str | None = None) -> Counts:
    from litmine.survey.latex import apply_latex_labels

    if citations is None:
        raise StageError("labels-from-latex needs the survey's e-print: run `litmine survey labels-from-latex EPRINT`")
    return apply_latex_labels(ctx.store, citations, survey_id=survey_id, run_id=ctx.run_id)


def _evaluate(ctx: PipelineContext, methods: list[str] | None = None, folds: int = 5, seed: int = 0,
              sample: int | None = None) -> Counts:
    """Cross-validate the classifiers (default: every default one) and the scope methods; the
    figures are stored, and handed to the command as ``ctx.results["evaluate"]``."""

    from litmine.classify import PLACEMENT, default_methods
    from litmine.evaluation.evaluate import evaluate as run_evaluation
    from litmine.evaluation.llm import evaluation_methods
    from litmine.evaluation.scope import scope_section  # scope: out-of-fold figures and the screening simulation

    env = classifier_env(ctx)
    names = list(methods or []) or default_methods(PLACEMENT, env)
    factories = evaluation_methods(ctx.store, names, env, sample=sample, seed=seed)
    result = run_evaluation(ctx.store, factories, folds=folds, seed=seed, run_id=ctx.run_id)
    scope = scope_section(ctx.store, env, ctx.settings.data_dir, folds=folds, seed=seed, run_id=ctx.run_id)
    ctx.results["evaluate"] = (result, scope)
    return Counts("evaluate", new=len(result.rows))


STAGES: list[Stage] = [
    Stage("decisions", _decisions, "import review decisions recorded since the last run as human labels"),
    Stage("survey", _survey, "load the survey seed: taxonomy, themes, references and their labels"),
    Stage("fetch-survey", _fetch_survey, "resolve the survey's references (and screening candidates) to arXiv records",
          network=True),
    Stage("fetch-arxiv", _fetch_arxiv, "fetch papers matching the nightly query since the last run", network=True),
    Stage("pdfs", _pdfs, "download the PDFs of arXiv works lacking their latest version", network=True),
    Stage("extract", _extract, "extract the text of downloaded PDFs", cpu_heavy=True),
    Stage("embed", _embed, "embed titles, abstracts and full texts", cpu_heavy=True),
    Stage("screen", _screen, "decide whether each work is in the survey's scope (placement follows)"),
    Stage("classify-zeroshot", _classifier_stage("zeroshot"), "label works by similarity to label descriptions"),
    Stage("classify-supervised", _classifier_stage("supervised"), "label works with a model trained on "
          "survey and human labels"),
    Stage("classify-llm", _classifier_stage("llm"), "label works with the configured LLM, with rationales"),
    Stage("classify-ensemble", _classifier_stage("ensemble"), "label works with the members' scores pooled by "
          "weights learnt on out-of-fold scores"),
    Stage("topics", _topics, "find the topics of the in-scope works (BERTopic on the stored embeddings); propose "
          "the emerging ones as labels"),
    Stage("digest", _digest, "write the Markdown and HTML digest of works new since the last run"),
    # Run by their own commands only (`litmine fetch oai`, `survey labels-from-latex`, `evaluate`).
    Stage("oai-pmh", _oai, "backfill in bulk over OAI-PMH", network=True, nightly=False),
    Stage("labels-from-latex", _labels_from_latex, "label the survey's references from its LaTeX source",
          nightly=False),
    Stage("evaluate", _evaluate, "cross-validate the classifiers on the labelled works", nightly=False),
]


def stage_names(every: bool = False) -> list[str]:
    """The nightly stages' names in order (``every``: the commands' own stages too)."""
    return [s.name for s in STAGES if every or s.nightly]


def select(names: list[str] | None = None) -> list[Stage]:
    """The nightly stages named (in table order), or all of them; any other name is an error."""
    if not names:
        return [s for s in STAGES if s.nightly]
    unknown = [n for n in names if n not in stage_names()]
    if unknown:
        raise StageError(f"unknown stage {', '.join(unknown)}: known stages are {', '.join(stage_names())}")
    return [s for s in STAGES if s.name in names]


def get_stage(name: str) -> Stage:
    """The stage ``name`` of the table, nightly or a command's own; an unknown name is an error. A
    classifier a plugin adds is the stage ``classify-NAME`` (run by `litmine classify -m NAME`)."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    if name.startswith("classify-") and len(name) > len("classify-"):
        method = name.removeprefix("classify-")
        return Stage(name, _classifier_stage(method), f"label works with the {method} classifier", nightly=False)
    raise StageError(f"unknown stage {name}: known stages are {', '.join(stage_names(every=True))}")


def stage_help() -> str:
    """`litmine run --stage`'s help: the nightly stages, in order, from the table."""
    return "Run only this stage (repeatable): " + ", ".join(stage_names()) + "."


# -- running stages ----------------------------------------------------------------------------


class ItemsFailed(StageError):
    """Every item a stage tried failed: the stage failed as a whole. It carries the stage's counts,
    so the command still prints them."""

    def __init__(self, message: str, counts: Counts) -> None:
        super().__init__(message)
        self.counts = counts

    def __reduce__(self):
        return (ItemsFailed, (self.message, self.counts))


def run_stage(stage: Stage, ctx: PipelineContext, **options) -> Counts:
    """Run one stage with a command's ``options``; raise ``StageError`` if it failed as a whole
    (it raised, or every item it tried failed: ``ItemsFailed``)."""
    try:
        counts = stage.run(ctx, **options)
    except SourceUnreachable as exc:
        raise StageUnreachable(str(exc).split(" (url=")[0]) from exc
    except (StageError, StoreError):
        raise
    except LitmineError as exc:
        raise StageError(str(exc)) from exc
    if counts.failed and not counts.error and not (counts.new or counts.updated or counts.unchanged):
        raise ItemsFailed(_all_failed_reason(ctx, counts), counts)
    return counts


def _all_failed_reason(ctx: PipelineContext, counts: Counts) -> str:
    """Why a stage whose every item failed failed: what its notes say, else the last item's reason."""
    if counts.notes:
        return "; ".join(counts.notes)
    from litmine.store.review import last_failure_reason

    with ctx.store.connect(read_only=True) as con:
        reason = last_failure_reason(con, ctx.run_id)
    example = f", the last: {reason.split(' (url=')[0][:160]}" if reason else ""
    return f"all {counts.failed} items failed{example}; every reason is in table failures"


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
    counts: dict[str, Counts] = field(default_factory=dict)  # by stage name, in the order they ran
    failed: dict[str, str] = field(default_factory=dict)
    unreachable: str | None = None  # why a network stage found its host unreachable; later ones are not tried

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        return "partial" if any(c.failed for c in self.counts.values()) else "ok"

    def lines(self) -> list[str]:
        """One line per stage, in pipeline order: its counts, or why it failed as a whole."""
        out = []
        for name in stage_names():
            if name in self.failed:
                out.append(f"{name}: failed: {self.failed[name]}")
            elif name in self.counts:
                counts = self.counts[name]
                out.append(str(counts) if counts.stage == name else f"{name}: {str(counts).split(': ', 1)[1]}")
        return out

    def as_dict(self) -> dict:
        return {"stages": {name: c.as_dict() for name, c in self.counts.items()}, "failed": dict(self.failed)}

    @classmethod
    def from_dict(cls, run_id: str | None, data: dict) -> "RunReport":
        counts = {}
        for name, c in (data.get("stages") or {}).items():
            counts[name] = Counts(**c)
        return cls(run_id, counts, dict(data.get("failed") or {}))


def failed_stage_message(error: BaseException) -> str:
    """The one line a failed stage reports: the error's first line, without the stage's own prefix."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text


def finish(store: Store, report: RunReport) -> None:
    """Store the run's status and counts in table ``runs``."""
    error = "; ".join(f"{k}: {v}" for k, v in report.failed.items()) or None
    store.finish_run(report.run_id, report.status, report.as_dict(), error)


def load_report(store: Store, run_id: str) -> RunReport | None:
    """The finished run's report from table ``runs``; None while it runs or if it never finished."""
    import json

    from litmine.store.review import run_row

    with store.connect(read_only=True) as con:
        row = run_row(con, run_id)
    if row is None or row[0] == "running" or not row[1]:
        return None
    return RunReport.from_dict(run_id, json.loads(row[1]))


Via = Callable[..., Counts]  # via(stage, ctx, **options): how a stage is executed (a Prefect task, say)


class Run:
    """One run of a command that writes, from start to end: it holds the data directory's run lock,
    backs the database up before the nightly run's first write (``LITMINE_BACKUP_KEEP``), records the
    run in ``runs`` (``Store.start_run`` marks runs of dead processes ``interrupted``), runs stages of the one
    stage table under their own names with the command's options, and always ends its row: with the
    stages' status, ``failed`` when the block raised, ``interrupted`` on Ctrl-C or SIGTERM.

        with Run.open(settings, "fetch arxiv") as run:
            run.stage("fetch-arxiv", max_results=10)
        run.report.status
    """

    def __init__(self, settings: Settings, store: Store, command: str, config: dict | None = None,
                 run_id: str | None = None) -> None:
        self.settings, self.store, self.command = settings, store, command
        self.config = config or {}
        self.report = RunReport(run_id)
        self.ctx: PipelineContext | None = None
        self._lock = None
        self._old_sigterm = None

    @classmethod
    def open(cls, settings: Settings, command: str, config: dict | None = None) -> "Run":
        """A run on the store ``settings`` name (migrated to the current schema when it starts)."""
        return cls(settings, Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds), command, config)

    @property
    def run_id(self) -> str | None:
        return self.report.run_id

    def __enter__(self) -> "Run":
        from litmine.runlock import run_lock

        self._lock = run_lock(self.settings.data_dir, self.command)
        self._lock.__enter__()  # refuses at once (RunInProgress) while another run holds it
        try:
            if self.command == "run":
                from litmine.store.backup import backup_before_run

                backup_before_run(self.settings, self.store)
            self.store.migrate()
            if self.report.run_id is None:  # starting it marks the runs of dead processes interrupted
                self.report.run_id = self.store.start_run(self.command, self.config)
            self.ctx = PipelineContext(self.settings, self.store, self.report.run_id, started_at=utcnow())
            self._catch_sigterm()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def execute(self, names: list[str] | None = None, via: Via | None = None) -> RunReport:
        """Run the stages named (every nightly stage by default), in table order, each by ``via``
        (default: in this process); each stage's failure is recorded and the rest run."""
        for stage in select(names):
            self.stage(stage.name, via=via)
        return self.report

    def stage(self, name: str, via: Via | None = None, **options) -> Counts | None:
        """Run the stage ``name`` of the table with a command's ``options`` (by ``via(stage, ctx,
        **options)`` if given: a Prefect task), the one way every command and the nightly run run a
        stage. Its counts go in the report (added to its earlier ones in this run). A stage failing
        as a whole (it raised, stopped early, or every item failed) is recorded in table ``failures``
        and the run goes on; one that succeeds clears its earlier whole-stage failure. Returns its
        counts, None when it raised."""
        stage = get_stage(name)  # one name per stage: an unknown one is an error
        try:
            skip_if_offline(stage, self.report)
            counts = (via or run_stage)(stage, self.ctx, **options)
        except Exception as exc:  # a stage failing as a whole must not stop the others
            stop_if_signalled(exc)  # ... but a signal (SIGTERM, Ctrl-C) stops the run
            if isinstance(exc, StoreError):  # ... and so does the store failing (locked, a write lost):
                raise  # nothing could be recorded; the command prints its one line
            log.warning("stage %s failed: %s", stage.name, exc)
            record_stage_failure(self.store, self.run_id, stage.name, exc)
            self.report.failed[stage.name] = failed_stage_message(exc)
            if isinstance(exc, StageUnreachable):
                self.report.unreachable = self.report.unreachable or failed_stage_message(exc)
            if isinstance(exc, ItemsFailed):
                self._add(stage.name, exc.counts)
                return exc.counts
            return None
        self._add(stage.name, counts)
        if counts.error:  # stopped early: what it stored stays, the stage failed
            record_stage_failure(self.store, self.run_id, stage.name, StageError(counts.error))
            self.report.failed[stage.name] = counts.error
        elif stage.name not in self.report.failed:  # not when an earlier call of this run failed it
            resolve_stage_failure(self.store, stage.name)
        return counts

    def _add(self, name: str, counts: Counts) -> None:
        earlier = self.report.counts.get(name)
        self.report.counts[name] = Counts(name).merge(earlier).merge(counts) if earlier else counts

    def __exit__(self, kind, error, tb) -> None:
        try:
            if kind is None:
                finish(self.store, self.report)
            elif issubclass(kind, (KeyboardInterrupt, SystemExit, RunInterrupted)):
                self.store.finish_run(self.run_id, "interrupted", self.report.as_dict(),
                                      error=f"stopped by {'Ctrl-C' if kind is KeyboardInterrupt else 'a signal'}"
                                      + (f" ({error})" if kind is RunInterrupted else ""))
            else:
                self.store.finish_run(self.run_id, "failed", self.report.as_dict(),
                                      error=str(error) or type(error).__name__)
        finally:
            self._restore_sigterm()
            self._lock.__exit__(None, None, None)

    def _catch_sigterm(self) -> None:
        """SIGTERM (a service stopping, `kill`) ends the run like Ctrl-C, so its row is ended too."""
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            _signalled.clear()
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)

    def _restore_sigterm(self) -> None:
        import signal

        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


_signalled: list[int] = []  # the SIGTERM this process received, if any


def _raise_exit(signum, frame):
    _signalled.append(signum)
    raise SystemExit(128 + signum)


def stopping(error: BaseException | None) -> bool:
    """Whether the process was asked to stop (SIGTERM) or ``error`` hides a signal's stop: such a
    failure is neither retried nor taken for a stage's failure."""
    return bool(_signalled) or interrupted_by_signal(error)


def stop_if_signalled(error: BaseException) -> None:
    """Raise the stop a signal asked for, when ``error`` hides it: our SIGTERM handler's
    ``SystemExit`` or any handler's exception raised inside a DuckDB query (which DuckDB turns into
    ``RuntimeError("Query interrupted")``), or one a stage's own error handling caught."""
    if _signalled:
        raise SystemExit(128 + _signalled[-1]) from error
    if interrupted_by_signal(error):
        raise RunInterrupted("a query was interrupted by a signal") from error


def run_pipeline(settings: Settings, store: Store, names: list[str] | None = None,
                 run_id: str | None = None) -> RunReport:
    """Run the stages in order, in this process (the Prefect flow: ``litmine.flows.nightly``)."""
    stages = select(names)
    with Run(settings, store, "run", {"stages": [s.name for s in stages]}, run_id=run_id) as run:
        run.execute(names)
    return run.report


def skip_if_offline(stage: Stage, report: "RunReport") -> None:
    """Raise for a network stage once an earlier one found its host unreachable: it is not tried."""
    if stage.network and report.unreachable:
        raise StageUnreachable(f"not tried: {report.unreachable}")


def last_run_start(store: Store, before: datetime | None = None) -> datetime | None:
    """When the last pipeline run that finished began, before ``before``; None if there was none."""
    from litmine.store.review import last_finished_run

    if not store.path.exists():
        return None
    with store.connect(read_only=True) as con:
        return last_finished_run(con, "run", before)

