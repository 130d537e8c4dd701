"""Undo: the inverse of a run's changes to the hub, applied as a new run.

A run's journal holds every change it made to hub contacts with the values before and
after. Undo walks them newest first and puts the "before" back: a created contact is
deleted (its records in the systems it was read from are kept, detached: the run did not
make them), a deleted one restored, each updated field set back. The new run then carries
those hub changes to every connector exactly as it carries any other edit, so the systems
follow without a special path.

A field a later run set again (any run: a sync, a resolve, an undo; the journal tells,
whatever the value now) is left alone (a later edit wins over an old undo) and reported;
so is a contact a later run deleted or re-created, and a deleted person who was added
again since (another contact now has their email or phone and name).

The last two are deferred, not kept: another undo (of the deletion, of the person's
creation) lifts what stood in the way, and the run can then be undone again. The undo
notes the rows it deferred (``Store.mark_reverted``); while it stands, a new undo of the
run takes up only those (``Remaining``), as the rest is undone already: walked whole,
every field the first undo set back was "changed again since" (by that undo), and said so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from contacthub.engine.context import RunContext
from contacthub.model import (
    MULTI_FIELDS,
    NAME_GROUP,
    element_key,
    field_equal,
    lookup_keys,
    match_keys,
    strong_keys,
)
from contacthub.store import tables as t
from contacthub.store.repo import CHUNK, chunks, loads, now
from contacthub.store.repo_journal import HubChange


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left to undo of a run an undo of it stands for: the rows of its journal that
    undo (``after``, the last of a chain of them) deferred."""

    after: int
    rows: frozenset[int]


