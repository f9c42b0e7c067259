"""Classification stage: every work scored for the survey's label sets: its placement, the sets
derived from it, and its themes, as the survey seed declares them (``Taxonomy``).

Methods register under the entry-point group ``litmine.methods`` (built in: ``zeroshot``,
``supervised``, ``llm``, ``ensemble``, each deciding the placement and the scope); a third-party one
registers the same way (``get_method(role, name)``; see ``litmine.classify.method``). Each writes one
``label_assignments`` row per work and label with its name, version (code version + hash of its
parameters, model, prompt, training data and taxonomy), parameters, score and run id. A work whose
input (title, abstract, full text) is unchanged is not classified again by the same version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from litmine.classify.base import (
    Classifier,
    Example,
    judged_example,
    Prediction,
    Taxonomy,
    WorkItem,
)
from litmine.classify.method import (
    GROUP,
    PLACEMENT,
    SCOPE,
    TITLE_ONLY,
    available_methods,
    default_methods,
    get_method,
)
from litmine.store.failures import record_failure
from litmine.counts import Counts
from litmine.errors import ClassifierError
from litmine.store import Store
from litmine.store import methods as methods_store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

TRAIN_STATUSES = ("verified", "silver-agree")  # survey labels a classifier may learn from

__all__ = ["GROUP", "PLACEMENT", "SCOPE", "Classifier", "ClassifierEnv", "Example", "Prediction", "Taxonomy",
           "WorkItem", "available_methods", "classify_works", "default_methods", "get_method", "load_examples",
           "load_placement_examples", "load_taxonomy", "score_works"]


@dataclass
class ClassifierEnv:
    """Collaborators classifiers may use, built lazily: the embedder and the LLM client."""

    make_embedder: Callable[[], object] | None = None
    make_llm: Callable[[], object] | None = None
    target_recall: float = 0.95  # LITMINE_SCOPE_TARGET_RECALL: the scope ensemble's threshold keeps this share
    _built: dict = field(default_factory=dict, repr=False)

    @property
    def embedder(self):
        if "embedder" not in self._built:
            if self.make_embedder is None:
                raise ClassifierError("this classifier needs an embedder and none was given")
            self._built["embedder"] = self.make_embedder()
        return self._built["embedder"]

    @property
    def llm(self):
        if "llm" not in self._built:
            if self.make_llm is None:
                raise ClassifierError(
                    "No LLM configured: set LITMINE_LLM_BACKEND and LITMINE_LLM_MODEL, or run `litmine llm list`"
                )
            self._built["llm"] = self.make_llm()
        return self._built["llm"]

    @property
    def has_llm(self) -> bool:
        return self.make_llm is not None


def load_taxonomy(store: Store, command: str = "litmine classify") -> Taxonomy:
    """The loaded survey's labels and the roles its seed gives its label sets; an error naming the
    sets the database holds when it holds no survey with a placement set (``command`` needs one)."""
    with store.connect(read_only=True) as con:
        survey = ml_store.survey_row(con)
        taxonomy = Taxonomy.from_rows(ml_store.taxonomy_rows(con), survey and {
            **survey[2], "id": survey[0], "title": survey[1]})
    held = f"label sets {', '.join(sorted(taxonomy.labels))}" if taxonomy.labels else "no label sets"
    if taxonomy.placement is None:
        raise ClassifierError(
            f"the database holds {held}; `{command}` needs the placement set declared by the survey seed: "
            "load it with `litmine survey load`")
    missing = [s for s in taxonomy.all_sets if not taxonomy.ids(s)]
    if missing:
        raise ClassifierError(
            f"the database holds {held}; `{command}` needs {', '.join(missing)}, declared by the survey seed: "
            "load it again with `litmine survey load`")
    return taxonomy


def load_examples(store: Store, model_id: str | None, statuses: tuple[str, ...] = TRAIN_STATUSES,
                  work_ids: set[int] | None = None, taxonomy: Taxonomy | None = None) -> list[Example]:
    """Labelled works: survey labels of ``statuses`` and every human label, as training examples.

    The survey's placement labels are complete for the works it places (every other label of the
    placement set is a negative); its theme labels are examples only (positives). Human labels are
    explicit positives (accept) or negatives (reject).
    """
    taxonomy = taxonomy or load_taxonomy(store)
    targets, placement = taxonomy.target_sets, taxonomy.placement
    with store.connect(read_only=True) as con:
        gold = ml_store.gold_labels(con)
        by_work: dict[int, Example] = {}
        for work_id, label_set, label_id, source, status, assigned in gold:
            if label_set not in targets or (work_ids is not None and work_id not in work_ids):
                continue
            if source == "survey" and status not in statuses and status != "example":
                continue
            ex = by_work.setdefault(work_id, Example(item=None))  # type: ignore[arg-type]
            ex.sources.add(source)
            if assigned:
                ex.positives.setdefault(label_set, set()).add(label_id)
                if source == "survey" and label_set == placement:
                    ex.complete.add(label_set)
            else:
                ex.negatives.setdefault(label_set, set()).add(label_id)
        if not by_work:
            return []
        items = {row[0]: WorkItem.from_row(row) for row in ml_store.work_items(con, model_id, sorted(by_work))}
        cited = methods_store.cited_sections(con)
    examples = []
    for work_id, ex in by_work.items():
        ex.item = items[work_id]
        examples.append(ex)
    for work_id, sections in cited:  # the survey lists a work's sections primary first
        ex = by_work.get(work_id)
        if ex is None:
            continue
        for label_set in targets:
            first = next((s for s in sections or () if s in ex.positives.get(label_set, ())), None)
            if first is not None and label_set not in ex.primary:
                ex.primary[label_set] = first
    return examples


def load_placement_examples(store: Store, model_id: str | None, taxonomy: Taxonomy | None = None) -> list[Example]:
    """What a classifier trains on: ``load_examples`` (the survey's labels, reviewers' labels) and
    every judged in-scope candidate's subsection that is not among them (the seed's screening rows,
    a reviewer's placement: ``judged_labels``), as ``litmine evaluate``'s harness trains it."""
    taxonomy = taxonomy or load_taxonomy(store)
    examples = load_examples(store, model_id, taxonomy=taxonomy)
    known = {ex.item.work_id for ex in examples}
    with store.connect(read_only=True) as con:
        judged = {w: label for w, label in methods_store.judged_labels(con, taxonomy.placement).items()
                  if w not in known}
        items = [WorkItem.from_row(r) for r in ml_store.work_items(con, model_id, sorted(judged))] if judged else []
    return examples + [judged_example(item, taxonomy.placement, judged[item.work_id]) for item in items]


def label_rows(method, pred: Prediction, item: WorkItem, run_id: str | None, version: str, params: dict,
               label_sets: tuple[str, ...]) -> list[dict]:
    """A method's ``label_assignments`` rows for one work: one per label it scored, of ``label_sets``."""
    rows = []
    for label_set in label_sets:
        scores = pred.scores.get(label_set)
        if scores is None:
            continue
        chosen = (pred.assigned or {}).get(label_set, set())
        for label_id, score in scores.items():
            rows.append({
                "work_id": item.work_id, "label_set": label_set, "label_id": label_id, "source": method.source,
                "source_version": version, "model": method.model, "prompt_version": method.prompt_version,
                "params": params, "score": float(score), "assigned": label_id in chosen,
                "status": TITLE_ONLY if item.title_only else None,
                "rationale": pred.rationale, "content_hash": item.input_hash, "run_id": run_id,
            })
    return rows


