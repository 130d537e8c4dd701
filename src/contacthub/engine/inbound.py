"""Steps 1-5 of a run: pull, filter, match, merge, and deletions seen at the connectors.

Records arrive in chunks so that memory stays bounded however large an address book is:
each chunk costs a few bulk queries (its links, its hub contacts) and a few bulk writes, all
inside the run's inbound transaction, which commits only if the run goes on to apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from contacthub.connectors.base import Record, Unchanged
from contacthub.engine.contact_ids import new_contact_id
from contacthub.engine.context import RunContext, Spoke
from contacthub.engine.leftovers import LeftBehind
from contacthub.engine.matching import KEY_FIELDS, Matching
from contacthub.engine.merge import CLOCK_SKEW, Conflict, MergeResult, Side, Unconfirmed, merge, source_of
from contacthub.engine.twins import Twins
from contacthub.errors import RecordError, RecordNotFoundError
from contacthub.model import (
    MULTI_FIELDS,
    NAME_FIELDS,
    NAME_GROUP,
    display_name_of,
    email_stand_in,
    field_equal,
    fields_equal,
    held_view,
    made_name,
    match_keys,
    parts_renamed,
    project,
)
from contacthub.store.repo import ContactRow, LinkRow, dumps, now
from contacthub.times import utc

CHUNK = 500


def ahead(moment: datetime, read: datetime, start: datetime | None = None) -> datetime:
    """A record's time (UTC) as ``newest`` weighs it, for a record read by ``read`` in a run
    that started at ``start`` (``read`` when not given): as it is up to ``CLOCK_SKEW`` (a
    system's clock a little fast: ``merge.CLOCK_SKEW``) past
    ``read``; a time further ahead (a card's REV of 2100, a clock running fast) counts as
    ``start + CLOCK_SKEW + (1 - CLOCK_SKEW / d)`` seconds, ``d`` its distance from
    ``start``: never a second more than ``start + CLOCK_SKEW``, so an edit made elsewhere a
    little after that wins, and in the same order as the times themselves.

    Why two references. The bound's threshold goes by ``read``: measured from the run's
    start, an edit made during a run longer than ``CLOCK_SKEW`` (a big CRM read first), read
    late, was bounded below its real time and an older edit elsewhere beat it, with every
    clock right (QA). The squeeze goes by ``start``, the same for every record of the run:
    measured from each record's own read, two books whose clocks both ran ahead were
    ordered by when they were read, not by their times, and the one read last kept its
    value over a later edit of the other's (QA); counted as one time, they tied. Times
    decades apart, or ahead by days and minutes apart, may still tie at a microsecond's
    precision (the one read first then keeps its value)."""
    if moment - read <= CLOCK_SKEW:
        return moment
    base = read if start is None else min(start, read)
    return base + CLOCK_SKEW + timedelta(seconds=1 - CLOCK_SKEW / (moment - base))


def _chunks(
    items: Iterator[Record | Unchanged | RecordError], size: int = CHUNK
) -> Iterator[list[Record | Unchanged | RecordError]]:
    while True:
        part = list(islice(items, size))
        if not part:
            return
        yield part


class Inbound(Matching, Twins, LeftBehind):
    """Pulls every connector and folds what changed into the hub contacts."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self._taken: set[str] = set()  # hub contacts linked to a record of the current chunk
        self._keys: dict[str, list[str]] = {}  # native id -> match keys, for the current chunk
        self._by_ref: dict[str, ContactRow] = {}  # contacts by the ids records of the chunk carry
        self._uids: dict[str, str] = {}  # uids given to new contacts in this chunk -> native id
        self._first: dict[str, str] = {}  # uid -> the first of the chunk's records claiming it
        self._index: dict[str, list[str]] = {}  # match key -> live contacts, for the chunk's records
        self._matchable: int | None = None  # live contacts the pulled connector has no record of
        self._unconfirmed: bool | None = None  # (``Matching._prefetch``)
        self._moved_from: LinkRow | None = None
        self._settling = False
        #: records that may have moved from another id, with that id's link (``Matching``)
        self._set_aside: list[tuple[Record, LinkRow | None]] = []
        #: links whose id holds another person's record now (``Matching._replaced_links``)
        self._replaced: dict[int, str] = {}
        #: records whose connector kept their person from a deletion, said in this run
        self._said: set[tuple[int, str]] = set()
        #: under ``manual``, contact -> the values a side gave the hub in this run, which a
        #: side pulled later may rival (``merge.rolled_back``); only contacts a merge changed
        self._given: dict[str, Unconfirmed] = {}
        self._started = datetime.fromisoformat(ctx.started)
        self._read_at: datetime
        self._horizon: str
        self._reading()

    def _reading(self) -> None:
        """Take the time now, once for the records about to be merged (a chunk of a pull,
        the twins, records taken up), all read by then: ``_when`` bounds their times by it,
        and a stored time past it + ``CLOCK_SKEW`` + 1 s, beyond any time ``_when`` has given
        (each bounded by its own read), is none (``Side.horizon``). Taken once, at the
        run's start, it bounded an edit made during a long run below its real time (QA)."""
        self._read_at = datetime.now(UTC)
        self._horizon = (self._read_at + CLOCK_SKEW + timedelta(seconds=1)).isoformat()

    def _when(self, record: Record) -> str | None:
        """The record's modification time as ``newest`` weighs it (ISO, UTC), None when it
        says none (a time UTC cannot hold, before year 1, is none), bounded by ``ahead``
        against the time it was read by (``_reading``): a card's REV of 2100, kept as it
        was, was stored as the time its value was set, and that value then beat every later
        edit elsewhere for good."""
        if record.modified is None:
            return None
        stamp = utc(record.modified)
        return ahead(stamp, self._read_at, self._started).isoformat() if stamp is not None else None

    # --- pull ---------------------------------------------------------------------------

    def pull_all(self) -> None:
        """Every connector, in hub order, but those whose edits flow into the hub first: a
        ``from-hub`` connector's records are only matched to hub contacts, never made into
        new ones, so they are matched once every other connector's records are in (pulled
        first, a folder's card of a person the CSV file was about to bring was not matched,
        and the hub then wrote that person into the folder a second time)."""
        for spoke in sorted(self.ctx.spokes, key=lambda s: not s.readable):
            self.pull(spoke)

    def pull(self, spoke: Spoke) -> None:
        ctx = self.ctx
        spoke.active_links = self.store.count_links(spoke.id)
        cursor, spoke.seen_at = self.store.cursor_saved(spoke.id)
        # (the versions go once the connector has them: a folder's scan is done by then,
        # and 50,000 of them are 10 MB the records read next need not share the peak with)
        pull = spoke.connector.pull(cursor, self.store.link_versions(spoke.id))
        self._replaced = {}
        self._matchable = None  # counted when the first unlinked record shows up
        self._unconfirmed = None
        done = 0
        for part in _chunks(iter(pull.records)):
            records: list[Record] = []
            same: list[Unchanged] = []
            for item in part:
                if isinstance(item, RecordError):
                    ctx.report.error(spoke.name, item.record, item.message)
                elif isinstance(item, Unchanged):
                    same.append(item)
                else:
                    records.append(item)
            if same:
                records += self._unchanged(spoke, same)
            self._chunk(spoke, records)
            done += len(part)
            if ctx.progress:
                ctx.progress(f"reading {spoke.name}", done, None)
        spoke.deleted = set(pull.deleted) | set(self._replaced.values())
        self._settle_moves(spoke)
        spoke.complete = pull.complete
        spoke.listed = pull.listed
        spoke.cursor = pull.cursor
        spoke.pulled = True

    def _unchanged(self, spoke: Spoke, items: list[Unchanged]) -> list[Record]:
        """Move the links of records that hold what they held (``Unchanged``) to their new
        versions, and nothing else: what a record not read at all leaves, which is what a
        touched file is. Only links still active at that very version: any other (a record
        filtered out, unlisted or detached, whose read decides something) takes the whole
        record, read again with ``get``, which is returned to be merged as any record."""
        plain = self.store.active_versions(spoke.id, [item.native_id for item in items])
        moves: list[tuple[int, str]] = []
        records: list[Record] = []
        for item in items:
            found = plain.get(item.native_id)
            if found is not None and found[1] == item.was:
                if item.version != item.was:
                    moves.append((found[0], item.version))
                continue
            try:
                records.append(spoke.connector.get(item.native_id))
            except RecordNotFoundError:
                continue  # gone since it was listed: the next pull says so
            except RecordError as exc:
                self.ctx.report.error(spoke.name, exc.record, exc.message)
        self.store.move_versions(moves)
        return records

    def _settle_moves(self, spoke: Spoke) -> None:
        """Place the records set aside by matching, now that the pull has said which ids
        are gone (``Matching._moves``): moved ones merge like any linked record, the others
        are read again as the new records they are."""
        aside, self._set_aside = self._set_aside, []
        if not aside:
            return
        self._moves(spoke, aside)
        self._settling = True
        try:
            records = [record for record, _ in aside]
            for start in range(0, len(records), CHUNK):
                self._chunk(spoke, records[start : start + CHUNK])
        finally:
            self._settling = False

    # --- one chunk of records -------------------------------------------------------------

    def _chunk(self, spoke: Spoke, records: list[Record]) -> None:
        if not records:
            return
        self._reading()
        ctx, store = self.ctx, self.store
        links = store.links_by_native(spoke.id, [r.native_id for r in records])
        contacts = store.contacts(link.contact_id for link in links.values())
        self._replaced_links(records, links, contacts)
        self._taken = set()
        self._keys = {}
        self._uids = {}
        linked_here = self._prefetch(spoke, records, links, contacts)
        new_contacts: list[ContactRow] = []
        changed: dict[str, ContactRow] = {}
        new_links: list[LinkRow] = []
        upd_links: list[LinkRow] = []
        keys: dict[str, list[str]] = {}
        for record in records:
            theirs = project(record.fields, spoke.held)
            link = links.get(record.native_id)
            if link is None:
                self._unlinked(
                    spoke, record, theirs, contacts, new_contacts, changed, new_links, keys, linked_here
                )
                continue
            # a record this connector deactivated for a deleted hub contact, changed since:
            # someone brought it back (reactivated it), which restores the contact
            came_back = (
                link.state == "detached"
                and spoke.on_delete == "deactivate"
                and link.version != record.version
            )
            link.version = record.version
            # read since its mapping changed: the mark has done its work after this read
            remapped, link.remapped = link.remapped, frozenset()
            upd_links.append(link)
            ctx.reverts.pop(link.id, None)  # edited since the run an undo takes back: kept
            ctx.hide_again.discard(link.id)
            contact = contacts.get(link.contact_id)
            if link.state == "excluded" or (link.state == "detached" and not came_back):
                continue
            if contact is None or (came_back and not contact.deleted):
                continue
            if not spoke.record_passes(record.fields, contact.data):
                if link.state == "active":
                    ctx.journal.append(
                        ctx.change_row(spoke, "unlink", contact.id, None, None, "done", record.native_id)
                    )
                    ctx.let_go(spoke)
                if spoke.readable and spoke.passes(contact.data):
                    # the hub's person is in the filter: the record's own edit took it out
                    # (or it is listed again outside it). "left": the plan never writes it
                    # until a read finds it back in. As "filtered", the next edit of the
                    # person anywhere wrote the hub's values over it, the edit that took it
                    # out lost, with no word in the journal (QA). A from-hub connector's
                    # record gets the hub's values back as before, and one the hub's own
                    # values took out (a field the connector cannot hold) stays "filtered":
                    # written again once the person is back in the filter
                    link.state = "left"
                elif link.state in ("active", "unlisted"):
                    link.state = "filtered"
                continue
            link.state = "active"
            if not spoke.readable:
                # from-hub: the target's edits do not flow in; remember what it holds so
                # the plan puts the hub's values back where they drifted
                link.baseline = theirs
                if not fields_equal(held_view(contact.data, spoke.held), theirs):
                    link.synced_rev = 0
                continue
            if contact.deleted:
                if (
                    not came_back
                    and link.baseline is not None
                    and fields_equal(_without(theirs, remapped), link.baseline)
                ):
                    continue  # unchanged record of a deleted contact: the plan deletes it
                contact.deleted = False  # modification beats deletion
                contact.rev += 1
                self._reactivate(contact.id, link.id)
                changed[contact.id] = contact
                keys[contact.id] = match_keys(contact.data)
                ctx.journal.append(ctx.change_row(None, "restore", contact.id, None, contact.data, "done"))
                ctx.report.count("hub", "create")
            self._merge(spoke, record, theirs, link, contact, changed, keys, remapped)
        new_ids = frozenset(c.id for c in new_contacts)
        store.insert_contacts(ctx.hub.id, new_contacts)
        store.update_contacts([c for c in changed.values() if c.id not in new_ids])
        store.set_match_keys(ctx.hub.id, keys, new_ids)
        store.insert_links(new_links)
        store.update_links(upd_links)
        self.ctx.flush_journal()

    def _reactivate(self, contact_id: str, read: int) -> None:
        """A person an edit brought back rejoins the records a deactivation detached in
        the other connectors (a hidden GAL contact, an inactive Procore user), read again
        as an undo's restore rejoins them, and the plan writes each, which reactivates
        it (``LinkRow.reactivate``). Left detached, they were never planned again: the
        person stayed hidden there for good. ``read``: the link of the edited record."""
        found = [i for i in self.store.deactivated_links([contact_id]) if i != read]
        if found:
            self.store.rejoin_links(found)

    def _merge(
        self,
        spoke: Spoke,
        record: Record,
        theirs: dict[str, Any],
        link: LinkRow,
        contact: ContactRow,
        changed: dict[str, ContactRow],
        keys: dict[str, list[str]],
        remapped: frozenset[str] = frozenset(),
    ) -> None:
        """Merge a linked record into its contact. ``remapped``: fields whose place in the
        connector changed since it was last read (``LinkRow.remapped``), merged as
        ``_remapped_base`` says."""
        ctx = self.ctx
        if not remapped and self._as_agreed(spoke, theirs, link, contact):
            return
        # a record without a modification time of its own (a CardDAV card without REV, on a
        # server that gives no getlastmodified; a directory user) changed after the hub last
        # read its connector, not now: taken as now, it won every `newest` conflict against
        # later timed edits. Never read (a new connector, or one just pointed elsewhere), it
        # has no time at all ("", before every time): a value whose time is known wins
        own = self._when(record)
        # (a record read with its fields' places moved is no step back in time, its values
        # in new places are news: ``_remapped_base``)
        dated = own is not None and spoke.connector.capabilities.dated_whole and not remapped
        side = Side(spoke.id, spoke.position, own or spoke.seen_at or "", self._horizon, dated)
        base, mine = link.baseline, theirs
        if not any(contact.data.get(n) for n in NAME_FIELDS):  # the hub has a display name only
            stand_in = held_view(contact.data, spoke.held).get("given_name")
            if stand_in:
                # the display name it holds as the given name (``held_view``) is no given
                # name of the hub's: unchanged, nothing to merge; changed, a rename to take
                # (compared as it is, the hub seemed to have removed it, a conflict the
                # hub's side won); with a family name added there, a given name after all
                base = _without_given(base, stand_in)
                if not any(theirs.get(n) for n in NAME_FIELDS if n != "given_name"):
                    mine = _without_given(theirs, stand_in) or {}  # else a given name now
            # name parts a system split out of the display name it was sent (Pipedrive's
            # "Loading Dock" -> first "Loading", last "Dock") are none of the hub's: a
            # rename there is a new display name, not two name conflicts nobody made. A
            # record first seen was sent nothing: its name parts are its own (a card's
            # N:Doe;Jane, dropped, was then written back empty). So are those that came
            # with a first name for someone the hub had none for (``_first_named``): a
            # plain CSV's "Zed Alpha,Zed,Alpha" typed over an email standing in for a name
            # was dropped to the display name alone, and written back without its parts;
            # nor those typed with a new display name where the record held none (a card's
            # N filled in with a new FN: ``_typed_with_rename``)
            if base is not None and spoke.splits_names():
                first = _first_named(contact.data, base, mine) or _typed_with_rename(base, mine)
                base = _split_dropped(base)
                mine = mine if first else _split_dropped(mine) or {}
        # the hub's display name as the system keeps it (Pipedrive's, made of the parts),
        # unchanged since they agreed: compared as the hub has it
        base, shown_made = _shown_as_held(spoke, base, contact.data, mine)
        base = _addresses_as_held(spoke, base, contact.data, mine)
        base = _remapped_base(base, contact.data, mine, remapped, link.vacated)
        # a display name another record changed in this run, where this one holds none:
        # a rename here is a rival name (else its new part went into that display name)
        shown_by = ctx.shown_by.get(contact.id, spoke.id)
        unheld = spoke.held is not None and "display_name" not in spoke.held and shown_by != spoke.id
        # under ``manual``, no side wins: not a value another side gave the hub earlier in
        # this run (pulled first, it was a's rename that won), nor a field left open
        manual = ctx.hub.conflict == "manual"
        disputed = frozenset(ctx.open_conflicts.get(contact.id, ())) if manual else frozenset()
        given = self._given.get(contact.id) if manual else None
        result = merge(
            base,
            contact.data,
            mine,
            spoke.held,
            contact.sources,
            side,
            ctx.hub.conflict,
            ctx.positions,
            frozenset({"display_name"}) if unheld else frozenset(),
            disputed,
            {k: v for k, v in given.items() if spoke.id not in v[2]} if given else None,
        )
        if result.older:
            spoke.went_back += 1
        if given:
            for k in result.rolled_back:
                given.pop(k, None)  # (its sides' values are open conflicts now)
            _seconded(spoke, base, mine, given, result)
        _parts_follow(spoke, side, contact.data, result, base)
        if shown_made:
            _shown_follows(contact.data, mine, result)
        moved = self._conflicts(spoke, contact, result.conflicts)
        if moved:
            self._together(side, contact, result, moved)
        _rename(spoke, contact.data, result)
        if "display_name" in result.changed:
            ctx.shown_by[contact.id] = spoke.id
        link.baseline = theirs
        if result.changed:
            if _stand_in_named(contact.data, result):
                result.fields["display_name"] = made_name(result.fields)
                result.changed.append("display_name")
                result.sources["display_name"] = [side.connector_id, side.modified]
            before = {k: contact.data.get(k) for k in result.changed}
            if manual:
                self._give(spoke, contact, before, result, disputed)
            named = _named(result.fields)  # (a display name the merge dropped, made again)
            after = {k: named.get(k) for k in result.changed}
            contact.data, contact.sources = named, result.sources
            contact.rev += 1
            changed[contact.id] = contact
            ctx.edited.add(contact.id)
            keys[contact.id] = match_keys(contact.data)
            ctx.journal.append(ctx.change_row(None, "update", contact.id, before, after, "done"))
            opened = ctx.open_conflicts.get(contact.id, {})
            for name in set(result.changed) & set(opened):
                # the side whose value the hub holds edited it again: its open conflicts
                # offer that value now (resolving for it took back its older one, everywhere)
                self.store.update_conflict_hub_value(contact.id, name, spoke.name, contact.data.get(name))
            ctx.report.count("hub", "update")
        self._agreed(spoke, contact, result, changed)
        # agreed when the record holds the hub's view (all of it the system can hold)
        if spoke.holds(held_view(contact.data, spoke.held), theirs):
            link.synced_rev = contact.rev
        else:
            link.synced_rev = min(link.synced_rev, contact.rev - 1)

    def _as_agreed(self, spoke: Spoke, theirs: dict[str, Any], link: LinkRow, contact: ContactRow) -> bool:
        """Whether a record read again holds exactly what it held when it last agreed with
        its contact (``synced_rev``), which has not changed since: a touched file, a folder
        copied back from a backup, an etag a server moved. Nothing to merge then: merging
        every such record made a touched folder of 10,000 cards slower to sync than its
        first copy. Only the plain case: a contact with open conflicts, name parts the hub
        lacks (``_merge``'s stand-ins), or a mapping being moved (the caller checks
        ``remapped``) takes the merge. Whether the record holds the hub's view is still
        asked: what the connector holds may have grown since (a CSV column added back)."""
        if (
            theirs != link.baseline
            or link.synced_rev != contact.rev
            or link.vacated
            or contact.id in self.ctx.open_conflicts
            or not any(contact.data.get(n) for n in NAME_FIELDS)
        ):
            return False
        view = held_view(contact.data, spoke.held)
        if view != theirs and not spoke.holds(view, theirs):  # (equal dicts: the usual case)
            link.synced_rev = contact.rev - 1
        return True

    def _give(
        self,
        spoke: Spoke,
        contact: ContactRow,
        before: dict[str, Any],
        result: MergeResult,
        disputed: frozenset[str],
    ) -> None:
        """Note the single values ``spoke``'s record gives the hub (``_given``), with what
        the hub held before this run, for a side pulled later that rivals one. Not a value
        put back (``rolled_back``), nor one of a field left open, which its hub's side
        moves (``merge._hub_side``); lists merge and never conflict."""
        given = self._given.setdefault(contact.id, {})
        for k in result.changed:
            if k in MULTI_FIELDS or k in disputed or k in result.rolled_back or k in given:
                continue
            source = source_of(contact.sources, k)
            given[k] = (before[k], source[1] if source else "", (spoke.id,))

    def _agreed(
        self, spoke: Spoke, contact: ContactRow, result: MergeResult, changed: dict[str, ContactRow]
    ) -> None:
        """Open conflicts no side disagrees with any more are closed. A side that changed its
        value to the hub's (nothing to merge) gets that value in its own row, as any later
        value of its does (left with its old one, ``resolve --take`` it wrote back what the
        person had just undone); then every open row of the field whose value is the hub's
        (that side came round, or the hub's side took the other's value) is closed. With
        none left open, the contact's rev moves on, so the plan writes the agreed value to
        the sides that kept their own while it was open (a third side, a CSV file)."""
        opened = self.ctx.open_conflicts.get(contact.id)
        if not opened:
            return
        store = self.store
        for name in sorted((set(result.agreed) | set(result.changed)) & set(opened)):
            value = contact.data.get(name)
            if name in result.agreed:
                mine = store.open_conflict_from(contact.id, name, spoke.name)
                if mine is not None:
                    store.update_open_conflict(mine, value, value, self.ctx.run_id)
            rows = store.open_conflict_values(contact.id, name)
            done = [i for i, theirs in rows if field_equal(name, theirs, value)]
            store.close_conflict_ids(done)
            if len(done) == len(rows):
                del opened[name]
                if not opened:
                    del self.ctx.open_conflicts[contact.id]
                contact.rev += 1
                changed[contact.id] = contact

    def _unlinked(
        self,
        spoke: Spoke,
        record: Record,
        theirs: dict[str, Any],
        contacts: dict[str, ContactRow],
        new_contacts: list[ContactRow],
        changed: dict[str, ContactRow],
        new_links: list[LinkRow],
        keys: dict[str, list[str]],
        linked: dict[str, LinkRow],
    ) -> None:
        """A record the hub has no link for: match it to a hub contact or create one."""
        ctx = self.ctx
        if not spoke.passes(record.fields):
            return
        contact = self._match(spoke, record, contacts, new_links, linked)
        if contact is None and self._unconfirmed_copy(spoke, record, new_links, linked):
            return
        if contact is None and (self._moved_from is not None or self._may_have_moved(spoke)):
            self._set_aside.append((record, self._moved_from))  # see ``_settle_moves``
            return
        link = LinkRow(0, spoke.id, "", record.native_id, record.version, None, 0, "active", made=False)
        if contact is not None and record.hub_id and self._by_ref.get(record.hub_id) is contact:
            # found by the hub id it carries: a killed run's copy, or the person's own card
            # (its UID is theirs); only the journal can tell, and only for a killed create
            sent = self.store.unconfirmed_create(contact.id, spoke.id)
            link.made = None if sent is not None else False
            if sent is not None:
                # what that create sent is the common ancestor of an edit made there since:
                # merged with none, an edited title was a conflict with the hub's (lost to
                # a connector before it under ``priority``; under ``manual`` every copy the
                # run wrote was an open conflict, QA)
                link.baseline = _as_sent(spoke, sent)
        if contact is None:
            if not spoke.readable:
                return  # a target's own record the hub never had: not ours to touch
            held_by = self._copy_of(record, linked, new_links)
            if held_by is not None:
                # a second record of one UID here (``Matching._copy_of``): said, not synced
                ctx.report.error(
                    spoke.name,
                    record.where or record.native_id,
                    f"holds the same UID as '{held_by}' (a copy?): not synced; delete one, "
                    "or give it its own UID",
                )
                return
            contact = ContactRow(new_contact_id(), _named(theirs), {}, 1, False, self._new_uid(record))
            at = self._when(record) or ctx.started
            contact.sources = {"*": [spoke.id, at]}
            new_contacts.append(contact)
            contacts[contact.id] = contact
            exact = spoke.held is None or spoke.held >= KEY_FIELDS  # keys of theirs = the record's
            cached = self._keys.get(record.native_id) if exact else None
            keys[contact.id] = cached if cached is not None else match_keys(theirs)
            for key in keys[contact.id]:
                self._index.setdefault(key, []).append(contact.id)
            ctx.journal.append(ctx.change_row(None, "create", contact.id, None, theirs, "done"))
            ctx.report.count("hub", "create")
            ctx.made += 1
            link.contact_id, link.baseline, link.synced_rev = contact.id, theirs, 1
        else:
            link.contact_id = contact.id
            ctx.journal.append(
                ctx.change_row(spoke, "link", contact.id, None, None, "done", record.native_id)
            )
            if spoke.readable:
                self._merge(spoke, record, theirs, link, contact, changed, keys)
            else:
                link.baseline = theirs
        new_links.append(link)
        self._taken.add(link.contact_id)

    def _unconfirmed_copy(
        self, spoke: Spoke, record: Record, new_links: list[LinkRow], linked: dict[str, LinkRow]
    ) -> bool:
        """A record carrying the hub id of a deleted contact whose create here a failed or
        killed run never heard back about, holding what that create sent, is its copy, of a
        person deleted since (an undo of that very run, say): linked to them, so the plan
        deletes it. Taken for a new record, it brought the undone person back everywhere,
        or stayed behind. One that holds anything else was edited since, or is someone's
        own card with that id: it stays where it is, detached, as the record a person was
        read from stays after an undo of their creation (deleted, a person's edit went with
        it; taken for a new person, it came back as a second card where the person was
        read from)."""
        ref = self._by_ref.get(record.hub_id) if record.hub_id else None
        if ref is None or not ref.deleted or ref.id in linked or ref.id in self._taken:
            return False
        sent = self.store.unconfirmed_create(ref.id, spoke.id)
        if sent is None:
            return False
        theirs = project(record.fields, spoke.held)
        state = "active" if spoke.holds(project(sent, spoke.held), theirs) else "detached"
        link = LinkRow(0, spoke.id, ref.id, record.native_id, record.version, None, 0, state, made=None)
        link.baseline = theirs
        new_links.append(link)
        self._taken.add(ref.id)
        return True

    def _conflicts(self, spoke: Spoke, contact: ContactRow, conflicts: list[Any]) -> dict[str, Any]:
        """Record the merge's conflicts; returns the fields whose open conflict of
        ``spoke``'s own took a new value (``_together``), with it."""
        ctx = self.ctx
        rows = []
        moved: dict[str, Any] = {}
        for c in conflicts:
            ctx.report.conflicts += 1
            # (another side's value, put back from the hub: ``merge.rolled_back``)
            source = spoke.name if c.side is None else ctx.spoke_name(c.side)
            existing = ctx.open_conflicts.get(contact.id, {}).get(c.field)
            if existing is not None and c.winner == "open":
                # the side's own open conflict takes its new value; another side's value is
                # a conflict of its own (a third side's was dropped, or written over the
                # second's under the second's name)
                mine = self.store.open_conflict_from(contact.id, c.field, source)
                if mine is not None:
                    self.store.update_open_conflict(mine, c.theirs, c.ours, ctx.run_id)
                    if c.side is None:
                        moved[c.field] = c.theirs
                    continue
            rows.append(
                {
                    "hub_id": ctx.hub.id,
                    "contact_id": contact.id,
                    "run_id": ctx.run_id,
                    "field": c.field,
                    "hub_value": dumps(c.ours),
                    "hub_source": ctx.spoke_name(c.ours_source),
                    "value": dumps(c.theirs),
                    "source": source,
                    "policy": ctx.hub.conflict,
                    "status": "open" if c.winner == "open" else "auto",
                    "winner": None
                    if c.winner == "open"
                    else (spoke.name if c.winner == "incoming" else "hub"),
                    "created_at": now(),
                    "resolved_at": None,
                }
            )
            if c.winner == "open":
                ctx.open_conflicts.setdefault(contact.id, {})[c.field] = -1
        self.store.add_conflicts([row for row in rows if row["status"] == "open"])
        ctx.settled += [row for row in rows if row["status"] != "open"]
        return moved

    def _together(self, side: Side, contact: ContactRow, result: MergeResult, moved: dict[str, Any]) -> None:
        """A side of an open conflict that edited its value to another side's: when every
        side of the field holds that one value now, nobody is left to disagree, and the hub
        takes it (``_agreed`` then closes the rows, and the value reaches the sides that
        kept their own). A name only whole: every part with open conflicts agreed so.
        (Before, the hub held the first side's value, and a side came round to it; now
        the hub holds the value from before the conflict, ``merge.rolled_back``.)"""
        opened = self.ctx.open_conflicts.get(contact.id, {})
        fields = set(moved)
        if fields & NAME_GROUP:
            fields |= set(opened) & NAME_GROUP
        agree = {
            k: k in moved
            and all(field_equal(k, v, moved[k]) for _, v in self.store.open_conflict_values(contact.id, k))
            for k in fields
        }
        if not all(agree[k] for k in fields & NAME_GROUP):
            fields -= NAME_GROUP
        for k in sorted(fields):
            if not agree[k]:
                continue
            if moved[k] in (None, "", []):
                result.fields.pop(k, None)
            else:
                result.fields[k] = moved[k]
            result.sources[k] = [side.connector_id, side.modified]
            if k not in result.changed:
                result.changed.append(k)

    # --- deletions ----------------------------------------------------------------------

    def deletions(self, spoke: Spoke) -> int:
        """Handle records gone from ``spoke``; returns how many hub contacts that deletes."""
        ctx, store = self.ctx, self.store
        if not spoke.deleted:
            return 0
        links = store.links_by_native(spoke.id, sorted(spoke.deleted))
        contacts = store.contacts(link.contact_id for link in links.values())
        drop: list[int] = []
        doomed: list[tuple[str, ContactRow]] = []
        # read whole for the first time since its settings changed: what they leave out
        # (a GAL's users outside a new ``member_of``) is let go, not deleted (held, then
        # approved, those people were deleted in every other connector)
        rescoped = spoke.settings_changed and spoke.complete
        unlisted: list[LinkRow] = []
        for nid, link in links.items():
            contact = contacts.get(link.contact_id)
            if contact is not None and (
                (link.state == "detached" and spoke.on_delete == "deactivate")
                or link.reactivate
                or link.state == "unlisted"
            ):
                # the record this connector deactivated for a deleted contact is no longer
                # listed, being inactive: the link stays, so that a reactivation restores
                # that same contact (dropped, the reactivated record became a new person);
                # so does one still waiting for the write that reactivates it (a failed
                # one: dropped, its person was deleted again, or made a second user), and
                # one let go after a settings change, still left out (dropped, the plan
                # wrote the person into the connector again: a mail contact beside the
                # user, a record its settings leave out, gone next run: a deletion)
                continue
            if (
                rescoped
                and contact is not None
                and not contact.deleted
                and link.state in ("active", "filtered", "left")
            ):
                # kept as "unlisted": never planned (``dirty_links``), never created again
                # (``unlinked_contacts``), active again if its record is listed again
                if link.state == "active":
                    ctx.journal.append(ctx.change_row(spoke, "unlink", contact.id, None, None, "done", nid))
                    ctx.let_go(spoke)
                link.state = "unlisted"
                unlisted.append(link)
                continue
            drop.append(link.id)
            if link.state != "active" or contact is None or contact.deleted:
                continue
            hub_view, baseline = held_view(contact.data, spoke.held), project(link.baseline or {}, spoke.held)
            # edited since this connector last agreed with the hub: the contact's rev moved on
            # (comparing values alone is not enough: a connector may hold a value only in
            # part, as an Outlook file holds no email types, and then it never compares
            # equal) and what the connector holds of it differs (the rev alone is not enough
            # either: a record read that the hub does not hold exactly leaves its link
            # behind). A changed connector setting keeps the rev last agreed, negated
            # (``config._reconsider``): read as rev 0, a record deleted just after it (a user
            # a Procore admin deactivated) whose values the connector holds only in part
            # counted as edited, and was written back (which reactivated the user)
            edited = contact.rev > abs(link.synced_rev) and not fields_equal(hub_view, baseline)
            if not spoke.writable:
                # a to-hub connector never gets the hub's edits, so it never agrees: only an
                # edit seen in this run can be one its deletion did not know of (an older one
                # was there when it was last read, and its deletion is newer)
                edited = edited and contact.id in ctx.edited
            rejected = spoke.id in ctx.options.rejected and (
                ctx.options.rejected_only is None or contact.id in ctx.options.rejected_only
            )
            restore = not spoke.readable or rejected or link.baseline is None or edited
            if restore:
                # modification beats deletion (or a person rejected it): keep the hub
                # contact; without the link the plan creates the record again
                ctx.journal.append(ctx.change_row(spoke, "unlink", contact.id, None, None, "done", nid))
                continue
            doomed.append((nid, contact))
        kept = self._kept(spoke, [contact.id for _, contact in doomed])
        gone: list[ContactRow] = []
        for nid, contact in doomed:
            if contact.id in kept:
                # another connector never deletes its record of the person (a GAL's
                # directory user): the hub keeps them, as modification beats deletion
                # keeps them, and the plan creates the record here again; decided now,
                # before any connector writes (else the others deleted their copies first)
                ctx.journal.append(ctx.change_row(spoke, "unlink", contact.id, None, None, "done", nid))
                continue
            ctx.journal.append(ctx.change_row(None, "delete", contact.id, contact.data, None, "done"))
            ctx.report.count("hub", "delete")
            contact.deleted = True
            contact.rev += 1
            gone.append(contact)
        store.delete_links(drop)
        store.update_links(unlisted)
        store.update_contacts(gone)
        self.ctx.flush_journal()
        spoke.gone = [contact.id for contact in gone]
        return len(gone)

    def _kept(self, spoke: Spoke, contact_ids: list[str]) -> set[str]:
        """Of the contacts ``spoke``'s deletions would delete, those another connector
        keeps: it holds an active record of theirs that a deletion would be sent to and
        that it never deletes (``Connector.undeletable``). Its reason is reported once
        (a ``to-hub`` connector gets no deletions: there the person may go)."""
        keepers = {s.id: s for s in self.ctx.spokes if s is not spoke and s.sends_deletions}
        if not keepers or not contact_ids:
            return set()
        kept: set[str] = set()
        for contact_id, links in self.store.links_of_contacts(contact_ids).items():
            for link in links:
                keeper = keepers.get(link.connector_id)
                if keeper is None or link.state != "active" or not link.native_id:
                    continue
                reason = keeper.connector.undeletable(link.native_id)
                if reason is None:
                    continue
                kept.add(contact_id)
                if (keeper.id, link.native_id) not in self._said:
                    self._said.add((keeper.id, link.native_id))
                    self.ctx.report.error(keeper.name, link.native_id, reason)
                break
        return kept


def _split_dropped(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """``fields`` without name parts that only spell out its display name."""
    if fields is None or not fields.get("display_name") or not any(fields.get(n) for n in NAME_FIELDS):
        return fields
    if made_name({n: fields.get(n) for n in NAME_FIELDS}) != fields["display_name"]:
        return fields
    return {k: v for k, v in fields.items() if k not in NAME_FIELDS}


def _first_named(ours: dict[str, Any], base: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether ``theirs`` gives a name to a contact the hub knows by none (no display name,
    or an email standing in for one: ``model.email_stand_in``), its display name changed
    since ``base``: its name parts came with that name, split by no system from one the
    hub sent (it sent none), so they are a name someone gave, taken whole."""
    shown = theirs.get("display_name")
    if not shown or shown == base.get("display_name") or email_stand_in(theirs):
        return False
    return not ours.get("display_name") or email_stand_in(ours)


def _typed_with_rename(base: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether ``theirs`` renames a record that held its display name unsplit when it last
    agreed (no name parts at all: a card the hub wrote with an empty N) and gives name parts
    with the new name: they were typed with it, not split out of a name the hub sent (a
    system that splits names, Pipedrive, held the old name split too). Dropped as a split,
    the hub took the display name alone and wrote the card back with N emptied: the parts
    its owner had just typed were erased."""
    shown = theirs.get("display_name")
    return (
        bool(shown)
        and bool(base.get("display_name"))
        and shown != base.get("display_name")
        and not any(base.get(n) for n in NAME_FIELDS)
        and any(theirs.get(n) for n in NAME_FIELDS)
    )


def _shown_as_held(
    spoke: Spoke, base: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[dict[str, Any] | None, bool]:
    """The baseline with the hub's display name in it where the record held that name as
    the system keeps it (``Connector.read_back``), which is not the hub's: Pipedrive makes
    a person's name of the first and last name it is sent, so the hub's "Zoë Ł. Müller" is
    "Zoë Müller" there, and was when they last agreed. Compared as it was, the hub seemed
    to have renamed her since, and a first name edited in Pipedrive alone was a name
    conflict whose other side was the hub's unchanged name (open under ``manual``, the
    rename held until resolved). Returns whether the name was so put (``_shown_follows``).
    Asked only when both sides seem to have changed the name (read_back is not free), and
    for the display name alone: a value a system cannot hold at all (a birthday without a
    year, emptied in Pipedrive) was never seen there, and one typed over it stays a
    conflict."""
    k = "display_name"
    if base is None or (spoke.held is not None and k not in spoke.held):
        return base, False
    o, t, b = ours.get(k), theirs.get(k), base.get(k)
    if field_equal(k, o, b) or field_equal(k, t, b) or field_equal(k, o, t):
        return base, False
    view = held_view(ours, spoke.held)
    back = spoke.read_back(view)
    if back is None or back is view or not field_equal(k, back.get(k), b):
        return base, False
    out = dict(base)
    if view.get(k) in (None, ""):
        out.pop(k, None)
    else:
        out[k] = view[k]
    return out, True


def _as_sent(spoke: Spoke, sent: dict[str, Any]) -> dict[str, Any]:
    """A record written with ``sent`` as its system reads it (``Spoke.read_back``; as sent
    where it cannot say), of the fields the connector holds."""
    back = spoke.read_back(sent)
    return project(sent if back is None else back, spoke.held)


def _addresses_as_held(
    spoke: Spoke, base: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any] | None:
    """The baseline with each address the record held as the system keeps one of the hub's
    (``Connector.read_back``: Procore's one address, its country an ISO code) put back as
    the hub has it. Compared as it was ("US" where the hub says "United States"), an
    address edited there removed an address the hub never had, and the hub's stayed beside
    the new one: two addresses in every copy, both sent back (QA). Element by element, so
    the hub's addresses the system never held are not taken as removed there. Asked only
    when both sides seem to have changed them (``_shown_as_held``)."""
    k = "addresses"
    if base is None or (spoke.held is not None and k not in spoke.held):
        return base
    o, t, b = ours.get(k) or [], theirs.get(k) or [], base.get(k) or []
    if not b or field_equal(k, o, b) or field_equal(k, t, b) or field_equal(k, o, t):
        return base
    put: list[Any] = []
    for held in b:
        found = held
        for address in o:
            if field_equal(k, [address], [held]):
                break  # (held as the hub has it)
            back = spoke.read_back({k: [address]})
            if back is None:
                return base  # (a connector that cannot say: compared as it is, as before)
            if field_equal(k, back.get(k) or [], [held]):
                found = address
                break
        put.append(found)
    return base if put == b else {**base, k: put}


def _shown_follows(ours: dict[str, Any], theirs: dict[str, Any], result: MergeResult) -> None:
    """A display name the system makes of the name parts, renamed there with the parts
    (``_shown_as_held``): the change is the parts', and the hub's name, written another
    way ("Zoë Ł. Müller"), takes the changed parts where they stand in it, as ``_rename``
    does for a system that holds no display name ("Zara Ł. Müller", not Pipedrive's "Zara
    Müller": the middle initial stays in every other copy). Where they do not stand in it
    once (a name someone chose, "Boss"), the system's new name is taken as it is."""
    if "display_name" not in result.changed or not set(NAME_FIELDS) & set(result.changed):
        return
    if result.fields.get("display_name") != theirs.get("display_name"):
        return  # (not theirs: the hub's, or another side's rival name won)
    name = _respelled(str(ours.get("display_name") or ""), ours, result.fields)
    if name:
        result.fields["display_name"] = name


def _without(fields: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in names} if names else fields


def _remapped_base(
    base: dict[str, Any] | None,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    remapped: frozenset[str],
    vacated: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The baseline a record is merged against in its first read after fields of it were
    remapped: what the new place holds is no edit of the field (another field's column,
    "Met at expo" in Notes; or a value left there by an older mapping, a stale X-TRADE),
    so where the hub has a value the field counts as unchanged there (its baseline is
    theirs: the hub keeps its value, and the plan writes it there). Where the hub has none,
    the field has no baseline: a first sighting, taken (a column of trades newly mapped).

    Except in a place a field's mapping left (``vacated``: field -> the field that moved
    away), where the hub's value of the field that moved is a leftover: the trade moved
    from Outlook's "User 1" to "User 2" is still in "User 1", no new ``custom.user1`` to
    spread everywhere. It counts as unchanged: the hub keeps none, and the plan empties
    the place. A value of its own there (another than the hub's) is still taken."""
    if base is None or not remapped:
        return base
    out = dict(base)
    for k in remapped:
        if ours.get(k) in (None, "", []) or k not in theirs:
            moved = vacated.get(k) if vacated else None
            if moved is not None and k in theirs and _left_behind(moved, theirs[k], ours):
                out[k] = theirs[k]  # the moved field's value left behind: the hub's none stays
            else:
                out.pop(k, None)  # (none there either: unchanged from nothing, the hub's stays)
        else:
            out[k] = theirs[k]
    return out


def _left_behind(moved: str, value: Any, ours: dict[str, Any]) -> bool:
    """Whether a value read in the place ``moved`` left is the hub's value of ``moved``."""
    return ours.get(moved) not in (None, "", []) and field_equal(moved, value, ours[moved])


def _seconded(
    spoke: Spoke, base: dict[str, Any] | None, mine: dict[str, Any], given: Unconfirmed, result: MergeResult
) -> None:
    """Under ``manual``: ``spoke``'s record changed a field to the value another side gave
    the hub earlier in this run (nothing to merge: ``MergeResult.agreed``; first linked, it
    holds that value), so it is a side of that value too. A side pulled later that rivals
    the value then puts the hub back and opens a conflict for each of them (left out, its
    value had no row, and when the others later agreed on another value its card was
    overwritten though nobody had chosen)."""
    for k, (before, at, sides) in given.items():
        if spoke.id in sides:
            continue
        if k in result.agreed or (
            base is None
            and mine.get(k) not in (None, "", [])
            and field_equal(k, mine.get(k), result.fields.get(k))
        ):
            given[k] = (before, at, (*sides, spoke.id))


def _without_given(fields: dict[str, Any] | None, stand_in: str) -> dict[str, Any] | None:
    if fields is None or fields.get("given_name") != stand_in:
        return fields
    return {k: v for k, v in fields.items() if k != "given_name"}


def _rename(spoke: Spoke, before: dict[str, Any], result: MergeResult) -> None:
    """A display name made from the name parts follows them when a connector without one
    (an Outlook file) renames someone: else every card went on showing the old name. So
    does a company's own contact's, shown by its organization, when that is renamed."""
    if spoke.held is None or "display_name" in spoke.held or "display_name" in result.changed:
        return  # (changed: decided by the merge with the rest of the name, ``merge._one_name``)
    if NAME_GROUP & set(result.rolled_back):
        return  # (the name went back to the hub's before this run: no rename to follow)
    company, renamed = before.get("organization"), result.fields.get("organization")
    if (
        "organization" in result.changed
        and company
        and renamed
        and before.get("display_name") == company
        and not any(before.get(n) for n in NAME_FIELDS)
    ):
        # a company's own contact, renamed where it holds no display name (a Procore vendor):
        # the name it is shown by follows (the card kept the old one beside the new ORG)
        result.fields["display_name"] = renamed
        result.changed.append("display_name")
    if not set(NAME_FIELDS) & set(result.changed):
        return
    shown = before.get("display_name") or ""
    if not any(before.get(n) for n in NAME_FIELDS):  # shown there as its given name, or not
        before = {**before, "given_name": held_view(before, spoke.held).get("given_name")}
    if shown == made_name(before):
        name = made_name(result.fields)
    else:  # written another way ("Berg, Anna", "Mr. John Doe Sr."): the changed parts in it
        name = _respelled(shown, before, result.fields) or ""
    if name and name != result.fields.get("display_name"):
        result.fields["display_name"] = name
        result.changed.append("display_name")


def _parts_follow(
    spoke: Spoke, side: Side, before: dict[str, Any], result: MergeResult, base: dict[str, Any] | None
) -> None:
    """Name parts that spelled the display name follow it when a connector holding a
    display name but no parts (a plain CSV) renames someone: else the card showed "Ann
    Lee-Smith" over N:Lee;Ann. Parts still standing in their place in the new name are
    kept and the one changed part takes the rest (``model.split_renamed``); with no such one
    split, the parts are cleared (a name nobody typed is worse than none). A conflict the
    rename won gets companions for the parts, so the name is decided whole there too. The
    rival it won against (a card's new FN, its N left as it was, read earlier in the run)
    is a display name the parts no longer spell: they are split from the name this record
    renamed (``base``'s), else with the card listed first the parts stayed the old name's
    under the winning one (N:Lee;Ann under "Anna Lee"), and with it listed last they
    followed (QA)."""
    held = spoke.held
    if held is None or "display_name" not in held or set(NAME_FIELDS) & held:
        return
    if "display_name" not in result.changed or NAME_GROUP & set(result.rolled_back):
        return  # (put back to the hub's name before this run: no rename, ``merge.rolled_back``)
    rival = next((c for c in result.conflicts if c.field == "display_name"), None)
    renamed = base.get("display_name") if base else None
    if rival is not None and rival.winner == "incoming" and renamed:
        before = {**before, "display_name": renamed}
    moved = parts_renamed(before, str(result.fields.get("display_name") or ""))
    for n, (old, new) in moved.items():
        if new:
            result.fields[n] = new
        else:
            result.fields.pop(n, None)
        result.sources[n] = [side.connector_id, side.modified]
        if n not in result.changed:
            result.changed.append(n)
        if rival is not None:
            result.conflicts.append(Conflict(n, old, new, rival.ours_source, rival.winner))


def _respelled(shown: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """``shown`` with each changed name part replaced where it stands in it as a word, once;
    None when a part was added or removed, or does not stand in it once: a name someone
    chose ("Boss") is kept."""
    for part in NAME_FIELDS:
        old, new = str(before.get(part) or ""), str(after.get(part) or "")
        if old == new:
            continue
        if not old or not new:
            return None
        word = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)")
        if len(word.findall(shown)) != 1:
            return None
        shown = word.sub(new.replace("\\", "\\\\"), shown)  # (a backslash is special there)
    return shown


def _named(fields: dict[str, Any]) -> dict[str, Any]:
    """Every hub contact has a name to show, even when its source has no such field."""
    if not fields.get("display_name"):
        name = display_name_of(fields)
        if name:
            return {**fields, "display_name": name}
    return dict(fields)


def _stand_in_named(ours: dict[str, Any], result: MergeResult) -> bool:
    """Whether the merge gave name parts to someone the hub showed by an email standing in
    for a name (``model.email_stand_in``) and left that email as the name: the parts filled
    in, the display name not touched. The name to show is then made from the parts (the
    hub kept the address, and a card's FN stayed it). An email typed as the name of
    someone who has one is no stand-in, and stays."""
    return (
        email_stand_in(ours)
        and "display_name" not in result.changed
        and result.fields.get("display_name") == ours.get("display_name")
        and any(result.fields.get(n) for n in NAME_FIELDS)
    )
