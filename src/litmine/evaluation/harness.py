"""The evaluation harness: any registered method, of either role, fitted on training folds and scored
on the held-out ones, beside the bare library in the same run.

The core (``out_of_fold``) is one loop: for each fold (training indices, held-out indices), the
method built by (role, spec) through the one plugin door (``build``), fitted on the training part
only (``fit``), predicting the held-out part (``predict``). Every evaluation of litmine is a report
over it, with its own folds: the new papers (``run``, below), the survey works' cross-validation
(``evaluate``), the scope table and the screening simulation (``scope``: each retraining one fold),
the learning curve (``newpapers.learning_curve``).

The records (``load_records``) are the works whose scope is known: the judged candidates (the seed's
screening labels, reviewers' decisions; their agreed subsection where in scope) and the survey's
works (their scope from the survey, their labels as ``litmine classify`` trains on them). ``run``
splits the *target* records (by default the judged candidates: the new papers) ``repeats`` times
into ``folds`` stratified folds; every other record always trains. For each outer fold, each method
is built by ``get_method(role, name, env, **params)`` (``bare``: ``litmine.classify.bare``), fitted
on the training records only, exactly as ``litmine screen`` / ``litmine classify`` fit it, and scores
the held-out fold: a scope method with its probability and its own threshold, a classifier with its
ranked subsections. A method that chooses settings does so in its own ``fit``, on the training part
only: the evaluation is nested whatever the method does.

Figures per repeat, from the out-of-fold predictions of every target record pooled: scope recall and
precision at each fold's threshold, precision at the target recall reached in the ranking (``P@R``),
average precision, WSS@95; placement top-1, top-3 and macro-F1 over the in-scope targets with a
subsection. Reported as the mean over repeats, their standard deviation and a bootstrap 95% interval
(records resampled, the mean over repeats recomputed), for all targets and apart for those known by
their title only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from litmine.classify.bare import BARE
from litmine.classify.ensemble import member
from litmine.classify.base import Example, Taxonomy, WorkItem
from litmine.classify.method import PLACEMENT, SCOPE, available_methods
from litmine.classify.scope import ScopeContext, ScopeExample, check_target_recall
from litmine.errors import ClassifierError

log = logging.getLogger(__name__)

SCOPE_METRICS = ("recall", "precision", "p_at_target", "ap", "wss95")
PLACEMENT_METRICS = ("top1", "top3", "macro_f1")
ROLES = (SCOPE, PLACEMENT)


@dataclass
class Records:
    """The records, aligned: text, vector, scope, primary subsection (or None), whether a judged
    candidate (else a survey work), whether known by its title only; optionally each record's own
    placement example (a survey work's labels as classification trains on them) and scope origin."""

    ids: list[int]
    texts: list[str]
    vectors: np.ndarray
    inside: np.ndarray
    subsection: list[str | None]
    candidate: np.ndarray
    title_only: np.ndarray
    examples: list[Example | None] | None = None
    origins: list[str] | None = None
    hashes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, i: int) -> WorkItem:
        return WorkItem(self.ids[i], self.texts[i], self.hashes[i] if self.hashes else str(self.ids[i]), None,
                        np.asarray(self.vectors[i], dtype=np.float32), bool(self.title_only[i]))

    def origin(self, i: int) -> str:
        if self.origins:
            return self.origins[i]
        return "screening" if self.candidate[i] else "survey"

    def scope_example(self, i: int) -> ScopeExample:
        return ScopeExample(self.item(i), bool(self.inside[i]), self.origin(i))

    def placement_example(self, i: int, placement: str) -> Example | None:
        """The record as a placement training example: its own (a survey work's labels), else its
        subsection when in scope (a judged candidate's), else None."""
        own = self.examples[i] if self.examples else None
        if own is not None:
            return replace(own, item=self.item(i))
        if self.inside[i] and self.subsection[i]:
            return Example(self.item(i), {placement: {self.subsection[i]}}, complete={placement},
                           sources={"screening" if self.candidate[i] else "survey"},
                           primary={placement: self.subsection[i]})
        return None


@dataclass
class Setup:
    """What every method is fitted with: the scope context, the taxonomy and the classifier env."""

    context: ScopeContext
    taxonomy: Taxonomy
    env: object = None


def load_setup(store, env) -> Setup:
    from litmine.classify import load_taxonomy
    from litmine.classify.scope import load_context

    return Setup(load_context(store), load_taxonomy(store, "litmine evaluate"), env)


