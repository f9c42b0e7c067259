"""Ordered, named schema migrations. The list reads like a changelog: append, never edit.

Each migration runs in its own transaction and is recorded in ``schema_migrations``. Every table
and column carries a ``COMMENT``, which ``litmine schema`` prints: the schema documents itself.
Numbers leave gaps so that parallel work can add migrations without renumbering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from litmine.store.initial_schema import INITIAL, table


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str | Callable  # SQL text, or a function taking a connection


_VIEWS = """
CREATE VIEW survey_labels AS
SELECT r.survey_id, r.ref, r.key, r.work_id, w.arxiv_id, coalesce(w.title, r.title) AS title,
       r.year, unnest(r.sections) AS section, r.label_status, r.metadata_confidence
FROM survey_references r LEFT JOIN works w USING (work_id);
COMMENT ON VIEW survey_labels IS 'One row per survey reference and citing section (1, 2.1-5.7, 6, 7); references with no section are left out.';

CREATE VIEW latest_labels AS
SELECT * EXCLUDE (rn) FROM (
    SELECT a.*, row_number() OVER (
        PARTITION BY work_id, label_set, label_id, source ORDER BY created_at DESC, assignment_id DESC) AS rn
    FROM label_assignments a)
WHERE rn = 1;
COMMENT ON VIEW latest_labels IS 'The newest row per work, label and source: what each source says now.';

CREATE VIEW stage_counts AS
SELECT 'works' AS stage, count(*) AS n FROM works
UNION ALL SELECT 'pdfs ok', count(*) FROM documents WHERE download_status = 'ok'
UNION ALL SELECT 'pdfs failed', count(*) FROM documents WHERE download_status = 'failed'
UNION ALL SELECT 'text ok', count(*) FROM documents WHERE extract_status = 'ok'
UNION ALL SELECT 'text failed', count(*) FROM documents WHERE extract_status NOT IN ('ok')
UNION ALL SELECT 'embedded works', count(DISTINCT work_id) FROM embeddings
UNION ALL SELECT 'citations', count(*) FROM citations
UNION ALL SELECT 'open failures', count(*) FROM failures WHERE resolved_at IS NULL;
COMMENT ON VIEW stage_counts IS 'How far the pipeline has got: rows per stage.';
"""

_REVIEW_DECISIONS = table(
    "review_decisions",
    "Decisions a reviewer recorded on a disagreement (journal data/decisions/), each imported once as a human label.",
    [
        ("decision_id", "VARCHAR PRIMARY KEY", "id given when the decision was recorded (a UUID), so an import is never doubled"),
        ("work_id", "INTEGER NOT NULL", "the work"),
        ("label_set", "VARCHAR NOT NULL", "label set of the label decided on"),
        ("label_id", "VARCHAR NOT NULL", "the label decided on"),
        ("decision", "VARCHAR NOT NULL", "accept (the work carries the label) or reject (it does not)"),
        ("note", "VARCHAR", "the reviewer's note; becomes the human label's rationale"),
        ("reviewer", "VARCHAR", "who decided (user@host)"),
        ("decided_at", "TIMESTAMP NOT NULL", "when the reviewer decided (UTC)"),
        ("imported_at", "TIMESTAMP NOT NULL", "when the decision became a label_assignments row"),
        ("assignment_id", "BIGINT", "the label_assignments row (source human) it became"),
        ("run_id", "VARCHAR", "run that imported it, NULL when the notebook imported it at once"),
    ],
)

_DISAGREEMENTS = """
CREATE VIEW disagreements AS
WITH machine AS (
    SELECT * FROM latest_labels
    WHERE source NOT IN ('survey', 'human') AND label_set IN ('part', 'subsection', 'theme')
),
per_label AS (
    SELECT work_id, label_set, label_id,
           count(*) AS n_methods,
           count(*) FILTER (WHERE assigned) AS n_assigned,
           avg(score) AS mean_score,
           list(struct_pack(method := source, version := source_version, score := round(score, 3),
                            assigned := assigned, run_id := run_id) ORDER BY source) AS methods,
           string_agg(CASE WHEN rationale IS NOT NULL THEN source || ': ' || rationale END, ' | ') AS rationales
    FROM machine GROUP BY work_id, label_set, label_id
),
survey AS (
    SELECT work_id, label_set,
           list(label_id ORDER BY label_id) FILTER (WHERE assigned) AS survey_set,
           any_value(status) AS survey_status
    FROM latest_labels WHERE source = 'survey' AND label_set IN ('part', 'subsection', 'theme')
    GROUP BY work_id, label_set
),
decided AS (SELECT DISTINCT work_id, label_set, label_id FROM label_assignments WHERE source = 'human'),
scored AS (
    SELECT p.*, s.survey_status,
           s.survey_set IS NOT NULL AND s.survey_status <> 'example' AS survey_labelled,
           coalesce(list_contains(s.survey_set, p.label_id), false) AS survey_says,
           least(p.n_assigned, p.n_methods - p.n_assigned) * 2.0 / p.n_methods AS split,
           1 - abs(2 * p.mean_score - 1) AS uncertainty
    FROM per_label p LEFT JOIN survey s USING (work_id, label_set)
    WHERE NOT EXISTS (SELECT 1 FROM decided h WHERE h.work_id = p.work_id AND h.label_set = p.label_set
                      AND h.label_id = p.label_id)
),
ranked AS (
    SELECT *,
           CASE WHEN survey_says THEN (n_methods - n_assigned) / n_methods
                WHEN coalesce(survey_labelled, false) THEN n_assigned / n_methods
                ELSE 0.0 END AS against_survey
    FROM scored
)
SELECT r.work_id, w.arxiv_id, w.title, r.label_set, r.label_id, l.name AS label_name,
       CASE WHEN r.split > 0 AND r.against_survey > 0 THEN 'methods and survey'
            WHEN r.split > 0 THEN 'methods' ELSE 'survey' END AS disagreement,
       round(r.split + r.uncertainty + r.against_survey
             + CASE WHEN r.survey_status = 'silver-disagree' THEN 0.5 ELSE 0 END, 3) AS priority,
       CASE WHEN r.survey_says OR r.survey_labelled THEN r.survey_says END AS survey_says,
       r.survey_status, r.n_assigned, r.n_methods, round(r.mean_score, 3) AS mean_score,
       r.methods, r.rationales, sr.annotations AS survey_annotations
