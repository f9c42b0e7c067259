"""The survey's references resolved to arXiv records.

References whose seed gives an arXiv id are fetched in batches by id. A fetched record whose title
is nothing like the seed's is not trusted: the reference is searched by title instead. References
without an id (or whose id arXiv does not know) are searched by title, and every candidate is
scored: normalised title similarity (weight 0.7), year (0.15: same or adjacent year full, two years
apart half) and first author's surname (0.15); parts the seed lacks are left out of the weighting.
Below ``threshold`` nothing is linked and the reason is recorded. The match, its score and the query
are stored on ``survey_references``. A reference not found on arXiv keeps its work with the seed's
metadata and DOI (``not-on-arxiv`` when the seed has a DOI, else ``not-found``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from difflib import SequenceMatcher

import arxiv

from litmine.sources.arxiv import ArxivClient, to_record
from litmine.counts import Counts
from litmine.errors import FetchError, SourceUnreachable
from litmine.ids import normalize_title, try_parse_arxiv_id
from litmine.store import Store
from litmine.store import acquire
from litmine.store.acquire import SurveyRef
from litmine.store.failures import record_failure, resolve_failures

log = logging.getLogger(__name__)

THRESHOLD = 0.8
SUSPECT_TITLE = 0.5  # below this match score, the record of a seed's id is taken to be another work
_STOP = {"a", "an", "the", "of", "and", "or", "in", "on", "for", "to", "with", "via", "by", "from", "is", "are", "at"}


def title_similarity(a: str, b: str) -> float:
    """Character similarity of the normalised titles; a title that is the other less its subtitle
    (every word of the shorter, at least four, in the longer) counts 0.9."""
    na, nb = normalize_title(a), normalize_title(b)
    if not na or not nb:
        return 0.0
    ratio = SequenceMatcher(None, na, nb).ratio()
    wa, wb = set(na.split()), set(nb.split())
    shorter = min(len(wa), len(wb))
    if shorter >= 4 and len(wa & wb) == shorter:
        ratio = max(ratio, 0.9)
    return ratio


def _surname(name: str) -> str:
    name = normalize_title(name.split(",")[0] if "," in name else name)
    return name.split()[-1] if name else ""


def match_score(ref: SurveyRef, result: arxiv.Result) -> float:
    """How well an arXiv record fits a reference, in [0, 1]."""
    parts = [(0.7, title_similarity(ref.title or "", result.title))]
    if ref.year and result.published:
        gap = abs(result.published.year - ref.year)
        parts.append((0.15, 1.0 if gap <= 1 else 0.5 if gap == 2 else 0.0))
    if ref.authors and result.authors:
        parts.append((0.15, 1.0 if _surname(ref.authors[0]) == _surname(result.authors[0].name) else 0.0))
    return sum(w * s for w, s in parts) / sum(w for w, _ in parts)


def title_queries(title: str) -> list[str]:
    """The exact-phrase title query, then all significant title words (for punctuation drift)."""
    words = normalize_title(title).split()
    significant = [w for w in words if w not in _STOP and len(w) > 1][:10]
    queries = [f'ti:"{" ".join(words)}"'] if words else []
    if len(significant) > 1:
        queries.append(" AND ".join(f"ti:{w}" for w in significant))
    return queries


def search_title(client: ArxivClient, ref: SurveyRef, candidates: int = 5) -> tuple[arxiv.Result | None, float, str]:
    """The best-scoring candidate for ``ref``'s title, its score and the last query sent."""
    best, best_score, query = None, 0.0, ""
    for query in title_queries(ref.title or ""):
        for result in client.search(query, max_results=candidates):
            score = match_score(ref, result)
            if score > best_score:
                best, best_score = result, score
        if best_score >= THRESHOLD:
            break
    return best, best_score, query


