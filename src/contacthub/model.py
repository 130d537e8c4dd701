"""The canonical contact, and normalisation and equality, defined once.

Everything that moves between connectors and the hub is a flat ``Fields`` dict: one key per
field that the merge treats as a unit, JSON-ready, already normalised.

- scalar fields (``SCALAR_FIELDS``): a non-empty string, or the key is absent;
- multi-valued fields (``MULTI_FIELDS``): a non-empty list of small dicts (``emails``,
  ``phones``, ``addresses``, ``websites``), merged as sets by ``element_key``;
- custom fields: ``custom.<name>`` -> string.

The flat dict is what the store keeps as baselines and hub values and what the merge walks,
so it is deliberately plain: no classes to rebuild on the hot path, and one JSON encode away
from the database. ``Contact`` is the typed view connectors use to build those dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Fields = dict[str, Any]

NAME_FIELDS = ("given_name", "family_name", "middle_name", "name_prefix", "name_suffix")
SCALAR_FIELDS = (
    "display_name",
    *NAME_FIELDS,
    "organization",
    "department",
    "job_title",
    "notes",
    "birthday",
)
MULTI_FIELDS = ("emails", "phones", "addresses", "websites")
ADDRESS_PARTS = ("street", "city", "region", "postal_code", "country")
CUSTOM_PREFIX = "custom."
ALL_FIELDS = (*SCALAR_FIELDS, *MULTI_FIELDS)

DEFAULT_REGION = "US"


def is_known_field(name: str) -> bool:
    """Whether ``name`` is a canonical field (``custom.<anything>`` included)."""
    return name in ALL_FIELDS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


# --- normalisation -------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE_PUNCT = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
#: a US number without country code, in the notations people write it in
_NANP_NATIONAL = re.compile(r"\(?[2-9][0-9]{2}\)?[ .-]?[ ]?[0-9]{3}[ .-]?[0-9]{4}")
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")
_NANP_EXTENSION = re.compile(r"(\+1[ (]*[2-9][0-9 ().-]*?) *(?:ext\.?|x) *[0-9]{1,6}", re.I)
_DIALLED = re.compile(r"[0-9 ().-]+")
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]+")


def clean_text(value: object) -> str:
    """Trim a value and drop control characters other than newlines and tabs."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text.strip()


def normalize_email(value: str) -> str:
    """Emails compare case-insensitively and without surrounding space or ``mailto:``."""
    text = clean_text(value)
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.lower()


