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

Normalising one value (text, email, phone, type) and the phone and name match keys live in
``model_normalize``; they are re-exported here, so ``contacthub.model`` stays the one place
callers import the model from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contacthub.model_normalize import _SPACES, without_accents
from contacthub.model_normalize import DEFAULT_REGION as DEFAULT_REGION
from contacthub.model_normalize import clean_text as clean_text
from contacthub.model_normalize import email_fold as email_fold
from contacthub.model_normalize import email_key as email_key
from contacthub.model_normalize import name_key as name_key
from contacthub.model_normalize import normalize_email as normalize_email
from contacthub.model_normalize import normalize_phone as normalize_phone
from contacthub.model_normalize import normalize_type as normalize_type
from contacthub.model_normalize import phone_key as phone_key
from contacthub.model_normalize import phone_same_key as phone_same_key
from contacthub.model_normalize import split_extension as split_extension

Fields = dict[str, Any]

NAME_FIELDS = ("given_name", "family_name", "middle_name", "name_prefix", "name_suffix")
#: one name, in parts and as a display name: one edit of a name changes several of them
NAME_GROUP = frozenset({"display_name", *NAME_FIELDS})
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


def is_known_field(name: str) -> bool:
    """Whether ``name`` is a canonical field (``custom.<anything>`` included)."""
    return name in ALL_FIELDS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


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


def made_name(fields: Mapping[str, Any]) -> str:
    """The name ``display_name_of`` makes when there is no display name: from the name
    parts, else the organization or email. What a display name is compared with to tell
    one the parts made (which follows them) from one a person wrote."""
    return display_name_of({**fields, "display_name": ""})


_LONE_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")


def email_stand_in(fields: Mapping[str, Any]) -> bool:
    """Whether the display name is only an email address standing in for a name: a
    person with no name parts and no organization, whom the hub names by an email
    (``made_name``; the hub's contacts all have a name to show). Nobody typed it as a
    name (or, if someone did, it says no more than the email), so it is not written as
    one where a record may have no name: a card whose FN was empty keeps it empty
    (``vcard_apply``). Any email counts, not only the contact's own: the stand-in stays
    when the email it was made from changes."""
    shown = fields.get("display_name")
    return (
        bool(shown)
        and _LONE_EMAIL.fullmatch(str(shown)) is not None
        and not fields.get("organization")
        and not any(fields.get(n) for n in NAME_FIELDS)
    )


_WORD_PARTS = ("name_prefix", "given_name", "middle_name", "family_name")  # as made_name joins them


def split_renamed(parts: dict[str, Any], renamed: str) -> dict[str, Any] | None:
    """The parts of ``renamed``: those still standing as whole words in their place kept,
    the one that changed (or a missing given or family name) taking the words between
    them ("Ann Lee" -> "Ann Lee-Smith": family Lee-Smith; "Ann" -> "Ann Lee": family Lee).
    None when no such split exists or two keep as many parts ("Ann Marie Lee": a new
    given name or a new family name?)."""
    suffix = str(parts.get("name_suffix") or "")
    text = renamed
    if suffix:
        if not renamed.endswith(f", {suffix}"):
            return None
        text = renamed[: -len(suffix) - 2]
    words = text.split()
    held = [(n, str(parts[n]).split()) for n in _WORD_PARTS if parts.get(n)]
    if words == [w for _, ws in held for w in ws]:
        return dict(parts)  # (spaces only)
    splits: list[tuple[int, str, str]] = []
    for at, slot in enumerate(_WORD_PARTS):
        if not parts.get(slot) and slot not in ("given_name", "family_name"):
            continue
        lead = [w for n, ws in held if _WORD_PARTS.index(n) < at for w in ws]
        tail = [w for n, ws in held if _WORD_PARTS.index(n) > at for w in ws]
        if len(lead) + len(tail) > len(words) or words[: len(lead)] != lead:
            continue
        if words[len(words) - len(tail) :] != tail:
            continue
        rest = " ".join(words[len(lead) : len(words) - len(tail)])
        if rest or parts.get(slot):
            kept = sum(1 for n, _ in held if n != slot)
            splits.append((kept, slot, rest))
    if not splits:
        return None
    most = max(kept for kept, _, _ in splits)
    best = [(slot, rest) for kept, slot, rest in splits if kept == most]
    if len(best) != 1:
        return None
    slot, rest = best[0]
    out = {**parts, slot: rest}
    return {k: v for k, v in out.items() if v}


