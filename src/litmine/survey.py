"""The survey seed: a survey's taxonomy, themes and labelled bibliography, described as data.

A seed folder holds ``survey.json`` (format ``litmine-survey/1``) and the references file it names.
Nothing about any particular survey is written in code: another survey is another folder.

``survey.json``::

    {"format": "litmine-survey/1", "id": "...", "title": "...", "arxiv_id": "...", "doi": "...",
     "label_sets": [{"id": "part", "description": "...", "multi_label": true,
                     "labels": [{"id": "2", "name": "Weights", "description": "..."}]},
                    {"id": "subsection", "parent_set": "part", "labels": [{"id": "2.1", "parent": "2",
                     "name": "...", "kind": "intrinsic", "description": "...", "meta": {...}}]},
                    {"id": "theme", "labels": [...], "examples": {"theme-id": ["arXiv id", ...]}}],
     "references": {"file": "references.csv", "list_separator": ";",
                    "sections_label_sets": ["subsection", "section"],
                    "derived_label_sets": {"part": "subsection"}}}

``scope`` (required) says what the survey covers, in words screening and LLM prompts read::

    "scope": {"statement": "...", "excludes": "...", "in_scope_label_sets": ["subsection"]}

``in_scope_label_sets`` names the label sets that place an in-scope work. Loading creates the label
set ``scope`` with one label, ``in``, described by the statement.

``screening`` (optional) names a CSV of candidate papers judged in or out of scope, beside the
references: ``"screening": {"file": "screening.csv"}``, columns ``SCREENING_COLUMNS``: ``arxiv_id``,
``listing_date`` (YYYY-MM-DD), ``scope`` (``in``, ``out``, ``borderline``, or empty where the
annotators disagreed), ``subsection`` (the agreed subsection of an in or borderline paper, or empty),
``label_status`` (``silver-agree`` or ``silver-disagree``), and ``annotator_*`` columns
(``scope;subsection;confidence`` each). Only ids and judgements are carried: titles and abstracts
come from arXiv (``litmine fetch survey``). Each row becomes a work keyed by its arXiv id, a row of
``screening_candidates``, and labels of source ``screening``: ``scope``/``in`` assigned for ``in``,
not assigned for ``out`` (a training label); ``subsection`` where an ``in`` paper's is agreed.
Borderline and disputed rows get no label row: they are uncertain, kept for evaluation only.

``references.label_files`` (optional) lists further labels of the references, one file per label
set, with negatives known: ``[{"file": "theme_labels.csv", "label_set": "theme"}]``. Each is CSV
with the columns ``LABEL_FILE_COLUMNS``: ``key`` (a reference's key), ``positive`` and ``negative``
(labels of the set, ``list_separator``-separated); a label in neither column is unknown for that
work. Other columns (``label_status``, ``annotator_*``) are kept in the file only. They load as
survey labels of status ``silver-agree``: assigned for a positive, not assigned for a negative.

The references file is CSV with the columns in ``REQUIRED_COLUMNS``. ``sections`` lists the
labels (of the ``sections_label_sets``) citing the entry, primary first; ``label_status`` says how
far to trust them. A derived label set gets each label's ``parent``: a subsection's part.

Loading is idempotent: a second load of unchanged files changes nothing. The seed's arXiv ids are
kept on ``survey_references`` only, unverified, until ``litmine fetch survey`` resolves them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from litmine.counts import Counts
from litmine.errors import SeedError
from litmine.store import Store, utcnow, who
from litmine.store import labels as label_store
from litmine.store.works import WorkRecord, add_source, find_work, upsert_work

log = logging.getLogger(__name__)

FORMAT = "litmine-survey/1"
REQUIRED_COLUMNS = ["ref", "key", "title", "authors", "year", "venue", "arxiv_id", "doi",
                    "metadata_confidence", "sections", "label_status"]
LABEL_STATUSES = {"verified", "silver-agree", "silver-disagree"}
LABEL_FILE_COLUMNS = ["key", "positive", "negative"]
KNOWN_STATUS = "silver-agree"  # the status of a label from a label file
SOURCE = "survey"
SCREENING_SOURCE = "screening"
SCREENING_COLUMNS = ["arxiv_id", "listing_date", "scope", "subsection", "label_status"]
SCREENING_SCOPES = {"in", "out", "borderline", ""}
SCOPE_SET, IN = "scope", "in"


@dataclass
class Label:
    id: str
    name: str
    description: str = ""
    parent: str | None = None
    kind: str | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class LabelSet:
    id: str
    description: str
    multi_label: bool
    labels: list[Label]
    parent_set: str | None = None
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Reference:
    line: int
    ref: int
    key: str
    title: str
    authors: list[str]
    year: int | None
    venue: str | None
    arxiv_id: str | None
    doi: str | None
    openalex_id: str | None
    metadata_confidence: str | None
    sections: list[str]
    label_status: str
    annotations: dict
    known_labels: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # set -> (positives, negatives)


@dataclass
class Scope:
    """What the survey covers: the statement a scope decision is made against."""

    statement: str
    excludes: str
    in_scope_label_sets: list[str]

    def describe(self) -> str:
        return self.statement + (f" Not in scope: {self.excludes}" if self.excludes else "")


@dataclass
class ScreeningRow:
    """A candidate paper judged in or out of scope: ids and judgements only."""

    line: int
    arxiv_id: str
    listing_date: str | None
    scope: str  # in, out, borderline, or "" where the annotators disagreed
    subsection: str | None
    label_status: str
    annotations: dict


@dataclass
class Seed:
    id: str
    title: str
    meta: dict
    label_sets: list[LabelSet]
    references: list[Reference]
    sections_label_sets: list[str]
    derived_label_sets: dict[str, str]
    hash: str
    scope: Scope | None = None
    screening: list[ScreeningRow] = field(default_factory=list)

    def label_set(self, set_id: str) -> LabelSet:
        return next(s for s in self.label_sets if s.id == set_id)


# -- reading and validating ---------------------------------------------------------------------


def _need(obj: dict, key: str, where: str, path: Path, kind: type = str):
    if key not in obj:
        raise SeedError(f"missing field '{key}' in {where}", file=path)
    value = obj[key]
    if not isinstance(value, kind):
        raise SeedError(f"field '{key}' in {where} must be {kind.__name__}, got {type(value).__name__}", file=path)
    return value


def read_seed(seed_dir: Path) -> Seed:
    """Read and validate a seed folder; every problem names the file, line and field."""
    seed_dir = Path(seed_dir)
    manifest = seed_dir / "survey.json"
    if not manifest.is_file():
        raise SeedError("survey seed not found: expected survey.json (set LITMINE_SURVEY_DIR)", file=manifest)
    raw_manifest = manifest.read_bytes()
    try:
        doc = json.loads(raw_manifest)
    except json.JSONDecodeError as exc:
        raise SeedError(f"invalid JSON: {exc.msg}", file=manifest, line=exc.lineno) from None
    if not isinstance(doc, dict):
        raise SeedError("survey.json must hold an object", file=manifest)
    if doc.get("format") != FORMAT:
        raise SeedError(f"field 'format' must be {FORMAT!r}, got {doc.get('format')!r}", file=manifest)
    survey_id = _need(doc, "id", "the survey", manifest)
    title = _need(doc, "title", "the survey", manifest)

    label_sets: list[LabelSet] = []
    for i, raw_set in enumerate(_need(doc, "label_sets", "the survey", manifest, list)):
        where = f"label_sets[{i}]"
        if not isinstance(raw_set, dict):
            raise SeedError(f"{where} must be an object", file=manifest)
        labels = []
        for j, raw in enumerate(_need(raw_set, "labels", where, manifest, list)):
            lw = f"{where}.labels[{j}]"
            if not isinstance(raw, dict):
                raise SeedError(f"{lw} must be an object", file=manifest)
            labels.append(
                Label(
                    id=_need(raw, "id", lw, manifest),
                    name=_need(raw, "name", lw, manifest),
                    description=raw.get("description", ""),
                    parent=raw.get("parent"),
                    kind=raw.get("kind"),
                    meta=raw.get("meta", {}),
                )
            )
        ids = [label.id for label in labels]
        if len(set(ids)) != len(ids):
            raise SeedError(f"duplicate label id in {where}", file=manifest)
        label_sets.append(
            LabelSet(
                id=_need(raw_set, "id", where, manifest),
                description=raw_set.get("description", ""),
                multi_label=bool(raw_set.get("multi_label", True)),
                labels=labels,
                parent_set=raw_set.get("parent_set"),
                examples=raw_set.get("examples", {}),
            )
        )
    by_id = {s.id: s for s in label_sets}
    for s in label_sets:
        if s.parent_set:
            if s.parent_set not in by_id:
                raise SeedError(f"label set '{s.id}' names unknown parent_set '{s.parent_set}'", file=manifest)
            parents = {label.id for label in by_id[s.parent_set].labels}
            for label in s.labels:
                if label.parent not in parents:
                    raise SeedError(
                        f"label '{label.id}' of set '{s.id}' has parent {label.parent!r}, not a label of "
                        f"'{s.parent_set}'", file=manifest)
        for theme, _ in s.examples.items():
            if theme not in {label.id for label in s.labels}:
                raise SeedError(f"examples of set '{s.id}' name unknown label '{theme}'", file=manifest)

    refs_spec = _need(doc, "references", "the survey", manifest, dict)
    sections_sets = refs_spec.get("sections_label_sets", [])
    derived = refs_spec.get("derived_label_sets", {})
    for name in [*sections_sets, *derived, *derived.values()]:
        if name not in by_id:
            raise SeedError(f"references name unknown label set '{name}'", file=manifest)
    refs_path = seed_dir / _need(refs_spec, "file", "references", manifest)
    known_sections = {label.id for name in sections_sets for label in by_id[name].labels}
    references, raw_refs = _read_references(refs_path, refs_spec.get("list_separator", ";"), known_sections)
    known_labels, raw_known = _read_label_files(seed_dir, refs_spec, by_id, {ref.key for ref in references}, manifest)
    raw_refs += raw_known
    for ref in references:
        ref.known_labels = known_labels.get(ref.key, {})

    scope = _read_scope(doc, by_id, manifest)
    screening, raw_screening = [], b""
    if "screening" in doc:
        spec = _need(doc, "screening", "the survey", manifest, dict)
        subsections = {label.id for name in scope.in_scope_label_sets for label in by_id[name].labels}
        screening, raw_screening = _read_screening(seed_dir / _need(spec, "file", "screening", manifest), subsections)

    digest = hashlib.sha256(raw_manifest + b"\0" + raw_refs + b"\0" + raw_screening).hexdigest()
    meta = {k: v for k, v in doc.items() if k not in ("label_sets", "references", "format")}
    return Seed(survey_id, title, meta, label_sets, references, sections_sets, derived, digest, scope, screening)


def _read_scope(doc: dict, sets: dict[str, LabelSet], manifest: Path) -> Scope:
    if "scope" not in doc:
        raise SeedError("missing field 'scope' in the survey: add {\"scope\": {\"statement\": \"what the survey "
                        "covers\"}} to survey.json", file=manifest)
    raw = _need(doc, "scope", "the survey", manifest, dict)
    statement = _need(raw, "statement", "scope", manifest).strip()
    if not statement:
        raise SeedError("field 'statement' in scope is empty: say what the survey covers", file=manifest)
    excludes = raw.get("excludes", "")
    if not isinstance(excludes, str):
        raise SeedError(f"field 'excludes' in scope must be str, got {type(excludes).__name__}", file=manifest)
    placing = raw.get("in_scope_label_sets", [])
    if not isinstance(placing, list) or not all(isinstance(x, str) for x in placing):
        raise SeedError("field 'in_scope_label_sets' in scope must be a list of label set ids", file=manifest)
    unknown = [x for x in placing if x not in sets]
    if unknown:
        raise SeedError(f"field 'in_scope_label_sets' in scope names unknown label set(s) {', '.join(unknown)}",
                        file=manifest)
    if SCOPE_SET in sets:
        raise SeedError(f"label set id '{SCOPE_SET}' is reserved for the scope decision: rename it", file=manifest)
    return Scope(statement, excludes.strip(), placing)


def _read_screening(path: Path, subsections: set[str]) -> tuple[list[ScreeningRow], bytes]:
    from litmine.ids import try_parse_arxiv_id

    if not path.is_file():
        raise SeedError("screening file not found", file=path)
    raw = path.read_bytes()
    try:
        text = decode_csv(raw, path)
    except UnicodeDecodeError as exc:
        raise SeedError(f"not UTF-8 at byte {exc.start}", file=path) from None
    reader = SeedReader(text, path)
    missing = [c for c in SCREENING_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SeedError(f"missing column(s) {', '.join(missing)}", file=path, line=1)
    rows, seen = [], set()
    for row in reader:
        line = reader.line_num
        if None in row or any(row[c] is None for c in SCREENING_COLUMNS):
            raise SeedError("row has a different number of fields than the header", file=path, line=line)

        def bad(fieldname: str, why: str) -> SeedError:
            return SeedError(f"field '{fieldname}' {why}", file=path, line=line)

        aid = try_parse_arxiv_id(row["arxiv_id"].strip())
        if aid is None:
            raise bad("arxiv_id", f"is not an arXiv id: {row['arxiv_id']!r}")
        if aid.base in seen:
            raise bad("arxiv_id", f"repeats {aid.base}")
        seen.add(aid.base)
        scope = row["scope"].strip()
        if scope not in SCREENING_SCOPES:
            raise bad("scope", f"must be in, out, borderline or empty, got {scope!r}")
        status = row["label_status"].strip()
        if status not in ("silver-agree", "silver-disagree", "verified"):
            raise bad("label_status", f"must be verified, silver-agree or silver-disagree, got {status!r}")
        subsection = row["subsection"].strip() or None
        if subsection is not None and subsection not in subsections:
            raise bad("subsection", f"names unknown label {subsection}")
        listing = row["listing_date"].strip() or None
        if listing is not None:
            try:
                date.fromisoformat(listing)
            except ValueError:
                raise bad("listing_date", f"must be YYYY-MM-DD, got {listing!r}") from None
        rows.append(ScreeningRow(line, aid.base, listing, scope, subsection, status,
                                 {k: row[k] for k in row if k.startswith("annotator_") and row[k]}))
    return rows, raw


MAX_FIELD = 100_000  # characters in one CSV field: far above any title, author list or annotation


def decode_csv(raw: bytes, path: Path) -> str:
    """A seed CSV's text: UTF-8, with or without a byte-order mark; a NUL byte is refused with its line."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise SeedError("a NUL byte: the file is binary or damaged", file=path, line=raw.count(b"\n", 0, nul) + 1)
    return raw.decode("utf-8-sig")