def normalize_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164 where the number parses (``region`` for numbers without a country code); the
    original text, trimmed, where it does not.

    Numbers already written as ``+<digits>`` skip phonenumbers: it costs ~27 µs a call and the
    result would be the same digits, which matters at 50,000 contacts. So do US national
    numbers in their usual notations (``(202) 555-0147``, ``202.555.0147``): ten digits not
    starting with 0 or 1 are always a possible NANP number, ``+1`` and the digits; a NANP
    number with an extension (E.164 drops it); and, with region US, digits starting with a
    0 that cannot be a US number (neither 7 nor 10 of them, no 011 prefix) stay as written.
    The tests check these shortcuts against phonenumbers.
    """
    text = clean_text(value)
    if text[:4].lower() == "tel:":
        text = text[4:]
    if not text:
        return ""
    compact = _PHONE_PUNCT.sub("", text)
    if _E164.fullmatch(compact):
        return compact
    if region == "US":
        if _NANP_NATIONAL.fullmatch(text):
            return "+1" + compact
        if (
            text[0] == "0"
            and _DIALLED.fullmatch(text)
            and len(compact) not in (7, 10)
            and compact[:3] != "011"
        ):
            return text  # a foreign national number: not a possible US number
        ext = _NANP_EXTENSION.fullmatch(text)
        if ext is not None:
            head = _PHONE_PUNCT.sub("", ext.group(1))
            if _NANP_E164.fullmatch(head):
                return head  # E.164 has no extensions
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(number):
        return text
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_type(value: str | None) -> str:
    """Types (work, home, cell...) are lower-case single words; empty means unspecified."""
    if value is None or value == "":
        return ""
    found = _TYPE_MEMO.get(value) if type(value) is str else None
    if found is None:
        found = _SPACES.sub(" ", clean_text(value)).lower()
        if type(value) is str and len(_TYPE_MEMO) < 4096:
            _TYPE_MEMO[value] = found
    return found


#: a few dozen type strings cover whole address books; bounded against hostile input
_TYPE_MEMO: dict[str, str] = {}


def phone_key(value: str) -> str:
    """A match key for a phone: its digits (an E.164 value already is one)."""
    if value.isascii():
        return _NOT_ASCII_DIGIT.sub("", value)
    return "".join(c for c in value if c.isdigit())  # str.isdigit: Unicode digits too


def name_key(fields: Mapping[str, Any]) -> str:
    """A match key for a name: given + family, else the display name, case- and space-folded."""
    parts = [fields.get("given_name", ""), fields.get("family_name", "")]
    text = " ".join(p for p in parts if p) or fields.get("display_name", "")
    return _SPACES.sub(" ", str(text)).strip().casefold()


# --- the typed view ---------------------------------------------------------------------------


@dataclass(slots=True)
class Email:
    value: str
    type: str = ""
    primary: bool = False


@dataclass(slots=True)
class Phone:
    value: str
    type: str = ""
    primary: bool = False


@dataclass(slots=True)
class Address:
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    type: str = ""


@dataclass(slots=True)
class Website:
    value: str
    type: str = ""


@dataclass(slots=True)
class Contact:
    """A person (or organisation) as connectors build it; ``to_fields`` normalises it."""

    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    middle_name: str = ""
    name_prefix: str = ""
    name_suffix: str = ""
    organization: str = ""
    department: str = ""
    job_title: str = ""
    notes: str = ""
    birthday: str = ""
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    websites: list[Website] = field(default_factory=list)
    custom: dict[str, str] = field(default_factory=dict)

    def to_fields(self, region: str = DEFAULT_REGION) -> Fields:
        """The normalised flat form; see the module docstring."""
        return flat_fields(
            {name: getattr(self, name) for name in SCALAR_FIELDS},
            [(e.value, e.type, e.primary) for e in self.emails],
            [(p.value, p.type, p.primary) for p in self.phones],
            [(a.street, a.city, a.region, a.postal_code, a.country, a.type) for a in self.addresses],
            [(w.value, w.type) for w in self.websites],
            self.custom,
            region,
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Contact:
        contact = cls(**{name: fields.get(name, "") for name in SCALAR_FIELDS})
        contact.emails = [Email(**e) for e in fields.get("emails", ())]
        contact.phones = [Phone(**p) for p in fields.get("phones", ())]
        contact.addresses = [Address(**a) for a in fields.get("addresses", ())]
        contact.websites = [Website(**w) for w in fields.get("websites", ())]
        contact.custom = {
            k[len(CUSTOM_PREFIX) :]: v for k, v in fields.items() if k.startswith(CUSTOM_PREFIX)
        }
        return contact


def display_name_of(fields: Mapping[str, Any]) -> str:
    """The name to show: the display name, else the joined name parts, else org or email."""
    if fields.get("display_name"):
        return str(fields["display_name"])
    parts = [fields.get(n, "") for n in ("name_prefix", "given_name", "middle_name", "family_name")]
    name = " ".join(p for p in parts if p)
    if name and fields.get("name_suffix"):
        name = f"{name}, {fields['name_suffix']}"
    if name:
        return name
    if fields.get("organization"):
        return str(fields["organization"])
    emails = fields.get("emails") or []
    return str(emails[0]["value"]) if emails else ""


def flat_fields(
    scalars: Mapping[str, Any],
    emails: Iterable[tuple[str, str | None, bool]] = (),
    phones: Iterable[tuple[str, str | None, bool]] = (),
    addresses: Iterable[tuple[str, str, str, str, str, str | None]] = (),
    websites: Iterable[tuple[str, str | None]] = (),
    custom: Mapping[str, str] | None = None,
    region: str = DEFAULT_REGION,
) -> Fields:
    """``Contact.to_fields`` without the ``Contact``: the normalised flat form of raw values
    (scalar field -> text, absent meaning empty; (value, type, primary) per email and phone;
    (street, city, region, postal code, country, type) per address; (value, type) per
    website; custom name -> text). Readers on the hot path call it directly."""
    out: Fields = {}
    for name in SCALAR_FIELDS:
        value = scalars.get(name)
        if value is None or value == "":
            continue
        value = clean_text(value)
        if value:
            out[name] = value
    if "display_name" not in out:
        derived = display_name_of(out)
        if derived:
            out["display_name"] = derived
    items: list[dict[str, Any]]
    if emails:
        items = [
            {"value": normalize_email(value), "type": normalize_type(type_), "primary": primary}
            for value, type_, primary in emails
        ]
        items = _normalize_owned("emails", items)
        if items:
            out["emails"] = items
    if phones:
        items = [
            {"value": normalize_phone(value, region), "type": normalize_type(type_), "primary": primary}
            for value, type_, primary in phones
        ]
        items = _normalize_owned("phones", items)
        if items:
            out["phones"] = items
    if addresses:
        items = [
            {
                "street": clean_text(street),
                "city": clean_text(city),
                "region": clean_text(area),
                "postal_code": clean_text(code),
                "country": clean_text(country),
                "type": normalize_type(type_),
            }
            for street, city, area, code, country, type_ in addresses
        ]
        items = _normalize_owned("addresses", items)
        if items:
            out["addresses"] = items
    if websites:
        items = [{"value": clean_text(value), "type": normalize_type(type_)} for value, type_ in websites]
        items = _normalize_owned("websites", items)
        if items:
            out["websites"] = items
    if custom:
        for key, value in custom.items():
            text = clean_text(value)
            name = clean_text(key)
            if text and name:
                out[CUSTOM_PREFIX + name] = text
    return out


# --- multi-valued fields ----------------------------------------------------------------------


def element_key(field_name: str, item: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two elements of a multi-valued field the same element (the set identity)."""
    if field_name == "addresses":
        return _address_key(item)
    value = item["value"]
    if field_name == "phones":
        return (phone_key(value) or str(value).casefold(),)
    return (str(value).casefold(),)


