"""Times as the hub keeps them: aware, in UTC.

Systems write their times every which way: with an offset, with none (a REV in local time,
an HTTP date at ``-0000``, a CSV of ISO times), at the edge of the calendar. One function
makes each a time the engine can compare and store, or says there is none.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """``moment``, aware, in UTC; one without a zone is taken as UTC. Every time the hub
    stores is UTC, but SQLite hands it back without a zone and PostgreSQL in the session's
    time zone. (A time another system gave may be off UTC's calendar: ``utc``.)"""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC (``as_utc``), or None for one that UTC cannot hold (9999-12-31
    23:00 at -01:00, 0001-01-01 00:00 at +01:00), read as a system that gave no time: its
    conversion raised OverflowError, which crashed every run that read the record."""
    try:
        return as_utc(moment)
    except OverflowError:
        return None


def iso(moment: datetime | None) -> str | None:
    """A stored time as we print and serve it: ISO 8601 in UTC, with its ``+00:00``
    (``runs --json`` said ``2026-11-27T03:51:05.889782`` on SQLite)."""
    return None if moment is None else as_utc(moment).isoformat()
