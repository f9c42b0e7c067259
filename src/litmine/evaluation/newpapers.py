"""New papers: how well scope and placement do on the screening candidates, by a nested evaluation
that cannot be tuned on.

The records are the survey's works (their scope known from the survey, their primary subsection) and
the judged candidates (the seed's screening labels and reviewers' decisions: in or out, the agreed
subsection of an in-scope one). ``evaluate_new_papers`` splits the *target* records (the candidates,
or, second, the survey's works) ``repeats`` times into ``folds`` stratified folds; every other record
is always training data. For each outer fold, every choice is made on the training part only, by an
inner ``inner_folds``-fold split of its target records:

- scope (``litmine``): the weight of the survey's works against the judged candidates, the penalty
  1/C of a class-balanced linear (ridge) model on the embeddings and the mix of it with the same model
  on TF-IDF features of title and abstract (ASReview's default features; a mix of 0 is the TF-IDF model
  alone), chosen by average precision on the inner folds; then the threshold at which the inner
  out-of-fold scores reach ``target_recall`` of the in-scope candidates;
- placement (``litmine``): the same weight, C and mix for a class-balanced linear model with a score
  per subsection (one-vs-rest ridge), chosen by top-1 on the inner folds.

``bare`` beside it on the same folds and training records: scikit-learn's ``LogisticRegression()``
with its defaults on the embeddings, threshold 0.5. Figures per repeat (the out-of-fold predictions of
all target records pooled): scope recall and precision at the model's threshold, precision at the
target recall reached in the ranking (ranking only, no threshold), average precision, WSS@95;
placement top-1, top-3, macro F1 over the in-scope records with a subsection. Reported as the mean
over repeats, their standard deviation and a bootstrap 95% interval (records resampled, the mean
over repeats recomputed), for all records and apart for records known by their title only.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from litmine.classify.scope import check_target_recall, recall_threshold
from litmine.errors import ClassifierError
from litmine.store import methods as methods_store

log = logging.getLogger(__name__)

SURVEY_WEIGHTS = (0.1, 0.3, 1.0)
CS = (0.3, 3.0)  # ridge penalties 1/C
MIXES = (0.0, 0.5, 1.0)  # share of the embedding model in the mean with the TF-IDF model
SCOPE_METRICS = ("recall", "precision", "p_at_target", "ap", "wss95")
PLACEMENT_METRICS = ("top1", "top3", "macro_f1")


@dataclass
class Records:
    """The evaluation's records, aligned: text, vector, scope, primary subsection (or None), whether a
    judged candidate (else a survey work) and whether known by its title only."""

    ids: list[int]
    texts: list[str]
    vectors: np.ndarray
    inside: np.ndarray
    subsection: list[str | None]
    candidate: np.ndarray
    title_only: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def wss(p: np.ndarray, y: np.ndarray, recall: float = 0.95) -> float:
    """Work saved over sampling at ``recall``: the share not screened, in the order of ``p``, when
    that share of the positives is found, less 1 - ``recall``."""
    order = np.argsort(-p, kind="stable")
    found = np.cumsum(y[order])
    needed = math.ceil(recall * y.sum() - 1e-9)
    screened = int(np.argmax(found >= needed)) + 1
    return (len(y) - screened) / len(y) - (1 - recall)


def _ap(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-p, kind="stable")
    hits = y[order].astype(float)
    if not hits.sum():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def scope_figures(p: np.ndarray, y: np.ndarray, threshold: float, target: float) -> dict[str, float]:
    y = y.astype(bool)
    pred = p >= threshold
    tp = float((pred & y).sum())
    order = np.argsort(-p, kind="stable")
    found = np.cumsum(y[order])
    k = int(np.argmax(found >= math.ceil(target * y.sum() - 1e-9))) + 1 if y.any() else len(y)
    return {"recall": tp / y.sum() if y.any() else float("nan"),
            "precision": tp / pred.sum() if pred.any() else 0.0,
            "p_at_target": float(found[k - 1] / k) if y.any() else float("nan"),
            "ap": _ap(p, y), "wss95": wss(p, y) if y.any() else float("nan")}


def load_records(store, model_id: str) -> Records:
    """Every work whose scope is known and that has a ``model_id`` vector: the judged candidates (the
    seed's screening labels, reviewers' decisions) and the survey's works, each with its primary
    subsection where it has one (a candidate's: its screening or reviewer placement label)."""
    from litmine.classify import load_examples, load_taxonomy
    from litmine.classify.scope import load_scope_examples

    taxonomy = load_taxonomy(store, "litmine evaluate")
    placement = taxonomy.placement
    scoped = [ex for ex in load_scope_examples(store, model_id) if ex.item.vector is not None]
    primary = {ex.item.work_id: ex.primary_label(placement) for ex in load_examples(store, model_id, taxonomy=taxonomy)}
    with store.connect(read_only=True) as con:
        judged = methods_store.judged_labels(con, placement)
    if not scoped:
        raise ClassifierError(f"no work with a known scope has a {model_id} vector: run `litmine embed` first")
    return Records([ex.item.work_id for ex in scoped], [ex.item.text for ex in scoped],
                   np.vstack([ex.item.vector for ex in scoped]).astype(np.float64),
                   np.array([ex.inside for ex in scoped]),
                   [judged.get(ex.item.work_id) or primary.get(ex.item.work_id) for ex in scoped],
                   np.array([ex.origin in ("screening", "human") for ex in scoped]),
                   np.array([ex.item.title_only for ex in scoped]))


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
                 mixes=MIXES) -> dict[float, np.ndarray]:
    """Scope scores of ``test`` per mix (higher: more likely in scope), models fitted on ``train``."""
    y = r.inside[train]
    w = _balanced(y, _weights(r, train, sw))
    return {m: s[:, 0] for m, s in _mixed(f, train, test, np.where(y, 1.0, -1.0)[:, None], w, C, mixes).items()}


