"""A new vCard card's bytes, and the fields reading them gives, written directly.

The create hot path: ``build_card`` gives what ``new_card`` + ``serialize_card`` +
``card_fields`` would, byte for byte and field for field, at a fraction of the cost (see the
comment below). Apart from ``vcard_apply`` because it is a second, faster implementation of
the same output that must be read next to the general one it mirrors, not mixed into it, and
because connectors creating cards need nothing of the in-place update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from contacthub.formats.vcard_apply import _ADR_PARTS, _params, format_bday
from contacthub.formats.vcard_card import (
    MAX_OCTETS,
    PRODID,
    Property,
    escape,
    fold,
    fold_bytes,
    format_property,
    unescape,
)
from contacthub.formats.vcard_lines import (
    first_card_items,
    parse_cards,
)
from contacthub.formats.vcard_map import (
    FieldMap,
    _type_info,
    card_fields,
    items_fields,
    parse_bday,
)
from contacthub.model import (
    CUSTOM_PREFIX,
    DEFAULT_REGION,
    SCALAR_FIELDS,
    Fields,
    clean_text,
    display_name_of,
    element_key,
    email_fold,
    normalize_email,
    normalize_phone,
    normalize_type,
    phone_key,
)

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
            if kind == "websites":
                keys: list[Any] = [str(item["value"]).casefold() for item in elements]
            elif kind == "emails":
                keys = [email_fold(str(item["value"])) for item in elements]
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
                    normal = bool(text) and normalize_email(text) == text
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