FROM ranked r
JOIN works w USING (work_id)
LEFT JOIN labels l ON l.label_set = r.label_set AND l.label_id = r.label_id
LEFT JOIN (SELECT work_id, any_value(annotations) AS annotations FROM survey_references
           WHERE work_id IS NOT NULL GROUP BY work_id) sr USING (work_id)
WHERE r.split > 0 OR r.against_survey > 0
ORDER BY priority DESC, r.work_id, r.label_set, r.label_id;
COMMENT ON VIEW disagreements IS 'Works and labels on which classifiers disagree with each other or with the survey, most informative first (priority = split between methods + uncertainty of their mean score + share of methods against the survey, +0.5 where the survey annotators disagreed). Labels a human already decided are left out.';

CREATE MACRO similar_works(wid, n) AS TABLE
    SELECT o.work_id, w.arxiv_id, w.title, list_cosine_similarity(o.vector, q.vector) AS cosine, o.model_id
    FROM embeddings q
    JOIN embeddings o ON o.model_id = q.model_id AND o.kind = 'title_abstract' AND o.work_id <> q.work_id
    JOIN works w ON w.work_id = o.work_id
    WHERE q.work_id = wid AND q.kind = 'title_abstract' AND NOT isnan(list_cosine_similarity(o.vector, q.vector))
    ORDER BY cosine DESC LIMIT n;

