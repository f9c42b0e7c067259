"""Reads and writes of the review notebook, the decision import and the digest."""

from __future__ import annotations

import json
from datetime import datetime

from litmine.store import Connection, utcnow

# Which source's labels a digest trusts for a work, best first; classifiers come after these.
TRUSTED_SOURCES = ("human", "survey")


def last_finished_run(con: Connection, command: str, before: datetime | None = None) -> datetime | None:
    """Start of the newest run of ``command`` that finished (ok or partial), started before ``before``."""
    row = con.execute(
        "SELECT max(started_at) FROM runs WHERE command = ? AND status IN ('ok', 'partial') "
        "AND (? IS NULL OR started_at < ?)",
        [command, before, before],
    ).fetchone()
    return row[0] if row else None


def run_row(con: Connection, run_id: str) -> tuple[str, str | None] | None:
    """(status, counts JSON) of a run."""
    return con.execute("SELECT status, counts FROM runs WHERE run_id = ?", [run_id]).fetchone()


def last_failure_reason(con: Connection, run_id: str | None) -> str | None:
    """The reason of the newest failure recorded in ``run_id``."""
    row = con.execute("SELECT reason FROM failures WHERE run_id IS NOT DISTINCT FROM ? "
                      "ORDER BY failed_at DESC, failure_id DESC LIMIT 1", [run_id]).fetchone()
    return row[0] if row else None


# -- decisions ---------------------------------------------------------------------------------


def imported_decision_ids(con: Connection) -> set[str]:
    return {d for (d,) in con.execute("SELECT decision_id FROM review_decisions").fetchall()}


def label_exists(con: Connection, label_set: str, label_id: str) -> bool:
    row = con.execute("SELECT 1 FROM labels WHERE label_set = ? AND label_id = ?", [label_set, label_id]).fetchone()
    return row is not None


def work_exists(con: Connection, work_id: int) -> bool:
    return con.execute("SELECT 1 FROM works WHERE work_id = ?", [work_id]).fetchone() is not None


def import_decision(con: Connection, d: dict, run_id: str | None) -> bool:
    """Turn one journal entry into a ``human`` label row; False if it was imported before."""
    if con.execute("SELECT 1 FROM review_decisions WHERE decision_id = ?", [d["decision_id"]]).fetchone():
        return False
    (assignment_id,) = con.execute(
        "INSERT INTO label_assignments (work_id, label_set, label_id, source, source_version, assigned, status, "
        "rationale, run_id, created_by, created_at) VALUES (?, ?, ?, 'human', 'review', ?, ?, ?, ?, ?, ?) "
        "RETURNING assignment_id",
        [d["work_id"], d["label_set"], d["label_id"], d["decision"] == "accept", d["decision"], d.get("note"),
         run_id, d.get("reviewer"), d["decided_at"]],
    ).fetchone()
    _record_import(con, d, assignment_id, run_id)
    return True


def _record_import(con: Connection, d: dict, assignment_id: int | None, run_id: str | None) -> None:
    con.execute(
        "INSERT INTO review_decisions (decision_id, work_id, label_set, label_id, decision, note, reviewer, "
        "decided_at, imported_at, assignment_id, run_id, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [d["decision_id"], d["work_id"], d["label_set"], d["label_id"], d["decision"], d.get("note"),
         d.get("reviewer"), d["decided_at"], utcnow(), assignment_id, run_id, d.get("undoes")],
    )


def retract_decision(con: Connection, d: dict, run_id: str | None) -> None:
    """Import an ``undo`` entry: delete the human label row the undone decision became (if it was
    imported), so the label is undecided again, and record the undo."""
    row = con.execute("SELECT assignment_id FROM review_decisions WHERE decision_id = ?", [d["undoes"]]).fetchone()
    if row and row[0] is not None:
        con.execute("DELETE FROM label_assignments WHERE assignment_id = ? AND source = 'human'", [row[0]])
    _record_import(con, d, None, run_id)


