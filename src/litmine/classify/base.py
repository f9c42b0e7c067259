"""What every classifier shares: the taxonomy, work items, predictions, and the assignment rule.

The survey seed says what each label set is for (``Taxonomy``: its ``placement`` set, the sets
``derived`` from it, its ``themes`` set if any); no set name is written in code. A classifier
implements ``predict(items)``: scores in [0, 1] for the labels of the target sets (the placement and
the themes). The base class derives each derived set from the placement (a parent's score is its best
child's; a parent is assigned when one of its children is) and decides which labels are assigned: in
the placement, the best-scoring label always and, where the placement is multi-label, any other
scoring at least its own threshold (``thresholds``, set in ``fit``) or else ``threshold``, at most
``placement_max`` labels (set in ``fit``: the most any labelled work carries); in the
themes, any label scoring at least its own threshold (set in ``fit`` so that the share of works
carrying a theme is close to its labelled share) or else ``threshold`` (a work may carry none).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from litmine.classify.method import PLACEMENT, Method, digest


@dataclass(frozen=True)
class Label:
    label_set: str
    label_id: str
    parent_id: str | None
    name: str
    kind: str | None
    description: str | None


@dataclass
class Taxonomy:
    """The loaded survey's labels and what each label set is for, as its seed declares (``roles`` in
    the survey's meta: ``placement``, ``placement_multi_label``, ``derived`` {set: source}, ``themes``)."""

    labels: dict[str, list[Label]]
    survey: dict = field(default_factory=dict)  # the loaded survey: id, title, and the seed's meta (scope, roles)

    @property
    def roles(self) -> dict:
        return self.survey.get("roles") or {}

    @property
    def placement(self) -> str | None:
        """The label set that places a work (one label or several, best first)."""
        return self.roles.get("placement")

    @property
    def placement_multi_label(self) -> bool:
        return bool(self.roles.get("placement_multi_label"))

    @property
    def derived(self) -> dict[str, str]:
        """Each derived set and the set it is derived from (a label's parent in it)."""
        return dict(self.roles.get("derived") or {})

    @property
    def themes(self) -> str | None:
        """The set of themes a work may carry any of (none), or None where the survey has no themes."""
        return self.roles.get("themes")

    @property
    def target_sets(self) -> tuple[str, ...]:
        """The sets a classifier scores: the placement first, then the themes."""
        return tuple(s for s in (self.placement, self.themes) if s)

    @property
    def all_sets(self) -> tuple[str, ...]:
        """The sets classification writes: the derived sets, the placement, the themes."""
        return (*self.derived, *self.target_sets)

    @classmethod
    def from_rows(cls, rows: list[tuple], survey: dict | None = None) -> "Taxonomy":
        labels: dict[str, list[Label]] = {}
        for label_set, label_id, parent_id, name, kind, description, _ in rows:
            labels.setdefault(label_set, []).append(Label(label_set, label_id, parent_id, name, kind, description))
        return cls(labels, dict(survey or {}))

    def ids(self, label_set: str) -> list[str]:
        return [label.label_id for label in self.labels.get(label_set, [])]

    def parents(self, label_set: str) -> dict[str, str | None]:
        return {label.label_id: label.parent_id for label in self.labels.get(label_set, [])}

    def get(self, label_set: str, label_id: str) -> Label:
        return next(label for label in self.labels[label_set] if label.label_id == label_id)

    def describe(self, label_set: str, label_id: str) -> str:
        label = self.get(label_set, label_id)
        return f"{label.name}. {label.description or ''}".strip()

    def fingerprint(self) -> str:
        payload = json.dumps({k: [vars(label) for label in v] for k, v in sorted(self.labels.items())}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class WorkItem:
    work_id: int
    text: str
    input_hash: str
    excerpt: str | None = None
    vector: np.ndarray | None = None
    title_only: bool = False  # no abstract: scored on the title alone (its rows say so)

    @classmethod
    def from_row(cls, row: tuple) -> "WorkItem":
        work_id, text, input_hash, excerpt, vector = row
        return cls(work_id, text, input_hash, excerpt, None if vector is None else np.asarray(vector, dtype=np.float32))


@dataclass
class Example:
    """A labelled work for training: positives per set, and negatives (explicit, or every other label
    of a set whose labels are ``complete``, as the survey's subsections are for the works it cites)."""

    item: WorkItem
    positives: dict[str, set[str]] = field(default_factory=dict)
    negatives: dict[str, set[str]] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # who labelled it: survey, human
    primary: dict[str, str] = field(default_factory=dict)  # the work's first label of a set (the survey's order)

    def primary_label(self, label_set: str) -> str | None:
        """The work's primary label in a set: the survey's first, else the first positive by id."""
        if label_set in self.primary:
            return self.primary[label_set]
        positives = sorted(self.positives.get(label_set, ()))
        return positives[0] if positives else None

    def label(self, label_set: str, label_id: str) -> bool | None:
        """True, False, or None when unknown."""
        if label_id in self.positives.get(label_set, ()):
            return True
        if label_id in self.negatives.get(label_set, ()) or label_set in self.complete:
            return False
        return None


JUDGED_SOURCES = ("screening", "human")  # who judges a new paper: the seed's screening rows, a reviewer


def judged_example(item: WorkItem, placement: str, label_id: str, source: str = "screening") -> Example:
    """A judged in-scope candidate as a placement example: its one subsection, every other label of
    the placement a negative (as for a survey work), source ``screening`` (or ``human``)."""
    return Example(item, {placement: {label_id}}, complete={placement}, sources={source},
                   primary={placement: label_id})


def is_judged(ex: Example) -> bool:
    """Whether an example is a judged new paper (a screening row or a reviewer's), not a survey work."""
    return bool(ex.sources & set(JUDGED_SOURCES)) and "survey" not in ex.sources


@dataclass
class Prediction:
    work_id: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    assigned: dict[str, set[str]] | None = None  # None: the base class's rule decides
    rationale: str | None = None
    error: Exception | None = None


class Classifier(Method):
    """The placement's code path (role ``placement``; see ``litmine.classify.method``), and the base of
    a method that decides the placement only. Subclasses set ``name``/``version`` and implement ``predict``."""

    roles = (PLACEMENT,)
    needs_vectors = True
    trainable = False
    threshold = 0.5
    set_thresholds = True  # whether ``fit`` sets per-label thresholds (an ensemble's out-of-fold copies need scores only)
    reads_judged = True  # whether it trains on the judged candidates' subsections too (``load_placement_examples``)

    def __init__(self, env=None, **params: object) -> None:
        super().__init__(env, **params)
        self.taxonomy: Taxonomy | None = None
        self.thresholds: dict[str, dict[str, float]] = {}  # per label set and label, set by ``fit``
        self.placement_max: int | None = None  # the most placement labels a work gets (set by ``fit``), or no cap

    # -- what a subclass may override ------------------------------------------------------------

    def params(self) -> dict:
        return {"threshold": self.threshold, **self.param_values}

    def chosen_params(self) -> dict:
        """The parameters that fix what ``fit`` chose on its training data (none here): an ensemble's
        out-of-fold copies are built with them instead of choosing again."""
        return {}

    def fit(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.taxonomy = taxonomy
        if self.trainable:
            self.training = training_digest(examples)

    def ensure_fitted(self, taxonomy: Taxonomy, examples: list[Example]) -> bool:
        """``fit`` unless already fitted on this taxonomy and these examples (a nightly run with
        nothing new to learn fits nothing). Returns whether it fitted."""
        key = (taxonomy.fingerprint(), training_digest(examples))
        if getattr(self, "_fitted_on", None) == key:
            return False
        self.fit(taxonomy, examples)
        self._fitted_on = key
        return True

    def predict(self, items: list[WorkItem]) -> list[Prediction]:
        raise NotImplementedError

    # -- the stage's questions (``litmine.classify.score_works``) ---------------------------------

    verb = "classify"
    page_size: int | None = 2048

    def prepare(self, store, **options: object) -> str | None:
        """Fit on the stored gold labels when it learns (not again when nothing changed), and on the
        judged in-scope candidates' subsections (``reads_judged``), as `litmine evaluate` fits it;
        returns the embedding model whose vectors it reads."""
        from litmine.classify import load_examples, load_placement_examples, load_taxonomy

        taxonomy = load_taxonomy(store)
        model_id = self.env.embedder.model_id if self.needs_vectors else None
        load = load_placement_examples if self.reads_judged else load_examples
        examples = load(store, model_id, taxonomy=taxonomy) if self.trainable else []
        self.ensure_fitted(taxonomy, [ex for ex in examples if not self.needs_vectors or ex.item.vector is not None])
        return model_id

    def pending(self, con, model_id: str | None, version: str, counts, limit: int | None) -> tuple[list, list[str]]:
        """The ids of the works to classify and notes: not the works decided out of the survey's scope
        (placement follows the scope decision), nor those without a vector of ``model_id`` yet."""
        from litmine.store import ml as ml_store
        from litmine.store.scope import out_of_scope

        inputs = ml_store.work_inputs(con, model_id)[:limit]
        done = ml_store.done_inputs(con, self.source, version)
        outside = out_of_scope(con)
        not_embedded, not_placed, todo = 0, 0, []
        for work_id, input_hash, has_vector in inputs:
            if (work_id, input_hash) in done:
                counts.add("unchanged")
            elif work_id in outside:
                not_placed += 1
            elif self.needs_vectors and not has_vector:
                not_embedded += 1
            else:
                todo.append(work_id)
        notes = []
        if not_embedded:
            notes.append(f"{not_embedded} works have no {model_id} vector yet: run `litmine embed`")
        if not_placed:
            notes.append(f"{not_placed} works out of the survey's scope, not placed")
        return todo, notes

    def read_items(self, store, model_id: str | None, work_ids: list[int]) -> list[WorkItem]:
        from litmine.store import ml as ml_store

        with store.connect(read_only=True) as con:
            return [WorkItem.from_row(r) for r in ml_store.work_items(con, model_id, work_ids)]

    def label_sets(self) -> tuple[str, ...]:
        return self.taxonomy.all_sets if self.taxonomy is not None else ()

    @property
    def stage(self) -> str:
        """The stage table's name for it: one ``classify-<name>`` per method."""
        return f"classify-{self.name}"

    def summary(self, rows: list[dict], counts) -> list[str]:
        llm = self.env._built.get("llm") if self.env is not None else None
        notes = [llm.usage()] if llm is not None else []
        if counts.new == counts.updated == counts.failed == 0:
            notes.append("nothing new to classify")
        return notes

    # -- what the base does ---------------------------------------------------------------------

    def version_payload(self) -> dict:
        # Method's, not the scope path's (next in the MRO of a class deciding both roles)
        return {**Method.version_payload(self), "version": self.version,
                "taxonomy": self.taxonomy.fingerprint() if self.taxonomy else ""}

    def fingerprint(self) -> str:
        return digest(self.version_payload())

    def classify(self, items: list[WorkItem]) -> list[Prediction]:
        """``predict``, then parts derived and assignments decided."""
        return [self.finish(p) for p in self.predict(items)]

    def finish(self, pred: Prediction) -> Prediction:
        if pred.error is not None:
            return pred
        assigned = {k: set(v) for k, v in (pred.assigned or {}).items()}
        for label_set, scores in pred.scores.items():
            if pred.assigned is not None and label_set in pred.assigned:
                continue
            own = self.thresholds.get(label_set, {})
            chosen = {label for label, s in scores.items() if s >= own.get(label, self.threshold)}
            if self.taxonomy is not None and label_set == self.taxonomy.placement and scores:
                ranked = sorted(scores, key=lambda label: (-scores[label], label))
                chosen = {ranked[0]} | chosen if self.taxonomy.placement_multi_label else {ranked[0]}
                if self.placement_max:
                    chosen = set([label for label in ranked if label in chosen][: self.placement_max])
            assigned[label_set] = chosen
        for derived, base in (self.taxonomy.derived if self.taxonomy is not None else {}).items():
            if base not in pred.scores:
                continue
            parents = self.taxonomy.parents(base)
            part_scores: dict[str, float] = {label: 0.0 for label in self.taxonomy.ids(derived)}
            for label, score in pred.scores[base].items():
                parent = parents.get(label)
                if parent in part_scores:
                    part_scores[parent] = max(part_scores[parent], score)
            pred.scores[derived] = part_scores
            assigned[derived] = {parents[label] for label in assigned.get(base, ()) if parents.get(label)}
        pred.assigned = assigned
        return pred


def softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = (x - x.max(axis=-1, keepdims=True)) / temperature
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def labelled_shares(examples: list[Example], label_set: str, ids: list[str], default: float = 0.1) -> dict[str, float]:
    """Per label, the share of the works labelled for it (positive or negative) that carry it;
    ``default`` for a label no work is labelled for."""
    out = {}
    for label_id in ids:
        known = [v for v in (ex.label(label_set, label_id) for ex in examples) if v is not None]
        out[label_id] = sum(known) / len(known) if known else default
    return out


def share_thresholds(scores: np.ndarray, shares: list[float]) -> list[float]:
    """Per column of ``scores`` (works x labels), the threshold above which about ``share`` of the
    works lie: the score quantile at 1 - share (a label with share 0 gets a threshold above every score)."""
    out = []
    for j, share in enumerate(shares):
        column = scores[:, j]
        if share <= 0 or column.size == 0:
            out.append(float(np.inf))
            continue
        out.append(float(np.quantile(column, 1.0 - min(share, 1.0), method="higher")))
    return out


def most_labels(examples: list[Example], label_set: str) -> int | None:
    """The most labels of ``label_set`` any example carries (None without examples)."""
    return max((len(ex.positives.get(label_set, ())) for ex in examples), default=None) or None


def training_digest(examples: list[Example]) -> str:
    """A short hash of the training data: which works, their inputs, and their labels."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.item.work_id):
        digest.update(json.dumps([ex.item.work_id, ex.item.input_hash,
                                  {k: sorted(v) for k, v in sorted(ex.positives.items())},
                                  {k: sorted(v) for k, v in sorted(ex.negatives.items())},
                                  sorted(ex.complete)]).encode())
    return digest.hexdigest()[:12]
