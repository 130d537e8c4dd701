"""vCard cards -> canonical flat fields: the field map and the reader.

``FieldMap`` says which property holds which canonical field; a user mapping (canonical
field -> property name) redirects a scalar field to another property holding plain text
(``department -> X-DEPARTMENT``) or gives a custom field a home (``custom.trade -> X-TRADE``).

Reading builds a ``Contact`` and lets ``to_fields`` normalise it, so vCard records compare
with every other connector's; ``items_fields`` gives the same fields straight from a card's
(NAME, params, value) items, for the reading hot path. Writing lives apart because it has two
ways of its own that both build on this module: ``vcard_apply`` (an existing card updated in
place) and ``vcard_build`` (the bytes of a new card, directly).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from contacthub.errors import ConfigError
from contacthub.formats.vcard_card import (
    Card,
    Item,
    Property,
    components,
    unescape,
)
from contacthub.model import (
    CUSTOM_PREFIX,
    DEFAULT_REGION,
    MULTI_FIELDS,
    SCALAR_FIELDS,
    Address,
    Contact,
    Email,
    Fields,
    Phone,
    Website,
    flat_fields,
    is_known_field,
)

_TEXT_DEFAULTS = {"FN": "display_name", "TITLE": "job_title", "NOTE": "notes", "BDAY": "birthday"}
_STRUCT_DEFAULTS: dict[str, tuple[str | None, ...]] = {
    "N": ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix"),
    "ORG": ("organization", "department"),
}
_MULTI_PROPS = {"emails": "EMAIL", "phones": "TEL", "addresses": "ADR", "websites": "URL"}
#: never a mapping's place: the card's frame and identity, the multi-valued properties, and
#: the binary ones (a photo's data sent to other systems as text, and overwritten by a text)
_RESERVED = frozenset(
    {
        "BEGIN",
        "END",
        "VERSION",
        "UID",
        "PRODID",
        "REV",
        *_MULTI_PROPS.values(),
        "PHOTO",
        "LOGO",
        "SOUND",
        "KEY",
    }
)
_NAME = re.compile(r"[A-Za-z0-9-]+")
#: TYPE values that say nothing the canonical model keeps
_NOISE = {
    "EMAIL": frozenset({"pref", "internet", "x400"}),
    "TEL": frozenset({"pref", "voice"}),
    "ADR": frozenset({"pref", "postal", "parcel", "dom", "intl"}),
    "URL": frozenset({"pref"}),
}
_PLACES = ("home", "work", "other")


class FieldMap:
    """Where each canonical field lives in a card: text properties (whole value), structured
    properties (one component each) and the multi-valued EMAIL/TEL/ADR/URL."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.text: dict[str, str] = dict(_TEXT_DEFAULTS)
        self.struct: dict[str, list[str | None]] = {k: list(v) for k, v in _STRUCT_DEFAULTS.items()}
        targets: dict[str, str] = {}
        for canonical, target in (mapping or {}).items():
            prop = target.strip().upper()
            if not is_known_field(canonical) or canonical in MULTI_FIELDS:
                raise ConfigError(f"cannot map {canonical!r}: not a scalar or custom field")
            if not _NAME.fullmatch(prop) or prop in _RESERVED or prop in self.struct:
                raise ConfigError(f"cannot map {canonical!r} to vCard property {target!r}")
            if prop in targets.values():
                raise ConfigError(f"vCard property {target!r} is mapped twice")
            targets[canonical] = prop
        # take every redirected field out of its default place first, then give it its new one
        self.text = {k: v for k, v in self.text.items() if v not in targets}
        for slots in self.struct.values():
            slots[:] = [None if s in targets else s for s in slots]
        for canonical, prop in targets.items():
            if prop in self.text:
                raise ConfigError(f"vCard property {prop!r} already holds {self.text[prop]!r}")
            self.text[prop] = canonical
        custom = [c for c in targets if c.startswith(CUSTOM_PREFIX)]
        self.fields = frozenset((*SCALAR_FIELDS, *MULTI_FIELDS, *custom))


_MULTI_ONLY = FieldMap()  # for single EMAIL/TEL/ADR/URL properties: any map reads them alike

# --- values -----------------------------------------------------------------------------

_DATE = re.compile(r"(?:(\d{4})|--)-?(\d\d)-?(\d\d)(?:[T ].*)?")
_STAMP = re.compile(r"(\d{4})-?(\d\d)-?(\d\d)(?:T(\d\d):?(\d\d):?(\d\d)?(?:[.,]\d+)?(Z|[+-]\d\d:?\d\d)?)?")