def decisions(con: Connection, label_set: str | None = None) -> list[tuple]:
    """(work_id, label_set, label_id, decision, note, reviewer, decided_at) of imported decisions, newest first."""
    return con.execute(
        "SELECT work_id, label_set, label_id, decision, note, reviewer, decided_at FROM review_decisions "
        "WHERE (? IS NULL OR label_set = ?) AND decision <> 'undo' AND decision_id NOT IN "
        "(SELECT undoes FROM review_decisions WHERE undoes IS NOT NULL) ORDER BY decided_at DESC",
        [label_set, label_set],
    ).fetchall()


# -- evidence for one work -----------------------------------------------------------------------


def work_summary(con: Connection, work_id: int) -> dict | None:
    row = con.execute(
        "SELECT work_id, arxiv_id, title, abstract, year, authors FROM works WHERE work_id = ?", [work_id]
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("work_id", "arxiv_id", "title", "abstract", "year", "authors"), row))


def source_labels(con: Connection, work_id: int, label_set: str) -> list[dict]:
    """What every source says now about the work in ``label_set``: one dict per source and label."""
    cur = con.execute(
        "SELECT source, label_id, assigned, score, status, rationale, model, prompt_version, source_version, "
        "run_id, created_at FROM latest_labels WHERE work_id = ? AND label_set = ? "
        "ORDER BY source, score DESC NULLS LAST, label_id",
        [work_id, label_set],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def survey_entry(con: Connection, work_id: int) -> dict | None:
    cur = con.execute(
        "SELECT survey_id, ref, key, sections, label_status, metadata_confidence, annotations "
        "FROM survey_references WHERE work_id = ? ORDER BY ref LIMIT 1",
        [work_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cur.description], row))
    if isinstance(out.get("annotations"), str):
        out["annotations"] = json.loads(out["annotations"])
    return out


def nearest_labelled(con: Connection, work_id: int, label_set: str, k: int = 5) -> list[dict]:
    """The ``k`` works most similar to this one (title and abstract embeddings) that a person or the
    survey labelled in ``label_set``, with those labels. Empty when the work has no embedding."""
    row = con.execute(
        "SELECT model_id, dim FROM embeddings WHERE work_id = ? AND kind = 'title_abstract' AND chunk = 0 "
        "ORDER BY created_at DESC LIMIT 1",
        [work_id],
    ).fetchone()
    if row is None:
        return []
    model_id, dim = row
    dim = int(dim)
    rows = con.execute(
        f"""
        WITH me AS (
            SELECT vector::FLOAT[{dim}] AS v FROM embeddings
            WHERE work_id = ? AND kind = 'title_abstract' AND chunk = 0 AND model_id = ?),
        labelled AS (
            SELECT work_id, list(DISTINCT label_id ORDER BY label_id) AS labels FROM latest_labels
            WHERE label_set = ? AND assigned AND source IN ('human', 'survey') AND work_id <> ?
            GROUP BY work_id)
        SELECT e.work_id, w.title, l.labels,
               array_cosine_similarity(e.vector::FLOAT[{dim}], me.v) AS similarity
        FROM embeddings e JOIN labelled l USING (work_id) JOIN works w USING (work_id), me
        WHERE e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ? AND e.dim = ?
          AND NOT isnan(array_cosine_similarity(e.vector::FLOAT[{dim}], me.v))  -- an empty text's zero vector
        ORDER BY similarity DESC, e.work_id LIMIT ?
        """,
        [work_id, model_id, label_set, work_id, model_id, dim, k],
    ).fetchall()
    return [dict(zip(("work_id", "title", "labels", "similarity"), r)) for r in rows]


# -- the digest ----------------------------------------------------------------------------------