def load_records(store, model_id: str) -> Records:
    """Every work whose scope is known and that has a ``model_id`` vector (see the module)."""
    from litmine.classify import load_examples, load_taxonomy
    from litmine.classify.scope import load_scope_examples
    from litmine.store import methods as methods_store

    taxonomy = load_taxonomy(store, "litmine evaluate")
    placement = taxonomy.placement
    scoped = [ex for ex in load_scope_examples(store, model_id) if ex.item.vector is not None]
    if not scoped:
        raise ClassifierError(f"no work with a known scope has a {model_id} vector: run `litmine embed` first")
    own = {ex.item.work_id: ex for ex in load_examples(store, model_id, taxonomy=taxonomy)}
    with store.connect(read_only=True) as con:
        judged = methods_store.judged_labels(con, placement)
    candidate = [ex.origin in ("screening", "human") for ex in scoped]
    records = Records(
        [ex.item.work_id for ex in scoped], [ex.item.text for ex in scoped],
        np.vstack([ex.item.vector for ex in scoped]).astype(np.float64), np.array([ex.inside for ex in scoped]),
        [judged.get(ex.item.work_id) or (own[ex.item.work_id].primary_label(placement)
                                         if ex.item.work_id in own else None) for ex in scoped],
        np.array(candidate), np.array([ex.item.title_only for ex in scoped]),
        [None if c else own.get(ex.item.work_id) for ex, c in zip(scoped, candidate)],
        [ex.origin for ex in scoped], [ex.item.input_hash for ex in scoped])
    return records


# -- methods -----------------------------------------------------------------------------------------


def parse_method(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:key=value;key=value`` (a method with parameters, e.g.
    ``ensemble:members=supervised,bare,tuned``)."""
    name, _, rest = spec.partition(":")
    params = dict(part.split("=", 1) for part in rest.split(";") if "=" in part)
    return name, params


def roles_of(name: str) -> tuple[str, ...]:
    """The roles a method is registered for (``bare``: both)."""
    if name == BARE:
        return ROLES
    return tuple(role for role in ROLES if name in available_methods(role))


# -- the core: a method built by (role, spec), fitted on the training part, predicting the held-out part --


def build(role: str, spec, env):
    """A fresh, unfitted method of ``role``: ``spec`` is ``name`` or ``name:key=value;...`` looked up
    through the one plugin door (``bare``: the bare library), or a callable returning one (a method
    wrapped for a run, e.g. the LLM on a sample)."""
    if callable(spec):
        return spec()
    name, params = parse_method(spec)
    return member(role, name, env, **params)


def fit(role: str, spec, env, data, examples: list):
    """The method ``spec`` of ``role`` fitted on ``examples`` (``data``: the scope context, or the
    taxonomy); an example that is None (nothing to learn in this role) or lacks the vector the method
    reads is left out."""
    method = build(role, spec, env)
    method.fit(data, [ex for ex in examples
                      if ex is not None and (not method.needs_vectors or ex.item.vector is not None)])
    return method


def predict(role: str, method, items: list[WorkItem]) -> list:
    """One prediction per item (None: the method left it out): scope scores, or placement predictions."""
    if not items:
        return []
    return method.score(items) if role == SCOPE else method.classify(items)


@dataclass
class OutOfFold:
    """Each item's prediction by the fold that held it out (None: no fold did, or the method left it
    out), which fold that was (-1: none), and each fold's fitted method."""

    predictions: list
    fold: np.ndarray
    fitted: list


def out_of_fold(role: str, spec, env, data, examples: list, items: list[WorkItem],
                folds: list[tuple[np.ndarray, np.ndarray]]) -> OutOfFold:
    """For each fold (indices of ``examples`` that train, indices of ``items`` it predicts): the
    method fitted on the training examples only, predicting the held-out items. Every report of
    the harness (the new papers, the survey works' cross-validation, the scope table, the screening
    simulation, the learning curve, the review notebook's curve in ``learning``) is this loop over its own folds."""
    out = OutOfFold([None] * len(items), np.full(len(items), -1), [])
    for k, (train, test) in enumerate(folds):
        method = fit(role, spec, env, data, [examples[i] for i in train])
        for j, p in zip(test, predict(role, method, [items[j] for j in test])):
            out.predictions[j] = p
            out.fold[j] = k
        out.fitted.append(method)
    return out


def probabilities(predictions: list) -> np.ndarray:
    """Scope probabilities (0 where a method failed or gave none)."""
    return np.array([p.probability if p is not None and p.probability is not None else 0.0 for p in predictions])


def ranked(predictions: list, placement: str, top: int = 3) -> list[list[str]]:
    """Each prediction's best ``top`` subsections, best first (none where it failed)."""
    out = []
    for pred in predictions:
        scores = (pred.scores.get(placement) or {}) if pred is not None and pred.error is None else {}
        out.append(sorted(scores, key=lambda label: (-scores[label], label))[:top])
    return out