class SeedReader(csv.DictReader):
    """``csv.DictReader`` over a seed file's text whose errors (an oversized field, a broken quote)
    are ``SeedError`` naming the file, line and field."""

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text.splitlines())
        self.path = path

    @property
    def fieldnames(self):
        try:
            return super().fieldnames
        except csv.Error as exc:
            raise SeedError(f"unreadable header: {exc}", file=self.path, line=1) from None

    def __next__(self) -> dict:
        limit = csv.field_size_limit(2**31 - 1)  # read a long field whole, so the check below can name it
        try:
            row = super().__next__()
        except csv.Error as exc:
            raise SeedError(f"unreadable CSV: {exc}", file=self.path, line=self.line_num + 1) from None
        finally:
            csv.field_size_limit(limit)
        for name, value in row.items():
            if isinstance(value, str) and len(value) > MAX_FIELD:
                raise SeedError(f"field '{name}' is {len(value)} characters long, over {MAX_FIELD}: shorten it",
                                file=self.path, line=self.line_num)
        return row


def _read_references(path: Path, sep: str, known_sections: set[str]) -> tuple[list[Reference], bytes]:
    from litmine.ids import try_parse_arxiv_id

    if not path.is_file():
        raise SeedError("references file not found", file=path)
    raw = path.read_bytes()
    try:
        text = decode_csv(raw, path)
    except UnicodeDecodeError as exc:
        raise SeedError(f"not UTF-8 at byte {exc.start}", file=path) from None
    reader = SeedReader(text, path)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SeedError(f"missing column(s) {', '.join(missing)}", file=path, line=1)

    def split(value: str) -> list[str]:
        return [x.strip() for x in value.split(sep) if x.strip()]

    refs, keys = [], set()
    for row in reader:
        line = reader.line_num
        if None in row:
            raise SeedError("more fields than the header has", file=path, line=line)
        if any(row[c] is None for c in REQUIRED_COLUMNS):
            raise SeedError("fewer fields than the header has", file=path, line=line)

        def bad(fieldname: str, why: str) -> SeedError:
            return SeedError(f"field '{fieldname}' {why}", file=path, line=line)

        key = row["key"].strip()
        if not key:
            raise bad("key", "is empty")
        if key in keys:
            raise bad("key", f"repeats {key!r}")
        keys.add(key)
        try:
            ref_no = int(row["ref"])
        except ValueError:
            raise bad("ref", f"must be an integer, got {row['ref']!r}") from None
        year = None
        if row["year"].strip():
            try:
                year = int(row["year"])
            except ValueError:
                raise bad("year", f"must be an integer, got {row['year']!r}") from None
        status = row["label_status"].strip()
        if status not in LABEL_STATUSES:
            raise bad("label_status", f"must be one of {', '.join(sorted(LABEL_STATUSES))}, got {status!r}")
        sections = split(row["sections"])
        unknown = [s for s in sections if s not in known_sections]
        if unknown:
            raise bad("sections", f"names unknown label(s) {', '.join(unknown)}")
        if not row["title"].strip():
            raise bad("title", "is empty")
        arxiv_id = row["arxiv_id"].strip() or None
        if arxiv_id is not None and try_parse_arxiv_id(arxiv_id) is None:
            raise bad("arxiv_id", f"is not an arXiv id: {arxiv_id!r}")
        refs.append(
            Reference(
                line=line,
                ref=ref_no,
                key=key,
                title=row["title"].strip(),
                authors=split(row["authors"]),
                year=year,
                venue=row["venue"].strip() or None,
                arxiv_id=arxiv_id,
                doi=row["doi"].strip().lower() or None,
                openalex_id=(row.get("openalex_id") or "").strip() or None,
                metadata_confidence=row["metadata_confidence"].strip() or None,
                sections=sections,
                label_status=status,
                annotations={k: row[k] for k in row if k.startswith("annotator_") and row[k]},
            )
        )
    return refs, raw


