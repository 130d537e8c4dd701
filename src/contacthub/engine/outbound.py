"""Steps 6 and 8 of a run: plan what each writable connector needs, then apply it.

The plan walks, per connector, the links whose hub contact moved on since they were agreed
(``synced_rev < rev``) and the live hub contacts the connector has no record of, in pages,
so it never holds the whole hub in memory. ``plan_link`` and ``plan_missing`` decide one
contact at a time and do no I/O.

Apply follows the journal-first rule: a page of intended changes is committed as
``pending`` before the connector is called, and links, baselines and the journal are
updated in the transaction after it answers. A run killed in between leaves ``pending``
rows; the next run marks them interrupted and plans again from the links, and a create
that did reach the system is found again by the hub id it carries or by its match keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contacthub.connectors.base import WriteOp, WriteResult, check_ops
from contacthub.engine.context import RunContext, Spoke
from contacthub.errors import (
    NotAPersonError,
    PartlyWrittenError,
    ReadOnlyRecordError,
    RecordError,
    RecordNotFoundError,
    UndeletableRecordError,
)
from contacthub.model import NAME_GROUP, fields_equal, held_view, holds_nothing, project
from contacthub.store.repo import ContactRow, LinkRow

PAGE = 500


@dataclass(slots=True)
class Step:
    """One planned thing for one contact: a write, or only a change to the link."""

    contact: ContactRow
    link: LinkRow | None
    op: WriteOp | None = None
    link_state: str | None = None  # new state when no write is needed


def desired(
    spoke: Spoke, contact: ContactRow, link: LinkRow | None, open_fields: dict[str, int]
) -> dict[str, Any]:
    """The record the connector should hold. A field with an open (manual) conflict keeps
    what the connector has until a person decides."""
    want = held_view(contact.data, spoke.held)
    if link is not None and link.baseline is not None:
        held_back = set(open_fields)
        if held_back & NAME_GROUP:
            # a name is decided whole: while a part of it waits for a person, the record
            # keeps all of its own name (it got the display name made from the hub's new
            # given name over its own parts: "Alicia Smith" over "Smith;Alice")
            held_back |= NAME_GROUP
        for name in held_back:
            if name in link.baseline:
                want[name] = link.baseline[name]
            else:
                want.pop(name, None)
    return want


def plan_link(spoke: Spoke, link: LinkRow, contact: ContactRow, open_fields: dict[str, int]) -> Step:
    """A linked record whose hub contact changed or was deleted."""
    step = Step(contact, link)
    ops = spoke.operations
    caps = spoke.connector.capabilities
    if contact.deleted:
        if link.state != "active":
            # a record outside the filter stays as it was, unlinked: dropping its link made
            # it a stranger, and its next edit brought the deleted person back everywhere
            step.link_state = "detached"
        elif spoke.keeps(contact.id):
            step.link_state = "detached"  # a person rejected these deletions
        elif spoke.on_delete == "delete" and "delete" in ops and caps.delete:
            step.op = WriteOp("delete", contact.ref, {}, link.native_id, link.version or None)
        elif spoke.on_delete == "deactivate" and "delete" in ops and caps.deactivate:
            step.op = WriteOp("deactivate", contact.ref, {}, link.native_id, link.version or None)
        else:
            step.link_state = "detached"  # on_delete = ignore: the record stays, unlinked
        return step
    if link.state == "left":
        # its own edit took it out of the filter: never written until a read finds it back
        # in (``Inbound._chunk``); planned only so that the person's deletion detaches it
        step.link_state = "left"
        return step
    if not spoke.passes(contact.data):
        step.link_state = "filtered"  # left the filter: unlinked, never deleted
        return step
    want = desired(spoke, contact, link, open_fields)
    if link.baseline is not None and spoke.holds(want, project(link.baseline, spoke.held)):
        step.link_state = "active"
    elif "update" in ops and caps.update:
        step.op = WriteOp("update", contact.ref, want, link.native_id, link.version or None)
    else:
        step.link_state = "active"
    return step


def revert(spoke: Spoke, link: LinkRow, contact: ContactRow, fields: dict[str, Any]) -> Step:
    """A record an undone run found and changed, whose contact the undo deletes: it gets
    back what it held before, then stays, detached (``engine.undo``); also when an edit
    of another of their records brought the contact back. A record edited itself since
    has no revert (``Inbound`` drops it): its edit stands."""
    step = Step(contact, link, link_state="detached")
    if "update" in spoke.operations and spoke.connector.capabilities.update:
        step.op = WriteOp("update", contact.ref, fields, link.native_id, link.version or None)
    return step


def hide_again(spoke: Spoke, link: LinkRow, contact: ContactRow) -> Step:
    """A record an undone run took up and showed again (a hidden GAL contact, an inactive
    Procore user: ``engine.undo._taken_up_hidden``), whose contact the undo deletes, is
    deactivated again, then detached as it was before the run (``finish_page``); where
    the connector may no longer deactivate, only detached. The values the run wrote
    into it stay: hidden, no one sees them, and whoever takes it up next (the first
    person restored, a person added again) has theirs written."""
    step = Step(contact, link, link_state="detached")
    if "delete" in spoke.operations and spoke.connector.capabilities.deactivate:
        step.op = WriteOp("deactivate", contact.ref, {}, link.native_id, link.version or None)
        step.link_state = None
    return step


def reactivate(spoke: Spoke, step: Step, open_fields: dict[str, int]) -> None:
    """A record deactivated for a deleted contact who is back (``LinkRow.reactivate``)
    whose link agrees gets the hub's fields written all the same: the connector's update
    is what shows a hidden GAL contact again or reactivates a Procore user. Without it
    the record stayed deactivated, for good, while every run reported nothing to do. The
    mark stays on the link until a write succeeds (``finish_page``): a failed write leaves
    the link behind its contact (``synced_rev``), so the next run plans it again."""
    link = step.link
    if (
        link is None
        or not link.reactivate
        or step.op is not None
        or step.link_state != "active"
        or step.contact.deleted
        or "update" not in spoke.operations
        or not spoke.connector.capabilities.update
    ):
        return
    want = desired(spoke, step.contact, link, open_fields)
    step.op = WriteOp("update", step.contact.ref, want, link.native_id, link.version or None)
    step.link_state = None


def plan_missing(spoke: Spoke, contact: ContactRow) -> Step:
    """A live hub contact the connector has no record of."""
    step = Step(contact, None)
    if (
        not spoke.passes(contact.data)
        or "create" not in spoke.operations
        or not spoke.connector.capabilities.create
    ):
        step.link_state = "excluded"
        return step
    fields = held_view(contact.data, spoke.held)
    if holds_nothing(fields):
        # nothing this connector holds (a card with only a photo, say): an empty record
        # there helps no one, and some systems could not even list it back
        step.link_state = "excluded"
        return step
    step.op = WriteOp("create", contact.ref, fields)
    return step


def unlinked_pages(ctx: RunContext, spoke: Spoke) -> Iterator[list[ContactRow]]:
    """The hub's live contacts ``spoke`` has no record of (``Store.unlinked_contacts``), a
    page at a time by id: keyset paging, each page asked for once the one before is done
    with, so a page never repeats though its contacts get records meanwhile."""
    after = ""
    while contacts := ctx.store.unlinked_contacts(ctx.hub.id, spoke.id, after, PAGE):
        after = contacts[-1].id
        yield contacts


def plan_pages(ctx: RunContext, spoke: Spoke) -> Iterator[list[Step]]:
    """Every step for ``spoke``, a page at a time (keyset paging, so pages never repeat)."""
    store = ctx.store
    after_link = 0
    while True:
        rows = store.dirty_links(spoke.id, after_link, PAGE)
        if not rows:
            break
        after_link = rows[-1][0].id
        page = [
            hide_again(spoke, link, c)
            if link.id in ctx.hide_again
            else revert(spoke, link, c, ctx.reverts[link.id])
            if link.id in ctx.reverts
            else plan_link(spoke, link, c, ctx.open_conflicts.get(c.id, {}))
            for link, c in rows
        ]
        for step in page:
            if step.link is not None and step.link.reactivate:
                reactivate(spoke, step, ctx.open_conflicts.get(step.contact.id, {}))
        yield page
    sources = card_sources(ctx, spoke)
    for contacts in unlinked_pages(ctx, spoke):
        if spoke.restoring:  # (a restore that failed: said once, tried again next run)
            contacts = [c for c in contacts if c.id not in spoke.restoring]
            if not contacts:
                continue
        ids = [c.id for c in contacts]
        existing = store.links_by_contact(spoke.id, ids)
        held_elsewhere = store.record_links(list(sources), ids) if sources else {}
        steps = []
        for contact in contacts:
            step = plan_missing(spoke, contact)
            step.link = existing.get(contact.id)  # an out-of-date 'excluded' marker
            steps.append(step)
        if held_elsewhere:
            start_from_cards(steps, held_elsewhere, sources, ctx.open_conflicts)
        yield steps


def restore_pages(ctx: RunContext, spoke: Spoke) -> Iterator[list[Step]]:
    """Only the creates of ``spoke`` that put a card it deleted back whole from its trash
    (``Connector.kept_cards``), a page at a time, to be written before any connector's
    other writes: the other connectors' new copies of those people then start from the
    card put back (``start_from_cards``). Ordering connectors could not do it when two
    keep cards: an undo of a run that deleted a card in each put one back in the book
    after the folder, first in the hub, had made its copy from the hub's fields alone."""
    store = ctx.store
    for contacts in unlinked_pages(ctx, spoke):
        kept = spoke.connector.kept_cards([c.ref for c in contacts])
        chosen = [c for c in contacts if c.ref in kept]
        if not chosen:
            continue
        existing = store.links_by_contact(spoke.id, [c.id for c in chosen])
        steps = []
        for contact in chosen:
            step = plan_missing(spoke, contact)
            if step.op is not None:  # (one now filtered out is recorded with the rest)
                step.link = existing.get(contact.id)
                steps.append(step)
                spoke.restoring.add(contact.id)
        if steps:
            yield steps