def score_works(store: Store, method, run_id: str | None = None, page_size: int | None = None,
                limit: int | None = None, **options: object) -> Counts:
    """The stage of every method, whatever label set it decides (its ``role``: the placement, with
    the sets derived from it and the themes, or the scope): fit it on what is known of its label set
    (``prepare``: the gold labels, or the known scope decisions), then score every work whose input
    changed since this version scored it (the others are ``unchanged``) and write its rows.

    The method's role says which works are pending (``pending``: placement skips the works decided
    out of scope and those without a vector yet, noted), how many are read and scored at a time
    (``page_size``, default the method's), and the closing notes (``summary``). A work the method
    fails on is recorded in ``failures`` (``failure_key``: its stage and ``<method> <work id>``) and counted
    ``failed``; the run goes on; a work scored since has its open failure resolved. Each page is
    written in one bulk insert.
    """
    counts = Counts(f"{method.verb} {method.name}")
    model_id = method.prepare(store, **options)
    version, params = method.source_version, method.params()
    with store.connect(read_only=True) as con:
        todo, notes = method.pending(con, model_id, version, counts, limit)
        before = ml_store.labelled_by(con, method.source)
    size = page_size or method.page_size or max(len(todo), 1)
    written: list[dict] = []
    for start in range(0, len(todo), size):
        items = method.read_items(store, model_id, todo[start:start + size])
        written += _score_page(store, method, items, run_id, version, params, before, counts)
    counts.notes += notes + method.summary(written, counts)
    log.info("%s", counts)
    return counts


def _score_page(store: Store, method, items: list[WorkItem], run_id: str | None, version: str, params: dict,
                before: set[int], counts: Counts) -> list[dict]:
    """Score one page of works and write its rows (one bulk insert) and failures; returns the rows."""
    if not items:
        return []
    predictions = method.classify(items)
    label_sets = method.label_sets()
    rows, ok = [], []
    with store.transaction() as con:
        for item, pred in zip(items, predictions):
            if pred.error is not None:
                record_failure(con, run_id, *method.failure_key(item.work_id), pred.error)
                counts.add("failed")
                continue
            rows += label_rows(method, pred, item, run_id, version, params, label_sets)
            ok.append(item.work_id)
            counts.add("updated" if item.work_id in before else "new")
        ml_store.write_assignments(con, rows)
        if ok:
            stage = method.failure_key(ok[0])[0]
            methods_store.resolve_item_failures(con, stage, [method.failure_key(w)[1] for w in ok])
    return rows


def classify_works(store: Store, classifier: Classifier, run_id: str | None = None, page_size: int = 2048,
                   limit: int | None = None) -> Counts:
    """``score_works`` with a classifier (the placement): every work scored, the classifier fitted
    first on the stored labels when it learns; ``limit``: only the first works by id."""
    return score_works(store, classifier, run_id, page_size, limit)


def env_from_settings(settings, store: Store) -> ClassifierEnv:
    """The embedder and LLM client that the settings name, built on first use. The LLM client caches
    responses in ``store``; without ``LITMINE_LLM_BACKEND`` there is no LLM."""
    from litmine.embed import get_embedder
    from litmine.llm import LLMClient, StoreCache, get_backend

    def make_llm():
        options = {"n_threads": settings.llm_threads or None} if settings.llm_backend == "llama-cpp" else {}
        backend = get_backend(settings.llm_backend, settings.llm_model, settings.llm_base_url, settings.llm_api_key,
                              **options)
        return LLMClient(backend, StoreCache(store))

    return ClassifierEnv(
        make_embedder=lambda: get_embedder(settings.embed_model, settings.embed_batch_size),
        make_llm=make_llm if settings.llm_backend else None,
        target_recall=settings.scope_target_recall,
    )