def undo_preparer(run_id: int, recheck: Callable[[Any], Remaining | None] | None = None) -> Any:
    """A ``prepare`` hook for ``run_hub`` that reverts the hub changes of ``run_id``.
    ``recheck(conn)`` first asks again, under the hub's lock, what the caller checked
    before it (raising ``UserError`` fails the run with its message): two undos of one run
    sent at once both passed, and the second found every change "changed again since".
    It returns what an undo of the run that stands left to undo (``None``: all of it)."""

    def prepare(ctx: RunContext) -> None:
        store = ctx.store
        remaining = recheck(store.conn) if recheck is not None else None
        first = len(ctx.journal)
        # an undo's own rows only: what its sync carried (an edit made elsewhere meanwhile)
        # is no part of it, and stands as a change since (``Store.undo_own_ends``)
        own_end = store.undo_own_ends([run_id]).get(run_id)
        c = t.changes.c
        query = select(t.changes).where(
            c.run_id == run_id,
            # the hub's own rows: a removed connector's rows lose their connector id too,
            # and were taken for hub changes (its creates undone as people's)
            c.connector_id.is_(None),
            c.connector_name == "hub",
            c.status == "done",
        )
        if own_end is not None:
            query = query.where(c.id <= own_end)
        rows = store.conn.execute(query.order_by(c.id.desc())).all()
        if remaining is not None:  # the rest is undone: taken up again, each said kept
            rows = [r for r in rows if r.id in remaining.rows]
        undone = store.conn.execute(
            select(
                t.runs.c.started_at, t.runs.c.finished_at, t.runs.c.kind, t.runs.c.parent_id, t.runs.c.counts
            ).where(t.runs.c.id == run_id)
        ).one()
        approve = undone.kind == "approve" and undone.parent_id is not None
        # a sync that carried a killed approve out is that approve: undone alike (it took
        # back the edits it carried too, the approve's undo only its deletions)
        if approve or (loads(undone.counts) or {}).get("carried_approvals"):
            rows = _approves_deletions(rows)
        contacts = store.contacts(r.contact_id for r in rows if r.contact_id)
        written = _copies(store, contacts)
        hidden = _taken_up_hidden(store, run_id)
        decider, settle = _decision_run(store.conn, run_id)
        later = store.hub_changes_after(run_id, list(contacts), own_end)
        set_since, deleted_by = _set_since(later), _deleted_by(later)
        changed: dict[tuple[str, int], tuple[Any, Any]] = {}  # records it changed: (before, after)
        for r in store.conn.execute(
            select(
                t.changes.c.contact_id, t.changes.c.connector_id, t.changes.c.before, t.changes.c.after
            ).where(
                t.changes.c.run_id == run_id,
                t.changes.c.connector_id.is_not(None),
                t.changes.c.op == "update",
                t.changes.c.status == "done",
            )
        ):
            changed[(r.contact_id, r.connector_id)] = (loads(r.before), loads(r.after))
        touched: dict[str, Any] = {}
        skipped: set[str] = set()  # people deleted since: said once
        deferred: list[int] = []  # rows left until another run is undone (``Remaining``)
        undone_creates = {  # contacts this undo deletes (the run created or restored them)
            r.contact_id
            for r in rows
            if r.op in ("create", "restore") and not getattr(contacts.get(r.contact_id), "deleted", True)
        }
        # the people it may restore, looked up at once (the index does not change meanwhile:
        # restored people are written at the end); asked per person, each lookup was a query
        keys_of = {
            r.id: lookup_keys(strong_keys(match_keys(dict(loads(r.before) or contacts[r.contact_id].data))))
            for r in rows
            if r.op == "delete" and r.contact_id in contacts
        }
        index = store.match_lookup(ctx.hub.id, {k for keys in keys_of.values() for k in keys})
        # when each of them, and each person it may restore, was alive, asked at once too
        live = frozenset(cid for keys in keys_of.values() for k in keys for cid in index.get(k, ()))
        lives = store.lives(live | {r.contact_id for r in rows if r.id in keys_of}, live)
        # said before anything is deleted (and by a dry run): the people it deletes whose
        # edits since stand go with those edits (QA: a preview of undoing a first copy
        # deleted 4,000 people edited since, without a word)
        ctx.report.edited_since = len(undone_creates & set(set_since))
        restoring: dict[str, None] = {}  # restored, their links and conflicts not yet set back
        for row in rows:
            contact = contacts.get(row.contact_id)
            if contact is None:
                continue
            if restoring and contact.id in restoring:
                _restore_links(ctx, run_id, undone, restoring)  # a later row reads them
            before, after = loads(row.before), loads(row.after)
            if row.op in ("create", "restore"):  # a restore is undone as a create is
                if contact.deleted:
                    continue
                ctx.journal.append(ctx.change_row(None, "delete", contact.id, contact.data, None, "done"))
                ctx.report.count("hub", "delete")
                contact.deleted = True
                _keep_records_it_found(ctx, contact.id, written, changed, hidden)
            elif row.op == "delete":
                if not contact.deleted:
                    continue
                data = dict(before or contact.data)
                # every live contact with a key of theirs (one folder's two cards of one
                # person are two people: the first alone was one there all along, and a
                # person added again beside them went unseen)
                found = {cid for k in keys_of.get(row.id, ()) for cid in index.get(k, ())}
                found.discard(contact.id)
                # not a person the undone run itself took in, nor one alive beside them at
                # some time (people who share an email stay two: one folder's two John
                # Does, whichever deletion is undone first): one who only lived after
                # them is the person added again (a new card, or that card's contact
                # brought back since by another undo)
                again = {
                    cid for cid in found - undone_creates if not _together(lives[cid], lives[contact.id])
                }
                if again:
                    # the person was added again since (a new card, same email): restoring
                    # them too made them twice in every connector
                    name = data.get("display_name") or contact.id
                    ctx.report.error("hub", contact.id, f"{name} was added again since run {run_id}; kept")
                    deferred.append(row.id)  # (undone once that person's creation is)
                    continue
                contact.deleted = False
                contact.data = data
                restoring[contact.id] = None  # its links and conflicts: ``_restore_links``
                if len(restoring) >= CHUNK:
                    _restore_links(ctx, run_id, undone, restoring)
                ctx.journal.append(ctx.change_row(None, "restore", contact.id, None, contact.data, "done"))
                ctx.report.count("hub", "create")
            elif row.op == "update":
                if contact.deleted:
                    # set back on a tombstone, the fields came back as the run left them when
                    # the deletion was undone (its journal row holds the person as deleted),
                    # and this undo had said it was done: skipped, and said
                    by = deleted_by.get(contact.id)
                    if by is not None and not by.carried:
                        deferred.append(row.id)  # (undone once the deletion is)
                    if by is not None and contact.id not in skipped:
                        skipped.add(contact.id)
                        name = contact.data.get("display_name") or contact.id
                        how = (
                            f"restore it first (undo run {by.run_id})"
                            if not by.carried
                            else f"its deletion came in with undo run {by.run_id}'s sync; kept"
                        )
                        ctx.report.error("hub", contact.id, f"{name} was deleted since run {run_id}; {how}")
                    continue  # (else the run's own deletion, not restored: said above)
                reverted_before: dict[str, Any] = {}
                reverted_after: dict[str, Any] = {}
                since = set_since.get(contact.id, set())
                # the name is one value: the family name set back under a given name
                # changed since gave "Xena Mlent" with N "Smith;Xena" everywhere
                name_kept = bool(since & NAME_GROUP) or any(
                    _kept(name, value, contact.data, since)
                    for name, value in (after or {}).items()
                    if name in NAME_GROUP
                )
                for name, new_value in (after or {}).items():
                    if _kept(name, new_value, contact.data, since):
                        ctx.report.error("hub", contact.id, f"{name} changed again since run {run_id}; kept")
                        continue
                    if name in NAME_GROUP and name_kept:
                        ctx.report.error(
                            "hub", contact.id, f"{name} kept with the name, changed again since run {run_id}"
                        )
                        continue
                    old_value = (before or {}).get(name)
                    reverted_before[name] = new_value
                    reverted_after[name] = old_value
                    if old_value in (None, "", []):
                        contact.data.pop(name, None)
                    else:
                        contact.data[name] = old_value
                    contact.sources.pop(name, None)
                if not reverted_after:
                    continue
                if settle:
                    _settle_again(ctx, contact.id, list(reverted_after), decider)
                else:
                    _reopen_resolved(ctx, contact.id, list(reverted_after), decider)
                ctx.journal.append(
                    ctx.change_row(None, "update", contact.id, reverted_before, reverted_after, "done")
                )
                ctx.report.count("hub", "update")
            else:
                continue
            contact.rev += 1
            touched[contact.id] = contact
        _restore_links(ctx, run_id, undone, restoring)
        store.update_contacts(list(touched.values()))
        store.set_match_keys(
            ctx.hub.id, {c.id: match_keys(c.data) for c in touched.values() if not c.deleted}
        )
        store.mark_reverted(  # committed with them
            ctx.run_id,
            len(ctx.journal) - first,
            deferred,
            remaining.after if remaining is not None else None,
        )
        ctx.flush_journal()

    return prepare


