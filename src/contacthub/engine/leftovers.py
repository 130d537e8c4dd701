"""Records left behind for deleted people, taken up by the person added again.

A connector keeps its record of a deleted hub contact where it may not delete it
(``on_delete = "ignore"``, no ``delete`` operation, a deletion a person rejected or the
system refused): the link is ``detached`` and the record stays as it is. When the person
is added again later (a new card with the same email), the new hub contact has no record
in that connector, and the plan created a second one next to the one left behind: two
cards for one person in one folder, two rows in one file, for good, with nothing said.

So, once every connector is read (``LeftBehind.take_up_left_behind``, a mixin of
``Inbound``), a left-behind record that the new person matches by the hub's match keys
(``model.match_keys``, strong keys only, looked up as an unlinked record looks up a
contact) is linked to them instead: the link moves to the new contact, active, the record
is read (``Connector.get``) and merged like any linked record, with its baseline (what it
held when last agreed) as common ancestor, and the plan writes the hub's values into it;
no create is made. The baseline is what makes the hub's values win over the record's old
ones: those are not edits, the new person's values came later; an edit made to the record
while it was left behind is one, and the conflict policy decides it as any other.

The candidates come from the keys the deleted contact had (a deleted contact keeps them),
paired by the baseline's keys, and checked again on the record as read. Only where the plan
would create the person (a writable connector that may create, the person in its filter),
only for a connector that keeps such records (one cheap query a run), then one page of
unlinked contacts and one lookup per page. Each record is taken by one person, each
person takes one record: a second person matching it is created as before.

A record ``on_delete = "deactivate"`` deactivated (a hidden GAL contact:
``Store.deactivated_links``) is taken up the same way, and marked to be written though
it agrees (``LinkRow.reactivate``, as a restored person's is): that write is what shows
it again. Left to its own person, who is not coming back (the person added again is a new
hub contact), the plan created a second record beside the hidden one, which a system that
keeps an address unique refuses (Exchange: "the proxy address is already being used"), on
every run, while the person stayed hidden. Unchanged since the deactivation (its version),
it is merged as its baseline: an inactive mark the connector reads is no edit. It is read
with ``Connector.get_deactivated``: a Procore user or vendor deactivated is "not found" to
``get`` (no one to sync with), and the person's create that followed was refused for a
user (the email is the inactive user's) or made a second vendor beside the inactive one.
"""

from __future__ import annotations

from typing import Any

from contacthub.engine.context import Spoke
from contacthub.engine.outbound import plan_missing, unlinked_pages
from contacthub.engine.twins import MergesRecords
from contacthub.errors import RecordError
from contacthub.model import (
    PHONE_NAME,
    PHONE_NAME_PLAIN,
    fields_equal,
    held_view,
    lookup_keys,
    match_keys,
    project,
    strong_keys,
)
from contacthub.store.repo import ContactRow, LinkRow


def asked_keys(keys: list[str]) -> list[str]:
    """The stored keys a record may hold to find a contact with these ``keys`` (the inverse
    of ``lookup_keys``, taken wide: a phone and name key with and without its accents); the
    pairing checks exactly (``finds``)."""
    out: list[str] = []
    for key in keys:
        out.append(key)
        if key.startswith(PHONE_NAME_PLAIN):
            out.append(PHONE_NAME + key[len(PHONE_NAME_PLAIN) :])
        elif key.startswith(PHONE_NAME):
            out.append(PHONE_NAME_PLAIN + key[len(PHONE_NAME) :])
    return out


def finds(record: dict[str, Any], keys: list[str]) -> str | None:
    """The first key by which a record holding ``record`` finds a contact whose match keys
    are ``keys``, as an unlinked record finds one (``Matching``): strong keys only."""
    wanted = set(keys)
    for key in lookup_keys(strong_keys(match_keys(record))):
        if key in wanted:
            return key
    return None


def pair(
    contacts: list[tuple[ContactRow, list[str]]], found: dict[int, LinkRow], taken: set[int]
) -> list[tuple[ContactRow, LinkRow]]:
    """Each contact (with its keys, strongest first) with the first record not yet taken
    that it matches, by its strongest key; one record per contact, one contact per record."""
    out: list[tuple[ContactRow, LinkRow]] = []
    for contact, keys in contacts:
        best: tuple[int, int] | None = None  # (rank of the key, link id)
        for link in found.values():
            if link.id in taken:
                continue
            key = finds(link.baseline or {}, keys)
            if key is not None and (best is None or (keys.index(key), link.id) < best):
                best = (keys.index(key), link.id)
        if best is not None:
            taken.add(best[1])
            out.append((contact, found[best[1]]))
    return out