def _placed(r: Records, idx: np.ndarray) -> np.ndarray:
    return np.array([i for i in idx if r.inside[i] and r.subsection[i]], dtype=int)


def _placement_probs(f: Features, r: Records, train: np.ndarray, test: np.ndarray, sw: float, C: float,
                     mixes=MIXES) -> tuple[list[str], dict[float, np.ndarray]]:
    """Placement scores of ``test`` per mix (a column per subsection), fitted on ``train``'s placed records."""
    train = _placed(r, train)
    y = [r.subsection[i] for i in train]
    classes = sorted(set(y))
    onehot = np.array([[label == c for c in classes] for label in y], dtype=float)
    return classes, _mixed(f, train, test, onehot, _balanced(y, _weights(r, train, sw)), C, mixes)


def _splits(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(folds, int(np.bincount(y.astype(int)).min())))
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


@dataclass
class Choice:
    survey_weight: float
    C: float
    mix: float
    threshold: float = 0.5
    score: float = float("nan")


def choose_scope(f: Features, r: Records, train: np.ndarray, targets: np.ndarray, target_recall: float,
                 inner_folds: int, seed: int) -> Choice:
    """Weight, C and mix by average precision over inner folds of the training ``targets``, then the
    threshold at ``target_recall`` of the inner out-of-fold probabilities."""
    others = np.setdiff1d(train, targets)
    y = r.inside[targets]
    oof = {(sw, C): {m: np.zeros(len(targets)) for m in MIXES} for sw in SURVEY_WEIGHTS for C in CS}
    for tr, te in _splits(y, inner_folds, seed):
        fit_on = np.concatenate([others, targets[tr]])
        for (sw, C), by_mix in oof.items():
            for m, p in _scope_probs(f, r, fit_on, targets[te], sw, C).items():
                by_mix[m][te] = p
    scored = [(_ap(p, y), -abs(sw - 0.3), (sw, C, m)) for (sw, C), by_mix in oof.items() for m, p in by_mix.items()]
    ap, _, (sw, C, m) = max(scored)
    return Choice(sw, C, m, recall_threshold(oof[(sw, C)][m], y, target_recall), ap)