def _approves_deletions(rows: Sequence[Any]) -> list[Any]:
    """Of an approve's hub rows, those its undo takes back: the deletions, the ones its
    held run showed (the person let them through) and any made after the hold that went
    along. Its edits (made before the hold or meanwhile, carried as any sync, or a reject,
    would have) stay: undone with the approve, someone's edit was taken back everywhere.
    A deletion that went along is restored, not kept: kept, no undo could ever bring that
    person back (QA). The same holds for a sync that carried a killed approve out
    (``carried_approvals``)."""
    return [r for r in rows if r.op == "delete"]


def _restore_links(ctx: RunContext, run_id: int, run: Any, restoring: dict[str, None]) -> None:
    """What the restore of these people changes besides them, for all of them at once
    (emptying ``restoring``): a few queries a page of people, not a few a person (an undo
    of an undo of 20,000 took 390 s, the undo 6).

    Records the deletion left where they were (on_delete = ignore, outside a filter)
    rejoin their contact, read again: an edit made to one while it was detached is
    merged, not overwritten by the restored values; one that was deactivated (hidden, made
    inactive) is written, which reactivates it (one taken up by a person added again, whose
    creation was undone since, is theirs again first: ``Store.take_back_left_behind``).
    The conflicts the undone ``run``'s deletion closed are open again
    (``_reopen_conflicts``)."""
    if not restoring:
        return
    store = ctx.store
    store.take_back_left_behind(run_id, list(restoring))
    for part in chunks(sorted(restoring)):
        deactivated = store.deactivated_links(list(part))
        store.conn.execute(
            update(t.links)
            .where(t.links.c.contact_id.in_(part), t.links.c.state == "detached")
            .values(state="active", synced_rev=0, version=None)
        )
        store.rejoin_links(deactivated)
        _reopen_conflicts(ctx, part, run)
    restoring.clear()


def _reopen_conflicts(ctx: RunContext, contact_ids: Iterable[str], run: Any) -> None:
    """The conflicts of restored people that the undone ``run``'s deletion closed are open
    again: each side's value is still in its connector, waiting for a person to decide
    (closed, the next run wrote the hub's value over the other side's)."""
    c = t.conflicts.c
    ctx.store.conn.execute(
        update(t.conflicts)
        .where(c.hub_id == ctx.hub.id, c.status == "closed", c.contact_id.in_(list(contact_ids)))
        .where(c.resolved_at >= run.started_at, c.resolved_at <= (run.finished_at or now()))
        .values(status="open", winner=None, resolved_at=None)
    )


