"""Matching a record the hub has no link for to the hub contact it is, if any.

Apart from ``inbound`` because it is a job of its own with its own state: per chunk, the
hub contacts an unlinked record could be (by the hub id or UID it carries, by its match
keys) are loaded in a few bulk queries, so that matching a record costs no query; and a
contact already linked in the pulled connector is never matched twice. A mixin of
``Inbound``, whose per-record code calls these methods directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

from contacthub.connectors.base import Record
from contacthub.engine.context import RunContext, Spoke
from contacthub.model import (
    NAME_GROUP,
    element_key,
    field_equal,
    held_view,
    lookup_keys,
    match_keys,
    name_key,
    project,
    strong_keys,
)
from contacthub.store.repo import ContactRow, LinkRow, Store

#: the fields ``match_keys`` reads: a record's keys are its projection's when a connector
#: holds them all, so the keys found for matching serve for the new contact too
KEY_FIELDS = frozenset({"emails", "phones", "given_name", "family_name", "display_name"})


class Matching:
    """The matching half of ``Inbound``; its state is set up by ``Inbound.__init__``.

    A record can also be one this connector already has under another id: a card file
    renamed, a CSV row whose derived id (its email, else its name) was edited. Its contact
    is linked here to the old id, so it is no match; ``_match`` then notes that link in
    ``_moved_from``, and ``Inbound`` sets the record aside until the pull has ended, as it
    does (up to ``SET_ASIDE``) with any record that matched nothing while this connector has
    links. Then (``_moves``) a record whose noted id is gone is that record, moved; and one
    that matched nothing is the record of a gone id whose baseline it resembles most, and
    enough: an email or phone and one more value in common, a name at most a typo away
    or only adding words, each the other's best; or, without an email or phone, the only
    record left that matched nothing and the only id left gone, one edit apart and a name
    only adding words, if any (``_sole_pair``). Without this, the rename was a deletion plus a new person, and
    the deletion reached every other connector (with what the hub does not model in its
    copy there, a photo say)."""

    ctx: RunContext
    store: Store
    _moved_from: LinkRow | None  # set by ``_match``: the link this record may have moved from
    _settling: bool  # records set aside are being placed: no more setting aside
    _set_aside: list[tuple[Record, LinkRow | None]]
    _taken: set[str]  # hub contacts linked to a record of the current chunk
    _keys: dict[str, list[str]]  # native id -> match keys, for the current chunk
    _by_ref: dict[str, ContactRow]  # contacts by the ids records of the chunk carry
    _uids: dict[str, str]  # uid given to a new contact in this chunk -> its record's native id
    _first: dict[str, str]  # uid several unlinked records of the chunk carry -> the first's id
    _index: dict[str, list[str]]  # match key -> live contacts, for the chunk's records
    _matchable: int | None  # live contacts the pulled connector has no record of
    _unconfirmed: bool | None  # the pulled connector has creates no run heard back about
    _replaced: dict[int, str]  # link id -> the placeholder id of a link whose record is another's

    def _may_have_moved(self, spoke: Spoke) -> bool:
        """Whether a record that matched nothing is set aside, to be compared with the
        records gone from this connector when the pull ends."""
        return spoke.active_links > 0 and not self._settling and len(self._set_aside) < SET_ASIDE

    def _moves(self, spoke: Spoke, aside: list[tuple[Record, LinkRow | None]]) -> None:
        """Re-link the records set aside that are records gone from ``spoke`` under another
        id (see the class docstring), and take their old ids out of its deletions."""
        moved: list[tuple[Record, LinkRow]] = []
        loose: list[Record] = []
        for record, link in aside:
            if link is not None and link.id in self._replaced:  # (read before it was replaced)
                link.native_id = self._replaced[link.id]
            if link is not None and link.native_id is not None and link.native_id in spoke.deleted:
                spoke.deleted.discard(link.native_id)  # claimed: a second record of it is new
                moved.append((record, link))
            else:
                loose.append(record)
        if loose and spoke.deleted:
            gone = [
                link
                for link in self.store.links_by_native(spoke.id, sorted(spoke.deleted)).values()
                if link.state == "active" and link.baseline
            ]
            for record, link in _pairs(loose, gone, spoke.held):
                spoke.deleted.discard(link.native_id or "")
                moved.append((record, link))
            for record, link in _sole_pair(aside, gone, spoke, moved):
                spoke.deleted.discard(link.native_id or "")
                moved.append((record, link))
        for record, link in moved:
            link.native_id = record.native_id
            self.ctx.journal.append(
                self.ctx.change_row(spoke, "link", link.contact_id, None, None, "done", record.native_id)
            )
        self.store.update_links([link for _, link in moved])

    def _replaced_links(
        self, records: list[Record], links: dict[str, LinkRow], contacts: dict[str, ContactRow]
    ) -> None:
        """Unlink the ids of ``records`` that now hold another person's record: one whose
        hub id (a vCard UID) is another live hub contact's, or a new one while the UID of
        the contact linked there is carried by another record of the chunk. An exporter
        naming files by position writes ``1.vcf`` again with the second person once the
        first is gone (or with a new first person, the others one file on), and two cards
        swap names; read as edits, every identity shifted one place (the first person
        renamed the second everywhere, the last one deleted; a new first person took the
        old first one's card, X- properties and all, in every other folder).

        The link moves to a placeholder id (``_GONE``: the unique index on native ids
        stays whole) that the pull reports gone (``_settle_moves``), so its contact is
        deleted as any record gone from here (or kept, if edited since); the record, taken
        out of ``links``, is matched as a new one: by its UID to the contact it is, whose
        own link here, when its id is gone or replaced too, moves to it (``_moves``). A
        UID merely changed in place, to one no other contact or record has, is still an
        edit; a record without one is not looked at."""
        changed = [
            r
            for r in records
            if r.hub_id
            and (link := links.get(r.native_id)) is not None
            and link.state == "active"
            and (mine := contacts.get(link.contact_id)) is not None
            and r.hub_id not in (mine.uid, mine.id)
            and not _uid_kept(link, mine)
        ]
        if not changed:
            return
        carried = {r.hub_id for r in records if r.hub_id}
        owners = self.store.contacts_by_ref(self.ctx.hub.id, {r.hub_id for r in changed if r.hub_id})
        moved: list[LinkRow] = []
        for record in changed:
            link = links[record.native_id]
            owner = owners.get(record.hub_id or "")
            if owner is not None and (owner.deleted or owner.id == link.contact_id):
                continue
            if owner is None and contacts[link.contact_id].ref not in carried:
                continue  # a UID changed in place: an edit
            del links[record.native_id]
            link.native_id = f"{_GONE}{link.id}"
            self._replaced[link.id] = link.native_id
            moved.append(link)
        self.store.update_links(moved)

    def _new_uid(self, record: Record) -> str | None:
        """A new hub contact keeps the id its record carries (a vCard UID), so the copies
        written elsewhere carry it too; not when another contact of the hub has it."""
        uid = record.hub_id
        if not uid or len(uid) > 255 or uid in self._by_ref or uid in self._uids:
            return None
        self._uids[uid] = record.native_id
        return uid

    def _copy_of(self, record: Record, linked: Mapping[str, LinkRow], new_links: list[LinkRow]) -> str | None:
        """The native id of another record of this connector that is the person whose UID
        ``record`` carries, when ``record`` is about to be made a new person: ``record`` is
        then a second record of that UID (a file manager's copy, ``ann (1).vcf``), not
        synced. The person's record is the one linked to the contact holding the UID (its
        id here), else, of records new in this chunk, the one of the shortest native id.

        Made a person of its own (under a hub-made UID: the hub keeps a UID unique), the copy
        was one more Ann everywhere, and its UID, another contact's, later read its edit
        as another person's record at its id (``_replaced_links``): deleted and made again
        everywhere. Asked only where a new person would be made, after a move had its
        chance (``_moves``): a copy kept while the original is deleted is that card renamed."""
        uid = record.hub_id
        if not uid:
            return None
        first = self._first.get(uid)
        if first is not None and first != record.native_id:
            return first
        made = self._uids.get(uid)
        if made is not None:
            return made
        owner = self._by_ref.get(uid)
        if owner is None or owner.deleted:
            return None
        here = linked.get(owner.id)
        # (not a record a deactivation detached, nor an 'excluded' marker: no record here)
        if (
            here is not None
            and here.state in ("active", "filtered", "left", "unlisted")
            and here.native_id
            and not here.native_id.startswith(_GONE)
        ):
            return here.native_id
        if owner.id in self._taken:
            return next(
                (link.native_id for link in new_links if link.contact_id == owner.id and link.native_id), None
            )
        return None

    def _prefetch(
        self, spoke: Spoke, records: list[Record], links: dict[str, LinkRow], contacts: dict[str, ContactRow]
    ) -> dict[str, LinkRow]:
        """Load, in a few queries for the whole chunk, every hub contact an unlinked record
        could match (by the id it carries, by match keys) and that contact's link here, so
        matching costs no query per record."""
        unlinked = [r for r in records if r.native_id not in links]
        self._by_ref, self._index, self._first = {}, {}, {}
        if not unlinked:
            return {}
        refs = {r.hub_id for r in unlinked if r.hub_id}
        if refs and len(refs) < sum(1 for r in unlinked if r.hub_id):
            # records claiming one UID (a card and its copy): the shortest id is its person's
            # when none is linked yet (``_copy_of``), whatever order they were read in: a
            # file manager names a copy longer ("ann (1).vcf", "ann copy.vcf"), and by id
            # alone "ann (1).vcf" came first (a space sorts before a dot), the original
            # named the copy and the copy's details synced
            for r in sorted((r for r in unlinked if r.hub_id), key=lambda r: (len(r.native_id), r.native_id)):
                self._first.setdefault(r.hub_id or "", r.native_id)
        for record in unlinked:
            self._keys[record.native_id] = match_keys(record.fields)
        if self._matchable is None:
            # records of a connector only match contacts it has no record of; contacts made
            # during this pull all have one, so one count per pull tells whether any can
            # match at all (not on a first import into an empty hub, say)
            self._matchable = self.store.count_matchable(self.ctx.hub.id, spoke.id)
        # a record may also have moved here from another id (see the class docstring)
        lookup = bool(self._matchable) or (spoke.active_links > 0 and not self._settling)
        # only the keys this chunk asks for: a few new records never load the whole hub
        keys = {k for r in unlinked for k in lookup_keys(self._keys[r.native_id])} if lookup else set()
        index = self._index = self.store.match_lookup(self.ctx.hub.id, keys) if lookup else {}
        wanted = {cid for k in keys for cid in index.get(k, ())}
        # by uid always (a uid stays unique in the hub); by our id only when a match is possible
        if refs and not lookup and self._unconfirmed is None:
            # a failed or killed run's unconfirmed creates here: their copies carry our ids
            # (``Inbound._unconfirmed_copy``); one query per pull tells
            self._unconfirmed = self.store.has_unconfirmed_creates(spoke.id)
        by_id = lookup or bool(self._unconfirmed)
        self._by_ref = self.store.contacts_by_ref(self.ctx.hub.id, refs, by_id) if refs else {}
        for contact in self._by_ref.values():
            contacts.setdefault(contact.id, contact)
            wanted.add(contact.id)
        missing = wanted - contacts.keys()
        if missing:
            contacts.update(self.store.contacts(missing))
        if not wanted:
            return {}
        return self.store.links_by_contact(spoke.id, wanted)

    def _match(
        self,
        spoke: Spoke,
        record: Record,
        contacts: dict[str, ContactRow],
        new_links: list[LinkRow],
        linked: dict[str, LinkRow],
    ) -> ContactRow | None:
        """The hub contact this record is, if any: by the hub id it carries, then by match
        keys. A contact that already has a record in this connector is not matched again;
        the first such record's link is left in ``_moved_from``. A key lists every contact
        that has it: two cards of one person in one folder are two people sharing every
        key, and once the folder's links were gone (pointed away and back) the second card,
        finding only the contact the first took, was made a third person."""
        self._moved_from = None
        candidates: list[str] = []
        by_ref = self._by_ref.get(record.hub_id) if record.hub_id else None
        if by_ref is not None:
            candidates.append(by_ref.id)
        index = self._index
        record_keys = self._keys.get(record.native_id)
        if record_keys is None:
            record_keys = match_keys(record.fields)
        candidates += [cid for k in lookup_keys(record_keys) for cid in index.get(k, ())]
        if not candidates:
            return None
        # found by a name alone (no email, no phone on either side): the same person only
        # when the record holds exactly what the hub would write there, and something
        # besides the name (a list of names alone held "exactly" the plumber's name: the
        # colleague's row took him, and its removal deleted him everywhere)
        weak = bool(record_keys) and not strong_keys(record_keys)
        theirs = project(record.fields, spoke.held) if weak else {}
        if weak and not any(v not in (None, "", [], {}) for k, v in theirs.items() if k not in NAME_GROUP):
            candidates = [by_ref.id] if by_ref is not None else []
        taken = self._taken
        free: list[ContactRow] = []
        for cid in dict.fromkeys(candidates):
            contact = contacts.get(cid)
            if contact is None or contact.deleted or cid in taken:
                continue
            if (
                weak
                and cid != getattr(by_ref, "id", None)
                and not spoke.holds(held_view(contact.data, spoke.held), theirs)
            ):
                continue
            if cid in linked and linked[cid].state != "excluded":
                here = linked[cid]
                if self._moved_from is None and here.state == "active" and not self._settling:
                    self._moved_from = here
                continue
            free.append(contact)
        if not free:
            return None
        chosen = free[0]
        if len(free) > 1 and (by_ref is None or chosen.id != by_ref.id):
            # several people share the keys (two cards of one person in one folder): the
            # one most alike, so that each card finds its own again; by the order of
            # their ids, the two swapped half the time (ids made in one millisecond)
            chosen = max(free, key=lambda c: _closeness(record.fields, c.data))
        if chosen.id in linked:  # an 'excluded' marker: the record is here after all
            self.store.delete_links([linked.pop(chosen.id).id])
        return chosen


def _uid_kept(link: LinkRow, contact: ContactRow) -> bool:
    """Whether the record at ``link`` carries, as far as the hub can tell, the UID it
    carried when it was last read, though that UID is not its contact's: the contact has
    no UID of its own and was found here, not written by the hub (``made``). Such a contact
    was made from a record whose UID another contact had already (a copy of a card read
    before copies were refused, ``_copy_of``) or could not keep (over 255 characters):
    the record carries that UID still, and an edit of it is an edit of its own person, not
    another person's record at its id (``_replaced_links``: read so, its edit deleted
    that person everywhere and made a third). The link keeps no UID of its own; a record
    the hub wrote carries the contact's id, and a UID changed there still counts."""
    return contact.uid is None and link.made is False