def card_sources(ctx: RunContext, spoke: Spoke) -> dict[int, tuple[Spoke, bool]]:
    """The other connectors of the hub whose cards a new card of ``spoke`` can start from
    (``connectors.card_source``), by id, in hub order, each with whether its cards read
    exactly as they would here (the same fields held, the same reading settings). Only
    connectors whose edits flow into the hub: a ``from-hub`` folder's cards are not read."""
    settings = spoke.connector.card_settings
    if settings is None:
        return {}
    return {
        other.id: (other, other.held == spoke.held and other.connector.card_settings == settings)
        for other in ctx.spokes
        if other is not spoke and other.readable and other.connector.card_settings is not None
    }


#: the order in which a person's cards elsewhere are tried, by their link's ``made``: a
#: card found in its system, then one of unknown origin, then a copy the hub wrote
FIRST_HAND: tuple[bool | None, ...] = (False, None, True)


def start_from_cards(
    steps: list[Step],
    held_elsewhere: dict[str, list[tuple[int, str, str, int, bool | None]]],
    sources: dict[int, tuple[Spoke, bool]],
    open_conflicts: Mapping[str, Mapping[str, int]],
) -> None:
    """Give each create of a page the first card of its contact elsewhere that can be read:
    the cards found in their systems first, then the hub's own copies (``FIRST_HAND``);
    within each, those of connectors reading cards as this one does, then hub order;
    asking each source connector once for the page and kind of card. A copy lacks what
    its connector maps that the hub has no value for (``X-TRADE`` in a folder mapping
    ``custom.trade``, ``VCardCodec.create_from``), though a connector that does not map it
    would keep it: started from an earlier copy, a new card lost such lines or kept them
    by the order of the connectors. A card is exact when its link agreed on the contact's
    current revision: at that version it holds exactly the contact's fields, which are
    what the new card is to hold. Not while the contact has an open (manual) conflict: a
    link then agrees while its record keeps its own value of the field, which may be the
    one the hub did not keep (a new folder got the losing value, for good)."""
    waiting = {s.contact.id: s for s in steps if s.op is not None and s.contact.id in held_elsewhere}
    # (a copy in a folder reading cards as this one does lacks nothing this one would
    # keep: one in a folder mapping X-TRADE has no X-TRADE line of the original's, QA)
    ordered = sorted(sources.items(), key=lambda item: not item[1][1])
    for made in FIRST_HAND:
        for source_id, (other, same) in ordered:
            if not waiting:
                return
            asked: dict[str, Step] = {}  # by native id there
            wanted = []
            for contact_id, step in waiting.items():
                for connector_id, native_id, version, synced_rev, made_here in held_elsewhere[contact_id]:
                    if connector_id == source_id and made_here is made:
                        asked[native_id] = step
                        exact = same and synced_rev == step.contact.rev and contact_id not in open_conflicts
                        wanted.append((native_id, version, exact))
            if not wanted:
                continue
            for native_id, found in other.connector.card_sources(wanted).items():
                step = asked[native_id]
                if step.op is not None and waiting.pop(step.contact.id, None) is not None:
                    step.op.source = found


