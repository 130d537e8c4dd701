"""vCard cards <-> canonical flat fields, in both directions.

Reading builds a ``Contact`` and lets ``to_fields`` normalise it, so vCard records compare
with every other connector's. Writing into an existing card changes only the properties
whose canonical value differs from what the card already says, and within a multi-valued
field only the elements that differ: an unchanged ``item1.EMAIL`` keeps its group, params
and original bytes, and everything the hub does not model is never touched.

A user mapping (canonical field -> property name) redirects a scalar field to another
property holding plain text (``department -> X-DEPARTMENT``) or gives a custom field a
home (``custom.trade -> X-TRADE``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from contacthub.errors import ConfigError
from contacthub.formats.vcard_lines import (
    MAX_OCTETS,
    PRODID,
    Card,
    Property,
    components,
    escape,
    first_card_items,
    fold,
    fold_bytes,
    format_property,
    parse_cards,
    unescape,
)
from contacthub.formats.vcard_lines import split_unescaped as _split
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
    clean_text,
    display_name_of,
    element_key,
    field_equal,
    flat_fields,
    is_known_field,
    normalize_phone,
    normalize_type,
    phone_key,
)

_TEXT_DEFAULTS = {"FN": "display_name", "TITLE": "job_title", "NOTE": "notes", "BDAY": "birthday"}
_STRUCT_DEFAULTS: dict[str, tuple[str | None, ...]] = {
    "N": ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix"),
    "ORG": ("organization", "department"),
}
_MULTI_PROPS = {"emails": "EMAIL", "phones": "TEL", "addresses": "ADR", "websites": "URL"}
_RESERVED = frozenset({"BEGIN", "END", "VERSION", "UID", "PRODID", "REV", *_MULTI_PROPS.values()})
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
_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d|--\d\d-\d\d")
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


def format_bday(value: str, version: str) -> tuple[str, dict[str, list[str]]]:
    """A canonical birthday as a BDAY value and params (4.0 allows only basic ISO dates)."""
    if _ISO_DAY.fullmatch(value):
        if version != "4.0":
            return value, {}
        if value[0] == "-":
            return "--" + value[2:].replace("-", ""), {}
        return value.replace("-", ""), {}
    return escape(value), ({"VALUE": ["text"]} if version == "4.0" else {})


def parse_rev(text: str) -> datetime | None:
    """A REV timestamp as an aware UTC datetime, or None when it does not parse."""
    match = _STAMP.fullmatch(text.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, zone = match.groups()
    try:
        stamp = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        stamp = stamp - offset if zone[0] == "+" else stamp + offset
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


Item = tuple[str, dict[str, list[str]], str]


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


# --- writing ----------------------------------------------------------------------------

_ADR_PARTS = ("street", "city", "region", "postal_code", "country")


def _params(type_: str, pref: bool, version: str) -> dict[str, list[str]]:
    types = type_.split()
    if pref and version != "4.0":
        types.append("pref")
    params: dict[str, list[str]] = {"TYPE": types} if types else {}
    if pref and version == "4.0":
        params["PREF"] = ["1"]
    return params


def _element_prop(kind: str, item: Mapping[str, Any], version: str, group: str) -> Property:
    """A new EMAIL/TEL/ADR/URL property for one canonical element."""
    type_ = str(item.get("type", ""))
    if kind == "addresses":
        value = ";;" + ";".join(escape(str(item.get(p, ""))) for p in _ADR_PARTS)
        return Property("ADR", value, _params(type_, False, version), group)
    text = str(item["value"])
    # URLs are URIs, not text: escaping their commas would change them for strict readers
    value = text.replace("\n", " ") if kind == "websites" else escape(text)
    return Property(_MULTI_PROPS[kind], value, _params(type_, bool(item.get("primary")), version), group)


def _element(kind: str, prop: Property, region: str) -> dict[str, Any] | None:
    """One property as the normalised element ``to_fields`` would make of it, with
    ``primary`` meaning "the property itself claims it" rather than "first in the list"."""
    items = items_fields([(prop.name, prop.params, prop.value)], _MULTI_ONLY, region)[0].get(kind)
    if not items:
        return None
    item: dict[str, Any] = items[0]
    if kind in ("emails", "phones"):
        item["primary"] = _type_of(prop)[1]
    return item


def _apply_multi(card: Card, kind: str, wanted: list[dict[str, Any]], version: str, region: str) -> None:
    """Keep the properties whose element is wanted as is, rewrite (in place, same group)
    those whose type or preference changed, drop the rest, add the new ones after them."""
    name = _MULTI_PROPS[kind]
    want = {element_key(kind, item): item for item in wanted}
    used: set[tuple[str, ...]] = set()
    out: list[Property] = []
    last = -1
    for prop in card.properties:
        if prop.name != name:
            out.append(prop)
            continue
        last = len(out)
        item = _element(kind, prop, region)
        if item is None:
            continue  # an empty value means nothing; the hub asked for the whole list
        key = element_key(kind, item)
        target = want.get(key)
        if target is None or key in used:
            continue
        used.add(key)
        out.append(prop if item == dict(target) else _element_prop(kind, target, version, prop.group))
        last = len(out)
    extra = [_element_prop(kind, item, version, "") for key, item in want.items() if key not in used]
    position = last if last >= 0 else len(out)
    out[position:position] = extra
    card.properties = out


def _kept_params(old: Property | None, drop: tuple[str, ...]) -> dict[str, list[str]]:
    """The params of a property being rewritten, minus those its new value would make wrong."""
    if old is None:
        return {}
    gone = {"CHARSET", "ENCODING", *drop}
    return {k: v for k, v in old.params.items() if k not in gone}


def _replace_first(card: Card, name: str, make: Callable[[Property | None], Property | None]) -> None:
    """Replace the first ``name`` property with ``make(it)``; ``None`` removes every one of
    them, so that a cleared field does not read back as a duplicate hiding behind it."""
    index = next((i for i, p in enumerate(card.properties) if p.name == name), -1)
    new = make(card.properties[index] if index >= 0 else None)
    if new is None:
        card.properties = [p for p in card.properties if p.name != name]
    elif index >= 0:
        card.properties[index] = new
    else:
        card.properties.append(new)


def _struct_maker(
    name: str, slots: list[str | None], fields: Mapping[str, Any]
) -> Callable[[Property | None], Property | None]:
    def make(old: Property | None) -> Property | None:
        parts = _split(old.value) if old else []
        size = 5 if name == "N" else 1 + max(i for i, s in enumerate(slots) if s)
        parts += [""] * (size - len(parts))
        for i, slot in enumerate(slots):
            if slot:
                parts[i] = escape(str(fields.get(slot, "")))
        if name != "N":  # components beyond the ones we manage (ORG units) are kept
            while len(parts) > 1 and not parts[-1]:
                parts.pop()
            if not any(parts):
                return None
        params = _kept_params(old, ("SORT-AS",))
        return Property(name, ";".join(parts), params, old.group if old else "")

    return make


def _text_maker(
    name: str, text: str, fields: Mapping[str, Any], version: str
) -> Callable[[Property | None], Property | None]:
    def make(old: Property | None) -> Property | None:
        value = text
        if name == "FN" and not value:
            value = display_name_of(fields)  # FN is required: derive it, even if empty
        elif not value:
            return None
        params = _kept_params(old, ("VALUE", "X-APPLE-OMIT-YEAR"))
        if name == "BDAY":
            value, extra = format_bday(value, version)
            params.update(extra)
        else:
            value = escape(value)
        return Property(name, value, params, old.group if old else "")

    return make


def apply_fields(
    card: Card,
    fields: Mapping[str, Any],
    fmap: FieldMap,
    region: str = DEFAULT_REGION,
    version: str | None = None,
    current: Fields | None = None,
) -> None:
    """Make ``card`` say ``fields`` (the whole desired record), touching only what differs
    from ``current`` (what the card says now; read from it when not given)."""
    version = version or ("4.0" if card.version == "4.0" else "3.0")
    if current is None:
        current = read_fields(card, fmap, region)
    changed = {f for f in (*fmap.fields, *fields) if not field_equal(f, current.get(f), fields.get(f))}
    for prop_name, slots in fmap.struct.items():
        if changed.intersection(s for s in slots if s):
            _replace_first(card, prop_name, _struct_maker(prop_name, slots, fields))
    for prop_name, canonical in fmap.text.items():
        if canonical in changed:
            text = str(fields.get(canonical, ""))
            _replace_first(card, prop_name, _text_maker(prop_name, text, fields, version))
    for kind in MULTI_FIELDS:
        if kind in changed:
            _apply_multi(card, kind, list(fields.get(kind) or []), version, region)
    if card.first("FN") is None:
        card.properties.append(Property("FN", escape(display_name_of(fields))))
    if card.first("N") is None and version != "4.0":
        card.properties.append(Property("N", ";;;;"))  # required in 3.0


def new_card(
    fields: Mapping[str, Any],
    fmap: FieldMap,
    uid: str,
    version: str = "3.0",
    region: str = DEFAULT_REGION,
) -> Card:
    """A fresh card for ``fields``: VERSION, PRODID, UID, FN, N, then the rest."""
    props = [Property("VERSION", version), Property("PRODID", PRODID)]
    props += [Property("UID", escape(uid)), Property("FN", escape(display_name_of(fields)))]
    if version != "4.0":
        props.append(Property("N", ";;;;"))
    card = Card(props, version)
    # FN is already what apply_fields would derive, so the card counts as saying nothing else
    derived = display_name_of(fields)
    current = {"display_name": derived} if derived and fmap.text.get("FN") == "display_name" else {}
    apply_fields(card, fields, fmap, region, version, current)
    return card


# --- the direct builder of new cards ------------------------------------------------------
#
# ``new_card`` + ``serialize_card`` + ``card_fields`` costs ~150 µs a card: Property objects,
# the diffing of ``apply_fields`` and a full normalisation of what the card says. A new card
# needs none of it: ``build_card`` writes the same content lines directly, in the same order
# with the same escaping and folding (tests compare the bytes with the general path), and
# takes the result fields from the values it writes, each read back the way the reader
# would (``unescape(escape(t))`` is ``t`` with CR/CRLF as LF; TYPE params through a memo that
# parses each distinct head once with the real reader). Values already in normal form (the
# usual case: fields come from the hub) skip the normalisers.

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what ``clean_text`` drops
_E164 = re.compile(r"\+[1-9]\d{6,14}")  # a value ``normalize_phone`` returns as it is
_ELEMENTS = (("emails", "EMAIL"), ("phones", "TEL"), ("addresses", "ADR"), ("websites", "URL"))
#: (NAME, type, claims preference, 4.0) -> (content-line head, TYPE as read, normalised, PREF as read)
_HEADS: dict[tuple[str, str, bool, bool], tuple[str, str, str, bool]] = {}


def _crlf_as_lf(text: str) -> str:
    """``unescape(escape(text))``."""
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _clean(text: str) -> str:
    """``clean_text`` of a str, without the call in the usual case."""
    return text.strip() if _CONTROL.search(text) is None else clean_text(text)


def _element_head(name: str, type_: str, pref: bool, v4: bool) -> tuple[str, str, str, bool]:
    """The head (name and params) ``_element_prop`` + ``format_property`` write for an
    element, with the type (as read, and normalised) and the preference a reader takes from
    it: found once per distinct head by reading a one-property card."""
    key = (name, type_, pref, v4)
    found = _HEADS.get(key)
    if found is None:
        params = _params(type_, pref, "4.0" if v4 else "3.0")
        head = format_property(Property(name, "", params))[:-1]
        data = b"BEGIN:VCARD\r\n" + fold(head + ":x") + b"END:VCARD\r\n"
        items = first_card_items(data, frozenset({name}))
        if items is None:
            items = [(p.name, p.params, p.value) for p in parse_cards(data)[0].properties if p.name == name]
        read = items[0][1]
        type_read, pref_read = _type_info(name, read) if read else ("", False)
        found = (head, type_read, normalize_type(type_read), pref_read)
        if len(_HEADS) < 4096:
            _HEADS[key] = found
    return found


def build_card(
    fields: Mapping[str, Any],
    fmap: FieldMap,
    uid: str,
    version: str = "3.0",
    region: str = DEFAULT_REGION,
) -> tuple[bytes, Fields]:
    """``serialize_card(new_card(...))`` and the fields a read of those bytes gives.

    "Changed" below is what ``apply_fields`` tests against the card ``new_card`` starts
    from: a value that is not None, "" or []. The result is built alongside from the text
    each property reads back as; elements whose values are normal and distinct as written
    (the usual case: fields from the hub) are taken as they are, and any other card is read
    back from its bytes."""
    v4 = version == "4.0"
    lines = ["BEGIN:VCARD", "VERSION:4.0" if v4 else "VERSION:3.0", "PRODID:" + PRODID, "UID:" + escape(uid)]
    get = fields.get
    text_map = fmap.text
    # canonical field -> its text as written (a reader gets it with CR and CRLF as LF), in card order
    read: dict[str, str] = {}

    # FN, always written; what ``apply_fields`` makes of it when it holds a field
    fn = display_name_of(fields)
    fn_field = text_map.get("FN")
    if fn_field is not None:
        value = get(fn_field)
        if fn_field == "display_name" and fn:  # new_card's FN already says it: changed if not equal
            changed = value is None or fn != value
        else:
            changed = not (value is None or value == "" or value == [])
        if changed:
            fn = str(get(fn_field, "")) or display_name_of(fields)
        read[fn_field] = fn
    lines.append("FN:" + escape(fn))

    # N and ORG (N stays where new_card put it in 3.0, where it is required)
    for prop_name, slots in fmap.struct.items():
        for slot in slots:
            if slot:
                value = get(slot)
                if not (value is None or value == "" or value == []):
                    break
        else:
            if prop_name == "N" and not v4:
                lines.append("N:;;;;")
            continue
        parts = []
        for slot in slots:
            if slot:
                text = str(get(slot, ""))
                parts.append(escape(text))
                read[slot] = text
            else:
                parts.append("")
        if prop_name != "N":
            while len(parts) > 1 and not parts[-1]:
                parts.pop()
            if not any(parts):
                continue
        lines.append(prop_name + ":" + ";".join(parts))

    # the other text properties, in the map's order
    for prop_name, canonical in text_map.items():
        value = get(canonical)
        if value is None or value == "" or value == [] or prop_name == "FN":
            continue
        text = str(value)
        if not text:
            continue
        if prop_name == "BDAY":
            written, params = format_bday(text, version)
            lines.append(("BDAY;VALUE=text:" if params else "BDAY:") + written)
            read[canonical] = unescape(written)
        else:
            lines.append(prop_name + ":" + escape(text))
            read[canonical] = text

    # the scalar and custom fields of the result (``flat_fields``: always exact)
    out: Fields = {}
    plain = _CONTROL.search("".join(read.values())) is None  # then clean_text is strip (and no CR)
    if not plain:
        for canonical, value in read.items():
            read[canonical] = _crlf_as_lf(value)
    birthday = read.get("birthday")
    if birthday:
        read["birthday"] = parse_bday(birthday)
    for name in SCALAR_FIELDS:
        value = read.get(name)
        if value:
            value = value.strip() if plain else clean_text(value)
            if value:
                out[name] = value
    if "display_name" not in out:
        derived = display_name_of(out)
        if derived:
            out["display_name"] = derived

    # EMAIL, TEL, ADR, URL: each element once (by ``element_key``, the last one winning).
    # ``normal``: every value reads back as written, already normal (so still distinct).
    normal = True
    checked: list[str] = []  # values that must hold no control character
    for kind, prop_name in _ELEMENTS:
        wanted = get(kind)
        if wanted is None or wanted == "" or wanted == []:
            continue
        elements = list(wanted or [])
        if len(elements) > 1:  # (one element is one element whatever its key)
            if kind == "emails" or kind == "websites":
                keys: list[Any] = [str(item["value"]).casefold() for item in elements]
            elif kind == "phones":
                keys = [phone_key(item["value"]) or str(item["value"]).casefold() for item in elements]
            else:
                keys = [element_key(kind, item) for item in elements]
            if len(set(keys)) < len(keys):
                elements = list(dict(zip(keys, elements, strict=True)).values())
        items: list[dict[str, Any]] = []
        primary = -1
        for item in elements:
            type_ = item.get("type", "")
            if type(type_) is not str:
                type_ = str(type_)
            if kind == "addresses":
                texts = [str(item.get(p, "")) for p in _ADR_PARTS]
                found = _HEADS.get(("ADR", type_, False, v4)) or _element_head("ADR", type_, False, v4)
                head, _, type_norm, _ = found
                lines.append(head + ":;;" + ";".join([escape(t) for t in texts]))
                if normal:
                    checked += texts
                    for t in texts:
                        if t.strip() != t:
                            normal = False
                    street, city, area, code, country = texts
                    normal = normal and bool(street or city or area or code or country)
                    items.append(
                        {
                            "street": street,
                            "city": city,
                            "region": area,
                            "postal_code": code,
                            "country": country,
                            "type": type_norm,
                        }
                    )
                continue
            text = item["value"]
            if type(text) is not str:
                text = str(text)
            key = (prop_name, type_, bool(item.get("primary")), v4)
            head, _, type_norm, pref = _HEADS.get(key) or _element_head(*key)
            if kind == "websites":
                value = text.replace("\n", " ")
                if "\r" in value:
                    value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
                lines.append(head + ":" + value)
                if normal:
                    normal = bool(text) and "\\" not in text and "\n" not in text and text.strip() == text
                    checked.append(text)
                    items.append({"value": text, "type": type_norm})
                continue
            lines.append(head + ":" + escape(text))
            if normal:
                if kind == "emails":
                    normal = (
                        bool(text) and text.strip() == text and text.lower() == text and text[:7] != "mailto:"
                    )
                    checked.append(text)
                else:  # E.164, or a number normalize_phone keeps as it is written
                    normal = _E164.fullmatch(text) is not None or (
                        text != "" and normalize_phone(text, region) == text
                    )
                if pref and primary < 0:
                    primary = len(items)
                items.append({"value": text, "type": type_norm, "primary": False})
        if normal and items:
            if kind == "emails" or kind == "phones":
                if primary <= 0:
                    items[0]["primary"] = True
                else:
                    items[primary]["primary"] = True
                    items.insert(0, items.pop(primary))
            out[kind] = items
    lines.append("END:VCARD")
    data = _fold_lines(lines)
    if normal and checked and _CONTROL.search("".join(checked)) is not None:
        normal = False
    if not normal:
        return data, _read_fields(data, fmap, region)

    for canonical, value in read.items():  # in card order, as ``items_fields`` collects them
        if canonical[:7] == CUSTOM_PREFIX:
            value = value.strip() if plain else clean_text(value)
            name = clean_text(canonical[7:])
            if value and name:
                out[CUSTOM_PREFIX + name] = value
    return data, out


def _read_fields(data: bytes, fmap: FieldMap, region: str) -> Fields:
    """The fields of a card's bytes, as ``VCardCodec.read`` gives them."""
    names = frozenset({"EMAIL", "TEL", "ADR", "URL", "UID", "REV", *fmap.text, *fmap.struct})
    items = first_card_items(data, names)
    if items is None:
        return card_fields(parse_cards(data)[0], fmap, region)[0]
    return items_fields(items, fmap, region)[0]


def _fold_lines(lines: list[str]) -> bytes:
    """The lines as CRLF-terminated UTF-8, each folded as ``fold`` does."""
    text = "\r\n".join(lines)
    if text.isascii():
        if max(map(len, lines)) <= MAX_OCTETS:
            return (text + "\r\n").encode("ascii")
        segments = [line.encode("ascii") for line in lines]
    else:
        segments = text.encode("utf-8").split(b"\r\n")
        if max(map(len, segments)) <= MAX_OCTETS:
            return b"\r\n".join(segments) + b"\r\n"
    for i, segment in enumerate(segments):
        if len(segment) > MAX_OCTETS:
            segments[i] = fold_bytes(segment)[:-2]
    return b"\r\n".join(segments) + b"\r\n"