def _closeness(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """How alike a record and a contact are: minus the fields they differ in (a card
    shares its values with a fuller card of the same person too, but differs less from
    its own contact)."""
    return -sum(1 for name in set(a) | set(b) if not field_equal(name, a.get(name), b.get(name)))


def likeness(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[int, bool]:
    """How many values two records have in common, and whether one of them is an email or
    a phone (a value that points at one person more than a name or a company does)."""
    shared = sum(1 for name in _LIKENESS_SCALARS if a.get(name) and a.get(name) == b.get(name))
    strong = False
    for kind in ("emails", "phones", "addresses", "websites"):
        mine = {element_key(kind, item) for item in a.get(kind) or ()}
        common = len(mine.intersection(element_key(kind, item) for item in b.get(kind) or ()))
        shared += common
        strong = strong or (common > 0 and kind in ("emails", "phones"))
    return shared, strong


def _pairs(
    records: list[Record], links: list[LinkRow], held: frozenset[str] | None
) -> list[tuple[Record, LinkRow]]:
    """Each record with the gone record's link it resembles enough, when each is the
    other's best (a tie is no pair: a guess could join two people). Only links sharing an
    email or a phone with a record are compared, so the work stays small."""
    by_key: dict[tuple[str, ...], list[int]] = {}
    for k, link in enumerate(links):
        for kind in ("emails", "phones"):
            for item in (link.baseline or {}).get(kind) or ():
                by_key.setdefault((kind, *element_key(kind, item)), []).append(k)
    scores: dict[tuple[int, int], int] = {}
    for r, record in enumerate(records):
        fields = project(record.fields, held)
        near = {
            k
            for kind in ("emails", "phones")
            for item in fields.get(kind) or ()
            for k in by_key.get((kind, *element_key(kind, item)), ())
        }
        for k in near:
            baseline = links[k].baseline or {}
            shared, strong = likeness(fields, baseline)
            if strong and shared >= 2 and _names_close(fields, baseline):
                scores[(r, k)] = shared
    best_of_record: dict[int, list[tuple[int, int]]] = {}
    best_of_link: dict[int, list[tuple[int, int]]] = {}
    for (r, k), score in scores.items():
        best_of_record.setdefault(r, []).append((score, k))
        best_of_link.setdefault(k, []).append((score, r))
    out = []
    for r, options in best_of_record.items():
        chosen = _only_best(options)
        if chosen is not None and _only_best(best_of_link[chosen]) == r:
            out.append((records[r], links[chosen]))
    return out


def _sole_pair(
    aside: list[tuple[Record, LinkRow | None]],
    gone: list[LinkRow],
    spoke: Spoke,
    moved: list[tuple[Record, LinkRow]],
) -> list[tuple[Record, LinkRow]]:
    """The one record that matched nothing with the one record gone, when the pull has
    exactly one of each left over and they are one edit apart (``_one_edit_apart``).

    For records without an email or phone, which ``_pairs`` does not look at: an Outlook
    row with a name and an address is known by its name, one without a name by a hash of
    every value; renaming the first (Lee to Lee-Smith) or editing any value of the second
    gave it a new id, and its card elsewhere was deleted and written again, without what
    the hub does not model (photo, UID, X- properties). Only when nothing else in the run
    could be meant: a second record gone or new (two rows removed, two added) is no pair,
    as a guess could join two people; nor is a record carrying an id of its own (a vCard
    UID the hub has never seen is another card) or one that matched a contact linked here
    (a second record of someone)."""
    paired = {record.native_id for record, _ in moved}
    left = [record for record, link in aside if record.native_id not in paired]
    if len(left) != 1 or len(spoke.deleted) != 1:
        return []
    (record,) = left
    if record.hub_id or any(r is record and link is not None for r, link in aside):
        return []
    links = [link for link in gone if link.native_id in spoke.deleted]
    if len(links) != 1 or not _one_edit_apart(project(record.fields, spoke.held), links[0].baseline or {}):
        return []
    return [(record, links[0])]


def _one_edit_apart(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two records differ in one field at most (the name, all its parts and the
    display name, counting as one) and share at least one value (the name included): a
    row renamed, or a nameless row whose job title was edited, but not a row removed and
    an unrelated one added, nor a household member's row for another's.

    With no email or phone to back the pairing, a name may only change by adding words
    (``_adds_words``: Lee to Lee-Smith, Cher to Cher Bono), not by a typo's worth of
    letters as in ``_pairs``: "Mark Lee" and "Mary Lee" of one company are two people.
    And a record with a name is never the nameless one's (Mark Lee's row removed, his
    company's own row added): a name given or taken away is no edit of the same record."""
    mine, theirs = name_key(a), name_key(b)
    if bool(mine) != bool(theirs) or (mine and not _adds_words(mine, theirs)):
        return False
    same_name = all(field_equal(name, a.get(name), b.get(name)) for name in NAME_GROUP)
    edits = 0 if same_name else 1
    shared = 1 if same_name and mine else 0
    for name in (set(a) | set(b)) - NAME_GROUP:
        if a.get(name) in (None, "", [], {}) and b.get(name) in (None, "", [], {}):
            continue
        if field_equal(name, a.get(name), b.get(name)):
            shared += 1
        else:
            edits += 1
    return edits <= 1 and shared >= 1


def _names_close(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same name, one a typo away (Fay, Faye), or one that only adds words to the
    other (``_adds_words``: Cher, Cher Bono, a family name typed into a file that had the
    first name alone; Ann Lee or Ann Smith, Ann Lee-Smith, a double married name): a
    household or a company shares a phone, a family name, an address, and a wife is not
    her husband's card renamed (Ann Lee, Bob Lee), nor the family's row ("Lee") one of its
    members. A family name replaced outright (Ann Lee, Ann Smith) is not close: neither
    a typo nor added words, it is told from another Ann only by what else the records
    share, and is left a deletion plus a new person."""
    mine, theirs = name_key(a), name_key(b)
    if not mine or not theirs:
        return True
    return _adds_words(mine, theirs) or SequenceMatcher(None, mine, theirs).ratio() >= 0.8


def _adds_words(mine: str, theirs: str) -> bool:
    """Whether one of two name keys is the other with words added, hyphenated ones
    counting as words too, and keeps its first word (the same name included)."""
    short, long = sorted(([w for w in _WORDS.split(name) if w] for name in (mine, theirs)), key=len)
    return bool(short) and short[0] == long[0] and _in_order(short, long)


def _in_order(short: list[str], long: list[str]) -> bool:
    """Whether every word of ``short`` appears in ``long``, in the same order."""
    rest = iter(long)
    return all(word in rest for word in short)


def _only_best(options: list[tuple[int, int]]) -> int | None:
    """The one option with the highest score; ``None`` on a tie."""
    top = max(score for score, _ in options)
    winners = [which for score, which in options if score == top]
    return winners[0] if len(winners) == 1 else None


#: what separates the words of a name for ``_names_close``: spaces and hyphens (Lee-Smith)
_WORDS = re.compile(r"[\s\-\u2010]+")
#: values that count towards ``likeness`` (not the display name: it repeats the name parts)
_LIKENESS_SCALARS = (
    "given_name",
    "family_name",
    "middle_name",
    "organization",
    "department",
    "job_title",
    "birthday",
)
#: the native id a link takes when its id now holds another person's record (``_replaced_links``):
#: no connector's id starts with a line break
_GONE = "\n(replaced) link "
#: records that matched nothing, set aside per pull at most (kept in memory until it ends)
SET_ASIDE = 1000