def describe(step: Step) -> tuple[str, Any, Any]:
    """(op, before, after) of a planned write, for the journal: only the fields that change."""
    op = step.op
    assert op is not None
    if op.kind == "create":
        return "create", None, op.fields
    base = (step.link.baseline if step.link else None) or {}
    if op.kind == "update":
        keys = [
            k
            for k in sorted(set(base) | set(op.fields))
            if not fields_equal({k: base.get(k)}, {k: op.fields.get(k)})
        ]
        return "update", {k: base.get(k) for k in keys}, {k: op.fields.get(k) for k in keys}
    return op.kind, base, None


def link_only(ctx: RunContext, spoke: Spoke, steps: list[Step]) -> list[dict[str, Any]]:
    """Record the steps that need no write: links that agree, leave a filter, or detach.
    Returns the journal rows of the unlinks."""
    store = ctx.store
    notes: list[dict[str, Any]] = []
    update: list[LinkRow] = []
    insert: list[LinkRow] = []
    for step in steps:
        if step.op is not None or step.link_state is None:
            continue
        link, contact = step.link, step.contact
        if link is None:
            insert.append(LinkRow(0, spoke.id, contact.id, None, None, None, contact.rev, step.link_state))
            continue
        if step.link_state in ("filtered", "detached") and link.state == "active":
            notes.append(ctx.change_row(spoke, "unlink", contact.id, None, None, "done", link.native_id))
            ctx.let_go(spoke)
        link.state = step.link_state
        link.synced_rev = contact.rev
        update.append(link)
    store.update_links(update)
    store.insert_links(insert)
    return notes