COMMENT ON COLUMN embeddings.content_hash IS 'sha256 of the embedded text (for fulltext_chunk rows: of the whole extracted text); unchanged text is not embedded again';
"""

_CITATION_VIEWS = """
COMMENT ON COLUMN documents.path IS 'file path: relative to the data directory for downloaded PDFs, absolute for local files registered by `litmine extract --pdf-dir` (read in place, never copied)';
COMMENT ON COLUMN documents.extract_status IS 'ok, encrypted, damaged, empty, no_text, too_large, not_pdf, missing, timeout, crashed (timeout, crashed and missing are retried on the next run)';
COMMENT ON COLUMN documents.text IS 'cleaned full text; a failed re-extraction keeps the text an earlier one stored, and a damaged file keeps what mupdf recovered';
COMMENT ON COLUMN citations.match_method IS 'arxiv_id (the work''s id, or the id a survey gives its entry), doi or title; NULL when unresolved';
COMMENT ON COLUMN citations.match_score IS 'for title matches: similarity (0-1) of the parsed title to the work''s title (1.0: equal after normalising)';

CREATE VIEW cited_by AS
SELECT c.cited_work_id AS work_id, w.arxiv_id, w.title,
       c.citing_work_id, cw.arxiv_id AS citing_arxiv_id, cw.title AS citing_title,
       c.position, c.match_method, c.match_score
FROM citations c
JOIN works w ON w.work_id = c.cited_work_id
JOIN works cw ON cw.work_id = c.citing_work_id;
COMMENT ON VIEW cited_by IS 'Which works cite which: one row per reference linked to a work (work_id is cited by citing_work_id).';

CREATE VIEW connected_papers AS
WITH survey_works AS (
    SELECT work_id FROM work_sources WHERE source = 'survey'
    UNION SELECT work_id FROM survey_references WHERE work_id IS NOT NULL),
cites AS (
    SELECT c.*, coalesce('work:' || c.cited_work_id, 'arxiv:' || c.arxiv_id, 'doi:' || c.doi,
                         'title:' || lower(c.title)) AS cited_key
    FROM citations c
    WHERE c.citing_work_id IN (SELECT work_id FROM survey_works)
      AND (c.cited_work_id IS NULL OR c.cited_work_id NOT IN (SELECT work_id FROM survey_works)))
SELECT c.cited_key, any_value(c.cited_work_id) AS work_id,
       coalesce(any_value(w.arxiv_id), any_value(c.arxiv_id)) AS arxiv_id,
       coalesce(any_value(w.title), any_value(c.title)) AS title,
       count(DISTINCT c.citing_work_id) AS cited_by_survey_works,
       list(DISTINCT c.citing_work_id ORDER BY c.citing_work_id) AS citing_work_ids
FROM cites c LEFT JOIN works w ON w.work_id = c.cited_work_id
WHERE c.cited_key IS NOT NULL
GROUP BY c.cited_key
ORDER BY cited_by_survey_works DESC, cited_key;
COMMENT ON VIEW connected_papers IS 'Works the survey''s works cite that the survey does not: linked works, or unresolved entries grouped by arXiv id, DOI or title, most cited by survey works first.';
"""

_REVIEW_UNDO = """
ALTER TABLE review_decisions ADD COLUMN undoes VARCHAR;
COMMENT ON COLUMN review_decisions.undoes IS 'for decision ''undo'': the decision_id it retracts (that decision''s human label row is deleted, so the label is undecided again)';
COMMENT ON COLUMN review_decisions.decision IS 'accept (the work carries the label), reject (it does not) or undo (retracts the decision named in undoes)';
"""

_SCREENING = table(
    "screening_candidates",
    "Candidate papers a survey's seed judges in or out of its scope (its screening file): ids and judgements.",
    [
        ("survey_id", "VARCHAR NOT NULL", "the survey"),
        ("arxiv_id", "VARCHAR NOT NULL", "arXiv id of the candidate, without version"),
        ("work_id", "INTEGER NOT NULL", "the candidate's work (its title and abstract come from arXiv)"),
        ("listing_date", "DATE", "the arXiv listing day that brought it in"),
        ("scope", "VARCHAR", "in, out or borderline; NULL where the annotators disagreed"),
        ("subsection", "VARCHAR", "agreed subsection of an in or borderline candidate"),
        ("label_status", "VARCHAR NOT NULL", "silver-agree (both annotators chose the same scope) or silver-disagree"),
        ("annotations", "JSON", "each annotator's scope;subsection;confidence, as given"),
    ],
    "PRIMARY KEY (survey_id, arxiv_id)",
)

_SCOPE_DECISIONS = """
CREATE VIEW scope_decisions AS
WITH inscope AS (
    SELECT unnest(from_json(json_extract(meta, '$.in_scope_label_sets'), '["VARCHAR"]')) AS label_set
    FROM labels WHERE label_set = 'scope' AND label_id = 'in'),
