"""Reading a survey seed: a survey's taxonomy, themes and labelled bibliography, described as data,
read and validated (``read_seed``); ``litmine.survey.load`` loads it into the database.

A seed folder holds ``survey.json`` (format ``litmine-survey/1``) and the references file it names.
Nothing about any particular survey is written in code: another survey is another folder.

``survey.json``::

    {"format": "litmine-survey/1", "id": "...", "title": "...", "arxiv_id": "...", "doi": "...",
     "label_sets": [{"id": "part", "role": "derived", "description": "...", "multi_label": true,
                     "labels": [{"id": "2", "name": "Weights", "description": "..."}]},
                    {"id": "subsection", "role": "placement", "parent_set": "part", "multi_label": true,
                     "labels": [{"id": "2.1", "parent": "2", "name": "...", "kind": "intrinsic",
                                 "description": "...", "meta": {...}}]},
                    {"id": "theme", "role": "themes", "labels": [...],
                     "examples": {"theme-id": ["arXiv id", ...]}}],
     "references": {"file": "references.csv", "list_separator": ";",
                    "sections_label_sets": ["subsection", "section"]}}

A label set's ``role`` (``ROLES``) says what classification does with it: ``placement`` (exactly
one, named by the references' ``sections``; ``multi_label`` or not) places a work; ``derived`` (the
placement's ``parent_set``) follows from it; ``themes`` (at most one) a work may carry any of; a set
with no role is loaded, not classified. They are stored with the survey (``surveys.meta``,
``roles``: ``{"placement": "subsection", "placement_multi_label": true, "derived": {"part":
"subsection"}, "themes": "theme"}``), where every reader gets them (README: "Any survey").

``scope`` (required) says what the survey covers, in words screening and LLM prompts read::

    "scope": {"statement": "...", "excludes": "...", "in_scope_label_sets": ["subsection"]}

``in_scope_label_sets`` names the label sets that place an in-scope work (the placement set where
it is left out). Loading creates the label set ``scope`` with one label, ``in``, described by the
statement.

``screening`` (optional) names a CSV of candidate papers judged in or out of scope, beside the
references: ``"screening": {"file": "screening.csv"}``, columns ``SCREENING_COLUMNS``: ``arxiv_id``,
``listing_date`` (YYYY-MM-DD), ``scope`` (``in``, ``out``, ``borderline``, or empty where the
annotators disagreed), ``subsection`` (the agreed subsection of an in or borderline paper, or empty),
``label_status`` (``silver-agree`` or ``silver-disagree``), and ``annotator_*`` columns
(``scope;subsection;confidence`` each). Only ids and judgements are carried: titles and abstracts
come from arXiv (``litmine fetch survey``). The ``subsection`` column holds a label of the
placement set, whatever its name. Each row becomes a work keyed by its arXiv id, a row of
``screening_candidates``, and labels of source ``screening``: ``scope``/``in`` assigned for ``in``,
not assigned for ``out`` (a training label); the placement label where an ``in`` paper's is agreed.
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
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from litmine.errors import SeedError
from litmine.hashing import sha256_hex

FORMAT = "litmine-survey/1"
REQUIRED_COLUMNS = ["ref", "key", "title", "authors", "year", "venue", "arxiv_id", "doi",
                    "metadata_confidence", "sections", "label_status"]
LABEL_STATUSES = {"verified", "silver-agree", "silver-disagree"}
LABEL_FILE_COLUMNS = ["key", "positive", "negative"]
SCREENING_COLUMNS = ["arxiv_id", "listing_date", "scope", "subsection", "label_status"]
SCREENING_SCOPES = {"in", "out", "borderline", ""}
SCOPE_SET, IN = "scope", "in"
ROLES = ("placement", "derived", "themes")


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
    role: str | None = None  # placement, derived, themes, or None (carried, not classified)


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
    hash: str
    scope: Scope | None = None
    screening: list[ScreeningRow] = field(default_factory=list)

    def label_set(self, set_id: str) -> LabelSet:
        return next(s for s in self.label_sets if s.id == set_id)

    @property
    def roles(self) -> dict:
        """What each label set is for, as stored with the survey (``surveys.meta``)."""
        placement = next(s for s in self.label_sets if s.role == "placement")
        return {"placement": placement.id, "placement_multi_label": placement.multi_label,
                "derived": {s.id: placement.id for s in self.label_sets if s.role == "derived"},
                "themes": next((s.id for s in self.label_sets if s.role == "themes"), None)}

    @property
    def placement(self) -> str:
        return self.roles["placement"]

    @property
    def derived(self) -> dict[str, str]:
        return self.roles["derived"]


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
            labels.append(Label(id=_need(raw, "id", lw, manifest), name=_need(raw, "name", lw, manifest),
                                description=raw.get("description", ""), parent=raw.get("parent"),
                                kind=raw.get("kind"), meta=raw.get("meta", {})))
        ids = [label.id for label in labels]
        if len(set(ids)) != len(ids):
            raise SeedError(f"duplicate label id in {where}", file=manifest)
        label_sets.append(LabelSet(
            id=_need(raw_set, "id", where, manifest), description=raw_set.get("description", ""),
            multi_label=bool(raw_set.get("multi_label", True)), labels=labels, parent_set=raw_set.get("parent_set"),
            examples=raw_set.get("examples", {}), role=raw_set.get("role")))
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
    for name in sections_sets:
        if name not in by_id:
            raise SeedError(f"references name unknown label set '{name}'", file=manifest)
    _check_roles(label_sets, refs_spec, manifest)
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
        placing = {label.id for label in next(s for s in label_sets if s.role == "placement").labels}
        screening, raw_screening = _read_screening(seed_dir / _need(spec, "file", "screening", manifest), placing)

    digest = sha256_hex(raw_manifest + b"\0" + raw_refs + b"\0" + raw_screening)
    meta = {k: v for k, v in doc.items() if k not in ("label_sets", "references", "format")}
    seed = Seed(survey_id, title, meta, label_sets, references, sections_sets, digest, scope, screening)
    seed.meta["roles"] = seed.roles
    return seed


def _check_roles(label_sets: list[LabelSet], refs_spec: dict, manifest: Path) -> None:
    """Exactly one placement set, named by the references' sections; a derived set is its parent set;
    at most one themes set."""
    for s in label_sets:
        if s.role is not None and s.role not in ROLES:
            raise SeedError(f"label set '{s.id}' has role {s.role!r}: choose {', '.join(ROLES)}, or none",
                            file=manifest)
    if "derived_label_sets" in refs_spec:
        raise SeedError("field 'derived_label_sets' in references is replaced by \"role\": \"derived\" on the "
                        "derived label set: remove it", file=manifest)
    placing = [s for s in label_sets if s.role == "placement"]
    if len(placing) != 1:
        raise SeedError(f"{len(placing)} label sets have \"role\": \"placement\": give it to exactly one, the set "
                        "that places a work", file=manifest)
    placement = placing[0]
    if placement.id not in refs_spec.get("sections_label_sets", []):
        raise SeedError(f"field 'sections_label_sets' in references must name the placement set "
                        f"'{placement.id}'", file=manifest)
    for s in label_sets:
        if s.role == "derived" and placement.parent_set != s.id:
            raise SeedError(f"label set '{s.id}' has role 'derived' but is not the parent_set of the placement "
                            f"set '{placement.id}'", file=manifest)
    themes = [s.id for s in label_sets if s.role == "themes"]
    if len(themes) > 1:
        raise SeedError(f"{len(themes)} label sets have \"role\": \"themes\" ({', '.join(themes)}): "
                        "give it to one at most", file=manifest)


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
    placement = next(s.id for s in sets.values() if s.role == "placement")
    placing = raw.get("in_scope_label_sets", [placement])
    if not isinstance(placing, list) or not all(isinstance(x, str) for x in placing):
        raise SeedError("field 'in_scope_label_sets' in scope must be a list of label set ids", file=manifest)
    unknown = [x for x in placing if x not in sets]
    if unknown:
        raise SeedError(f"field 'in_scope_label_sets' in scope names unknown label set(s) {', '.join(unknown)}",
                        file=manifest)
    if SCOPE_SET in sets:
        raise SeedError(f"label set id '{SCOPE_SET}' is reserved for the scope decision: rename it", file=manifest)
    return Scope(statement, excludes.strip(), placing)


def _read_screening(path: Path, placing: set[str]) -> tuple[list[ScreeningRow], bytes]:
    """The screening file's rows; ``placing``: the placement set's labels, which its ``subsection`` names."""
    from litmine.ids import try_parse_arxiv_id

    reader, raw = open_csv(path, "screening file", SCREENING_COLUMNS)
    rows, seen = [], set()
    for row in reader:
        line = reader.line_num

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
        if subsection is not None and subsection not in placing:
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


def open_csv(path: Path, what: str, columns: list[str]) -> tuple["SeedReader", bytes]:
    """A seed CSV file's reader and its bytes: the file must exist, be UTF-8 (with or without a
    byte-order mark) with no NUL byte, and have ``columns`` in its header."""
    if not path.is_file():
        raise SeedError(f"{what} not found", file=path)
    raw = path.read_bytes()
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise SeedError("a NUL byte: the file is binary or damaged", file=path, line=raw.count(b"\n", 0, nul) + 1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(f"not UTF-8 at byte {exc.start}", file=path) from None
    reader = SeedReader(text, path, columns)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise SeedError(f"missing column(s) {', '.join(missing)}", file=path, line=1)
    return reader, raw


class SeedReader(csv.DictReader):
    """``csv.DictReader`` over a seed file's text whose errors (an oversized field, a broken quote, a
    row with more or fewer fields than the header) are ``SeedError`` naming the file, line and field."""

    def __init__(self, text: str, path: Path, columns: list[str]) -> None:
        super().__init__(text.splitlines())
        self.path = path
        self.columns = columns

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
        if None in row:
            raise SeedError("more fields than the header has", file=self.path, line=self.line_num)
        if any(row[c] is None for c in self.columns):
            raise SeedError("fewer fields than the header has", file=self.path, line=self.line_num)
        for name, value in row.items():
            if isinstance(value, str) and len(value) > MAX_FIELD:
                raise SeedError(f"field '{name}' is {len(value)} characters long, over {MAX_FIELD}: shorten it",
                                file=self.path, line=self.line_num)
        return row


def _read_references(path: Path, sep: str, known_sections: set[str]) -> tuple[list[Reference], bytes]:
    from litmine.ids import try_parse_arxiv_id

    reader, raw = open_csv(path, "references file", REQUIRED_COLUMNS)

    def split(value: str) -> list[str]:
        return [x.strip() for x in value.split(sep) if x.strip()]

    refs, keys = [], set()
    for row in reader:
        line = reader.line_num

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
        refs.append(Reference(
            line=line, ref=ref_no, key=key, title=row["title"].strip(), authors=split(row["authors"]), year=year,
            venue=row["venue"].strip() or None, arxiv_id=arxiv_id, doi=row["doi"].strip().lower() or None,
            openalex_id=(row.get("openalex_id") or "").strip() or None,
            metadata_confidence=row["metadata_confidence"].strip() or None, sections=sections, label_status=status,
            annotations={k: row[k] for k in row if k.startswith("annotator_") and row[k]}))
    return refs, raw



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
        reader, raw = open_csv(seed_dir / _need(spec, "file", where, manifest), "label file", LABEL_FILE_COLUMNS)
        labels = {label.id for label in sets[set_id].labels}
        for row in reader:
            line = reader.line_num
            key = (row["key"] or "").strip()
            if key not in keys:
                raise SeedError(f"field 'key' names no reference: {key!r}", file=reader.path, line=line)
            if set_id in out.get(key, {}):
                raise SeedError(f"field 'key' repeats {key!r}", file=reader.path, line=line)
            pos, neg = ({x.strip() for x in (row[c] or "").split(sep) if x.strip()} for c in ("positive", "negative"))
            unknown = sorted((pos | neg) - labels)
            if unknown:
                raise SeedError(f"fields 'positive'/'negative' name unknown label(s) {', '.join(unknown)} of set "
                                f"'{set_id}'", file=reader.path, line=line)
            if pos & neg:
                raise SeedError(f"field 'negative' repeats positive label(s) {', '.join(sorted(pos & neg))}",
                                file=reader.path, line=line)
            out.setdefault(key, {})[set_id] = (pos, neg)
        raw_all += b"\0" + raw
    return out, raw_all
