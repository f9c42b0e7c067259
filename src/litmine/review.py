"""Reviewing disagreements: what the notebook calls. No SQL here; ``litmine.store.review`` has it.

Where decisions go, and why. DuckDB lets one process write the file at a time, and the nightly run
may be writing when a reviewer clicks. So ``record_decision`` first appends the decision to a
journal, ``DATA_DIR/decisions/decisions.jsonl`` (one JSON line, flushed and fsynced: it never waits
for the database), then imports it at once as a ``human`` label through a short write transaction.
If the run holds the database for longer than ``IMPORT_WAIT_SECONDS``, the decision stays in the
journal, marked pending, and the run's first stage (``decisions``) imports it. Every decision
carries a UUID and table ``review_decisions`` records the ones imported, so an import never
doubles a label and a killed import loses nothing. Reads open a read-only connection per call and
close it, so the notebook never blocks the run for longer than one query.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from litmine.config import Settings
from litmine.counts import Counts
from litmine.errors import DatabaseLocked, ReviewError
from litmine.store import Store, utcnow, who
from litmine.store import review as db
from litmine.store.failures import record_failure

log = logging.getLogger(__name__)

DECISIONS = ("accept", "reject")
IMPORT_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Decision:
    decision_id: str
    work_id: int
    label_set: str
    label_id: str
    decision: str
    note: str | None
    reviewer: str
    decided_at: str
    imported: bool = False

    def __str__(self) -> str:
        state = "recorded as a human label" if self.imported else "saved; the next `litmine run` imports it"
        return f"{self.decision} {self.label_set} {self.label_id} for work {self.work_id}: {state}"


def journal_path(settings: Settings) -> Path:
    return settings.decisions_dir / "decisions.jsonl"


def _store(settings: Settings, wait: float | None = None) -> Store:
    return Store(settings.database, lock_timeout=settings.db_lock_timeout_seconds if wait is None else wait)


def record_decision(settings: Settings, work_id: int, label_set: str, label_id: str, decision: str,
                    note: str | None = None, reviewer: str | None = None) -> Decision:
    """Record that ``work_id`` does (``accept``) or does not (``reject``) carry ``label_id``.

    The decision is durable when this returns; ``Decision.imported`` says whether it is already a
    ``human`` label or waits in the journal for the next run (the database was busy).
    """
    decision = decision.strip().lower()
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}: use accept or reject", work_id=work_id)
    try:
        with _store(settings, wait=IMPORT_WAIT_SECONDS).connect(read_only=True) as con:
            _check(con, int(work_id), label_set, label_id)
    except DatabaseLocked:
        log.warning("the database is busy: decision saved unchecked; the import checks it")
    entry = {
        "decision_id": str(uuid.uuid4()),
        "work_id": int(work_id),
        "label_set": label_set,
        "label_id": label_id,
        "decision": decision,
        "note": note or None,
        "reviewer": reviewer or who(),
        "decided_at": utcnow().isoformat(),
    }
    _append(journal_path(settings), entry)
    imported = False
    try:
        counts = import_decisions(_store(settings, wait=IMPORT_WAIT_SECONDS), settings)
        imported = counts.failed == 0
    except DatabaseLocked:
        log.warning("the database is busy: decision %s waits in %s for the next run",
                    entry["decision_id"], journal_path(settings))
    return Decision(**entry, imported=imported)


def _check(con, work_id: int, label_set: str, label_id: str) -> None:
    if not db.work_exists(con, work_id):
        raise ReviewError("no such work: pick a work_id from list_disagreements()", work_id=work_id)
    if not db.label_exists(con, label_set, label_id):
        raise ReviewError(f"no label {label_id!r} in label set {label_set!r}: see labels()", work_id=work_id)


def _append(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(settings: Settings) -> list[dict]:
    """Every decision ever recorded, oldest first. A torn last line (a killed write) is skipped."""
    path = journal_path(settings)
    if not path.exists():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("skipping unreadable line %d of %s", n, path)
    return entries


def import_decisions(store: Store, settings: Settings, run_id: str | None = None) -> Counts:
    """Import journal decisions not yet in the database as ``human`` labels, each exactly once."""
    counts = Counts("decisions")
    entries = read_journal(settings)
    if not entries:
        counts.notes.append("no decisions recorded")
        return counts
    with store.transaction() as con:
        done = db.imported_decision_ids(con)
        for entry in entries:
            if entry["decision_id"] in done:
                counts.add("unchanged")
                continue
            try:
                _check(con, int(entry["work_id"]), entry["label_set"], entry["label_id"])
            except ReviewError as exc:
                record_failure(con, run_id, "decisions", entry["decision_id"], exc)
                counts.add("failed")
                continue
            db.import_decision(con, entry, run_id)
            done.add(entry["decision_id"])
            counts.add("new")
    return counts


def pending_decisions(settings: Settings) -> list[dict]:
    """Journal entries not yet imported into the database."""
    store = _store(settings)
    with store.connect(read_only=True) as con:
        done = db.imported_decision_ids(con)
    return [e for e in read_journal(settings) if e["decision_id"] not in done]


def decisions(settings: Settings, label_set: str | None = None) -> list[dict]:
    """Imported decisions, newest first."""
    cols = ("work_id", "label_set", "label_id", "decision", "note", "reviewer", "decided_at")
    with _store(settings).connect(read_only=True) as con:
        return [dict(zip(cols, r)) for r in db.decisions(con, label_set)]


def labels(settings: Settings, label_set: str) -> list[tuple[str, str]]:
    """(label_id, name) of every label of ``label_set``, in the survey's order."""
    with _store(settings).connect(read_only=True) as con:
        return db.label_names(con, label_set)
