"""Reads of the scope decision: the survey's scope statement, the works whose scope is known, what a
scope method already screened, and which works are decided out of scope (view ``scope_decisions``).

The scope methods themselves live in ``litmine.classify.scope``; their rows are written like every
classifier's, with ``ml.write_assignments``.
"""

from __future__ import annotations

import json
from typing import Sequence

from duckdb import DuckDBPyConnection as Connection

SCOPE_SET, IN = "scope", "in"


def scope_statement(con: Connection) -> tuple[str, list[str]] | None:
    """The survey's scope statement and the texts (name. description) of its in-scope labels, or
    None when no survey with a scope is loaded."""
    row = con.execute("SELECT description, meta FROM labels WHERE label_set = ? AND label_id = ?",
                      [SCOPE_SET, IN]).fetchone()
    if row is None:
        return None
    sets = json.loads(row[1] or "{}").get("in_scope_label_sets", [])
    labels = con.execute(
        "SELECT name, description FROM labels WHERE list_contains(?, label_set) ORDER BY label_set, position",
        [sets]).fetchall()
    return row[0], [f"{name}. {desc or ''}".strip() for name, desc in labels]


def has_abstract(con: Connection) -> dict[int, bool]:
    """work_id -> whether the work has an abstract (from its record or its extracted PDF)."""
    return dict(con.execute(
        "SELECT w.work_id, coalesce(trim(coalesce(w.abstract, d.abstract_text)), '') <> '' "
        "FROM works w LEFT JOIN documents d USING (work_id)").fetchall())


# Every work whose scope is known, the newest judgement first: a reviewer's decision, the seed's
# screening label, the survey placing it in an in-scope label set, or (with context negatives) the
# survey citing it only outside those sets.
KNOWN_SQL = """
WITH inscope AS (
    SELECT unnest(from_json(json_extract(meta, '$.in_scope_label_sets'), '["VARCHAR"]')) AS label_set
    FROM labels WHERE label_set = 'scope' AND label_id = 'in'),
human AS (
    SELECT work_id, bool_or(assigned AND coalesce(status, 'accept') <> 'reject') AS inside, 'human' AS origin
    FROM latest_labels WHERE source = 'human' AND label_set = 'scope' AND label_id = 'in' GROUP BY 1),
screening AS (
    SELECT work_id, bool_or(assigned) AS inside, 'screening' AS origin
    FROM latest_labels WHERE source = 'screening' AND label_set = 'scope' AND label_id = 'in' GROUP BY 1),
survey AS (
    SELECT work_id, true AS inside, 'survey' AS origin FROM latest_labels
    WHERE source = 'survey' AND assigned AND list_contains(?, status)
      AND label_set IN (SELECT label_set FROM inscope) GROUP BY 1),
context AS (
    SELECT r.work_id, false AS inside, 'survey-context' AS origin FROM survey_references r
    WHERE ? AND r.work_id IS NOT NULL AND len(r.sections) > 0 AND list_contains(?, r.label_status)
      AND r.work_id NOT IN (SELECT work_id FROM survey) GROUP BY 1),
every AS (
    SELECT *, 1 AS rank FROM human UNION ALL SELECT *, 2 FROM screening
    UNION ALL SELECT *, 3 FROM survey UNION ALL SELECT *, 4 FROM context)
SELECT work_id, arg_min(inside, rank), arg_min(origin, rank) FROM every GROUP BY 1 ORDER BY 1
"""


def known_scopes(con: Connection, statuses: Sequence[str], context_negatives: bool) -> list[tuple[int, bool, str]]:
    """(work_id, inside, origin) for every work whose scope is known (``KNOWN_SQL``)."""
    statuses = list(statuses)
    return con.execute(KNOWN_SQL, [statuses, context_negatives, statuses]).fetchall()


def screened_inputs(con: Connection, source: str, version: str) -> set[tuple[int, str]]:
    """(work_id, input hash) pairs this version of a scope method already screened."""
    return set(con.execute(
        "SELECT work_id, content_hash FROM latest_labels WHERE source = ? AND source_version = ? AND label_set = ?",
        [source, version, SCOPE_SET]).fetchall())


def out_of_scope(con: Connection, work_ids: Sequence[int] | None = None) -> set[int]:
    """The works among ``work_ids`` (or of all) decided out of the survey's scope: classifiers do not place them."""
    ids = None if work_ids is None else list(work_ids)
    return {w for (w,) in con.execute(
        "SELECT work_id FROM scope_decisions WHERE decision = 'out' "
        "AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], work_id))", [ids, ids]).fetchall()}