human AS (
    SELECT work_id, assigned AND coalesce(status, 'accept') <> 'reject' AS inside
    FROM latest_labels WHERE source = 'human' AND label_set = 'scope' AND label_id = 'in'),
screening AS (
    SELECT work_id, assigned AS inside FROM latest_labels
    WHERE source = 'screening' AND label_set = 'scope' AND label_id = 'in'),
survey AS (
    SELECT DISTINCT work_id FROM latest_labels
    WHERE source IN ('survey', 'human') AND assigned AND coalesce(status, '') <> 'reject'
      AND label_set IN (SELECT label_set FROM inscope)),
machine AS (
    SELECT work_id, arg_min(assigned, pick) AS inside, arg_min(score, pick) AS probability,
           arg_min(source, pick) AS source, arg_min(status, pick) AS status
    FROM (SELECT *, CASE source WHEN 'scope-ensemble' THEN 1 WHEN 'scope-supervised' THEN 2
                                WHEN 'scope-zeroshot' THEN 3 ELSE 4 END AS pick
          FROM latest_labels WHERE label_set = 'scope' AND label_id = 'in' AND source LIKE 'scope-%')
    GROUP BY work_id)
SELECT w.work_id, w.arxiv_id, w.title,
       CASE WHEN h.work_id IS NOT NULL THEN (CASE WHEN h.inside THEN 'in' ELSE 'out' END)
            WHEN s.work_id IS NOT NULL THEN 'in'
            WHEN sc.work_id IS NOT NULL THEN (CASE WHEN sc.inside THEN 'in' ELSE 'out' END)
            WHEN m.work_id IS NOT NULL THEN (CASE WHEN m.inside THEN 'in' ELSE 'out' END) END AS decision,
       CASE WHEN h.work_id IS NOT NULL THEN 'human' WHEN s.work_id IS NOT NULL THEN 'survey'
            WHEN sc.work_id IS NOT NULL THEN 'screening' ELSE m.source END AS decided_by,
       round(m.probability, 4) AS probability,
       round(1 - abs(2 * m.probability - 1), 4) AS uncertainty,
       coalesce(m.status = 'title-only', false) AS title_only
