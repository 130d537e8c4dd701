"""Field mapping between the Global Address List and the hub's canonical fields.

One person can be read three ways: a Graph ``user``, a Graph ``orgContact`` (the read-only view
of a mail contact) and Exchange's ``Get-Contact`` answer (the writable mail contact). All three
become the same canonical fields through ``to_fields``, so a record's version (a hash of its
fields) is the same whichever way it was read; that is what lets the connector check, before
it writes, that nobody changed the contact since the hub last saw it (directory objects have
no ETag).

The GAL holds one email address per contact (the external address), one business, one mobile
and one fax number, and one postal address; ``notes`` live only in Exchange (Graph does not
show them). Phone types: business = ``work``, mobile = ``cell``, businessFax = ``fax``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from contacthub.model import Fields, display_name_of, flat_fields

HELD = frozenset(
    {
        "display_name",
        "given_name",
        "family_name",
        "organization",
        "department",
        "job_title",
        "notes",
        "emails",
        "phones",
        "addresses",
    }
)
USER_SELECT = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "proxyAddresses",
    "businessPhones",
    "mobilePhone",
    "faxNumber",
    "jobTitle",
    "department",
    "companyName",
    "officeLocation",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "accountEnabled",
    "userType",
    "onPremisesSyncEnabled",
)
CONTACT_SELECT = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "proxyAddresses",
    "jobTitle",
    "department",
    "companyName",
    "addresses",
    "phones",
    "onPremisesSyncEnabled",
)
#: canonical address part -> (Graph user property, orgContact address key, Exchange parameter)
ADDRESS = (
    ("street", "streetAddress", "street", "StreetAddress"),
    ("city", "city", "city", "City"),
    ("region", "state", "state", "StateOrProvince"),
    ("postal_code", "postalCode", "postalCode", "PostalCode"),
    ("country", "country", "countryOrRegion", "CountryOrRegion"),
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _smtp(value: Any) -> str:
    text = _text(value)
    return text[5:] if text[:5].lower() == "smtp:" else text


def to_fields(
    names: Mapping[str, Any],
    mail: str,
    phones: tuple[str, str, str],
    address: Mapping[str, str],
    region: str,
) -> Fields:
    """``names``: display_name, given_name, family_name, organization, department, job_title,
    notes; ``phones``: (business, mobile, fax); ``address``: canonical part -> text."""
    business, mobile, fax = phones
    phone_list = [(n, t, False) for n, t in ((business, "work"), (mobile, "cell"), (fax, "fax")) if n]
    addresses = []
    if any(address.values()):
        addresses.append(
            (
                address.get("street", ""),
                address.get("city", ""),
                address.get("region", ""),
                address.get("postal_code", ""),
                address.get("country", ""),
                "work",
            )
        )
    return flat_fields(
        {k: _text(v).replace("\r\n", "\n") for k, v in names.items()},
        [(mail, "work", True)] if mail else [],
        phone_list,
        addresses,
        region=region,
    )


def primary_smtp(proxies: Any) -> str:
    """The primary SMTP address among ``proxyAddresses`` (the one spelled ``SMTP:``): a
    user's address when ``mail`` is empty (a mailbox whose ``mail`` was never filled in).
    Secondary ``smtp:`` aliases are not read as emails: the GAL shows one address per
    person, and aliases such as routing addresses would only clutter the cards."""
    for proxy in proxies or []:
        text = _text(proxy)
        if text.startswith("SMTP:") and len(text) > 5:
            return text[5:]
    return ""


def user_fields(user: Mapping[str, Any], region: str) -> Fields:
    phones = user.get("businessPhones") or []
    return to_fields(
        {
            "display_name": user.get("displayName"),
            "given_name": user.get("givenName"),
            "family_name": user.get("surname"),
            "organization": user.get("companyName"),
            "department": user.get("department"),
            "job_title": user.get("jobTitle"),
        },
        _text(user.get("mail")) or primary_smtp(user.get("proxyAddresses")),
        (_text(phones[0] if phones else ""), _text(user.get("mobilePhone")), _text(user.get("faxNumber"))),
        {part: _text(user.get(prop)) for part, prop, _, _ in ADDRESS},
        region,
    )


def org_contact_fields(contact: Mapping[str, Any], notes: str, region: str) -> Fields:
    numbers = {p.get("type"): _text(p.get("number")) for p in contact.get("phones") or [] if p}
    where = (contact.get("addresses") or [{}])[0] or {}
    return to_fields(
        {
            "display_name": contact.get("displayName"),
            "given_name": contact.get("givenName"),
            "family_name": contact.get("surname"),
            "organization": contact.get("companyName"),
            "department": contact.get("department"),
            "job_title": contact.get("jobTitle"),
            "notes": notes,
        },
        _text(contact.get("mail")),
        (numbers.get("business", ""), numbers.get("mobile", ""), numbers.get("businessFax", "")),
        {part: _text(where.get(key)) for part, _, key, _ in ADDRESS},
        region,
    )


def exchange_fields(contact: Mapping[str, Any], region: str) -> Fields:
    """Fields of a ``Get-Contact`` answer (mail contact)."""
    return to_fields(
        {
            "display_name": contact.get("DisplayName"),
            "given_name": contact.get("FirstName"),
            "family_name": contact.get("LastName"),
            "organization": contact.get("Company"),
            "department": contact.get("Department"),
            "job_title": contact.get("Title"),
            "notes": contact.get("Notes"),
        },
        _smtp(contact.get("WindowsEmailAddress") or contact.get("ExternalEmailAddress")),
        (_text(contact.get("Phone")), _text(contact.get("MobilePhone")), _text(contact.get("Fax"))),
        {part: _text(contact.get(param)) for part, _, _, param in ADDRESS},
        region,
    )


def version_of(fields: Fields) -> str:
    """Directory objects carry no ETag: a record's version is a hash of what we read."""
    return hashlib.sha1(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def primary_email(fields: Mapping[str, Any]) -> str:
    emails = fields.get("emails") or []
    return str(emails[0]["value"]) if emails else ""


def _phones(fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """(business, mobile, fax) from canonical phones: the first of each kind."""
    business = mobile = fax = ""
    for phone in fields.get("phones") or []:
        kind = str(phone.get("type") or "")
        value = str(phone.get("value") or "")
        if "fax" in kind:
            fax = fax or value
        elif "cell" in kind or "mobile" in kind:
            mobile = mobile or value
        elif "home" not in kind and "pager" not in kind:
            business = business or value
    return business, mobile, fax


def _address(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    items = fields.get("addresses") or []
    work = [a for a in items if "work" in str(a.get("type") or "")]
    found: Mapping[str, Any] = (work or items or [{}])[0]
    return found


def contact_params(fields: Mapping[str, Any]) -> dict[str, str]:
    """``Set-Contact`` parameters for the whole desired record ("" clears a property)."""
    business, mobile, fax = _phones(fields)
    where = _address(fields)
    params = {
        "DisplayName": display_name_of(fields),
        "FirstName": str(fields.get("given_name") or ""),
        "LastName": str(fields.get("family_name") or ""),
        "Company": str(fields.get("organization") or ""),
        "Department": str(fields.get("department") or ""),
        "Title": str(fields.get("job_title") or ""),
        "Notes": str(fields.get("notes") or ""),
        "Phone": business,
        "MobilePhone": mobile,
        "Fax": fax,
    }
    for part, _, _, param in ADDRESS:
        params[param] = str(where.get(part) or "")
    return params


def user_patch(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``PATCH /users/{id}`` body: what a directory user may have changed by an app.
    ``mail`` is left alone (it belongs to the mailbox); an empty ``displayName`` is refused
    by Graph, so it is only sent when there is one."""
    business, mobile, fax = _phones(fields)
    where = _address(fields)
    body: dict[str, Any] = {
        "givenName": fields.get("given_name") or None,
        "surname": fields.get("family_name") or None,
        "companyName": fields.get("organization") or None,
        "department": fields.get("department") or None,
        "jobTitle": fields.get("job_title") or None,
        "businessPhones": [business] if business else [],
        "mobilePhone": mobile or None,
        "faxNumber": fax or None,
    }
    name = display_name_of(fields)
    if name:
        body["displayName"] = name
    for part, prop, _, _ in ADDRESS:
        body[prop] = where.get(part) or None
    return body
