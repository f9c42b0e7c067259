"""Emerging topics: the method families that grow, inside and across the survey's subsections.

``find_topics`` fits BERTopic on the *stored* title-and-abstract embeddings of the works in the
survey's scope (the survey's own and the new ones; no second embedding pass), with a fixed UMAP
seed, and names each topic by its c-TF-IDF phrases. For each topic it counts its works by month of
first publication, splits them at the survey's date (read from the loaded survey: its seed's date,
else its own work's publication, else the month its arXiv id encodes) and compares the topic's
share of the in-scope works after that date with its share before (add-one smoothed: ``growth``).
A topic is *emerging* when it grows (``growth >= min_growth``) and the survey's own works barely
hold it (at most ``max_survey_share`` of its works). Each topic keeps the subsections its works are
filed under (their most trusted placement labels) and its five most typical works (closest to the
topic's mean embedding). A run is stored in ``topics`` and ``work_topics`` (view ``topic_works``),
and every emerging topic becomes a proposed label (``topic_proposals``) that
``accept_proposal`` adds to the survey's placement set: works a reviewer then files under it are
gold labels, and the next classify run learns it.

``litmine.review.gaps`` stays for what BERTopic does not do: telling works far from *every* subsection.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from litmine.counts import Counts
from litmine.errors import LitmineError
from litmine.hashing import sha256_hex
from litmine.store import Store
from litmine.store import review as review_db
from litmine.store import topics as db

log = logging.getLogger(__name__)

STAGE_VERSION = "topics-2"
DEFAULTS = {
    "seed": 42,  # UMAP's random_state: the same data gives the same topics
    "min_topic_size": 20,  # HDBSCAN's min_cluster_size (docs/topics.md: chosen by stability across six seeds)
    "n_neighbors": 15,
    "n_components": 5,
    "n_phrases": 10,
    "min_growth": 2.0,
    "max_survey_share": 0.1,
    "min_samples": None,  # HDBSCAN's (None: min_topic_size)
    "selection": "leaf",  # HDBSCAN's cluster_selection_method: leaves, never one catch-all parent
    "max_topic_share": 0.0,  # > 0: HDBSCAN splits a cluster holding more of the works than this
    "reduce_outliers": True,  # put the works in no topic in their nearest topic
}
TYPICAL = 5


class TopicError(LitmineError):
    """Topics could not be found, listed or accepted."""


@dataclass
class Fit:
    """What BERTopic found: a topic per work (-1: an outlier) and each topic's phrases."""

    assignments: list[int]
    phrases: dict[int, list[str]] = field(default_factory=dict)
    version: str = ""


def fit_topics(texts: list[str], vectors: np.ndarray, seed: int = 42, min_topic_size: int = 10,
               n_neighbors: int = 15, n_components: int = 5, n_phrases: int = 10, min_samples: int | None = None,
               selection: str = "eom", max_topic_share: float = 0.0, reduce_outliers: bool = False) -> Fit:
    """BERTopic on precomputed ``vectors`` (no embedding model is loaded): UMAP (seeded) then HDBSCAN,
    topics named by c-TF-IDF over uni- and bigrams with English stop words removed.

    ``min_samples`` is HDBSCAN's (None: ``min_topic_size``); ``selection`` its cluster selection
    method ("eom" or "leaf"); ``max_topic_share`` > 0 caps a cluster at that share of the works
    (HDBSCAN's ``max_cluster_size``, "eom" only): a larger one is split into its children;
    ``reduce_outliers`` puts every work HDBSCAN left out in the topic whose centre is nearest
    (BERTopic's ``reduce_outliers``, by embeddings), then names the topics again."""
    import bertopic
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    if selection not in ("eom", "leaf"):
        raise TopicError(f"unknown cluster selection {selection!r}: use eom or leaf")
    umap = UMAP(n_neighbors=min(n_neighbors, len(texts) - 1), n_components=n_components, min_dist=0.0,
                metric="cosine", random_state=seed, n_jobs=1)  # seeded UMAP runs on one thread anyway
    cap = int(max_topic_share * len(texts)) if max_topic_share > 0 else 0
    hdbscan = HDBSCAN(min_cluster_size=min_topic_size, min_samples=min_samples, metric="euclidean",
                      cluster_selection_method=selection, max_cluster_size=max(cap, 0), prediction_data=True)
    vectorizer = CountVectorizer(stop_words="english", ngram_range=(1, 2),
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b")
    model = BERTopic(embedding_model=None, umap_model=umap, hdbscan_model=hdbscan, vectorizer_model=vectorizer,
                     ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True), top_n_words=n_phrases,
                     calculate_probabilities=False, verbose=False)
    assignments, _ = model.fit_transform(texts, embeddings=vectors)
    if reduce_outliers and -1 in assignments and len(set(assignments)) > 1:
        assignments = model.reduce_outliers(texts, assignments, strategy="embeddings", embeddings=vectors)
        bertopic_log = logging.getLogger("BERTopic")  # its warning about assigned topics: expected here
        level = bertopic_log.level
        bertopic_log.setLevel(logging.ERROR)
        try:
            model.update_topics(texts, topics=assignments, vectorizer_model=vectorizer,
                                ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
                                top_n_words=n_phrases)
        finally:
            bertopic_log.setLevel(level)
    phrases = {}
    for topic in sorted(set(assignments)):
        if topic == -1:
            continue
        words = model.get_topic(topic) or []
        phrases[int(topic)] = [w for w, score in words if w and score > 0]
    return Fit([int(t) for t in assignments], phrases, f"bertopic {bertopic.__version__}")


