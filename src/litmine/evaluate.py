"""Evaluation: how well each classifier recovers held-out labels, by stratified cross-validation.

The labelled works (survey labels of every status, human labels) are split into ``folds`` folds,
stratified by their first subsection (or theme), with a fixed seed. For each fold, every method is
fitted on the other folds' trainable labels (survey ``verified`` and ``silver-agree``, and human
labels: ``silver-disagree`` rows are never trained on) and predicts the fold. So every labelled
work is predicted exactly once, by models that never saw it.

Reported per method, label set (part, subsection; theme only where labels exist) and stratum (all,
verified, silver-agree, silver-disagree, human): per-label precision, recall, F1 and support; macro
and micro F1; top-1 and top-3 accuracy (a true label among the 1 or 3 best scores); expected
calibration error (10 bins over every work-label score); and a confusion matrix of the true label
against the best-scoring one. Themes have only positive labels (the seed's examples) unless
reviewers rejected some, so for themes only recall and support mean anything: both are reported,
nothing else.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from litmine.classify import TRAIN_STATUSES, Example, Prediction, load_examples, load_taxonomy
from litmine.classify.base import Taxonomy
from litmine.errors import ClassifierError
from litmine.store import Store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

STRATA = ("all", "verified", "silver-agree", "silver-disagree", "human")


@dataclass
class Evaluation:
    run_id: str | None
    config: dict
    rows: list[tuple] = field(default_factory=list)  # (method, label_set, stratum, label_id, metric, value)
    _index: dict = field(default_factory=dict, repr=False)

    def value(self, method: str, label_set: str, stratum: str, label_id: str, metric: str) -> float | None:
        if len(self._index) != len(self.rows):
            self._index = {tuple(r[:5]): r[5] for r in self.rows}
        return self._index.get((method, label_set, stratum, label_id, metric))


def evaluate(store: Store, methods: dict[str, object], folds: int = 5, seed: int = 0, run_id: str | None = None,
             save: bool = True) -> Evaluation:
    """Cross-validate every classifier factory in ``methods`` (name -> callable returning a fresh,
    unfitted classifier) on the stored labels; store the figures in ``evaluations``."""
    from sklearn.model_selection import StratifiedKFold

    taxonomy = load_taxonomy(store)
    probe = {name: make() for name, make in methods.items()}
    model_ids = {c.env.embedder.model_id for c in probe.values() if c.needs_vectors}
    model_id = next(iter(model_ids)) if model_ids else None
    everything = load_examples(store, model_id, statuses=TRAIN_STATUSES + ("silver-disagree",))
    with store.connect(read_only=True) as con:
        survey_status = ml_store.survey_status(con)
    missing = [ex.item.work_id for ex in everything if model_id and ex.item.vector is None]
    if missing:
        raise ClassifierError(
            f"{len(missing)} labelled works have no {model_id} vector: run `litmine embed` first"
        )
    labelled = [ex for ex in everything if ex.positives.get("subsection") or ex.positives.get("theme")]
    if len(labelled) < folds * 2:
        raise ClassifierError(f"only {len(labelled)} labelled works: too few for {folds}-fold cross-validation")
    strata = {ex.item.work_id: _stratum(ex, survey_status) for ex in labelled}
    keys = [_stratify_key(ex) for ex in labelled]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes with fewer members than folds: sklearn warns, and still splits
        splits = list(splitter.split(np.zeros(len(labelled)), keys))

    config = {"folds": folds, "seed": seed, "embedding_model": model_id, "works": len(labelled),
              "train_statuses": list(TRAIN_STATUSES) + ["human"],
              "methods": {name: {"version": c.version, "params": c.params(), "model": c.model,
                                 "prompt_version": c.prompt_version} for name, c in probe.items()}}
    result = Evaluation(run_id, config)
    for name, make in methods.items():
        predictions: dict[int, Prediction] = {}
        for fold, (train_idx, test_idx) in enumerate(splits):
            train = [labelled[i] for i in train_idx if _trainable(labelled[i], survey_status)]
            test = [labelled[i] for i in test_idx]
            clf = make()
            clf.fit(taxonomy, train)
            for pred in clf.classify([ex.item for ex in test]):
                predictions[pred.work_id] = pred
            log.info("evaluate %s: fold %d of %d done", name, fold + 1, folds)
        failed = sum(1 for p in predictions.values() if p.error is not None)
        result.rows.append((name, "*", "all", "*", "failed_predictions", float(failed)))
        for label_set in ("part", "subsection", "theme"):
            result.rows += _metrics(name, label_set, taxonomy, labelled, predictions, strata)
    if save and run_id is not None:
        with store.transaction() as con:
            ml_store.write_evaluation(con, run_id, result.rows, config)
    return result


def _stratum(ex: Example, survey_status: dict[int, str]) -> str:
    return survey_status.get(ex.item.work_id) or "human"


def _trainable(ex: Example, survey_status: dict[int, str]) -> bool:
    return survey_status.get(ex.item.work_id) != "silver-disagree"


def _stratify_key(ex: Example) -> str:
    subs = sorted(ex.positives.get("subsection", ()))
    if subs:
        return subs[0]
    return "theme:" + sorted(ex.positives.get("theme", ()))[0]


def _truth(ex: Example, label_set: str, taxonomy: Taxonomy) -> tuple[set[str], set[str]] | None:
    """(positives, known negatives) of a work in a set; None when the set is not labelled for it."""
    if label_set == "part":
        subs = _truth(ex, "subsection", taxonomy)
        if subs is None:
            return None
        parents = taxonomy.parents("subsection")
        pos = {parents[s] for s in subs[0] if parents.get(s)}
        return pos, set(taxonomy.ids("part")) - pos
    pos = set(ex.positives.get(label_set, ()))
    neg = set(ex.negatives.get(label_set, ()))
    if label_set in ex.complete:
        neg |= set(taxonomy.ids(label_set)) - pos
    if not pos and not neg:
        return None
    return pos, neg


def _metrics(method: str, label_set: str, taxonomy: Taxonomy, labelled: list[Example],
             predictions: dict[int, Prediction], strata: dict[int, str]) -> list[tuple]:
    ids = taxonomy.ids(label_set)
    rows = []
    for stratum in STRATA:
        works = [ex for ex in labelled if stratum == "all" or strata[ex.item.work_id] == stratum]
        data = []
        for ex in works:
            truth = _truth(ex, label_set, taxonomy)
            pred = predictions.get(ex.item.work_id)
            if truth is None or pred is None or pred.error is not None:
                continue
            data.append((truth, pred))
        if not data:
            continue
        rows.append((method, label_set, stratum, "*", "works", float(len(data))))
        scores = np.array([[p.scores.get(label_set, {}).get(label, np.nan) for label in ids] for _, p in data])
        chosen = np.array([[label in (p.assigned or {}).get(label_set, set()) for label in ids] for _, p in data])
        pos = np.array([[label in t[0] for label in ids] for t, _ in data])
        known = np.array([[label in t[0] or label in t[1] for label in ids] for t, _ in data])
        f1s = []
        tp_all = fp_all = fn_all = 0
        for j, label in enumerate(ids):
            k = known[:, j]
            tp = int((chosen[:, j] & pos[:, j] & k).sum())
            fp = int((chosen[:, j] & ~pos[:, j] & k).sum())
            fn = int((~chosen[:, j] & pos[:, j] & k).sum())
            support = int((pos[:, j] & k).sum())
            negatives = int((~pos[:, j] & k).sum())
            rows.append((method, label_set, stratum, label, "support", float(support)))
            if support:
                rows.append((method, label_set, stratum, label, "recall", tp / support))
            if negatives or label_set != "theme":
                precision = tp / (tp + fp) if tp + fp else 0.0
                recall = tp / support if support else 0.0
                f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
                rows.append((method, label_set, stratum, label, "precision", precision))
                rows.append((method, label_set, stratum, label, "f1", f1))
                if support:
                    f1s.append(f1)
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        if label_set == "theme":
            rows.append((method, label_set, stratum, "*", "recall", tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0))
            continue
        rows.append((method, label_set, stratum, "*", "macro_f1", float(np.mean(f1s)) if f1s else 0.0))
        micro_p = tp_all / (tp_all + fp_all) if tp_all + fp_all else 0.0
        micro_r = tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0
        rows.append((method, label_set, stratum, "*", "micro_f1",
                     2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0))
        filled = np.nan_to_num(scores, nan=-1.0)
        order = np.argsort(-filled, axis=1, kind="stable")
        top1 = [pos[i, order[i, 0]] for i in range(len(data))]
        top3 = [pos[i, order[i, :3]].any() for i in range(len(data))]
        rows.append((method, label_set, stratum, "*", "top1", float(np.mean(top1))))
        rows.append((method, label_set, stratum, "*", "top3", float(np.mean(top3))))
        rows.append((method, label_set, stratum, "*", "ece", _ece(scores[known], pos[known])))
        for i in range(len(data)):
            best = ids[order[i, 0]]
            truths = [ids[j] for j in range(len(ids)) if pos[i, j]]
            if not truths:
                continue
            true = best if best in truths else truths[0]
            rows.append((method, label_set, stratum, true, f"predicted:{best}", 1.0))
    return _sum_confusion(rows)


def _sum_confusion(rows: list[tuple]) -> list[tuple]:
    out, counts = [], {}
    for row in rows:
        if row[4].startswith("predicted:"):
            counts[row[:5]] = counts.get(row[:5], 0.0) + 1.0
        else:
            out.append(row)
    return out + [(*key, value) for key, value in sorted(counts.items())]


def _ece(scores: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean score - share of positives| per score bin, weighted by bin size."""
    ok = ~np.isnan(scores)
    scores, truth = scores[ok], truth[ok].astype(float)
    if scores.size == 0:
        return float("nan")
    edges = np.clip((scores * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = edges == b
        if mask.any():
            total += mask.sum() * abs(scores[mask].mean() - truth[mask].mean())
    return float(total / scores.size)


# -- the printed report -----------------------------------------------------------------------------


def format_report(result: Evaluation, taxonomy: Taxonomy) -> str:
    """Every figure, as plain-text tables: a summary per method and label set, a per-label table with
    a column group per stratum, and the confusion matrix."""
    lines: list[str] = []
    methods = list(dict.fromkeys(r[0] for r in result.rows))
    cfg = result.config
    lines.append(f"{cfg['folds']}-fold cross-validation, seed {cfg['seed']}, {cfg['works']} labelled works, "
                 f"embeddings {cfg['embedding_model']}")
    for method in methods:
        failed = result.value(method, "*", "all", "*", "failed_predictions")
        lines.append("")
        lines.append(f"== {method} ({cfg['methods'][method]['version']}"
                     f"{', ' + str(int(failed)) + ' failed predictions' if failed else ''})")
        for label_set in ("part", "subsection", "theme"):
            strata = [s for s in STRATA if result.value(method, label_set, s, "*", "works")]
            if not strata:
                lines.append(f"-- {label_set}: no labelled works")
                continue
            lines.append(f"-- {label_set}")
            if label_set == "theme":
                lines.append("   themes have positive labels only (the seed's examples): recall and support only")
                lines.append(f"   {'stratum':<16}{'works':>6}{'recall':>8}")
                for s in strata:
                    lines.append(f"   {s:<16}{int(result.value(method, label_set, s, '*', 'works')):>6}"
                                 f"{_f(result.value(method, label_set, s, '*', 'recall')):>8}")
            else:
                lines.append(f"   {'stratum':<16}{'works':>6}{'macroF1':>9}{'microF1':>9}{'top1':>7}{'top3':>7}{'ECE':>7}")
                for s in strata:
                    v = lambda m: result.value(method, label_set, s, "*", m)  # noqa: E731
                    lines.append(f"   {s:<16}{int(v('works')):>6}{_f(v('macro_f1')):>9}{_f(v('micro_f1')):>9}"
                                 f"{_f(v('top1')):>7}{_f(v('top3')):>7}{_f(v('ece')):>7}")
            missing = [s for s in STRATA if s not in strata]
            if missing:
                lines.append(f"   no labelled works in: {', '.join(missing)}")
            lines.append("   " + f"{'label':<26}" + "".join(f"{s[:15]:>24}" for s in strata))
            metrics = ("recall", "support") if label_set == "theme" else ("precision", "recall", "f1", "support")
            head = " ".join({"precision": "P", "recall": "R", "f1": "F1", "support": "n"}[m] for m in metrics)
            lines.append("   " + " " * 26 + "".join(f"{head:>24}" for _ in strata))
            for label in taxonomy.labels[label_set]:
                name = f"{label.label_id} {label.name}"[:25]
                cells = []
                for s in strata:
                    vals = [result.value(method, label_set, s, label.label_id, m) for m in metrics]
                    cells.append(" ".join(_f(v) if m != "support" else (str(int(v)) if v is not None else "-")
                                          for v, m in zip(vals, metrics)))
                lines.append("   " + f"{name:<26}" + "".join(f"{c:>24}" for c in cells))
            if label_set != "theme":
                lines += _confusion(result, method, label_set, taxonomy)
    return "\n".join(lines)


def _confusion(result: Evaluation, method: str, label_set: str, taxonomy: Taxonomy) -> list[str]:
    ids = taxonomy.ids(label_set)
    width = max(4, max(len(i) for i in ids) + 1)
    lines = ["   confusion (all works; rows: true label, columns: best-scoring label)",
             "   " + " " * width + "".join(f"{i:>{width}}" for i in ids)]
    for true in ids:
        counts = [result.value(method, label_set, "all", true, f"predicted:{p}") for p in ids]
        lines.append("   " + f"{true:<{width}}" + "".join(f"{int(c) if c else '.':>{width}}" for c in counts))
    return lines


def _f(value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.2f}"