def parts_renamed(before: Mapping[str, Any], renamed: str) -> dict[str, tuple[Any, Any]]:
    """The name parts that change when the display name ``before``'s parts spelled becomes
    ``renamed``, each as (old, new; None: cleared): split by ``split_renamed``, or all
    cleared where no split is sure (a name nobody typed is worse than none). None change
    when the parts did not spell the display name (written another way: not theirs)."""
    parts = {n: before[n] for n in NAME_FIELDS if before.get(n)}
    if not parts or made_name(parts) != before.get("display_name"):
        return {}
    new = split_renamed(parts, renamed) or {}
    return {n: (parts.get(n), new.get(n)) for n in NAME_FIELDS if parts.get(n) != new.get(n)}


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
    if field_name == "emails":
        return (email_fold(str(value)),)
    return (str(value).casefold(),)


def _address_key(item: Mapping[str, Any]) -> tuple[str, ...]:
    """Each part case-folded, its spaces made one, and without the commas and semicolons
    (vCard's list and component separators) at its ends: "Silicon Alley 5," (an iPhone
    card's street, its comma unescaped) and the "Silicon Alley 5" a CardDAV server stores
    for it are one address. As two, a record linked afresh (a book's ``url`` re-spelled)
    gave the person both. A change of only those characters is still an edit of the
    address in place (``merge._same`` compares it as written)."""
    key = []
    for part in ADDRESS_PARTS:
        text = str(item.get(part, ""))
        if text:
            text = _SPACES.sub(" ", text).casefold() if _ANY_SPACE.search(text) else text.casefold()
            if text[0] in _EDGES or text[-1] in _EDGES:
                text = text.strip(_EDGES)
        key.append(text)
    return tuple(key)


_ANY_SPACE = re.compile(r"\s")
#: what an address part's key drops at its ends (``_address_key``)
_EDGES = " ,;"


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
    emails = field_name == "emails"
    for item in items:
        value = item.get("value")
        if not value:
            continue
        if phones:
            key = phone_key(value) or str(value).casefold()
        else:
            key = email_fold(str(value)) if emails else str(value).casefold()
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
    if field_name == "emails":  # an email's case is its spelling, not another value
        return tuple(sorted((k, email_fold(str(v)) if k == "value" else str(v)) for k, v in item.items()))
    return tuple(sorted((k, str(v)) for k, v in item.items()))


def _phone_tuple(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, phone_same_key(str(v)) if k == "value" else str(v)) for k, v in item.items()))


def field_equal(name: str, a: Any, b: Any) -> bool:
    """Equality of one field's values; multi-valued fields compare as sets (order ignored,
    except which element is primary). Emails compare ignoring case: the hub keeps the
    spelling it saw first, and a system holding another ("Bo.Ek@Example.ORG" where the
    hub has "bo.ek@example.org") holds the same value, neither an edit nor to be
    written over. Phones the hub keeps as written (with an extension, say) compare by
    their number and extension (``phone_same_key``): re-punctuated in a CRM, such a phone
    was an edit, written over every other copy."""
    if a is None or a == "" or a == []:
        return b is None or b == "" or b == []
    if b is None:
        return False
    if name in MULTI_FIELDS:
        if len(a) != len(b):
            return False
        if {_element_tuple(name, x) for x in a} == {_element_tuple(name, x) for x in b}:
            return True
        # (only when they differ as written: most phones are E.164, and equal lists common)
        return name == "phones" and {_phone_tuple(x) for x in a} == {_phone_tuple(x) for x in b}
    return bool(a == b)


def keep_spelling(name: str, wanted: Any, held: Any) -> Any:
    """``wanted`` (a field's value to write) with each email spelled as ``held`` (what the
    record holds now) spells the same address: writing a list because another email was
    added must not change the case of those already there (the hub may hold them as
    another system, or an older version that lower-cased every email, spelled them)."""
    if name != "emails" or not wanted or not held:
        return wanted
    spelled = {email_fold(str(e["value"])): e["value"] for e in held}
    out = []
    for item in wanted:
        value = spelled.get(email_fold(str(item["value"])))
        out.append(item if value is None or value == item["value"] else {**item, "value": value})
    return out


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


