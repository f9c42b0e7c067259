"""Reviewing disagreements: what the notebook calls. No SQL here; ``litmine.store.review`` has it.

Where decisions go, and why. DuckDB lets one process write the file at a time, and the nightly run
may be writing when a reviewer clicks. So ``record_decision`` first appends the decision to a
journal, ``DATA_DIR/decisions/decisions.jsonl`` (one whole JSON line in one write, newline first
if a crash cut the last line off, flushed and fsynced: it never waits for the database), then imports it at once as a ``human`` label through a short write transaction.
If the run holds the database for longer than ``IMPORT_WAIT_SECONDS``, the decision stays in the
journal, marked pending, and the run's first stage (``decisions``) imports it. Every decision
carries a UUID and table ``review_decisions`` records the ones imported, so an import never
doubles a label and a killed import loses nothing. Reads open a read-only connection per call and
close it, so the notebook never blocks the run for longer than one query.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

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
        "reviewer": reviewer or settings.reviewer or who(),  # LITMINE_REVIEWER names the reviewer
        "decided_at": utcnow().isoformat(),
    }
    _append(journal_path(settings), entry)
    imported = _saved(settings, _store(settings, wait=IMPORT_WAIT_SECONDS), entry)
    return Decision(**entry, imported=imported)


def undo_decision(settings: Settings, decision: Decision) -> Decision:
    """Retract ``decision``: journal an ``undo`` entry at once, then import it, which deletes the
    human label the decision became (the label is undecided again). Durable when this returns."""
    entry = {
        "decision_id": str(uuid.uuid4()),
        "work_id": decision.work_id,
        "label_set": decision.label_set,
        "label_id": decision.label_id,
        "decision": "undo",
        "note": None,
        "reviewer": decision.reviewer,
        "decided_at": utcnow().isoformat(),
        "undoes": decision.decision_id,
    }
    _append(journal_path(settings), entry)
    imported = _saved(settings, _store(settings, wait=IMPORT_WAIT_SECONDS), entry)
    entry.pop("undoes")
    return Decision(**entry, imported=imported)


def _check(con, work_id: int, label_set: str, label_id: str) -> None:
    if not db.work_exists(con, work_id):
        raise ReviewError("no such work: pick a work_id from list_disagreements()", work_id=work_id)
    if not db.label_exists(con, label_set, label_id):
        raise ReviewError(f"no label {label_id!r} in label set {label_set!r}: see labels()", work_id=work_id)


def rejected_path(settings: Settings) -> Path:
    """Where journal lines that cannot be read are kept aside, one JSON line each with the reason."""
    return settings.decisions_dir / "decisions.rejected.jsonl"


@contextmanager
def _journal_lock(path: Path, exclusive: bool) -> Iterator[None]:
    """An OS file lock beside the journal: writers take it exclusively, readers shared, so nobody
    reads half a line still being written, and the journal is rewritten only when nobody writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _append(path: Path, entry: dict) -> None:
    """Append one whole line in one write, flushed to disk. Newline first: a line a crash cut off
    mid-write stays a line of its own, and the new decision is never glued to it."""
    data = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    with _journal_lock(path, exclusive=True):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)


def skips_path(settings: Settings) -> Path:
    """Where the review queue keeps its skips (one JSON line each), so a skipped work comes back last
    in the next session too, not first."""
    return settings.decisions_dir / "skips.jsonl"


def record_skip(settings: Settings, item: "QueueItem", queue: str, reviewer: str | None = None,
                undo: bool = False) -> None:
    """Keep a skip of ``item`` in ``queue`` (or, ``undo``, take it back), appended like a decision."""
    _append(skips_path(settings), {"work_id": item.work_id, "label_set": item.label_set, "label_id": item.label_id,
                                   "queue": queue, "reviewer": reviewer or settings.reviewer or who(),
                                   "undo": undo, "at": utcnow().isoformat()})


