"""Reads and writes of the embedding, classification and evaluation stages.

The text a work is embedded and classified from is built here, in SQL, once (``WORK_TEXT``), and
hashed here (``sha256``), so that the hash stored with a vector or a label always describes exactly
the text that was read.
"""

from __future__ import annotations

import json
import warnings
from typing import Iterable, Sequence

from litmine.store import Connection, insert_columns, json_param, utcnow, who
from litmine.store.failures import record_failure

# Title, a blank line, and the abstract (from arXiv metadata, else as found in the PDF).
WORK_TEXT = (
    "CASE WHEN coalesce(trim(coalesce(w.abstract, d.abstract_text)), '') = '' THEN trim(w.title) "
    "ELSE trim(w.title) || chr(10) || chr(10) || trim(coalesce(w.abstract, d.abstract_text)) END"
)
# What a classifier sees: the work text, and the full text when extracted. Its hash is the label's content_hash.
INPUT_HASH = f"sha256(({WORK_TEXT}) || coalesce(sha256(CASE WHEN d.extract_status = 'ok' THEN d.text END), ''))"
_FROM = "works w LEFT JOIN documents d USING (work_id)"


# -- embeddings ------------------------------------------------------------------------------------


def count_embedded(con: Connection, model_id: str) -> int:
    """Works whose title_abstract vector of ``model_id`` is current (its text is unchanged)."""
    return con.execute(
        f"SELECT count(*) FROM {_FROM} JOIN embeddings e ON e.work_id = w.work_id AND e.kind = 'title_abstract' "
        f"AND e.model_id = ? WHERE e.content_hash = sha256({WORK_TEXT})",
        [model_id],
    ).fetchone()[0]


def works_to_embed(con: Connection, model_id: str, after: int, limit: int) -> list[tuple[int, str, str, bool]]:
    """(work_id, text, hash, has an older vector) of works with no current vector, by work_id after ``after``."""
    return con.execute(
        f"""
        SELECT work_id, text, digest, old_hash IS NOT NULL FROM (
            SELECT w.work_id, {WORK_TEXT} AS text, sha256({WORK_TEXT}) AS digest, e.content_hash AS old_hash
            FROM {_FROM} LEFT JOIN embeddings e
              ON e.work_id = w.work_id AND e.kind = 'title_abstract' AND e.chunk = 0 AND e.model_id = ?
            WHERE w.work_id > ?)
        WHERE old_hash IS DISTINCT FROM digest
        ORDER BY work_id LIMIT ?
        """,
        [model_id, after, limit],
    ).fetchall()


def documents_to_embed(con: Connection, model_id: str, after: int, limit: int) -> list[tuple[int, str, str, bool]]:
    """(work_id, full text, hash, had older chunks) of extracted texts with no current chunk vectors."""
    return con.execute(
        """
        SELECT work_id, text, digest, old_hash IS NOT NULL FROM (
            SELECT d.work_id, d.text, sha256(d.text) AS digest, e.content_hash AS old_hash
            FROM documents d LEFT JOIN embeddings e
              ON e.work_id = d.work_id AND e.kind = 'fulltext_chunk' AND e.chunk = 0 AND e.model_id = ?
            WHERE d.extract_status = 'ok' AND coalesce(trim(d.text), '') <> '' AND d.work_id > ?)
        WHERE old_hash IS DISTINCT FROM digest
        ORDER BY work_id LIMIT ?
        """,
        [model_id, after, limit],
    ).fetchall()


def delete_chunks(con: Connection, work_id: int, model_id: str) -> None:
    con.execute(
        "DELETE FROM embeddings WHERE work_id = ? AND kind = 'fulltext_chunk' AND model_id = ?", [work_id, model_id]
    )