def _reopen_resolved(ctx: RunContext, contact_id: str, fields: list[str], run_id: int) -> None:
    """The conflicts on these fields that the undone run resolved (``service.resolve`` names
    its run in them) are open again: its decision is taken back, so each side keeps its
    own value until a person decides again (left resolved, the hub's old value went to
    every side, over the value of the side that had been chosen). A field changed again
    since is not reverted, and its conflicts stay settled. The winner stays on the row
    (not shown while it is open, ``views.conflicts``): an undo of this undo settles it
    again as the resolve left it (``_settle_again``)."""
    c = t.conflicts.c
    ctx.store.conn.execute(
        update(t.conflicts)
        .where(c.contact_id == contact_id, c.field.in_(fields), c.run_id == run_id, c.status == "resolved")
        .values(status="open", resolved_at=None)
    )


def _settle_again(ctx: RunContext, contact_id: str, fields: list[str], run_id: int) -> None:
    """The conflicts on these fields that an undo of resolve run ``run_id`` opened again are
    settled again as that resolve left it, its value being back: left open, they waited
    for a decision that was in effect, for good. One a side changed since (it names a
    later run) or that was decided again stays as it is."""
    c = t.conflicts.c
    ctx.store.conn.execute(
        update(t.conflicts)
        .where(c.contact_id == contact_id, c.field.in_(fields), c.run_id == run_id, c.status == "open")
        .where(c.winner.is_not(None))
        .values(status="resolved", resolved_at=now())
    )


def _decision_run(conn: Any, run_id: int) -> tuple[int, bool]:
    """The run whose conflict decisions undoing ``run_id`` touches, and whether it settles
    them again (an undo of an undo of it) rather than opening them: resolve R, its undo
    U, U's undo V: undoing R or V opens R's conflicts again, undoing U settles them. The
    conflicts keep naming R all along, so each step finds them."""
    settle = False
    while True:
        row = conn.execute(select(t.runs.c.kind, t.runs.c.parent_id).where(t.runs.c.id == run_id)).first()
        if row is None or row.kind != "undo" or row.parent_id is None:
            return run_id, settle
        run_id, settle = int(row.parent_id), not settle


def _set_since(later: list[HubChange]) -> dict[str, set[str]]:
    """contact id -> the fields later runs set and that still stand: an undo of a later
    run cancels that run's change of a field (both are left out), as the field holds what
    it held before them (a run undone, that undo undone, then the run undone again: its
    field was found "changed again" by the first undo)."""
    live: dict[tuple[str, str], set[int]] = {}
    for change in later:  # oldest first: a run comes before its undo
        for name in change.fields:
            runs = live.setdefault((change.contact_id, name), set())
            if change.run_kind == "undo" and not change.carried and change.parent_id in runs:
                runs.discard(change.parent_id)
            else:
                runs.add(change.run_id)
    out: dict[str, set[str]] = {}
    for (contact_id, name), runs in live.items():
        if runs:
            out.setdefault(contact_id, set()).add(name)
    return out


def _kept(name: str, value: Any, data: dict[str, Any], since: set[str]) -> bool:
    """Whether a field the undone run set to ``value`` changed since, and stays: the journal
    says a later run set it (E1 -> E2 -> E1 again: the value alone looked untouched), or it
    holds another value, whatever changed it."""
    return name in since or not field_equal(name, data.get(name), value)


def _deleted_by(later: list[HubChange]) -> dict[str, HubChange]:
    """contact id -> the latest deletion of them after the undone run: its run's undo
    restores them, unless an undo's sync carried it (an undo takes back only its own)."""
    return {c.contact_id: c for c in later if c.op == "delete"}  # oldest first


def _same_values(name: str, a: Any, b: Any) -> bool:
    """What the run wrote is what the record holds: the same values, whatever type or
    label the system read them back with (Pipedrive labels an email it was sent untyped
    "work", and the email merged in stayed after the undo, taken for an edit since)."""
    if name in MULTI_FIELDS:
        return {element_key(name, e) for e in a or ()} == {element_key(name, e) for e in b or ()}
    return field_equal(name, a, b)


#: (contact, connector, native id) of a record contacthub wrote; native id None: any record
#: of that connector (a create a killed run left without the id it got)
Written = set[tuple[str, int, str | None]]


