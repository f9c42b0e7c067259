"""`litmine evaluate`'s printed report: a summary per label set with the bare library's row first,
then every method's tables. Every printed figure of a method below the bare row's same figure (same
label set, stratum and column, as printed) carries ``BELOW`` beside it, and the report closes with a
line listing each of them, the methods whose labels litmine files as the decision apart from those it
does not (``DECISION_METHODS``: ``zeroshot`` is an ensemble member and a review-queue disagreement
signal, the decision only where no trained method labelled a work).
"""

from __future__ import annotations

import numpy as np

from litmine.classify.bare import BARE
from litmine.classify.base import Taxonomy
from litmine.store.review import DECISION_ORDER

STRATA = ("all", "verified", "silver-agree", "silver-disagree", "human")
MIN_THEME_SUPPORT = 5
BELOW = "<"
LOWER_IS_BETTER = ("ece",)


NOT_DECISIONS = ("not decisions litmine files (ensemble members, review-queue signals; the decision only "
                 "where no trained method labelled a work):")


def is_decision(method: str) -> bool:
    """Whether litmine files ``method``'s labels as the decision (``DECISION_ORDER``)."""
    return method in DECISION_ORDER


class Flags:
    """Formats a method's figure, marked ``BELOW`` where it is below the bare row's same figure as
    printed (two decimals), and remembers every mark for the closing lines."""

    def __init__(self, result) -> None:
        self.result = result
        self.below: dict[tuple, tuple[float, float]] = {}

    def __call__(self, method: str, label_set: str, stratum: str, metric: str, column: str | None = None,
                 label_id: str = "*") -> str:
        value = self.result.value(method, label_set, stratum, label_id, metric)
        text = _f(value)
        bare = self.result.value(BARE, label_set, stratum, label_id, metric)
        if method == BARE or text == "-" or _f(bare) == "-":
            return text
        mine, ref = round(value, 2), round(bare, 2)
        if (mine > ref) if metric in LOWER_IS_BETTER else (mine < ref):
            where = f"{column or stratum} {metric if label_id == '*' else label_id + ' ' + metric}"
            self.below.setdefault((method, label_set, stratum, label_id, metric), (where, value, bare))
            return text + BELOW
        return text

    def closing(self) -> list[str]:
        """The closing lines: every figure below the bare row, the decisions litmine files first."""
        marks = list(self.below.items())
        lines = []
        for decision, title in ((True, f"methods whose labels litmine files as the decision ({', '.join(DECISION_ORDER)})"),
                                (False, "methods litmine files no decision from")):
            mine = [(key, v) for key, v in marks if is_decision(key[0]) == decision]
            if not decision and not mine:
                continue
            lines.append(f"below the {BARE} row ({BELOW}), {title}: {len(mine) or 'none'}")
            lines += [f"   {key[0]} {key[1]} {where}: {_f(value)} against {BARE} {_f(bare)}"
                      for key, (where, value, bare) in mine]
        return lines


