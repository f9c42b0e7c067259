"""Topics runs (tables ``topics``, ``work_topics``, view ``topic_works``) and the labels proposed
from topics (table ``topic_proposals``)."""

from __future__ import annotations

import json
from datetime import date, datetime

from litmine.store import Connection, insert_columns, json_param, utcnow, who
from litmine.store.labels import upsert_label

_TOPIC_COLUMNS = ("run_id", "topic_id", "name", "phrases", "size", "survey_works", "before_survey", "after_survey",
                  "growth", "emerging", "months", "subsections", "typical", "survey_date", "model_version",
                  "embedding_model", "params", "created_at")


def in_scope_works(con: Connection, model_id: str) -> list[dict]:
    """The works decided in the survey's scope (view ``scope_decisions``: the survey's own works
    included) that ``model_id`` embedded: id, title and abstract, vector, first publication (else the
    listing date the seed gives a screening candidate), year, and
    whether the survey cites it."""
    cur = con.execute(
        "SELECT w.work_id, coalesce(w.title, '') || '. ' || coalesce(w.abstract, '') AS text, e.vector, "
        "       coalesce(w.published, (SELECT CAST(min(sc.listing_date) AS TIMESTAMP) FROM screening_candidates sc "
        "                              WHERE sc.work_id = w.work_id)) AS published, w.year, w.work_id IN (SELECT work_id FROM survey_references WHERE work_id IS NOT NULL) "
        "       AS survey "
        "FROM scope_decisions d JOIN works w USING (work_id) "
        "JOIN embeddings e ON e.work_id = w.work_id AND e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ? "
        "WHERE d.decision = 'in' ORDER BY w.work_id", [model_id])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def survey_dating(con: Connection) -> dict | None:
    """What dates the loaded survey: its seed's meta, its arXiv id, and the first publication of its
    own work when litmine holds it; None before a survey is loaded."""
    row = con.execute("SELECT s.meta, s.arxiv_id, w.published FROM surveys s LEFT JOIN works w USING (arxiv_id) "
                      "ORDER BY s.loaded_at DESC, s.survey_id LIMIT 1").fetchone()
    if row is None:
        return None
    return {"meta": json.loads(row[0]) if row[0] else {}, "arxiv_id": row[1], "published": row[2]}


def label_parents(con: Connection, label_set: str) -> dict[str, str | None]:
    return dict(con.execute("SELECT label_id, parent_id FROM labels WHERE label_set = ?", [label_set]).fetchall())


def save_run(con: Connection, run_id: str, topics: list[dict], assignments: list[tuple[int, int, float]]) -> None:
    """Store one topics run: its topics (dicts keyed by the columns of ``topics``) and (work_id,
    topic_id, similarity) of every work put in a topic."""
    now = utcnow()
    cols: dict[str, list] = {c: [] for c in _TOPIC_COLUMNS}
    for t in topics:
        for c in _TOPIC_COLUMNS:
            value = {"run_id": run_id, "created_at": now}.get(c, t.get(c))
            cols[c].append(json_param(value) if c in ("months", "subsections", "params") else value)
    con.execute("DELETE FROM work_topics WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM topics WHERE run_id = ?", [run_id])
    if topics:
        insert_columns(con, "topics", cols)
    if assignments:
        insert_columns(con, "work_topics", {"run_id": [run_id] * len(assignments),
                                            "work_id": [a[0] for a in assignments],
                                            "topic_id": [a[1] for a in assignments],
                                            "similarity": [a[2] for a in assignments]})


def latest_run(con: Connection) -> str | None:
    row = con.execute("SELECT run_id FROM topics ORDER BY created_at DESC, run_id LIMIT 1").fetchone()
    return row[0] if row else None


def topics_of_run(con: Connection, run_id: str) -> list[dict]:
    """The run's topics, largest first, JSON columns decoded."""
    cur = con.execute("SELECT * FROM topics WHERE run_id = ? ORDER BY size DESC, topic_id", [run_id])
    cols = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        t = dict(zip(cols, row))
        for c in ("months", "subsections", "params"):
            t[c] = json.loads(t[c]) if t[c] else {}
        # stored JSON has its keys sorted: the subsections most of the topic's works are filed under first
        t["subsections"] = dict(sorted(t["subsections"].items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(t)
    return out


def works_brief(con: Connection, work_ids: list[int]) -> dict[int, dict]:
    """{work_id: {work_id, arxiv_id, title, year}}."""
    rows = con.execute("SELECT work_id, arxiv_id, title, year FROM works WHERE list_contains(?, work_id)",
                       [list(work_ids)]).fetchall()
    return {r[0]: {"work_id": r[0], "arxiv_id": r[1], "title": r[2], "year": r[3]} for r in rows}


# -- proposed labels ------------------------------------------------------------------------------


def save_proposal(con: Connection, run_id: str, topic_id: int, label_set: str, parent_id: str | None, name: str,
                  description: str) -> None:
    """Propose a label from a topic; a proposal already decided is left as it is."""
    con.execute(
        "INSERT INTO topic_proposals (run_id, topic_id, label_set, parent_id, name, description, status) "
        "VALUES (?, ?, ?, ?, ?, ?, 'proposed') ON CONFLICT (run_id, topic_id) DO NOTHING",
        [run_id, topic_id, label_set, parent_id, name, description])


def proposal(con: Connection, run_id: str, topic_id: int) -> dict | None:
    cur = con.execute("SELECT * FROM topic_proposals WHERE run_id = ? AND topic_id = ?", [run_id, topic_id])
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def proposals(con: Connection, run_id: str) -> list[dict]:
    cur = con.execute("SELECT * FROM topic_proposals WHERE run_id = ? ORDER BY topic_id", [run_id])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def free_label_id(con: Connection, label_set: str, prefix: str = "new-") -> str:
    """The first ``prefix<n>`` no label of the set uses."""
    taken = {r[0] for r in con.execute("SELECT label_id FROM labels WHERE label_set = ?", [label_set]).fetchall()}
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def accept_proposal(con: Connection, p: dict, label_id: str, name: str, description: str,
                    reviewer: str | None = None, decided_at: datetime | date | None = None) -> None:
    """Add the proposal's label to its label set (last in its order) and mark the proposal accepted."""
    position = con.execute("SELECT coalesce(max(position), -1) + 1 FROM labels WHERE label_set = ?",
                           [p["label_set"]]).fetchone()[0]
    upsert_label(con, p["label_set"], label_id, p["parent_id"], name, None, description, position,
                 {"proposed_from_topic": {"run_id": p["run_id"], "topic_id": p["topic_id"]}})
    con.execute("UPDATE topic_proposals SET status = 'accepted', label_id = ?, name = ?, description = ?, "
                "decided_by = ?, decided_at = ? WHERE run_id = ? AND topic_id = ?",
                [label_id, name, description, reviewer or who(), decided_at or utcnow(), p["run_id"], p["topic_id"]])
