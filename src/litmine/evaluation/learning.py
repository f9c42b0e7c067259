"""How much each human decision is worth: learning curves simulated from the silver labels.

A reviewer's decisions arrive one by one; this replays that with labels we already have. For each
budget ``n`` it draws ``n`` labelled works at random (the "decisions"), and the evaluation harness
(``litmine.evaluation.harness.out_of_fold``, one fold: train on the drawn works, predict every work
not drawn) fits the bare library (``bare``: a balanced logistic regression on the title-and-abstract
embeddings) and scores the rest:

- scope: average precision of the in-scope score (the screening labels: in, or not),
- placement (named after the survey's placement set): macro F1 of the best-scoring placement label
  against the survey's primary label of each work,

each beside the trivial baseline on the same held-out works (AP of a random ranking = the share in
scope; macro F1 of always answering the commonest label). Repeated with several seeds; the
mean and spread are reported. Small on purpose, for the review notebook: a few hundred works, the
bare model; the new papers' learning curve of the stored methods is ``newpapers.learning_curve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litmine.config import Settings
from litmine.store import Store
from litmine.store import review as db

log = logging.getLogger(__name__)

SIZES = (10, 20, 40, 80, 160)
REPEATS = 5


@dataclass
class Curve:
    """One metric against the number of decisions: mean and std over repeats, and the baseline."""

    task: str  # scope, or the placement set's name
    metric: str  # average_precision or macro_f1
    pool: int  # labelled works available
    sizes: list[int] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    def rows(self) -> list[str]:
        return [f"{self.task} {self.metric} n={n}: {m:.3f} ± {s:.3f} (baseline {b:.3f})"
                for n, m, s, b in zip(self.sizes, self.mean, self.std, self.baseline)]


def _draw(rng, y, n: int, binary: bool) -> np.ndarray | None:
    """``n`` indices at random, with both classes (scope) or two or more classes (placement)."""
    for _ in range(100):
        idx = rng.choice(len(y), size=n, replace=False)
        if len(set(y[idx])) >= 2 and (not binary or len(idx) < len(y)):
            return idx
    return None


def _harness_inputs(X: np.ndarray, y: np.ndarray, task: str):
    """The role, the fit's data, the examples and the items of ``task`` for the harness."""
    from litmine.classify.base import Example, Label, Taxonomy, WorkItem
    from litmine.classify.method import PLACEMENT, SCOPE
    from litmine.classify.scope import ScopeContext, ScopeExample

    items = [WorkItem(i, "", str(i), vector=X[i]) for i in range(len(y))]
    if task == "scope":
        return SCOPE, ScopeContext(""), [ScopeExample(item, bool(v), "learning") for item, v in zip(items, y)], items
    labels = [Label(task, str(v), None, str(v), None, None) for v in sorted(set(y.tolist()))]
    taxonomy = Taxonomy({task: labels}, {"roles": {"placement": task}})
    examples = [Example(item, {task: {str(v)}}, primary={task: str(v)}) for item, v in zip(items, y)]
    return PLACEMENT, taxonomy, examples, items


def curve(vectors, labels, task: str, sizes=SIZES, repeats: int = REPEATS, seed: int = 0) -> Curve:
    """The learning curve of ``task`` (``scope``: labels are booleans; otherwise label ids)."""
    from sklearn.metrics import average_precision_score, f1_score

    from litmine.classify.bare import BARE
    from litmine.evaluation import harness

    X = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(labels)
    binary = task == "scope"
    role, data, examples, items = _harness_inputs(X, y, task)
    out = Curve(task, "average_precision" if binary else "macro_f1", len(y))
    rng = np.random.default_rng(seed)
    for n in sizes:
        if n >= len(y) - 1:
            break
        scores, bases = [], []
        for _ in range(repeats):
            idx = _draw(rng, y, n, binary)
            if idx is None:
                continue
            test = np.setdiff1d(np.arange(len(y)), idx)
            if binary and len(set(y[test])) < 2:
                continue
            predictions = harness.out_of_fold(role, BARE, None, data, examples, items, [(idx, test)]).predictions
            if binary:
                scores.append(average_precision_score(y[test], harness.probabilities(predictions)[test]))
                bases.append(float(np.mean(y[test])))
            else:
                truth = np.array([str(v) for v in y])  # label ids, as the harness ranks them
                present = sorted(set(truth[test]))
                best = np.array([r[0] if r else "" for r in harness.ranked(predictions, task, top=1)])
                scores.append(f1_score(truth[test], best[test], labels=present, average="macro", zero_division=0))
                values, counts = np.unique(truth[idx], return_counts=True)
                common = np.full(len(test), values[np.argmax(counts)])
                bases.append(f1_score(truth[test], common, labels=present, average="macro", zero_division=0))
        if scores:
            out.sizes.append(n)
            out.mean.append(float(np.mean(scores)))
            out.std.append(float(np.std(scores)))
            out.baseline.append(float(np.mean(bases)))
    return out


