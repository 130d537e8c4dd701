"""The per-field three-way merge of one incoming record into its hub contact.

Inputs: the baseline (what this connector and the hub last agreed on, ``None`` for a record
seen for the first time), ours (the hub contact now) and theirs (the record now). Per field:

- theirs equals the baseline: this side did not change it, keep ours;
- ours equals the baseline: only this side changed it, take theirs; under ``newest`` not
  when the record is older than the hub's value by more than ``CLOCK_SKEW`` (``_older``:
  an older version put back, a folder restored from a backup), a conflict the hub wins;
- both equal: nothing to decide (a false conflict); when theirs changed to ours' value it
  is noted (``agreed``): an open manual conflict of that side's may be over;
- multi-valued fields merge as sets: elements theirs added are added, elements theirs
  removed are removed, whatever ours did meanwhile; so edits on both sides both survive
  (an element theirs edited keeps the type ours gave it when theirs left the type as it was);
- otherwise a conflict, settled by the hub's policy: ``newest`` (the later modification
  time), ``priority`` (the connector earlier in the hub's list), ``manual`` (the hub keeps its
  value and the conflict waits for a person). The losing value is kept in the conflict.

Under ``manual`` nobody wins before a person decides, so two more rules (``rolled_back``):
a value the hub took from another side earlier in this same run, which theirs rivals, is
no hub value yet (connectors are pulled one after another: kept, it was the first side's
value that won): the hub goes back to the value it held before the run, and each side that
had given it (or changed it to that same value) has a conflict of its own beside theirs;
and a field with an open conflict (``disputed``) takes no side's new value, which joins
the conflict instead.

With no baseline (a first link, or lost state) nothing is ever taken as a deletion: empty
fields are filled from the other side, sets are united, and differing values are conflicts.
Pure logic: no I/O, no clock; the caller passes the times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contacthub.model import (
    MULTI_FIELDS,
    NAME_GROUP,
    Fields,
    element_key,
    email_fold,
    field_equal,
    keep_spelling,
    made_name,
    normalize_multi,
)
from contacthub.times import utc

#: how far apart the clocks of two systems may be: a time up to this far ahead of the
#: record's read is believed (``Inbound.ahead``), and a value older than the hub's by no more
#: than this is no older one (``_older``)
CLOCK_SKEW = timedelta(minutes=5)

#: field -> [connector id, ISO time the value was set]; the key "*" holds the source of
#: every field without its own entry (a contact made from one record has only "*")
Sources = dict[str, list[Any]]


def source_of(sources: Sources, field_name: str) -> list[Any] | None:
    return sources.get(field_name) or sources.get("*")


@dataclass(slots=True)
class Side:
    """Who brings ``theirs``: connector id, its position in the hub, the record's time;
    ``horizon``, the time of the merge + ``CLOCK_SKEW`` + 1 s (``Inbound._reading``): past
    every time the hub has stored, each bounded by the time its record was read
    (``Inbound._when``), so a stored time past it is none (``_decide``)."""

    connector_id: int
    position: int
    modified: str  # ISO 8601, comparable as text (always UTC)
    horizon: str = ""  # ISO 8601 as ``modified``; "" for none
    #: ``modified`` is the record's own time (not its connector's last read, for a record
    #: that has none), moved by every change of it (``Capabilities.dated_whole``): only
    #: then can it say the record is older than a value (``_older``)
    own: bool = False


@dataclass(slots=True)
class Conflict:
    field: str
    ours: Any
    theirs: Any
    ours_source: int | None
    winner: str  # "hub" | "incoming" | "open"
    #: the connector whose value ``theirs`` is, when not the incoming side's (``rolled_back``)
    side: int | None = None


#: field -> (the hub's value before this run, the time it was set, the connectors whose value
#: replaced it earlier in this run: the one that gave it, then those that changed it to the
#: same value, ``Inbound._seconded``): values not yet agreed by the other sides
Unconfirmed = dict[str, tuple[Any, Any, tuple[int, ...]]]


@dataclass(slots=True)
class MergeResult:
    fields: Fields
    sources: Sources
    changed: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    #: fields theirs changed to the value ours already holds (nothing to merge, but a side
    #: of an open conflict on it came round to the hub's value: ``Inbound._agreed``)
    agreed: list[str] = field(default_factory=list)
    #: fields put back to the value the hub held before this run (``rolled_back``)
    rolled_back: list[str] = field(default_factory=list)
    #: theirs changed a field to a value older than the hub's (``_older``): the record
    #: went back in time, an older version put back
    older: bool = False


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _same(name: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from ``primary``, which is settled separately below (and an email's
    case: its spelling, which the hub keeps as it first saw it)."""
    if name == "emails" and a.get("value") != b.get("value"):
        if email_fold(str(a.get("value"))) != email_fold(str(b.get("value"))):
            return False
        b = {**b, "value": a.get("value")}
    return {k: v for k, v in a.items() if k != "primary"} == {k: v for k, v in b.items() if k != "primary"}


