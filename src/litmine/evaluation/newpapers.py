"""New papers: `litmine evaluate`'s first section, a report of the evaluation harness
(``litmine.evaluation.harness``) on the judged screening candidates, then on the survey's own works.

The methods are the registered ones ``litmine screen`` / ``litmine classify`` store (``tuned`` and
``ensemble`` unless named), each fitted on the training folds exactly as those commands fit it, beside
``bare``; every choice a method makes is made in its own ``fit``, on the training part only (nested).

The learning curve below still draws its own fixed models (class-balanced ridge on the embeddings and
TF-IDF, settings fixed in ``DEFAULT``), not a registered method: it is not yet a report of the harness.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litmine.classify.scope import check_target_recall, recall_threshold
from litmine.classify.bare import BARE
from litmine.evaluation import harness
from litmine.evaluation.report import BELOW
from litmine.evaluation.harness import (  # noqa: F401  (the metrics live in the harness)
    PLACEMENT_METRICS,
    SCOPE_METRICS,
    Records,
    load_records,
    ranked_figures,
    scope_figures,
    wss,
)

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("tuned", "ensemble")
_ranked_figures = ranked_figures


# -- the models ----------------------------------------------------------------------------------


class Features:
    """Linear kernels (Gram matrices plus one, for the intercept) of the embeddings as stored and of
    TF-IDF features of every text (fitted once on all texts, reading no label, as ASReview and
    litmine's screening simulation do): every model below is a ridge regression solved on them, so a
    fit is one small linear solve."""

    def __init__(self, records: Records) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.x = np.asarray(records.vectors, dtype=np.float64)
        t = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), stop_words="english") \
            .fit_transform(records.texts)
        self.kernels = {"embeddings": self.x @ self.x.T + 1.0, "tfidf": (t @ t.T).toarray() + 1.0}


def _weights(records: Records, idx: np.ndarray, survey_weight: float) -> np.ndarray:
    return np.where(records.candidate[idx], 1.0, survey_weight)


def _balanced(y, w: np.ndarray) -> np.ndarray:
    """Sample weights ``w`` rescaled so every class weighs the same in total."""
    y = np.asarray(y)
    out = np.array(w, dtype=float)
    for c in set(y.tolist()):
        m = y == c
        out[m] *= len(y) / (len(set(y.tolist())) * out[m].sum())
    return out


def _ridge(k: np.ndarray, train: np.ndarray, test: np.ndarray, targets: np.ndarray, w: np.ndarray,
           C: float) -> np.ndarray:
    """Scores of ``test`` by the weighted ridge regression fitted on ``train`` (penalty 1/C), in its
    dual form: a = (W K + I/C)^-1 W Y."""
    ktt = k[np.ix_(train, train)]
    a = np.linalg.solve(w[:, None] * ktt + np.eye(len(train)) / C, w[:, None] * targets)
    return k[np.ix_(test, train)] @ a


def _mixed(f: Features, train, test, targets, w, C, mixes) -> dict[float, np.ndarray]:
    emb = _ridge(f.kernels["embeddings"], train, test, targets, w, C) if any(mixes) else 0
    tfidf = _ridge(f.kernels["tfidf"], train, test, targets, w, C) if any(m < 1 for m in mixes) else 0
    return {m: m * emb + (1 - m) * tfidf for m in mixes}


def _scope_probs(f: Features, r: Records, train: np.ndarray, test: np.ndarray, sw: float, C: float,
                 mixes=(0.5,)) -> dict[float, np.ndarray]:
    """Scope scores of ``test`` per mix (higher: more likely in scope), models fitted on ``train``."""
    y = r.inside[train]
    w = _balanced(y, _weights(r, train, sw))
    return {m: s[:, 0] for m, s in _mixed(f, train, test, np.where(y, 1.0, -1.0)[:, None], w, C, mixes).items()}


def _placed(r: Records, idx: np.ndarray) -> np.ndarray:
    return np.array([i for i in idx if r.inside[i] and r.subsection[i]], dtype=int)


def _placement_probs(f: Features, r: Records, train: np.ndarray, test: np.ndarray, sw: float, C: float,
                     mixes=(0.5,)) -> tuple[list[str], dict[float, np.ndarray]]:
    """Placement scores of ``test`` per mix (a column per subsection), fitted on ``train``'s placed records."""
    train = _placed(r, train)
    y = [r.subsection[i] for i in train]
    classes = sorted(set(y))
    onehot = np.array([[label == c for c in classes] for label in y], dtype=float)
    return classes, _mixed(f, train, test, onehot, _balanced(y, _weights(r, train, sw)), C, mixes)


def _splits(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return harness.splits(y, folds, seed)


@dataclass
class Choice:
    survey_weight: float
    C: float
    mix: float
    threshold: float = 0.5
    score: float = float("nan")


TARGETS = {"recall": 0.95, "precision": 0.5, "top1": 0.6, "top3": 0.85}
LABELS = {"recall": "recall", "precision": "precision", "p_at_target": "P@R{r}", "ap": "AP", "wss95": "WSS@95",
          "top1": "top-1", "top3": "top-3", "macro_f1": "macro-F1"}


def format_new_papers(report: harness.Report) -> list[str]:
    """The printed section: per stratum, each figure's mean, sd and bootstrap 95% interval, a column
    per method, the bare row's among them; a method's mean below the bare row's same mean (as printed)
    carries ``<``, and every such figure is listed after the table."""
    r = report.target_recall
    methods = report.methods
    lines = [f"== {report.target}: {report.records} judged ({report.positives} in scope, {report.placed} with a "
             f"subsection, {report.title_only} title only), {report.repeats} repeats of {report.folds} stratified "
             f"folds; each method fitted on the training folds only (its own choices nested); target recall {r:g}",
             "   methods as `litmine screen` / `litmine classify` fit them (scope: the scope method of that name; "
             "place: the classifier); bare: LogisticRegression(class_weight=\"balanced\") on the embeddings",
             f"   mean sd [bootstrap 95%] over the repeats; title only: {report.title_only} of {report.records}"
             + (" (so the abstract stratum equals all, not printed)" if not report.title_only else ""),
             f"   {'stratum':<11}{'metric':<16}" + "".join(f"{m.split(':')[0]:>32}" for m in methods)]
    strata = [s for s in dict.fromkeys(k[1] for k in report.figures) if s != "abstract" or report.title_only]
    below = []
    for stratum in strata:
        for metric in (*SCOPE_METRICS, *PLACEMENT_METRICS):
            cells = []
            name = ("scope " if metric in SCOPE_METRICS else "place ") + LABELS[metric].format(r=f"{r:g}")
            bare = report.figures.get((BARE, stratum, metric))
            for method in methods:
                s = report.figures.get((method, stratum, metric))
                cell = "-" if s is None else f"{s.mean:.3f} sd {s.sd:.3f} [{s.low:.3f}, {s.high:.3f}]"
                if s is not None and bare is not None and method != BARE and round(s.mean, 3) < round(bare.mean, 3):
                    cell += BELOW  # below the bare row's same figure, as printed
                    below.append(f"   {method.split(':')[0]} {stratum} {name}: {s.mean:.3f} against {BARE} {bare.mean:.3f}")
                cells.append(cell)
            if all(c == "-" for c in cells):
                continue
            lines.append(f"   {stratum:<11}{name:<16}" + "".join(f"{c:>32}" for c in cells))
    for key, chosen in report.choices.items():
        keys = [k for k in chosen[0] if k in ("survey_weight", "C", "mix")]
        lines.append(f"   {key}: choices over {len(chosen)} outer folds: "
                     + "; ".join(f"{k} {_counts([c[k] for c in chosen])}" for k in keys))
    lines.append(f"   below the {BARE} row ({BELOW}): {len(below) or 'none'}")
    return lines + below


def _counts(values: list[float]) -> str:
    from collections import Counter

    return ", ".join(f"{k:g} x{n}" for k, n in sorted(Counter(values).items()))


def format_targets(report: harness.Report) -> list[str]:
    """Issue 21's targets, each met or missed by how much (each method's mean, all records)."""
    lines = []
    for method in report.methods:
        for metric, goal in TARGETS.items():
            s = report.figures.get((method, "all", metric))
            if s is not None:
                lines.append(f"   target {method.split(':')[0]} {LABELS[metric]} >= {goal}: {s.mean:.3f} "
                             + ("met" if s.mean >= goal else f"missed by {goal - s.mean:.3f}"))
    return lines


def new_paper_sections(store, env, target_recall: float, repeats: int = 10, folds: int = 5, seed: int = 0,
                       survey: bool = True, methods: list[str] | None = None) -> list[str]:
    """`litmine evaluate`'s first lines: the new papers, then the survey's own works (nothing when
    no candidate has been judged)."""
    records = load_records(store, env.embedder.model_id)
    if records.candidate.sum() == 0:
        return ["== new papers: no judged candidate (load the survey's screening labels or record decisions)"]
    setup = harness.load_setup(store, env)
    methods = list(methods or DEFAULT_METHODS)
    new = harness.run(records, setup, methods, None, repeats, folds, target_recall, seed)
    lines = format_new_papers(new) + format_targets(new)
    own_works = np.flatnonzero(~records.candidate)
    if survey and len(own_works) and min(records.inside[own_works].sum(), (~records.inside[own_works]).sum()) >= 2 * folds:
        own = harness.run(records, setup, methods, own_works, repeats, folds, target_recall, seed,
                          label="survey works")
        lines += [""] + format_new_papers(own)
    return lines + [""]


# -- the learning curve on new papers --------------------------------------------------------------

CURVE_KS = (0, 10, 20, 40, 80)
CURVE_METRICS = ("recall", "precision", "top1", "top3")
DEFAULT = Choice(0.3, 3.0, 0.5)  # fixed before the curve is drawn: no setting is chosen on the candidates it scores


@dataclass
class CurvePoint:
    k: int
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one value per repeat


def _threshold(f: Features, r: Records, train: np.ndarray, choice: Choice, target: float, seed: int) -> float:
    """The recall-first threshold from inner out-of-fold probabilities of ``train``: on its candidates
    when they hold three in-scope ones, else on all of it."""
    y = r.inside[train]
    oof = np.zeros(len(train))
    for tr, te in _splits(y, 3, seed):
        oof[te] = _scope_probs(f, r, train[tr], train[te], choice.survey_weight, choice.C, (choice.mix,))[choice.mix]
    cal = r.candidate[train]
    if (y & cal).sum() < 3:
        cal = np.ones(len(train), bool)
    return recall_threshold(oof[cal], y[cal], target)


def learning_curve(records: Records, ks=CURVE_KS, repeats: int = 10, share: float = 0.8, batch: int = 10,
                   target_recall: float = 0.95, seed: int = 0, choice: Choice = DEFAULT,
                   features: Features | None = None) -> list[CurvePoint]:
    """Scope recall and precision (at the recall-first threshold) and placement top-1/top-3 on the
    candidates not yet reviewed, after k reviewed ones, drawn in the queue's own order (the most likely
    in scope first, the model refitted every ``batch``), on ``repeats`` stratified ``share`` subsamples
    of the judged candidates; the survey's works always train."""
    target_recall = check_target_recall(target_recall, "target_recall")
    f = features or Features(records)
    survey = np.flatnonzero(~records.candidate)
    candidates = np.flatnonzero(records.candidate)
    rng = np.random.default_rng(seed)
    points = [CurvePoint(k, {m: [] for m in CURVE_METRICS}) for k in ks]
    for rep in range(repeats):
        y = records.inside[candidates]
        pool = np.concatenate([rng.choice(candidates[y == c], int(round(share * (y == c).sum())), replace=False)
                               for c in (True, False)])
        reviewed: list[int] = []
        for point in points:
            while len(reviewed) < min(point.k, len(pool) - 1):
                left = np.setdiff1d(pool, reviewed)
                p = _scope_probs(f, records, np.concatenate([survey, reviewed]).astype(int), left,
                                 choice.survey_weight, choice.C, (choice.mix,))[choice.mix]
                reviewed += left[np.argsort(-p, kind="stable")[:min(batch, point.k - len(reviewed))]].tolist()
            train = np.concatenate([survey, reviewed]).astype(int)
            rest = np.setdiff1d(pool, reviewed)
            threshold = _threshold(f, records, train, choice, target_recall, seed + rep)
            p = _scope_probs(f, records, train, rest, choice.survey_weight, choice.C, (choice.mix,))[choice.mix]
            truth = records.inside[rest]
            chosen = p >= threshold
            point.values["recall"].append(float((chosen & truth).sum() / max(1, truth.sum())))
            point.values["precision"].append(float((chosen & truth).sum() / chosen.sum()) if chosen.any() else 0.0)
            placed = _placed(records, rest)
            classes, by_mix = _placement_probs(f, records, train, placed, choice.survey_weight, choice.C, (choice.mix,))
            ranked = [[classes[j] for j in np.argsort(-row, kind="stable")[:3]] for row in by_mix[choice.mix]]
            got = _ranked_figures(ranked, [records.subsection[i] for i in placed])
            point.values["top1"].append(got["top1"])
            point.values["top3"].append(got["top3"])
        log.info("learning curve: repeat %d of %d done", rep + 1, repeats)
    return points


def format_curve(points: list[CurvePoint]) -> list[str]:
    lines = [f"   {'k':>3}" + "".join(f"{m:>20}" for m in CURVE_METRICS)]
    for pt in points:
        lines.append(f"   {pt.k:>3}" + "".join(f"{np.mean(pt.values[m]):>12.3f} sd {np.std(pt.values[m], ddof=1) if len(pt.values[m]) > 1 else 0:.3f}"
                                             for m in CURVE_METRICS))
    return lines


def plot_curve(points: list[CurvePoint], path, title: str = "New papers: quality after k reviewed candidates"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ks = [pt.k for pt in points]
    for ax, metrics, goals, name in ((axes[0], ("recall", "precision"), (0.95, 0.5), "scope"),
                                     (axes[1], ("top1", "top3"), (0.6, 0.85), "placement")):
        for metric, goal in zip(metrics, goals):
            mean = np.array([np.mean(pt.values[metric]) for pt in points])
            sd = np.array([np.std(pt.values[metric]) for pt in points])
            line = ax.plot(ks, mean, marker="o", label=f"{metric} (target {goal})")[0]
            ax.fill_between(ks, mean - sd, mean + sd, alpha=0.2, color=line.get_color())
            ax.axhline(goal, linestyle=":", color=line.get_color(), linewidth=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(ks)
        ax.set_xlabel("reviewed candidates (queue order)")
        ax.set_title(f"{name}, on the candidates not yet reviewed")
        ax.legend(fontsize="small", loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