def put_embeddings(con: Connection, rows: Sequence[tuple]) -> None:
    """Store (work_id, kind, chunk, model_id, content_hash, vector, run_id) rows, replacing older vectors."""
    import pyarrow as pa

    import numpy as np

    now = utcnow()
    # One float32 matrix into one Arrow list column (no per-float Python objects): rows of a page
    # share a dimension; a page of mixed dimensions (tests only) takes the slow path.
    dims = {len(r[5]) for r in rows}
    if len(dims) == 1:
        dim = dims.pop()
        flat = pa.array(np.asarray([r[5] for r in rows], dtype=np.float32).reshape(-1))
        vectors = pa.ListArray.from_arrays(pa.array(np.arange(0, len(rows) * dim + 1, dim, dtype=np.int32)), flat)
    else:
        vectors = pa.array([list(map(float, r[5])) for r in rows], pa.list_(pa.float32()))
    cols = {
        "work_id": pa.array([r[0] for r in rows], pa.int32()),
        "kind": [r[1] for r in rows], "chunk": pa.array([r[2] for r in rows], pa.int32()),
        "model_id": [r[3] for r in rows], "dim": pa.array([len(r[5]) for r in rows], pa.int32()),
        "content_hash": [r[4] for r in rows],
        "vector": vectors,
        "run_id": pa.array([r[6] for r in rows], pa.string()), "created_at": [now] * len(rows),
    }
    insert_columns(con, "embeddings", cols,
                    "ON CONFLICT (work_id, kind, chunk, model_id) DO UPDATE SET dim = excluded.dim, "
                    "content_hash = excluded.content_hash, vector = excluded.vector, run_id = excluded.run_id, "
                    "created_at = excluded.created_at")


def record_embed_failure(con: Connection, run_id: str | None, work_id: int, error: BaseException) -> None:
    record_failure(con, run_id, "embed", str(work_id), error)


def resolve_embed_failures(con: Connection, work_ids: Sequence[int]) -> None:
    con.execute(
        "UPDATE failures SET resolved_at = ? WHERE stage = 'embed' AND resolved_at IS NULL AND list_contains(?, item)",
        [utcnow(), [str(w) for w in work_ids]],
    )


def embedding_dim(con: Connection, model_id: str) -> int | None:
    row = con.execute("SELECT max(dim) FROM embeddings WHERE model_id = ?", [model_id]).fetchone()
    return row[0]


def embedding_models(con: Connection) -> list[tuple[str, int, int]]:
    """(model_id, dim, works) of every model with stored title_abstract vectors."""
    return con.execute(
        "SELECT model_id, max(dim), count(DISTINCT work_id) FROM embeddings WHERE kind = 'title_abstract' "
        "GROUP BY model_id ORDER BY 3 DESC"
    ).fetchall()


def resolve_work(con: Connection, ref: str) -> int | None:
    """A work_id from a work id, an arXiv id, or a survey citation key."""
    if ref.isdigit():
        row = con.execute("SELECT work_id FROM works WHERE work_id = ?", [int(ref)]).fetchone()
        if row:
            return row[0]
    row = con.execute("SELECT work_id FROM works WHERE arxiv_id = ?", [ref]).fetchone()
    if row:
        return row[0]
    row = con.execute(
        "SELECT work_id FROM survey_references WHERE key = ? AND work_id IS NOT NULL LIMIT 1", [ref]
    ).fetchone()
    return row[0] if row else None


def similar_works(con: Connection, work_id: int, model_id: str, limit: int = 10) -> list[tuple]:
    """(work_id, arxiv_id, year, title, cosine) of the works nearest ``work_id``: exact search over
    every stored title_abstract vector of the model."""
    dim = embedding_dim(con, model_id)
    if dim is None:
        return []
    return con.execute(
        f"""
        WITH q AS (SELECT vector::FLOAT[{dim}] AS v FROM embeddings
                   WHERE work_id = ? AND kind = 'title_abstract' AND model_id = ?)
        SELECT w.work_id, w.arxiv_id, w.year, w.title,
               array_cosine_similarity(e.vector::FLOAT[{dim}], q.v) AS cosine
        FROM embeddings e, q, works w
        WHERE e.model_id = ? AND e.kind = 'title_abstract' AND e.work_id <> ? AND w.work_id = e.work_id
          AND NOT isnan(array_cosine_similarity(e.vector::FLOAT[{dim}], q.v))
        ORDER BY cosine DESC LIMIT ?
        """,
        [work_id, model_id, model_id, work_id, limit],
    ).fetchall()


def has_embedding(con: Connection, work_id: int, model_id: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM embeddings WHERE work_id = ? AND kind = 'title_abstract' AND model_id = ?",
        [work_id, model_id],
    ).fetchone()[0] > 0