# -- loading ------------------------------------------------------------------------------------


def load_survey(store: Store, seed_dir: Path, run_id: str | None = None) -> Counts:
    """Load (or refresh) a survey seed; counts are of references. Loading twice changes nothing."""
    seed = read_seed(seed_dir)
    counts = Counts("survey")
    with store.transaction() as con:
        row = con.execute("SELECT seed_hash FROM surveys WHERE survey_id = ?", [seed.id]).fetchone()
        if row and row[0] == seed.hash:
            counts.add("unchanged", len(seed.references))
            counts.notes.append("seed unchanged since last load")
            return counts
        con.execute(
            "INSERT INTO surveys VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id) DO UPDATE SET "
            "title = excluded.title, arxiv_id = excluded.arxiv_id, doi = excluded.doi, meta = excluded.meta, "
            "seed_hash = excluded.seed_hash, loaded_at = excluded.loaded_at",
            [seed.id, seed.title, seed.meta.get("arxiv_id"), seed.meta.get("doi"),
             json.dumps(seed.meta, ensure_ascii=False), seed.hash, utcnow()],
        )
        for s in seed.label_sets:
            label_store.upsert_label_set(con, s.id, seed.id, s.description, s.multi_label)
            for position, label in enumerate(s.labels):
                label_store.upsert_label(
                    con, s.id, label.id, label.parent, label.name, label.kind, label.description, position, label.meta
                )
        version = seed.hash[:12]
        parent_of = {
            derived: {label.id: label.parent for label in seed.label_set(base).labels}
            for derived, base in seed.derived_label_sets.items()
        }
        set_of = {label.id: s for s in seed.sections_label_sets for label in seed.label_set(s).labels}
        examples = {
            (s.id, arxiv_id): label for s in seed.label_sets for label, ids in s.examples.items() for arxiv_id in ids
        }
        for ref in seed.references:
            status = _load_reference(con, seed, ref, run_id)
            wanted: dict[str, set[str]] = {}
            for section in ref.sections:
                wanted.setdefault(set_of[section], set()).add(section)
                for derived, parents in parent_of.items():
                    if section in parents:
                        wanted.setdefault(derived, set()).add(parents[section])
            work_id = con.execute(
                "SELECT work_id FROM survey_references WHERE survey_id = ? AND key = ?", [seed.id, ref.key]
            ).fetchone()[0]
            changed = False
            for set_id in [*seed.sections_label_sets, *seed.derived_label_sets]:
                changed |= label_store.set_source_labels(
                    con, work_id, set_id, SOURCE, wanted.get(set_id, set()), status=ref.label_status,
                    source_version=version, run_id=run_id,
                )
            for (set_id, arxiv_id), label in examples.items():
                known = ref.known_labels.get(set_id, (set(), set()))
                if ref.arxiv_id == arxiv_id and label not in known[0] | known[1]:  # a label file's word wins
                    changed |= label_store.set_source_labels(
                        con, work_id, set_id, SOURCE, {label}, status="example", source_version=version,
                        run_id=run_id, only_add=True,
                    )
            changed |= _set_known_labels(con, work_id, ref.known_labels, version, run_id)
            counts.add("updated" if status == "unchanged" and changed else status)
        if seed.scope is not None:
            label_store.upsert_label_set(con, SCOPE_SET, seed.id, "whether a work belongs in the survey", False)
            label_store.upsert_label(con, SCOPE_SET, IN, None, "In scope", None, seed.scope.describe(), 0,
                                     {"in_scope_label_sets": seed.scope.in_scope_label_sets})
        if seed.screening:
            screened = Counts("screening")
            for row in seed.screening:
                screened.add(_load_screening_row(con, seed, row, version, run_id))
            counts.notes.append(f"screening candidates: {screened.new} new, {screened.updated} updated, "
                                f"{screened.unchanged} unchanged")
    log.info("%s", counts)
    return counts