FROM works w
LEFT JOIN human h USING (work_id) LEFT JOIN survey s USING (work_id)
LEFT JOIN screening sc USING (work_id) LEFT JOIN machine m USING (work_id);
COMMENT ON VIEW scope_decisions IS 'Whether each work belongs in the survey: a reviewer''s decision, else the survey placing it, else the seed''s screening label, else the scope methods (the ensemble first); decision NULL until screened. probability: the method''s calibrated probability; uncertainty 1 at 0.5; title_only: screened without an abstract.';
"""

# The disagreements view over every classified label set of any survey: the scope decision has its own queue.
_DISAGREEMENTS_ANY_SURVEY = (
    _DISAGREEMENTS[: _DISAGREEMENTS.index("CREATE MACRO")]
    .replace("CREATE VIEW disagreements", "CREATE OR REPLACE VIEW disagreements")
    .replace("label_set IN ('part', 'subsection', 'theme')", "label_set <> 'scope'")
)

_TOPICS = "\n".join([
    table(
        "topics",
        "Topics of the in-scope works (survey and new) found by `litmine topics` (BERTopic on the stored embeddings), one row per run and topic.",
        [
            ("run_id", "VARCHAR NOT NULL", "the run that fitted the topics"),
            ("topic_id", "INTEGER NOT NULL", "BERTopic's topic number within the run (outliers, -1, are not stored)"),
            ("name", "VARCHAR NOT NULL", "the topic's name: its leading c-TF-IDF phrases"),
            ("phrases", "VARCHAR[]", "its c-TF-IDF phrases, most characteristic first"),
            ("size", "INTEGER NOT NULL", "works in the topic"),
            ("survey_works", "INTEGER NOT NULL", "of them, works the survey cites"),
            ("before_survey", "INTEGER NOT NULL", "of them, works published before the survey's date"),
            ("after_survey", "INTEGER NOT NULL", "of them, works published on or after it"),
            ("growth", "DOUBLE", "share of the in-scope works after the survey's date over the share before (add-one smoothed)"),
            ("emerging", "BOOLEAN NOT NULL", "grows (growth >= min_growth) and the survey's own works barely hold it"),
            ("months", "JSON", "{YYYY-MM: works published} of its works"),
            ("subsections", "JSON", "{label_id: works} of the placement set its works are filed under (most trusted labels)"),
            ("typical", "INTEGER[]", "its five most typical works (closest to the topic's embedding)"),
            ("survey_date", "DATE", "the survey's date the shares are split at"),
            ("model_version", "VARCHAR NOT NULL", "litmine's topic-stage version and BERTopic's"),
            ("embedding_model", "VARCHAR", "the embedding model whose stored vectors were clustered"),
            ("params", "JSON", "BERTopic, UMAP and HDBSCAN parameters, seed included"),
            ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
        ],
        "PRIMARY KEY (run_id, topic_id)",
    ),
    table(
        "work_topics",
        "Which topic each in-scope work was put in by a topics run (outliers are left out).",
        [
            ("run_id", "VARCHAR NOT NULL", "the run"),
            ("work_id", "INTEGER NOT NULL", "the work"),
            ("topic_id", "INTEGER NOT NULL", "its topic in that run"),
            ("similarity", "DOUBLE", "cosine similarity of the work's embedding to the topic's"),
        ],
        "PRIMARY KEY (run_id, work_id)",
    ),
    table(
        "topic_proposals",
        "A new label proposed from a topic; a maintainer accepts it (`litmine topics accept`) into the placement set.",
        [
            ("run_id", "VARCHAR NOT NULL", "the topics run"),
            ("topic_id", "INTEGER NOT NULL", "the topic"),
            ("label_set", "VARCHAR NOT NULL", "the label set it would join (the survey's placement set)"),
            ("label_id", "VARCHAR", "the label's id once accepted"),
            ("parent_id", "VARCHAR", "the label it would sit under: the parent of the subsection most of its works are filed in"),
            ("name", "VARCHAR NOT NULL", "proposed name"),
            ("description", "VARCHAR NOT NULL", "proposed description: its phrases and typical works"),
            ("status", "VARCHAR NOT NULL", "proposed or accepted"),
            ("decided_by", "VARCHAR", "who accepted it"),
            ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when proposed"),
            ("decided_at", "TIMESTAMP", "when accepted"),
        ],
        "PRIMARY KEY (run_id, topic_id)",
    ),
    """CREATE VIEW topic_works AS
SELECT t.run_id, t.topic_id, t.name AS topic, t.emerging, wt.work_id, w.arxiv_id, w.title, w.published,
       round(wt.similarity, 4) AS similarity
