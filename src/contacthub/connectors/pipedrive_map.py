"""Pipedrive persons <-> canonical fields.

Pipedrive keeps name, first and last name, labelled email and phone lists with one primary,
an organization id, and custom fields keyed by 40-character hashes. API v2 cannot write a
person's job title, notes or birthday (they exist only as read-only "contact sync" fields), so
those canonical fields map to *custom* person fields found by name (the default mapping:
"Job title", "Department", "Notes", "Birthday"); any other custom field is
``custom.<its name>``. A mapped name the company has no custom field for is simply not held:
the connector neither reads nor writes it (``PersonSchema.missing`` names them).

A text field named by the ``hub_id_field`` setting keeps the hub's id of the contact a person
was created for, so a create whose answer was lost (a run killed mid-write) is recognised by
the next pull even for a person without an email or phone to match on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from contacthub.model import CUSTOM_PREFIX, Contact, Email, Fields, Phone, display_name_of
from contacthub.times import utc

BASE_FIELDS = frozenset({"display_name", "given_name", "family_name", "organization", "emails", "phones"})
DEFAULT_MAPPING: dict[str, str] = {
    "job_title": "Job title",
    "department": "Department",
    "notes": "Notes",
    "birthday": "Birthday",
}
#: custom field types whose values round-trip as text; others are read but never written
WRITABLE_TYPES = frozenset(
    {"varchar", "varchar_auto", "text", "phone", "date", "double", "enum", "set", "monetary"}
)
#: Pipedrive's label for a canonical type word, in the order the words are looked for: a
#: phone's kind (a mobile) before its place
PHONE_LABELS = {"cell": "mobile", "mobile": "mobile", "work": "work", "home": "home", "other": "other"}
EMAIL_LABELS = {"work": "work", "home": "home", "other": "other"}


def _label(kind: Any, labels: Mapping[str, str]) -> str:
    """The label for a canonical type, which may be several words (``home x-useless``, a
    phone app's own type beside the place; ``home cell``): taken whole, such a home number
    was labelled "other". An untyped value is "work"; one with no word Pipedrive has,
    "other"."""
    words = str(kind or "").split()
    if not words:
        return "work"
    return next((label for word, label in labels.items() if word in words), "other")


#: a birthday without a year (``BDAY:--0412``, common from phones), as the hub holds it
_YEARLESS = re.compile(r"--\d\d-\d\d")


class Unwritable(ValueError):
    """A value Pipedrive cannot hold (an option label the field does not have)."""


class PersonSchema:
    """The company's custom person fields, resolved once per run: which canonical field
    each one carries (mapping first, else ``custom.<name>``)."""

    def __init__(
        self, fields: list[dict[str, Any]], mapping: Mapping[str, str], hub_id_field: str = ""
    ) -> None:
        custom = [
            f
            for f in fields
            if f.get("edit_flag") and f.get("active_flag", True) and len(str(f.get("key", ""))) == 40
        ]
        by_name = {str(f.get("name", "")).strip().casefold(): f for f in custom}
        self.by_key: dict[str, tuple[str, dict[str, Any]]] = {}
        self.by_canonical: dict[str, dict[str, Any]] = {}
        self.missing: list[str] = []
        claimed: set[str] = set()
        #: the custom field that keeps our contact id (``hub_id_field``), when there is one
        self.hub_id_key = ""
        if hub_id_field:
            found = by_name.get(hub_id_field.strip().casefold())
            if found is None:
                self.missing.append(hub_id_field)
            else:
                self.hub_id_key = str(found["key"])
                claimed.add(self.hub_id_key)
        for canonical, name in mapping.items():
            if not name:
                continue
            found = by_name.get(name.strip().casefold())
            if found is None:
                self.missing.append(name)
                continue
            self._add(canonical, found)
            claimed.add(found["key"])
        for f in custom:
            if f["key"] not in claimed and f.get("field_type") in WRITABLE_TYPES:
                self._add(CUSTOM_PREFIX + str(f["name"]).strip(), f)

    def _add(self, canonical: str, field: dict[str, Any]) -> None:
        self.by_key[field["key"]] = (canonical, field)
        self.by_canonical[canonical] = field

    def held(self) -> frozenset[str]:
        return BASE_FIELDS | frozenset(self.by_canonical)


def version_of(update_time: Any, fields: Fields) -> str:
    """``update_time`` has one-second resolution, so two edits in one second would share
    it: the version adds a digest of the fields as read (of the mapped fields only, so a list
    and a get, which may carry different extra keys, give the same version)."""
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{update_time or ''}|{digest}"


def modified_of(person: Mapping[str, Any]) -> datetime | None:
    text = str(person.get("update_time") or "")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return utc(parsed)  # at an offset UTC cannot hold, none: the engine's conversion crashed


def _text(value: Any, field: Mapping[str, Any]) -> str:
    kind = field.get("field_type")
    if value is None or value == "":
        return ""
    options = {o.get("id"): str(o.get("label", "")) for o in field.get("options") or []}
    if kind == "enum":
        return options.get(value, options.get(_int(value), str(value)))
    if kind == "set":
        ids = value if isinstance(value, list) else str(value).split(",")
        return ", ".join(options.get(_int(i), str(i)) for i in ids if str(i).strip())
    if kind == "monetary" and isinstance(value, dict):
        amount, currency = value.get("value"), value.get("currency")
        return f"{_number(amount)} {currency}".strip() if amount is not None else ""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _number(value)
    return str(value)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_fields(person: Mapping[str, Any], schema: PersonSchema, org_name: str, region: str) -> Fields:
    contact = Contact(
        display_name=str(person.get("name") or ""),
        given_name=str(person.get("first_name") or ""),
        family_name=str(person.get("last_name") or ""),
        organization=org_name,
        emails=[
            Email(str(e.get("value", "")), str(e.get("label") or ""), bool(e.get("primary")))
            for e in person.get("emails") or []
            if isinstance(e, dict)
        ],
        phones=[
            Phone(
                str(p.get("value", "")),
                "cell" if p.get("label") == "mobile" else str(p.get("label") or ""),
                bool(p.get("primary")),
            )
            for p in person.get("phones") or []
            if isinstance(p, dict)
        ],
    )
    extra: dict[str, str] = {}
    for key, value in (person.get("custom_fields") or {}).items():
        entry = schema.by_key.get(key)
        if entry is not None:
            text = _text(value, entry[1])
            if text:
                extra[entry[0]] = text
    for canonical, text in extra.items():
        if canonical.startswith(CUSTOM_PREFIX):
            contact.custom[canonical[len(CUSTOM_PREFIX) :]] = text
        else:
            setattr(contact, canonical, text)
    return contact.to_fields(region)


def _value(text: str, field: Mapping[str, Any]) -> Any:
    """A canonical text as the custom field's v2 value."""
    kind = field.get("field_type")
    options = {str(o.get("label", "")).casefold(): o.get("id") for o in field.get("options") or []}
    if kind == "enum":
        if text.casefold() not in options:
            raise Unwritable(f"{field.get('name')!r} has no option {text!r}")
        return options[text.casefold()]
    if kind == "set":
        labels = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [label for label in labels if label.casefold() not in options]
        if unknown:
            raise Unwritable(f"{field.get('name')!r} has no option {unknown[0]!r}")
        return [options[label.casefold()] for label in labels]
    if kind == "double":
        try:
            number = float(text)
        except ValueError:
            raise Unwritable(f"{field.get('name')!r} needs a number, not {text!r}") from None
        return int(number) if number.is_integer() else number
    if kind == "monetary":
        amount, _, currency = text.partition(" ")
        try:
            number = float(amount)
        except ValueError:
            raise Unwritable(f"{field.get('name')!r} needs an amount and a currency, not {text!r}") from None
        if not currency.strip():
            # v2 holds "a numeric value and a currency value"; no currency is refused there
            raise Unwritable(f"{field.get('name')!r} needs an amount and a currency (2300 EUR), not {text!r}")
        return {"value": int(number) if number.is_integer() else number, "currency": currency.strip()}
    if kind == "date":
        if _YEARLESS.fullmatch(text):
            return None  # no date without a year there: emptied, the hub keeps it (``to_body``)
        try:
            datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            raise Unwritable(f"{field.get('name')!r} needs a date YYYY-MM-DD, not {text!r}") from None
    return text


def to_body(
    fields: Mapping[str, Any], schema: PersonSchema, org_id: int | None, hub_id: str | None = None
) -> dict[str, Any]:
    """The v2 create/update body for a whole desired record (fields left out are cleared);
    ``hub_id`` goes to the hub id field on creates.

    A date field cannot hold a date without a year (a birthday ``--04-12``): it is emptied,
    as Outlook's Birthday cell is, never given a made-up year, and the rest of the person
    is written (refused whole, such a person never reached Pipedrive, and one whose
    birthday lost its year there took no later edit). Emptied rather than left as it was:
    an older date kept there would be a birthday the hub no longer has, a disagreement
    every run wrote again. ``as_held`` reads the body without the date, so the person
    agrees with the hub (``PipedriveConnector.read_back``) and the empty field read back
    is the baseline, no edit that erases the birthday elsewhere."""
    body: dict[str, Any] = {}
    given, family = str(fields.get("given_name", "")), str(fields.get("family_name", ""))
    if given or family:
        body["first_name"], body["last_name"] = given, family
    else:
        body["name"] = display_name_of(fields) or "(no name)"
    body["emails"] = [
        {
            "value": e["value"],
            "primary": bool(e.get("primary")),
            "label": _label(e.get("type"), EMAIL_LABELS),
        }
        for e in fields.get("emails", ())
    ]
    body["phones"] = [
        {
            "value": p["value"],
            "primary": bool(p.get("primary")),
            "label": _label(p.get("type"), PHONE_LABELS),
        }
        for p in fields.get("phones", ())
    ]
    body["org_id"] = org_id
    custom: dict[str, Any] = {}
    for canonical, field in schema.by_canonical.items():
        text = fields.get(canonical)
        custom[field["key"]] = _value(str(text), field) if text else None
    if hub_id and schema.hub_id_key:
        custom[schema.hub_id_key] = hub_id
    if custom:
        body["custom_fields"] = custom
    return body


def as_held(body: Mapping[str, Any]) -> dict[str, Any]:
    """The person a create/update ``body`` (``to_body``) leaves in Pipedrive, in the shape
    of its answers: the name made of the parts given (``first_name last_name``; a name alone
    split at its first space), emails and phones with one primary (the first when none
    is), the custom values as sent (``to_fields`` reads them back through their options)."""
    if "name" in body:
        name = str(body["name"]).strip()
        first, _, last = name.partition(" ")
    else:
        first, last = str(body.get("first_name", "")).strip(), str(body.get("last_name", "")).strip()
        name = " ".join(p for p in (first, last) if p)

    def items(key: str) -> list[dict[str, Any]]:
        out = [dict(i) for i in body.get(key) or []]
        if out and not any(i.get("primary") for i in out):
            out[0]["primary"] = True
        return out

    return {
        "name": name,
        "first_name": first.strip(),
        "last_name": last.strip(),
        "emails": items("emails"),
        "phones": items("phones"),
        "custom_fields": dict(body.get("custom_fields") or {}),
    }