def topic_name(phrases: list[str], n: int = 4) -> str:
    """The leading phrases, a word already inside a kept phrase left out."""
    kept: list[str] = []
    for p in phrases:
        if any(p in k.split() or p == k for k in kept):
            continue
        kept = [k for k in kept if k not in p.split()] + [p]
        if len(kept) == n:
            break
    return ", ".join(kept)


def survey_date(dating: dict | None) -> date | None:
    """The loaded survey's date: its seed's ``date``/``published``, else the first publication of its
    own work, else the month its new-style arXiv id (YYMM.NNNNN) encodes."""
    if not dating:
        return None
    meta = dating.get("meta") or {}
    for key in ("date", "published"):
        value = meta.get(key) or (meta.get("survey") or {}).get(key)
        if value:
            return date.fromisoformat(str(value)[:10])
    if dating.get("published"):
        return dating["published"].date() if isinstance(dating["published"], datetime) else dating["published"]
    m = re.fullmatch(r"(\d{2})(\d{2})\.\d{4,5}", dating.get("arxiv_id") or "")
    if m and 1 <= int(m.group(2)) <= 12:
        return date(2000 + int(m.group(1)), int(m.group(2)), 1)
    return None


def _is_before(w: dict, when: date) -> bool | None:
    if w.get("published"):
        return w["published"].date() < when
    if w.get("year"):
        return int(w["year"]) < when.year
    return None


def topic_inputs(store: Store) -> tuple:
    """(embedding model, placement label set, survey date, in-scope works with their vectors, their
    most trusted placement labels, each placement label's parent) as ``find_topics`` reads them."""
    from litmine.survey.load import label_roles

    with store.connect(read_only=True) as con:
        model_id = review_db.main_embedding_model(con)
        placement = label_roles(con).get("placement")
        when = survey_date(db.survey_dating(con))
        works = db.in_scope_works(con, model_id) if model_id else []
        filed = review_db.best_labels(con, placement, [w["work_id"] for w in works]) if placement else {}
        parents = db.label_parents(con, placement) if placement else {}
    return model_id, placement, when, works, filed, parents