FROM work_topics wt JOIN topics t USING (run_id, topic_id) JOIN works w USING (work_id)
WHERE t.run_id = (SELECT run_id FROM topics ORDER BY created_at DESC, run_id LIMIT 1);
COMMENT ON VIEW topic_works IS 'The works of each topic of the latest topics run, with the topic''s name: SELECT * FROM topic_works WHERE topic_id = 3 ORDER BY similarity DESC.';""",
])

_DIGESTS = "CREATE SEQUENCE digest_id_seq START 1;\n" + table(
    "digests",
    "One row per digest written: its window. The next digest starts where the newest one ended (its watermark).",
    [
        ("digest_id", "INTEGER PRIMARY KEY DEFAULT nextval('digest_id_seq')", "the digest"),
        ("since", "TIMESTAMP NOT NULL", "works first stored after this time (UTC) are the digest's"),
        ("until", "TIMESTAMP NOT NULL", "the digest's end: the next digest lists works first stored after it"),
        ("works", "INTEGER NOT NULL", "works the digest counts as new"),
        ("folder", "VARCHAR", "where digest.md, digest.html and the plots were written"),
        ("run_id", "VARCHAR", "run that wrote it, NULL for `litmine digest`"),
        ("created_at", "TIMESTAMP NOT NULL", "when it was written (UTC)"),
    ],
) + "\n" + table(
    "digest_states",
    "What a digest saw of each work it counted and of each work it reported earlier: scope and placement, and who "
    "decided them; the next digest reports the flips.",
    [
        ("digest_id", "INTEGER NOT NULL", "the digest"),
        ("work_id", "INTEGER NOT NULL", "the work"),
        ("scope", "VARCHAR", "in, out, or NULL (not screened)"),
        ("scope_by", "VARCHAR", "who decided the scope (human, survey, screening, scope-ensemble ...)"),
        ("probability", "DOUBLE", "the scope method's probability in scope"),
        ("placement", "VARCHAR", "the placement labels, comma-separated, NULL when unplaced or out of scope"),
        ("placement_by", "VARCHAR", "who placed it (human, survey, ensemble ...)"),
    ],
    "PRIMARY KEY (digest_id, work_id)",
)

MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema: works, sources, survey, documents, citations, embeddings, labels, runs", INITIAL),
    Migration(2, "views: survey_labels, latest_labels, stage_counts", _VIEWS),
    Migration(20, "citation views: cited_by, connected_papers; documents.path may be absolute", _CITATION_VIEWS),
    Migration(30, "disagreements view, similar_works(work_id, n) macro", _DISAGREEMENTS),
    Migration(40, "review_decisions: reviewers' decisions, imported once each as human labels", _REVIEW_DECISIONS),
    Migration(50, "runs.status may be interrupted", "COMMENT ON COLUMN runs.status IS 'running, ok, partial (some "
              "items failed), failed, or interrupted (its process stopped before it finished; the next run marks it)';"),
    Migration(60, "screening_candidates: a seed's candidates judged in or out of the survey's scope", _SCREENING),
    Migration(61, "scope_decisions view: in or out of the survey, and who decided", _SCOPE_DECISIONS),
    Migration(62, "failures: one name per stage, that of the stage table (resolve and classify:X renamed)",
              "UPDATE failures SET stage = 'fetch-survey' WHERE stage = 'resolve'; "
              "UPDATE failures SET stage = 'classify-' || substr(stage, 10) WHERE stage LIKE 'classify:%';"),
    Migration(63, "failures: the screening candidates' fetch is stage fetch-survey too",
              "UPDATE failures SET item = 'screening id batch' WHERE stage = 'fetch-screening' AND item = 'id batch'; "
              "UPDATE failures SET stage = 'fetch-survey' WHERE stage = 'fetch-screening';"),
    Migration(65, "disagreements view: every label set the survey seed classifies, not only part, subsection, theme",
              _DISAGREEMENTS_ANY_SURVEY),
    Migration(80, "review_decisions.undoes: a reviewer's undo retracts an earlier decision", _REVIEW_UNDO),
    Migration(100, "digests and digest_states: each digest's window (the next starts at its end) and what it saw",
              _DIGESTS),
    Migration(110, "topics, work_topics, topic_proposals, view topic_works: emerging topics and proposed labels", _TOPICS),
    Migration(120, "failures: one format for every method, item '<method> <work id>' (classify-<method> items were the id)",
              "UPDATE failures SET item = substr(stage, 10) || ' ' || item "
              "WHERE stage LIKE 'classify-%' AND regexp_full_match(item, '[0-9]+');"),
]
