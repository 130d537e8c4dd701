"""Pruning a hub's history: deleting the journal rows (changes) of old runs, the runs kept.

Separate from ``repo_journal`` because nothing in a run uses it: it is housekeeping a person
asks for (``contacthub prune``). The journal grows with every change of every run, dry runs
included (168,700 rows for a 20,000-contact hub after a few weeks); the runs' own rows are
small and stay, with their counts and status, marked ``pruned`` in their counts.

Some journal rows are more than history: later syncs read them as state. Those stay
(``_still_read``), so a prune never changes what a sync does:

- a write never confirmed (``pending``, ``interrupted``): a record found later carrying
  the hub's id may be that create's copy (``Store.unconfirmed_create``);
- the creates, updates and deactivations of a record whose link is detached now: whether
  contacthub deactivated it, to reactivate it when the person comes back
  (``Store.deactivated_links``);
- an undo's deletions of hub contacts: the records of an import undone are not taken up
  again (``Store.left_behind``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, or_, select, update

from contacthub.store import tables as t
from contacthub.store.holds import live_hold
from contacthub.store.repo_journal import JournalMixin
from contacthub.store.rows import dumps, loads

#: statuses of runs whose journal is never pruned: still going (or killed, for the next
#: sync to recover). A held run is kept only while it is the hold to decide
#: (``holds.live_hold``): one a later run superseded can never be decided, and kept it
#: pinned every run after it for good (cron syncs again while a run is held).
KEPT_STATUSES = ("running", "applying")


@dataclass(frozen=True, slots=True)
class PruneRun:
    """A run a prune deletes the journal of, and how many of its rows go and stay."""

    id: int
    kind: str
    status: str
    started_at: datetime
    rows: int
    kept: int


def _still_read(run_kind: str) -> Any:
    """The journal rows of a run of kind ``run_kind`` that later syncs read as state (see
    the module docstring)."""
    c, lk = t.changes.c, t.links.c
    detached = exists().where(
        lk.contact_id == c.contact_id, lk.connector_id == c.connector_id, lk.state == "detached"
    )
    read = [
        c.status.in_(("pending", "interrupted")),
        and_(
            c.connector_id.is_not(None),
            c.status == "done",
            c.op.in_(("create", "update", "deactivate")),
            detached,
        ),
    ]
    if run_kind == "undo":
        hub_delete = and_(
            c.connector_id.is_(None), c.connector_name == "hub", c.op == "delete", c.status == "done"
        )
        read.append(hub_delete)
    return or_(*read)


def _carried_holds(conn: Connection, hub_id: int) -> set[int]:
    """The held runs a killed approve or reject (or a killed run that carried one on)
    still decides: the next sync lets through, or refuses, the deletions their journals
    show (``run._carried``). Decided, such a run is no longer the hold to decide, and a
    ``resolve`` after it is the newest applied run: pruned, the next sync held the
    deletions a person had approved again (QA)."""
    out: set[int] = set()
    for _run, kind, status, parent_id, _counts, carries in JournalMixin(conn).killed_decisions(hub_id):
        if status not in KEPT_STATUSES:
            continue
        if kind in ("approve", "reject") and parent_id is not None:
            out.add(int(parent_id))
        out.update(int(i) for key in ("approved_runs", "rejected_runs") for i in carries.get(key) or [])
    # a rejected approve's hold carries that approval on: its held run's journal too
    out.update(held for held, _counts in JournalMixin(conn).approvals_held(out).values())
    return out


def standing_undos(conn: Connection, run_id: int) -> tuple[list[int], list[int]] | None:
    """The undos of ``run_id`` that still stand (no undo of their own stands), oldest first,
    and the rows of its journal the newest of them deferred (``Store.mark_reverted``), if
    any stands. An undo stands when it set something back itself (``mark_reverted``),
    applied, failed or killed after that was committed (a failed undo had kept its hub
    changes, and a second undo found every change "changed again since" and blamed the
    user's edits). An undo that set nothing back (a field changed since, a person deleted
    since) does not stand, even if its sync carried an edit made elsewhere: it cannot be
    undone either, and the run could never be undone again. (An undo from before the mark:
    any done change of an applied one.)

    An undo that took up what an earlier one deferred (``continues``) stands only with it:
    that one undone, the run is undone whole again, and what the later one set back is
    found changed since and kept. (``service.actions`` refuses or continues an undo by it;
    ``prunable_runs`` keeps a run it left people of to undo.)"""
    runs, changes = t.runs.c, t.changes.c
    changed = select(changes.id).where(
        changes.run_id == runs.id,
        changes.status == "done",
        changes.op.not_in(("link", "unlink")),
    )
    undos = conn.execute(
        select(runs.id, runs.status, runs.counts, changed.exists().label("changed"))
        .where(runs.parent_id == run_id, runs.kind == "undo")
        .order_by(runs.id)
    ).all()
    stands: dict[int, dict[str, Any]] = {}
    for undo in undos:
        counts = loads(undo.counts) or {}
        reverted = counts.get("reverted")
        sets = bool(reverted) if reverted is not None else undo.status == "applied" and undo.changed
        after = counts.get("continues")
        if sets and (after is None or int(after) in stands) and standing_undos(conn, undo.id) is None:
            stands[int(undo.id)] = counts
    if not stands:
        return None
    newest = max(stands)
    chain = [newest]
    while (after := stands[chain[0]].get("continues")) is not None:
        chain.insert(0, int(after))
    return chain, [int(i) for i in stands[newest].get("deferred") or []]


def _undone_in_part(conn: Connection, hub_id: int) -> set[int]:
    """The runs an undo that stands left people of to undo later (its ``deferred`` rows: a
    person deleted since, "restore it first"): a new undo of the run takes them up from its
    journal, and asks the runs after it what changed since. Pruned, that undo was refused,
    and the person restored as told kept the run's edit for good (QA)."""
    runs = t.runs.c
    parents = conn.execute(
        select(runs.parent_id, runs.counts).where(
            runs.hub_id == hub_id, runs.kind == "undo", runs.parent_id.is_not(None)
        )
    ).all()
    deferring = {int(p) for p, counts in parents if (loads(counts) or {}).get("deferred")}
    return {run for run in deferring if (standing := standing_undos(conn, run)) is not None and standing[1]}