class LeftBehind(MergesRecords):
    """The left-behind half of ``Inbound``."""

    def take_up_left_behind(self) -> None:
        """Link the records left behind for deleted people to the people added again that
        they match, in every connector the plan would otherwise create them in."""
        ctx = self.ctx
        for spoke in ctx.spokes:
            if (
                spoke.writable
                and "create" in spoke.operations
                and spoke.connector.capabilities.create
                and self.store.has_left_behind(ctx.hub.id, spoke.id)
                and not self._in_step(spoke)
            ):
                self._take_up(spoke)

    def _in_step(self, spoke: Spoke) -> bool:
        """Whether the plan would find nothing to do in ``spoke`` (its plan mark, as the run
        asks it later): then it creates no one, and nothing is to be taken up. Spares a
        no-op run the walk over the hub's contacts in a connector that keeps records."""
        stored = self.store.stored_plan_mark(spoke.id)
        return stored is not None and stored == self.store.plan_mark(self.ctx.hub.id, spoke.id)

    def _take_up(self, spoke: Spoke) -> None:
        ctx, store = self.ctx, self.store
        taken: set[int] = set()
        for page in unlinked_pages(ctx, spoke):
            # the contacts the plan would create here, with their keys
            wanted = [(c, match_keys(c.data)) for c in page if plan_missing(spoke, c).op is not None]
            wanted = [(c, keys) for c, keys in wanted if strong_keys(keys)]
            if not wanted:
                continue
            asked = [k for _, keys in wanted for k in asked_keys(strong_keys(keys))]
            found = store.left_behind(ctx.hub.id, spoke.id, asked)
            if not found:
                continue
            deactivated = set(store.deactivated_links(sorted({lk.contact_id for lk in found.values()})))
            pairs = pair(wanted, found, taken)
            if pairs:
                self._link(spoke, pairs, deactivated)

    def _link(self, spoke: Spoke, pairs: list[tuple[ContactRow, LinkRow]], deactivated: set[int]) -> None:
        """Move each pair's link to its contact, read its record and merge it; a record
        contacthub deactivated (a link id in ``deactivated``) is to be written, which
        reactivates it."""
        ctx, store = self.ctx, self.store
        changed: dict[str, ContactRow] = {}
        keys: dict[str, list[str]] = {}
        moved: list[LinkRow] = []
        for contact, link in pairs:
            read = spoke.connector.get_deactivated if link.id in deactivated else spoke.connector.get
            try:
                record = read(link.native_id or "")
            except RecordError:
                continue  # gone, or unreadable: the person is created as before
            self._reading()  # (one read each, rare: its time is weighed against this one)
            theirs = project(record.fields, spoke.held)
            if finds(theirs, match_keys(contact.data)) is None:
                continue  # edited into someone else since it was left behind
            if not spoke.record_passes(record.fields, contact.data):
                continue
            if link.id in deactivated and record.version == link.version and link.baseline is not None:
                # unchanged since contacthub deactivated it: what the deactivation itself
                # changed (an inactive mark the connector reads) is no edit to merge
                theirs = dict(link.baseline)
            link.contact_id, link.state, link.version = contact.id, "active", record.version
            link.made, link.synced_rev = False, 0
            link.reactivate = link.id in deactivated
            remapped, link.remapped = link.remapped, frozenset()
            ctx.journal.append(
                ctx.change_row(spoke, "link", contact.id, None, None, "done", record.native_id)
            )
            ctx.report.taken_up[spoke.name] = ctx.report.taken_up.get(spoke.name, 0) + 1
            if spoke.readable:
                self._merge(spoke, record, theirs, link, contact, changed, keys, remapped)
            else:
                # from-hub: its edits do not flow in; the plan puts the hub's values there
                link.baseline = theirs
                if fields_equal(held_view(contact.data, spoke.held), theirs):
                    link.synced_rev = contact.rev
            if link.reactivate:
                link.synced_rev = 0  # behind its contact: the plan writes it, agreeing or not
            moved.append(link)
        if not moved:
            return
        # an 'excluded' marker behind its contact (the create the plan would now make) goes
        markers = store.links_by_contact(spoke.id, [lk.contact_id for lk in moved])
        store.delete_links([m.id for m in markers.values() if m.state == "excluded"])
        store.take_up([(lk.id, lk.contact_id) for lk in moved], [lk.id for lk in moved if lk.reactivate])
        store.update_contacts(list(changed.values()))
        store.set_match_keys(ctx.hub.id, keys)
        store.update_links(moved)
        ctx.flush_journal()
