"""Evaluation: how well each classifier recovers held-out labels, by stratified cross-validation.

The label sets are the survey's own, as its seed declares them (``Taxonomy``): the placement set, the
sets derived from it, and the themes where the survey has them. The labelled works (survey labels of
every status, the survey's theme labels, human labels) are split into ``folds`` folds, stratified by
their primary placement label (or theme), with a fixed seed. For each
fold, every method is fitted on the other folds' trainable labels (survey ``verified`` and
``silver-agree``, and human labels: ``silver-disagree`` works are never trained on) and predicts the
fold. So every labelled work is predicted exactly once, by models that never saw it. The folds run
through the one evaluation harness (``litmine.evaluation.harness.out_of_fold``); this module is its
report over the survey's label sets.

Beside every method, ``bare`` is the bare library on the same folds and vectors: scikit-learn's
``LogisticRegression(class_weight="balanced")``, multinomial over the primary placement label, and
one per theme (``litmine.classify.bare``, the same model the ensemble takes as a member); a method
under it is a regression, and the printed report (``litmine.evaluation.report``) marks every figure
below the bare row's and lists them last.

Reported per method, label set (derived, placement, themes) and stratum (all, verified, silver-agree,
silver-disagree, human): per-label precision, recall, F1 and support (for themes also the share of
works assigned it); macro and micro F1, a hit being any label the survey cites the work under; top-1
and top-3 accuracy; expected calibration error (10 bins over every work-label score); and a
confusion matrix of the true label against the best-scoring one. Themes: macro F1 over the themes
with at least ``MIN_THEME_SUPPORT`` positives.

Primary-label figures compare with a single-label baseline: the best-scoring placement label (and
its derived labels) against the work's primary one only, top-1 accuracy and macro F1, over all works and split into
works with an abstract and works known by their title only (strata ``primary``, ``primary-abstract``,
``primary-title-only``). New papers (stratum ``new-papers``): the screening candidates judged in
scope with an agreed placement label (label rows of source ``screening``), predicted by each method
trained on every trainable survey work, same figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litmine.classify import PLACEMENT, TRAIN_STATUSES, Example, Prediction, load_examples, load_taxonomy
from litmine.classify.bare import BARE, Bare
from litmine.classify.base import Taxonomy, WorkItem
from litmine.errors import ClassifierError
from litmine.evaluation import harness
from litmine.evaluation.report import MIN_THEME_SUPPORT, STRATA, format_report
from litmine.store import Store
from litmine.store import methods as methods_store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

PRIMARY_STRATA = ("primary", "primary-abstract", "primary-title-only", "new-papers")


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
             save: bool = True, bare: bool = True) -> Evaluation:
    """Cross-validate every classifier factory in ``methods`` (name -> callable returning a fresh,
    unfitted classifier) on the stored labels, with the bare library beside them (``bare``); store
    the figures in ``evaluations``."""
    taxonomy = load_taxonomy(store, "litmine evaluate")
    placement, themes = taxonomy.placement, taxonomy.themes
    probe = {name: make() for name, make in methods.items()}
    model_ids = {c.env.embedder.model_id for c in probe.values() if c.needs_vectors}
    model_id = next(iter(model_ids)) if model_ids else None
    if bare and model_id is not None and BARE not in methods:
        methods = {BARE: Bare, **methods}
        probe = {BARE: Bare(), **probe}
    everything = load_examples(store, model_id, statuses=TRAIN_STATUSES + ("silver-disagree",), taxonomy=taxonomy)
    with store.connect(read_only=True) as con:
        survey_status = ml_store.survey_status(con)
        with_abstract = methods_store.has_abstract(con)
        screened = methods_store.screened_labels(con, placement)
        new_items = {row[0]: WorkItem.from_row(row)
                     for row in ml_store.work_items(con, model_id, sorted({w for w, _ in screened}))} if screened else {}
    missing = [ex.item.work_id for ex in everything if model_id and ex.item.vector is None]
    if missing:
        raise ClassifierError(
            f"{len(missing)} labelled works have no {model_id} vector: run `litmine embed` first"
        )
    labelled = [ex for ex in everything if ex.positives.get(placement) or ex.positives.get(themes)
                or ex.negatives.get(themes)]
    if len(labelled) < folds * 2:
        raise ClassifierError(f"only {len(labelled)} labelled works: too few for {folds}-fold cross-validation")
    strata = {ex.item.work_id: _stratum(ex, survey_status) for ex in labelled}
    keys = [_stratify_key(ex, taxonomy) for ex in labelled]
    new_papers = [Example(item=new_items[w], positives={placement: {label}}, complete={placement},
                          primary={placement: label})
                  for w, label in screened if w in new_items and (not model_id or new_items[w].vector is not None)]

    config = {"folds": folds, "seed": seed, "embedding_model": model_id, "works": len(labelled),
              "new_papers": len(new_papers),
              "train_statuses": list(TRAIN_STATUSES) + ["human"],
              "methods": {name: {"version": c.version, "params": c.params(), "model": c.model,
                                 "prompt_version": c.prompt_version} for name, c in probe.items()}}
    result = Evaluation(run_id, config)
    # the harness's folds: each fold's trainable works train and it is predicted; then the new papers,
    # predicted by a model trained on every trainable work
    trainable = np.array([_trainable(ex, survey_status) for ex in labelled], dtype=bool)
    folds_ = [(train[trainable[train]], test) for train, test in harness.splits(keys, folds, seed, shrink=False)]
    items = [ex.item for ex in labelled] + [ex.item for ex in new_papers]
    if new_papers:
        folds_.append((np.flatnonzero(trainable), np.arange(len(labelled), len(items))))
    primary = {"primary": labelled,
               "primary-abstract": [ex for ex in labelled if with_abstract.get(ex.item.work_id)],
               "primary-title-only": [ex for ex in labelled if not with_abstract.get(ex.item.work_id)]}
    if new_papers:
        primary["new-papers"] = new_papers
    for name, make in methods.items():
        oof = harness.out_of_fold(PLACEMENT, make, None, taxonomy, labelled, items, folds_)
        log.info("evaluate %s: %d folds%s done", name, folds, " and the new papers" if new_papers else "")
        cv = {item.work_id: p for item, p in zip(items[:len(labelled)], oof.predictions) if p is not None}
        failed = sum(1 for p in cv.values() if p.error is not None)
        result.rows.append((name, "*", "all", "*", "failed_predictions", float(failed)))
        for label_set in taxonomy.all_sets:
            result.rows += _metrics(name, label_set, taxonomy, labelled, cv, strata)
        predictions = {item.work_id: p for item, p in zip(items, oof.predictions) if p is not None}
        for stratum, works in primary.items():
            result.rows += _primary_metrics(name, stratum, taxonomy, works, predictions)
    if save and run_id is not None:
        with store.transaction() as con:
            ml_store.write_evaluation(con, run_id, result.rows, config)
    return result


def _primary_metrics(method: str, stratum: str, taxonomy: Taxonomy, works: list[Example],
                     predictions: dict[int, Prediction]) -> list[tuple]:
    """Single-label figures: the best-scoring placement label (and each derived set's) against the
    primary one."""
    placement = taxonomy.placement
    parents = taxonomy.parents(placement)
    rows = []
    for label_set in (*taxonomy.derived, placement):
        truth, best = [], []
        for ex in works:
            primary = ex.primary_label(placement)
            pred = predictions.get(ex.item.work_id)
            if primary is None or pred is None or pred.error is not None or not pred.scores.get(label_set):
                continue
            scores = pred.scores[label_set]
            truth.append(primary if label_set == placement else parents.get(primary))
            best.append(max(scores, key=lambda label: (scores[label], label)))
        if not truth:
            continue
        ids = taxonomy.ids(label_set)
        f1s = []
        for label in ids:
            support = sum(t == label for t in truth)
            if not support:
                continue
            tp = sum(t == b == label for t, b in zip(truth, best))
            f1s.append(2 * tp / (support + sum(b == label for b in best)))
        rows += [(method, label_set, stratum, "*", "works", float(len(truth))),
                 (method, label_set, stratum, "*", "top1", float(np.mean([t == b for t, b in zip(truth, best)]))),
                 (method, label_set, stratum, "*", "macro_f1", float(np.mean(f1s)))]
    return rows


def _stratum(ex: Example, survey_status: dict[int, str]) -> str:
    return survey_status.get(ex.item.work_id) or "human"


def _trainable(ex: Example, survey_status: dict[int, str]) -> bool:
    return survey_status.get(ex.item.work_id) != "silver-disagree"


def _stratify_key(ex: Example, taxonomy: Taxonomy) -> str:
    primary = ex.primary_label(taxonomy.placement)
    if primary:
        return primary
    themes = sorted(ex.positives.get(taxonomy.themes, ()))
    return "theme:" + themes[0] if themes else "theme:none"


def _truth(ex: Example, label_set: str, taxonomy: Taxonomy) -> tuple[set[str], set[str]] | None:
    """(positives, known negatives) of a work in a set; None when the set is not labelled for it."""
    if label_set in taxonomy.derived:
        source = taxonomy.derived[label_set]
        children = _truth(ex, source, taxonomy)
        if children is None:
            return None
        parents = taxonomy.parents(source)
        pos = {parents[s] for s in children[0] if parents.get(s)}
        return pos, set(taxonomy.ids(label_set)) - pos
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
    is_themes = label_set == taxonomy.themes
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
            if negatives or not is_themes:
                precision = tp / (tp + fp) if tp + fp else 0.0
                recall = tp / support if support else 0.0
                f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
                rows.append((method, label_set, stratum, label, "precision", precision))
                rows.append((method, label_set, stratum, label, "f1", f1))
                if support and (not is_themes or support >= MIN_THEME_SUPPORT):
                    f1s.append(f1)
            if is_themes and k.any():
                rows.append((method, label_set, stratum, label, "share", float(chosen[k, j].mean())))
                rows.append((method, label_set, stratum, label, "labelled_share", float(pos[k, j].mean())))
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        if is_themes:
            rows.append((method, label_set, stratum, "*", "recall", tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0))
            if f1s:
                rows.append((method, label_set, stratum, "*", "macro_f1", float(np.mean(f1s))))
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

__all__ = ["BARE", "MIN_THEME_SUPPORT", "STRATA", "Bare", "Evaluation", "evaluate", "format_report"]