# -- labels and taxonomy ---------------------------------------------------------------------------


def survey_row(con: Connection) -> tuple[str, str, dict] | None:
    """(survey_id, title, meta) of the survey loaded last, or None before any is loaded."""
    row = con.execute("SELECT survey_id, title, meta FROM surveys ORDER BY loaded_at DESC, survey_id LIMIT 1").fetchone()
    return None if row is None else (row[0], row[1], json.loads(row[2]) if row[2] else {})


def taxonomy_rows(con: Connection) -> list[tuple]:
    """(label_set, label_id, parent_id, name, kind, description, position) of every label."""
    return con.execute(
        "SELECT label_set, label_id, parent_id, name, kind, description, position FROM labels "
        "ORDER BY label_set, position"
    ).fetchall()


_ITEM_COLUMNS = (
    f"w.work_id, {WORK_TEXT} AS text, {INPUT_HASH} AS input_hash, "
    "CASE WHEN d.extract_status = 'ok' THEN substr(d.text, 1, 4000) END AS excerpt"
)


def work_items(con: Connection, model_id: str | None, work_ids: Sequence[int] | None = None,
               after: int = 0, limit: int | None = None) -> list[tuple]:
    """(work_id, text, input hash, full-text excerpt or None, vector or None) of works, by work_id; a
    vector is a float32 numpy array (a view of the page's one matrix).

    ``work_ids`` picks works; else a page of works with id above ``after``. The works are picked
    first and only theirs are read and hashed, so paging costs the page, not the rest of the table.
    """
    if work_ids is not None:
        picked, params = "SELECT DISTINCT unnest(?::INTEGER[]) AS work_id", [list(work_ids)]
    else:
        picked, params = "SELECT work_id FROM works WHERE work_id > ? ORDER BY work_id", [after]
        if limit is not None:
            picked += " LIMIT ?"
            params.append(limit)
    sql = (
        f"WITH picked AS ({picked}) SELECT {_ITEM_COLUMNS}, e.vector FROM picked p JOIN works w ON w.work_id = p.work_id "
        "LEFT JOIN documents d ON d.work_id = w.work_id LEFT JOIN embeddings e ON e.work_id = w.work_id "
        "AND e.kind = 'title_abstract' AND e.model_id = ? ORDER BY w.work_id"
    )
    params.append(model_id or "")
    if work_ids is not None and limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Arrow output on a DB-API result makes an extra copy": of one page
        table = con.execute(sql, params).to_arrow_table()
    columns = [table.column(i).to_pylist() for i in range(4)]
    return list(zip(*columns, _vectors(table.column(4))))


