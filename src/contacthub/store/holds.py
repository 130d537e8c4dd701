"""Which held runs can still be decided: the rule by which ``approve`` and ``reject`` refuse
an out-of-date hold, the listings show it superseded, and ``prune`` lets it go.

A held run is out of date once a later run of its hub was held, applied, approved or
rejected: that run counted the held deletions again, or a hold after it was decided, so
deciding the old one would do nothing of what it showed. A later run that failed, was a
dry run or is still running does not count, nor does a ``resolve``, which sets one hub
value and syncs nothing (the next sync carries it). Here in the store, not in the
service, because ``store.history`` needs it too: two copies of a rule drift apart.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from contacthub.store import tables as t

SUPERSEDING = ("applied", "held", "approved", "rejected")
"""The statuses of a later run that make a held run out of date."""


@dataclass(frozen=True, slots=True)
class Superseder:
    """The run that made a held run out of date: the first run of the hub after it that
    counts (``SUPERSEDING``), which stays the same however many runs follow. ``live``:
    it is itself held and nothing superseded it in turn (the hold to decide now)."""

    id: int
    status: str
    live: bool


def _counts(runs: Any = t.runs.c) -> tuple[ColumnElement[bool], ...]:
    """The runs that count (``SUPERSEDING``, not a ``resolve``), of ``runs`` (the table's
    columns, or an alias's)."""
    return (runs.status.in_(SUPERSEDING), runs.kind != "resolve")


def superseders(conn: Connection, hub_id: int, held: Collection[int]) -> dict[int, Superseder]:
    """Which of the hub's held runs ``held`` are out of date, each with the run that
    superseded it: the first counting run after it. (It named the hub's latest such run,
    which moved on with every sync: "superseded by run 4" became "by run 8" with nothing
    done to the hold.) Three queries for any number of runs; the first walks the
    ``ix_runs_hub`` index from each held run to the next counting one."""
    if not held:
        return {}
    runs, later = t.runs.c, t.runs.alias("later").c
    first = (
        select(func.min(later.id))
        .where(later.hub_id == hub_id, later.id > runs.id, *_counts(later))
        .scalar_subquery()
    )
    by = {
        int(run_id): int(found)
        for run_id, found in conn.execute(
            select(runs.id, first).where(runs.hub_id == hub_id, runs.id.in_(sorted(set(held))))
        ).all()
        if found is not None
    }
    if not by:
        return {}
    status = dict(
        conn.execute(select(runs.id, runs.status).where(runs.id.in_(sorted(set(by.values()))))).all()
    )
    live = live_hold(conn, hub_id)
    return {
        run_id: Superseder(later_id, status[later_id], later_id == live) for run_id, later_id in by.items()
    }


def live_hold(conn: Connection, hub_id: int) -> int | None:
    """The hub's held run still to be decided, if any: the latest counting run, when it
    is held (any hold before it is out of date, and one after it would be later)."""
    runs = t.runs.c
    latest = conn.execute(
        select(runs.id, runs.status)
        .where(runs.hub_id == hub_id, *_counts())
        .order_by(runs.id.desc())
        .limit(1)
    ).first()
    return int(latest.id) if latest is not None and latest.status == "held" else None
