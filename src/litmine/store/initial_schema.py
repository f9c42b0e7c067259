"""Migration 1, litmine's first schema: every table with its comments (``litmine schema`` prints
them), and ``table``, which writes a CREATE TABLE with the comments of the table and its columns
(later migrations use it too). The list of migrations is ``migrations.py``."""

from __future__ import annotations


def table(name: str, doc: str, columns: list[tuple[str, str, str]], extra: str = "") -> str:
    """CREATE TABLE plus its comments, from (column, type, comment) triples."""
    body = ",\n    ".join(f"{col} {typ}" for col, typ, _ in columns)
    if extra:
        body += ",\n    " + extra
    sql = [f"CREATE TABLE {name} (\n    {body}\n);", f"COMMENT ON TABLE {name} IS {_q(doc)};"]
    sql += [f"COMMENT ON COLUMN {name}.{col} IS {_q(comment)};" for col, _, comment in columns]
    return "\n".join(sql)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


INITIAL = "\n\n".join(
    [
        "CREATE SEQUENCE work_id_seq START 1;",
        "CREATE SEQUENCE assignment_id_seq START 1;",
        "CREATE SEQUENCE failure_id_seq START 1;",
        table(
            "runs",
            "One row per litmine command or flow run that writes; label rows and failures point here.",
            [
                ("run_id", "VARCHAR PRIMARY KEY", "unique id of the run (a UUID)"),
                ("command", "VARCHAR NOT NULL", "what ran: run, fetch arxiv, classify, ..."),
                ("started_at", "TIMESTAMP NOT NULL", "when it started (UTC)"),
                ("finished_at", "TIMESTAMP", "when it ended (UTC); NULL while running or if killed"),
                ("status", "VARCHAR NOT NULL", "running, ok, partial (some items failed), failed"),
                ("counts", "JSON", "per-stage counts: new, updated, unchanged, failed"),
                ("error", "VARCHAR", "why the run failed, when it did"),
                ("litmine_version", "VARCHAR NOT NULL", "version of litmine that ran"),
                ("config", "JSON", "settings in force (secrets removed)"),
            ],
        ),
        table(
            "works",
            "One row per scholarly work, whatever brought it in.",
            [
                ("work_id", "INTEGER PRIMARY KEY DEFAULT nextval('work_id_seq')", "litmine's stable id of the work"),
                ("arxiv_id", "VARCHAR UNIQUE", "arXiv id without version (2207.13243, hep-th/9901001)"),
                ("arxiv_version", "INTEGER", "latest arXiv version seen (6 for 2207.13243v6)"),
                ("doi", "VARCHAR", "DOI, lower case, without https://doi.org/"),
                ("title", "VARCHAR NOT NULL", "title"),
                ("authors", "VARCHAR[]", "author names in order"),
                ("year", "INTEGER", "year of first publication"),
                ("venue", "VARCHAR", "journal or conference, or arXiv journal_ref"),
                ("abstract", "VARCHAR", "abstract"),
                ("categories", "VARCHAR[]", "arXiv categories"),
                ("primary_category", "VARCHAR", "arXiv primary category"),
                ("published", "TIMESTAMP", "first arXiv version's date (UTC)"),
                ("updated", "TIMESTAMP", "latest arXiv version's date (UTC)"),
                ("pdf_url", "VARCHAR", "where the PDF of the latest version is"),
                ("comment", "VARCHAR", "arXiv author comment"),
                ("metadata_source", "VARCHAR NOT NULL", "where the metadata came from: seed, arxiv, oai-pmh, citation"),
                ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when litmine first stored the work"),
                ("modified_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when litmine last changed the row"),
            ],
        ),
        table(
            "work_sources",
            "Where each work came from; a work found several ways has several rows.",
            [
                ("work_id", "INTEGER NOT NULL", "the work"),
                ("source", "VARCHAR NOT NULL", "survey, arxiv-query, oai-pmh, citation, manual"),
                ("source_ref", "VARCHAR NOT NULL", "the survey and key, the query, or the citing work id"),
                ("run_id", "VARCHAR", "run that first found it this way"),
                ("first_seen", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
            ],
            "PRIMARY KEY (work_id, source, source_ref)",
        ),
        table(
            "surveys",
            "Surveys whose taxonomy and bibliography seed litmine.",
            [
                ("survey_id", "VARCHAR PRIMARY KEY", "short id of the survey (its seed folder's id)"),
                ("title", "VARCHAR NOT NULL", "title"),
                ("arxiv_id", "VARCHAR", "arXiv id of the survey itself"),
                ("doi", "VARCHAR", "DOI of the survey"),
                ("meta", "JSON", "everything else the seed says of it"),
                ("seed_hash", "VARCHAR NOT NULL", "sha256 of the seed files last loaded"),
                ("loaded_at", "TIMESTAMP NOT NULL", "when the seed was last loaded"),
            ],
        ),
        table(
            "survey_references",
            "Every entry of a survey's bibliography as the seed gives it, and how it was resolved to a work.",
            [
                ("survey_id", "VARCHAR NOT NULL", "the survey"),
                ("ref", "INTEGER NOT NULL", "the survey's own reference number"),
                ("key", "VARCHAR NOT NULL", "citation key"),
                ("work_id", "INTEGER", "the work this entry names"),
                ("title", "VARCHAR", "title as the seed gives it"),
                ("authors", "VARCHAR[]", "authors as the seed gives them"),
                ("year", "INTEGER", "year as the seed gives it"),
                ("venue", "VARCHAR", "venue as the seed gives it"),
                ("arxiv_id", "VARCHAR", "arXiv id as the seed gives it (unverified)"),
                ("doi", "VARCHAR", "DOI as the seed gives it"),
                ("openalex_id", "VARCHAR", "OpenAlex id as the seed gives it"),
                ("metadata_confidence", "VARCHAR", "how far to trust the seed's metadata: verified, high, medium, low, unknown"),
                ("sections", "VARCHAR[]", "survey sections citing the entry, primary first"),
                ("label_status", "VARCHAR", "verified, silver-agree or silver-disagree"),
                ("annotations", "JSON", "the seed's per-annotator labels, as given"),
                ("match_status", "VARCHAR", "arXiv resolution: pending, by-id, by-title, not-found, not-on-arxiv"),
                ("match_score", "DOUBLE", "score of the title match (0-1), when searched by title"),
                ("match_query", "VARCHAR", "the query that found (or failed to find) the arXiv record"),
                ("match_reason", "VARCHAR", "why it was or was not linked"),
                ("resolved_at", "TIMESTAMP", "when it was last resolved"),
            ],
            "PRIMARY KEY (survey_id, key)",
        ),
        table(
            "documents",
            "The full text of a work: its PDF, download state and extracted text. One row per work.",
            [
                ("work_id", "INTEGER PRIMARY KEY", "the work"),
                ("arxiv_version", "INTEGER", "version of the PDF"),
                ("url", "VARCHAR", "where it was downloaded from"),
                ("path", "VARCHAR", "file path, relative to the data directory"),
                ("sha256", "VARCHAR", "sha256 of the file"),
                ("bytes", "BIGINT", "file size"),
                ("download_status", "VARCHAR NOT NULL", "pending, ok, failed"),
                ("download_error", "VARCHAR", "why the download failed"),
                ("downloaded_at", "TIMESTAMP", "when the file was stored"),
                ("pages", "INTEGER", "page count"),
                ("extract_status", "VARCHAR", "ok, encrypted, damaged, empty, no_text, too_large, timeout"),
                ("extract_error", "VARCHAR", "why extraction failed, readably"),
                ("extractor_version", "VARCHAR", "version of litmine's extractor that made the text"),
                ("text", "VARCHAR", "cleaned full text"),
                ("abstract_text", "VARCHAR", "abstract as found in the PDF"),
                ("headings", "VARCHAR[]", "section headings in order"),
                ("extracted_at", "TIMESTAMP", "when the text was made"),
            ],
        ),
        table(
            "citations",
            "Reference-list entries parsed from a work's text, linked to works where possible.",
            [
                ("citing_work_id", "INTEGER NOT NULL", "the work whose reference list holds the entry"),
                ("position", "INTEGER NOT NULL", "1-based position in that list"),
                ("raw", "VARCHAR NOT NULL", "the entry's text"),
                ("title", "VARCHAR", "parsed title"),
                ("authors", "VARCHAR[]", "parsed authors"),
                ("year", "INTEGER", "parsed year"),
                ("venue", "VARCHAR", "parsed venue"),
                ("arxiv_id", "VARCHAR", "arXiv id found in the entry"),
                ("doi", "VARCHAR", "DOI found in the entry"),
                ("cited_work_id", "INTEGER", "the work it names, when litmine has it"),
                ("match_method", "VARCHAR", "arxiv_id, doi or title; NULL when unresolved"),
                ("match_score", "DOUBLE", "title similarity when matched by title"),
                ("extractor_version", "VARCHAR", "version of the parser that made the row"),
            ],
            "PRIMARY KEY (citing_work_id, position)",
        ),
        table(
            "embeddings",
            "Embedding vectors of works' text, one per work, text kind, chunk and model.",
            [
                ("work_id", "INTEGER NOT NULL", "the work"),
                ("kind", "VARCHAR NOT NULL", "title_abstract or fulltext_chunk"),
                ("chunk", "INTEGER NOT NULL", "chunk number (0 for title_abstract)"),
                ("model_id", "VARCHAR NOT NULL", "embedding model name or path"),
                ("dim", "INTEGER NOT NULL", "vector length"),
                ("content_hash", "VARCHAR NOT NULL", "sha256 of the embedded text; unchanged text is not embedded again"),
                ("vector", "FLOAT[] NOT NULL", "the vector; cast to FLOAT[dim] for array_cosine_similarity"),
                ("run_id", "VARCHAR", "run that made it"),
                ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
            ],
            "PRIMARY KEY (work_id, kind, chunk, model_id)",
        ),
        table(
            "label_sets",
            "Families of labels: a survey's parts, subsections, other sections and themes.",
            [
                ("label_set", "VARCHAR PRIMARY KEY", "id: part, subsection, section, theme"),
                ("survey_id", "VARCHAR", "survey that defines it"),
                ("description", "VARCHAR", "what the set classifies"),
                ("multi_label", "BOOLEAN NOT NULL", "whether a work may carry several labels of the set"),
            ],
        ),
        table(
            "labels",
            "The labels of every label set, with the descriptions classifiers read.",
            [
                ("label_set", "VARCHAR NOT NULL", "its label set"),
                ("label_id", "VARCHAR NOT NULL", "id within the set: 2, 2.1, circuits, ..."),
                ("parent_id", "VARCHAR", "the label it sits under (a subsection's part)"),
                ("name", "VARCHAR NOT NULL", "title"),
                ("kind", "VARCHAR", "intrinsic, post hoc or hazard, for subsections"),
                ("description", "VARCHAR", "what belongs under it"),
                ("position", "INTEGER NOT NULL", "order within the set"),
                ("meta", "JSON", "anything else the seed says"),
            ],
            "PRIMARY KEY (label_set, label_id)",
        ),
        table(
            "label_assignments",
            "Every label any source gave a work: the survey, a human, or a classifier, with full provenance.",
            [
                ("assignment_id", "BIGINT PRIMARY KEY DEFAULT nextval('assignment_id_seq')", "row id"),
                ("work_id", "INTEGER NOT NULL", "the work"),
                ("label_set", "VARCHAR NOT NULL", "label set of the label"),
                ("label_id", "VARCHAR NOT NULL", "the label"),
                ("source", "VARCHAR NOT NULL", "survey, human, or a classifier's registered name"),
                ("source_version", "VARCHAR", "version of the classifier, or the survey seed hash"),
                ("model", "VARCHAR", "model used (embedding model, LLM), if any"),
                ("prompt_version", "VARCHAR", "prompt version, for LLM classifiers"),
                ("params", "JSON", "parameters of the classifier"),
                ("score", "DOUBLE", "score or probability in [0, 1]; NULL for survey and human labels"),
                ("assigned", "BOOLEAN NOT NULL", "true if the source says the work carries the label"),
                ("status", "VARCHAR", "survey label_status, or a human decision: accept, reject"),
                ("rationale", "VARCHAR", "why: an LLM's rationale, a reviewer's note"),
                ("content_hash", "VARCHAR", "hash of the input the source saw; same hash and version: not redone"),
                ("run_id", "VARCHAR", "run that produced the row"),
                ("created_by", "VARCHAR", "user or host that produced it"),
                ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
            ],
        ),
        table(
            "watermarks",
            "Progress markers of incremental stages (the last arXiv date seen, OAI-PMH resumption).",
            [
                ("name", "VARCHAR PRIMARY KEY", "which stage and query"),
                ("value", "VARCHAR NOT NULL", "the marker"),
                ("updated_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when it moved"),
                ("run_id", "VARCHAR", "run that moved it"),
            ],
        ),
        table(
            "failures",
            "Items a stage could not process, with a readable reason; a later success resolves them.",
            [
                ("failure_id", "BIGINT PRIMARY KEY DEFAULT nextval('failure_id_seq')", "row id"),
                ("run_id", "VARCHAR", "run in which it failed"),
                ("stage", "VARCHAR NOT NULL", "fetch-arxiv, fetch-survey, pdfs, extract, embed, classify, ..."),
                ("item", "VARCHAR NOT NULL", "what failed: an arXiv id, a work id, a URL"),
                ("error_type", "VARCHAR NOT NULL", "class of the error"),
                ("reason", "VARCHAR NOT NULL", "what happened, readably"),
                ("failed_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
                ("resolved_at", "TIMESTAMP", "when a later run succeeded on the item"),
            ],
        ),
        table(
            "llm_cache",
            "LLM responses by prompt hash and model, so a prompt is never sent twice.",
            [
                ("prompt_hash", "VARCHAR NOT NULL", "sha256 of the messages and schema"),
                ("model", "VARCHAR NOT NULL", "backend and model"),
                ("response", "VARCHAR NOT NULL", "raw response text"),
                ("prompt_tokens", "INTEGER", "tokens sent"),
                ("completion_tokens", "INTEGER", "tokens received"),
                ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
            ],
            "PRIMARY KEY (prompt_hash, model)",
        ),
        table(
            "evaluations",
            "Results of `litmine evaluate`: one row per method, label set, stratum, label and metric.",
            [
                ("run_id", "VARCHAR NOT NULL", "the evaluation run"),
                ("method", "VARCHAR NOT NULL", "classifier name"),
                ("label_set", "VARCHAR NOT NULL", "part, subsection or theme"),
                ("stratum", "VARCHAR NOT NULL", "all, verified, silver-agree, silver-disagree"),
                ("label_id", "VARCHAR NOT NULL", "a label, or '*' for the whole set"),
                ("metric", "VARCHAR NOT NULL", "precision, recall, f1, support, macro_f1, micro_f1, top3, ece, ..."),
                ("value", "DOUBLE", "the figure"),
                ("config", "JSON", "classifier version, parameters, folds, seed"),
                ("created_at", "TIMESTAMP NOT NULL DEFAULT current_timestamp", "when"),
            ],
        ),
    ]
)