def held_view(data: Mapping[str, Any], held: frozenset[str] | None) -> Fields:
    """What a connector should hold of a hub contact: ``project``, except that a person
    known only by a display name ("Cher", "Front Desk") keeps it as the given name in a
    connector with name parts but no display name (an Outlook or Google file, a Procore
    user), where the record had no name at all. A company's own contact, whose display
    name is its organization, is shown by that instead."""
    view = project(data, held)
    shown = data.get("display_name")
    if (
        held is not None
        and shown
        and "given_name" in held
        and "display_name" not in held
        and shown != data.get("organization")
        and "@" not in shown  # an email standing in for a name is no first name
        and not any(data.get(n) for n in NAME_FIELDS)
    ):
        view["given_name"] = shown
    return view


def holds_nothing(fields: Mapping[str, Any]) -> bool:
    """No field has a value: written out, such a record is an empty card or a blank row
    (which CSV readers, ours included, skip, so it would read back as deleted)."""
    return all(v is None or v == "" or v == [] or v == {} for v in fields.values())


PHONE_NAME = "phone+name:"
#: the phone+name key of an accented name with its accents left out: stored beside the
#: exact key, and looked up only by names written without them (``lookup_keys``)
PHONE_NAME_PLAIN = "phone+name~:"
#: the key of a person with no email and no phone: their name, a weak key that matches a
#: record only when it holds exactly what the hub holds of them (``engine.matching``)
NAME_ONLY = "name:"


def match_keys(fields: Mapping[str, Any]) -> list[str]:
    """Keys that identify a person across systems, strongest first: ``email:<addr>`` for
    every email (lower-cased: ``email_key``), then ``phone+name:<digits>|<name>`` for
    every phone when there is a name,
    and for a name with accents ``phone+name~:<digits>|<name without them>`` as well: the
    keys a hub stores for a contact. With none of those, ``name:<name>`` (``NAME_ONLY``):
    a row of a name and an address, found again by it when its connector comes back (it
    became a second person everywhere). Records are looked up by ``lookup_keys``."""
    keys = [f"email:{email_key(e['value'])}" for e in fields.get("emails", ())]
    name = name_key(fields)
    if name:
        plain = without_accents(name)
        for p in fields.get("phones", ()):
            digits = phone_key(p["value"])
            if digits:
                keys.append(f"{PHONE_NAME}{digits}|{name}")
                if plain != name:
                    keys.append(f"{PHONE_NAME_PLAIN}{digits}|{plain}")
        if not keys:
            keys.append(f"{NAME_ONLY}{name}")
    return keys


def strong_keys(keys: list[str]) -> list[str]:
    """The keys that point at one person by themselves: not a name alone (``NAME_ONLY``),
    which two people share as easily as one (twins of a run, a person "added again")."""
    return [k for k in keys if not k.startswith(NAME_ONLY)]


def lookup_keys(keys: list[str]) -> list[str]:
    """The keys a record with these ``match_keys`` finds a hub contact by. A name written
    without its accents ("Jose Perez") finds the accented one ("José Pérez") by the same
    phone, and the other way round; but two names whose accents differ (Vietnamese "Lê
    Hùng" and "Lê Hưng", brothers sharing a landline) do not find each other: an accented
    name never looks up the accent-free key other accented names store, only the exact
    key of a name written without accents. (One shared accent-free key merged them, and
    wrote one brother's name over the other's.)"""
    out: list[str] = []
    for key in keys:
        if key.startswith(PHONE_NAME_PLAIN):
            out.append(PHONE_NAME + key[len(PHONE_NAME_PLAIN) :])  # written without accents
            continue
        out.append(key)
        if key.startswith(PHONE_NAME):
            name = key.partition("|")[2]
            if without_accents(name) == name:  # no accents: perhaps left out of an accented name
                out.append(PHONE_NAME_PLAIN + key[len(PHONE_NAME) :])
    return out
