"""Now, as litmine stores times (naive UTC), and the clamp for dates from outside.

Every "now" of litmine is ``utcnow()``: the store's timestamps, a run's start, the arXiv client's
clock (``Settings.clock`` fixes it for a replay). ``not_after`` keeps a date from a source (an
entry's published date) from lying in the future, so it can never carry a watermark past the present.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Now, as naive UTC (how litmine stores times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def not_after(value: datetime | None, now: datetime, what: str) -> datetime | None:
    """``value`` (naive UTC, from outside: an entry's date) no later than ``now``; a date from the
    future is logged and taken as ``now``."""
    if value is not None and value > now:
        log.warning("%s is dated %s, later than now: taken as %s", what, value.isoformat(), now.isoformat())
        return now
    return value
