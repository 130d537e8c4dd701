"""Procore connector, part two: writes. One user goes through POST/PATCH, more through
``users/sync``; vendors and people one call each; deletion deactivates. See ``procore.py``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from contacthub.connectors.base import (
    WriteOp,
    WriteResult,
)
from contacthub.connectors.http import error_for
from contacthub.connectors.procore_map import (
    parse_time,
    person_attrs,
    person_fields,
    phone_slots,
    primary_email,
    updated_of,
    user_attrs,
    user_fields,
    vendor_attrs,
    vendor_fields,
    version_of,
)
from contacthub.connectors.procore_read import (
    COMPANY_VENDOR,
    OVERLAP,
    SYNC_LIMIT,
    ProcoreReader,
    kind_of,
    stamp,
)
from contacthub.errors import (
    ReadOnlyRecordError,
    RecordError,
    RecordNotFoundError,
    RejectedRecordError,
    StaleVersionError,
)
from contacthub.model import PHONE_NAME, Fields, email_key, match_keys

#: at most this many users updated in one write are shown one GET each; more, by one listing
CURRENT_BY_GET = 1


class ProcoreWriter(ProcoreReader):
    _people_held: dict[int, dict[str, Any]] | None = None  # the people listed by this write

    # --- writing ----------------------------------------------------------------------------

    def _kind_for_create(self, fields: Fields) -> str:
        named = fields.get("given_name") or fields.get("family_name")
        if not named and fields.get("organization") and "vendors" in self.objects:
            return "vendors"
        if "users" in self.objects and fields.get("emails") and fields.get("family_name"):
            return "users"
        if "people" in self.objects and fields.get("family_name"):
            return "people"
        return "users" if "users" in self.objects else self.objects[0]

    def read_back(self, fields: Fields) -> Fields:
        """The record a write of ``fields`` leaves, as a read maps it (no call): one email,
        typed work; the country as its ISO code ("United States" reads "US"); three phone
        slots; the fields of the record type a create would make (a vendor for an
        organization without a person's name, a person without a login for one without an
        email). Compared as they were, a full listing (daily, and after every settings
        change) found every user whose hub contact has a second email or a country name
        differing, and wrote each again, unchanged. The vendor is taken to be found or
        made under the organization's name, and a person's email, phones and vendor,
        which Procore's person body cannot carry, as the hub has them."""
        region = self.config.region
        org = fields.get("organization")
        vendor = {"name": org} if org and self._vendor_held(str(org)) else None
        kind = self._kind_for_create(fields)
        if kind == "vendors":
            return vendor_fields(vendor_attrs(fields), region)
        if kind == "people":
            native = {**person_attrs(fields), **phone_slots(fields), "email": primary_email(fields)}
            return person_fields({**native, "vendor": vendor}, region)
        return user_fields({**user_attrs(fields, self.mapping), "vendor": vendor}, self.mapping, region)

    def _vendor_held(self, name: str) -> bool:
        """Whether a write would find or make the vendor ``name`` (``_vendor_id``), told
        without a call: unknown while the vendors were not listed yet."""
        return self.create_vendors or self._vendor_names is None or name.casefold() in self._vendor_names

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self._people_held = None  # this write's people listing (``_held``), read when first needed
        try:
            return self._write(ops)
        finally:
            self._people_held = None

    def _write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        updates: list[int] = []  # user updates that would write something
        for i, person in self._inactive_people_for(ops).items():
            results[i] = self._revived_person(ops[i], person)
        for i, op in enumerate(ops):  # refusals we can tell without a call, and no-op updates
            if i in results:
                continue
            kind = self._kind_for_create(op.fields) if op.kind == "create" else kind_of(op.native_id or "")[0]
            where = op.native_id or f"new Procore {kind} for {op.hub_id}"
            if op.kind != "create" and kind_of(op.native_id or "")[1] is None:
                results[i] = WriteResult(op, error=RecordNotFoundError("not a Procore id", where, self.name))
            elif kind == "users" and op.kind == "update":
                unchanged = self._unchanged(op)
                if unchanged is not None:
                    results[i] = unchanged
                else:
                    updates.append(i)
        current = self._current_users([kind_of(ops[i].native_id or "")[1] or 0 for i in updates])
        stale = self._stale([(i, ops[i]) for i in range(len(ops)) if i not in results], current)
        bodies: dict[int, dict[str, Any]] = {}
        for i, op in enumerate(ops):
            if i in results or i in stale:
                continue
            if op.kind == "create" and self._kind_for_create(op.fields) != "users":
                continue
            if op.kind != "create" and kind_of(op.native_id or "")[0] != "users":
                continue
            try:
                bodies[i] = self._user_body(op, current.get(kind_of(op.native_id or "")[1] or 0))
            except RecordError as exc:
                results[i] = WriteResult(op, error=exc)
        pending = [i for i in range(len(ops)) if i not in results]
        users: list[tuple[int, WriteOp, dict[str, Any]]] = []
        for i in pending:
            op = ops[i]
            if i in stale:
                results[i] = WriteResult(op, error=stale[i])
            elif i in bodies:
                users.append((i, op, bodies[i]))
            else:
                kind, number = kind_of(op.native_id or "")
                if op.kind == "create":
                    kind = self._kind_for_create(op.fields)
                where = op.native_id or f"new Procore {kind} for {op.hub_id}"
                results[i] = self._write_other(kind, op, number, where)
        if len(users) == 1:
            i, op, body = users[0]
            results[i] = self._write_user(op, body)
        elif users:
            for start in range(0, len(users), SYNC_LIMIT):
                results.update(self._sync_users(users[start : start + SYNC_LIMIT]))
        return [results[i] for i in range(len(ops))]

    def _inactive_people_for(self, ops: Sequence[WriteOp]) -> dict[int, dict[str, Any]]:
        """The creates (by index) that are a deactivated person without a login coming back,
        and that person: one Procore lists among its inactive people (``people/inactive``,
        reference users only: no login) whose ``origin_id`` is the contact's hub id, or the
        one person there holding one of the contact's emails under the contact's own name.
        With ``on_delete = "delete"`` the deletion took the link, so the undo of a deletion
        that deactivated a person read from Procore (no origin id of ours) arrives as a
        create, and one with an email and a last name went to the users: a new user with a
        login was made beside the inactive person. The person is reactivated instead
        (``_revived_person``); no login is given. A contact with no email, and a person with
        none, are found by a phone and the name. Not by an email alone, nor by a phone and
        the name where either holds an email, nor among two alike (QA: two inactive people
        sharing a crew email, the first by id was taken over by the other's card and
        renamed; a card with a new email revived the person under the old one; a new hire
        given a departed person's email took over their record): those are created as
        before. A user (a login) is not among them: an inactive user stays as
        ``_write_user`` has it (ours by origin id, reactivated; an admin's, refused). Only
        with ``people`` in ``objects`` (one listing a write that creates users or people):
        otherwise the hub reads no people, and a person reactivated would be no record of
        it."""
        if "people" not in self.objects:
            return {}
        creates = [
            i
            for i, op in enumerate(ops)
            if op.kind == "create" and self._kind_for_create(op.fields) in ("users", "people")
        ]
        if not creates:
            return {}
        path = f"/rest/v1.0/companies/{self.company_id}/people/inactive"
        params = {"view": "extended", "filters[reference_users_only]": "true"}
        # indexed once: looked through for every create, the listing cost creates x people
        # (QA: 2,000 creates against 2,000 inactive people, 58 s of CPU)
        by_origin: dict[str, dict[str, Any]] = {}
        by_email: dict[tuple[str, str], list[dict[str, Any]]] = {}
        by_phone: dict[str, list[dict[str, Any]]] = {}  # a phone+name key -> people with no email
        for person in self._list(path, params, self._what()):
            if person.get("user_id"):
                continue
            if person.get("origin_id"):
                by_origin.setdefault(str(person["origin_id"]), person)
            fields = self._record("people", person).fields
            name = _name_of(fields)
            for email in {email_key(str(e.get("value") or "")) for e in fields.get("emails") or ()} - {""}:
                if name:
                    by_email.setdefault((email, name), []).append(person)
            if not fields.get("emails"):
                for key in _phone_keys(fields):
                    by_phone.setdefault(key, []).append(person)
        out: dict[int, dict[str, Any]] = {}
        taken: set[Any] = set()
        for i in creates:
            op = ops[i]
            found = by_origin.get(op.hub_id)
            if found is None:
                name = _name_of(op.fields)
                if op.fields.get("emails"):
                    alike = {
                        p["id"]: p
                        for e in op.fields["emails"]
                        for p in by_email.get((email_key(str(e.get("value") or "")), name), ())
                    }
                else:  # (a person known by a phone only: field staff often have no email)
                    alike = {p["id"]: p for key in _phone_keys(op.fields) for p in by_phone.get(key, ())}
                found = next(iter(alike.values())) if len(alike) == 1 and name else None
            if found is not None and found["id"] not in taken:
                out[i] = found
                taken.add(found["id"])  # each person comes back once
        return out

    def _revived_person(self, op: WriteOp, person: Mapping[str, Any]) -> WriteResult:
        """A create answered by the inactive person without a login it matched
        (``_inactive_people_for``): updated with the hub's values and reactivated (the
        person PATCH takes ``active``), as a person of ours found by origin id is."""
        attrs = {**person_attrs(op.fields), "active": True}
        path = f"/rest/v1.0/companies/{self.company_id}/people/{person['id']}"
        response = self.client.request("PATCH", path, json={"person": attrs})
        where = f"Procore person {person['id']} (inactive) for {op.hub_id}"
        if response.status_code not in (200, 201):
            return WriteResult(
                op, error=_record_error(error_for(response, self.name, record=where), where, self.name)
            )
        native = response.json()
        contact = native.get("contact")
        if isinstance(contact, dict) and contact.get("is_active") is False:
            return WriteResult(op, error=RecordNotFoundError("deactivated in Procore", where, self.name))
        record = self._record("people", native)
        return WriteResult(op, record.native_id, record.version, record.fields)

    def _current_users(self, numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The users these updates write, as Procore holds them now: a few shown one GET
        each, more by one listing of the company's users (cheaper than a GET each). One
        not found is left out (its write says so). An update sends the vendor only when
        the hub's organization is not the one the user is on (``_user_body``), and a user
        whose record reads otherwise than its version says is stale (``_stale``): a vendor
        renamed moves no user's ``updated_at``, so no filtered listing shows it, and the
        hub's old name, resolved by name, found no vendor and made one ("Old Name",
        ``contacthub-company``), moving the user onto it, at the first unrelated edit."""
        wanted = {n for n in numbers if n}
        out: dict[int, dict[str, Any]] = {}
        if len(wanted) > CURRENT_BY_GET:
            # the active ones; a deactivated one (a deletion undone) is shown below
            out = {
                int(u["id"]): u
                for u in self._list(self.users_path, {}, self._what())
                if int(u["id"]) in wanted
            }
        for number in sorted(wanted - set(out)):
            response = self.client.request("GET", f"{self.users_path}/{number}")
            if response.status_code == 404:
                continue
            if response.status_code != 200:
                raise error_for(response, self.name, record=str(number))
            out[number] = response.json()
        return out

    def _stale(
        self, ops: Sequence[tuple[int, WriteOp]], shown: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, StaleVersionError]:
        """Ops whose record changed since the version they carry. Users whose updates
        read them now (``shown``) by what they read as; other users, and vendors, by
        one filtered listing per object type: everything updated since the oldest version
        (or since this instance's last pull, which saw everything older)."""
        checked = [(i, op) for i, op in ops if op.kind != "create" and op.version and op.native_id]
        out: dict[int, StaleVersionError] = {}
        for i, op in checked:
            kind, number = kind_of(op.native_id or "")
            held = shown.get(number or 0) if kind == "users" else None
            if held is not None and self._record("users", held).version != op.version:
                out[i] = StaleVersionError(
                    "changed in Procore since it was read", op.native_id or "", self.name
                )
        checked = [(i, op) for i, op in checked if kind_of(op.native_id or "")[1] not in shown]
        for kind in ("users", "vendors"):
            mine = [(i, op) for i, op in checked if kind_of(op.native_id or "")[0] == kind]
            if not mine:
                continue
            times = [parse_time(updated_of(op.version)) for _, op in mine]
            oldest = min((t.timestamp() for t in times if t), default=time.time() - 86400)
            if kind == "users" and self._pulled_at is not None:
                oldest = max(oldest, self._pulled_at - OVERLAP)
            current = {
                r.native_id: r.version
                for r in (
                    self._record(kind, n) for n in self._source(kind, stamp(oldest), stamp(time.time() + 5))
                )
            }
            for i, op in mine:
                now = current.get(op.native_id or "")
                if now is not None and now != op.version:
                    out[i] = StaleVersionError(
                        "changed in Procore since it was read", op.native_id or "", self.name
                    )
        return out

    def _vendor_id(self, name: str | None) -> int | None:
        """The vendor named ``name`` (case-insensitively), created when missing."""
        if not name:
            return None
        if self._vendor_names is None:
            self._vendor_names = {}
            for native in self._list("/rest/v1.0/vendors", {"company_id": self.company_id}, self._what()):
                if native.get("name"):
                    self._vendor_names.setdefault(str(native["name"]).casefold(), int(native["id"]))
        found = self._vendor_names.get(name.casefold())
        if found is not None or not self.create_vendors:
            return found
        # marked as a company made for its users (``procore_read.company_only``): read back
        # as a contact, it went everywhere as a person named after the company
        body = {"company_id": self.company_id, "vendor": {"name": name, "origin_code": COMPANY_VENDOR}}
        response = self.client.request("POST", "/rest/v1.0/vendors", json=body)
        if response.status_code not in (200, 201):
            raise error_for(response, self.name, record=f"vendor {name!r}")
        vid = int(response.json()["id"])
        self._vendor_names[name.casefold()] = vid
        return vid

    def _held(self, kind: str, number: int | None, where: str) -> dict[str, Any]:
        """The record as Procore holds it now, for a deactivation: Procore's PATCH bodies
        require ``user.last_name`` and ``user.email_address``, ``vendor.name``,
        ``person.last_name`` even when only the flag changes, and a delete op carries no
        fields. Its own current values, sent back, change nothing but the flag (the hub's
        could be older than an edit made there). Users and vendors are shown one GET each;
        people have no single-record GET (Procore documents none), so the people listing is
        read once per write and kept for its other deactivations: read once per person, a
        write deactivating 100 people listed the whole directory 100 times. Not found is
        this record's error; anything else stops the run."""
        if kind == "people":
            if self._people_held is None:
                self._people_held = {
                    int(native["id"]): native for native in self._source("people", None, stamp(time.time()))
                }
            found = self._people_held.get(number) if number is not None else None
            if found is None:
                raise RecordNotFoundError("no such person", where, self.name)
            return found
        path = f"{self.users_path}/{number}" if kind == "users" else f"/rest/v1.0/vendors/{number}"
        params = {"company_id": self.company_id} if kind == "vendors" else None
        response = self.client.request("GET", path, params=params)
        if response.status_code != 200:
            raise _record_error(error_for(response, self.name, record=where), where, self.name)
        shown: dict[str, Any] = response.json()
        return shown

    def _user_body(self, op: WriteOp, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``current``: the user as Procore holds it, for an update (``_current_users``).
        Its vendor is sent only when the hub's organization is not that vendor's name
        (case aside): the same name, the user stays where it is (another vendor of that
        name, as ``_vendor_id`` would find, is not its own)."""
        if op.kind in ("delete", "deactivate"):
            held = self._held("users", kind_of(op.native_id or "")[1], op.native_id or "")
            return {
                "last_name": held.get("last_name"),
                "email_address": held.get("email_address"),
                "is_active": False,
            }
        attrs = user_attrs(op.fields, self.mapping)
        if op.kind == "create":
            # refused before its vendor is found or made: made first, a user refused for
            # a missing email left a new vendor behind
            refused = self._new_user_refusal(op, attrs)
            if refused is not None:
                raise refused
        org = str(op.fields.get("organization") or "")
        vendor = (current or {}).get("vendor") or {}
        held_name = str(vendor.get("name") or "") if isinstance(vendor, dict) else ""
        if op.kind == "create" or (current is not None and org.casefold() != held_name.casefold()):
            attrs["vendor_id"] = self._vendor_id(org or None)
        if op.kind == "create":
            attrs["origin_id"] = op.hub_id
        return attrs

    def refusal(self, op: WriteOp) -> RecordError | None:
        """A new user without an email address or a last name, which Procore's user body
        requires (``_user_body`` refuses it so, before anything is sent for it)."""
        if op.kind != "create" or self._kind_for_create(op.fields) != "users":
            return None
        return self._new_user_refusal(op, user_attrs(op.fields, self.mapping))

    def _new_user_refusal(self, op: WriteOp, attrs: Mapping[str, Any]) -> RecordError | None:
        """Why a create of a user of ``attrs`` (``user_attrs``) is refused, or None."""
        needs = (("an email address", "email_address"), ("a last name", "last_name"))
        missing = [what for what, attr in needs if not attrs.get(attr)]
        if not missing:
            return None
        return RecordError(
            f"Procore users need {' and '.join(missing)}", f"new Procore user for {op.hub_id}", self.name
        )

    def _unchanged(self, op: WriteOp) -> WriteResult | None:
        """An update that would write what the user already holds (the hub changed a field
        Procore has no room for) is answered without a call: the version's digest is of
        the record's mapped fields, so equal digests mean an equal record. (The vendor is
        taken to be the organization's, as ``read_back`` takes it.)"""
        if op.kind != "update" or not op.version or "~" not in op.version:
            return None
        org = op.fields.get("organization")
        native = {
            **user_attrs(op.fields, self.mapping),
            "vendor": {"name": org} if org and self._vendor_held(str(org)) else None,
        }
        fields = user_fields(native, self.mapping, self.config.region)
        if version_of(updated_of(op.version), fields) != op.version:
            return None
        return WriteResult(op, op.native_id, op.version, fields)

    def _user_result(self, op: WriteOp, native: Mapping[str, Any]) -> WriteResult:
        if op.kind in ("create", "update") and native.get("is_active") is False:
            native = self._reactivated(native)
        record = self._record("users", native)
        if op.kind in ("delete", "deactivate"):
            return WriteResult(op, record.native_id, record.version)
        if not native.get("is_active", True):
            return WriteResult(
                op, error=RecordNotFoundError("deactivated in Procore", record.native_id, self.name)
            )
        return WriteResult(op, record.native_id, record.version, record.fields)

    def _reactivated(self, native: Mapping[str, Any]) -> Mapping[str, Any]:
        """A user the hub writes for a live person, found deactivated (an undo of their
        deletion, a person rejecting the deactivations, a create whose user the hub once
        deactivated), reactivated with Procore's own call for it: the write alone left them
        inactive, and every run after failed on "deactivated in Procore". Refused, the
        user is as it was, and the caller reports that."""
        response = self.client.request("PATCH", f"{self.users_path}/inactive/{native['id']}")
        if response.status_code != 200:
            return native
        return {**native, **response.json()}

    def _inactive_user(
        self, hub_id: str, attrs: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The deactivated user we made for this person (its origin_id is the hub id), and
        where there is none, the inactive user holding their email, for the refusal's
        message. Not one that only shares their email: a user a Procore admin deactivated
        is theirs to bring back, as a ``reject`` of deactivations seen in Procore leaves
        them; a card (or an undo of the deletion that deactivation spread) does not give a
        login back. Procore's inactive listing takes no filters, so it is read through here."""
        taken = None
        email = str(attrs.get("email_address") or "").casefold()
        for user in self._list(f"{self.users_path}/inactive", {}, self._what()):
            if str(user.get("origin_id") or "") == hub_id:
                return user, None
            if email and taken is None and str(user.get("email_address") or "").casefold() == email:
                taken = user
        return None, taken

    def _write_user(self, op: WriteOp, attrs: dict[str, Any]) -> WriteResult:
        where = op.native_id or f"new Procore user for {op.hub_id}"
        taken = None  # an inactive user, not ours, holding a create's email
        if op.kind == "create":
            response = self.client.request("POST", self.users_path, json={"user": attrs})
            if response.status_code in (409, 422):  # maybe ours: a create whose answer was lost
                # or our user of the person, deactivated (deleted, now restored or kept)
                mine = {"filters[origin_id]": op.hub_id}
                found = next(self._list(self.users_path, mine, self._what()), None)
                if found is None:
                    found, taken = self._inactive_user(op.hub_id, attrs)
                if found is not None:
                    attrs.pop("origin_id", None)
                    response = self.client.request(
                        "PATCH", f"{self.users_path}/{found['id']}", json={"user": attrs}
                    )
        else:
            response = self.client.request("PATCH", f"{self.users_path}/{op.native_id}", json={"user": attrs})
        if response.status_code not in (200, 201):
            if taken is not None:
                # refused for good, said once: tried again when the contact changes, and
                # linked once an admin reactivates the user (the listing shows them again)
                message = (
                    f"email taken by Procore user {taken['id']} ({taken.get('name') or ''}), "
                    "deactivated in Procore: contacthub brings back only the users it made; "
                    "reactivate them in Procore to sync them, or give the contact another email"
                )
                return WriteResult(op, error=ReadOnlyRecordError(message, where, self.name))
            return WriteResult(
                op, error=_record_error(error_for(response, self.name, record=where), where, self.name)
            )
        result = self._user_result(op, response.json())
        if op.kind == "create" and result.error is None and self.projects:
            result = self._add_to_projects(result, where)
        return result

    def _sync_users(self, batch: list[tuple[int, WriteOp, dict[str, Any]]]) -> dict[int, WriteResult]:
        updates = []
        for _, op, attrs in batch:
            item = dict(attrs)
            if op.kind != "create":
                item["id"] = int(op.native_id or 0)
            updates.append(item)
        response = self.client.request("PATCH", f"{self.users_path}/sync", json={"updates": updates})
        if response.status_code != 200:
            error = error_for(response, self.name, what=self._what())
            return {
                i: WriteResult(op, error=_record_error(error, op.native_id or op.hub_id, self.name))
                for i, op, _ in batch
            }
        body = response.json()
        by_id = {int(e["id"]): e for e in body.get("entities") or []}
        by_origin = {str(e["origin_id"]): e for e in body.get("entities") or [] if e.get("origin_id")}
        failed_id = {int(e["id"]): e for e in body.get("errors") or [] if e.get("id")}
        failed_origin = {
            str(e["origin_id"]): e for e in body.get("errors") or [] if e.get("origin_id") and not e.get("id")
        }
        out: dict[int, WriteResult] = {}
        for i, op, attrs in batch:
            where = op.native_id or f"new Procore user for {op.hub_id}"
            if op.kind == "create":
                native, failure = by_origin.get(op.hub_id), failed_origin.get(op.hub_id)
            else:
                native, failure = by_id.get(int(op.native_id or 0)), failed_id.get(int(op.native_id or 0))
            if native is not None:
                out[i] = self._user_result(op, native)
                if op.kind == "create" and self.projects and out[i].error is None:
                    out[i] = self._add_to_projects(out[i], where)
            else:
                message = _sync_message(failure) if failure else "no answer for this record"
                if op.kind == "create" and failure and "taken" in message.lower():
                    # the person's user is there, deactivated (a deletion undone or
                    # rejected): the one-record path finds and reactivates it
                    out[i] = self._write_user(op, dict(attrs))
                elif failure and "not found" in message.lower():
                    out[i] = WriteResult(op, error=RecordNotFoundError(message, where, self.name))
                elif failure:
                    # the record's values refused (its validation errors): as a 422 of the
                    # one-record path, tried and reported again on every run
                    error = RejectedRecordError(f"refused: {message}", where, self.name)
                    out[i] = WriteResult(op, error=error)
                else:
                    out[i] = WriteResult(op, error=RecordError(message, where, self.name))
        return out

    def _add_to_projects(self, result: WriteResult, where: str) -> WriteResult:
        """The new user ``result`` names added to each of the connector's projects. A refusal
        (403: the app may not add people there) is that user's error, not the run's: raised
        for the connector, it failed every run, and the batch's other writes were lost, while
        users went on being made in Procore. The user stays unlinked, so the next run sends
        the create again (``users/sync`` finds them by ``origin_id``) and tries the project
        again. A project that is not there (404) is the settings' error, as before."""
        for pid in self.projects:
            response = self.client.request(
                "POST", f"/rest/v1.0/projects/{pid}/users/{result.native_id}/actions/add", json={}
            )
            if response.status_code in (200, 201):
                continue
            if response.status_code == 404 or response.status_code >= 500:
                raise error_for(response, self.name, what=f"Procore project {pid}")
            refused = error_for(response, self.name, record=where)
            message = (
                f"created in Procore, but not added to project {pid} ({refused.message}); "
                "the next run tries again"
            )
            return WriteResult(result.op, error=RecordError(message, where, self.name))
        return result

    def _write_other(self, kind: str, op: WriteOp, number: int | None, where: str) -> WriteResult:
        """Vendors and people, one call each (they are few)."""
        gone, held = op.kind in ("delete", "deactivate"), {}
        if gone:
            try:
                held = self._held(kind, number, where)
            except RecordError as exc:
                return WriteResult(op, error=exc)
        if kind == "vendors":
            attrs: dict[str, Any] = (
                {"name": held.get("name"), "is_active": False} if gone else vendor_attrs(op.fields)
            )
            if op.kind == "create":
                attrs["origin_id"] = op.hub_id
                response = self.client.request(
                    "POST", "/rest/v1.0/vendors", json={"company_id": self.company_id, "vendor": attrs}
                )
                found = self._ours(kind, op.hub_id) if response.status_code in (409, 422) else None
                if found is not None:
                    attrs.pop("origin_id", None)
                    number = int(found["id"])
                    response = self.client.request(
                        "PATCH",
                        f"/rest/v1.0/vendors/{number}",
                        json={"company_id": self.company_id, "vendor": attrs},
                    )
            else:
                response = self.client.request(
                    "PATCH",
                    f"/rest/v1.0/vendors/{number}",
                    json={"company_id": self.company_id, "vendor": attrs},
                )
        else:
            attrs = {"last_name": held.get("last_name"), "active": False} if gone else person_attrs(op.fields)
            base = f"/rest/v1.0/companies/{self.company_id}/people"
            if op.kind == "create":
                attrs["origin_id"] = op.hub_id
                response = self.client.request("POST", base, json={"person": attrs})
                found = self._ours(kind, op.hub_id) if response.status_code in (409, 422) else None
                if found is not None:  # its PATCH takes ``active``: that reactivates it
                    attrs = {**attrs, "active": True}
                    attrs.pop("origin_id", None)
                    response = self.client.request("PATCH", f"{base}/{found['id']}", json={"person": attrs})
            else:
                if not gone:
                    # ``active`` too: a person the hub deactivated and now writes for a live
                    # contact (an undo of the deletion, deactivations rejected) stayed
                    # inactive without it, as a user or vendor would without its reactivation
                    # call, and the next run, not listing them, deleted the contact again.
                    # People have no reactivation call and no show GET to tell the inactive
                    # ones first; the flag costs nothing, and an update only goes to a person
                    # the hub holds live (a user found inactive is reactivated all the same).
                    attrs["active"] = True
                response = self.client.request("PATCH", f"{base}/{number}", json={"person": attrs})
        if response.status_code not in (200, 201):
            return WriteResult(
                op, error=_record_error(error_for(response, self.name, record=where), where, self.name)
            )
        native = response.json()
        if kind == "vendors" and not gone and native.get("is_active") is False:
            native = self._reactivated_vendor(native)
        if kind == "vendors" and native.get("name") and self._vendor_names is not None:
            self._vendor_names[str(native["name"]).casefold()] = int(native["id"])
        record = self._record(kind, native)
        if op.kind in ("delete", "deactivate"):
            return WriteResult(op, record.native_id, record.version)
        if native.get("is_active") is False:
            return WriteResult(op, error=RecordNotFoundError("deactivated in Procore", where, self.name))
        return WriteResult(op, record.native_id, record.version, record.fields)

    def _ours(self, kind: str, hub_id: str) -> dict[str, Any] | None:
        """The vendor or person without a login we made for this contact (its origin_id is
        the hub id), active or deactivated, for a create Procore refused because the origin
        id is taken (409: unique within a company): a create whose answer was lost, or an
        undo of the contact's deletion, which deactivated it (the hub's link went with the
        deletion, so the undo creates). As for a user (``_write_user``), it is updated with
        the contact's values and reactivated (a vendor by ``_reactivated_vendor``, a person
        by ``active`` in the update). Before, the vendor's create made a second vendor
        beside the inactive one where the origin id was not checked, and was refused on
        every run where it was. Procore's inactive listings take no filters; vendors take
        ``filters[origin_id]``, people none (checked here on each record)."""
        if kind == "vendors":
            active = self._list(
                "/rest/v1.0/vendors",
                {"company_id": self.company_id, "filters[origin_id]": hub_id},
                self._what(),
            )
        else:
            active = self._source("people", None, stamp(time.time()))
        inactive = self._list(f"/rest/v1.0/companies/{self.company_id}/{kind}/inactive", {}, self._what())
        for listing in (active, inactive):
            for native in listing:
                if str(native.get("origin_id") or "") == hub_id and not native.get("user_id"):
                    return native
        return None

    def _reactivated_vendor(self, native: Mapping[str, Any]) -> Mapping[str, Any]:
        """A vendor the hub writes for a live contact, found deactivated (one the hub
        deactivated, taken up by a person added again or written back for a person
        restored), reactivated with Procore's own call, as a user is (``_reactivated``):
        the update alone left it inactive, unlisted, and the next full listing took it for
        deleted, and the contact with it. Refused, the vendor is as it was, and the caller
        reports that."""
        response = self.client.request(
            "PATCH", f"/rest/v1.0/companies/{self.company_id}/vendors/inactive/{native['id']}"
        )
        if response.status_code != 200:
            return native
        return {**native, **response.json()}


def _record_error(error: Exception, where: str, connector: str) -> RecordError:
    """A refusal of this record; anything else (the service failing) stops the run, and the
    next run tries again."""
    if isinstance(error, RecordError):
        return error
    raise error


def _sync_message(failure: Mapping[str, Any]) -> str:
    errors = failure.get("errors")
    if isinstance(errors, dict):
        return "; ".join(
            f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in errors.items()
        )
    return str(errors)


def _name_of(fields: Mapping[str, Any]) -> str:
    """A person's given and family name as ``_inactive_people_for`` compares them (case and
    spaces aside); empty without a family name."""
    family = " ".join(str(fields.get("family_name") or "").split()).casefold()
    given = " ".join(str(fields.get("given_name") or "").split()).casefold()
    return f"{given}|{family}" if family else ""


def _phone_keys(fields: Mapping[str, Any]) -> set[str]:
    """The phone+name match keys of a person (``model.match_keys``), for a person and a
    contact without an email (``_inactive_people_for``)."""
    return {k for k in match_keys(fields) if k.startswith(PHONE_NAME)}
