"""People a run made twice: which new hub contacts are another contact of the hub.

Matching takes a record's keys one record at a time, in hub order. The same person can
then become two contacts in one run: a phone's card with only their email, a CRM's entry
with only their phone and name (neither matches the other), and an export with both, read
last, links to the first and makes it share a key with the second. Nothing written yet
holds the second one, so it is folded into the first once every connector is read
(``Twins.join_twins``, a mixin of ``Inbound``) instead of being copied everywhere as a
duplicate for good.

Only a contact made in this run is folded, into the older of the pair: a contact of an
earlier run has copies in other connectors, and joining two such is a person's decision.
Never when one connector holds a record of each: that is two people there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from contacthub.connectors.base import Record
from contacthub.engine.context import RunContext, Spoke
from contacthub.store.repo import ContactRow, LinkRow, Store


def order(created: set[str]) -> Callable[[str], tuple[bool, str]]:
    """Oldest first: contacts of earlier runs, then those of this run as they were made
    (ids sort by time of making)."""
    return lambda cid: (cid in created, cid)


def twins(groups: Iterable[list[str]], created: set[str]) -> list[tuple[str, str]]:
    """Pairs of contacts that share a match key directly, at least one made in this run,
    the older first, from groups of contacts holding one key each. Only direct pairs: two
    people who each share a key with a third (a household's email, the second one's
    phone) are no pair, and folding along a chain joined them."""
    oldest = order(created)
    out: set[tuple[str, str]] = set()
    for group in groups:
        members = sorted(set(group), key=oldest)
        keep = members[0]
        out.update((keep, cid) for cid in members[1:] if cid in created)
    return sorted(out, key=lambda pair: (oldest(pair[0]), oldest(pair[1])))


class MergesRecords:
    """A part of ``Inbound`` run once every connector is read (``Twins``,
    ``leftovers.LeftBehind``): what it uses of the run, and ``Inbound._merge``, its merge
    of a record into a contact."""

    ctx: RunContext
    store: Store

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
        raise NotImplementedError  # ``Inbound``'s

    def _reading(self) -> None:
        """Take the time the records about to be merged were read by (``Inbound``'s)."""
        raise NotImplementedError


class Twins(MergesRecords):
    """The twins half of ``Inbound``, run once every connector is read."""

    def join_twins(self) -> None:
        """Fold each contact this run made into an older contact it turns out to share a
        match key with (``twins``): its records merge into that one as records seen
        for the first time do, unless one connector holds records of both. A pair is
        checked as it stands after the folds before it (a contact folded already stands
        for the one it went into)."""
        ctx, store = self.ctx, self.store
        if not ctx.made or not ctx.edited:
            # twins arise when a merge gives a contact keys another one has (otherwise the
            # record had matched it, or both are records of one connector)
            return
        groups = store.sharing_keys(ctx.hub.id, ctx.edited)
        created = store.made_in_run(ctx.run_id, {cid for group in groups for cid in group})
        pairs = twins(groups, created)
        if not pairs:
            return
        contacts = store.contacts({cid for pair in pairs for cid in pair})
        found = store.links_of_contacts(contacts)
        links = {cid: found.get(cid, []) for cid in contacts}
        spokes = {s.id: s for s in ctx.spokes}
        oldest = order(created)
        self._reading()
        into: dict[str, str] = {}  # folded -> the contact it went into
        changed: dict[str, ContactRow] = {}
        keys: dict[str, list[str]] = {}
        moved: list[LinkRow] = []
        for a, b in pairs:
            while a in into:
                a = into[a]
            while b in into:
                b = into[b]
            keep_id, fold_id = sorted((a, b), key=oldest)
            keep, fold = contacts.get(keep_id), contacts.get(fold_id)
            if keep is None or fold is None or keep.deleted or fold.deleted or keep is fold:
                continue
            if fold_id not in created:
                continue
            if {lk.connector_id for lk in links[keep_id]} & {lk.connector_id for lk in links[fold_id]}:
                continue
            ctx.flush_settled()  # (the fold's own go with it)
            ctx.report.conflicts -= store.fold_contact(ctx.run_id, fold_id, keep_id)
            ctx.open_conflicts.pop(fold_id, None)
            ctx.report.count("hub", "create", -1)
            into[fold_id] = keep_id
            made_by = (fold.sources.get("*") or [None])[0]  # its other links are journalled
            for link in links.pop(fold_id):
                spoke, theirs = spokes[link.connector_id], link.baseline or {}
                link.contact_id, link.baseline = keep.id, None
                if link.connector_id == made_by:
                    ctx.journal.append(
                        ctx.change_row(spoke, "link", keep.id, None, None, "done", link.native_id)
                    )
                if spoke.readable and link.state == "active":
                    record = Record(link.native_id or "", link.version or "", theirs)
                    self._merge(spoke, record, theirs, link, keep, changed, keys)
                link.baseline = theirs
                links[keep_id].append(link)
                moved.append(link)
        store.update_contacts(list(changed.values()))
        store.set_match_keys(ctx.hub.id, keys)
        store.update_links(moved)
        ctx.flush_journal()