def _vectors(column) -> list:
    """An Arrow list column of vectors as float32 numpy views of one flat array (None where null)."""
    import numpy as np

    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if len(array) == 0:
        return []
    offsets = array.offsets.to_numpy()
    values = np.asarray(array.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    return [values[offsets[i]:offsets[i + 1]] if valid[i] else None for i in range(len(array))]


def work_inputs(con: Connection, model_id: str | None) -> list[tuple[int, str, bool]]:
    """(work_id, input hash, has a title_abstract vector of ``model_id``) of every work, by work_id:
    what a classifier needs to decide which works to read (``work_items``)."""
    return con.execute(
        f"SELECT w.work_id, {INPUT_HASH}, e.work_id IS NOT NULL FROM {_FROM} LEFT JOIN embeddings e "
        "ON e.work_id = w.work_id AND e.kind = 'title_abstract' AND e.model_id = ? ORDER BY w.work_id",
        [model_id or ""],
    ).fetchall()


def done_inputs(con: Connection, source: str, source_version: str,
                work_ids: Sequence[int] | None = None) -> set[tuple[int, str]]:
    """(work_id, content_hash) pairs that ``source`` at ``source_version`` already labelled (among
    ``work_ids``, or of every work)."""
    rows = con.execute(
        "SELECT DISTINCT work_id, content_hash FROM label_assignments WHERE source = ? AND source_version = ? "
        "AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], work_id))",
        [source, source_version, _ids(work_ids), _ids(work_ids)],
    ).fetchall()
    return {(w, h) for w, h in rows}


def labelled_by(con: Connection, source: str, work_ids: Sequence[int] | None = None) -> set[int]:
    """Works among ``work_ids`` (or of all) that ``source`` labelled before, in any version."""
    rows = con.execute(
        "SELECT DISTINCT work_id FROM label_assignments WHERE source = ? "
        "AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], work_id))",
        [source, _ids(work_ids), _ids(work_ids)],
    ).fetchall()
    return {w for (w,) in rows}


def _ids(work_ids: Sequence[int] | None) -> list[int] | None:
    return None if work_ids is None else list(work_ids)


def gold_labels(con: Connection) -> list[tuple]:
    """(work_id, label_set, label_id, source, status, assigned) of the current survey and human labels.

    A human decision on a (work, label) replaces the survey's: only the human row is returned then.
    """
    return con.execute(
        """
        WITH cur AS (SELECT * FROM latest_labels WHERE source IN ('survey', 'human')),
        human AS (SELECT work_id, label_set, label_id FROM cur WHERE source = 'human')
        SELECT c.work_id, c.label_set, c.label_id, c.source, c.status,
               CASE WHEN c.source = 'human' THEN c.assigned AND coalesce(c.status, 'accept') <> 'reject'
                    ELSE c.assigned END
        FROM cur c
        WHERE c.source = 'human' OR NOT EXISTS (
            SELECT 1 FROM human h WHERE h.work_id = c.work_id AND h.label_set = c.label_set AND h.label_id = c.label_id)
        ORDER BY c.work_id, c.label_set, c.label_id
        """
    ).fetchall()


def survey_status(con: Connection) -> dict[int, str]:
    """work_id -> the survey's label_status (verified, silver-agree, silver-disagree)."""
    rows = con.execute(
        "SELECT work_id, any_value(label_status) FROM survey_references WHERE work_id IS NOT NULL GROUP BY work_id"
    ).fetchall()
    return {w: s for w, s in rows}


def write_assignments(con: Connection, rows: Iterable[dict]) -> int:
    """Insert classifier label rows; each dict holds the label_assignments columns. Returns the count."""
    creator = who()
    cols: dict[str, list] = {c: [] for c in _ASSIGNMENT_COLUMNS}
    encoded: dict[int, tuple[object, str]] = {}  # a classifier's rows share one params dict: encoded once
    for r in rows:
        for c in _ASSIGNMENT_COLUMNS:
            value = r.get(c)
            if c == "params":
                key = id(value)
                if key not in encoded or encoded[key][0] is not value:
                    encoded[key] = (value, json_param(value or {}))
                value = encoded[key][1]
            elif c == "created_by":
                value = creator
            cols[c].append(value)
    n = len(cols["work_id"])
    if n:
        insert_columns(con, "label_assignments", cols)
    return n


_ASSIGNMENT_COLUMNS = ["work_id", "label_set", "label_id", "source", "source_version", "model", "prompt_version",
                       "params", "score", "assigned", "status", "rationale", "content_hash", "run_id", "created_by"]


# -- LLM cache -------------------------------------------------------------------------------------


def cached_response(con: Connection, prompt_hash: str, model: str) -> tuple[str, int, int] | None:
    return con.execute(
        "SELECT response, prompt_tokens, completion_tokens FROM llm_cache WHERE prompt_hash = ? AND model = ?",
        [prompt_hash, model],
    ).fetchone()


def cache_response(con: Connection, prompt_hash: str, model: str, response: str, prompt_tokens: int | None,
                   completion_tokens: int | None) -> None:
    con.execute(
        "INSERT INTO llm_cache (prompt_hash, model, response, prompt_tokens, completion_tokens) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [prompt_hash, model, response, prompt_tokens, completion_tokens],
    )


# -- evaluations -----------------------------------------------------------------------------------


def write_evaluation(con: Connection, run_id: str, rows: Iterable[tuple], config: dict) -> int:
    """Insert (method, label_set, stratum, label_id, metric, value) rows of one evaluation run."""
    text = json.dumps(config, default=str, sort_keys=True)
    values = [[run_id, *row, text] for row in rows]
    if values:
        con.executemany(
            "INSERT INTO evaluations (run_id, method, label_set, stratum, label_id, metric, value, config) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    return len(values)
