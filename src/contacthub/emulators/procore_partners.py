"""Vendors and people of the Procore emulator's directory, with Procore's write rules and
their documented JSON shapes."""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from contacthub.emulators.procore_values import EMAIL, PERSON_TEXT, VENDOR_TEXT, Refused, as_bool, iso


class PartnerRecords:
    """Mixed into ``ProcoreState``, which sets these attributes and defines the three
    methods below."""

    lock: threading.RLock
    users: dict[int, dict[str, Any]]
    vendors: dict[int, dict[str, Any]]
    people: dict[int, dict[str, Any]]
    projects: dict[int, dict[str, Any]]

    def now(self) -> float:
        raise NotImplementedError

    def next_id(self) -> int:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    # --- vendors ------------------------------------------------------------------------------

    def _new_vendor(self, attrs: dict[str, Any], when: float | None = None) -> dict[str, Any]:
        when = self.now() if when is None else when
        vendor: dict[str, Any] = {name: None for name in VENDOR_TEXT}
        vendor.update(id=self.next_id(), is_active=True, created_at=when, updated_at=when)
        self._apply_vendor(vendor, attrs)
        self.vendors[vendor["id"]] = vendor
        return vendor

    def _apply_vendor(self, vendor: dict[str, Any], attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            if key in VENDOR_TEXT:
                vendor[key] = None if value in (None, "") else str(value)
            elif key == "is_active":
                vendor[key] = as_bool(value)

    def validate_vendor(self, attrs: dict[str, Any], current: dict[str, Any] | None) -> None:
        errors: dict[str, list[str]] = {}
        if (current is None or "name" in attrs) and not str(attrs.get("name") or "").strip():
            errors["name"] = ["can't be blank"]
        email = attrs.get("email_address")
        if email and not EMAIL.match(str(email)):
            errors["email_address"] = ["is invalid"]
        if errors:
            raise Refused(422 if current is not None or "name" in attrs else 400, errors)
        _origin_unique(self.vendors, attrs, current)

    def create_vendor(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.validate_vendor(attrs, None)
            vendor = self._new_vendor(attrs)
            self.save()
            return vendor

    def update_vendor(self, vid: int, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            vendor = self.vendors.get(vid)
            if vendor is None:
                raise Refused(404, "Not Found")
            self.validate_vendor(attrs, vendor)
            self._apply_vendor(vendor, attrs)
            vendor["updated_at"] = self.now()
            self.save()
            return vendor

    def contact_counts(self) -> Counter[int]:
        """Active users per vendor, counted once per listing rather than once per vendor."""
        return Counter(u["vendor_id"] for u in self.users.values() if u["vendor_id"] and u["is_active"])

    def vendor_json(self, vendor: dict[str, Any], counts: Counter[int] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {name: vendor.get(name) for name in VENDOR_TEXT}
        counts = self.contact_counts() if counts is None else counts
        out.update(
            id=vendor["id"],
            is_active=vendor["is_active"],
            company=vendor.get("name"),
            is_connected=False,
            authorized_bidder=True,
            prequalified=False,
            union_member=False,
            non_union_prevailing_wage=False,
            synced_to_erp=False,
            logo=None,
            business_id=None,
            business_register=None,
            attachments=[],
            contact_count=counts[vendor["id"]],
            children_count=0,
            parent=None,
            vendor_group=None,
            primary_contact=None,
            project_ids=sorted(p["id"] for p in self.projects.values() if vendor["id"] in p["vendor_ids"]),
            trades=[{"id": zlib.crc32(vendor["trade_name"].encode()) % 1000, "name": vendor["trade_name"]}]
            if vendor.get("trade_name")
            else [],
            created_at=iso(vendor["created_at"]),
            updated_at=iso(vendor["updated_at"]),
        )
        return out

    # --- people ---------------------------------------------------------------------------------

    def _new_person(self, attrs: dict[str, Any], when: float | None = None) -> dict[str, Any]:
        when = self.now() if when is None else when
        person: dict[str, Any] = {name: None for name in PERSON_TEXT}
        person.update(
            id=self.next_id(), is_employee=False, active=True, vendor_id=None, mobile_phone=None,
            business_phone=None, created_at=when, updated_at=when,
        )  # fmt: skip
        self._apply_person(person, attrs)
        self.people[person["id"]] = person
        return person

    def _apply_person(self, person: dict[str, Any], attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            if key in PERSON_TEXT or key in ("mobile_phone", "business_phone"):
                person[key] = None if value in (None, "") else str(value)
            elif key in ("is_employee", "active"):
                person[key] = as_bool(value)
            elif key == "vendor_id":
                person[key] = int(value) if value not in (None, "") else None

    def create_person(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if not str(attrs.get("last_name") or "").strip():
                raise Refused(400, {"last_name": ["can't be blank"]})
            _origin_unique(self.people, attrs, None)
            person = self._new_person(attrs)
            self.save()
            return person

    def update_person(self, pid: int, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            person = self.people.get(pid)
            if person is None:
                raise Refused(404, "Not Found")
            if "last_name" in attrs and not str(attrs.get("last_name") or "").strip():
                raise Refused(422, {"last_name": ["can't be blank"]})
            _origin_unique(self.people, attrs, person)
            self._apply_person(person, attrs)
            person["updated_at"] = self.now()
            self.save()
            return person

    def people_rows(self, active: bool) -> Iterable[dict[str, Any]]:
        """Company people: every user (as the person it is) and every reference person."""
        for user in self.users.values():
            if user["is_active"] == active:
                yield {"_user": user, "id": user["contact_id"]}
        for person in self.people.values():
            if person["active"] == active:
                yield person

    def person_json(self, row: dict[str, Any], view: str = "normal") -> dict[str, Any]:
        user = row.get("_user")
        if user is not None:
            base = {
                "id": row["id"],
                "first_name": user.get("first_name"),
                "last_name": user.get("last_name"),
                "is_employee": user["is_employee"],
                "employee_id": user.get("employee_id"),
                "user_id": user["id"],
                "user_uuid": user["id"],
                "work_classification_id": user.get("work_classification_id"),
                "origin_id": user.get("origin_id"),
                "contact": {"is_active": user["is_active"], "email": user.get("email_address")},
            }
            extra = {
                "vendor_id": user.get("vendor_id"),
                "email": user.get("email_address"),
                "mobile_phone": user.get("mobile_phone"),
                "business_phone": user.get("business_phone"),
                "job_title": user.get("job_title"),
                "created_at": user["created_at"],
                "updated_at": user["updated_at"],
            }
        else:
            base = {
                "id": row["id"],
                "first_name": row.get("first_name"),
                "last_name": row.get("last_name"),
                "is_employee": row["is_employee"],
                "employee_id": row.get("employee_id"),
                "user_id": None,
                "user_uuid": None,
                "work_classification_id": None,
                "origin_id": row.get("origin_id"),
                "contact": {"is_active": row["active"], "email": row.get("email_address")},
            }
            extra = {
                "vendor_id": row.get("vendor_id"),
                "email": row.get("email_address"),
                "mobile_phone": row.get("mobile_phone"),
                "business_phone": row.get("business_phone"),
                "job_title": row.get("job_title"),
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        if view != "extended":
            return base
        vendor = self.vendors.get(extra["vendor_id"]) if extra["vendor_id"] else None
        base.update(
            reference_user=user is None,
            vendor={"id": vendor["id"], "name": vendor["name"]} if vendor else None,
            email=extra["email"],
            mobile_phone=extra["mobile_phone"],
            business_phone=extra["business_phone"],
            job_title=extra["job_title"],
            created_at=iso(extra["created_at"]),
            updated_at=iso(extra["updated_at"]),
        )
        return base


def _origin_unique(
    records: dict[int, dict[str, Any]], attrs: dict[str, Any], current: dict[str, Any] | None
) -> None:
    """Procore: "Origin IDs are unique within a company", a duplicate answered 409 (as for
    users, ``ProcoreState.validate_user``), among vendors and among people without a login,
    active or not (a deactivated record keeps its ``origin_id``). Served 201 for a second
    vendor with an origin id already taken, a client that creates again what it made and
    deactivated (an undo of a deletion) made duplicates here that Procore refuses. A scan:
    vendors and reference people are few."""
    origin = attrs.get("origin_id")
    if origin in (None, ""):
        return
    for record in records.values():
        if record.get("origin_id") == str(origin) and (current is None or record["id"] != current["id"]):
            raise Refused(409, {"origin_id": ["has already been taken"]})
