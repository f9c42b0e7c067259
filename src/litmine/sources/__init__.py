"""Where works come from: the arXiv API, OAI-PMH, PDFs, the survey's references, candidates, and the polite HTTP client they share."""

from __future__ import annotations

import logging

from litmine.counts import Counts
from litmine.store import Store
from litmine.store.failures import record_failure

log = logging.getLogger(__name__)


def refuse(store: Store, counts: Counts, run_id: str | None, item: str, error: Exception, what: str) -> Counts:
    """A fetch refused before anything was asked (a date range that ends before it starts): the
    failure recorded against ``item`` in the stage ``counts`` is for, counted, noted, and logged as
    "<what> refused: <error>"."""
    with store.transaction() as con:
        record_failure(con, run_id, counts.stage, item, error)
    counts.add("failed")
    counts.notes.append(str(error))
    log.warning("%s refused: %s", what, error)
    return counts