def find_topics(store: Store, run_id: str | None = None, force: bool = False, **params: object) -> Counts:
    """Fit the topics of the in-scope works and store them as run ``run_id`` (a new id when None);
    counts: ``new`` topics, of which the notes say how many are emerging. When the in-scope works, their
    vectors, labels and the parameters are those of the latest topics run, its topics are kept
    (``unchanged``) unless ``force``."""
    import uuid

    options = {**DEFAULTS, **params}
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TopicError(f"unknown topic parameter(s) {', '.join(sorted(unknown))}: use {', '.join(DEFAULTS)}")
    counts = Counts("topics")
    run_id = run_id or str(uuid.uuid4())
    model_id, placement, when, works, filed, parents = topic_inputs(store)
    if when is None:
        counts.notes.append("skipped: no survey loaded (run `litmine survey load`)")
        return counts
    if len(works) < 2 * int(options["min_topic_size"]) + 2:
        counts.notes.append(f"skipped: {len(works)} embedded in-scope works, too few for topics of "
                            f"{options['min_topic_size']} (run `litmine embed` and `litmine screen`)")
        return counts
    # never compute the same thing twice: the same works, vectors, labels and parameters give the same topics
    fingerprint = sha256_hex(json.dumps({
        "version": STAGE_VERSION, "model": model_id, "options": options, "survey_date": str(when),
        "works": [(w["work_id"], w["survey"], str(w.get("published"))) for w in sorted(works, key=lambda w: w["work_id"])],
        "vectors": sha256_hex(np.asarray([w["vector"] for w in sorted(works, key=lambda w: w["work_id"])],
                                         dtype=np.float32).tobytes()),
        "filed": sorted((k, sorted(map(str, v))) for k, v in filed.items()),
    }, sort_keys=True, default=str))
    with store.connect(read_only=True) as con:
        last = db.latest_run(con)
        previous = db.topics_of_run(con, last) if last else []
    if previous and previous[0]["params"].get("input") == fingerprint and not force:
        counts.add("unchanged", len(previous))
        counts.notes.append(f"{len(works)} in-scope works, their embeddings, labels and the parameters unchanged since "
                            f"topics run {last}: its {len(previous)} topics kept")
        return counts
    log.info("fitting topics on %d in-scope works embedded by %s", len(works), model_id)
    topics, assignments, outliers = fit_and_describe(works, when, filed, options)
    for t in topics:
        t["model_version"] = f"{STAGE_VERSION}; {t.pop('fit_version')}"
        t["embedding_model"] = model_id
        t["params"]["input"] = fingerprint
    with store.transaction() as con:
        db.save_run(con, run_id, topics, assignments)
        typical = db.works_brief(con, [w for t in topics for w in t["typical"]])
        for t in topics:
            if t["emerging"]:
                label_set, parent, name, description = _proposal(t, placement, parents, typical)
                db.save_proposal(con, run_id, t["topic_id"], label_set, parent, name, description)
    emerging = sum(1 for t in topics if t["emerging"])
    counts.add("new", len(topics))
    counts.notes.append(f"{len(works)} in-scope works: {len(topics)} topics, {emerging} emerging (proposed as "
                        f"labels), {outliers} works in none; survey date {when}")
    return counts


FIT_OPTIONS = ("seed", "min_topic_size", "n_neighbors", "n_components", "n_phrases", "min_samples", "selection",
               "max_topic_share", "reduce_outliers")


