"""Writing to the Global Address List: mail contacts through Exchange cmdlets, directory
users through Graph ``$batch`` PATCHes, both within the tenant's write budget.

Mail contacts are created with ``New-MailContact`` and marked as ours with the anchor right
away; before any change, hide or removal the contact is read again, must carry our anchor
and must still have the version the hub saw (directory objects have no ETag). A create first
looks for its anchor, so a create whose answer was lost is not made twice. Exchange's
``New-MailContact`` takes no ``CustomAttributeN``, so the anchor is a second call: when that
call (or the create's own answer) fails, the connector keeps a note of the create in its saved
state (``UNMARKED``: the contact's id, or the unique ``Name`` and address it sent); the next
write for that hub contact finds the note, marks the contact and finishes it. Without such a
note an unmarked contact is an admin's and is never touched. Users are read in
``$batch``es and PATCHed in ``$batch``es, only with ``write_users`` and only when mastered in
the cloud; a refusal for good is a ``ReadOnlyRecordError`` carrying the record as it is.

Separate from ``m365.py`` (settings, clients, ownership) and ``m365_read.py`` because writing
has its own rules (ownership checks, stale versions, the write budget) and its own
endpoints; plain functions taking the connector, which keeps a thin ``write``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from contacthub.connectors.base import WriteOp, WriteResult
from contacthub.connectors.http import ApiClient
from contacthub.connectors.m365_exchange import CmdletError, error_of, opath
from contacthub.connectors.m365_map import (
    USER_SELECT,
    contact_params,
    primary_email,
    user_fields,
    user_patch,
    version_of,
)
from contacthub.errors import (
    ReadOnlyRecordError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
    UndeletableRecordError,
)
from contacthub.model import display_name_of

if TYPE_CHECKING:
    from contacthub.connectors.m365 import M365GalConnector

ON_PREM = "on-premises mastered"
ON_PREM_TEXT = (
    "this user is synced from on-premises Active Directory and cannot be changed in Microsoft 365; "
    "change it in the on-premises directory"
)


class WriteBudget:
    """At most ``limit`` writes per ``period`` seconds for this tenant: Graph and Exchange
    throttle writes per app and tenant, so the connector waits instead of running into it."""

    def __init__(self, limit: int, period: float, api: ApiClient) -> None:
        self.limit = limit
        self.period = period
        self.api = api
        self.times: list[float] = []

    def spend(self, count: int = 1) -> None:
        if self.limit <= 0:
            return
        for _ in range(count):
            now = self.api.clock()
            self.times = [t for t in self.times if t > now - self.period]
            if len(self.times) >= self.limit:
                self.api._pause(self.times[0] + self.period - now)
            self.times.append(self.api.clock())


#: saved-state key: hub id -> a create whose anchor was not set ({"oid"} or {"name", "email"})
UNMARKED = "unmarked_creates"


def _notes(conn: M365GalConnector) -> dict[str, dict[str, str]]:
    notes = conn.config.credentials.load().get(UNMARKED)
    return dict(notes) if isinstance(notes, dict) else {}


def _note(conn: M365GalConnector, hub_id: str, entry: dict[str, str] | None) -> None:
    """Keep (or, with None, drop) the note of an unmarked create, durable before it counts."""
    saved = conn.config.credentials.load()
    notes = dict(saved.get(UNMARKED) or {})
    if entry is None:
        if notes.pop(hub_id, None) is None:
            return
    else:
        notes[hub_id] = entry
    saved[UNMARKED] = notes
    conn.config.credentials.save(saved)


def _ours_unmarked(conn: M365GalConnector, entry: dict[str, str] | None, mail_row: Mapping[str, Any]) -> bool:
    """Whether ``mail_row`` is the contact of a create of ours whose anchor was never set:
    it has no anchor at all, and is the contact that create answered with, or (its answer
    lost) has the tenant-unique ``Name`` and the address that create sent."""
    if not entry or str(mail_row.get(conn.anchor_name) or ""):
        return False
    if entry.get("oid"):
        return str(mail_row.get("ExternalDirectoryObjectId") or "") == entry["oid"]
    email = str(mail_row.get("ExternalEmailAddress") or "")
    email = email[5:] if email[:5].lower() == "smtp:" else email
    return (
        str(mail_row.get("Name") or "") == entry.get("name")
        and email.lower() == str(entry.get("email") or "").lower()
    )


def _mark(conn: M365GalConnector, oid: str, hub_id: str) -> dict[str, Any]:
    """Set our anchor on a contact of ours that lacks it, then drop its note."""
    anchor = conn.anchor(hub_id)
    conn.budget().spend()
    conn.exchange().run("Set-MailContact", Identity=oid, **{conn.anchor_name: anchor})
    _note(conn, hub_id, None)
    return {conn.anchor_name: anchor}


#: a mail contact's write whose fields have no email (``refusal``)
NO_EMAIL = "a GAL contact needs an email address"
#: a directory user's update with ``write_users = false`` (``refusal``)
USERS_READ_ONLY = "directory users are read-only for this connector (write_users = false)"


def refusal(conn: M365GalConnector, op: WriteOp) -> RecordError | None:
    """What ``write`` refuses ``op`` with before it sends anything, told from the op alone
    (``Connector.refusal``): a mail contact's create or update without an email (a create
    refused for good, as ``_create`` says it; an update as ``_apply`` does), a directory
    user's update with ``write_users = false`` (said after the user is read, with the user
    as it is: refused for good)."""
    user = (op.native_id or "").startswith("users/")
    if op.kind == "create" and not primary_email(op.fields):
        # refused until the person has one: the engine leaves it out until they change
        # (said on every run before, with the calls of a run that had nothing to do)
        return ReadOnlyRecordError(NO_EMAIL, op.hub_id, conn.name)
    if op.kind == "update" and not user and not primary_email(op.fields):
        return RecordError(NO_EMAIL, op.native_id or op.hub_id, conn.name)
    if op.kind == "update" and user and not conn.write_users:
        return ReadOnlyRecordError(USERS_READ_ONLY, op.native_id or op.hub_id, conn.name)
    return None


#: a deletion (or deactivation) of a directory user, refused (``M365GalConnector.undeletable``)
UNDELETABLE_TEXT = "contacthub never deletes or disables directory users: the person stays in the hub"


def write(conn: M365GalConnector, ops: Sequence[WriteOp]) -> list[WriteResult]:
    results: dict[int, WriteResult] = {}
    user_ops: list[tuple[int, WriteOp]] = []
    notes = _notes(conn)  # creates left unmarked by an earlier failure: read once a batch
    for index, op in enumerate(ops):
        if op.kind != "create" and (op.native_id or "").startswith("users/"):
            user_ops.append((index, op))
            continue
        try:
            results[index] = _write_contact(conn, op, notes)
        except RecordError as exc:
            results[index] = WriteResult(op, error=exc)
    if user_ops:
        for (index, _), result in zip(user_ops, _write_users(conn, [op for _, op in user_ops]), strict=True):
            results[index] = result
    return [results[i] for i in range(len(ops))]


def _write_contact(conn: M365GalConnector, op: WriteOp, notes: dict[str, dict[str, str]]) -> WriteResult:
    record = op.native_id or op.hub_id
    if op.kind == "create":
        return _create(conn, op, notes)
    kind, _, oid = (op.native_id or "").partition("/")
    if kind != "contacts" or not oid:
        raise RecordNotFoundError("not a GAL contact id", record, conn.name)
    current = conn._contact(oid, record)
    if current is None:
        raise RecordNotFoundError("the contact is no longer in the GAL", record, conn.name)
    mail_row, row = current
    if conn.owner_of(mail_row) is None and _ours_unmarked(conn, notes.get(op.hub_id), mail_row):
        try:
            mail_row = {**mail_row, **_mark(conn, oid, op.hub_id)}  # our create, finished now
        except CmdletError as exc:
            raise error_of(exc, conn.name, record) from None
    if conn.owner_of(mail_row) is None:
        theirs = conn._exchange_fields(row, False)
        conn.saw("theirs", theirs)
        error = ReadOnlyRecordError(
            f"this GAL contact was not created by contacthub (no {conn.anchor_name} anchor): "
            "it is never changed, hidden or removed",
            record,
            conn.name,
        )
        return WriteResult(op, native_id=op.native_id, version=version_of(theirs), fields=theirs, error=error)
    fields = conn._exchange_fields(row, True)
    if op.version is not None and version_of(fields) != op.version:
        raise StaleVersionError("the contact changed in the GAL since the hub read it", record, conn.name)
    exchange = conn.exchange()
    try:
        if op.kind == "delete":
            conn.budget().spend()
            exchange.run("Remove-MailContact", Identity=oid, Confirm=False)
            return WriteResult(op, native_id=op.native_id)
        if op.kind == "deactivate":
            conn.budget().spend()
            exchange.run("Set-MailContact", Identity=oid, HiddenFromAddressListsEnabled=True)
            return WriteResult(op, native_id=op.native_id, version=version_of(fields), fields=fields)
        return _apply(conn, op, oid, row, mail_row)
    except CmdletError as exc:
        raise error_of(exc, conn.name, record) from None


def _apply(
    conn: M365GalConnector, op: WriteOp, oid: str, row: Mapping[str, Any], mail_row: Mapping[str, Any]
) -> WriteResult:
    """Make the mail contact ``oid`` hold ``op.fields``; only what differs is sent."""
    exchange = conn.exchange()
    email = primary_email(op.fields)
    if not email:
        raise RecordError(NO_EMAIL, op.native_id or op.hub_id, conn.name)
    mail_changes: dict[str, Any] = {}
    if email.lower() != str(row.get("WindowsEmailAddress") or "").lower():
        mail_changes["ExternalEmailAddress"] = email
    if mail_row.get("HiddenFromAddressListsEnabled"):
        mail_changes["HiddenFromAddressListsEnabled"] = False  # back in the hub: visible again
    anchor = conn.anchor(op.hub_id)
    if str(mail_row.get(conn.anchor_name) or "") != anchor:
        # ours, made for another hub contact: a deleted person's, taken up by the person
        # added again (``engine.leftovers``); marked as theirs now, so that a create's
        # look-up by anchor and the hub id a read carries name the contact it is
        mail_changes[conn.anchor_name] = anchor
    if mail_changes:
        conn.budget().spend()
        exchange.run("Set-MailContact", Identity=oid, **mail_changes)
    changes = changed(contact_params(op.fields), contact_params(conn._exchange_fields(row, True)))
    if changes:
        conn.budget().spend()
        exchange.run("Set-Contact", Identity=oid, **changes)
    [after] = exchange.run("Get-Contact", Identity=oid)
    fields = conn._exchange_fields(after, True)
    conn.saw("ours", fields)
    return WriteResult(op, native_id=f"contacts/{oid}", version=version_of(fields), fields=fields)


def _create(conn: M365GalConnector, op: WriteOp, notes: dict[str, dict[str, str]]) -> WriteResult:
    record = op.hub_id
    exchange = conn.exchange()
    email = primary_email(op.fields)
    refused = refusal(conn, op)
    if refused is not None:  # no email: refused until the person has one (``refusal``)
        raise refused
    anchor = conn.anchor(op.hub_id)
    try:
        found = exchange.run("Get-MailContact", Filter=f"{conn.anchor_name} -eq {opath(anchor)}")
        if found:  # a create whose answer was lost: it is ours already
            oid = str(found[0]["ExternalDirectoryObjectId"])
            [row] = exchange.run("Get-Contact", Identity=oid)
            return _apply(conn, op, oid, row, found[0])
        entry = notes.get(op.hub_id)
        if entry:  # an earlier create of this contact whose anchor was not set
            if entry.get("oid"):
                current = conn._contact(entry["oid"], record)
                mine = [current[0]] if current else []
            else:
                mine = exchange.run("Get-MailContact", Filter=f"Name -eq {opath(entry.get('name', ''))}")
            if mine and _ours_unmarked(conn, entry, mine[0]):
                oid = str(mine[0]["ExternalDirectoryObjectId"])
                marked = _mark(conn, oid, op.hub_id)
                [row] = exchange.run("Get-Contact", Identity=oid)
                return _apply(conn, op, oid, row, {**mine[0], **marked})
            _note(conn, op.hub_id, None)  # gone, or never made: make it now
        user = conn.graph().user_with_mail(email)
        if user is not None:
            # a person of the tenant (disabled, say, while their card was edited): never
            # added to their own GAL as an outside contact, which made them twice there
            # and, once re-enabled, twice in the hub
            raise ReadOnlyRecordError(
                f"{email} is the directory user {user.get('userPrincipalName') or user['id']}: "
                "contacthub does not add a user of the tenant as a mail contact",
                record,
                conn.name,
            )
        display = display_name_of(op.fields) or email
        base = {
            "DisplayName": display[:256],
            "ExternalEmailAddress": email,
            "FirstName": str(op.fields.get("given_name") or ""),
            "LastName": str(op.fields.get("family_name") or ""),
        }
        base = {k: v for k, v in base.items() if v}
        conn.budget().spend()
        name = _name(display)
        try:
            try:
                [made] = exchange.run("New-MailContact", Name=name, **base)
            except CmdletError as exc:
                if not (exc.exists and "ADObjectAlreadyExists" in exc.type_name):
                    raise
                conn.budget().spend()  # another recipient has that name: make ours unique
                name = _name(display, op.hub_id)
                [made] = exchange.run("New-MailContact", Name=name, **base)
        except CmdletError:
            raise  # Exchange refused it: nothing was made
        except Exception:
            # no answer (throttled, cut off): the contact may exist, unmarked
            _note(conn, op.hub_id, {"name": name, "email": email})
            raise
        oid = str(made["ExternalDirectoryObjectId"])
        conn.budget().spend()
        try:
            exchange.run("Set-MailContact", Identity=oid, **{conn.anchor_name: anchor})
        except Exception:
            _note(conn, op.hub_id, {"oid": oid})  # ours, unmarked: the next write finishes it
            raise
        [row] = exchange.run("Get-Contact", Identity=oid)
        return _apply(conn, op, oid, row, {**made, conn.anchor_name: anchor})
    except CmdletError as exc:
        raise error_of(exc, conn.name, record) from None


def _write_users(conn: M365GalConnector, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Directory users: read in ``$batch``es, then only updates, only with
    ``write_users``, only to users mastered in the cloud, PATCHed in ``$batch``es. A
    refusal for good carries the user as it is (``ReadOnlyRecordError``), so the engine
    does not try again until the hub contact changes again."""
    results: list[WriteResult | None] = [None] * len(ops)
    select = ",".join(USER_SELECT)
    reads = conn.graph().batch(
        [{"method": "GET", "url": f"/users/{(op.native_id or '')[6:]}?$select={select}"} for op in ops]
    )
    patches: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for i, (op, answer) in enumerate(zip(ops, reads, strict=True)):
        record = op.native_id or op.hub_id
        status = int(answer.get("status", 500))
        current = answer.get("body") or {}
        if status == 404:
            error: RecordError = RecordNotFoundError("no such user in the tenant", record, conn.name)
            results[i] = WriteResult(op, error=error)
            continue
        if status != 200:
            error = RecordError(f"reading the user failed ({status})", record, conn.name)
            results[i] = WriteResult(op, error=error)
            continue
        fields = user_fields(current, conn.config.region)
        conn.saw("users", fields)
        version = version_of(fields)
        if op.version is not None and version != op.version:
            error = StaleVersionError(
                "the user changed in the directory since the hub read it", record, conn.name
            )
            results[i] = WriteResult(op, error=error)
            continue
        if op.kind != "update":
            # the hub keeps the person the directory keeps (the engine restores the contact)
            kept = UndeletableRecordError(UNDELETABLE_TEXT, record, conn.name)
            results[i] = WriteResult(op, native_id=op.native_id, version=version, fields=fields, error=kept)
            continue
        why = None
        if not conn.write_users:
            why = USERS_READ_ONLY
        elif current.get("onPremisesSyncEnabled"):
            why = ON_PREM_TEXT
        if why:
            error = ReadOnlyRecordError(why, record, conn.name)
            results[i] = WriteResult(op, native_id=op.native_id, version=version, fields=fields, error=error)
            continue
        body = changed(user_patch(op.fields), user_patch(fields))
        if not body:
            results[i] = WriteResult(op, native_id=op.native_id, version=version, fields=fields)
            continue
        patches.append((i, current, body))
    if patches:
        conn.budget().spend(len(patches))
        requests = [{"method": "PATCH", "url": f"/users/{c['id']}", "body": b} for _, c, b in patches]
        for (i, current, body), done in zip(patches, conn.graph().batch(requests), strict=True):
            op = ops[i]
            record = op.native_id or op.hub_id
            status = int(done.get("status", 500))
            if status in (200, 204):
                fields = user_fields({**current, **body}, conn.config.region)
                results[i] = WriteResult(
                    op, native_id=op.native_id, version=version_of(fields), fields=fields
                )
                continue
            message = str(((done.get("body") or {}).get("error") or {}).get("message") or status)
            if ON_PREM in message:
                fields = user_fields(current, conn.config.region)
                error = ReadOnlyRecordError(ON_PREM_TEXT, record, conn.name)
                results[i] = WriteResult(
                    op, native_id=op.native_id, version=version_of(fields), fields=fields, error=error
                )
            else:
                error = RecordError(f"Graph refused the update ({status}: {message})", record, conn.name)
                results[i] = WriteResult(op, error=error)
    return [r for r in results if r is not None]


def changed(wanted: Mapping[str, Any], held: Mapping[str, Any]) -> dict[str, Any]:
    """The properties of ``wanted`` whose meaning differs from what the record holds,
    ``held`` being the record as read, mapped back the same way (normalised as the hub
    normalises: a phone in E.164, a name trimmed). Compared with the raw properties, a
    write of one field sent every property whose spelling was not the hub's: a title
    changed in a card rewrote the user's "+1 (206) 555-7003" as "+12065557003", and the
    business phones, of which only the first is read, as that one, dropping the others."""
    return {k: v for k, v in wanted.items() if held.get(k) != v}


def _name(display: str, hub_id: str | None = None) -> str:
    """An Exchange object ``Name`` (64 characters, unique in the tenant)."""
    text = " ".join(display.split()) or "contact"
    if hub_id is None:
        return text[:64]
    suffix = f" ({hub_id[-8:]})"
    return text[: 64 - len(suffix)] + suffix