def prunable_runs(
    conn: Connection, hub_id: int, *, before: int | None = None, started_before: datetime | None = None
) -> tuple[list[PruneRun], int | None]:
    """The hub's runs whose journal a prune deletes: older than run ``before`` or started
    before ``started_before``, not pruned yet, with rows to delete, and none of these:
    running or applying (a run going on, or a killed one the next sync recovers), the hold
    still to decide (a person's decision waits on its journal: an approve lets through the
    deletions it shows), one an open conflict came from, and the hub's
    newest applied run and every run after it (the one a person would undo first, and the
    decisions since that later syncs may still carry). Nor any run after one of those kept:
    an undo of a kept run asks the journal of every run after it what changed since (QA:
    pruned, an undo of the run an open conflict came from emptied a field set again since,
    and said nothing). A hold a later run superseded (``holds``) is none of these: it can
    be neither decided nor undone, its journal only plans, and no sync reads it. Nor a
    held run a killed decision still carries (``_carried_holds``), nor a run an undo left
    people of to undo later, or any run after it (``_undone_in_part``). Also
    returns the first run kept from there on (``None``: no applied run yet), which the dry
    run names."""
    runs, c = t.runs.c, t.changes.c
    newest_applied = conn.execute(
        select(func.max(runs.id)).where(runs.hub_id == hub_id, runs.status == "applied")
    ).scalar()
    if newest_applied is None:
        return [], None
    kept = conn.execute(
        select(func.min(runs.id)).where(
            runs.hub_id == hub_id,
            or_(
                runs.status.in_(KEPT_STATUSES),
                exists().where(t.conflicts.c.run_id == runs.id, t.conflicts.c.status == "open"),
            ),
        )
    ).scalar()
    live = live_hold(conn, hub_id)  # (after the newest applied run, but for a resolve's)
    deferring = _undone_in_part(conn, hub_id)
    first_kept = min(int(i) for i in (newest_applied, kept, live, *deferring) if i is not None)
    query = select(runs.id, runs.kind, runs.status, runs.started_at, runs.counts).where(
        runs.hub_id == hub_id, runs.id < first_kept
    )
    if before is not None:
        query = query.where(runs.id < before)
    if started_before is not None:
        query = query.where(runs.started_at < started_before)
    carried = _carried_holds(conn, hub_id)
    out = []
    for row in conn.execute(query.order_by(runs.id)).all():
        if (loads(row.counts) or {}).get("pruned") or row.id in carried:
            continue
        total, kept = conn.execute(
            select(func.count(), func.count().filter(_still_read(row.kind))).where(c.run_id == row.id)
        ).one()
        if total > kept:
            out.append(PruneRun(int(row.id), row.kind, row.status, row.started_at, int(total), int(kept)))
    return out, first_kept


def prune_run(conn: Connection, run: PruneRun, when: datetime) -> int:
    """Delete the run's journal rows but those later syncs read, and mark the run pruned
    (``pruned``: when, ``pruned_changes``: how many rows went) in its counts, which the
    listings and ``undo`` read. Returns how many rows went."""
    c = t.changes.c
    gone = conn.execute(delete(t.changes).where(c.run_id == run.id, ~_still_read(run.kind))).rowcount
    stored = conn.execute(select(t.runs.c.counts).where(t.runs.c.id == run.id)).scalar()
    counts = {**(loads(stored) or {}), "pruned": when.isoformat(), "pruned_changes": int(gone or 0)}
    conn.execute(update(t.runs).where(t.runs.c.id == run.id).values(counts=dumps(counts)))
    return int(gone or 0)


def is_run_of(conn: Connection, hub_id: int, run_id: int) -> bool:
    """Whether run ``run_id`` is one of the hub's (``prune --before``: another hub's run id
    was taken as a plain number, and pruned this hub up to it)."""
    runs = t.runs.c
    return conn.execute(select(runs.id).where(runs.id == run_id, runs.hub_id == hub_id)).first() is not None