def fetch_survey(
    store: Store,
    client: ArxivClient,
    run_id: str | None = None,
    survey_id: str | None = None,
    threshold: float = THRESHOLD,
    refresh: bool = False,
    batch: int = 50,
) -> Counts:
    """Resolve every unresolved survey reference (every one, with ``refresh``) to an arXiv record.

    Counts per reference: new (linked to arXiv for the first time), updated (its match or metadata
    changed), unchanged, failed (arXiv could not be asked; retried next run). Decisions are written
    ``batch`` at a time, so the database is never held while arXiv is asked. When arXiv cannot be
    reached at all, every reference is recorded as not asked and ``SourceUnreachable`` is raised.
    """
    counts = Counts("fetch-survey")
    with store.connect(read_only=True) as con:
        refs = acquire.survey_refs(con, survey_id, unresolved_only=not refresh)
        total = acquire.count_refs(con, survey_id)
    if total == 0:
        counts.notes.append("no survey references: run `litmine survey load` first")
        return counts
    if not refs:
        counts.add("unchanged", total)
        counts.notes.append("nothing to resolve: every reference is already resolved")
        return counts
    counts.add("unchanged", total - len(refs))
    statuses: dict[str, int] = {}

    by_id = {ref.key: try_parse_arxiv_id(ref.arxiv_id) for ref in refs}
    id_error: FetchError | None = None
    try:
        records = client.by_ids(sorted({aid.base for aid in by_id.values() if aid}))
    except FetchError as exc:
        log.warning("fetching survey references by id failed: %s", exc)
        with store.transaction() as con:
            record_failure(con, run_id, "fetch-survey", "id batch", exc)
        records, id_error = None, exc  # ids not fetched: those references fail this run

    # Once arXiv has failed past its retries (down, or no network), the rest are not asked: each would
    # wait out the same retries. They stay unresolved, with the reason, and the next run asks again.
    gave_up: FetchError | None = id_error
    pending: list[Decision] = []
    for i, ref in enumerate(refs):
        if gave_up is not None:
            error = FetchError(f"not asked: arXiv failed earlier in this run: {gave_up.message}")
            pending.append(Decision(ref, "failed", str(error), error=error))
        else:
            try:
                pending.append(decide(client, ref, by_id[ref.key], records, threshold))
            except FetchError as exc:
                pending.append(Decision(ref, "failed", str(exc), error=exc))
                gave_up = exc
        if len(pending) >= batch or i == len(refs) - 1:
            with store.transaction() as con:
                for decision in pending:
                    status = apply(con, decision, run_id)
                    counts.add(status)
                    statuses[decision.status] = statuses.get(decision.status, 0) + 1
            pending = []
    counts.notes.append(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    log.info("%s", counts)
    if isinstance(gave_up, SourceUnreachable):
        raise gave_up  # every reference is recorded as not asked; the caller says so in one line
    return counts


@dataclass
class Decision:
    """How one reference resolves: a match status, why, and the record linked (if any)."""

    ref: SurveyRef
    status: str  # by-id, by-title, not-found, not-on-arxiv, failed
    reason: str
    score: float | None = None
    query: str | None = None
    result: arxiv.Result | None = None
    error: Exception | None = None


def decide(client, ref: SurveyRef, aid, records, threshold: float = THRESHOLD) -> Decision:
    """Resolve one reference (asking arXiv when a title search is needed); writes nothing."""
    reason_prefix = ""
    if aid is not None:
        if records is None:
            raise FetchError("arXiv could not be asked for the reference's id", id=aid.base)
        result = records.get(aid.base)
        if result is not None:
            score = match_score(ref, result) if ref.title else 1.0
            if score >= SUSPECT_TITLE:
                reason = f"the seed's id {aid.base}; match score {score:.2f}"
                return Decision(ref, "by-id", reason, score, f"id_list={aid.base}", result)
            reason_prefix = f"the seed's id {aid.base} names another work ({result.title!r}, score {score:.2f}); "
        else:
            reason_prefix = f"arXiv has no record {aid.base}; "
    unlinked = "not-on-arxiv" if ref.doi else "not-found"
    if not (ref.title or "").strip():
        return Decision(ref, unlinked, reason_prefix + "no title to search by")
    best, score, query = search_title(client, ref)
    if best is not None and score >= threshold:
        reason = reason_prefix + f"title search: best candidate, score {score:.2f} >= {threshold:.2f}"
        return Decision(ref, "by-title", reason, score, query, best)
    if best is None:
        why = "title search found no candidate"
    else:
        why = f"best candidate {best.get_short_id()} ({best.title!r}) scored {score:.2f} < {threshold:.2f}"
    return Decision(ref, unlinked, reason_prefix + why, score if best else None, query)


def apply(con, d: Decision, run_id: str | None) -> str:
    """Store a decision; returns the count status: new, updated, unchanged or failed."""
    ref, item = d.ref, f"{d.ref.survey_id}:{d.ref.key}"
    if d.status == "failed":
        record_failure(con, run_id, "fetch-survey", item, d.error)
        return "failed"
    resolve_failures(con, "fetch-survey", item)
    if d.result is None:
        return "updated" if acquire.set_match(con, ref, d.status, d.reason, d.score, d.query) else "unchanged"
    work_id, work_status = acquire.store_arxiv_work(con, to_record(d.result), "survey", item, run_id, work_id=ref.work_id)
    changed = acquire.set_match(con, ref, d.status, d.reason, d.score, d.query, work_id)
    if ref.match_status not in ("by-id", "by-title"):
        return "new"
    return "updated" if changed or work_status != "unchanged" else "unchanged"
