"""Loading a survey seed into the database: its label sets (and the roles the seed gives them), its
references as works with their survey labels, and its screening candidates.

The seed is read and validated by ``litmine.survey.seed`` (its format is described there and in the README,
"Any survey"). Loading is idempotent: a second load of unchanged files changes nothing. The seed's
arXiv ids are kept on ``survey_references`` only, unverified, until ``litmine fetch survey``
resolves them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from litmine.counts import Counts
from litmine.survey.seed import IN, SCOPE_SET, Reference, ScreeningRow, Seed, read_seed
from litmine.store import Store, utcnow
from litmine.store import labels as label_store
from litmine.store import survey as survey_store
from litmine.store.works import WorkRecord, add_source, find_work, upsert_work

log = logging.getLogger(__name__)

KNOWN_STATUS = "silver-agree"  # the status of a label from a label file
SOURCE = "survey"
SCREENING_SOURCE = "screening"

__all__ = ["label_roles", "load_survey", "read_seed"]


def label_roles(con) -> dict:
    """What each label set of the loaded survey is for, as its seed declared it (``surveys.meta``):
    ``placement``, ``placement_multi_label``, ``derived`` {set: source}, ``themes``; {} before a
    survey with roles is loaded."""
    from litmine.store import ml as ml_store

    survey = ml_store.survey_row(con)
    return dict((survey[2] if survey else {}).get("roles") or {})

def load_survey(store: Store, seed_dir: Path, run_id: str | None = None) -> Counts:
    """Load (or refresh) a survey seed; counts are of references. Loading twice changes nothing."""
    seed = read_seed(seed_dir)
    counts = Counts("survey")
    with store.transaction() as con:
        if survey_store.seed_hash(con, seed.id) == seed.hash:
            counts.add("unchanged", len(seed.references))
            counts.notes.append("seed unchanged since last load")
            return counts
        survey_store.upsert_survey(con, seed.id, seed.title, seed.meta.get("arxiv_id"), seed.meta.get("doi"),
                                   json.dumps(seed.meta, ensure_ascii=False), seed.hash, utcnow())
        for s in seed.label_sets:
            label_store.upsert_label_set(con, s.id, seed.id, s.description, s.multi_label)
            for position, label in enumerate(s.labels):
                label_store.upsert_label(
                    con, s.id, label.id, label.parent, label.name, label.kind, label.description, position, label.meta
                )
        version = seed.hash[:12]
        parent_of = {
            derived: {label.id: label.parent for label in seed.label_set(base).labels}
            for derived, base in seed.derived.items()
        }
        set_of = {label.id: s for s in seed.sections_label_sets for label in seed.label_set(s).labels}
        examples = {
            (s.id, arxiv_id): label for s in seed.label_sets for label, ids in s.examples.items() for arxiv_id in ids
        }
        rows = label_store.LabelRows(con)  # the label rows, written together (one INSERT a row took seconds)
        for ref in seed.references:
            status = _load_reference(con, seed, ref, run_id)
            wanted: dict[str, set[str]] = {}
            for section in ref.sections:
                wanted.setdefault(set_of[section], set()).add(section)
                for derived, parents in parent_of.items():
                    if section in parents:
                        wanted.setdefault(derived, set()).add(parents[section])
            work_id = survey_store.reference_work(con, seed.id, ref.key)
            changed = False
            for set_id in [*seed.sections_label_sets, *seed.derived]:
                changed |= rows.set_source_labels(
                    work_id, set_id, SOURCE, wanted.get(set_id, set()), status=ref.label_status,
                    source_version=version, run_id=run_id,
                )
            for (set_id, arxiv_id), label in examples.items():
                known = ref.known_labels.get(set_id, (set(), set()))
                if ref.arxiv_id == arxiv_id and label not in known[0] | known[1]:  # a label file's word wins
                    changed |= rows.set_source_labels(
                        work_id, set_id, SOURCE, {label}, status="example", source_version=version,
                        run_id=run_id, only_add=True,
                    )
            changed |= _set_known_labels(rows, work_id, ref.known_labels, version, run_id)
            counts.add("updated" if status == "unchanged" and changed else status)
        rows.flush()
        if seed.scope is not None:
            label_store.upsert_label_set(con, SCOPE_SET, seed.id, "whether a work belongs in the survey", False)
            label_store.upsert_label(con, SCOPE_SET, IN, None, "In scope", None, seed.scope.describe(), 0,
                                     {"in_scope_label_sets": seed.scope.in_scope_label_sets})
        if seed.screening:
            screened = Counts("screening")
            for row in seed.screening:
                screened.add(_load_screening_row(con, rows, seed, row, version, run_id))
            rows.flush()
            counts.notes.append(f"screening candidates: {screened.new} new, {screened.updated} updated, "
                                f"{screened.unchanged} unchanged")
    log.info("%s", counts)
    return counts


def _load_screening_row(con, rows: label_store.LabelRows, seed: Seed, row: ScreeningRow, version: str,
                        run_id: str | None) -> str:
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
    old = survey_store.candidate(con, seed.id, row.arxiv_id)
    if old is None:
        survey_store.insert_candidate(con, seed.id, row.arxiv_id, values)
    elif list(old[:-1]) + [json.dumps(json.loads(old[-1] or "{}"), sort_keys=True)] != values:
        survey_store.update_candidate(con, seed.id, row.arxiv_id, values)
        status = "updated" if status == "unchanged" else status
    # Only a clear in or out trains; borderline and disputed rows get no label row.
    changed = False
    if row.scope in ("in", "out"):
        changed |= _set_screening_label(rows, work_id, row.scope == "in", row.label_status, version, run_id)
    if row.scope == "in" and row.subsection:
        wanted = {seed.placement: {row.subsection}}
        for derived, base in seed.derived.items():  # a label's parent follows from it
            parent = next((label.parent for label in seed.label_set(base).labels if label.id == row.subsection), None)
            if parent:
                wanted[derived] = {parent}
        for set_id, labels in wanted.items():
            changed |= rows.set_source_labels(
                work_id, set_id, SCREENING_SOURCE, labels, status=row.label_status,
                source_version=version, run_id=run_id)
    return "updated" if status == "unchanged" and changed else status


def _set_screening_label(rows: label_store.LabelRows, work_id: int, inside: bool, status: str, version: str,
                         run_id: str | None) -> bool:
    """The screening label scope/in: assigned (in) or not (out); a row only when it changed."""
    current = rows.current_labels(work_id, SCOPE_SET, SCREENING_SOURCE).get(IN)
    if current == (inside, status):
        return False
    rows.add(work_id, SCOPE_SET, IN, SCREENING_SOURCE, inside, status=status, source_version=version, run_id=run_id)
    return True


def _set_known_labels(rows: label_store.LabelRows, work_id: int, known: dict[str, tuple[set[str], set[str]]],
                      version: str, run_id: str | None) -> bool:
    """A reference's labels from the label files: rows only for what changed; a label no longer in
    either column gets a row not assigned, of status ``unknown`` (never trained on)."""
    changed = False
    for set_id, (pos, neg) in sorted(known.items()):
        current = rows.current_labels(work_id, set_id, SOURCE)
        wanted = {**{label: (False, KNOWN_STATUS) for label in neg}, **{label: (True, KNOWN_STATUS) for label in pos}}
        wanted.update({label: (False, "unknown") for label, (_, status) in current.items()
                       if status == KNOWN_STATUS and label not in wanted})
        for label, (assigned, status) in sorted(wanted.items()):
            if current.get(label) == (assigned, status):
                continue
            rows.add(work_id, set_id, label, SOURCE, assigned, status=status, source_version=version, run_id=run_id)
            changed = True
    return changed


def _load_reference(con, seed: Seed, ref: Reference, run_id: str | None) -> str:
    """Upsert the reference row and its work; 'new', 'updated' or 'unchanged'."""
    existing = survey_store.reference(con, seed.id, ref.key)
    values = [ref.ref, ref.title, ref.authors, ref.year, ref.venue, ref.arxiv_id, ref.doi, ref.openalex_id,
              ref.metadata_confidence, ref.sections, ref.label_status, json.dumps(ref.annotations, sort_keys=True)]
    record = WorkRecord(title=ref.title, metadata_source="seed", authors=ref.authors or None, year=ref.year,
                        venue=ref.venue, doi=ref.doi)
    if existing is None:
        work_id, _ = upsert_work(con, record)
        survey_store.insert_reference(con, seed.id, ref.key, work_id, values)
        add_source(con, work_id, SOURCE, f"{seed.id}:{ref.key}", run_id)
        return "new"
    work_id = existing[0]
    _, work_status = upsert_work(con, record, work_id=work_id)
    old = list(existing[1:])
    old[-1] = json.dumps(json.loads(old[-1]) if old[-1] else {}, sort_keys=True)
    if old == values and work_status == "unchanged":
        return "unchanged"
    survey_store.update_reference(con, seed.id, ref.key, values)
    return "updated"