def choose_placement(f: Features, r: Records, train: np.ndarray, targets: np.ndarray, inner_folds: int,
                     seed: int) -> Choice:
    """Weight, C and mix by top-1 over inner folds of the training targets that have a subsection
    (the survey's works at weight 1 and mix 1 when fewer than two per fold)."""
    placed = _placed(r, targets)
    if len(placed) < 2 * inner_folds:
        return Choice(1.0, 1.0, 1.0)
    others = np.setdiff1d(train, placed)
    hits = {(sw, C, m): 0 for sw in SURVEY_WEIGHTS for C in CS for m in MIXES}
    from sklearn.model_selection import KFold

    for tr, te in KFold(inner_folds, shuffle=True, random_state=seed).split(placed):
        fit_on = np.concatenate([others, placed[tr]])
        truth = [r.subsection[i] for i in placed[te]]
        for sw in SURVEY_WEIGHTS:
            for C in CS:
                classes, by_mix = _placement_probs(f, r, fit_on, placed[te], sw, C)
                for m, s in by_mix.items():
                    hits[(sw, C, m)] += sum(classes[j] == t for j, t in zip(s.argmax(axis=1), truth))
    (sw, C, m), best = max(hits.items(), key=lambda kv: (kv[1], -abs(kv[0][0] - 0.3)))
    return Choice(sw, C, m, score=best / len(placed))