def splits(keys, folds: int, seed: int, shrink: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of ``keys`` (shuffled with ``seed``): ``folds`` of them, fewer where the
    smallest class is smaller (``shrink``; else scikit-learn splits a class rarer than ``folds`` as
    it can)."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    keys = np.asarray(keys)
    if shrink:
        folds = max(2, min(folds, int(np.unique(keys, return_counts=True)[1].min())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes with fewer members than folds: sklearn warns, and still splits
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(keys)), keys))


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class RepeatPredictions:
    """One repeat's out-of-fold predictions of every target record, per method."""

    scope: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: dict[str, np.ndarray] = field(default_factory=dict)  # the fold's threshold, per record
    placement: dict[str, list[list[str]]] = field(default_factory=dict)  # ranked subsections, per record


@dataclass
class Summary:
    mean: float
    sd: float
    low: float
    high: float
    n: int


@dataclass
class Report:
    target: str  # "new papers" or "survey works"
    records: int
    positives: int
    placed: int
    title_only: int
    repeats: int
    folds: int
    target_recall: float
    methods: list[str] = field(default_factory=list)
    figures: dict[tuple[str, str, str], Summary] = field(default_factory=dict)  # (method, stratum, metric)
    choices: dict[str, list[dict]] = field(default_factory=dict)  # (role/method) -> each fold's params()["chosen"]


def run(records: Records, setup: Setup, methods: list[str], targets: np.ndarray | None = None, repeats: int = 10,
        folds: int = 5, target_recall: float = 0.95, seed: int = 0, bootstrap: int = 200,
        label: str = "new papers") -> Report:
    """Every method of ``methods`` (and ``bare``) in each role it is registered for, fitted on the
    training part of each outer fold, scored on its held-out targets (see the module)."""
    from litmine.classify import ClassifierEnv

    target_recall = check_target_recall(target_recall, "target_recall")
    env = setup.env if setup.env is not None else ClassifierEnv()
    setup = replace(setup, env=replace(env, target_recall=target_recall))
    methods = [m for m in dict.fromkeys([*methods, BARE])]
    roles = {m: roles_of(parse_method(m)[0]) for m in methods}
    unknown = [m for m, r in roles.items() if not r]
    if unknown:
        raise ClassifierError(f"unknown method {unknown[0]!r}: choose from "
                              f"{', '.join(sorted({*available_methods(SCOPE), *available_methods(PLACEMENT), BARE}))}")
    if targets is None:
        targets = np.flatnonzero(records.candidate)
    targets = np.asarray(targets, dtype=int)
    y = records.inside[targets]
    if y.sum() < 2 * folds or (~y).sum() < 2 * folds:
        raise ClassifierError(f"{label}: {int(y.sum())} in scope and {int((~y).sum())} out: too few for "
                              f"{folds} folds; judge more candidates or pass fewer folds")
    placement = setup.taxonomy.placement
    everyone = np.arange(len(records))
    runs: list[RepeatPredictions] = []
    choices: dict[str, list[dict]] = {}
    scope_examples = [records.scope_example(i) for i in everyone]
    placement_examples = [records.placement_example(i, placement) for i in everyone]
    items = [records.item(i) for i in targets]
    for rep in range(repeats):
        pred = RepeatPredictions()
        folds_ = [(np.setdiff1d(everyone, targets[te]), te) for _, te in splits(y, folds, seed + rep)]
        for m in methods:
            if SCOPE in roles[m]:
                oof = out_of_fold(SCOPE, m, setup.env, setup.context, scope_examples, items, folds_)
                pred.scope[m] = probabilities(oof.predictions)
                pred.threshold[m] = np.array([oof.fitted[k].threshold for k in oof.fold])
                for method in oof.fitted:
                    _note(choices, f"scope {m}", method)
            if PLACEMENT in roles[m]:
                oof = out_of_fold(PLACEMENT, m, setup.env, setup.taxonomy, placement_examples, items, folds_)
                pred.placement[m] = ranked(oof.predictions, placement)
                for method in oof.fitted:
                    _note(choices, f"placement {m}", method)
        runs.append(pred)
        log.info("%s: repeat %d of %d done", label, rep + 1, repeats)
    placed = np.array([bool(records.inside[i] and records.subsection[i]) for i in targets])
    title_only = records.title_only[targets]
    report = Report(label, len(targets), int(y.sum()), int(placed.sum()), int(title_only.sum()), repeats, folds,
                    target_recall, methods, choices=choices)
    truth = [records.subsection[i] for i in targets]
    strata = {"all": np.ones(len(targets), bool), "abstract": ~title_only, "title-only": title_only}
    for stratum, mask in strata.items():
        idx = np.flatnonzero(mask)
        if len(idx):
            report.figures.update(summarise(runs, y, truth, placed, idx, methods, roles, target_recall, stratum,
                                            bootstrap, seed))
    return report