def fit_and_describe(works: list[dict], when: date, filed: dict, options: dict) -> tuple[list[dict], list, int]:
    """Fit the topics of ``works`` (dicts of ``store.topics.in_scope_works``) and describe each:
    (topics, (work_id, topic_id, similarity to the topic's centre) of every work in a topic, how many
    works are in none). Nothing is stored: ``scripts/topics_params.py`` compares parameters with it."""
    options = {**DEFAULTS, **options}
    vectors = np.asarray([w["vector"] for w in works], dtype=np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    fit = fit_topics([w["text"] for w in works], unit, **{k: options[k] for k in FIT_OPTIONS})
    side = [_is_before(w, when) for w in works]
    n_before = sum(1 for s in side if s is True)
    n_after = sum(1 for s in side if s is False)
    topics, assignments = [], []
    for topic_id, phrases in fit.phrases.items():
        members = [i for i, t in enumerate(fit.assignments) if t == topic_id]
        centre = unit[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        sims = unit[members] @ centre
        order = [members[j] for j in np.argsort(-sims, kind="stable")]
        for i, s in zip(members, sims):
            assignments.append((works[i]["work_id"], topic_id, float(s)))
        before = sum(1 for i in members if side[i] is True)
        after = sum(1 for i in members if side[i] is False)
        growth = ((after + 1) / (n_after + 1)) / ((before + 1) / (n_before + 1))
        survey_works = sum(1 for i in members if works[i]["survey"])
        months = Counter(works[i]["published"].strftime("%Y-%m") for i in members if works[i].get("published"))
        subsections = Counter(label for i in members for label, _, _ in filed.get(works[i]["work_id"], []))
        topics.append({
            "topic_id": topic_id, "name": topic_name(phrases), "phrases": phrases, "size": len(members),
            "survey_works": survey_works, "before_survey": before, "after_survey": after, "growth": round(growth, 4),
            "emerging": bool(growth >= float(options["min_growth"])
                             and survey_works <= float(options["max_survey_share"]) * len(members)),
            "months": dict(sorted(months.items())), "subsections": dict(subsections.most_common()),
            "typical": [works[i]["work_id"] for i in order[:TYPICAL]], "survey_date": when,
            "fit_version": fit.version, "members": [works[i]["work_id"] for i in members],
            "params": {**options, "in_scope_works": len(works), "before": n_before, "after": n_after},
        })
    return topics, assignments, sum(1 for t in fit.assignments if t == -1)


def _proposal(topic: dict, placement: str | None, parents: dict, typical: dict[int, dict]):
    """(label_set, parent_id, name, description) of the label proposed from ``topic``."""
    main_label = next(iter(topic["subsections"]), None)
    parent = parents.get(main_label) if main_label else None
    name = topic_name(topic["phrases"], 3).capitalize()
    titles = "; ".join(typical[w]["title"] for w in topic["typical"][:3] if w in typical)
    description = (f"Works on {', '.join(topic['phrases'][:8])}. Typical works: {titles}. Grew {topic['growth']:.1f}x "
                   f"in share after the survey ({topic['after_survey']} works after, {topic['before_survey']} before); "
                   f"filed so far under {', '.join(list(topic['subsections'])[:3]) or 'nothing'}.")
    return placement or "subsection", parent, name, description


# -- reading and accepting -------------------------------------------------------------------------


def latest_topics(store: Store, emerging_only: bool = False) -> tuple[str | None, list[dict]]:
    """(run id, topics largest first, each with its typical works' titles) of the latest topics run."""
    with store.connect(read_only=True) as con:
        run_id = db.latest_run(con)
        if run_id is None:
            return None, []
        topics = db.topics_of_run(con, run_id)
        briefs = db.works_brief(con, [w for t in topics for w in t["typical"]])
        props = {p["topic_id"]: p for p in db.proposals(con, run_id)}
    for t in topics:
        t["typical_works"] = [briefs[w] for w in t["typical"] if w in briefs]
        t["proposal"] = props.get(t["topic_id"])
    return run_id, [t for t in topics if t["emerging"] or not emerging_only]


@dataclass
class AcceptedLabel:
    label_set: str
    label_id: str
    name: str
    parent_id: str | None
    topic_id: int
    run_id: str

    def __str__(self) -> str:
        return (f"label {self.label_id} {self.name!r} added to {self.label_set} (from topic {self.topic_id}): file works "
                f"under it in the review queue; the next `litmine classify` learns it")


def accept_proposal(store: Store, topic_id: int, run_id: str | None = None, label_id: str | None = None,
                    name: str | None = None, reviewer: str | None = None) -> AcceptedLabel:
    """Add the label proposed from ``topic_id`` (of ``run_id``, default the latest topics run) to the
    survey's placement set. Accepting twice returns the label already added. A topic that is not
    emerging is proposed here first. The review queue can call this; so does `litmine topics accept`."""
    from litmine.survey.load import label_roles

    with store.transaction() as con:
        run_id = run_id or db.latest_run(con)
        if run_id is None:
            raise TopicError("no topics yet: run `litmine topics run` first")
        p = db.proposal(con, run_id, topic_id)
        if p is None:
            topic = next((t for t in db.topics_of_run(con, run_id) if t["topic_id"] == topic_id), None)
            if topic is None:
                raise TopicError("no such topic: pick a topic id from `litmine topics list`", topic_id=topic_id,
                                 run_id=run_id)
            placement = label_roles(con).get("placement")
            if placement is None:
                raise TopicError("no survey with a placement set is loaded: run `litmine survey load`")
            typical = db.works_brief(con, topic["typical"])
            db.save_proposal(con, run_id, topic_id, *_proposal(topic, placement, db.label_parents(con, placement),
                                                               typical))
            p = db.proposal(con, run_id, topic_id)
        if p["status"] == "accepted":
            return AcceptedLabel(p["label_set"], p["label_id"], p["name"], p["parent_id"], topic_id, run_id)
        label_id = label_id or db.free_label_id(con, p["label_set"])
        if review_db.label_exists(con, p["label_set"], label_id):
            raise TopicError(f"label {label_id!r} already exists in {p['label_set']}: pick another id",
                             topic_id=topic_id)
        name = name or p["name"]
        db.accept_proposal(con, p, label_id, name, p["description"], reviewer)
    log.info("label %s %r added to %s from topic %s of run %s", label_id, name, p["label_set"], topic_id, run_id)
    return AcceptedLabel(p["label_set"], label_id, name, p["parent_id"], topic_id, run_id)


# -- the digest's section ----------------------------------------------------------------------------

SHOWN = 8  # emerging topics the digest lists
PLOTTED = 6  # and plots


def _md(text: str | None) -> str:
    return (text or "").replace("\n", " ").replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def topics_section(store: Store, plots_dir=None) -> str:
    """The digest's "Emerging topics" section (Markdown) from the latest topics run, largest emerging
    topics first (by works after the survey's date); with ``plots_dir``, also writes
    ``emerging_topics.png`` there (their works per month) and links it as ``plots/emerging_topics.png``."""
    run_id, topics = latest_topics(store, emerging_only=True)
    out = ["## Emerging topics", ""]
    if run_id is None:
        return "\n".join(out + ["No topics yet: `litmine topics run` (or the nightly run's topics stage) finds them.",
                                ""]) + "\n"
    topics.sort(key=lambda t: (-t["after_survey"], -t["growth"], t["topic_id"]))
    shown = topics[:SHOWN]
    if not shown:
        return "\n".join(out + ["No topic grows after the survey's date without the survey's own works holding it "
                                f"(run {run_id}; `litmine topics list` lists every topic).", ""]) + "\n"
    when = shown[0]["survey_date"]
    out += [f"Topics of the in-scope works (BERTopic on the stored embeddings, run `{run_id}`) whose share grew at "
            f"least {shown[0]['params'].get('min_growth')}x after the survey's date ({when}) and that the survey's own "
            f"works barely hold; {len(topics)} in all, the {len(shown)} largest here. Each is proposed as a new label: "
            "`litmine topics accept TOPIC_ID`. Its works: `litmine query \"select * from topic_works where "
            "topic_id = TOPIC_ID\"`.", ""]
    if plots_dir is not None:
        path = _plot_growth(shown[:PLOTTED], plots_dir)
        out += [f"![emerging topics](plots/{path.name})", ""]
    out += ["| topic | name | works | after the survey | growth | filed under |", "|---|---|---|---|---|---|"]
    for t in shown:
        filed = ", ".join(f"{label} ({n})" for label, n in list(t["subsections"].items())[:3]) or "not placed"
        out.append(f"| {t['topic_id']} | {_md(t['name'])} | {t['size']} | {t['after_survey']} | "
                   f"{t['growth']:.1f}x | {filed} |")
    out.append("")
    for t in shown:
        out += [f"### Topic {t['topic_id']}: {_md(t['name'])} ({t['size']} works)", "",
                f"Phrases: {_md(', '.join(t['phrases']))}. Most typical:", ""]
        for w in t["typical_works"]:
            link = (f"[arXiv:{w['arxiv_id']}](https://arxiv.org/abs/{w['arxiv_id']})" if w.get("arxiv_id")
                    else f"work {w['work_id']}")
            out.append(f"- {_md(w['title'])}" + (f" ({w['year']})" if w.get("year") else "") + f", {link}")
        out.append("")
    return "\n".join(out) + "\n"


def _plot_growth(topics: list[dict], folder):
    """Works per month (from the survey's date on) of each topic, one line each."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = f"{topics[0]['survey_date']:%Y-%m}"
    months = sorted({m for t in topics for m in t["months"] if m >= start})
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for t in topics:
        ax.plot(months, [t["months"].get(m, 0) for m in months], marker="o", label=f"{t['topic_id']} {t['name'][:40]}")
    ax.set_ylabel("works published")
    ax.set_title("Emerging topics: works per month")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = Path(folder) / "emerging_topics.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