def _bare_scope(f: Features, r: Records, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression().fit(f.x[train], r.inside[train]).predict_proba(f.x[test])[:, 1]


def _bare_placement(f: Features, r: Records, train: np.ndarray, test: np.ndarray) -> tuple[list[str], np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    train = _placed(r, train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr = LogisticRegression().fit(f.x[train], [r.subsection[i] for i in train])
    return list(lr.classes_), lr.predict_proba(f.x[test])


# -- the evaluation ------------------------------------------------------------------------------


@dataclass
class RepeatPredictions:
    """One repeat's out-of-fold predictions of every target record, per method."""

    scope: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: dict[str, np.ndarray] = field(default_factory=dict)  # the fold's threshold, per record
    placement: dict[str, list[list[str]]] = field(default_factory=dict)  # the ranked subsections, per record
    choices: list[tuple[Choice, Choice]] = field(default_factory=list)


@dataclass
class Summary:
    mean: float
    sd: float
    low: float
    high: float
    n: int


@dataclass
class NewPaperReport:
    target: str  # "new papers" or "survey works"
    records: int
    positives: int
    placed: int
    title_only: int
    repeats: int
    folds: int
    target_recall: float
    figures: dict[tuple[str, str, str], Summary] = field(default_factory=dict)  # (method, stratum, metric)
    choices: list[tuple[Choice, Choice]] = field(default_factory=list)


METHODS = ("litmine", "bare")


def evaluate_new_papers(records: Records, targets: np.ndarray | None = None, repeats: int = 10, folds: int = 5,
                        inner_folds: int = 3, target_recall: float = 0.95, seed: int = 0, bootstrap: int = 200,
                        features: Features | None = None, label: str = "new papers") -> NewPaperReport:
    """The nested evaluation of the module's docstring on ``targets`` (default: the judged candidates)."""
    target_recall = check_target_recall(target_recall, "target_recall")
    if targets is None:
        targets = np.flatnonzero(records.candidate)
    targets = np.asarray(targets, dtype=int)
    y = records.inside[targets]
    if y.sum() < 2 * folds or (~y).sum() < 2 * folds:
        raise ClassifierError(f"{label}: {int(y.sum())} in scope and {int((~y).sum())} out: too few for "
                              f"{folds} folds; judge more candidates or pass fewer folds")
    f = features or Features(records)
    everyone = np.arange(len(records))
    runs: list[RepeatPredictions] = []
    for rep in range(repeats):
        pred = RepeatPredictions({m: np.zeros(len(targets)) for m in METHODS},
                                 {m: np.full(len(targets), 0.5) for m in METHODS},
                                 {m: [[] for _ in targets] for m in METHODS})
        for tr, te in _splits(y, folds, seed + rep):
            train = np.setdiff1d(everyone, targets[te])
            held = targets[te]
            sc = choose_scope(f, records, train, targets[tr], target_recall, inner_folds, seed + rep)
            pc = choose_placement(f, records, train, targets[tr], inner_folds, seed + rep)
            pred.choices.append((sc, pc))
            pred.scope["litmine"][te] = _scope_probs(f, records, train, held, sc.survey_weight, sc.C, (sc.mix,))[sc.mix]
            pred.threshold["litmine"][te] = sc.threshold
            pred.scope["bare"][te] = _bare_scope(f, records, train, held)
            classes, by_mix = _placement_probs(f, records, train, held, pc.survey_weight, pc.C, (pc.mix,))
            bare_classes, bare_s = _bare_placement(f, records, train, held)
            for j, i in enumerate(te):
                pred.placement["litmine"][i] = [classes[k] for k in np.argsort(-by_mix[pc.mix][j], kind="stable")[:3]]
                pred.placement["bare"][i] = [bare_classes[k] for k in np.argsort(-bare_s[j], kind="stable")[:3]]
        runs.append(pred)
        log.info("%s: repeat %d of %d done", label, rep + 1, repeats)
    placed = np.array([bool(records.inside[i] and records.subsection[i]) for i in targets])
    title_only = records.title_only[targets]
    report = NewPaperReport(label, len(targets), int(y.sum()), int(placed.sum()), int(title_only.sum()), repeats,
                            folds, target_recall, choices=[c for run in runs for c in run.choices])
    truth = [records.subsection[i] for i in targets]
    rng = np.random.default_rng(seed)
    strata = {"all": np.ones(len(targets), bool), "abstract": ~title_only, "title-only": title_only}
    for stratum, mask in strata.items():
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        samples = [idx] + [rng.choice(idx, len(idx)) for _ in range(bootstrap)]
        for method in METHODS:
            per_sample = []
            for s in samples:
                scope_vals = [scope_figures(run.scope[method][s], y[s], 0.0, target_recall) for run in runs]
                for v, run in zip(scope_vals, runs):  # the fold's own threshold, record by record
                    chosen = run.scope[method][s] >= run.threshold[method][s]
                    v["recall"] = float((chosen & y[s]).sum() / y[s].sum()) if y[s].any() else float("nan")
                    v["precision"] = float((chosen & y[s]).sum() / chosen.sum()) if chosen.any() else 0.0
                sp = s[placed[s]]
                place_vals = [_ranked_figures([run.placement[method][i] for i in sp], [truth[i] for i in sp])
                              for run in runs]
                per_sample.append(({m: [v[m] for v in scope_vals] for m in SCOPE_METRICS},
                                   {m: [v[m] for v in place_vals] for m in PLACEMENT_METRICS}))
            first_scope, first_place = per_sample[0]
            for metric in (*SCOPE_METRICS, *PLACEMENT_METRICS):
                values = (first_scope if metric in SCOPE_METRICS else first_place)[metric]
                boots = [np.nanmean((sc if metric in SCOPE_METRICS else pl)[metric]) for sc, pl in per_sample[1:]]
                boots = [b for b in boots if not np.isnan(b)]
                if np.all(np.isnan(values)):
                    continue
                low, high = (np.percentile(boots, [2.5, 97.5]) if boots else (float("nan"),) * 2)
                report.figures[(method, stratum, metric)] = Summary(
                    float(np.nanmean(values)), float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0,
                    float(low), float(high), len(idx) if metric in SCOPE_METRICS else int(placed[idx].sum()))
    return report


def _ranked_figures(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    if not truth:
        return {m: float("nan") for m in PLACEMENT_METRICS}
    best = [r[0] if r else None for r in ranked]
    f1s = []
    for label in sorted(set(truth)):
        tp = sum(t == b == label for t, b in zip(truth, best))
        f1s.append(2 * tp / (sum(t == label for t in truth) + sum(b == label for b in best)))
    return {"top1": float(np.mean([t == b for t, b in zip(truth, best)])),
            "top3": float(np.mean([t in r for t, r in zip(truth, ranked)])), "macro_f1": float(np.mean(f1s))}


TARGETS = {"recall": 0.95, "precision": 0.5}
LABELS = {"recall": "recall", "precision": "precision", "p_at_target": "P@R{r}", "ap": "AP", "wss95": "WSS@95",
          "top1": "top-1", "top3": "top-3", "macro_f1": "macro-F1"}


def format_new_papers(report: NewPaperReport) -> list[str]:
    """The printed section: per stratum, each figure's mean, sd and bootstrap 95% interval, litmine's
    row beside the bare row's."""
    r = report.target_recall
    lines = [f"== {report.target}: {report.records} judged ({report.positives} in scope, {report.placed} with a "
             f"subsection, {report.title_only} title only), {report.repeats} repeats of {report.folds} stratified "
             f"folds; every choice made inside the training folds (nested); target recall {r:g}",
             "   litmine: class-balanced linear models on the embeddings and on TF-IDF, survey weight, C, mix and "
             "threshold chosen in inner folds; bare: LogisticRegression() defaults on the embeddings, threshold 0.5",
             f"   mean sd [bootstrap 95%] over the repeats; title only: {report.title_only} of {report.records}"
             + (" (so the abstract stratum equals all, not printed)" if not report.title_only else ""),
             f"   {'stratum':<11}{'metric':<16}" + "".join(f"{m:>31}" for m in METHODS)]
    strata = [s for s in dict.fromkeys(k[1] for k in report.figures) if s != "abstract" or report.title_only]
    for stratum in strata:
        for metric in (*SCOPE_METRICS, *PLACEMENT_METRICS):
            cells = []
            for method in METHODS:
                s = report.figures.get((method, stratum, metric))
                cells.append("-" if s is None else f"{s.mean:.3f} sd {s.sd:.3f} [{s.low:.3f}, {s.high:.3f}]")
            if all(c == "-" for c in cells):
                continue
            name = ("scope " if metric in SCOPE_METRICS else "place ") + LABELS[metric].format(r=f"{r:g}")
            lines.append(f"   {stratum:<11}{name:<16}" + "".join(f"{c:>31}" for c in cells))
    if report.choices:
        sws = [c[0].survey_weight for c in report.choices]
        mixes = [c[0].mix for c in report.choices]
        psw = [c[1].survey_weight for c in report.choices]
        pmix = [c[1].mix for c in report.choices]
        lines.append(f"   choices over {len(report.choices)} outer folds: scope survey weight "
                     f"{_counts(sws)}, embedding share {_counts(mixes)}, threshold mean "
                     f"{np.mean([c[0].threshold for c in report.choices]):.3f}; placement survey weight {_counts(psw)}, "
                     f"embedding share {_counts(pmix)}")
    return lines


def _counts(values: list[float]) -> str:
    from collections import Counter

    return ", ".join(f"{k:g} x{n}" for k, n in sorted(Counter(values).items()))


def format_targets(report: NewPaperReport) -> list[str]:
    """The targets, each met or missed by how much (litmine's mean, all records)."""
    get = lambda m: report.figures.get(("litmine", "all", m))  # noqa: E731
    lines = []
    for metric, goal in (("recall", 0.95), ("precision", 0.5)):
        s = get(metric)
        if s is not None:
            lines.append(f"   target scope {metric} >= {goal}: {s.mean:.3f} "
                         + ("met" if s.mean >= goal else f"missed by {goal - s.mean:.3f}"))
    return lines


def new_paper_sections(store, env, target_recall: float, repeats: int = 10, folds: int = 5, seed: int = 0,
                       inner_folds: int = 3, survey: bool = True) -> list[str]:
    """`litmine evaluate`'s first lines: the new papers, then the survey's own works (nothing when
    no candidate has been judged)."""
    records = load_records(store, env.embedder.model_id)
    if records.candidate.sum() == 0:
        return ["== new papers: no judged candidate (load the survey's screening labels or record decisions)"]
    features = Features(records)
    lines = []
    new = evaluate_new_papers(records, None, repeats, folds, inner_folds, target_recall, seed, features=features)
    lines += format_new_papers(new) + format_targets(new)
    own_works = np.flatnonzero(~records.candidate)
    if survey and len(own_works) and min(records.inside[own_works].sum(), (~records.inside[own_works]).sum()) >= 2 * folds:
        own = evaluate_new_papers(records, own_works, repeats, folds, inner_folds, target_recall, seed,
                                  features=features, label="survey works")
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