def _note(choices: dict, key: str, method) -> None:
    chosen = method.params().get("chosen") if hasattr(method, "params") else None
    if chosen:
        choices.setdefault(key, []).append(chosen)


def summarise(runs: list[RepeatPredictions], y: np.ndarray, truth: list, placed: np.ndarray, idx: np.ndarray,
              methods: list[str], roles: dict, target: float, stratum: str, bootstrap: int,
              seed: int) -> dict[tuple[str, str, str], Summary]:
    """Each figure of ``idx``'s records: mean and sd over the repeats, and the bootstrap interval."""
    rng = np.random.default_rng(seed)
    samples = [idx] + [rng.choice(idx, len(idx)) for _ in range(bootstrap)]
    out = {}
    for method in methods:
        per_sample = []
        for s in samples:
            values: dict[str, list[float]] = {}
            if SCOPE in roles[method]:
                for run_ in runs:
                    v = scope_figures(run_.scope[method][s], y[s], run_.threshold[method][s], target)
                    for k, x in v.items():
                        values.setdefault(k, []).append(x)
            if PLACEMENT in roles[method]:
                sp = s[placed[s]]
                for run_ in runs:
                    v = ranked_figures([run_.placement[method][i] for i in sp], [truth[i] for i in sp])
                    for k, x in v.items():
                        values.setdefault(k, []).append(x)
            per_sample.append(values)
        for metric, first in per_sample[0].items():
            if np.all(np.isnan(first)):
                continue
            boots = [np.nanmean(v[metric]) for v in per_sample[1:] if not np.all(np.isnan(v[metric]))]
            low, high = np.percentile(boots, [2.5, 97.5]) if boots else (float("nan"),) * 2
            out[(method, stratum, metric)] = Summary(
                float(np.nanmean(first)), float(np.nanstd(first, ddof=1)) if len(first) > 1 else 0.0,
                float(low), float(high), len(idx) if metric in SCOPE_METRICS else int(placed[idx].sum()))
    return out


# -- metrics -----------------------------------------------------------------------------------------


def wss(p: np.ndarray, y: np.ndarray, recall: float = 0.95) -> float:
    """Work saved over sampling at ``recall``: the share not screened, in the order of ``p``, when
    that share of the positives is found, less 1 - ``recall``."""
    order = np.argsort(-p, kind="stable")
    found = np.cumsum(y[order])
    needed = math.ceil(recall * y.sum() - 1e-9)
    screened = int(np.argmax(found >= needed)) + 1
    return (len(y) - screened) / len(y) - (1 - recall)


def average_precision(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-p, kind="stable")
    hits = y[order].astype(float)
    if not hits.sum():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def scope_figures(p: np.ndarray, y: np.ndarray, threshold, target: float) -> dict[str, float]:
    """Recall and precision at ``threshold`` (one, or one per record), precision at ``target`` recall
    in the ranking, average precision, WSS@95."""
    y = y.astype(bool)
    pred = p >= threshold
    tp = float((pred & y).sum())
    order = np.argsort(-p, kind="stable")
    found = np.cumsum(y[order])
    k = int(np.argmax(found >= math.ceil(target * y.sum() - 1e-9))) + 1 if y.any() else len(y)
    return {"recall": tp / y.sum() if y.any() else float("nan"),
            "precision": tp / pred.sum() if pred.any() else 0.0,
            "p_at_target": float(found[k - 1] / k) if y.any() else float("nan"),
            "ap": average_precision(p, y), "wss95": wss(p, y) if y.any() else float("nan")}


def ranked_figures(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    """Top-1, top-3 and macro-F1 (of the best-ranked subsection) against the truth."""
    if not truth:
        return {m: float("nan") for m in PLACEMENT_METRICS}
    best = [r[0] if r else None for r in ranked]
    f1s = []
    for label in sorted(set(truth)):
        tp = sum(t == b == label for t, b in zip(truth, best))
        f1s.append(2 * tp / (sum(t == label for t in truth) + sum(b == label for b in best)))
    return {"top1": float(np.mean([t == b for t, b in zip(truth, best)])),
            "top3": float(np.mean([t in r for t, r in zip(truth, ranked)])), "macro_f1": float(np.mean(f1s))}