def parse_bday(text: str) -> str:
    """``YYYY-MM-DD`` or ``--MM-DD`` (year 1604 or 0000 marks "no year", as CardBook and
    Apple write it); anything else is kept as the text it is."""
    text = text.strip()
    match = _DATE.fullmatch(text.replace("/", "-"))
    if not match:
        return text
    year, month, day = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return text
    if year is None or year in ("1604", "0000"):
        return f"--{month}-{day}"
    return f"{year}-{month}-{day}"


def parse_rev(text: str) -> datetime | None:
    """A REV timestamp as an aware UTC datetime, or None when it does not parse or UTC
    cannot hold it (``99991231T230000-0100``: its OverflowError crashed every run).

    One without a zone (``20231015T101500``, or a date alone) is local time, as RFC 6350
    says: the local time of this machine, the clock the file's own mtime is read by. Taken
    as UTC, a card edited at 10:15 in Tokyo counted as nine hours newer than it was and
    won ``newest`` against a later edit elsewhere (QA)."""
    match = _STAMP.fullmatch(text.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, zone = match.groups()
    try:
        stamp = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    if not zone:
        try:
            return stamp.astimezone(UTC)  # a naive time is read in the local zone
        except (OverflowError, OSError, ValueError):  # off the calendar (year 1, 9999)
            return None
    stamp = stamp.replace(tzinfo=UTC)
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            stamp = stamp - offset if zone[0] == "+" else stamp + offset
        except OverflowError:
            return None
    return stamp


_TYPE_MEMO: dict[tuple[str, tuple[str, ...], str], tuple[str, bool]] = {}


def _type_of(prop: Property) -> tuple[str, bool]:
    """The canonical type word(s) and whether the property claims to be preferred."""
    return _type_info(prop.name, prop.params)


def _type_info(name: str, params: dict[str, list[str]]) -> tuple[str, bool]:
    """``_type_of`` from a property's name and params. Memoised: a few dozen TYPE
    combinations cover whole address books."""
    if not params:
        return "", False
    key = (name, tuple(params.get("TYPE", ())), params.get("PREF", ("",))[0])
    found = _TYPE_MEMO.get(key)
    if found is not None:
        return found
    types = Property(name, "", params).types()
    pref = "pref" in types or key[2] == "1"
    noise = _NOISE[name]
    kept = sorted({t for t in types if t not in noise}, key=lambda t: (t not in _PLACES, t))
    found = (" ".join(kept), pref)
    if len(_TYPE_MEMO) < 4096:
        _TYPE_MEMO[key] = found
    return found


def _address_parts(params: dict[str, list[str]], value: str) -> tuple[str, str, str, str, str, str]:
    """(street, city, region, postal code, country, type) of an ADR value."""
    parts = components(value) + [""] * 7
    street = "\n".join(p for p in (parts[1].strip(), parts[2].strip()) if p)
    return street, parts[3], parts[4], parts[5], parts[6], _type_info("ADR", params)[0]


def _address(prop: Property) -> Address:
    parts = components(prop.value) + [""] * 7
    street = "\n".join(p for p in (parts[1].strip(), parts[2].strip()) if p)
    return Address(street, parts[3], parts[4], parts[5], parts[6], _type_of(prop)[0])


def uid_of(card: Card) -> str | None:
    prop = card.first("UID")
    return (unescape(prop.value).strip() or None) if prop else None


def rev_of(card: Card) -> datetime | None:
    prop = card.first("REV")
    return parse_rev(prop.value) if prop else None


# --- reading ----------------------------------------------------------------------------


def read_contact(card: Card, fmap: FieldMap) -> Contact:
    """The typed view of a card; the first FN/N/ORG/TITLE/NOTE/BDAY wins."""
    return read_card(card, fmap)[0]


def read_card(card: Card, fmap: FieldMap) -> tuple[Contact, str | None, datetime | None]:
    """The typed view of a card, its UID and its REV, in one pass over the properties."""
    contact = Contact()
    uid: str | None = None
    rev: str | None = None
    seen: set[str] = set()
    text_map = fmap.text
    struct_map = fmap.struct
    for prop in card.properties:
        name = prop.name
        if name == "EMAIL":
            type_, pref = _type_of(prop)
            contact.emails.append(Email(unescape(prop.value), type_, pref))
        elif name == "TEL":
            type_, pref = _type_of(prop)
            contact.phones.append(Phone(unescape(prop.value), type_, pref))
        elif name == "ADR":
            contact.addresses.append(_address(prop))
        elif name == "URL":
            contact.websites.append(Website(unescape(prop.value), _type_of(prop)[0]))
        elif name in seen:
            continue
        elif name == "UID":
            seen.add(name)
            uid = unescape(prop.value).strip() or None
        elif name == "REV":
            seen.add(name)
            rev = prop.value
        elif name in text_map:
            seen.add(name)
            _set(contact, text_map[name], unescape(prop.value))
        elif name in struct_map:
            seen.add(name)
            for slot, value in zip(struct_map[name], components(prop.value), strict=False):
                if slot:
                    _set(contact, slot, value)
    if contact.birthday:
        contact.birthday = parse_bday(contact.birthday)
    return contact, uid, parse_rev(rev) if rev else None


def _set(contact: Contact, canonical: str, value: str) -> None:
    if canonical.startswith(CUSTOM_PREFIX):
        contact.custom[canonical[len(CUSTOM_PREFIX) :]] = value
    else:
        setattr(contact, canonical, value)


def read_fields(card: Card, fmap: FieldMap, region: str = DEFAULT_REGION) -> Fields:
    """The canonical flat fields of a card."""
    return card_fields(card, fmap, region)[0]


def card_fields(
    card: Card, fmap: FieldMap, region: str = DEFAULT_REGION
) -> tuple[Fields, str | None, datetime | None]:
    """The canonical flat fields of a card, its UID and its REV: ``read_card`` followed by
    ``Contact.to_fields``, without building the ``Contact``."""
    return items_fields([(p.name, p.params, p.value) for p in card.properties], fmap, region)


def items_fields(
    items: Iterable[Item], fmap: FieldMap, region: str = DEFAULT_REGION
) -> tuple[Fields, str | None, datetime | None]:
    """``card_fields`` of a card's properties given as (NAME, params, escaped value); the
    properties of names the map does not read may be left out."""
    scalars: dict[str, str] = {}
    custom: dict[str, str] = {}
    emails: list[tuple[str, str, bool]] = []
    phones: list[tuple[str, str, bool]] = []
    addresses: list[tuple[str, str, str, str, str, str]] = []
    websites: list[tuple[str, str]] = []
    uid: str | None = None
    rev: str | None = None
    seen: set[str] = set()
    text_map = fmap.text
    struct_map = fmap.struct
    for name, params, value in items:
        if name == "EMAIL":
            type_, pref = _type_info(name, params) if params else ("", False)
            emails.append((unescape(value), type_, pref))
        elif name == "TEL":
            type_, pref = _type_info(name, params) if params else ("", False)
            phones.append((unescape(value), type_, pref))
        elif name == "ADR":
            addresses.append(_address_parts(params, value))
        elif name == "URL":
            websites.append((unescape(value), _type_info(name, params)[0] if params else ""))
        elif name in seen:
            continue
        elif name == "UID":
            seen.add(name)
            uid = unescape(value).strip() or None
        elif name == "REV":
            seen.add(name)
            rev = value
        elif name in text_map:
            seen.add(name)
            canonical = text_map[name]
            if canonical[:7] == CUSTOM_PREFIX:
                custom[canonical[7:]] = unescape(value)
            else:
                scalars[canonical] = unescape(value)
        elif name in struct_map:
            seen.add(name)
            for slot, part in zip(struct_map[name], components(value), strict=False):
                if slot:
                    if slot[:7] == CUSTOM_PREFIX:
                        custom[slot[7:]] = part
                    else:
                        scalars[slot] = part
    if scalars.get("birthday"):
        scalars["birthday"] = parse_bday(scalars["birthday"])
    fields = flat_fields(scalars, emails, phones, addresses, websites, custom, region)
    return fields, uid, parse_rev(rev) if rev else None


# ``apply_fields``, ``new_card``, ``format_bday`` and ``build_card`` were defined here before
# writing had modules of its own, and tests and bench/vcard_codec.py still take them from
# here. Those modules import this one, so the names are looked up when first asked for (and
# then kept in this module's namespace); the code that runs per record imports them from
# their own modules and never comes here.
_MOVED = {
    "apply_fields": "vcard_apply",
    "new_card": "vcard_apply",
    "format_bday": "vcard_apply",
    "build_card": "vcard_build",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"contacthub.formats.{home}"), name)
    globals()[name] = value
    return value