def _address_key(item: Mapping[str, Any]) -> tuple[str, ...]:
    key = []
    for part in ADDRESS_PARTS:
        text = str(item.get(part, ""))
        if text:
            text = _SPACES.sub(" ", text).casefold() if _ANY_SPACE.search(text) else text.casefold()
        key.append(text)
    return tuple(key)


_ANY_SPACE = re.compile(r"\s")


def normalize_multi(field_name: str, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drop empty and repeated elements; keep exactly one primary, first in the list.

    Emails and phones carry ``primary``; the first element that claims it keeps it (or the
    first element, when none does), so that equal sets normalise to equal lists.
    """
    return _normalize_owned(field_name, [dict(item) for item in items])


def _normalize_owned(field_name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``normalize_multi`` of dicts the caller gives away (kept and changed, not copied)."""
    out: list[dict[str, Any]] = []
    if field_name == "addresses":
        seen_parts: set[tuple[str, ...]] = set()
        for item in items:
            if not any(item.get(p) for p in ADDRESS_PARTS):
                continue
            parts = _address_key(item)
            if parts not in seen_parts:
                seen_parts.add(parts)
                out.append(item)
        return out
    seen: set[str] = set()
    phones = field_name == "phones"
    for item in items:
        value = item.get("value")
        if not value:
            continue
        key = (phone_key(value) or str(value).casefold()) if phones else str(value).casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    if out and (phones or field_name == "emails"):
        index = 0
        for i, item in enumerate(out):
            if item.get("primary"):
                index = i
                break
        for i, item in enumerate(out):
            item["primary"] = i == index
        if index:
            out.insert(0, out.pop(index))
    return out


def _element_tuple(field_name: str, item: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, str(v)) for k, v in item.items()))


def field_equal(name: str, a: Any, b: Any) -> bool:
    """Equality of one field's values; multi-valued fields compare as sets (order ignored,
    except which element is primary)."""
    if a is None or a == "" or a == []:
        return b is None or b == "" or b == []
    if b is None:
        return False
    if name in MULTI_FIELDS:
        if len(a) != len(b):
            return False
        return {_element_tuple(name, x) for x in a} == {_element_tuple(name, x) for x in b}
    return bool(a == b)


def fields_equal(a: Mapping[str, Any], b: Mapping[str, Any], names: Iterable[str] | None = None) -> bool:
    """Equality of two flat contacts over ``names`` (default: every field either has)."""
    keys = set(names) if names is not None else set(a) | set(b)
    return all(field_equal(k, a.get(k), b.get(k)) for k in keys)


def project(fields: Mapping[str, Any], held: frozenset[str] | None) -> Fields:
    """Only the fields a connector holds (``None``: all of them, custom fields included)."""
    if held is None:
        return dict(fields)
    return {
        k: v for k, v in fields.items() if k in held or (k.startswith(CUSTOM_PREFIX) and "custom.*" in held)
    }


def match_keys(fields: Mapping[str, Any]) -> list[str]:
    """Keys that identify a person across systems, strongest first: ``email:<addr>`` for
    every email, then ``phone+name:<digits>|<name>`` for every phone when there is a name."""
    keys = [f"email:{e['value']}" for e in fields.get("emails", ())]
    name = name_key(fields)
    if name:
        keys += [
            f"phone+name:{phone_key(p['value'])}|{name}"
            for p in fields.get("phones", ())
            if phone_key(p["value"])
        ]
    return keys
