"""The Procore emulator's data: one company's directory (users, vendors, people, projects),
OAuth grants, and the rules Procore applies to writes.

Everything here is plain Python on dicts so the FastAPI layer (``procore.py``) stays a thin
translation of HTTP to these calls. Records are shaped exactly as Procore's documentation
spells them (``procore-directory.json``, the SDK model pages): list and show views differ
the way the vendor's do, empty values are ``null``, timestamps are ISO 8601 UTC to the
second. One lock guards every change: FastAPI runs plain handlers in a thread pool.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contacthub.emulators.procore_grants import OAuthGrants
from contacthub.emulators.procore_partners import PartnerRecords
from contacthub.emulators.procore_seed import seed_people, seed_vendors
from contacthub.emulators.procore_values import (
    ACCESS_LIFETIME,
    EMAIL,
    USER_TEXT,
    USER_WRITABLE,
    Refused,
    as_bool,
    iso,
    parse_range,
)

__all__ = ["ProcoreState", "Refused", "parse_range"]


class ProcoreState(OAuthGrants, PartnerRecords):
    """One company's directory and the OAuth grants of its app registrations."""

    def __init__(
        self,
        *,
        company_id: int = 1,
        company_name: str = "Summit Builders Inc.",
        users: int = 40,
        vendors: int = 12,
        reference_people: int = 5,
        projects: int = 3,
        client_id: str = "procore-emulator-client",
        client_secret: str = "procore-emulator-secret",
        seed: int = 7,
        max_per_page: int = 1000,
        vendors_list_inactive: bool = False,
        token_lifetime: int = ACCESS_LIFETIME,
        clock: Callable[[], float] = time.time,
        state_file: str | None = None,
    ) -> None:
        self.company_id = company_id
        self.company_name = company_name
        self.clients = {client_id: client_secret}
        self.max_per_page = max_per_page
        # the vendors list is documented as "all Vendors associated with a Company"
        # (RestV10VendorsGet); whether the inactive ones are among them is unconfirmed, so
        # both readings can be served (default: active only, as the users list)
        self.vendors_list_inactive = vendors_list_inactive
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[int, dict[str, Any]] = {}
        self.vendors: dict[int, dict[str, Any]] = {}
        self.people: dict[int, dict[str, Any]] = {}  # reference people (no login)
        self.projects: dict[int, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.by_email: dict[str, int] = {}  # lower-cased email -> user id (unique per company)
        self.by_origin: dict[str, int] = {}  # origin_id -> user id (unique per company)
        self.me = {"id": 1000, "login": "admin@summitbuilders.example.com", "name": "Avery Admin"}
        self._next = 1000
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.exists():
            self._load(self.state_file)
        else:
            self._seed(users, vendors, reference_people, projects, seed)

    # --- ids, time, persistence ---------------------------------------------------------------

    def next_id(self) -> int:
        self._next += 1
        return self._next

    def now(self) -> float:
        return float(int(self.clock()))

    def save(self) -> None:
        """Write the directory to ``state_file`` (atomically) when one was given."""
        if self.state_file is None:
            return
        data = {
            "next": self._next,
            "users": list(self.users.values()),
            "vendors": list(self.vendors.values()),
            "people": list(self.people.values()),
            "projects": [
                {**p, "user_ids": sorted(p["user_ids"]), "vendor_ids": sorted(p["vendor_ids"])}
                for p in self.projects.values()
            ],
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state_file)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self._next = data["next"]
        self.users = {u["id"]: u for u in data["users"]}
        for user in self.users.values():
            self._index(user, add=True)
        self.vendors = {v["id"]: v for v in data["vendors"]}
        self.people = {p["id"]: p for p in data["people"]}
        self.projects = {
            p["id"]: {**p, "user_ids": set(p["user_ids"]), "vendor_ids": set(p["vendor_ids"])}
            for p in data["projects"]
        }

    def _seed(self, users: int, vendors: int, reference_people: int, projects: int, seed: int) -> None:
        rng = random.Random(seed)
        created = self.now() - 86400 * 30
        vendor_rows = seed_vendors(vendors, rng)
        vendor_ids = []
        for attrs in vendor_rows:
            clean = {k: v for k, v in attrs.items() if not k.startswith("_")}
            vendor_ids.append(self._new_vendor(clean, created)["id"])
        for attrs in seed_people(users, vendor_rows, rng):
            index = attrs.pop("vendor_index")
            attrs["vendor_id"] = vendor_ids[index] if index is not None else None
            self._new_user(attrs, created)
        for attrs in seed_people(reference_people, vendor_rows, rng, start=users):
            index = attrs.pop("vendor_index")
            person = {
                "first_name": attrs["first_name"],
                "last_name": attrs["last_name"],
                "email_address": attrs["email_address"],
                "job_title": attrs["job_title"],
                "mobile_phone": attrs["mobile_phone"],
                "is_employee": attrs["is_employee"],
                "employee_id": attrs["employee_id"],
                "vendor_id": vendor_ids[index] if index is not None else None,
            }
            self._new_person(person, created)
        names = [
            "Harbor View Medical Center",
            "Riverside Lofts",
            "Eastgate Logistics Hub",
            "Northside School",
        ]
        for p in range(projects):
            pid = self.next_id()
            members = {uid for uid in self.users if rng.random() < 0.5}
            self.projects[pid] = {
                "id": pid,
                "name": names[p % len(names)] + (f" {p // len(names) + 1}" if p >= len(names) else ""),
                "user_ids": members,
                "vendor_ids": {self.users[u]["vendor_id"] for u in members if self.users[u]["vendor_id"]},
            }

    # --- users ----------------------------------------------------------------------------------

    def _new_user(self, attrs: dict[str, Any], when: float | None = None) -> dict[str, Any]:
        when = self.now() if when is None else when
        uid = self.next_id()
        user: dict[str, Any] = {name: None for name in USER_TEXT}
        user.update(
            id=uid,
            contact_id=self.next_id(),
            business_phone_extension=None,
            is_active=True,
            is_employee=False,
            vendor_id=None,
            work_classification_id=None,
            avatar=None,
            business_id=None,
            last_login_at=None,
            last_activated_at=None,
            welcome_email_sent_at=None,
            created_at=when,
            updated_at=when,
        )
        self._apply_user(user, attrs)
        self.users[uid] = user
        return user

    def _index(self, user: dict[str, Any], *, add: bool) -> None:
        email, origin = (user.get("email_address") or "").lower(), user.get("origin_id")
        if add:
            if email:
                self.by_email[email] = user["id"]
            if origin:
                self.by_origin[origin] = user["id"]
        else:
            self.by_email.pop(email, None)
            if origin:
                self.by_origin.pop(origin, None)

    def _apply_user(self, user: dict[str, Any], attrs: dict[str, Any]) -> None:
        if "id" in user:
            self._index(user, add=False)
        self._apply_fields(user, attrs)
        self._index(user, add=True)

    def _apply_fields(self, user: dict[str, Any], attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            if key in USER_TEXT:
                user[key] = None if value in (None, "") else str(value)
            elif key in ("is_active", "is_employee"):
                if key == "is_active" and bool(value) and not user.get("is_active"):
                    user["last_activated_at"] = self.now()
                user[key] = as_bool(value)
            elif key in ("vendor_id", "business_phone_extension", "work_classification_id"):
                user[key] = int(value) if value not in (None, "") else None
        if user.get("initials") is None:
            user["initials"] = (
                "".join((user.get(n) or "")[:1] for n in ("first_name", "last_name")).upper() or None
            )

    def validate_user(self, attrs: dict[str, Any], current: dict[str, Any] | None) -> None:
        errors: dict[str, list[str]] = {}
        unknown = sorted(set(attrs) - USER_WRITABLE)
        if unknown:
            raise Refused(400, {name: ["is not a permitted attribute"] for name in unknown})
        if current is None:
            for required in ("last_name", "email_address"):
                if not str(attrs.get(required) or "").strip():
                    errors.setdefault(required, []).append("can't be blank")
            if errors:
                raise Refused(400, errors)
        else:
            for required in ("last_name", "email_address"):
                if required in attrs and not str(attrs.get(required) or "").strip():
                    errors.setdefault(required, []).append("can't be blank")
        email = attrs.get("email_address")
        if email:
            if not EMAIL.match(str(email)):
                errors.setdefault("email_address", []).append("is invalid")
            else:
                owner = self.by_email.get(str(email).lower())
                if owner is not None and (current is None or owner != current["id"]):
                    errors.setdefault("email_address", []).append("has already been taken")
        vendor_id = attrs.get("vendor_id")
        if vendor_id not in (None, "") and int(vendor_id) not in self.vendors:
            errors.setdefault("vendor_id", []).append("is invalid")
        for key in ("country_code",):
            value = attrs.get(key)
            if value and not re.fullmatch(r"[A-Z]{2}", str(value)):
                errors.setdefault(key, []).append("is not a valid ISO-3166 Alpha-2 code")
        if errors:
            raise Refused(422, errors)
        origin = attrs.get("origin_id")
        if origin:
            owner = self.by_origin.get(str(origin))
            if owner is not None and (current is None or owner != current["id"]):
                raise Refused(409, {"origin_id": ["has already been taken"]})

    def create_user(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.validate_user(attrs, None)
            user = self._new_user({k: v for k, v in attrs.items() if k != "id"})
            self.save()
            return user

    def update_user(self, uid: int, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            user = self.users.get(uid)
            if user is None:
                raise Refused(404, "Not Found")
            self.validate_user(attrs, user)
            self._apply_user(user, {k: v for k, v in attrs.items() if k != "id"})
            user["updated_at"] = self.now()
            self.save()
            return user

    def sync_users(self, updates: list[dict[str, Any]]) -> dict[str, Any]:
        """The batch upsert with Procore's matching rules (``using_sync_actions.md``)."""
        entities: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.lock:
            for item in updates:
                try:
                    if not isinstance(item, dict):
                        raise Refused(422, {"base": ["is not an object"]})
                    if item.get("id") not in (None, ""):
                        uid = int(item["id"])
                        if uid not in self.users:
                            raise Refused(404, {"id": ["Entity with this ID not found"]})
                        user = self.users[uid]
                        self.validate_user(item, user)
                        self._apply_user(user, {k: v for k, v in item.items() if k != "id"})
                        user["updated_at"] = self.now()
                    else:
                        origin = item.get("origin_id")
                        owner = self.by_origin.get(str(origin)) if origin else None
                        found = self.users.get(owner) if owner is not None else None
                        if found is not None:
                            self.validate_user(item, found)
                            self._apply_user(found, item)
                            found["updated_at"] = self.now()
                            user = found
                        else:
                            self.validate_user(item, None)
                            user = self._new_user(item)
                    entities.append({**self.user_json(user, view="show"), "locale": None})
                except Refused as exc:
                    detail = exc.errors if isinstance(exc.errors, dict) else {"base": [str(exc.errors)]}
                    errors.append({**(item if isinstance(item, dict) else {}), "errors": detail})
            self.save()
        return {"entities": entities, "errors": errors}

    def user_json(self, user: dict[str, Any], view: str = "list") -> dict[str, Any]:
        vendor = self.vendors.get(user["vendor_id"]) if user.get("vendor_id") else None
        out: dict[str, Any] = {name: user.get(name) for name in USER_TEXT}
        out.update(
            id=user["id"],
            name=" ".join(p for p in (user.get("first_name"), user.get("last_name")) if p),
            avatar=user.get("avatar"),
            business_id=user.get("business_id"),
            business_phone_extension=user.get("business_phone_extension"),
            contact_id=user["contact_id"],
            is_active=user["is_active"],
            is_employee=user["is_employee"],
            work_classification_id=user.get("work_classification_id"),
            last_login_at=iso(user.get("last_login_at")),
            created_at=iso(user["created_at"]),
            updated_at=iso(user["updated_at"]),
            company_permission_template=None,
            vendor={"id": vendor["id"], "name": vendor["name"]} if vendor else None,
        )
        if view == "list":
            out.update(
                erp_integrated_accountant=False,
                last_activated_at=iso(user.get("last_activated_at")),
                welcome_email_sent_at=iso(user.get("welcome_email_sent_at")),
                permission_template=None,
            )
        else:
            out.update(
                is_insurance_manager=False,
                default_permission_template_id=None,
                company_permission_template_id=None,
            )
        return out
