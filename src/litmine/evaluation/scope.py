"""How well litmine decides scope: out-of-fold figures, and a screening simulation.

Both are reports of the evaluation harness (``litmine.evaluation.harness.out_of_fold``): a method
built by name through the plugin door, fitted on a fold's training part exactly as ``litmine screen``
fits it, predicting the held-out part.

Out of fold: the judged candidates (the seed's screening labels, reviewers' scope decisions) are split
into ``folds`` stratified folds with a fixed seed; each method is fitted on everything else (the
survey's works and the other folds) and scores the held-out fold, so every candidate is scored once
by a model that never saw it. Reported per method and stratum (``silver-agree``: the candidates both
annotators judged alike; ``human``: reviewers' decisions): precision, recall and F1 at the method's
stored threshold (the mean over the folds), and average precision. The candidates judged
``borderline`` and those the annotators disputed are never trained on; they are scored by one more
fold of the harness, trained on everything, and reported on their own (share called in, mean
probability). Beside every method, ``bare``: scikit-learn's ``LogisticRegression(class_weight="balanced")``
on the stored vectors, same folds (``litmine.classify.bare``, also a member of the scope ensemble); a
method's F1 or AP below bare's is marked ``<`` and listed last.

The screening simulation replays a reviewer: the survey's works are the prior knowledge, the judged
candidates are the pool, revealed ``batch`` at a time in the order litmine would ask (the most likely
in scope first). Each retraining is one fold of the harness: the scope method (``supervised``, as
``litmine screen -m supervised`` fits it: TF-IDF fitted on the training texts only, calibrated,
thresholded) trained on the prior and the candidates revealed so far, predicting the rest. WSS@95 is
the share of the pool not screened when 95% of its in-scope papers are found, less 5%; recall@10% and
@20% are the share of them found after screening that much of the pool.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from litmine.classify.bare import BARE
from litmine.classify.method import SCOPE
from litmine.classify.scope import ScopeContext, ScopeExample, _items, load_context, load_scope_examples
from litmine.evaluation import harness
from litmine.store.review import DECISION_ORDER
from litmine.store import Store
from litmine.store import methods as methods_store

log = logging.getLogger(__name__)

JUDGED = ("screening", "human")


@dataclass
class ScopeFigures:
    method: str
    stratum: str
    n: int
    positives: int
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    average_precision: float | None = None
    share_in: float | None = None
    mean_probability: float | None = None


@dataclass
class Simulation:
    order: list[int]  # work ids in the order screened
    relevant: list[bool]
    batch: int

    @property
    def found(self) -> np.ndarray:
        return np.cumsum(self.relevant)

    def recall_at(self, share: float) -> float:
        n = max(1, int(round(share * len(self.order))))
        return float(self.found[n - 1] / max(1, sum(self.relevant)))

    @property
    def wss95(self) -> float:
        needed = math.ceil(0.95 * sum(self.relevant))
        screened = int(np.argmax(self.found >= needed)) + 1
        return (len(self.order) - screened) / len(self.order) - 0.05


@dataclass
class ScopeReport:
    figures: list[ScopeFigures] = field(default_factory=list)
    simulation: Simulation | None = None
    plot: Path | None = None


def _binary_figures(method: str, stratum: str, p: np.ndarray, y: np.ndarray, threshold: float) -> ScopeFigures:
    from sklearn.metrics import average_precision_score

    pred = p >= threshold
    tp = float((pred & y).sum())
    precision = tp / pred.sum() if pred.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ap = float(average_precision_score(y, p)) if y.any() and (~y).any() else None
    return ScopeFigures(method, stratum, len(y), int(y.sum()), precision, recall, f1, ap)


def out_of_fold(store: Store, env, methods: list[str], folds: int = 5, seed: int = 0,
                context_negatives: bool = True) -> list[ScopeFigures]:
    """Every method's out-of-fold figures on the judged candidates, and its scores of the uncertain
    ones: a report of the harness (``harness.out_of_fold``), whose folds hold out the judged
    candidates, and one more fold, trained on everything, that scores the uncertain ones."""
    model_id = env.embedder.model_id if env is not None and env.make_embedder is not None else None
    context = load_context(store)
    examples = load_scope_examples(store, model_id, context_negatives)
    with store.connect(read_only=True) as con:
        strata = methods_store.candidate_strata(con)
        uncertain = methods_store.uncertain_candidates(con)
        uncertain_items = _items(con, model_id, sorted(uncertain))
    judged = np.array([i for i, ex in enumerate(examples) if ex.origin in JUDGED], dtype=int)
    y_judged = np.array([examples[i].inside for i in judged])
    everyone = np.arange(len(examples))
    items = [examples[i].item for i in judged] + uncertain_items
    folds_ = [(np.setdiff1d(everyone, judged[te]), te) for _, te in harness.splits(y_judged, folds, seed)]
    if uncertain_items:
        folds_.append((everyone, np.arange(len(judged), len(items))))
    stratum = np.array([strata.get(examples[i].item.work_id, "human") if examples[i].origin == "screening"
                        else "human" for i in judged])
    out = []
    for name in [*methods, BARE]:
        if name == BARE and model_id is None:
            continue
        oof = harness.out_of_fold(SCOPE, name, env, context, examples, items, folds_)
        p = harness.probabilities(oof.predictions[:len(judged)])
        threshold = float(np.mean([m.threshold for m in oof.fitted[:len(folds_) - bool(uncertain_items)]]))
        for s in ("silver-agree", "silver-disagree", "human"):
            mask = stratum == s
            if mask.any():
                out.append(_binary_figures(name, s, p[mask], y_judged[mask], threshold))
        if uncertain_items:
            everything = oof.fitted[-1]
            for kind in ("borderline", "disputed"):
                got = [s.probability for item, s in zip(uncertain_items, oof.predictions[len(judged):])
                       if uncertain[item.work_id] == kind and s is not None and s.probability is not None]
                if got:
                    out.append(ScopeFigures(name, kind, len(got), 0,
                                            share_in=float(np.mean(np.array(got) >= everything.threshold)),
                                            mean_probability=float(np.mean(got))))
    return out


# -- the screening simulation --------------------------------------------------------------------


SIMULATED = "supervised"  # the scope method the simulation retrains (text only: no embedding needed)
BATCH = 10  # candidates revealed between two retrainings in `litmine evaluate` (the review queue's own refit)


def rank_pool(prior: list[ScopeExample], pool: list[ScopeExample], batch: int = 1, most_uncertain: bool = False,
              method: str = SIMULATED, env=None, context: ScopeContext | None = None) -> list[int]:
    """The order a reviewer would screen ``pool`` in (pool indices): each step is one fold of the
    harness, the scope ``method`` fitted on the prior and every label revealed so far (exactly as
    ``litmine screen`` fits it) and predicting the rest; the most likely in scope (or, with
    ``most_uncertain``, the nearest its threshold) ``batch`` at a time."""
    context = context or ScopeContext("")
    examples = [*prior, *pool]
    items = [ex.item for ex in pool]
    revealed: list[int] = []
    left = list(range(len(pool)))
    while left:
        y = np.array([ex.inside for ex in prior] + [pool[i].inside for i in revealed], dtype=bool)
        if min(y.sum(), (~y).sum()) < 2:  # too few of a class to fit on: take the pool in order
            scores = -np.arange(len(left), dtype=float)
        else:
            train = np.r_[np.arange(len(prior)), len(prior) + np.array(revealed, dtype=int)]
            oof = harness.out_of_fold(SCOPE, method, env, context, examples, items, [(train, np.array(left))])
            scores = harness.probabilities(oof.predictions)[left]
            if most_uncertain:
                scores = -np.abs(scores - oof.fitted[0].threshold)
        pick = [left[i] for i in np.argsort(-scores, kind="stable")[:batch]]
        revealed += pick
        left = [i for i in left if i not in set(pick)]
    return revealed


def simulate(store: Store, batch: int = 1, most_uncertain: bool = False, context_negatives: bool = True,
             method: str = SIMULATED, env=None) -> Simulation:
    """Replay screening the judged candidates with the survey as prior knowledge (see the module)."""
    model_id = env.embedder.model_id if env is not None and env.make_embedder is not None else None
    examples = load_scope_examples(store, model_id, context_negatives)
    prior = [ex for ex in examples if ex.origin not in JUDGED]
    pool = [ex for ex in examples if ex.origin in JUDGED]
    order = rank_pool(prior, pool, batch, most_uncertain, method, env, load_context(store))
    return Simulation([pool[i].item.work_id for i in order], [pool[i].inside for i in order], batch)


def plot_recall(curves: dict[str, Simulation], path: Path) -> Path:
    """One figure: recall against share screened, a line per simulation, with random order's diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, sim in curves.items():
        x = np.arange(1, len(sim.order) + 1) / len(sim.order)
        ax.plot(x, sim.found / max(1, sum(sim.relevant)),
                label=f"{label} (WSS@95 {sim.wss95:.2f}, recall@10% {sim.recall_at(0.1):.2f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random order")
    ax.axhline(0.95, color="grey", linewidth=0.5)
    ax.set_xlabel("share of candidates screened")
    ax.set_ylabel("share of in-scope candidates found")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def evaluate_scope(store: Store, env, methods: list[str], folds: int = 5, seed: int = 0, batch: int = BATCH,
                   plot_path: Path | None = None, run_id: str | None = None) -> ScopeReport:
    """Out-of-fold figures and the simulation; rows stored in ``evaluations`` when ``run_id`` is given."""
    report = ScopeReport(out_of_fold(store, env, methods, folds, seed))
    with store.connect(read_only=True) as con:
        judged = methods_store.judged_scope_count(con)
    if judged:
        report.simulation = simulate(store, batch)
        if plot_path is not None:
            report.plot = plot_recall({"litmine": report.simulation}, plot_path)
    if run_id is not None:
        _store_rows(store, report, run_id, {"folds": folds, "seed": seed, "batch": batch})
    return report