def new_works(con: Connection, since: datetime | None, until: datetime | None = None) -> list[dict]:
    """Works first stored after ``since`` (every one when None) and at or before ``until``, oldest
    first; never the survey's own references, its screening candidates nor a seed's placeholders."""
    cur = con.execute(
        "SELECT work_id, arxiv_id, title, year, authors, published, created_at FROM works w "
        "WHERE (? IS NULL OR created_at > ?) AND (? IS NULL OR created_at <= ?) "
        "  AND coalesce(metadata_source, '') <> 'seed' "
        "  AND NOT EXISTS (SELECT 1 FROM survey_references r WHERE r.work_id = w.work_id) "
        "  AND NOT EXISTS (SELECT 1 FROM screening_candidates c WHERE c.work_id = w.work_id) "
        "ORDER BY created_at, work_id",
        [since, since, until, until],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def last_digest_end(con: Connection) -> datetime | None:
    """The end of the newest digest written: the next digest's watermark."""
    row = con.execute("SELECT max(until) FROM digests").fetchone()
    return row[0] if row else None


_STATE_COLUMNS = ("scope", "scope_by", "probability", "placement", "placement_by")


def digest_states(con: Connection) -> dict[int, dict]:
    """{work_id: what the newest digest that saw the work recorded of it}."""
    rows = con.execute(
        f"SELECT work_id, {', '.join(_STATE_COLUMNS)} FROM digest_states "
        "QUALIFY row_number() OVER (PARTITION BY work_id ORDER BY digest_id DESC) = 1").fetchall()
    return {r[0]: dict(zip(_STATE_COLUMNS, r[1:])) for r in rows}


def record_digest(con: Connection, since: datetime, until: datetime, works: int, folder: str, run_id: str | None,
                  states: dict[int, dict]) -> int:
    """Store a digest's window and what it saw of each work; returns its id."""
    (digest_id,) = con.execute(
        "INSERT INTO digests (since, until, works, folder, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?) "
        "RETURNING digest_id", [since, until, works, folder, run_id, utcnow()]).fetchone()
    rows = [[digest_id, work_id] + [state.get(c) for c in _STATE_COLUMNS] for work_id, state in states.items()]
    if rows:
        con.executemany(f"INSERT INTO digest_states (digest_id, work_id, {', '.join(_STATE_COLUMNS)}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return digest_id


def reviewers(con: Connection, label_set: str, work_ids: list[int]) -> dict[int, str]:
    """{work_id: who recorded the newest reviewer's label of the work in ``label_set``}."""
    if not work_ids:
        return {}
    rows = con.execute(
        "SELECT work_id, arg_max(created_by, created_at) FROM latest_labels WHERE source = 'human' "
        "AND label_set = ? AND list_contains(?, work_id) GROUP BY work_id", [label_set, list(work_ids)]).fetchall()
    return {w: who for w, who in rows if who}


def listing_dates(con: Connection, work_ids: list[int]) -> dict[int, datetime]:
    """{work_id: when arXiv first listed it (its first version's date)}."""
    if not work_ids:
        return {}
    return dict(con.execute("SELECT work_id, published FROM works WHERE published IS NOT NULL "
                            "AND list_contains(?, work_id)", [list(work_ids)]).fetchall())


# The classifiers whose labels are the decision, in order: `litmine evaluate` measures each at or
# above the bare library. Any other (zero-shot) is an ensemble member and a disagreement signal.
DECISION_ORDER = ("ensemble", "supervised", "llm")


def best_labels(con: Connection, label_set: str, work_ids: list[int]) -> dict[int, list[tuple[str, str, float | None]]]:
    """{work_id: [(label_id, source, score)]} from the most trusted source that labelled each work.

    A human decision counts first (a rejection removes the label; an acceptance is credited to the
    reviewer, and a work a reviewer placed keeps no classifier's label beside), then the survey, then the first
    classifier of ``DECISION_ORDER`` that labelled the work, else (a survey with no labels yet: only
    zero-shot ran) the classifier with the most assigned labels for the work (highest mean score
    breaks ties). A work a reviewer put out of the survey's scope keeps no classifier's label (of
    any set but ``scope``): only the survey's and reviewers' labels place it.
    """
    if not work_ids:
        return {}
    rows = con.execute(
        "SELECT work_id, source, label_id, assigned, score FROM latest_labels l "
        "WHERE label_set = ? AND list_contains(?, work_id) "
        "AND (label_set = 'scope' OR source IN ('human', 'survey') OR NOT EXISTS ("
        "  SELECT 1 FROM scope_decisions d WHERE d.work_id = l.work_id AND d.decision = 'out' "
        "  AND d.decided_by = 'human'))",
        [label_set, work_ids],
    ).fetchall()
    by_work: dict[int, dict[str, list[tuple[str, bool, float | None]]]] = {}
    for work_id, source, label_id, assigned, score in rows:
        by_work.setdefault(work_id, {}).setdefault(source, []).append((label_id, assigned, score))
    out: dict[int, list[tuple[str, str, float | None]]] = {}
    for work_id, sources in by_work.items():
        human = {label: assigned for label, assigned, _ in sources.get("human", [])}
        base: list[tuple[str, str, float | None]] = []
        if "survey" in sources:
            base = [(label, "survey", None) for label, assigned, _ in sources["survey"] if assigned]
        elif any(human.values()):
            pass  # a reviewer placed the work: their labels are its labels, no classifier's beside them
        else:
            machine = {s: v for s, v in sources.items() if s not in TRUSTED_SOURCES}
            if machine:
                def strength(item):
                    picked = [sc or 0.0 for _, a, sc in item[1] if a]
                    return (len(picked) > 0, sum(picked) / len(picked) if picked else 0.0, item[0])
                decider = next((s for s in DECISION_ORDER if s in machine), None)
                source, labels = (decider, machine[decider]) if decider else max(machine.items(), key=strength)
                base = [(label, source, score) for label, assigned, score in labels if assigned]
        chosen = [(b[0], "human", None) if human.get(b[0]) else b for b in base if human.get(b[0], True)]
        chosen += [(label, "human", None) for label, assigned in human.items()
                   if assigned and label not in {b[0] for b in chosen}]
        if chosen:
            out[work_id] = sorted(chosen)
    return out


def label_names(con: Connection, label_set: str) -> list[tuple[str, str]]:
    """(label_id, name) of a label set, in its order."""
    return con.execute(
        "SELECT label_id, name FROM labels WHERE label_set = ? ORDER BY position, label_id", [label_set]
    ).fetchall()


def label_tree(con: Connection, label_set: str) -> list[tuple[str, str, str | None]]:
    """(label_id, name, parent_id) of a label set, in its order."""
    return con.execute(
        "SELECT label_id, name, parent_id FROM labels WHERE label_set = ? ORDER BY position, label_id", [label_set]
    ).fetchall()


# -- the review notebook -------------------------------------------------------------------------

_DISAGREEMENT_COLUMNS = ("work_id", "arxiv_id", "title", "label_set", "label_id", "label_name", "disagreement",
                         "priority", "survey_says", "survey_status", "n_assigned", "n_methods", "mean_score")


def disagreement_rows(con: Connection, label_set: str | None, limit: int) -> list[dict]:
    """Rows of view ``disagreements``, most informative first, as dicts (``disagreement`` -> ``kind``)."""
    rows = con.execute(
        f"SELECT {', '.join(_DISAGREEMENT_COLUMNS)} FROM disagreements WHERE ? IS NULL OR label_set = ? "
        "ORDER BY priority DESC, work_id, label_set, label_id LIMIT ?",
        [label_set, label_set, limit],
    ).fetchall()
    names = [("kind" if c == "disagreement" else c) for c in _DISAGREEMENT_COLUMNS]
    return [dict(zip(names, r)) for r in rows]


def work_years(con: Connection) -> dict[int, int | None]:
    return dict(con.execute("SELECT work_id, year FROM works").fetchall())


def method_agreement(con: Connection, label_set: str) -> list[dict]:
    """Per classifier: share of (work, label) decisions equal to the survey's, on survey-labelled works."""
    rows = con.execute(
        """
        WITH survey AS (
            SELECT work_id, list(label_id) FILTER (WHERE assigned) AS labels FROM latest_labels
            WHERE source = 'survey' AND label_set = ? GROUP BY work_id HAVING count(*) FILTER (WHERE assigned) > 0)
        SELECT m.source AS method, count(*) AS decisions,
               avg(CASE WHEN m.assigned = list_contains(s.labels, m.label_id) THEN 1.0 ELSE 0.0 END) AS agreement
        FROM latest_labels m JOIN survey s USING (work_id)
        WHERE m.label_set = ? AND m.source NOT IN ('survey', 'human')
        GROUP BY m.source ORDER BY m.source
        """,
        [label_set, label_set],
    ).fetchall()
    return [{"method": m, "decisions": n, "agreement": a} for m, n, a in rows]


def best_evaluated_method(con: Connection, label_set: str) -> str | None:
    """The method with the best macro F1 in the latest evaluation run, else any classifier with labels."""
    row = con.execute(
        """
        SELECT method FROM evaluations
        WHERE run_id = (SELECT run_id FROM evaluations ORDER BY created_at DESC LIMIT 1)
          AND label_set = ? AND metric = 'macro_f1' AND label_id = '*'
        ORDER BY value DESC NULLS LAST, method LIMIT 1
        """,
        [label_set],
    ).fetchone()
    if row:
        return row[0]
    row = con.execute(
        "SELECT min(source) FROM latest_labels WHERE label_set = ? AND source NOT IN ('survey', 'human')", [label_set]
    ).fetchone()
    return row[0] if row else None


def top_label_pairs(con: Connection, label_set: str, method: str) -> list[tuple[str, str]]:
    """(survey label, method's highest-scored label) for each work the survey labelled in ``label_set``."""
    return con.execute(
        """
        WITH truth AS (
            SELECT work_id, min(label_id) AS label_id FROM latest_labels
            WHERE source = 'survey' AND label_set = ? AND assigned GROUP BY work_id),
        top AS (
            SELECT work_id, arg_max(label_id, score) AS label_id FROM latest_labels
            WHERE source = ? AND label_set = ? AND score IS NOT NULL GROUP BY work_id)
        SELECT truth.label_id, top.label_id FROM truth JOIN top USING (work_id) ORDER BY work_id
        """,
        [label_set, method, label_set],
    ).fetchall()


# -- review queues -------------------------------------------------------------------------------


def works_in_label(con: Connection, label_set: str, label_id: str, limit: int) -> list[tuple[int, float | None]]:
    """(work_id, the deciding classifier's score) of works labelled ``label_id`` by the source that
    decides them (the survey, else the first of ``DECISION_ORDER`` that labelled the work, else any
    other) and that no reviewer decided on yet nor put out of scope. Ordered by the score of the
    first of ``DECISION_ORDER`` that scored the label (zero-shot only where no other did), the most
    confident first; survey works that every method agrees on go last (little to learn from them)."""
    rank = " ".join(f"WHEN '{s}' THEN {i + 1}" for i, s in enumerate(DECISION_ORDER))
    pick = f"CASE source WHEN 'survey' THEN 0 {rank} ELSE {len(DECISION_ORDER) + 1} END"
    return con.execute(
        f"WITH l AS (SELECT work_id, source, label_id, assigned, score, {pick} AS pick FROM latest_labels "
        "  WHERE label_set = ? AND source <> 'human'), "
        "decider AS (SELECT work_id, min(pick) AS pick FROM l GROUP BY work_id), "
        "placed AS (SELECT l.work_id FROM l JOIN decider USING (work_id, pick) WHERE l.label_id = ? AND l.assigned), "
        "mine AS (SELECT * FROM l WHERE label_id = ? AND work_id IN (SELECT work_id FROM placed)), "
        "ranked AS (SELECT work_id, arg_min(score, pick) FILTER (WHERE source <> 'survey' AND score IS NOT NULL) "
        "  AS best, bool_or(source = 'survey') AND bool_and(assigned) AS agreed FROM mine GROUP BY work_id) "
        "SELECT work_id, best FROM ranked r WHERE NOT EXISTS ("
        "  SELECT 1 FROM label_assignments h WHERE h.source = 'human' AND h.work_id = r.work_id "
        "  AND h.label_set = ? AND h.label_id = ?) "
        "AND NOT EXISTS (SELECT 1 FROM scope_decisions d WHERE d.work_id = r.work_id AND d.decision = 'out' "
        "  AND d.decided_by = 'human') "
        "ORDER BY agreed, best DESC NULLS LAST, work_id LIMIT ?",
        [label_set, label_id, label_id, label_set, label_id, limit],
    ).fetchall()


_UNSCREENED = (
    "FROM works w "
    "LEFT JOIN latest_labels l ON l.work_id = w.work_id AND l.label_set = 'scope' AND l.label_id = 'in' "
    "  AND l.source NOT IN ('human', 'survey', 'screening') "
    "WHERE NOT EXISTS (SELECT 1 FROM label_assignments h WHERE h.work_id = w.work_id AND h.label_set = 'scope' "
    "  AND h.source IN ('human', 'survey', 'screening')) "
    "  AND NOT EXISTS (SELECT 1 FROM survey_references r WHERE r.work_id = w.work_id) "
    "  AND w.metadata_source <> 'seed' "
)


def unscreened_works(con: Connection, limit: int, order: str = "likely") -> list[tuple[int, float | None]]:
    """(work_id, probability in scope) of works neither the survey, its screening annotators nor a
    reviewer placed in or out of scope, the likeliest in scope first (a screener finds the relevant
    works early). The probability is the ensemble's, else supervised's, else zero-shot's."""
    p = ("arg_min(l.score, CASE l.source WHEN 'scope-ensemble' THEN 1 WHEN 'scope-supervised' THEN 2 "
         "WHEN 'scope-zeroshot' THEN 4 ELSE 3 END) FILTER (WHERE l.score IS NOT NULL)")
    return con.execute(
        f"SELECT w.work_id, {p} AS p " + _UNSCREENED + "GROUP BY w.work_id ORDER BY "
        + ("abs(p - 0.5) ASC NULLS LAST" if order == "uncertain" else "p DESC NULLS LAST") + ", w.work_id LIMIT ?",
        [limit],
    ).fetchall()


def count_unscreened(con: Connection) -> int:
    """How many works ``unscreened_works`` would list with no limit."""
    return con.execute("SELECT count(DISTINCT w.work_id) " + _UNSCREENED).fetchone()[0]


def scope_probabilities(con: Connection, work_ids: list[int]) -> dict[int, float | None]:
    """{work_id: the deciding scope method's probability} (view scope_decisions)."""
    return dict(con.execute("SELECT work_id, probability FROM scope_decisions WHERE list_contains(?, work_id)",
                            [list(work_ids)]).fetchall())


def screening_agreement(con: Connection, work_id: int) -> dict | None:
    """What the seed's screening annotators said of the work's scope: {inside, status}, or None."""
    row = con.execute("SELECT assigned, status FROM latest_labels WHERE source = 'screening' AND work_id = ? "
                      "AND label_set = 'scope' AND label_id = 'in'", [work_id]).fetchone()
    return None if row is None else {"inside": bool(row[0]), "status": row[1]}


def machine_labels(con: Connection, work_id: int, label_set: str) -> dict[str, tuple[bool, float | None, str]]:
    """{label_id: (assigned, score, source)} by the first of ``DECISION_ORDER`` that labelled the work
    in ``label_set``, else any other classifier: the machine's guess, shown beside a reviewer's box."""
    rows = con.execute("SELECT source, label_id, assigned, score FROM latest_labels WHERE work_id = ? "
                       "AND label_set = ? AND source NOT IN ('human', 'survey')", [work_id, label_set]).fetchall()
    by_source: dict[str, dict] = {}
    for source, label_id, assigned, score in rows:
        by_source.setdefault(source, {})[label_id] = (bool(assigned), score, source)
    source = next((s for s in DECISION_ORDER if s in by_source), None) or min(by_source, default=None)
    return by_source.get(source, {}) if source else {}


def human_label(con: Connection, work_id: int, label_set: str, label_id: str) -> bool | None:
    """What a reviewer says now about the work and label: True, False, or None (undecided)."""
    row = con.execute("SELECT assigned FROM latest_labels WHERE source = 'human' AND work_id = ? AND label_set = ? "
                      "AND label_id = ?", [work_id, label_set, label_id]).fetchone()
    return None if row is None else bool(row[0])


def human_labels(con: Connection, work_id: int, label_set: str) -> dict[str, bool]:
    """{label_id: what a reviewer says now} of the work in ``label_set``."""
    return {label: bool(assigned) for label, assigned in con.execute(
        "SELECT label_id, assigned FROM latest_labels WHERE source = 'human' AND work_id = ? AND label_set = ?",
        [work_id, label_set]).fetchall()}


def trusted_examples(con: Connection, label_set: str, label_id: str, sources: tuple[str, ...],
                     model_id: str) -> list[tuple[int, bool, list[float]]]:
    """(work_id, assigned, title-and-abstract vector) of works ``sources`` labelled in ``label_set``/
    ``label_id``, one row per work: the first of ``sources`` that labelled it decides (a reviewer
    before the annotators before the survey); a reviewer's or the survey's reject counts as no."""
    order = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(sources))
    return con.execute(
        "WITH mine AS (SELECT work_id, arg_min(assigned AND coalesce(status, '') <> 'reject', "
        f"  CASE source {order} END) AS yes FROM latest_labels "
        "  WHERE label_set = ? AND label_id = ? AND list_contains(?, source) GROUP BY work_id), "
        "others AS (SELECT DISTINCT work_id FROM latest_labels WHERE label_set = ? AND label_id <> ? AND assigned "
        "  AND list_contains(?, source)), "  # placed elsewhere by a trusted source: a no for this label
        "l AS (SELECT u.work_id, coalesce(m.yes, false) AS yes FROM "
        "  (SELECT work_id FROM mine UNION SELECT work_id FROM others) u LEFT JOIN mine m USING (work_id)) "
        "SELECT l.work_id, l.yes, e.vector FROM l JOIN embeddings e ON e.work_id = l.work_id "
        "AND e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ? ORDER BY l.work_id",
        [label_set, label_id, list(sources), label_set, label_id, list(sources), model_id]).fetchall()


def assigned_labels(con: Connection, work_id: int, label_set: str) -> set[str]:
    """Labels of ``label_set`` the work carries now: a reviewer's word first, else the survey's, else
    any classifier's."""
    rows = con.execute("SELECT label_id, source, assigned FROM latest_labels WHERE work_id = ? AND label_set = ?",
                       [work_id, label_set]).fetchall()
    by_label: dict[str, dict[str, bool]] = {}
    for label_id, source, assigned in rows:
        by_label.setdefault(label_id, {})[source] = bool(assigned)
    out = set()
    for label_id, sources in by_label.items():
        if "human" in sources:
            keep = sources["human"]
        elif "survey" in sources:
            keep = sources["survey"]
        else:
            keep = any(sources.values())
        if keep:
            out.add(label_id)
    return out


# -- the learning curve's examples ---------------------------------------------------------------


def labelled_vectors(con: Connection, label_set: str, sources: tuple[str, ...], statuses: tuple[str, ...] | None,
                     model_id: str | None = None) -> list[tuple[int, str, bool, list[float]]]:
    """(work_id, label_id, assigned, title-and-abstract vector) of the current labels of ``sources``
    in ``label_set`` (survey rows only of ``statuses``), for works embedded by ``model_id`` (default:
    the model that embedded most works)."""
    model_id = model_id or main_embedding_model(con)
    if model_id is None:
        return []
    return con.execute(
        "SELECT l.work_id, l.label_id, l.assigned, e.vector FROM latest_labels l "
        "JOIN embeddings e ON e.work_id = l.work_id AND e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ? "
        "WHERE l.label_set = ? AND list_contains(?, l.source) "
        "  AND (l.source <> 'survey' OR ? IS NULL OR list_contains(?, l.status)) "
        "ORDER BY l.work_id, l.label_id",
        [model_id, label_set, list(sources), None if statuses is None else list(statuses),
         None if statuses is None else list(statuses)],
    ).fetchall()


def work_vectors(con: Connection, work_ids: list[int], model_id: str) -> dict[int, tuple[str, list[float]]]:
    """{work_id: (title and abstract, vector)} of the works embedded by ``model_id``."""
    rows = con.execute(
        "SELECT w.work_id, coalesce(w.title, '') || '. ' || coalesce(w.abstract, ''), e.vector FROM works w "
        "JOIN embeddings e ON e.work_id = w.work_id AND e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ? "
        "WHERE list_contains(?, w.work_id) ORDER BY w.work_id",
        [model_id, list(work_ids)],
    ).fetchall()
    return {w: (text, vector) for w, text, vector in rows}


def main_embedding_model(con: Connection) -> str | None:
    """The model that embedded most works' titles and abstracts."""
    row = con.execute("SELECT model_id FROM embeddings WHERE kind = 'title_abstract' AND chunk = 0 "
                      "GROUP BY model_id ORDER BY count(*) DESC, model_id LIMIT 1").fetchone()
    return row[0] if row else None


def work_months(con: Connection, since: datetime) -> dict[int, str]:
    """{work_id: 'YYYY-MM'} of works first published on arXiv at or after ``since``."""
    return dict(con.execute("SELECT work_id, strftime(published, '%Y-%m') FROM works "
                            "WHERE published IS NOT NULL AND published >= ?", [since]).fetchall())


def scope_judged(con: Connection, work_ids: list[int]) -> set[int]:
    """Works some source placed in or out of scope."""
    return {w for (w,) in con.execute("SELECT DISTINCT work_id FROM latest_labels WHERE label_set = 'scope' "
                                      "AND list_contains(?, work_id)", [list(work_ids)]).fetchall()}


# -- the digest: scope and the methods' votes ------------------------------------------------------


def scope_of(con: Connection, work_ids: list[int]) -> dict[int, tuple[str | None, str | None, float | None]]:
    """{work_id: (decision 'in'/'out'/None, who decided, probability in scope)} from view scope_decisions."""
    rows = con.execute("SELECT work_id, decision, decided_by, probability FROM scope_decisions "
                       "WHERE list_contains(?, work_id)", [list(work_ids)]).fetchall()
    return {w: (decision, by, p) for w, decision, by, p in rows}


def scope_votes(con: Connection, work_ids: list[int]) -> dict[int, list[tuple[str, bool, float | None, float | None]]]:
    """{work_id: [(scope method, says in, probability, the method's threshold)]}, methods by name."""
    rows = con.execute(
        "SELECT work_id, source, assigned, score, TRY_CAST(params->>'$.threshold' AS DOUBLE) FROM latest_labels "
        "WHERE label_set = 'scope' AND label_id = 'in' AND source LIKE 'scope-%' AND list_contains(?, work_id) "
        "ORDER BY work_id, source", [list(work_ids)]).fetchall()
    out: dict[int, list[tuple[str, bool, float | None, float | None]]] = {}
    for work_id, source, assigned, score, threshold in rows:
        out.setdefault(work_id, []).append((source, assigned, score, threshold))
    return out


def placement_votes(con: Connection, label_set: str, work_ids: list[int]) -> dict[int, dict[str, list[tuple[str, float | None]]]]:
    """{work_id: {classifier: [(label_id, score)] it assigns, best first}} (machine sources only)."""
    rows = con.execute(
        "SELECT work_id, source, label_id, score FROM latest_labels WHERE label_set = ? AND assigned "
        "AND source NOT IN ('human', 'survey') AND list_contains(?, work_id) "
        "ORDER BY work_id, source, score DESC NULLS LAST, label_id", [label_set, list(work_ids)]).fetchall()
    out: dict[int, dict[str, list[tuple[str, float | None]]]] = {}
    for work_id, source, label_id, score in rows:
        out.setdefault(work_id, {}).setdefault(source, []).append((label_id, score))
    return out