def format_report(result, taxonomy: Taxonomy) -> str:
    """Every figure, as plain-text tables: a summary per method and label set, a per-label table with
    a column group per stratum, and the confusion matrix."""
    lines: list[str] = []
    methods = list(dict.fromkeys(r[0] for r in result.rows))
    cfg = result.config
    lines.append(f"{cfg['folds']}-fold cross-validation, seed {cfg['seed']}, {cfg['works']} labelled works, "
                 f"embeddings {cfg['embedding_model']}")
    flags = Flags(result)
    lines += _summary(result, methods, taxonomy, flags)
    for method in methods:
        failed = result.value(method, "*", "all", "*", "failed_predictions")
        lines.append("")
        lines.append(f"== {method} ({cfg['methods'][method]['version']}"
                     f"{', ' + str(int(failed)) + ' failed predictions' if failed else ''})")
        for label_set in taxonomy.all_sets:
            is_themes = label_set == taxonomy.themes
            strata = [s for s in STRATA if result.value(method, label_set, s, "*", "works")]
            if not strata:
                lines.append(f"-- {label_set}: no labelled works")
                continue
            lines.append(f"-- {label_set}")
            if is_themes:
                lines.append(f"   macroF1 over themes with at least {MIN_THEME_SUPPORT} positives; share: of the "
                             "works labelled for a theme, those assigned it")
                lines.append(f"   {'stratum':<16}{'works':>6}{'macroF1':>9}{'recall':>8}")
                for s in strata:
                    lines.append(f"   {s:<16}{int(result.value(method, label_set, s, '*', 'works')):>6}"
                                 f"{flags(method, label_set, s, 'macro_f1'):>9}"
                                 f"{flags(method, label_set, s, 'recall'):>8}")
            else:
                lines.append(f"   {'stratum':<16}{'works':>6}{'macroF1':>9}{'microF1':>9}{'top1':>7}{'top3':>7}{'ECE':>7}")
                for s in strata:
                    v = lambda m: flags(method, label_set, s, m)  # noqa: E731
                    works = int(result.value(method, label_set, s, "*", "works"))
                    lines.append(f"   {s:<16}{works:>6}{v('macro_f1'):>9}{v('micro_f1'):>9}"
                                 f"{v('top1'):>7}{v('top3'):>7}{v('ece'):>7}")
            missing = [s for s in STRATA if s not in strata]
            if missing:
                lines.append(f"   no labelled works in: {', '.join(missing)}")
            lines.append("   " + f"{'label':<26}" + "".join(f"{s[:15]:>24}" for s in strata))
            metrics = ("precision", "recall", "f1", "support") + (("share",) if is_themes else ())
            head = " ".join({"precision": "P", "recall": "R", "f1": "F1", "support": "n", "share": "sh"}[m]
                            for m in metrics)
            lines.append("   " + " " * 26 + "".join(f"{head:>24}" for _ in strata))
            for label in taxonomy.labels[label_set]:
                name = f"{label.label_id} {label.name}"[:25]
                cells = []
                for s in strata:
                    vals = [result.value(method, label_set, s, label.label_id, m) for m in metrics]
                    cells.append(" ".join(_f(v) if m != "support" else (str(int(v)) if v is not None else "-")
                                          for v, m in zip(vals, metrics)))
                lines.append("   " + f"{name:<26}" + "".join(f"{c:>24}" for c in cells))
            if not is_themes:
                lines += _confusion(result, method, label_set, taxonomy)
    return "\n".join(lines + [""] + flags.closing())


def _summary(result, methods: list[str], taxonomy: Taxonomy, flags: "Flags") -> list[str]:
    """One line per method and label set: the multi-label figures (a hit on any cited label) beside the
    single-label ones (the primary label), by stratum, and the new papers; the survey's own set names."""
    lines = ["", f"== summary ({BARE}: scikit-learn's balanced logistic regression on the same folds and vectors; "
             f"{BELOW}: below the {BARE} row)"]
    signals = [m for m in methods if m != BARE and not is_decision(m)]
    methods = [m for m in methods if m not in signals] + signals
    cols = [("all", "any cited"), ("primary", "primary"), ("primary-abstract", "abstract"),
            ("primary-title-only", "title only"), ("new-papers", "new papers")]
    for label_set in (*taxonomy.derived, taxonomy.placement):
        lines.append(f"-- {label_set}: macro F1 / top-1; works per column: " + ", ".join(
            f"{title} {_n(result.value(methods[0], label_set, stratum, '*', 'works'))}" for stratum, title in cols))
        lines.append(f"   {'method':<12}" + "".join(f"{title:>14}" for _, title in cols))
        for method in methods:
            if signals and method == signals[0]:
                lines.append(f"   {NOT_DECISIONS}")
            cells = [f"{flags(method, label_set, st, 'macro_f1', title)} / {flags(method, label_set, st, 'top1', title)}"
                     for st, title in cols]
            lines.append(f"   {method:<12}" + "".join(f"{c:>14}" for c in cells))
    ts = taxonomy.themes
    themes = [t for t in taxonomy.ids(ts) if result.value(methods[0], ts, "all", t, "labelled_share") is not None] \
        if ts else []
    if themes:
        lines.append(f"-- {ts}: F1 per theme (n: agreed positives; lab: labelled share; sh: share assigned), "
                     f"macro F1 over themes with n >= {MIN_THEME_SUPPORT}")
        lines.append(f"   {ts[:23]:<24}{'n':>4}{'lab':>6}" + "".join(f"{m[:13]:>14}" for m in methods))
        for t in themes:
            n = result.value(methods[0], ts, "all", t, "support")
            cells = [f"{flags(m, ts, 'all', 'f1', label_id=t)} sh {_f(result.value(m, ts, 'all', t, 'share'))}"
                     for m in methods]
            lines.append(f"   {t[:23]:<24}{_n(n):>4}{_f(result.value(methods[0], ts, 'all', t, 'labelled_share')):>6}"
                         + "".join(f"{c:>14}" for c in cells))
        lines.append(f"   {'macro F1':<34}" + "".join(f"{flags(m, ts, 'all', 'macro_f1'):>14}" for m in methods))
    return lines


def _n(value: float | None) -> str:
    return "-" if value is None else str(int(value))


def _confusion(result, method: str, label_set: str, taxonomy: Taxonomy) -> list[str]:
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
