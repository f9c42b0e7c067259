"""Screening candidates: the seed's papers judged in or out of the survey's scope, fetched from arXiv.

The seed carries only their ids and judgements (``litmine.survey.load``); their titles and abstracts come
from arXiv by id, in batches, the way the survey's references with an id do.
"""

from __future__ import annotations

import logging

from litmine.sources.arxiv import ArxivClient, to_record
from litmine.counts import Counts
from litmine.errors import FetchError
from litmine.store import Store
from litmine.store import acquire
from litmine.store import survey as survey_store
from litmine.store.failures import record_failure, resolve_failures

log = logging.getLogger(__name__)

STAGE = "fetch-survey"  # the stage table's name of the stage that fetches the candidates (pipeline.STAGES)


def fetch_candidates(store: Store, client: ArxivClient, run_id: str | None = None, refresh: bool = False) -> Counts:
    """Store the arXiv title, abstract and metadata of every screening candidate not fetched yet.

    Counts per candidate: new (fetched for the first time), updated, unchanged, failed (arXiv could not
    be asked, or has no such id; retried next run).
    """
    counts = Counts("fetch-survey")
    with store.connect(read_only=True) as con:
        pending = survey_store.pending_candidates(con, refresh)
        total = survey_store.count_candidates(con)
    if total == 0:
        return counts
    counts.add("unchanged", total - len(pending))
    if not pending:
        return counts
    failed: dict[str, FetchError] = {}
    try:
        records = client.by_ids([aid for _, aid, _ in pending], failed=failed)  # one id fails alone, not its batch
    except FetchError as exc:  # arXiv cannot be reached at all
        log.warning("fetching screening candidates by id failed: %s", exc)
        with store.transaction() as con:
            record_failure(con, run_id, STAGE, "screening id batch", exc)
        counts.add("failed", len(pending))
        counts.notes.append(f"screening candidates not fetched: {exc}")
        return counts
    if failed:
        log.warning("%d screening candidates not fetched: arXiv did not answer for them", len(failed))
        counts.notes.append(f"{len(failed)} screening candidates not fetched, retried next run")
    missing = []
    with store.transaction() as con:
        for survey_id, aid, work_id in pending:
            item = f"{survey_id}:{aid}"
            result = records.get(aid)
            if aid in failed:
                record_failure(con, run_id, STAGE, item, failed[aid])
                counts.add("failed")
                continue
            if result is None:
                missing.append(aid)
                record_failure(con, run_id, STAGE, item, FetchError("arXiv has no record of the id", id=aid))
                counts.add("failed")
                continue
            resolve_failures(con, STAGE, item)
            _, status = acquire.store_arxiv_work(con, to_record(result), "screening", item, run_id, work_id=work_id)
            counts.add("new" if not refresh else status)
    fetched = len(pending) - len(missing) - len(failed)
    counts.notes.append(f"{fetched} screening candidates fetched" + (f", {len(missing)} unknown to arXiv" if missing else ""))
    log.info("%s", counts)
    return counts
