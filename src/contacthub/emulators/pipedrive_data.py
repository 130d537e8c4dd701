"""The Pipedrive emulator's company: persons, organizations and person fields as it stores
them, their times and v2 shapes, and the ``--state`` file that keeps them across restarts.

Why a separate module: the wire shapes (v2 flat ids and RFC 3339 times, v1 nested owner and
organization with ``YYYY-MM-DD HH:MM:SS`` times and custom fields as top-level 40-character
keys) are most of what makes the emulator faithful, and they are easier to check when the
routes in ``emulators.pipedrive`` stay thin. What a write body may hold is checked by
``PersonRules`` (``pipedrive_rules``), mixed into ``Company``.

A soft-deleted person stays readable by id (``is_deleted: true``) but leaves the lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contacthub.emulators.pipedrive_rules import (
    EMAIL_LABELS,
    MAX_NAME,
    PERSON_BODY_KEYS,
    PHONE_LABELS,
    Invalid,
    PersonRules,
)

__all__ = [
    "BUILTIN_FIELDS",
    "COMPANY_ID",
    "CUSTOM_FIELDS",
    "EMAIL_LABELS",
    "MAX_NAME",
    "OWNER",
    "PERSON_BODY_KEYS",
    "PHONE_LABELS",
    "Company",
    "Invalid",
    "field_key",
    "parse_time",
    "rfc3339",
    "v1time",
]

OWNER = {"id": 12001, "name": "Alex Seller", "email": "alex.seller@example.com"}
COMPANY_ID = 7001


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1time(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str) -> float:
    """RFC 3339 (``2025-01-01T10:20:00Z``, with or without fraction or offset)."""
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"Invalid date-time format: {text!r}, expected RFC3339") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def field_key(name: str) -> str:
    """Custom fields are keyed by a random-looking 40-character hex hash."""
    return hashlib.sha1(f"pipedrive-emulator:{name}".encode()).hexdigest()


BUILTIN_FIELDS: list[tuple[str, str, str]] = [
    ("name", "Name", "varchar"),
    ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"),
    ("org_id", "Organization", "org"),
    ("owner_id", "Owner", "user"),
    ("email", "Email", "varchar"),
    ("phone", "Phone", "phone"),
    ("label_ids", "Labels", "set"),
    ("visible_to", "Visible to", "visible_to"),
    ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"),
]
CUSTOM_FIELDS: list[tuple[str, str, list[str]]] = [
    ("Job title", "varchar", []),
    ("Department", "varchar", []),
    ("Notes", "text", []),
    ("Birthday", "date", []),
    ("Customer type", "enum", ["Private person", "Company", "Partner"]),
    ("Preferred language", "varchar", []),
    ("Annual value", "monetary", []),
]


class Company(PersonRules):
    """One Pipedrive company's data, shared by every request (a lock keeps writes whole)."""

    def __init__(self, contact_sync: bool = False) -> None:
        self.lock = threading.RLock()
        self.persons: dict[int, dict[str, Any]] = {}
        self.orgs: dict[int, dict[str, Any]] = {}
        self.fields: list[dict[str, Any]] = []
        self.contact_sync = contact_sync
        self.next_person = 1
        self.next_org = 1
        self._last_time = 0.0
        for i, (key, name, kind) in enumerate(BUILTIN_FIELDS):
            self.fields.append(self._field(i + 1, key, name, kind, [], custom=False))
        for j, (name, kind, options) in enumerate(CUSTOM_FIELDS):
            self.add_field(name, kind, options, order=len(BUILTIN_FIELDS) + j + 1)

    # --- fields ---------------------------------------------------------------------------

    def _field(
        self, fid: int, key: str, name: str, kind: str, options: list[str], *, custom: bool
    ) -> dict[str, Any]:
        field: dict[str, Any] = {
            "id": fid,
            "key": key,
            "name": name,
            "order_nr": fid,
            "field_type": kind,
            "add_time": "2024-03-01 09:00:00",
            "update_time": "2024-03-01 09:00:00",
            "last_updated_by_user_id": OWNER["id"],
            "created_by_user_id": OWNER["id"],
            "active_flag": True,
            "edit_flag": custom,
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": True,
            "searchable_flag": kind in ("varchar", "text"),
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": key == "name",
        }
        if options:
            field["options"] = [{"id": 100 + fid * 10 + n, "label": label} for n, label in enumerate(options)]
        return field

    def add_field(self, name: str, kind: str, options: list[str], order: int | None = None) -> dict[str, Any]:
        with self.lock:
            fid = order or len(self.fields) + 1
            field = self._field(fid, field_key(name), name, kind, options, custom=True)
            self.fields.append(field)
            return field

    def custom_fields(self) -> list[dict[str, Any]]:
        return [f for f in self.fields if f["edit_flag"] and f["active_flag"]]

    # --- time -----------------------------------------------------------------------------

    def now(self) -> float:
        """Strictly increasing times, so ``sort_by=update_time`` has one order."""
        with self.lock:
            t = max(time.time(), self._last_time + 1e-6)
            self._last_time = t
            return t

    # --- organizations --------------------------------------------------------------------

    def add_org(self, name: str, address: str = "") -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise Invalid("Organization name is required")
        with self.lock:
            t = self.now()
            oid = self.next_org
            org: dict[str, Any] = {
                "id": oid,
                "name": name.strip(),
                "owner_id": OWNER["id"],
                "add_time": t,
                "update_time": t,
                "is_deleted": False,
                "visible_to": 3,
                "address": {"value": address} if address else None,
                "label_ids": [],
                "custom_fields": {},
            }
            self.orgs[oid] = org
            self.next_org += 1
            return org

    def org_v2(self, org: dict[str, Any]) -> dict[str, Any]:
        out = dict(org, add_time=rfc3339(org["add_time"]), update_time=rfc3339(org["update_time"]))
        if out["address"] is None:
            del out["address"]
        return out

    # --- persons: writes ------------------------------------------------------------------

    def create_person(self, body: Any) -> dict[str, Any]:
        with self.lock:
            person: dict[str, Any] = {
                "id": 0,
                "name": "",
                "first_name": "",
                "last_name": "",
                "owner_id": OWNER["id"],
                "org_id": None,
                "emails": [],
                "phones": [],
                "is_deleted": False,
                "visible_to": 3,
                "label_ids": [],
                "picture_id": None,
                "custom_fields": {},
            }
            self.apply_body(person, body, creating=True)
            t = self.now()
            person.update(id=self.next_person, add_time=t, update_time=t)
            self.persons[person["id"]] = person
            self.next_person += 1
            return person

    def update_person(self, pid: int, body: Any) -> dict[str, Any] | None:
        with self.lock:
            person = self.persons.get(pid)
            if person is None or person["is_deleted"]:
                return None
            draft = dict(person)
            self.apply_body(draft, body, creating=False)
            draft["update_time"] = self.now()
            person.clear()
            person.update(draft)
            return person

    def delete_person(self, pid: int) -> bool:
        with self.lock:
            person = self.persons.get(pid)
            if person is None or person["is_deleted"]:
                return False
            person.update(is_deleted=True, update_time=self.now())
            return True

    # --- persons: shapes ------------------------------------------------------------------

    def person_v2(self, p: dict[str, Any]) -> dict[str, Any]:
        custom = {f["key"]: p["custom_fields"].get(f["key"]) for f in self.custom_fields()}
        out: dict[str, Any] = {
            "id": p["id"],
            "name": p["name"],
            "first_name": p["first_name"],
            "last_name": p["last_name"] or None,
            "owner_id": p["owner_id"],
            "org_id": p["org_id"],
            "add_time": rfc3339(p["add_time"]),
            "update_time": rfc3339(p["update_time"]),
            "emails": [dict(e) for e in p["emails"]],
            "phones": [dict(x) for x in p["phones"]],
            "is_deleted": p["is_deleted"],
            "visible_to": p["visible_to"],
            "label_ids": list(p["label_ids"]),
            "picture_id": p["picture_id"],
            "custom_fields": custom,
        }
        if self.contact_sync:
            for key in ("notes", "job_title", "birthday", "postal_address", "im"):
                if p.get(key) is not None:
                    out[key] = p[key]
        return out

    # --- persistence (``--state FILE``: the demo keeps its data across restarts) --------

    def save(self, path: Path) -> None:
        """Write the company to ``path`` atomically (a crash leaves the previous file)."""
        with self.lock:
            data = {
                "persons": list(self.persons.values()),
                "orgs": list(self.orgs.values()),
                "fields": self.fields,
                "next_person": self.next_person,
                "next_org": self.next_org,
                "last_time": self._last_time,
            }
            text = json.dumps(data, ensure_ascii=False)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        with self.lock:
            self.persons = {int(p["id"]): p for p in data["persons"]}
            self.orgs = {int(o["id"]): o for o in data["orgs"]}
            self.fields = list(data["fields"])
            self.next_person = int(data["next_person"])
            self.next_org = int(data["next_org"])
            self._last_time = float(data["last_time"])

    # --- seed -----------------------------------------------------------------------------

    def seed(self, persons: int, seed: int = 7) -> None:
        """Realistic CRM data (``pipedrive_seed``)."""
        from contacthub.emulators.pipedrive_seed import seed_company

        seed_company(self, persons, seed)