def skipped_works(settings: Settings, queue: str) -> set[int]:
    """The works skipped in ``queue`` and not taken back, over every session (unreadable lines are
    logged and left out: a skip only orders the queue)."""
    path = skips_path(settings)
    if not path.exists():
        return set()
    with _journal_lock(path, exclusive=False):
        raw = path.read_bytes()
    skipped: set[int] = set()
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            work_id = int(entry["work_id"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipping unreadable line %d of %s (%s)", n, path, exc)
            continue
        if entry.get("queue") != queue:
            continue
        (skipped.discard if entry.get("undo") else skipped.add)(work_id)
    return skipped


@dataclass(frozen=True)
class UnreadableLine:
    """A journal line that does not read as a decision: its number, its text and why."""

    line: int
    text: str
    reason: str


def _scan(raw: bytes) -> tuple[list[tuple[bytes, dict]], list[UnreadableLine]]:
    """(raw line, entry) of every readable line, and the unreadable ones. A decision an older litmine
    glued to a torn line is recovered: the torn part is the unreadable line."""
    pieces = raw.split(b"\n")
    good, bad = [], []
    for n, piece in enumerate(pieces, 1):
        if not piece.strip():
            continue
        torn = n == len(pieces)  # after the last newline: a write cut off
        text = piece.decode("utf-8", errors="replace")
        entry = _entry(text)
        if entry is not None and not torn:
            good.append((piece, entry))
            continue
        for start in [i for i, ch in enumerate(text) if ch == "{" and i > 0]:
            glued = _entry(text[start:])
            if glued is not None and not torn:
                good.append((text[start:].encode("utf-8"), glued))
                bad.append(UnreadableLine(n, text[:start], "cut off mid-write; the decision written after it "
                                                           "was recovered"))
                break
        else:
            reason = ("cut off mid-write (no newline at its end)" if torn else
                      "not a whole decision (cut off mid-write, or not JSON)")
            bad.append(UnreadableLine(n, text, reason))
    return good, bad


def _entry(text: str) -> dict | None:
    try:
        entry = json.loads(text)
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and "decision_id" in entry else None


def journal_problems(settings: Settings) -> list[UnreadableLine]:
    """The journal's lines that cannot be read (``litmine doctor``); reads only."""
    path = journal_path(settings)
    if not path.exists():
        return []
    with _journal_lock(path, exclusive=False):
        return _scan(path.read_bytes())[1]


def rejected_lines(settings: Settings) -> list[dict]:
    """The journal lines kept aside so far (``rejected_path``)."""
    path = rejected_path(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def keep_aside_unreadable(settings: Settings) -> list[UnreadableLine]:
    """Move the journal's unreadable lines to ``rejected_path`` (with their reasons, flushed to disk
    first), then rewrite the journal with its readable lines only (a new file renamed over it, under
    the journal's lock). Returns the lines kept aside."""
    path = journal_path(settings)
    if not path.exists():
        return []
    with _journal_lock(path, exclusive=True):
        good, bad = _scan(path.read_bytes())
        if not bad:
            return []
        now = utcnow().isoformat()
        kept = "".join(json.dumps({"line": b.line, "text": b.text, "reason": b.reason, "journal": str(path),
                                   "kept_at": now}, ensure_ascii=False) + "\n" for b in bad)
        with open(rejected_path(settings), "a", encoding="utf-8") as fh:
            fh.write(kept)
            fh.flush()
            os.fsync(fh.fileno())
        fresh = path.with_name(path.name + ".rewrite")
        with open(fresh, "wb") as fh:
            fh.write(b"".join(line + b"\n" for line, _ in good))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(fresh, path)
    for b in bad:
        log.warning("journal line %d of %s was unreadable (%s): kept in %s", b.line, path, b.reason,
                    rejected_path(settings))
    return bad


def read_journal(settings: Settings) -> list[dict]:
    """Every decision recorded, oldest first. An unreadable line is skipped here (and logged);
    ``import_decisions`` keeps it aside, ``litmine doctor`` reports it."""
    path = journal_path(settings)
    if not path.exists():
        return []
    with _journal_lock(path, exclusive=False):
        good, bad = _scan(path.read_bytes())
    for b in bad:
        log.warning("skipping unreadable line %d of %s (%s)", b.line, path, b.reason)
    return [entry for _, entry in good]


def import_decisions(store: Store, settings: Settings, run_id: str | None = None) -> Counts:
    """Import journal decisions not yet in the database as ``human`` labels, each exactly once."""
    return _import(store, settings, run_id)[0]


def _import(store: Store, settings: Settings, run_id: str | None = None) -> tuple[Counts, set[str]]:
    """``import_decisions``, and the ids of the decisions the database holds afterwards."""
    counts = Counts("decisions")
    for b in keep_aside_unreadable(settings):
        counts.notes.append(f"journal line {b.line} was unreadable ({b.reason}): kept in {rejected_path(settings)}")
    entries = read_journal(settings)
    if not entries:
        counts.notes.append("no decisions recorded")
        return counts, set()
    undone = {e.get("undoes") for e in entries if e.get("decision") == "undo"}
    with store.transaction() as con:
        done = db.imported_decision_ids(con)
        for entry in entries:
            if entry["decision_id"] in done or entry["decision_id"] in undone:
                counts.add("unchanged")
                continue
            if entry.get("decision") == "undo":
                db.retract_decision(con, entry, run_id)
                done.add(entry["decision_id"])
                counts.add("new")
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
    return counts, done


def _saved(settings: Settings, store: Store, entry: dict) -> bool:
    """Import at once; whether ``entry`` is in the database now. Raises if it is not even readable
    in the journal (it would otherwise be reported as saved)."""
    imported = False
    try:
        imported = entry["decision_id"] in _import(store, settings)[1]
    except DatabaseLocked:
        log.warning("the database is busy: decision %s waits in %s for the next run",
                    entry["decision_id"], journal_path(settings))
    if not imported and entry["decision_id"] not in {e["decision_id"] for e in read_journal(settings)}:
        raise ReviewError(f"the decision could not be saved: it does not read back from {journal_path(settings)}; "
                          "run `litmine doctor`", work_id=entry["work_id"])
    return imported


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


# -- disagreements and their evidence -------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    """One work and label on which the classifiers disagree with each other or with the survey."""

    work_id: int
    arxiv_id: str | None
    title: str
    label_set: str
    label_id: str
    label_name: str | None
    kind: str  # 'methods', 'survey', or 'methods and survey'
    priority: float
    survey_says: bool | None
    survey_status: str | None
    n_assigned: int
    n_methods: int
    mean_score: float | None

    def __str__(self) -> str:
        survey = {True: "survey: yes", False: "survey: no", None: "survey: -"}[self.survey_says]
        return (f"[{self.priority:.2f}] work {self.work_id} {self.label_set} {self.label_id} "
                f"({self.label_name}): {self.n_assigned}/{self.n_methods} methods say yes, {survey}; "
                f"{self.title[:70]}")


def list_disagreements(settings: Settings, label_set: str | None = None, limit: int = 20) -> list[Disagreement]:
    """The most informative disagreements first (view ``disagreements``), skipping decided ones."""
    with _store(settings).connect(read_only=True) as con:
        rows = db.disagreement_rows(con, label_set, limit)
    return [Disagreement(**r) for r in rows]


@dataclass
class Evidence:
    """Everything a reviewer needs to decide one disagreement."""

    disagreement: Disagreement
    work: dict
    methods: list[dict]  # every source's current labels of the work in the label set, with scores
    survey: dict | None  # the survey reference: key, sections, label status, annotations
    nearest: list[dict]  # the most similar works the survey or a reviewer labelled
    decisions: list[dict]

    def _label_rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for m in self.methods:
            score = "" if m["score"] is None else f"{m['score']:.3f}"
            mark = "*" if m["label_id"] == self.disagreement.label_id else ""
            rows.append((m["source"], f"{mark}{m['label_id']}", "yes" if m["assigned"] else "no", score,
                         m.get("rationale") or ""))
        return rows

    def __str__(self) -> str:
        d = self.disagreement
        lines = [f"{self.work['title']} ({self.work.get('year') or 'n.d.'}) arXiv:{self.work.get('arxiv_id') or '-'}",
                 f"question: does it belong to {d.label_set} {d.label_id} {d.label_name or ''}?",
                 "abstract: " + (self.work.get("abstract") or "(none stored)")]
        if self.survey:
            lines.append(f"survey: [{self.survey['ref']}] {self.survey['key']} sections "
                         f"{', '.join(self.survey['sections'] or []) or '-'} ({self.survey['label_status']})")
        lines.append("labels (source, label, assigned, score, rationale):")
        lines += ["  " + " | ".join(r) for r in self._label_rows()]
        lines.append("nearest labelled works:")
        lines += [f"  {n['similarity']:.3f} {', '.join(n['labels'])}: {n['title'][:70]}" for n in self.nearest]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        e = html.escape
        d = self.disagreement
        out = [f"<h3>{e(self.work['title'])} ({self.work.get('year') or 'n.d.'})</h3>",
               f"<p><b>Does it belong to {e(d.label_set)} {e(d.label_id)} {e(d.label_name or '')}?</b> "
               f"{d.n_assigned} of {d.n_methods} methods say yes; priority {d.priority:.2f}.</p>",
               f"<p>{e(self.work.get('abstract') or '(no abstract stored)')}</p>"]
        if self.survey:
            out.append(f"<p>Survey: [{self.survey['ref']}] {e(self.survey['key'])}, sections "
                       f"{e(', '.join(self.survey['sections'] or []) or '-')}, status "
                       f"<b>{e(str(self.survey['label_status']))}</b></p>")
        out.append("<table><tr><th>source</th><th>label</th><th>assigned</th><th>score</th><th>rationale</th></tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in self._label_rows()]
        out.append("</table><p>Nearest labelled works:</p><ul>")
        out += [f"<li>{n['similarity']:.3f} [{e(', '.join(n['labels']))}] {e(n['title'])}</li>" for n in self.nearest]
        out.append("</ul>")
        return "\n".join(out)


def evidence(settings: Settings, disagreement: Disagreement, nearest: int = 5) -> Evidence:
    """The evidence on one disagreement: the work, every method's labels, the survey, neighbours."""
    d = disagreement
    with _store(settings).connect(read_only=True) as con:
        return Evidence(
            disagreement=d,
            work=db.work_summary(con, d.work_id),
            methods=db.source_labels(con, d.work_id, d.label_set),
            survey=db.survey_entry(con, d.work_id),
            nearest=db.nearest_labelled(con, d.work_id, d.label_set, nearest),
            decisions=[dict(zip(("work_id", "label_set", "label_id", "decision", "note", "reviewer", "decided_at"), r))
                       for r in db.decisions(con, d.label_set) if r[0] == d.work_id],
        )


# -- review queues: one card at a time -----------------------------------------------------------

QUEUES = ("disagreements", "label", "screening")
QUEUE_ALIASES = {"subsection": "label"}  # the Räuker-era name of the one-label queue
SCOPE_SET, SCOPE_IN = "scope", "in"


@dataclass(frozen=True)
class QueueItem:
    """One question for the reviewer: does work ``work_id`` carry ``label_id`` of ``label_set``?"""

    work_id: int
    label_set: str
    label_id: str
    why: str
    score: float | None = None


def survey_sets(settings: Settings) -> dict:
    """What each label set is for, as the survey seed declared it (``litmine.survey.load.label_roles``):
    ``placement``, ``derived`` {set: source}, ``themes``; the defaults below come from it."""
    from litmine.survey.load import label_roles

    with _store(settings).connect(read_only=True) as con:
        return label_roles(con)


def _placement(settings: Settings) -> str:
    placement = survey_sets(settings).get("placement")
    if placement is None:
        raise ReviewError("the database holds no survey with a placement set: load it with `litmine survey load`")
    return placement


def _coarsest(settings: Settings) -> str:
    """The set a figure summarises by default: the derived set (a subsection's part) where there is
    one, else the placement."""
    return next(iter(survey_sets(settings).get("derived") or {}), None) or _placement(settings)


def queue_items(settings: Settings, queue: str = "disagreements", label_set: str | None = None,
                label_id: str | None = None, limit: int = 200) -> list[QueueItem]:
    """The works of a review queue, in the order to review them (``label_set``: the survey's
    placement set unless named).

    ``disagreements``: today's disagreements in ``label_set``, highest priority first.
    ``label`` (alias ``subsection``): works a source places in ``label_id`` (of ``label_set``) that no
    reviewer decided.
    ``screening``: works not yet placed in or out of scope, the likeliest in scope first.
    """
    label_set = label_set or _placement(settings)
    queue = QUEUE_ALIASES.get(queue, queue)
    if queue == "disagreements":
        return [QueueItem(d.work_id, d.label_set, d.label_id,
                          f"{d.kind} disagree: {d.n_assigned} of {d.n_methods} methods say yes "
                          f"(priority {d.priority:.2f})", d.mean_score)
                for d in list_disagreements(settings, label_set=label_set, limit=limit)]
    with _store(settings).connect(read_only=True) as con:
        if queue == "label":
            if not label_id or not db.label_exists(con, label_set, label_id):
                raise ReviewError(f"no label {label_id!r} in label set {label_set!r}: pick one of labels()")
            return [QueueItem(w, label_set, label_id, f"placed in {label_id} (best score "
                              f"{'-' if sc is None else f'{sc:.2f}'})", sc)
                    for w, sc in db.works_in_label(con, label_set, label_id, limit)]
        if queue == "screening":
            return [QueueItem(w, SCOPE_SET, SCOPE_IN, "not screened yet" if p is None else
                              f"not screened yet (in scope: {p:.2f})", p)
                    for w, p in db.unscreened_works(con, limit, _screening_order(settings))]
    raise ReviewError(f"unknown queue {queue!r}: use one of {', '.join(QUEUES)}")


def _screening_order(settings: Settings) -> str:
    """LITMINE_SCREENING_ORDER: likely (most likely in scope first: finds relevant works early) or uncertain."""
    order = getattr(settings, "screening_order", "likely")
    if order not in ("likely", "uncertain"):
        raise ReviewError(f"unknown screening order {order!r}: set LITMINE_SCREENING_ORDER to likely or uncertain")
    return order


@dataclass
class Card:
    """What the queue shows for one item: the work, every method's score for the label in question,
    the rationales, the survey's word, the nearest labelled works and the work's themes."""

    item: QueueItem
    work: dict
    label_name: str | None
    scores: list[dict]  # per source: score, assigned, rationale, for the label in question
    survey: dict | None
    survey_labels: list[str]  # the survey's labels of the work in the item's label set
    nearest: list[dict]
    themes: set[str]  # the themes a reviewer gave the work (never a classifier's guess)
    human: bool | None  # what a reviewer says now about the item's label
    scope_probability: float | None = None  # the deciding scope method's probability in scope
    placements: list[tuple[str, str, float | None]] = field(default_factory=list)  # top 3 (label, name, score)
    theme_guesses: dict[str, tuple[bool, float | None, str]] = field(default_factory=dict)  # the machine's
    agreed: dict | None = None  # what the seed's screening annotators agreed on: {inside, status}


TOP_PLACEMENTS = 3  # placements a card offers, one key each


def card(settings: Settings, item: QueueItem, nearest: int = 5) -> Card:
    """Everything the queue shows for one work in one pass: the label in question with every
    method's score, the scope probability, the machine's top placements, its theme guesses (beside
    the reviewer's own themes), the survey's and the screening annotators' word, the nearest works."""
    sets = survey_sets(settings)
    with _store(settings).connect(read_only=True) as con:
        work = db.work_summary(con, item.work_id)
        if work is None:
            raise ReviewError("no such work: the queue is stale, open it again", work_id=item.work_id)
        rows = db.source_labels(con, item.work_id, item.label_set)
        names = dict(db.label_names(con, item.label_set))
        placement = sets.get("placement")
        guesses = db.machine_labels(con, item.work_id, placement) if placement else {}
        place_names = dict(db.label_names(con, placement)) if placement else {}
        top = sorted(guesses.items(), key=lambda kv: (-(kv[1][1] if kv[1][1] is not None else -1.0), kv[0]))
        human_themes = ({label for label, assigned in db.human_labels(con, item.work_id, sets["themes"]).items()
                         if assigned} if sets.get("themes") else set())
        return Card(
            item=item,
            work=work,
            label_name=names.get(item.label_id),
            scores=[r for r in rows if r["label_id"] == item.label_id and r["source"] not in ("human", "survey")],
            survey=db.survey_entry(con, item.work_id),
            survey_labels=sorted(r["label_id"] for r in rows if r["source"] == "survey" and r["assigned"]),
            nearest=db.nearest_labelled(con, item.work_id, sets.get("placement") if item.label_set == SCOPE_SET
                                        else item.label_set, nearest),
            themes=human_themes,
            human=db.human_label(con, item.work_id, item.label_set, item.label_id),
            scope_probability=db.scope_probabilities(con, [item.work_id]).get(item.work_id),
            placements=[(label, place_names.get(label, ""), score) for label, (_, score, _) in top[:TOP_PLACEMENTS]],
            theme_guesses=db.machine_labels(con, item.work_id, sets["themes"]) if sets.get("themes") else {},
            agreed=db.screening_agreement(con, item.work_id),
        )


def count_unscreened(settings: Settings) -> int:
    """Every work the screening queue would list, with no limit."""
    with _store(settings).connect(read_only=True) as con:
        return db.count_unscreened(con)


REFIT_SOURCES = ("human", "screening", "survey")  # whose labels the in-kernel refit learns from, most trusted first


def refit_scores(settings: Settings, label_set: str, label_id: str, work_ids: list[int]) -> tuple[dict[int, float], int]:
    """Refit a light model in the kernel on every label of ``label_set``/``label_id`` a reviewer, the
    seed's screening annotators or the survey gave (a reviewer's word first) and score ``work_ids``:
    a logistic regression on the title-and-abstract embeddings, as ASReview re-ranks after each
    decision. Returns ({work_id: probability}, examples learned from); empty where the labels hold
    one class only or the works have no embedding. The nightly run still retrains every model."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    with _store(settings).connect(read_only=True) as con:
        model_id = db.main_embedding_model(con)
        if model_id is None or not work_ids:
            return {}, 0
        examples = db.trusted_examples(con, label_set, label_id, REFIT_SOURCES, model_id)
        todo = db.work_vectors(con, work_ids, model_id)
    y = np.array([bool(yes) for _, yes, _ in examples])
    if len(set(y.tolist())) < 2 or not todo:
        return {}, len(examples)
    x = np.array([v for _, _, v in examples], dtype=np.float32)
    model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(x, y)
    ids = list(todo)
    p = model.predict_proba(np.array([todo[w][1] for w in ids], dtype=np.float32))[:, 1]
    return dict(zip(ids, (float(v) for v in p))), len(examples)


# -- figures ------------------------------------------------------------------------------------


def label_distribution_by_year(settings: Settings, label_set: str | None = None) -> dict[str, dict[int, int]]:
    """{label_id: {year: works}} by each work's most trusted labels (reviewer, survey, classifier)."""
    label_set = label_set or _coarsest(settings)
    with _store(settings).connect(read_only=True) as con:
        years = db.work_years(con)
        labels = db.best_labels(con, label_set, list(years))
    out: dict[str, dict[int, int]] = {}
    for work_id, assigned in labels.items():
        if years.get(work_id) is None:
            continue
        for label_id, _, _ in assigned:
            per_year = out.setdefault(label_id, {})
            per_year[years[work_id]] = per_year.get(years[work_id], 0) + 1
    return out


def method_agreement(settings: Settings, label_set: str | None = None) -> list[dict]:
    """Per method: on works the survey labelled, how often it agrees with the survey label by label."""
    label_set = label_set or _placement(settings)
    with _store(settings).connect(read_only=True) as con:
        return db.method_agreement(con, label_set)


def latest_confusion(settings: Settings, label_set: str | None = None) -> dict | None:
    """Confusion matrix (survey label vs the method's top label) of the best method of the latest
    evaluation, on the works the survey labelled; None before any evaluation or classification."""
    label_set = label_set or _coarsest(settings)
    with _store(settings).connect(read_only=True) as con:
        method = db.best_evaluated_method(con, label_set)
        if method is None:
            return None
        labels = [label for label, _ in db.label_names(con, label_set)]
        pairs = db.top_label_pairs(con, label_set, method)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, predicted in pairs:
        if truth in index and predicted in index:
            matrix[index[truth]][index[predicted]] += 1
    return {"method": method, "label_set": label_set, "labels": labels, "matrix": matrix}


def plot_label_distribution(settings: Settings, label_set: str | None = None):
    import matplotlib.pyplot as plt

    label_set = label_set or _coarsest(settings)
    data = label_distribution_by_year(settings, label_set)
    names = dict(labels(settings, label_set))
    fig, ax = plt.subplots(figsize=(9, 4))
    years = sorted({y for per in data.values() for y in per})
    bottom = [0] * len(years)
    for label_id in [lid for lid, _ in labels(settings, label_set) if lid in data]:
        values = [data[label_id].get(y, 0) for y in years]
        ax.bar(years, values, bottom=bottom, label=f"{label_id} {names[label_id][:30]}")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("year")
    ax.set_ylabel("works")
    ax.set_title(f"Works per {label_set} and year")
    if data:
        ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return fig


def plot_method_agreement(settings: Settings, label_set: str | None = None):
    import matplotlib.pyplot as plt

    label_set = label_set or _placement(settings)
    rows = method_agreement(settings, label_set)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh([r["method"] for r in rows], [r["agreement"] for r in rows], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"agreement with the survey ({label_set} labels)")
    ax.set_title("Per-method agreement")
    fig.tight_layout()
    return fig


def plot_confusion(settings: Settings, label_set: str | None = None):
    import matplotlib.pyplot as plt

    label_set = label_set or _coarsest(settings)
    cm = latest_confusion(settings, label_set)
    fig, ax = plt.subplots(figsize=(5, 4))
    if cm is None:
        ax.text(0.5, 0.5, "no evaluation yet: run `litmine evaluate`", ha="center", va="center")
        ax.axis("off")
        return fig
    ax.imshow(cm["matrix"], cmap="Blues")
    ax.set_xticks(range(len(cm["labels"])), cm["labels"])
    ax.set_yticks(range(len(cm["labels"])), cm["labels"])
    for i, row in enumerate(cm["matrix"]):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xlabel(f"{cm['method']} (top label)")
    ax.set_ylabel("survey")
    ax.set_title(f"Confusion, {label_set}: {cm['method']}")
    fig.tight_layout()
    return fig