def _store_rows(store: Store, report: ScopeReport, run_id: str, config: dict) -> None:
    rows = []
    for f in report.figures:
        for metric in ("precision", "recall", "f1", "average_precision", "share_in", "mean_probability"):
            value = getattr(f, metric)
            if value is not None:
                rows.append((run_id, f"scope-{f.method}", "scope", f.stratum, "in", metric, value))
        rows.append((run_id, f"scope-{f.method}", "scope", f.stratum, "in", "support", f.n))
    sim = report.simulation
    if sim is not None:
        for metric, value in (("wss95", sim.wss95), ("recall_at_10", sim.recall_at(0.1)),
                              ("recall_at_20", sim.recall_at(0.2))):
            rows.append((run_id, "scope-simulation", "scope", "silver-agree", "in", metric, value))
    with store.transaction() as con:
        methods_store.write_evaluations(con, rows, config)


def format_scope_report(report: ScopeReport) -> list[str]:
    """The scope table; a figure below the bare row's (same stratum, as printed) marked ``<``, and a
    closing line listing each, the scope decision's method (``scope-ensemble``) apart from the others."""
    bare = {(f.stratum, m): getattr(f, m) for f in report.figures if f.method == BARE
            for m in ("f1", "average_precision") if getattr(f, m) is not None}
    below: list[str] = []

    def cell(f: ScopeFigures, metric: str) -> str:
        value = getattr(f, metric)
        if value is None:
            return "     -"
        ref = bare.get((f.stratum, metric))
        if f.method != BARE and ref is not None and round(value, 3) < round(ref, 3):
            below.append(f"{f.method} {f.stratum} {'F1' if metric == 'f1' else 'AP'}: {value:.3f} against bare {ref:.3f}")
            return f"{value:6.3f}<"
        return f"{value:6.3f} "

    lines = ["scope (out of fold; borderline and disputed scored by a model fitted on everything; "
             "<: below the bare row):",
             f"  {'method':<11} {'stratum':<16} {'n':>4} {'in':>4} {'P':>6} {'R':>6} {'F1':>6}  {'AP':>6}"]
    for f in report.figures:
        if f.f1 is not None:
            lines.append(f"  {f.method:<11} {f.stratum:<16} {f.n:>4} {f.positives:>4} {f.precision:6.3f} "
                         f"{f.recall:6.3f} {cell(f, 'f1')} {cell(f, 'average_precision')}".rstrip())
        else:
            lines.append(f"  {f.method:<11} {f.stratum:<16} {f.n:>4}    -  called in {f.share_in:.2f}, "
                         f"mean probability {f.mean_probability:.2f}")
    sim = report.simulation
    if sim is not None:
        lines.append(f"screening simulation (survey as prior, {len(sim.order)} candidates, batches of {sim.batch}): "
                     f"WSS@95 {sim.wss95:.3f}, recall@10% {sim.recall_at(0.1):.3f}, recall@20% {sim.recall_at(0.2):.3f}"
                     + (f"; curve: {report.plot}" if report.plot else ""))
    deciding = [b for b in below if b.split()[0] in DECISION_ORDER]
    lines.append(f"scope below the bare row (<), the method that decides scope (ensemble): {len(deciding) or 'none'}"
                 + "".join(f"; {b}" for b in deciding))
    others = [b for b in below if b not in deciding]
    if others:
        lines.append("scope below the bare row (<), methods that decide no work's scope while the ensemble ran: "
                     + "; ".join(others))
    return lines


def scope_section(store: Store, env, data_dir: Path, folds: int = 5, seed: int = 0, batch: int = BATCH,
                  run_id: str | None = None) -> list[str]:
    """The scope lines of `litmine evaluate`: nothing when no candidate's scope has been judged."""
    from litmine.classify.method import default_methods

    with store.connect(read_only=True) as con:
        judged = methods_store.judged_scope_count(con)
    if not judged:
        return []
    plot = Path(data_dir) / "evaluations" / f"scope_recall_{run_id or 'latest'}.png"
    report = evaluate_scope(store, env, default_methods(SCOPE, env), folds, seed, batch, plot, run_id)
    return format_scope_report(report)
