"""What the Pipedrive emulator accepts in a person's v2 create or update body, and how it
applies one: names, organization, owner and visibility, labelled emails and phones, labels,
marketing status and custom field values.

Why a separate module: these rules are most of what makes a write faithful, and they are
easier to check on their own than inside the company's store (``pipedrive_data``). Where
Pipedrive's documentation is silent the emulator picks the stricter reading, so a connector
that works here works there: unknown body keys are refused and numbers are never coerced
from strings. A body is checked whole before any change is made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

EMAIL_LABELS = ("work", "home", "other")
PHONE_LABELS = ("work", "home", "mobile", "other")
PERSON_BODY_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "owner_id",
        "org_id",
        "add_time",
        "update_time",
        "emails",
        "phones",
        "visible_to",
        "label_ids",
        "marketing_status",
        "custom_fields",
    }
)
MAX_NAME = 255


class Invalid(Exception):
    """A request Pipedrive refuses with 400 and this message."""


class PersonRules:
    """Mixed into ``Company``, which sets ``orgs`` and defines ``custom_fields``."""

    orgs: dict[int, dict[str, Any]]

    def custom_fields(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _check_custom(self, values: Any) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise Invalid("custom_fields must be an object")
        by_key = {f["key"]: f for f in self.custom_fields()}
        out: dict[str, Any] = {}
        for key, value in values.items():
            field = by_key.get(key)
            if field is None:
                raise Invalid(f"Unknown custom field key: {key}")
            if value is None:
                out[key] = None
                continue
            kind = field["field_type"]
            if kind == "enum":
                ids = {o["id"] for o in field.get("options", [])}
                if type(value) is not int or value not in ids:
                    raise Invalid(f"Invalid option id for custom field {field['name']!r}: {value!r}")
            elif kind == "set":
                # v2: the chosen options' ids, an array of numbers (v1's "123,456" string is
                # refused, as numbers are never coerced from strings)
                ids = {o["id"] for o in field.get("options", [])}
                if not isinstance(value, list) or any(type(v) is not int or v not in ids for v in value):
                    raise Invalid(f"Invalid option ids for custom field {field['name']!r}: {value!r}")
                value = list(dict.fromkeys(value))
            elif kind == "monetary":
                # "a numeric value and a currency value": {value, currency}, both given
                amount, currency = (
                    (value.get("value"), value.get("currency")) if isinstance(value, dict) else (None, None)
                )
                if type(amount) not in (int, float) or not isinstance(currency, str) or not currency.strip():
                    raise Invalid(f"Monetary field {field['name']!r} needs {{value: number, currency: code}}")
            elif kind == "date":
                try:
                    datetime.strptime(str(value), "%Y-%m-%d")
                except ValueError:
                    raise Invalid(f"Invalid date for custom field {field['name']!r}: {value!r}") from None
            elif kind == "double":
                if type(value) not in (int, float):
                    raise Invalid(f"Numeric field {field['name']!r} needs a number")
            elif not isinstance(value, str):
                raise Invalid(f"Text field {field['name']!r} needs a string")
            elif kind == "varchar" and len(value) > 255:
                raise Invalid(f"Value of {field['name']!r} is longer than 255 characters")
            out[key] = value
        return out

    def _items(self, values: Any, what: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
        if not isinstance(values, list):
            raise Invalid(f"{what} must be an array")
        out = []
        for item in values:
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise Invalid(f"{what}: every item needs a string value")
            label = item.get("label", "work")
            if label not in labels:
                raise Invalid(f"{what}: label must be one of {', '.join(labels)}")
            primary = item.get("primary", False)
            if type(primary) is not bool:
                raise Invalid(f"{what}: primary must be a boolean")
            out.append({"value": item["value"], "primary": primary, "label": label})
        if sum(1 for i in out if i["primary"]) > 1:
            raise Invalid(f"{what}: only one item can be primary")
        if out and not any(i["primary"] for i in out):
            out[0]["primary"] = True
        return out

    def apply_body(self, person: dict[str, Any], body: Any, *, creating: bool) -> None:
        """Check a v2 create/update body and apply it; ``Invalid`` before any change."""
        if not isinstance(body, dict):
            raise Invalid("Request body must be a JSON object")
        unknown = set(body) - PERSON_BODY_KEYS
        if unknown:
            raise Invalid(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for key in ("name", "first_name", "last_name"):
            if key in body and not isinstance(body[key], str):
                raise Invalid(f"{key} must be a string")
        if "name" in body:
            # the parts given with a name are kept as given ("Mary Ann" / "van der Berg"
            # with "Mary Ann van der Berg"); only a part not given comes from the v1 split
            # of the name (its first word, the rest), which a name alone gets
            name = body["name"].strip()
            first, _, last = name.partition(" ")
            changes.update(
                name=name,
                first_name=body.get("first_name", first).strip(),
                last_name=body.get("last_name", last).strip(),
            )
        elif "first_name" in body or "last_name" in body:
            first = body.get("first_name", person.get("first_name", "")).strip()
            last = body.get("last_name", person.get("last_name", "")).strip()
            changes.update(name=" ".join(p for p in (first, last) if p), first_name=first, last_name=last)
        if creating and not changes.get("name"):
            raise Invalid("Either name or first_name and last_name must be given")
        if "name" in changes and not changes["name"]:
            raise Invalid("Name cannot be empty")
        if len(changes.get("name", "")) > MAX_NAME:
            raise Invalid(f"Name is longer than {MAX_NAME} characters")
        if "org_id" in body:
            org = body["org_id"]
            if org is not None and (
                type(org) is not int or org not in self.orgs or self.orgs[org]["is_deleted"]
            ):
                raise Invalid(f"Organization with id {org!r} was not found")
            changes["org_id"] = org
        for key in ("owner_id", "visible_to"):
            if key in body:
                if type(body[key]) is not int:
                    raise Invalid(f"{key} must be an integer")
                if key == "visible_to" and body[key] not in (1, 3, 5, 7):
                    raise Invalid("visible_to must be 1, 3, 5 or 7")
                changes[key] = body[key]
        if "emails" in body:
            changes["emails"] = self._items(body["emails"], "emails", EMAIL_LABELS)
        if "phones" in body:
            changes["phones"] = self._items(body["phones"], "phones", PHONE_LABELS)
        if "label_ids" in body:
            if not isinstance(body["label_ids"], list) or any(type(x) is not int for x in body["label_ids"]):
                raise Invalid("label_ids must be an array of integers")
            changes["label_ids"] = body["label_ids"]
        if "custom_fields" in body:
            custom = dict(person.get("custom_fields", {}))
            custom.update(self._check_custom(body["custom_fields"]))
            changes["custom_fields"] = custom
        if "marketing_status" in body and body["marketing_status"] not in (
            "no_consent",
            "unsubscribed",
            "subscribed",
            "archived",
        ):
            raise Invalid("marketing_status is not valid")
        person.update(changes)