def examples(store: Store, model_id: str | None = None) -> dict[str, tuple[list, list]]:
    """{task: (vectors, labels)} from the database: scope from the screening annotators' and the
    reviewers' scope labels; the placement (the set the survey seed declares, under its own name) from
    the survey's verified and silver-agree labels (one primary label per work: the lowest id it
    carries)."""
    from litmine.survey.load import label_roles

    with store.connect(read_only=True) as con:
        placement = label_roles(con).get("placement")
        scope = db.labelled_vectors(con, "scope", ("screening", "human"), None, model_id)
        sub = db.labelled_vectors(con, placement, ("survey",), ("verified", "silver-agree"), model_id) \
            if placement else []
    out: dict[str, tuple[list, list]] = {}
    by_work: dict[int, tuple[bool, list[float]]] = {}
    for work_id, label_id, assigned, vector in scope:
        if label_id == "in":
            by_work[work_id] = (bool(assigned), vector)
    out["scope"] = ([v for _, v in by_work.values()], [a for a, _ in by_work.values()])
    primary: dict[int, tuple[str, list[float]]] = {}
    for work_id, label_id, assigned, vector in sub:
        if assigned and work_id not in primary:
            primary[work_id] = (label_id, vector)
    if placement:
        out[placement] = ([v for _, v in primary.values()], [label for label, _ in primary.values()])
    return out


def learning_curves(settings: Settings, sizes=SIZES, repeats: int = REPEATS, seed: int = 0) -> list[Curve]:
    """Both curves on the configured database; a task with too few labelled works is left out."""
    data = examples(Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds))
    curves = []
    for task, (vectors, labels) in data.items():
        if len(labels) < 12 or len(set(labels)) < 2:
            log.info("learning curve: too few %s labels (%d)", task, len(labels))
            continue
        curves.append(curve(vectors, labels, task, sizes, repeats, seed))
    return curves


def plot(curves: list[Curve], title: str = "Learning curve: quality against human decisions (simulated)"):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(1, len(curves)), figsize=(5 * max(1, len(curves)), 3.6), squeeze=False)
    for ax, c in zip(axes[0], curves):
        mean, std = np.array(c.mean), np.array(c.std)
        ax.plot(c.sizes, mean, marker="o", label="bare (logistic regression on embeddings)")
        ax.fill_between(c.sizes, mean - std, mean + std, alpha=0.2)
        ax.plot(c.sizes, c.baseline, linestyle="--", color="grey", label="baseline (commonest label / share in scope)")
        ax.set_xscale("log")
        ax.set_xticks(c.sizes, [str(n) for n in c.sizes])
        ax.set_ylim(0, 1)
        ax.set_xlabel("human decisions")
        ax.set_ylabel(c.metric.replace("_", " "))
        ax.set_title(f"{c.task} ({c.pool} labelled works)")
        ax.legend(fontsize="small", loc="lower right")
    if not curves:
        axes[0][0].text(0.5, 0.5, "too few labelled works for a curve", ha="center", va="center")
        axes[0][0].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning_curves(settings: Settings, sizes=SIZES, repeats: int = REPEATS):
    return plot(learning_curves(settings, sizes, repeats))
