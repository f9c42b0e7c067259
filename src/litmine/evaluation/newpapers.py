"""New papers: `litmine evaluate`'s first section, a report of the evaluation harness
(``litmine.evaluation.harness``) on the judged screening candidates, then on the survey's own works.

The methods are the registered ones ``litmine screen`` / ``litmine classify`` store (``tuned`` and
``ensemble`` unless named), each fitted on the training folds exactly as those commands fit it, beside
``bare``; every choice a method makes is made in its own ``fit``, on the training part only (nested).

The learning curve below is a report of the harness too: the stored method (the ensemble unless
named) and ``bare`` beside it, fitted after each k reviewed candidates drawn in the review queue's order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from litmine.classify.scope import check_target_recall
from litmine.classify.bare import BARE
from litmine.errors import ClassifierError
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


# -- the learning curve on new papers: a report of the harness ------------------------------------

CURVE_KS = (0, 10, 20, 40, 80)
CURVE_METRICS = ("recall", "precision", "top1", "top3")
CURVE_METHOD = "ensemble"


@dataclass
class CurvePoint:
    k: int
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one value per repeat


def learning_curve(records: Records, setup: harness.Setup, method: str = CURVE_METHOD, ks=CURVE_KS,
                   repeats: int = 10, share: float = 0.8, batch: int = 10, target_recall: float = 0.95,
                   seed: int = 0) -> dict[str, list[CurvePoint]]:
    """Per method (``method``, then ``bare`` beside it): scope recall and precision (at the method's
    own threshold, fitted for ``target_recall``) and placement top-1/top-3 on the judged candidates
    not yet reviewed, after k reviewed ones, on ``repeats`` stratified ``share`` subsamples of them;
    the survey's works always train. The k reviewed candidates are drawn in the review queue's own
    order: the most likely in scope by ``method`` first, refitted every ``batch``; ``bare`` is fitted
    on the same reviewed candidates. Every fit is one fold of the harness (train: the survey and the
    reviewed candidates; predict: the rest), the methods as ``litmine screen`` / ``litmine classify``
    fit them."""
    from litmine.classify import ClassifierEnv
    from litmine.classify.method import PLACEMENT, SCOPE, available_methods

    target_recall = check_target_recall(target_recall, "target_recall")
    env = replace(setup.env if setup.env is not None else ClassifierEnv(), target_recall=target_recall)
    methods = list(dict.fromkeys([method, BARE]))
    unknown = [m for m in methods if SCOPE not in harness.roles_of(harness.parse_method(m)[0])]
    if unknown:
        raise ClassifierError(f"the learning curve needs a method that decides scope; {unknown[0]!r} does not: "
                              f"choose from {', '.join(sorted({*available_methods(SCOPE), BARE}))}")
    placement = setup.taxonomy.placement
    everyone = np.arange(len(records))
    scope_examples = [records.scope_example(i) for i in everyone]
    placement_examples = [records.placement_example(i, placement) for i in everyone]
    items = [records.item(i) for i in everyone]
    survey = np.flatnonzero(~records.candidate)
    candidates = np.flatnonzero(records.candidate)
    rng = np.random.default_rng(seed)
    curves = {m: [CurvePoint(k, {name: [] for name in CURVE_METRICS}) for k in ks] for m in methods}

    def scope(m, train, rest):
        oof = harness.out_of_fold(SCOPE, m, env, setup.context, scope_examples, items, [(train, rest)])
        return harness.probabilities(oof.predictions)[rest], oof.fitted[0].threshold

    for rep in range(repeats):
        y = records.inside[candidates]
        pool = np.sort(np.concatenate([rng.choice(candidates[y == c], int(round(share * (y == c).sum())),
                                                  replace=False) for c in (True, False)]))
        reviewed: list[int] = []
        fitted = None  # (how many reviewed, train, rest, scores, threshold): one fit per state of the queue
        for at in range(len(ks)):
            k = min(ks[at], len(pool) - 1)
            while True:
                if fitted is None or fitted[0] != len(reviewed):
                    train = np.concatenate([survey, reviewed]).astype(int)
                    rest = np.setdiff1d(pool, reviewed)
                    fitted = (len(reviewed), train, rest, *scope(method, train, rest))
                _, train, rest, p, threshold = fitted
                if len(reviewed) >= k:
                    break
                reviewed += rest[np.argsort(-p, kind="stable")[:min(batch, k - len(reviewed))]].tolist()
            truth = records.inside[rest]
            placed = np.array([i for i in rest if records.inside[i] and records.subsection[i]], dtype=int)
            for m in methods:
                if m != method:
                    p, threshold = scope(m, train, rest)
                chosen = p >= threshold
                values = curves[m][at].values
                # no in-scope candidate left: recall is undefined (nan), not 0
                values["recall"].append(float((chosen & truth).sum() / truth.sum()) if truth.any() else float("nan"))
                values["precision"].append(float((chosen & truth).sum() / chosen.sum()) if chosen.any() else 0.0)
                oof = harness.out_of_fold(PLACEMENT, m, env, setup.taxonomy, placement_examples, items,
                                          [(train, placed)])
                got = ranked_figures(harness.ranked([oof.predictions[i] for i in placed], placement),
                                     [records.subsection[i] for i in placed])
                values["top1"].append(got["top1"])
                values["top3"].append(got["top3"])
        log.info("learning curve: repeat %d of %d done", rep + 1, repeats)
    return curves


def format_curve(curves: dict[str, list[CurvePoint]]) -> list[str]:
    """A row per k: each metric's mean and sd over the repeats, per method (``bare`` beside)."""
    lines = [f"   {'method':<10}{'k':>4}" + "".join(f"{m:>20}" for m in CURVE_METRICS)]
    for method, points in curves.items():
        for pt in points:
            lines.append(f"   {method.split(':')[0]:<10}{pt.k:>4}" + "".join(
                f"{_mean(pt.values[m]):>12.3f} sd {_sd(pt.values[m]):.3f}"
                for m in CURVE_METRICS))
    return lines


def _mean(values: list[float]) -> float:
    """The mean over the repeats where the figure is defined (nan where it is nowhere)."""
    v = np.asarray(values, dtype=float)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")


def _sd(values: list[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.std(ddof=1)) if len(v) > 1 else 0.0


def plot_curve(curves: dict[str, list[CurvePoint]], path,
               title: str = "New papers: quality after k reviewed candidates"):
    """Two panels (scope, placement); the first method's lines solid with their sd band, ``bare``'s dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metrics, goals, name in ((axes[0], ("recall", "precision"), (0.95, 0.5), "scope"),
                                     (axes[1], ("top1", "top3"), (0.6, 0.85), "placement")):
        for metric, goal in zip(metrics, goals):
            color = None
            for n, (method, points) in enumerate(curves.items()):
                ks = [pt.k for pt in points]
                mean = np.array([_mean(pt.values[metric]) for pt in points])
                line = ax.plot(ks, mean, marker="o" if n == 0 else None, linestyle="-" if n == 0 else "--",
                               color=color, label=f"{method.split(':')[0]} {metric}"
                               + (f" (target {goal})" if n == 0 else ""))[0]
                color = line.get_color()
                if n == 0:
                    sd = np.array([_sd(pt.values[metric]) for pt in points])
                    ax.fill_between(ks, mean - sd, mean + sd, alpha=0.2, color=color)
                    ax.axhline(goal, linestyle=":", color=color, linewidth=0.8)
            ax.set_xticks(ks)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("reviewed candidates (queue order)")
        ax.set_title(f"{name}, on the candidates not yet reviewed")
        ax.legend(fontsize="x-small", loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