def _same_but_type(name: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``_same`` but for the type."""
    return _same(name, {**a, "type": ""}, {**b, "type": ""})


def merge_sets(
    name: str,
    base: list[Any] | None,
    ours: list[Any] | None,
    theirs: list[Any] | None,
    follow_primary: bool = True,
) -> list[Any]:
    """Apply theirs' additions, removals and element edits (relative to base) to ours.
    Without ``follow_primary`` (a record seen for the first time: nothing of it moved) the
    primary stays ours: a file whose Work Phone column comes first made that number the
    person's primary, and wrote ``pref`` into their card, when it was merely linked."""
    base_by = {element_key(name, e): e for e in base or ()}
    theirs_by = {element_key(name, e): e for e in theirs or ()}
    removed = base_by.keys() - theirs_by.keys()
    retyped = _types_kept(name, base_by, theirs_by, removed, ours)
    in_place = _edited_in_place(name, base_by, theirs_by, removed, ours)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    for item in ours or ():
        key = element_key(name, item)
        if key in removed:
            new = in_place.get(key)
            if new is not None:  # an element theirs edited stays where it was (and primary)
                seen.add(new)
                edited = dict(theirs_by[new])
                if new in retyped:
                    edited["type"] = retyped[new]
                if "primary" in edited:
                    edited["primary"] = item.get("primary", False)
                out.append(edited)
            continue
        seen.add(key)
        mine = theirs_by.get(key)
        old = base_by.get(key)
        # an element edited on their side only (a new type, say) takes their edit; ours
        # differing from the baseline only in its type is no edit of ours but where the
        # file could hold it (a third work phone in Outlook's untyped Other Phone): moved
        # there to Home Phone, it is home (it went back to work, Other Phone, every run)
        if (
            mine is not None
            and old is not None
            and not _same(name, mine, old)
            and _same_but_type(name, item, old)
        ):
            out.append({**mine, "primary": item.get("primary", False)} if "primary" in mine else dict(mine))
        elif old is None and mine is not None and mine.get("type") and not item.get("type"):
            # an element ours holds untyped (from a file that keeps no types), which theirs,
            # never agreed on, gives a type: the type is news, not a change to undo (the
            # card's TYPE=home was written away on the first sync)
            out.append({**item, "type": mine["type"]} if _same_but_type(name, item, mine) else dict(item))
        else:
            out.append(dict(item))
    for key, item in theirs_by.items():
        if key not in seen and key not in base_by:
            out.append({**item, "type": retyped[key]} if key in retyped else dict(item))
    # theirs moved the primary: follow it. Not when the element primary there before was
    # edited or removed: the first of what is left is primary by default there (a file
    # with no Primary Phone column), and an edit of a person's mobile made it their
    # primary phone everywhere
    their_primary = next((element_key(name, e) for e in theirs or () if e.get("primary")), None)
    base_primary = next((element_key(name, e) for e in base or () if e.get("primary")), None)
    moved = base_primary is None or base_primary in theirs_by
    if follow_primary and moved and their_primary is not None and their_primary != base_primary:
        for item in out:
            item["primary"] = element_key(name, item) == their_primary
    return normalize_multi(name, keep_spelling(name, out, ours))


def _edited_in_place(
    name: str,
    base_by: dict[tuple[str, ...], Any],
    theirs_by: dict[tuple[str, ...], Any],
    removed: set[tuple[str, ...]],
    ours: list[Any] | None,
) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Removed element's key -> the key of the element theirs added in its place: an edit
    (to the set, one removed and one added) keeps the element's place in the list. At the
    end, the edit of a file's E-mail 3 went past ours' fourth email, and the file, which
    holds three, was written back without it: the person's edit vanished from their own
    file. Paired in list order, of the same type first, as ``_types_kept`` pairs them; an
    element ours holds too is no edit of one in ours' list."""
    ours_keys = [element_key(name, e) for e in ours or ()]
    gone = [k for k in ours_keys if k in removed]
    added = [k for k in theirs_by if k not in base_by and k not in set(ours_keys)]
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for same_type in (True, False):
        for key in gone:
            if key in out:
                continue
            kind = base_by[key].get("type", "")
            taken = set(out.values())
            new = next(
                (
                    k
                    for k in added
                    if k not in taken and (not same_type or theirs_by[k].get("type", "") == kind)
                ),
                None,
            )
            if new is not None:
                out[key] = new
    return out


def _types_kept(
    name: str,
    base_by: dict[tuple[str, ...], Any],
    theirs_by: dict[tuple[str, ...], Any],
    removed: set[tuple[str, ...]],
    ours: list[Any] | None,
) -> dict[tuple[str, ...], str]:
    """Elements theirs edited (a new city, a new number: to the set, one removed and one
    added) keep the type ours gives them when theirs left the type as it was. A file slot's
    type is where the file put the element, not a type someone chose: a second work address
    written to Outlook's "Other" columns reads back as "other", and editing its city there
    made it "other" everywhere. A removed element and an added one of the same type are
    paired in list order; the added one's key -> ours' type, for pairs whose type ours
    changed (a type the connector cannot hold, or a new type set elsewhere since)."""
    ours_type = {element_key(name, e): e.get("type", "") for e in ours or ()}
    added = [(k, e) for k, e in theirs_by.items() if k not in base_by]
    out: dict[tuple[str, ...], str] = {}
    for key, old in base_by.items():
        kind = old.get("type", "")
        if key not in removed or key not in ours_type or ours_type[key] == kind:
            continue
        new = next((k for k, e in added if e.get("type", "") == kind and k not in out), None)
        if new is not None:
            out[new] = ours_type[key]
    return out


def merge(
    base: Fields | None,
    ours: Fields,
    theirs: Fields,
    held: frozenset[str] | None,
    sources: Sources,
    side: Side,
    policy: str,
    positions: dict[int, int],
    unheld_renamed: frozenset[str] = frozenset(),
    disputed: frozenset[str] = frozenset(),
    unconfirmed: Unconfirmed | None = None,
) -> MergeResult:
    """Merge ``theirs`` into ``ours``; see the module docstring. ``held`` limits the fields
    looked at to those the connector holds, so a field it cannot store is never taken as
    deleted there. ``positions`` maps connector ids to their order in the hub.
    ``unheld_renamed``: parts of the name the connector does not hold that the hub changed
    since it agreed (a display name another side changed in this run): a rename of theirs
    then rivals that name (``_one_name``). Under ``manual`` only: ``disputed``, the fields
    with an open conflict; ``unconfirmed``, the values other sides gave the hub earlier in
    this run (``rolled_back``)."""
    keys = set(theirs) | set(ours) | (set(base) if base else set())
    if held is not None:
        wildcard = "custom.*" in held
        keys = {k for k in keys if k in held or (wildcard and k.startswith("custom."))}
    manual = policy == "manual"
    back = rolled_back(base, ours, theirs, keys, unconfirmed) if manual and unconfirmed else {}
    was = ours
    if back:
        ours, sources = dict(ours), {k: list(v) for k, v in sources.items()}
        for k, (value, at, _) in back.items():
            if _empty(value):
                ours.pop(k, None)
            else:
                ours[k] = value
            sources[k] = [None, at]  # the hub's own value now, no side's (none holds it alone)
    # a conflict left open is no hub value a side may replace (``_hub_side`` aside): a third
    # side's edit joins it; any part of a name open holds the whole name
    held_open = disputed if manual else frozenset()
    contested = held_open | back.keys()
    if contested & NAME_GROUP:
        contested |= NAME_GROUP
    result = dict(ours)
    new_sources = {k: list(v) for k, v in sources.items()}
    out = MergeResult(result, new_sources)
    for k in sorted(back):  # the other sides' value, rivalled: a conflict of each one's own
        for other in back[k][2]:
            out.conflicts.append(Conflict(k, ours.get(k), was.get(k), None, "open", side=other))

    def take(k: str, value: Any) -> None:
        if _empty(value):
            result.pop(k, None)
        else:
            result[k] = value
        new_sources[k] = [side.connector_id, side.modified]
        out.changed.append(k)

    name_taken: list[str] = []  # parts of the name only theirs changed
    name_kept: list[str] = []  # parts of the name only the hub changed since theirs agreed
    first_taken: list[str] = []  # no baseline: parts of the name only theirs holds
    first_kept: list[str] = []  # no baseline: parts of the name only the hub holds

    # the fields theirs changed on its side only to values older than the hub's
    # (``_stepped_back``): any one makes the record an older version put back, for its
    # lists too: where the hub's list also changed (a side pulled before it, in this run),
    # its removals were applied as edits, and this week's emails went from everywhere (QA)
    stepped = (
        {k for k in keys if _stepped_back(k, base, ours, theirs, sources, side)}
        if policy == "newest" and side.own and base is not None
        else set()
    )
    for k in sorted(keys):
        o, t = ours.get(k), theirs.get(k)
        if (
            k in contested
            and k not in MULTI_FIELDS
            and _changed(k, base, o, t)
            and not (k in held_open and _hub_side(k, base, o, sources, side))
        ):
            pass  # under ``manual``, straight to the conflict below
        elif base is None:
            if _empty(t) or field_equal(k, o, t):
                if k in NAME_GROUP and _empty(t) and not _empty(o):
                    first_kept.append(k)
                continue
            if _empty(o):
                take(k, t)
                if k in NAME_GROUP:
                    first_taken.append(k)
                continue
            if k in MULTI_FIELDS:
                merged = merge_sets(k, None, o, t, follow_primary=False)
                if not field_equal(k, merged, o):
                    take(k, merged)
                continue
        else:
            b = base.get(k)
            if field_equal(k, t, b):
                if k in NAME_GROUP and not field_equal(k, o, b):
                    name_kept.append(k)
                continue
            if field_equal(k, o, t):
                out.agreed.append(k)
                continue
            if field_equal(k, o, b):
                if k in stepped:
                    # changed on this side only, but the record is older than the hub's
                    # value: an older version put back (a folder restored from a backup),
                    # not an edit made since the hub's value was set. Taken, it undid the
                    # week's edits made elsewhere, everywhere, since no policy weighs a
                    # change of one side; the hub keeps its value and writes it back
                    source = source_of(sources, k)
                    out.conflicts.append(Conflict(k, o, t, (source or [None])[0], "hub"))
                    out.older = True
                    continue
                take(k, t)
                if k in NAME_GROUP:
                    name_taken.append(k)
                continue
            if k in MULTI_FIELDS:
                merged = merge_sets(k, b, o, t)
                if stepped and not field_equal(k, merged, o):
                    source = source_of(sources, k)
                    out.conflicts.append(Conflict(k, o, t, (source or [None])[0], "hub"))
                    continue
                if not field_equal(k, merged, o):
                    take(k, merged)
                continue
        # a true conflict on a single value
        source = source_of(sources, k)
        winner = _decide(policy, source, side, positions)
        out.conflicts.append(Conflict(k, o, t, (source or [None])[0], winner))
        if winner == "incoming":
            take(k, t)
    if any(c.field in NAME_GROUP for c in out.conflicts):
        # first sight with two names: each side's parts the other lacks are part of its
        # rival name, decided whole with it. Filled in one by one, the hub's "Lee;Ann" that
        # won took "Marie" and "Dr." from the "Dr. Ann Marie Lee-Smith" that lost, a name
        # nobody typed. Without a rival, filling empty parts is no mix (a display name
        # alone, from a file, gets its card's parts).
        name_taken += first_taken
        name_kept += first_kept
    _one_name(
        out, name_taken, [*name_kept, *sorted(unheld_renamed)], ours, theirs, sources, side,
        lambda source: _decide(policy, source, side, positions), unheld_renamed,
    )  # fmt: skip
    for k in sorted(back):  # each goes back to the hub's value before the run
        if not field_equal(k, result.get(k), was.get(k)) and k not in out.changed:
            out.changed.append(k)
        out.rolled_back.append(k)
    return out


def rolled_back(
    base: Fields | None, ours: Fields, theirs: Fields, keys: set[str], unconfirmed: Unconfirmed
) -> Unconfirmed:
    """The values another side gave the hub earlier in this run that theirs rivals (changed
    too, to another value), to be put back under ``manual``: the hub holds the value both
    sides last agreed on, and each side's value is a conflict of its own. Kept, the side
    pulled first won (its value the hub's, it conflicted with the second side's only).
    A name is one value: theirs changing any part of it rivals every part another side
    gave the hub (else a's new given name stayed under b's new family name)."""
    out = {
        k: v
        for k, v in unconfirmed.items()
        if k in keys and k not in MULTI_FIELDS and _changed(k, base, ours.get(k), theirs.get(k))
    }
    names = {k: v for k, v in unconfirmed.items() if k in NAME_GROUP}
    if names and any(_changed(k, base, ours.get(k), theirs.get(k)) for k in NAME_GROUP & keys):
        out.update(names)
    return out


def _changed(k: str, base: Fields | None, o: Any, t: Any) -> bool:
    """Whether theirs changed field ``k`` (since ``base``; with none, holds a value) to
    another value than ours."""
    if field_equal(k, o, t):
        return False
    if base is None:
        return not _empty(t)
    return not field_equal(k, t, base.get(k))


def _hub_side(k: str, base: Fields | None, o: Any, sources: Sources, side: Side) -> bool:
    """Whether theirs is the side whose value the hub holds in an open conflict, editing it
    again (its baseline the hub's value): the hub follows it, as the conflict's rows do
    (``Inbound._merge``); no new conflict of a side against its own older value."""
    source = source_of(sources, k)
    return (
        base is not None
        and source is not None
        and source[0] == side.connector_id
        and field_equal(k, o, base.get(k))
    )


def _one_name(
    out: MergeResult,
    taken: list[str],
    kept: list[str],
    ours: Fields,
    theirs: Fields,
    sources: Sources,
    side: Side,
    decide: Callable[[list[Any] | None], str],
    unheld: frozenset[str] = frozenset(),
) -> None:
    """A name is decided whole, by one winner. When its parts conflict, or theirs changed a
    part while the hub changed another (a file with no display name has no display-name
    conflict to show it), a part only one side changed is part of that side's rival name,
    and every part is decided as the first conflict is (kept open under ``manual``).
    Decided part by part, theirs' "Chloe" (an accent dropped in a rename) went under the
    other side's "Chloé Nowak-Smith"; the hub's new given name (from another side) went
    under theirs' new family name, "Alicia Smith"; and ``priority`` took each part from
    whichever side had set it, "Jones;Bob" under "Alicia Jones". A part theirs does not
    hold (``unheld``: a display name another side changed, "Ally Smith") rivals theirs' new
    part the same way, its conflict offering theirs' name as the hub shows a name without
    one ("Alicia Jones", which a ``resolve`` for them takes along); an incoming winner drops
    it, and the hub makes it again from the winning parts (else "Ally Jones", a name
    nobody typed)."""
    rivals = [c for c in out.conflicts if c.field in NAME_GROUP]
    if not rivals and not (taken and kept):
        return
    winner = rivals[0].winner if rivals else decide(source_of(sources, kept[0]))
    for c in rivals:
        c.winner = winner
    for k in (*kept, *taken):
        source = source_of(sources, k)
        # a display name theirs does not hold: their name as the hub would show it
        value = made_name(theirs) if k in unheld else theirs.get(k)
        out.conflicts.append(Conflict(k, ours.get(k), value, (source or [None])[0], winner))
    # every part as the winning side holds it (``_set`` leaves one already so as it is)
    for k in {c.field for c in rivals} | {*kept, *taken}:
        _set(out, k, theirs if winner == "incoming" else ours, sources, side, winner)


def _set(out: MergeResult, k: str, values: Fields, sources: Sources, side: Side, winner: str) -> None:
    """Field ``k`` of the result as ``values`` holds it (theirs for an incoming winner, else
    ours), with its source and its place among the changed fields to match."""
    if _empty(values.get(k)):
        out.fields.pop(k, None)
    else:
        out.fields[k] = values[k]
    if winner == "incoming":
        out.sources[k] = [side.connector_id, side.modified]
        if k not in out.changed:
            out.changed.append(k)
        return
    if k in sources:
        out.sources[k] = list(sources[k])
    else:
        out.sources.pop(k, None)
    if k in out.changed:
        out.changed.remove(k)


def _stepped_back(k: str, base: Fields, ours: Fields, theirs: Fields, sources: Sources, side: Side) -> bool:
    """Whether theirs changed field ``k`` on its side only (the hub still holds the
    baseline's value) to an older value (``_older``). Not where the hub has none: a first
    sighting (a column newly mapped, or added back), the only copy of which went from the
    record (QA)."""
    o, t, b = ours.get(k), theirs.get(k), base.get(k)
    return (
        not _empty(o)
        and not field_equal(k, t, b)
        and not field_equal(k, o, t)
        and field_equal(k, o, b)
        and _older(side, source_of(sources, k))
    )


def _older(side: Side, source: list[Any] | None) -> bool:
    """Whether the record is older than the hub's value of a field (set at ``source``'s
    time) by more than ``CLOCK_SKEW``: it cannot hold an edit made after that value was
    set, and its change of the field is a step back (``newest``). Only the record's own
    time says so, and only a stored time the hub believes (see ``_decide``)."""
    held_at = source[1] if source else None
    if not side.own or not side.modified or not held_at or (side.horizon and held_at > side.horizon):
        return False
    try:
        mine, theirs = utc(datetime.fromisoformat(side.modified)), utc(datetime.fromisoformat(held_at))
        return mine is not None and theirs is not None and mine < theirs - CLOCK_SKEW
    except (TypeError, ValueError, OverflowError):
        return False


def _decide(policy: str, source: list[Any] | None, side: Side, positions: dict[int, int]) -> str:
    if policy == "manual":
        return "open"
    if policy == "priority":
        holder = positions.get(source[0]) if source else None
        return "incoming" if holder is None or side.position < holder else "hub"
    # newest: the record's own modification time against the time the hub value was set
    held_at = source[1] if source else None
    if held_at and side.horizon and held_at > side.horizon:
        # past any time this hub stores: an older version kept a REV of 2100 as it was, and
        # that value beat every real edit for good. Its real time is unknown: none, as a
        # side never read has (a time of the record's own, or its connector's read, wins)
        held_at = ""
    return "incoming" if held_at is None or side.modified > held_at else "hub"