@dataclass(slots=True)
class Started:
    """A page whose intended writes are journalled and committed, waiting for results."""

    writes: list[Step]
    ops: list[WriteOp]
    change_ids: list[int]


def apply_pages(
    ctx: RunContext,
    spoke: Spoke,
    pages: Iterable[list[Step]],
    commit: Callable[[], None],
    done: Callable[[int], None] | None = None,
) -> None:
    """Apply every page, in order. Where the connector writes a page behind
    (``Connector.write_behind``: a first copy into a vCard folder, say), the next page is
    planned and journalled, and the page before recorded, while it is written; the
    journal-first rule holds for each page all the same."""

    def finish(started: Started, results: list[WriteResult], count: int) -> None:
        finish_page(ctx, spoke, started, results, commit)
        if done:
            done(count)

    behind: tuple[Started, Callable[[], list[WriteResult]], int] | None = None
    for page in pages:
        started = start_page(ctx, spoke, page, commit)
        waiter = spoke.connector.write_behind(started.ops) if started.ops else None
        if behind is not None:
            finish(behind[0], behind[1](), behind[2])
            behind = None
        if waiter is None:
            finish(started, write_now(spoke, started.ops), len(page))
        else:
            behind = (started, waiter, len(page))
    if behind is not None:
        finish(behind[0], behind[1](), behind[2])


def write_now(spoke: Spoke, ops: list[WriteOp]) -> list[WriteResult]:
    results: list[WriteResult] = []
    size = max(1, spoke.connector.capabilities.batch_size)
    for i in range(0, len(ops), size):
        results += spoke.connector.write(ops[i : i + size])
    return results


