"""Procore directory records <-> canonical contact fields.

A company user holds one email (``email_address``), three phones (``business_phone``,
``mobile_phone``, ``fax_number``), one address (``address``, ``city``, ``state_code``, ``zip``,
``country_code``), names, job title, notes, and its vendor, whose name is the contact's
organization. A vendor is an organization contact (name, email, phones, address, website,
trade). A person without a login carries names, email, phones, job title and vendor.

What a record cannot hold is dropped on the way out; the record as it reads back is what
the hub keeps as the baseline, so a second email or a home address in the hub never makes
Procore look changed. Procore wants ISO 3166 codes for countries and states: a country
name we recognise is turned into its code, anything else is left out rather than refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from contacthub.model import Fields, flat_fields, split_extension
from contacthub.times import utc

USER_SCALARS: dict[str, str] = {
    "given_name": "first_name",
    "family_name": "last_name",
    "job_title": "job_title",
    "notes": "notes",
}
#: native text attributes a custom mapping may name (``"custom.employee_id" = "employee_id"``)
USER_MAPPABLE = frozenset(
    {
        "first_name",
        "last_name",
        "job_title",
        "notes",
        "employee_id",
        "email_signature",
        "initials",
        "origin_data",
    }
)
PHONE_SLOTS = (("business_phone", "work"), ("mobile_phone", "cell"), ("fax_number", "fax"))
PHONE_TYPES = {
    "work": "business_phone",
    "cell": "mobile_phone",
    "mobile": "mobile_phone",
    "fax": "fax_number",
}

COUNTRIES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB",
    "germany": "DE", "deutschland": "DE", "france": "FR", "canada": "CA", "australia": "AU",
    "ireland": "IE", "spain": "ES", "españa": "ES", "italy": "IT", "italia": "IT",
    "netherlands": "NL", "mexico": "MX", "méxico": "MX", "japan": "JP", "china": "CN",
    "india": "IN", "brazil": "BR", "brasil": "BR", "new zealand": "NZ", "sweden": "SE",
    "norway": "NO", "denmark": "DK", "poland": "PL", "switzerland": "CH", "austria": "AT",
    "belgium": "BE", "portugal": "PT", "south africa": "ZA", "singapore": "SG",
    "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA",
}  # fmt: skip
CODE = re.compile(r"[A-Za-z]{2}")
STATE = re.compile(r"[A-Za-z0-9]{1,3}")


def version_of(updated_at: str | None, fields: Fields, active: bool = True) -> str:
    """``updated_at`` has one-second resolution; the digest of what we read tells two edits
    within the same second apart, and an inactive record from the same one active (a user
    reactivated the second the hub deactivated it kept its version, so the reactivation
    was never read and the person never came back)."""
    payload = fields if active else {**fields, "~inactive": True}
    digest = hashlib.blake2b(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()
    return f"{updated_at or ''}~{digest}"


def updated_of(version: str | None) -> str:
    return (version or "").partition("~")[0]


def parse_time(text: str | None) -> datetime | None:
    """An ``updated_at`` in UTC; one without a zone is UTC (``astimezone`` took it for the
    machine's local time), one UTC cannot hold is none (its OverflowError crashed the run)."""
    if not text:
        return None
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _address(native: Mapping[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    parts = [str(native.get(k) or "") for k in ("address", "city", "state_code", "zip", "country_code")]
    return [(parts[0], parts[1], parts[2], parts[3], parts[4], "work")] if any(parts) else []


def _phones(native: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """A user's ``business_phone_extension`` is part of its business phone, read as
    "<number> ext. <extension>" (``business_extension`` writes it so)."""
    out: list[tuple[str, str, bool]] = []
    for slot, kind in PHONE_SLOTS:
        value = native.get(slot)
        if value:
            ext = native.get("business_phone_extension") if slot == "business_phone" else None
            text = f"{value} ext. {ext}" if ext not in (None, "") else str(value)
            out.append((text, kind, not out))
    return out


def business_extension(phone: str | None) -> tuple[str | None, int | None]:
    """A user's business phone as Procore keeps it: the number in ``business_phone`` and
    its extension in ``business_phone_extension``, an integer (the OAS's type). Written
    whole, "+1 (212) 555-0103 ext. 315" stayed in the phone's text and the extension
    field was never used. An extension an integer cannot hold as written (a leading 0,
    one too long) stays in the text: read back otherwise, it would be another phone, and
    written again on every run."""
    if not phone:
        return phone, None
    number, ext = split_extension(phone)
    if not ext or ext[0] == "0" or len(ext) > 9:
        return phone, None
    return number, int(ext)


def user_fields(native: Mapping[str, Any], mapping: Mapping[str, str], region: str) -> Fields:
    scalars: dict[str, Any] = {
        canon: native.get(attr) for canon, attr in mapping.items() if not canon.startswith("custom.")
    }
    vendor = native.get("vendor") or {}
    scalars["organization"] = vendor.get("name") if isinstance(vendor, dict) else None
    email = native.get("email_address")
    custom = {
        canon[7:]: str(native.get(attr) or "")
        for canon, attr in mapping.items()
        if canon.startswith("custom.")
    }
    return flat_fields(
        scalars,
        [(str(email), "work", True)] if email else [],
        _phones(native),
        _address(native),
        custom=custom,
        region=region,
    )


def vendor_fields(native: Mapping[str, Any], region: str) -> Fields:
    email = native.get("email_address")
    website = native.get("website")
    custom = {"trade": str(native.get("trade_name") or "")}
    return flat_fields(
        {
            "organization": native.get("name"),
            "display_name": native.get("name"),
            "notes": native.get("notes"),
        },
        [(str(email), "work", True)] if email else [],
        _phones(native),
        _address(native),
        [(str(website), "work")] if website else [],
        custom=custom,
        region=region,
    )


def person_fields(native: Mapping[str, Any], region: str) -> Fields:
    contact = native.get("contact") or {}
    email = native.get("email") or (contact.get("email") if isinstance(contact, dict) else None)
    vendor = native.get("vendor") or {}
    return flat_fields(
        {
            "given_name": native.get("first_name"),
            "family_name": native.get("last_name"),
            "job_title": native.get("job_title"),
            "organization": vendor.get("name") if isinstance(vendor, dict) else None,
        },
        [(str(email), "work", True)] if email else [],
        _phones(native),
        region=region,
    )


def country_code(value: str) -> str | None:
    text = value.strip()
    if CODE.fullmatch(text):
        return text.upper()
    return COUNTRIES.get(text.casefold())


def state_code(value: str) -> str | None:
    text = value.strip()
    return text.upper() if STATE.fullmatch(text) else None


def phone_slots(fields: Mapping[str, Any]) -> dict[str, str | None]:
    """Phones into the three slots: typed ones first (work, cell, fax), the rest fill the
    free slots in order (business, then mobile)."""
    slots: dict[str, str | None] = {"business_phone": None, "mobile_phone": None, "fax_number": None}
    rest = []
    for phone in fields.get("phones") or ():
        # by the type's words, its kind first: "home cell" (a card's TYPE=cell,home) and
        # "work x-main" (a phone app's own type beside the place), taken whole, were no
        # type, and a mobile filled the business slot
        words = str(phone.get("type") or "").split()
        slot = next((PHONE_TYPES[w] for w in ("fax", "cell", "mobile", "work") if w in words), None)
        if slot and slots[slot] is None:
            slots[slot] = str(phone["value"])
        else:
            rest.append(str(phone["value"]))
    for slot in ("business_phone", "mobile_phone"):
        if slots[slot] is None and rest:
            slots[slot] = rest.pop(0)
    return slots


def address_attrs(fields: Mapping[str, Any]) -> dict[str, str | None]:
    addresses = list(fields.get("addresses") or ())
    chosen = next((a for a in addresses if a.get("type") == "work"), addresses[0] if addresses else {})
    return {
        "address": chosen.get("street") or None,
        "city": chosen.get("city") or None,
        "state_code": state_code(chosen.get("region") or "") if chosen.get("region") else None,
        "zip": chosen.get("postal_code") or None,
        "country_code": country_code(chosen.get("country") or "") if chosen.get("country") else None,
    }


def primary_email(fields: Mapping[str, Any]) -> str | None:
    emails = list(fields.get("emails") or ())
    chosen = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    return str(chosen["value"]) if chosen else None


def user_attrs(fields: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """The ``user`` body for the fields we hold (the vendor is resolved by the connector)."""
    attrs: dict[str, Any] = {}
    for canon, attr in mapping.items():
        value = fields.get(canon)
        attrs[attr] = str(value) if value else None
    attrs["email_address"] = primary_email(fields)
    attrs.update(phone_slots(fields))
    attrs["business_phone"], attrs["business_phone_extension"] = business_extension(attrs["business_phone"])
    attrs.update(address_attrs(fields))
    return attrs


def vendor_attrs(fields: Mapping[str, Any]) -> dict[str, Any]:
    slots = phone_slots(fields)
    websites = list(fields.get("websites") or ())
    return {
        "name": fields.get("organization") or fields.get("display_name") or None,
        "email_address": primary_email(fields),
        "business_phone": slots["business_phone"],
        "mobile_phone": slots["mobile_phone"],
        "fax_number": slots["fax_number"],
        "website": str(websites[0]["value"]) if websites else None,
        "notes": fields.get("notes") or None,
        "trade_name": fields.get("custom.trade") or None,
        **address_attrs(fields),
    }


def person_attrs(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "first_name": fields.get("given_name") or None,
        "last_name": fields.get("family_name") or fields.get("display_name") or None,
        "job_title": fields.get("job_title") or None,
    }
