"""Classification stage: every work scored for the survey's label sets: its placement, the sets
derived from it, and its themes, as the survey seed declares them (``Taxonomy``).

Classifiers register under the entry-point group ``litmine.classifiers`` (built in: ``zeroshot``,
``supervised``, ``llm``, ``ensemble``); a third-party one registers the same way. Each writes one
``label_assignments`` row per work and label with its name, version (code version + hash of its
parameters, model, prompt, training data and taxonomy), parameters, score and run id. A work whose
input (title, abstract, full text) is unchanged is not classified again by the same version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Callable

from litmine.classify.base import (
    Classifier,
    Example,
    Prediction,
    Taxonomy,
    WorkItem,
)
from litmine.store.scope import out_of_scope
from litmine.counts import Counts
from litmine.errors import ClassifierError
from litmine.store import Store
from litmine.store import methods as methods_store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

GROUP = "litmine.classifiers"
TRAIN_STATUSES = ("verified", "silver-agree")  # survey labels a classifier may learn from

__all__ = ["Classifier", "ClassifierEnv", "Example", "Prediction", "Taxonomy", "WorkItem", "available_classifiers",
           "classify_works", "get_classifier", "load_examples", "load_taxonomy"]


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


def available_classifiers() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def get_classifier(name: str, env: ClassifierEnv | None = None, **params: object) -> Classifier:
    found = available_classifiers()
    if name not in found:
        raise ClassifierError(
            f"unknown classifier {name!r}: choose from {', '.join(sorted(found)) or 'none (reinstall litmine)'}"
        )
    cls = found[name].load()
    clf = cls(env, **params)
    clf.name = name
    return clf


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


def _prediction_rows(clf: Classifier, pred: Prediction, item: WorkItem, run_id: str | None, version: str,
                     params: dict, label_sets: tuple[str, ...]) -> list[dict]:
    rows = []
    for label_set in label_sets:
        scores = pred.scores.get(label_set)
        if scores is None:
            continue
        chosen = (pred.assigned or {}).get(label_set, set())
        for label_id, score in scores.items():
            rows.append({
                "work_id": item.work_id, "label_set": label_set, "label_id": label_id, "source": clf.name,
                "source_version": version, "model": clf.model, "prompt_version": clf.prompt_version,
                "params": params, "score": float(score), "assigned": label_id in chosen,
                "rationale": pred.rationale, "content_hash": item.input_hash, "run_id": run_id,
            })
    return rows


def classify_works(store: Store, classifier: Classifier, run_id: str | None = None, page_size: int = 2048,
                   limit: int | None = None) -> Counts:
    """Score every work with ``classifier``; fit it first on the stored labels when it learns.

    Works whose input is unchanged since this classifier version labelled them are ``unchanged``;
    works decided out of the survey's scope are not placed (noted); works with no vector of the
    embedding model are left for after `litmine embed` (noted); a work the classifier fails on is
    recorded in ``failures`` and counted ``failed``; the run goes on. ``limit``: only the first works
    by id. Which works to classify is decided from every work's input hash in one read; only those
    are then read, ``page_size`` at a time, predicted together and written in one bulk insert.
    """
    counts = Counts(f"classify {classifier.name}")
    taxonomy = load_taxonomy(store)
    model_id = classifier.env.embedder.model_id if classifier.needs_vectors else None
    examples = load_examples(store, model_id, taxonomy=taxonomy) if classifier.trainable else []
    classifier.ensure_fitted(taxonomy, [ex for ex in examples if not classifier.needs_vectors or ex.item.vector is not None])
    version, params = classifier.source_version, classifier.params()
    with store.connect(read_only=True) as con:
        inputs = ml_store.work_inputs(con, model_id)[:limit]
        done = ml_store.done_inputs(con, classifier.name, version)
        before = ml_store.labelled_by(con, classifier.name)
        outside = out_of_scope(con)  # placement follows the scope decision
    not_embedded, not_placed, todo = 0, 0, []
    for work_id, input_hash, has_vector in inputs:
        if (work_id, input_hash) in done:
            counts.add("unchanged")
        elif work_id in outside:
            not_placed += 1
        elif classifier.needs_vectors and not has_vector:
            not_embedded += 1
        else:
            todo.append(work_id)
    for start in range(0, len(todo), page_size):
        with store.connect(read_only=True) as con:
            items = [WorkItem.from_row(r) for r in ml_store.work_items(con, model_id, todo[start:start + page_size])]
        _classify_page(store, classifier, items, run_id, version, params, taxonomy, before, counts)
    if not_embedded:
        counts.notes.append(f"{not_embedded} works have no {model_id} vector yet: run `litmine embed`")
    if not_placed:
        counts.notes.append(f"{not_placed} works out of the survey's scope, not placed")
    llm = classifier.env._built.get("llm") if classifier.env is not None else None
    if llm is not None:
        counts.notes.append(llm.usage())
    if counts.new == counts.updated == counts.failed == 0:
        counts.notes.append("nothing new to classify")
    log.info("%s", counts)
    return counts


def _classify_page(store: Store, classifier: Classifier, items: list[WorkItem], run_id: str | None, version: str,
                   params: dict, taxonomy: Taxonomy, before: set[int], counts: Counts) -> None:
    """Predict one page of works and write its rows (one bulk insert) and failures."""
    if not items:
        return
    predictions = classifier.classify(items)
    rows, ok = [], []
    with store.transaction() as con:
        for item, pred in zip(items, predictions):
            if pred.error is not None:
                ml_store.record_classify_failure(con, run_id, classifier.name, item.work_id, pred.error)
                counts.add("failed")
                continue
            rows += _prediction_rows(classifier, pred, item, run_id, version, params, taxonomy.all_sets)
            ok.append(item.work_id)
            counts.add("updated" if item.work_id in before else "new")
        ml_store.write_assignments(con, rows)
        ml_store.resolve_classify_failures(con, classifier.name, ok)


def env_from_settings(settings, store: Store) -> ClassifierEnv:
    """The embedder and LLM client that the settings name, built on first use. The LLM client caches
    responses in ``store``; without ``LITMINE_LLM_BACKEND`` there is no LLM."""
    from litmine.embed import get_embedder
    from litmine.llm import LLMClient, StoreCache, get_backend

    def make_llm():
        backend = get_backend(settings.llm_backend, settings.llm_model, settings.llm_base_url, settings.llm_api_key)
        return LLMClient(backend, StoreCache(store))

    return ClassifierEnv(
        make_embedder=lambda: get_embedder(settings.embed_model, settings.embed_batch_size),
        make_llm=make_llm if settings.llm_backend else None,
        target_recall=settings.scope_target_recall,
    )


def default_methods(env: ClassifierEnv) -> list[str]:
    """zeroshot, supervised, ensemble, and llm when an LLM is configured."""
    return ["zeroshot", "supervised"] + (["llm"] if env.has_llm else []) + ["ensemble"]