def start_page(ctx: RunContext, spoke: Spoke, steps: list[Step], commit: Callable[[], None]) -> Started:
    """Record the steps that need no write, and commit the page's intended writes as
    ``pending`` journal rows: the intent is durable before the system is touched."""
    store = ctx.store
    writes = [s for s in steps if s.op is not None]
    store.add_changes(link_only(ctx, spoke, steps))
    if not writes:
        commit()
        return Started([], [], [])
    ops = [s.op for s in writes if s.op is not None]
    check_ops(spoke.connector, ops)
    rows = []
    for step in writes:
        kind, before, after = describe(step)
        rows.append(
            ctx.change_row(
                spoke,
                kind,
                step.contact.id,
                before,
                after,
                "pending",
                step.op.native_id if step.op else None,
            )
        )
    change_ids = store.add_changes(rows)
    commit()
    return Started(writes, ops, change_ids)


def finish_page(
    ctx: RunContext, spoke: Spoke, started: Started, results: list[WriteResult], commit: Callable[[], None]
) -> None:
    """Record what the system answered: links, baselines and the journal rows' status."""
    if not started.writes:
        return
    store = ctx.store
    statuses: list[tuple[int, str, str | None, str | None]] = []
    drop: list[int] = []
    update: list[LinkRow] = []
    insert: list[LinkRow] = []
    notes: list[dict[str, Any]] = []
    restored: list[ContactRow] = []
    reactivated: list[int] = []  # written: their reactivation is done
    for step, result, change_id in zip(started.writes, results, started.change_ids, strict=True):
        op = result.op
        error = result.error
        if error is not None and gone(error) and step.link is not None:
            # the record was deleted at the system and its listing did not say so yet (an
            # incremental listing that leaves deletions out): taken as that deletion. Its
            # link goes; a delete is done, and the contact of an update is created there
            # again (modification beats deletion), later in this run where the plan has not
            # yet passed it, else in the next; never the same error on every run
            drop.append(step.link.id)
            if op.kind in ("delete", "deactivate"):
                statuses.append((change_id, "done", None, op.native_id))
                ctx.report.count(spoke.name, op.kind)
            else:  # the update did not happen: its row says so, an unlink row says why
                spoke.found_gone = True
                statuses.append((change_id, "failed", str(error.message), op.native_id))
                notes.append(
                    ctx.change_row(spoke, "unlink", step.contact.id, None, None, "done", op.native_id)
                )
            continue
        if error is not None:
            if isinstance(error, PartlyWrittenError):  # it changed: done, with what it left out
                statuses.append((change_id, "done", str(error.message), op.native_id))
                ctx.report.count(spoke.name, op.kind)
            else:
                statuses.append((change_id, "failed", str(error.message), op.native_id))
            ctx.report.error(spoke.name, error.record, error.message)
            # refused for good (a record the system never lets us change, or values written
            # but for some, ``PartlyWrittenError``): said once, not tried again until the
            # hub contact changes. Values the system refuses as invalid (400/413/422,
            # ``RejectedRecordError``) are not: the record stays out of step, its link as
            # it was, so the write is tried again, and its error said, on every run until
            # the values change (agreed on, a job title too long kept the person's new
            # phone out of Pipedrive for good, and a new person out of it, without a word)
            refused = isinstance(error, ReadOnlyRecordError | PartlyWrittenError)
            if isinstance(error, NotAPersonError) and step.link is not None:
                # a record linked as a person that is none (a contact group's card): it
                # stays as it is, unlinked, never written (it was retried every run)
                step.link.state = "detached"
                update.append(step.link)
            elif refused and op.kind == "create" and step.link is None:
                # a create refused for good: the contact is excluded here until it changes
                # again (else it was tried, and reported, on every run); it can still be
                # matched to a record this connector lists later
                insert.append(
                    LinkRow(0, spoke.id, step.contact.id, None, None, None, step.contact.rev, "excluded")
                )
            elif refused and op.kind == "create" and step.link is not None:
                # refused again after the contact changed: its 'excluded' marker moves on to
                # this revision (left behind, the create was retried on every run)
                step.link.synced_rev = step.contact.rev
                update.append(step.link)
            elif (
                isinstance(error, UndeletableRecordError)
                and step.link
                and op.kind in ("delete", "deactivate")
            ):
                # a record the system never deletes (a directory user): the person stays
                # there, so the hub keeps them, restored as modification beats deletion
                # restores; the link agrees on the record as it is (the refusal is said
                # once), and a connector that deleted its copy gets it again (later in this
                # run where its plan has not passed yet, else in the next). Left unlinked,
                # the record's later edits never reached the hub
                contact = step.contact
                if contact.deleted:
                    contact.deleted = False
                    contact.rev += 1
                    restored.append(contact)
                    notes.append(ctx.change_row(None, "restore", contact.id, None, contact.data, "done"))
                    ctx.report.count("hub", "create")
                kept = step.link
                kept.synced_rev = contact.rev
                if result.fields is not None:
                    kept.version, kept.baseline = result.version, project(result.fields, spoke.held)
                    kept.remapped = frozenset()  # (read back: the mark of ``_reconsider`` is done)
                update.append(kept)
            elif refused and step.link and op.kind in ("delete", "deactivate"):
                # a deletion refused for good (a directory user is never deleted): the record
                # stays, unlinked, as on_delete = "ignore" leaves it; it was retried every run
                step.link.state = "detached"
                update.append(step.link)
            elif step.link and step.link_state == "detached" and op.kind == "update":
                # an undo's revert (``revert``) that failed: the record stays as it is,
                # detached; never linked to a deleted contact, which would delete it
                step.link.state = "detached"
                update.append(step.link)
            elif refused and step.link and result.fields is not None:
                # refused for good: agree on the record as it is, so the refusal is not
                # repeated every run, only when the hub contact changes again
                kept = step.link
                kept.version, kept.synced_rev = result.version, step.contact.rev
                kept.baseline, kept.remapped = project(result.fields, spoke.held), frozenset()
                update.append(kept)
            elif refused and step.link and op.kind == "update":
                # refused without the record read back: it holds what it held (its baseline
                # and version stay), agreed up to this revision, so the update is tried again
                # when the hub contact changes (or the record does), not on every run
                step.link.synced_rev = step.contact.rev
                update.append(step.link)
            continue
        statuses.append((change_id, "done", None, result.native_id))
        ctx.report.count(spoke.name, op.kind)
        link = step.link
        if link is not None and link.reactivate:
            reactivated.append(link.id)
        if op.kind == "delete":
            if link is not None:
                drop.append(link.id)
            continue
        if op.kind == "deactivate":
            assert link is not None
            link.state, link.version = "detached", result.version
            update.append(link)
            continue
        # what the record holds of the fields the connector holds: a record read back may
        # say more (a display name derived from the name parts, say), which would never
        # compare equal to the hub's projection (and made a deleted CSV row come back)
        fields = result.fields
        baseline = op.fields if fields is None or fields is op.fields else project(fields, spoke.held)
        if link is None or link.state == "excluded":
            if link is not None:
                drop.append(link.id)
            insert.append(
                LinkRow(
                    0,
                    spoke.id,
                    step.contact.id,
                    result.native_id,
                    result.version,
                    baseline,
                    step.contact.rev,
                    "active",
                    made=True,  # a copy: an undo of the person's creation deletes it
                )
            )
        else:
            link.native_id, link.version, link.baseline = (
                result.native_id or link.native_id,
                result.version,
                baseline,
            )
            # written: the record holds the hub's values where a mapping moved them, and
            # its next edit of them is an edit (``LinkRow.remapped``)
            link.synced_rev, link.remapped = step.contact.rev, frozenset()
            link.state = "detached" if step.link_state == "detached" else "active"  # a revert
            update.append(link)
    store.update_contacts(restored)
    store.delete_links(drop)
    store.update_links(update)
    if insert:
        if spoke.has_detached is None:
            spoke.has_detached = store.has_detached(spoke.id)
        if spoke.has_detached:
            # a record a create found there already (a replayed create, a card of that
            # UID) may still be detached from another contact (one left behind and taken up,
            # whose taker an undo removed): it is this contact's now; the link of both made
            # the run fail on the (connector, native id) key
            store.drop_detached(spoke.id, [r.native_id for r in insert if r.native_id])
    store.insert_links(insert)
    store.reactivated(reactivated)
    store.set_change_status(statuses)
    store.add_changes(notes)
    commit()


def gone(error: RecordError) -> bool:
    """A write that found its record deleted at the system (not a record that is no person,
    which is left alone, ``NotAPersonError``)."""
    return isinstance(error, RecordNotFoundError) and not isinstance(error, NotAPersonError)