def _load_screening_row(con, seed: Seed, row: ScreeningRow, version: str, run_id: str | None) -> str:
    """A screening candidate's work (keyed by arXiv id), its row, and its training labels."""
    work_id = find_work(con, arxiv_id=row.arxiv_id)
    status = "unchanged"
    if work_id is None:
        # The title comes from arXiv (`litmine fetch survey`); until then the work has none.
        work_id, _ = upsert_work(con, WorkRecord(title="", metadata_source="seed", arxiv_id=row.arxiv_id))
        status = "new"
    add_source(con, work_id, SCREENING_SOURCE, f"{seed.id}:{row.arxiv_id}", run_id)
    values = [work_id, row.listing_date, row.scope or None, row.subsection, row.label_status,
              json.dumps(row.annotations, sort_keys=True)]
    old = con.execute(
        "SELECT work_id, strftime(listing_date, '%Y-%m-%d'), scope, subsection, label_status, annotations "
        "FROM screening_candidates WHERE survey_id = ? AND arxiv_id = ?", [seed.id, row.arxiv_id]).fetchone()
    if old is None:
        con.execute("INSERT INTO screening_candidates (survey_id, arxiv_id, work_id, listing_date, scope, subsection, "
                    "label_status, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [seed.id, row.arxiv_id, *values])
    elif list(old[:-1]) + [json.dumps(json.loads(old[-1] or "{}"), sort_keys=True)] != values:
        con.execute("UPDATE screening_candidates SET work_id = ?, listing_date = ?, scope = ?, subsection = ?, "
                    "label_status = ?, annotations = ? WHERE survey_id = ? AND arxiv_id = ?",
                    [*values, seed.id, row.arxiv_id])
        status = "updated" if status == "unchanged" else status
    # Only a clear in or out trains; borderline and disputed rows get no label row.
    changed = False
    if row.scope in ("in", "out"):
        changed |= _set_screening_label(con, work_id, row.scope == "in", row.label_status, version, run_id)
    placing = seed.scope.in_scope_label_sets if seed.scope else []
    if row.scope == "in" and row.subsection and placing:
        wanted = {placing[0]: {row.subsection}}
        for derived, base in seed.derived_label_sets.items():  # a subsection's part follows from it
            parent = next((label.parent for label in seed.label_set(base).labels if label.id == row.subsection), None)
            if base == placing[0] and parent:
                wanted[derived] = {parent}
        for set_id, labels in wanted.items():
            changed |= label_store.set_source_labels(
                con, work_id, set_id, SCREENING_SOURCE, labels, status=row.label_status,
                source_version=version, run_id=run_id)
    return "updated" if status == "unchanged" and changed else status


def _set_screening_label(con, work_id: int, inside: bool, status: str, version: str, run_id: str | None) -> bool:
    """The screening label scope/in: assigned (in) or not (out); a row only when it changed."""
    current = label_store.current_labels(con, work_id, SCOPE_SET, SCREENING_SOURCE).get(IN)
    if current == (inside, status):
        return False
    con.execute(
        "INSERT INTO label_assignments (work_id, label_set, label_id, source, source_version, assigned, status, "
        "run_id, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [work_id, SCOPE_SET, IN, SCREENING_SOURCE, version, inside, status, run_id, who()])
    return True


def _read_label_files(seed_dir: Path, refs_spec: dict, sets: dict[str, LabelSet], keys: set[str],
                      manifest: Path) -> tuple[dict[str, dict[str, tuple[set[str], set[str]]]], bytes]:
    """The references' label files: key -> label set -> (positives, negatives), and the files' bytes."""
    sep = refs_spec.get("list_separator", ";")
    out: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
    raw_all = b""
    specs = refs_spec.get("label_files", [])
    if not isinstance(specs, list):
        raise SeedError("field 'label_files' in references must be list", file=manifest)
    for i, spec in enumerate(specs):
        where = f"references.label_files[{i}]"
        if not isinstance(spec, dict):
            raise SeedError(f"{where} must be an object", file=manifest)
        set_id = _need(spec, "label_set", where, manifest)
        if set_id not in sets:
            raise SeedError(f"{where} names unknown label set '{set_id}'", file=manifest)
        path = seed_dir / _need(spec, "file", where, manifest)
        if not path.is_file():
            raise SeedError("label file not found", file=path)
        raw = path.read_bytes()
        try:
            text = decode_csv(raw, path)
        except UnicodeDecodeError as exc:
            raise SeedError(f"not UTF-8 at byte {exc.start}", file=path) from None
        reader = SeedReader(text, path)
        missing = [c for c in LABEL_FILE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SeedError(f"missing column(s) {', '.join(missing)}", file=path, line=1)
        labels = {label.id for label in sets[set_id].labels}
        for row in reader:
            line = reader.line_num
            key = (row["key"] or "").strip()
            if key not in keys:
                raise SeedError(f"field 'key' names no reference: {key!r}", file=path, line=line)
            if set_id in out.get(key, {}):
                raise SeedError(f"field 'key' repeats {key!r}", file=path, line=line)
            pos, neg = ({x.strip() for x in (row[c] or "").split(sep) if x.strip()} for c in ("positive", "negative"))
            unknown = sorted((pos | neg) - labels)
            if unknown:
                raise SeedError(f"fields 'positive'/'negative' name unknown label(s) {', '.join(unknown)} of set "
                                f"'{set_id}'", file=path, line=line)
            if pos & neg:
                raise SeedError(f"field 'negative' repeats positive label(s) {', '.join(sorted(pos & neg))}",
                                file=path, line=line)
            out.setdefault(key, {})[set_id] = (pos, neg)
        raw_all += b"\0" + raw
    return out, raw_all


def _set_known_labels(con, work_id: int, known: dict[str, tuple[set[str], set[str]]], version: str,
                      run_id: str | None) -> bool:
    """A reference's labels from the label files: rows only for what changed; a label no longer in
    either column gets a row not assigned, of status ``unknown`` (never trained on)."""
    from litmine.store import who

    changed = False
    for set_id, (pos, neg) in sorted(known.items()):
        current = label_store.current_labels(con, work_id, set_id, SOURCE)
        wanted = {**{label: (False, KNOWN_STATUS) for label in neg}, **{label: (True, KNOWN_STATUS) for label in pos}}
        wanted.update({label: (False, "unknown") for label, (_, status) in current.items()
                       if status == KNOWN_STATUS and label not in wanted})
        for label, (assigned, status) in sorted(wanted.items()):
            if current.get(label) == (assigned, status):
                continue
            con.execute(
                "INSERT INTO label_assignments (work_id, label_set, label_id, source, source_version, assigned, "
                "status, run_id, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [work_id, set_id, label, SOURCE, version, assigned, status, run_id, who()])
            changed = True
    return changed


def _load_reference(con, seed: Seed, ref: Reference, run_id: str | None) -> str:
    """Upsert the reference row and its work; 'new', 'updated' or 'unchanged'."""
    existing = con.execute(
        "SELECT work_id, ref, title, authors, year, venue, arxiv_id, doi, openalex_id, metadata_confidence, "
        "sections, label_status, annotations FROM survey_references WHERE survey_id = ? AND key = ?",
        [seed.id, ref.key],
    ).fetchone()
    values = [ref.ref, ref.title, ref.authors, ref.year, ref.venue, ref.arxiv_id, ref.doi, ref.openalex_id,
              ref.metadata_confidence, ref.sections, ref.label_status, json.dumps(ref.annotations, sort_keys=True)]
    record = WorkRecord(title=ref.title, metadata_source="seed", authors=ref.authors or None, year=ref.year,
                        venue=ref.venue, doi=ref.doi)
    if existing is None:
        work_id, _ = upsert_work(con, record)
        con.execute(
            "INSERT INTO survey_references (survey_id, key, work_id, ref, title, authors, year, venue, arxiv_id, "
            "doi, openalex_id, metadata_confidence, sections, label_status, annotations, match_status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            [seed.id, ref.key, work_id, *values],
        )
        con.execute(
            "INSERT INTO work_sources (work_id, source, source_ref, run_id) VALUES (?, 'survey', ?, ?) "
            "ON CONFLICT DO NOTHING",
            [work_id, f"{seed.id}:{ref.key}", run_id],
        )
        return "new"
    work_id = existing[0]
    _, work_status = upsert_work(con, record, work_id=work_id)
    old = list(existing[1:])
    old[-1] = json.dumps(json.loads(old[-1]) if old[-1] else {}, sort_keys=True)
    if old == values and work_status == "unchanged":
        return "unchanged"
    con.execute(
        "UPDATE survey_references SET ref = ?, title = ?, authors = ?, year = ?, venue = ?, arxiv_id = ?, doi = ?, "
        "openalex_id = ?, metadata_confidence = ?, sections = ?, label_status = ?, annotations = ? "
        "WHERE survey_id = ? AND key = ?",
        [*values, seed.id, ref.key],
    )
    return "updated"