def _copies(store: Any, contact_ids: Iterable[str]) -> Written:
    """Each record contacthub wrote for these contacts, in any run: a copy goes with its
    contact, whichever run made it (a copy written for the person by a later run stayed,
    as did one whose create a killed run left "interrupted" and the run after it found by
    the hub id it carries). Per record, not per connector: a connector pointed at another
    folder and back got a copy there, and its own card, the one the person was read from,
    was then taken for a copy and deleted."""
    c = t.changes.c
    out: Written = set()
    for part in chunks(sorted(contact_ids)):
        query = select(c.contact_id, c.connector_id, c.native_id).where(
            c.contact_id.in_(part),
            c.connector_id.is_not(None),
            c.op == "create",
            c.status.in_(("done", "interrupted")),
        )
        out.update((cid, int(conn_id), native) for cid, conn_id, native in store.conn.execute(query))
    return out


def _taken_up_hidden(store: Any, run_id: int) -> set[tuple[int, str]]:
    """(connector, native id) of the records run ``run_id`` took up for a person added
    again (``engine.leftovers``: a ``link`` row) that contacthub had deactivated before
    (a hidden GAL contact, an inactive Procore user: its last write before the run was a
    deactivation), which the run's write showed again. An undo of the person's creation
    hides them again: detached as they were, they stayed visible, a contact of nobody's in
    the address list. A few rows per run: take-ups are rare."""
    c = t.changes.c
    out: set[tuple[int, str]] = set()
    taken = store.conn.execute(
        select(c.id, c.connector_id, c.native_id).where(
            c.run_id == run_id, c.op == "link", c.connector_id.is_not(None), c.native_id.is_not(None)
        )
    ).all()
    for row in taken:
        last = store.conn.execute(
            select(c.op)
            .where(
                c.connector_id == row.connector_id,
                c.native_id == row.native_id,
                c.id < row.id,
                c.op.in_(("create", "update", "deactivate")),
                c.status == "done",
            )
            .order_by(c.id.desc())
            .limit(1)
        ).scalar()
        if last == "deactivate":
            out.add((int(row.connector_id), str(row.native_id)))
    return out


def _wrote(written: Written, contact_id: str, connector_id: int, native_id: str | None) -> bool:
    return (contact_id, connector_id, native_id) in written or (contact_id, connector_id, None) in written


def _keep_records_it_found(
    ctx: RunContext,
    contact_id: str,
    written: Written,
    changed: dict[tuple[str, int], tuple[Any, Any]],
    hidden: AbstractSet[tuple[int, str]] = frozenset(),
) -> None:
    """The records a contact was made from (a card typed into a phone, a row of a CSV file,
    a server's card) were there before the run: undoing it takes back what it wrote
    elsewhere, not them. They are detached, as ``on_delete = "ignore"`` leaves a record,
    so they stay where they are and are not taken in again; an undo of this undo brings
    them back with their contact. (Deleting them destroyed what a person had made.) One
    the run changed (the card a CSV row's phone was merged into) first gets back what it
    held before, where nothing changed it again since (``outbound.revert``)."""
    found = []
    for link in ctx.store.links_of_contact(contact_id):
        if link.state != "active" or link.made is True:
            continue  # a copy contacthub wrote: it goes with the person
        if link.made is None and _wrote(written, contact_id, link.connector_id, link.native_id):
            continue  # a link older than ``made``, or found by the hub id: the journal says
        if (link.connector_id, link.native_id) in hidden:
            ctx.hide_again.add(link.id)  # hidden again, as before the run (``outbound.hide_again``)
            continue
        before, after = changed.get((contact_id, link.connector_id), (None, None))
        current = link.baseline or {}
        target = dict(current)
        for name, new_value in (after or {}).items():
            if _same_values(name, current.get(name), new_value):  # else changed again since
                old_value = (before or {}).get(name)
                if old_value in (None, "", []):
                    target.pop(name, None)
                else:
                    target[name] = old_value
        if target != current:
            ctx.reverts[link.id] = target
        else:
            found.append(link.id)
    if found:
        ctx.store.conn.execute(update(t.links).where(t.links.c.id.in_(found)).values(state="detached"))


def _together(one: list[tuple[int, int | None]], other: list[tuple[int, int | None]]) -> bool:
    """Whether two contacts' lives (``Store.lives``) overlap: alive at one time."""
    never = float("inf")  # (a life not ended)
    return any(
        start < (end2 if end2 is not None else never) and start2 < (end if end is not None else never)
        for start, end in one
        for start2, end2 in other
    )
