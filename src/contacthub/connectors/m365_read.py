"""Reading the Global Address List: Graph delta rounds, group scope, our contacts' notes.

``pull`` runs one delta round per object kind (``/users/delta``, ``/contacts/delta``) with
the saved ``deltaLink`` as cursor; a ``410 Gone`` or an expired token (``ResyncNeeded``) starts that kind over
with a full round, and only a full round reports as deleted what the hub knew and the tenant
no longer lists. Users outside the scope (``member_of``, ``user_types``, disabled) are
dropped, and reported as deleted when the hub had them. ``Notes`` of the mail contacts we
created live only in Exchange, so they are read there for the changed ones. ``get`` and
``find`` read one record.

Separate from ``m365.py`` (settings, clients, ownership) and ``m365_write.py`` because
reading is its own path: Graph first, Exchange only for notes, no write budget. These are
plain functions taking the connector, which keeps its thin ``pull``/``get``/``find``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from contacthub.connectors.base import Pull, Record
from contacthub.connectors.http import error_for
from contacthub.connectors.m365_exchange import CmdletError, error_of
from contacthub.connectors.m365_graph import ResyncNeeded
from contacthub.connectors.m365_map import (
    CONTACT_SELECT,
    USER_SELECT,
    org_contact_fields,
    user_fields,
    version_of,
)
from contacthub.errors import FatalConnectorError, RecordNotFoundError

if TYPE_CHECKING:
    from contacthub.connectors.m365 import M365GalConnector

log = logging.getLogger("contacthub.connectors.m365")  # the connector's logger, as before the split

KINDS = ("users", "contacts")


def _scope_key(conn: M365GalConnector) -> str:
    return json.dumps(
        [sorted(conn.objects), sorted(conn.member_of), sorted(conn.user_types), conn.include_disabled]
    )


def pull(conn: M365GalConnector, cursor: str | None, known: Mapping[str, str]) -> Pull:
    state: dict[str, Any] = {}
    if cursor:
        try:
            state = json.loads(cursor)
        except ValueError:
            state = {}
        if not isinstance(state, dict) or state.get("scope") != _scope_key(conn):
            state = {}  # settings changed what is read: start over with a full round
    conn._all_notes = None
    pull = Pull(iter(()), set(), complete=True, listed=0)
    pull.records = _pull(conn, state, known, pull)
    return pull


def _pull(
    conn: M365GalConnector, state: dict[str, Any], known: Mapping[str, str], pull: Pull
) -> Iterator[Record]:
    new_state: dict[str, Any] = {"scope": _scope_key(conn)}
    complete = True
    members = _members(conn) if conn.member_of and "users" in conn.objects else None
    for kind in conn.objects:
        link = state.get(kind)
        seen: set[str] = set()
        try:
            yield from _round(conn, kind, link, known, pull, seen, members, new_state)
        except ResyncNeeded:
            log.warning(
                "%s: Graph lost or expired the %s delta state: reading everything again", conn.name, kind
            )
            link = None
            seen.clear()
            yield from _round(conn, kind, None, known, pull, seen, members, new_state)
        if link is None:
            prefix = kind + "/"
            pull.deleted.update(n for n in known if n.startswith(prefix) and n not in seen)
            pull.listed += len(seen)
        else:
            complete = False
        if kind == "users" and members is not None and link is not None:
            yield from _membership_changes(conn, members, known, pull)
    pull.complete = complete
    pull.cursor = json.dumps(new_state)


def _members(conn: M365GalConnector) -> set[str]:
    graph = conn.graph()
    out: set[str] = set()
    for gid in graph.group_ids(conn.member_of):
        out |= graph.members(gid)
    return out


def _in_scope(conn: M365GalConnector, user: Mapping[str, Any], members: set[str] | None) -> bool:
    if members is not None and str(user.get("id")) not in members:
        return False
    if user.get("userType") and str(user["userType"]) not in conn.user_types:
        return False
    return conn.include_disabled or user.get("accountEnabled") is not False


def _round(
    conn: M365GalConnector,
    kind: str,
    link: str | None,
    known: Mapping[str, str],
    pull: Pull,
    seen: set[str],
    members: set[str] | None,
    new_state: dict[str, Any],
) -> Iterator[Record]:
    select = USER_SELECT if kind == "users" else CONTACT_SELECT
    owned: dict[str, str] | None = None
    region = conn.config.region
    for page in conn.graph().delta(kind, select, link):
        items = page.get("value") or []
        if kind == "contacts" and items and owned is None:
            owned = conn.owned()
        notes = _notes(
            conn, [i["id"] for i in items if owned and i.get("id") in owned and "@removed" not in i]
        )
        for item in items:
            oid = str(item.get("id") or "")
            nid = f"{kind}/{oid}"
            if "@removed" in item:
                if nid in known:
                    pull.deleted.add(nid)
                continue
            if kind == "users":
                if not _in_scope(conn, item, members):
                    if nid in known:
                        pull.deleted.add(nid)  # left the scope (disabled, left the group...)
                    continue
                fields = user_fields(item, region)
                hub_id = None
                conn.saw("users", fields)
            else:
                hub_id = (owned or {}).get(oid)
                fields = org_contact_fields(item, notes.get(oid, "") if hub_id else "", region)
                conn.saw("ours" if hub_id else "theirs", fields)
            seen.add(nid)
            version = version_of(fields)
            if known.get(nid) == version:
                continue
            yield Record(nid, version, fields, hub_id=hub_id, where=f"{conn.name}: {kind} {oid}")
        if page.get("@odata.deltaLink"):
            new_state[kind] = page["@odata.deltaLink"]


def _notes(conn: M365GalConnector, ids: Sequence[str]) -> dict[str, str]:
    """Exchange-only ``Notes`` of our own contacts (Graph does not show them)."""
    if not ids:
        return {}
    exchange = conn.exchange()
    if len(ids) > 20:
        if conn._all_notes is None:  # many changed: one listing for the whole pull
            try:
                rows = exchange.run("Get-Contact", ResultSize="Unlimited")
            except CmdletError as exc:
                raise FatalConnectorError(
                    f"Exchange could not list contacts ({exc.message})", conn.name
                ) from None
            conn._all_notes = {
                str(r["ExternalDirectoryObjectId"]): str(r.get("Notes") or "")
                for r in rows
                if r.get("ExternalDirectoryObjectId")
            }
        return {oid: conn._all_notes.get(oid, "") for oid in ids}
    out = {}
    for oid in ids:
        try:
            [row] = exchange.run("Get-Contact", Identity=oid)
        except CmdletError as exc:
            if exc.not_found:
                continue
            raise error_of(exc, conn.name, f"contacts/{oid}") from None
        out[oid] = str(row.get("Notes") or "")
    return out


def _membership_changes(
    conn: M365GalConnector, members: set[str], known: Mapping[str, str], pull: Pull
) -> Iterator[Record]:
    """Users who joined or left ``member_of`` groups without changing themselves."""
    known_users = {n[len("users/") :] for n in known if n.startswith("users/")}
    for oid in known_users - members:
        pull.deleted.add(f"users/{oid}")
    joined = sorted(members - known_users)
    select = ",".join(USER_SELECT)
    answers = conn.graph().batch(
        [{"method": "GET", "url": f"/users/{oid}?$select={select}"} for oid in joined]
    )
    for oid, reply in zip(joined, answers, strict=True):
        body = reply.get("body") or {}
        if reply.get("status") != 200 or not _in_scope(conn, body, members):
            continue
        fields = user_fields(body, conn.config.region)
        conn.saw("users", fields)
        yield Record(f"users/{oid}", version_of(fields), fields, where=f"{conn.name}: users {oid}")


def get(conn: M365GalConnector, native_id: str) -> Record:
    kind, _, oid = native_id.partition("/")
    if kind not in KINDS or not oid:
        raise RecordNotFoundError("not a GAL record id", native_id, conn.name)
    if kind == "users":
        response = conn.graph().get("users", oid, USER_SELECT)
        if response.status_code == 404:
            raise RecordNotFoundError("no such user in the tenant", native_id, conn.name)
        if response.status_code != 200:
            raise error_for(response, conn.name, record=native_id)
        fields = user_fields(response.json(), conn.config.region)
        conn.saw("users", fields)
        return Record(native_id, version_of(fields), fields, where=f"{conn.name}: users {oid}")
    current = conn._contact(oid, native_id)
    if current is None:
        raise RecordNotFoundError("no such contact in the GAL", native_id, conn.name)
    mail_row, row = current
    hub_id = conn.owner_of(mail_row)
    fields = conn._exchange_fields(row, hub_id is not None)
    conn.saw("ours" if hub_id else "theirs", fields)
    return Record(native_id, version_of(fields), fields, hub_id=hub_id, where=f"{conn.name}: contacts {oid}")


def find(conn: M365GalConnector, keys: Sequence[str]) -> Record | None:
    for key in keys:
        if not key.startswith("email:"):
            continue
        # encoded: in a query string a plus-address's ``+`` is a space, and ``&`` or ``#``
        # ends the filter (``ann+sales@`` was looked for as ``ann sales@`` and not found)
        wanted = quote("mail eq '" + key[len("email:") :].replace("'", "''") + "'", safe="")
        for kind in conn.objects:
            select = ",".join(USER_SELECT if kind == "users" else ("id",))
            for item in conn.graph().items(f"/v1.0/{kind}?$filter={wanted}&$select={select}"):
                return conn.get(f"{kind}/{item['id']}")
    return None
