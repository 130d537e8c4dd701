"""Rows of contact CSV files through a dialect's handlers: a ``Handler`` owns some columns and
one canonical field (or ``custom.*``). Reading asks every handler for its part of a
``Contact``; writing asks every handler whose field changed to fill its columns, so a cell
whose meaning did not change keeps its original spelling (a phone stays ``(800) 000-0000``
instead of becoming E.164) and columns no handler owns are never touched. That holds per
cell too: of a changed list, each slot that gets the element it held keeps its cells
(``_holds``).

Which handlers a header gets is the dialects' job (``csv_columns``); this module is the
per-record code, the same for every dialect."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from contacthub.formats.csv_cells import (
    DateOrderError,
    decode_items,
    encode_items,
    format_date,
    parse_date,
    says_no_date,
    spell_phone,
    split_emails,
)
from contacthub.model import (
    ADDRESS_PARTS,
    CUSTOM_PREFIX,
    DEFAULT_REGION,
    Address,
    Contact,
    Email,
    Fields,
    Phone,
    Website,
    element_key,
    field_equal,
    keep_spelling,
)

Row = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Handler:
    """Columns (``role -> header``) that together hold one canonical field.

    kinds: ``scalar`` (one cell, one field), ``date`` (one cell holding a date: the birthday),
    ``cell`` (a plain-format multi-valued cell), ``slot`` (one element of a multi-valued
    field), ``parts`` (Thunderbird's birthday in three columns), ``pair`` (Google's ``Custom
    Field n`` label + value)."""

    kind: str
    field: str
    cols: tuple[tuple[str, str], ...]
    fixed_type: str = ""
    split: bool = False
    #: a ``date`` column has a spelling for a date without a year (Outlook's has none)
    yearless: bool = True

    def col(self, role: str) -> str | None:
        return next((c for r, c in self.cols if r == role), None)


# --- reading --------------------------------------------------------------------------------

_GOOGLE_TYPES = {"mobile": "cell"}
_TYPE_LABELS = {"cell": "Mobile"}


def _label_type(label: str) -> tuple[str, bool]:
    """Google marks the primary element with ``* `` before its label (``* Home``)."""
    primary = label.startswith("* ")
    text = label[2:] if primary else label
    text = text.strip().lower()
    return _GOOGLE_TYPES.get(text, text), primary


def read_row(
    handlers: list[Handler], row: Row, date_order: str = "mdy", strict_dates: bool = False
) -> Contact:
    """The contact these columns hold (not yet normalised: call ``to_fields``). Empty slots
    add nothing: an Outlook row has a dozen phone columns and usually one number. A
    slashed date is read in the file's ``date_order`` (``csv_cells.parse_date``); one that
    order cannot read, or with ``strict_dates`` (the order is the connector's setting) a
    cell that is no date at all, raises ``DateOrderError`` naming its column."""
    c = Contact()
    own = _custom_in_columns(handlers)
    for h in handlers:
        cells = {role: row.get(column, "") for role, column in h.cols}
        if not any(cells.values()):
            continue
        get = cells.get
        if h.kind == "scalar":
            value = cells["value"]
            if h.field.startswith(CUSTOM_PREFIX):
                c.custom[h.field[len(CUSTOM_PREFIX) :]] = value
            elif not getattr(c, h.field):
                setattr(c, h.field, value)
        elif h.kind == "date":
            try:
                c.birthday = c.birthday or parse_date(cells["value"], date_order, strict_dates)
            except DateOrderError as exc:
                raise DateOrderError(f"{h.cols[0][1]}: {exc}") from None
        elif h.kind == "cell":
            for item in decode_items(h.field, cells["value"]):
                _add(c, h.field, item)
        elif h.kind == "slot":
            kind, primary = _label_type(get("type", "")) if "type" in cells else (h.fixed_type, False)
            if h.field == "addresses":
                street = "\n".join(filter(None, (get(f"street{n}", "") for n in ("", "2", "3"))))
                parts = {p: get(p, "") for p in ADDRESS_PARTS[1:]}
                _add(c, h.field, {"street": street, **parts, "type": kind})
                continue
            value = get("value", "")
            texts = value.split(" ::: ") if h.split else [value]
            if h.field == "emails":
                texts = [one for text in texts for one in split_emails(text)]
            for i, text in enumerate(texts):
                _add(c, h.field, {"value": text, "type": kind, "primary": primary and not i})
        elif h.kind == "parts":
            date = _join_birthday(get("year", ""), get("month", ""), get("day", ""))
            c.birthday = c.birthday or date
        elif h.kind == "pair" and get("label") and CUSTOM_PREFIX + cells["label"] not in own:
            c.custom[cells["label"]] = get("value", "")
    return c


def _custom_in_columns(handlers: list[Handler]) -> set[str]:
    """The custom fields a column of their own holds (a mapping's): Google's ``Custom Field
    n`` pairs leave them out, else the field lived in two places and a value cleared or
    edited in its column came back from the stale pair."""
    return {h.field for h in handlers if h.kind == "scalar" and h.field.startswith(CUSTOM_PREFIX)}


def _add(c: Contact, field: str, item: dict[str, Any]) -> None:
    if field == "emails":
        c.emails.append(Email(item["value"], item.get("type", ""), item.get("primary", False)))
    elif field == "phones":
        c.phones.append(Phone(item["value"], item.get("type", ""), item.get("primary", False)))
    elif field == "websites":
        c.websites.append(Website(item["value"], item.get("type", "")))
    else:
        c.addresses.append(Address(**{k: item.get(k, "") for k in (*ADDRESS_PARTS, "type")}))


def _join_birthday(year: str, month: str, day: str) -> str:
    if not (month.isdigit() and day.isdigit()):
        return year.strip()
    return f"{year.strip() or '-'}-{int(month):02d}-{int(day):02d}"


# --- writing --------------------------------------------------------------------------------


def render(
    handlers: list[Handler],
    fields: Fields,
    old: Row,
    region: str,
    date_style: str = "",
    date_order: str = "mdy",
    strict_dates: bool = False,
) -> dict[str, str]:
    """New values of the columns whose field changed, given the row's current cells (read
    in the file's ``date_order``); dates spelled in ``date_style`` (``csv_cells.date_style``:
    the file's own). With ``strict_dates`` (``read_row``) a birthday that is no date (text
    from a vCard 4.0 ``BDAY;VALUE=text``) is not written: its cell would make the row an
    error on every read."""
    before = read_row(handlers, old, date_order, strict_dates).to_fields(region)
    own = _custom_in_columns(handlers)
    out: dict[str, str] = {}
    groups: dict[str, list[Handler]] = {}
    for h in handlers:
        groups.setdefault(h.field, []).append(h)
    for field, group in groups.items():
        if field == "custom.*":
            new = {k: v for k, v in fields.items() if k.startswith(CUSTOM_PREFIX) and k not in own}
            if new != {k: v for k, v in before.items() if k.startswith(CUSTOM_PREFIX) and k not in own}:
                _write_pairs(group, new, out)
        elif not field_equal(field, fields.get(field), before.get(field)):
            value = keep_spelling(field, fields.get(field), before.get(field))
            _write_group(group, value, out, old, date_style, region, strict_dates)
    return out


def _write_group(
    group: list[Handler],
    value: Any,
    out: dict[str, str],
    old: Row,
    date_style: str,
    region: str,
    strict_dates: bool = False,
) -> None:
    first = group[0]
    if first.kind == "scalar":
        for h in group:
            out[h.cols[0][1]] = str(value or "")
    elif first.kind == "date":
        for h in group:
            column = h.cols[0][1]
            text = format_date(str(value or ""), date_style, h.yearless, strict_dates)
            if text is None:
                # no spelling for this date here (a birthday without a year, in Outlook's
                # column; text, where date_order is set): the cell says there is no date,
                # which the hub never takes for a deletion (``read_back`` says the file
                # cannot hold it); one that says no date already (empty, Outlook's 0/0/00)
                # stays as it is
                cell = old.get(column, "")
                text = cell if says_no_date(cell) else ""
            out[column] = text
    elif first.kind == "cell":
        out[first.cols[0][1]] = encode_items(first.field, value or [])
    elif first.kind == "parts":
        m = re.fullmatch(r"(\d{4}|-)?-?(\d{2})-(\d{2})", str(value or ""))
        parts = {"year": "", "month": "", "day": ""}
        if m:
            parts = {"year": (m.group(1) or "").strip("-"), "month": m.group(2), "day": m.group(3)}
        elif value:
            parts["year"] = str(value)
        for role, column in first.cols:
            out[column] = parts[role]
    else:
        _write_slots(group, list(value or []), out, old, region)


def _write_slots(
    slots: list[Handler],
    items: list[dict[str, Any]],
    out: dict[str, str],
    old: Row | None = None,
    region: str = DEFAULT_REGION,
) -> None:
    """An element a typed slot of the row holds already stays there while its type fits
    (``_in_place``); typed slots take elements of their type; then untyped or labelled
    slots take the rest in order; then what is still left takes a free typed slot, an
    'other' one first (an untyped phone or address went nowhere in a file whose slots all
    have a type). Elements with no room left are dropped: the read-back shows what the
    file kept.

    A slot given the element its cells hold already keeps its cells as they are
    (``_holds``): changing one phone of a row rewrote its other phones, nobody edited, in
    E.164. A phone written anew is spelled as the row spells its numbers
    (``csv_cells.spell_phone``).

    A row whose labels mark no primary (no ``* ``) gets none while the hub's primary is
    the one it read there (``_unmarked``)."""
    old = old or {}
    bare = _unmarked(slots, items, old, region)
    if bare is not None:
        tried: dict[str, str] = {}
        _write_kept(slots, bare, tried, old, region)
        primary = next(item for item in items if item.get("primary"))
        back = read_row(slots, {**old, **tried}).to_fields(region).get(slots[0].field, [])
        if back and element_key(slots[0].field, back[0]) == element_key(slots[0].field, primary):
            out.update(tried)
            return
    _write_kept(slots, items, out, old, region)


def _unmarked(
    slots: list[Handler], items: list[dict[str, Any]], old: Row, region: str
) -> list[dict[str, Any]] | None:
    """``items`` with no element primary, when the row's labels mark none and the hub's
    primary is the one it read there (``model.normalize_multi`` makes the first element
    primary when none is marked); None otherwise. Written as the hub holds them, the
    first phone of a row whose user never wrote a ``* `` gained one (QA). A new row, or a
    primary changed in the hub, is marked as before."""
    field = slots[0].field
    labels = [old.get(column, "") for s in slots if (column := s.col("type"))]
    if field not in ("emails", "phones") or not labels or any(x.startswith("* ") for x in labels):
        return None
    before = read_row(slots, old).to_fields(region).get(field, [])
    primary = next((item for item in items if item.get("primary")), None)
    if not before or primary is None or element_key(field, primary) != element_key(field, before[0]):
        return None
    return [{**item, "primary": False} if item is primary else item for item in items]


def _write_kept(
    slots: list[Handler], items: list[dict[str, Any]], out: dict[str, str], old: Row, region: str
) -> None:
    """``_write_slots`` of these items as they are."""
    held = _held(slots, items, old, region)
    if not held:
        _place(slots, items, out, old, region, {})
        return
    # a cell holding several elements (``a@x.test; b@x.test``) stays as typed while the
    # hub holds all of them, unless kept, the row would say less than with each element
    # in a slot of its own: another primary element, another type, an element dropped
    kept: dict[str, str] = {}
    _place(slots, items, kept, old, region, held)
    plain: dict[str, str] = {}
    _place(slots, items, plain, old, region, {})
    field = slots[0].field
    said = [
        [
            (element_key(field, e), e.get("type", ""))
            for e in read_row(slots, cells).to_fields(region).get(field, [])
        ]
        for cells in (kept, plain)
    ]
    same_primary = said[0][:1] == said[1][:1]
    out.update(kept if same_primary and set(said[1]) <= set(said[0]) else plain)


def _held(slots: list[Handler], items: list[dict[str, Any]], old: Row, region: str) -> dict[int, list[int]]:
    """The slots whose cell holds several of ``items`` (two emails typed into one cell), with
    the places of those items in ``items``."""
    out: dict[int, list[int]] = {}
    used: set[int] = set()
    for i, slot in enumerate(slots):
        found = _elements(slot, old, region)
        if len(found) < 2:
            continue
        match: list[int] = []
        for element in found:
            key = element_key(slot.field, element)
            n = next(
                (n for n, item in enumerate(items) if n not in used and n not in match
                 and element_key(slot.field, item) == key),
                None,
            )  # fmt: skip
            if n is None:
                break
            match.append(n)
        else:
            out[i] = match
            used.update(match)
    return out


def _place(
    slots: list[Handler],
    items: list[dict[str, Any]],
    out: dict[str, str],
    old: Row,
    region: str,
    held: dict[int, list[int]],
) -> None:
    """``_write_slots`` with the slots in ``held`` keeping their cells and the items they
    hold."""
    taken = {n for ns in held.values() for n in ns}
    items = [item for n, item in enumerate(items) if n not in taken]
    chosen: dict[int, dict[str, Any]] = {i: {} for i in held}
    chosen.update(_in_place(slots, items, old, region, set(held)))
    rest: list[dict[str, Any]] = []
    placed = [id(item) for item in chosen.values()]
    for item in items:
        if id(item) in placed:
            continue
        kind = item.get("type", "")
        fits = [
            (_fit(s.fixed_type or "", kind), -i)
            for i, s in enumerate(slots)
            if i not in chosen and s.fixed_type and not s.col("type")
        ]
        best = max(fits, default=(0, 0))
        if kind and best[0]:
            chosen[-best[1]] = item
        else:
            rest.append(item)
    # a fax or pager number in a column for calls would be called: it waits for its own
    # kind of column, or stays out of the file
    rest, machines = [r for r in rest if not _machine(r)], [r for r in rest if _machine(r)]
    free = [i for i, s in enumerate(slots) if i not in chosen and (s.col("type") or not s.fixed_type)]
    typed_free = [i for i in free if slots[i].col("type")]
    chosen.update(zip(free, rest, strict=False))
    chosen.update(zip([i for i in typed_free if i not in chosen], machines, strict=False))
    left = rest[len(free) :]
    spare = sorted(
        (i for i, s in enumerate(slots) if i not in chosen and s.fixed_type in _SPARE),
        key=lambda i: _SPARE.index(slots[i].fixed_type or ""),
    )
    chosen.update(zip(spare, left, strict=False))
    spelled = [old.get(s.col("value") or "", "") for s in slots] if slots[0].field == "phones" else []
    for i, slot in enumerate(slots):
        item = chosen.get(i, {})
        if i in held or (item and _holds(slot, item, old, region)):
            for _, column in slot.cols:
                out[column] = old.get(column, "")
            continue
        for role, column in slot.cols:
            out[column] = _slot_cell(role, item)
        if "street" in item and slot.col("street2"):
            out[slot.col("street") or ""] = item["street"]  # whole street in the first column
        cell = slot.col("value")
        if spelled and item and cell:
            out[cell] = spell_phone(out[cell], [spelled[i], *spelled], region)
        if item and cell and _holds(replace(slot, cols=(("value", cell),)), item, old, region):
            out[cell] = old.get(cell, "")  # only its label changed: the number stays as typed


def _elements(slot: Handler, old: Row, region: str) -> list[dict[str, Any]]:
    """The elements one slot's cells hold, normalised as the hub holds them."""
    cells = {column: old.get(column, "") for _, column in slot.cols}
    if not any(cells.values()):
        return []
    found: list[dict[str, Any]] = read_row([slot], cells).to_fields(region).get(slot.field, [])
    return found


def _holds(slot: Handler, item: dict[str, Any], old: Row, region: str) -> bool:
    """Whether the slot's cells say ``item`` already: the same element, and where the slot
    has a label, the same type and primary mark. Its cells then keep their spelling."""
    found = _elements(slot, old, region)
    if len(found) != 1 or element_key(slot.field, found[0]) != element_key(slot.field, item):
        return False
    label = slot.col("type")
    if label is None:
        return True
    primary = bool(item.get("primary")) if slot.field in ("emails", "phones") else False
    return _label_type(old.get(label, "")) == (str(item.get("type", "")), primary)


def _in_place(
    slots: list[Handler], items: list[dict[str, Any]], old: Row, region: str, skip: set[int]
) -> dict[int, dict[str, Any]]:
    """The typed slots whose cell holds one of ``items`` already, with that element, where
    its type fits the slot: a number typed into Mobile Phone stays there when another cell
    number joins the person (it moved to Other Phone, a rearranged row the user never
    asked for). Only single-cell slots (phones, emails), by the element's identity, read
    as the hub reads it (a national ``555-301-0001`` is the hub's ``+15553010001``). A
    labelled slot (Google's) fits any type: a pager number there was held back for a
    column of its kind, and adding a phone moved every number of the row a slot on."""
    kept: dict[int, dict[str, Any]] = {}
    taken: set[int] = set()
    for i, slot in enumerate(slots):
        # a labelled slot (Google's ``Phone 1 - Type``) fits any type: its label says it
        labelled = slot.col("type") is not None
        if (
            i in skip
            or not (slot.fixed_type or labelled)
            or [r for r, _ in slot.cols if r != "type"] != ["value"]
        ):
            continue
        found = _elements(slot, old, region)
        if len(found) != 1:
            continue
        key = element_key(slot.field, found[0])
        for n, item in enumerate(items):
            kind = str(item.get("type", ""))
            fits = labelled or not kind or _fit(slot.fixed_type or "", kind) > 0
            if n not in taken and fits and element_key(slot.field, item) == key:
                kept[i] = item
                taken.add(n)
                break
    return kept


#: typed slots an element of no slot's type may take, best first (never fax or pager)
_SPARE = ("other", "work", "cell", "home")
#: words of a phone type saying what answers it, rather than where it is
_MACHINES = frozenset({"fax", "pager"})


def _machine(item: Mapping[str, Any]) -> bool:
    return bool(_MACHINES.intersection(str(item.get("type", "")).split()))


def _fit(slot: str, kind: str) -> int:
    """How well an element of type ``kind`` ("work fax") fits a column of type ``slot``:
    3 the same type; 2 the column's kind of phone is the element's (Business Fax for a work
    fax); 1 only its place (Business Phone for a "work x-useless" phone); 0 not at all,
    and never a fax or pager number in a column for calls."""
    if slot == kind:
        return 3
    words, have = set(kind.split()), set(slot.split())
    if not have <= words:
        return 0
    machines = words & _MACHINES
    if machines and not machines <= have:
        return 0
    return 2 if have & _MACHINES else 1


def _slot_cell(role: str, item: Mapping[str, Any]) -> str:
    if not item:
        return ""
    if role == "type":
        label = _TYPE_LABELS.get(item.get("type", ""), str(item.get("type", "")).title())
        return f"* {label}" if item.get("primary") else label
    if role == "formatted":
        lines = [item.get("street", ""), " ".join(item.get(p, "") for p in ADDRESS_PARTS[1:4])]
        return "\n".join(x.strip() for x in [*lines, item.get("country", "")] if x.strip())
    if role in ("street2", "street3"):
        return ""
    return str(item.get(role, ""))


def _write_pairs(pairs: list[Handler], custom: Mapping[str, str], out: dict[str, str]) -> None:
    items = sorted(custom.items())
    for i, h in enumerate(pairs):
        label, value = items[i] if i < len(items) else ("", "")
        out[h.col("label") or ""] = label[len(CUSTOM_PREFIX) :]
        out[h.col("value") or ""] = value
    out.pop("", None)
