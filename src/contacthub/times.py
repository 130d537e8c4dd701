"""Times as the hub keeps them: aware, in UTC.

Systems write their times every which way: with an offset, with none (a REV in local time,
an HTTP date at ``-0000``, a CSV of ISO times), at the edge of the calendar. One function
makes each a time the engine can compare and store, or says there is none.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC. One without a zone is taken as UTC (every time we keep is). One
    that UTC cannot hold (9999-12-31 23:00 at -01:00, 0001-01-01 00:00 at +01:00) is None,
    read as a system that gave no time: its conversion raised OverflowError, which crashed
    every run that read the record."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def iso(moment: datetime | None) -> str | None:
    """A stored time as we print and serve it: ISO 8601 in UTC, with its ``+00:00``. Every
    time the hub stores is UTC, but SQLite hands it back without a zone (``runs --json``
    said ``2026-11-27T03:51:05.889782``) and PostgreSQL in the session's time zone."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
