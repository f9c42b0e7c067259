"""How much each human decision is worth: learning curves simulated from the silver labels.

A reviewer's decisions arrive one by one; this replays that with labels we already have. For each
budget ``n`` it draws ``n`` labelled works at random (the "decisions"), trains a logistic regression
on their title-and-abstract embeddings, and scores it on every work not drawn:

- scope: average precision of the in-scope score (the screening labels: in, or not),
- placement (named after the survey's placement set): macro F1 of the predicted placement label (the
  survey's primary label of each work),

each beside the bare baseline on the same held-out works (AP of a random ranking = the share in
scope; macro F1 of always answering the commonest label). Repeated with several seeds; the
mean and spread are reported. Small on purpose: a few hundred works, a linear model.
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


def curve(vectors, labels, task: str, sizes=SIZES, repeats: int = REPEATS, seed: int = 0) -> Curve:
    """The learning curve of ``task`` (``scope``: labels are booleans; otherwise label ids)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, f1_score

    X = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(labels)
    binary = task == "scope"
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
            model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(X[idx], y[idx])
            if binary:
                if len(set(y[test])) < 2:
                    continue
                pos = list(model.classes_).index(True)
                scores.append(average_precision_score(y[test], model.predict_proba(X[test])[:, pos]))
                bases.append(float(np.mean(y[test])))
            else:
                present = sorted(set(y[test]))
                scores.append(f1_score(y[test], model.predict(X[test]), labels=present, average="macro",
                                       zero_division=0))
                values, counts = np.unique(y[idx], return_counts=True)
                common = np.full(len(test), values[np.argmax(counts)])
                bases.append(f1_score(y[test], common, labels=present, average="macro", zero_division=0))
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
        ax.plot(c.sizes, mean, marker="o", label="logistic regression on embeddings")
        ax.fill_between(c.sizes, mean - std, mean + std, alpha=0.2)
        ax.plot(c.sizes, c.baseline, linestyle="--", color="grey", label="baseline (bare)")
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
