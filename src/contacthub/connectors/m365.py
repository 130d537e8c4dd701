"""The Microsoft 365 Global Address List connector (``type = "m365-gal"``): one tenant's GAL,
the organisation's own or a partner's that consented through an invitation link.

Reads go through Microsoft Graph delta queries (``/users/delta``, ``/contacts/delta``): the
first run lists everything, later runs ask only for what changed, with the ``deltaLink`` as
the cursor. ``@removed`` items are deletions; a ``410 Gone`` starts a full round again, and a
full round reports as deleted only what the hub knew and the tenant no longer lists.

Writes create and change **mail contacts** through Exchange's ``InvokeCommand`` (Graph cannot
write GAL contacts). Every contact the connector creates carries ``<anchor_prefix>:<hub id>`` in
``CustomAttribute<anchor_attribute>``; a contact without our anchor is never changed, hidden
or removed. ``on_delete = "deactivate"`` hides a contact from the address lists instead of
removing it. Directory users are changed (``PATCH /users/{id}`` in ``$batch``es of 20) only
with ``write_users = true``; users synced from on-premises AD are reported as not writable.

Settings::

    tenant_id        the tenant (or saved by `contacthub connect HUB NAME --invite`)
    client_id        the multi-tenant app registration
    client_secret    or certificate_key / certificate_key_file + certificate_thumbprint
    objects          ["users", "contacts"] (what to read)
    member_of        group ids or names: read only their direct members (users)
    user_types       ["Member", "Guest"]; include_disabled = false
    write_users      false
    anchor_attribute 15; anchor_prefix "contacthub"
    authority_url    https://login.microsoftonline.com
    graph_url        https://graph.microsoft.com
    exchange_url     https://outlook.office365.com
    ca_file          an extra CA certificate to trust (a proxy, the emulator)
    write_budget     writes per 150 s for this tenant (3000, Graph's app+tenant write limit)
    redirect_uri     where the admin-consent answer comes back (contacthub connect)
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from contacthub.connectors.base import (
    Capabilities,
    Connector,
    ConnectorConfig,
    ConnectUI,
    Pull,
    Record,
    WriteOp,
    WriteResult,
)
from contacthub.connectors.http import ApiClient, Transport, error_for
from contacthub.connectors.m365_auth import TenantSignIn, TokenAuth, client_credential
from contacthub.connectors.m365_consent import admin_consent
from contacthub.connectors.m365_consent import complete_consent as complete_consent
from contacthub.connectors.m365_consent import consent_link as consent_link
from contacthub.connectors.m365_exchange import CmdletError, ExchangeClient
from contacthub.connectors.m365_graph import GraphClient, ResyncNeeded
from contacthub.connectors.m365_map import (
    CONTACT_SELECT,
    HELD,
    USER_SELECT,
    contact_params,
    exchange_fields,
    org_contact_fields,
    primary_email,
    user_fields,
    user_patch,
    version_of,
)
from contacthub.errors import (
    ConfigError,
    ConnectorError,
    FatalConnectorError,
    ReadOnlyRecordError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from contacthub.model import Fields, display_name_of

log = logging.getLogger(__name__)

KINDS = ("users", "contacts")
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


class M365GalConnector(Connector):
    type = "m365-gal"
    capabilities = Capabilities(
        create=True, update=True, delete=True, deactivate=True, delta=True, batch_size=100
    )
    secret_settings = frozenset({"client_secret", "certificate_key"})

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        s = config.settings
        self.objects = _names(s.get("objects", list(KINDS)), "objects", self.name)
        for kind in self.objects:
            if kind not in KINDS:
                raise ConfigError(f"objects: {kind!r} is not one of users, contacts", self.name)
        self.member_of = [str(g) for g in _names(s.get("member_of", []), "member_of", self.name, empty=True)]
        self.user_types = set(_names(s.get("user_types", ["Member", "Guest"]), "user_types", self.name))
        self.include_disabled = bool(s.get("include_disabled", False))
        self.write_users = bool(s.get("write_users", False))
        self.anchor_attribute = int(s.get("anchor_attribute", 15))
        if not 1 <= self.anchor_attribute <= 15:
            raise ConfigError("anchor_attribute must be 1 to 15 (CustomAttribute1..15)", self.name)
        self.anchor_prefix = str(s.get("anchor_prefix", "contacthub")).strip() or "contacthub"
        self.authority_url = str(s.get("authority_url", "https://login.microsoftonline.com")).rstrip("/")
        self.graph_url = str(s.get("graph_url", "https://graph.microsoft.com")).rstrip("/")
        self.exchange_url = str(s.get("exchange_url", "https://outlook.office365.com")).rstrip("/")
        self.graph_scope = str(s.get("graph_scope", f"{self.graph_url}/.default"))
        self.exchange_scope = str(s.get("exchange_scope", f"{self.exchange_url}/.default"))
        self.ca_file = str(s["ca_file"]) if s.get("ca_file") else None
        self.client_id = str(s.get("client_id") or "")
        self.write_budget = int(s.get("write_budget", 3000))
        if config.mapping:
            raise ConfigError(
                "m365-gal connectors take no custom mapping (the GAL has fixed fields)", self.name
            )
        self._signin: TenantSignIn | None = None
        self._graph: GraphClient | None = None
        self._exchange: ExchangeClient | None = None
        self._budget: WriteBudget | None = None
        self._clients: list[ApiClient] = []
        self._all_notes: dict[str, str] | None = None

    @property
    def fields(self) -> frozenset[str]:
        return HELD

    # --- sign-in and clients --------------------------------------------------------------

    def tenant_id(self) -> str:
        tenant = self.config.settings.get("tenant_id") or self.config.credentials.load().get("tenant_id")
        if not tenant:
            raise FatalConnectorError(
                "no tenant yet: set tenant_id, or invite the tenant's admin with "
                "`contacthub connect HUB CONNECTOR --invite`",
                self.name,
            )
        return str(tenant)

    def signin(self) -> TenantSignIn:
        if self._signin is None:
            if not self.client_id:
                raise ConfigError("client_id is required (the app registration's id)", self.name)
            self._signin = TenantSignIn(
                authority_url=self.authority_url,
                tenant_id=self.tenant_id(),
                client_id=self.client_id,
                credential=client_credential(self.config.settings, self.name),
                ca_file=self.ca_file,
                connector=self.name,
            )
        return self._signin

    def _client(self, base: str, scope: str) -> ApiClient:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            verify = ssl.create_default_context(cafile=self.ca_file)
        transport = Transport(verify=verify)
        api = ApiClient(base, connector=self.name, auth=TokenAuth(self.signin(), scope), transport=transport)
        self._clients.append(api)
        return api

    def graph(self) -> GraphClient:
        if self._graph is None:
            self._graph = GraphClient(self._client(self.graph_url, self.graph_scope), self.name)
        return self._graph

    def exchange(self) -> ExchangeClient:
        if self._exchange is None:
            self._exchange = ExchangeClient(
                self._client(self.exchange_url, self.exchange_scope), self.tenant_id(), self.name
            )
        return self._exchange

    def budget(self) -> WriteBudget:
        if self._budget is None:
            self._budget = WriteBudget(self.write_budget, 150.0, self.graph().api)
        return self._budget

    def check(self) -> None:
        self.signin().token(self.graph_scope)
        notify = str(self.config.settings.get("notify_url") or "")
        if notify and self.config.hub:
            self.keep_subscription(notify)

    def keep_subscription(self, notify_url: str) -> None:
        """Keep a Graph change-notification subscription on users pointing at this hub's
        receiver under ``contacthub serve`` (``notify_url`` is its public address): created
        when missing, renewed before it ends, at the start of every run. Notifications are
        only hints, so a failure here is logged and the run goes on."""
        from contacthub.webhooks import graph as graph_hooks

        saved = self.config.credentials.load()
        current = None
        if isinstance(saved.get("graph_subscription"), dict):
            current = graph_hooks.Subscription.of(saved["graph_subscription"])
        api = self._client(self.graph_url.rstrip("/") + "/v1.0", self.graph_scope)
        try:
            kept = graph_hooks.keep(
                api, current, base_url=notify_url, hub=self.config.hub, connector=self.name
            )
        except ConnectorError as exc:
            log.warning("connector %s: Graph subscription not kept: %s", self.name, exc.message)
            return
        if kept != current:
            expires = kept.expires.isoformat().replace("+00:00", "Z")
            saved["graph_subscription"] = {
                "id": kept.id,
                "resource": kept.resource,
                "expirationDateTime": expires,
            }
            self.config.credentials.save(saved)

    def api_calls(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for api in self._clients:
            for method, count in api.calls.items():
                total[method] = total.get(method, 0) + count
        return total

    def graph_calls(self) -> int:
        return sum(self._graph.api.calls.values()) if self._graph else 0

    def close(self) -> None:
        for api in self._clients:
            api.close()
        self._clients.clear()
        if self._signin is not None:
            self._signin.close()
        self._graph = self._exchange = None
        self._budget = None

    # --- ownership ----------------------------------------------------------------------

    @property
    def anchor_name(self) -> str:
        return f"CustomAttribute{self.anchor_attribute}"

    def anchor(self, hub_id: str) -> str:
        return f"{self.anchor_prefix}:{hub_id}"

    def owner_of(self, row: Mapping[str, Any]) -> str | None:
        """Our hub id when the mail contact carries our anchor, else None."""
        value = str(row.get(self.anchor_name) or "")
        prefix = self.anchor_prefix + ":"
        return value[len(prefix) :] if value.startswith(prefix) and len(value) > len(prefix) else None

    def owned(self) -> dict[str, str]:
        """Mail contacts we created: Graph id -> hub id (one paged Exchange listing)."""
        pattern = _opath(self.anchor_prefix + ":*")
        try:
            rows = self.exchange().run(
                "Get-MailContact", Filter=f"{self.anchor_name} -like {pattern}", ResultSize="Unlimited"
            )
        except CmdletError as exc:
            raise FatalConnectorError(
                f"Exchange could not list our contacts ({exc.message})", self.name
            ) from None
        out = {}
        for row in rows:
            hub_id = self.owner_of(row)
            if hub_id and row.get("ExternalDirectoryObjectId"):
                out[str(row["ExternalDirectoryObjectId"])] = hub_id
        return out

    # --- reading ------------------------------------------------------------------------

    def _scope_key(self) -> str:
        return json.dumps(
            [sorted(self.objects), sorted(self.member_of), sorted(self.user_types), self.include_disabled]
        )

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        state: dict[str, Any] = {}
        if cursor:
            try:
                state = json.loads(cursor)
            except ValueError:
                state = {}
            if not isinstance(state, dict) or state.get("scope") != self._scope_key():
                state = {}  # settings changed what is read: start over with a full round
        self._all_notes = None
        pull = Pull(iter(()), set(), complete=True, listed=0)
        pull.records = self._pull(state, known, pull)
        return pull

    def _pull(self, state: dict[str, Any], known: Mapping[str, str], pull: Pull) -> Iterator[Record]:
        new_state: dict[str, Any] = {"scope": self._scope_key()}
        complete = True
        members = self._members() if self.member_of and "users" in self.objects else None
        for kind in self.objects:
            link = state.get(kind)
            seen: set[str] = set()
            try:
                yield from self._round(kind, link, known, pull, seen, members, new_state)
            except ResyncNeeded:
                log.warning(
                    "%s: Graph lost the %s delta state (410): reading everything again", self.name, kind
                )
                link = None
                seen.clear()
                yield from self._round(kind, None, known, pull, seen, members, new_state)
            if link is None:
                prefix = kind + "/"
                pull.deleted.update(n for n in known if n.startswith(prefix) and n not in seen)
                pull.listed += len(seen)
            else:
                complete = False
            if kind == "users" and members is not None and link is not None:
                yield from self._membership_changes(members, known, pull)
        pull.complete = complete
        pull.cursor = json.dumps(new_state)

    def _members(self) -> set[str]:
        graph = self.graph()
        out: set[str] = set()
        for gid in graph.group_ids(self.member_of):
            out |= graph.members(gid)
        return out

    def _in_scope(self, user: Mapping[str, Any], members: set[str] | None) -> bool:
        if members is not None and str(user.get("id")) not in members:
            return False
        if user.get("userType") and str(user["userType"]) not in self.user_types:
            return False
        return self.include_disabled or user.get("accountEnabled") is not False

    def _round(
        self,
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
        region = self.config.region
        for page in self.graph().delta(kind, select, link):
            items = page.get("value") or []
            if kind == "contacts" and items and owned is None:
                owned = self.owned()
            notes = self._notes(
                [i["id"] for i in items if owned and i.get("id") in owned and "@removed" not in i]
            )
            for item in items:
                oid = str(item.get("id") or "")
                nid = f"{kind}/{oid}"
                if "@removed" in item:
                    if nid in known:
                        pull.deleted.add(nid)
                    continue
                if kind == "users":
                    if not self._in_scope(item, members):
                        if nid in known:
                            pull.deleted.add(nid)  # left the scope (disabled, left the group...)
                        continue
                    fields = user_fields(item, region)
                    hub_id = None
                else:
                    hub_id = (owned or {}).get(oid)
                    fields = org_contact_fields(item, notes.get(oid, "") if hub_id else "", region)
                seen.add(nid)
                version = version_of(fields)
                if known.get(nid) == version:
                    continue
                yield Record(nid, version, fields, hub_id=hub_id, where=f"{self.name}: {kind} {oid}")
            if page.get("@odata.deltaLink"):
                new_state[kind] = page["@odata.deltaLink"]

    def _notes(self, ids: Sequence[str]) -> dict[str, str]:
        """Exchange-only ``Notes`` of our own contacts (Graph does not show them)."""
        if not ids:
            return {}
        exchange = self.exchange()
        if len(ids) > 20:
            if self._all_notes is None:  # many changed: one listing for the whole pull
                try:
                    rows = exchange.run("Get-Contact", ResultSize="Unlimited")
                except CmdletError as exc:
                    raise FatalConnectorError(
                        f"Exchange could not list contacts ({exc.message})", self.name
                    ) from None
                self._all_notes = {
                    str(r["ExternalDirectoryObjectId"]): str(r.get("Notes") or "")
                    for r in rows
                    if r.get("ExternalDirectoryObjectId")
                }
            return {oid: self._all_notes.get(oid, "") for oid in ids}
        out = {}
        for oid in ids:
            try:
                [row] = exchange.run("Get-Contact", Identity=oid)
            except CmdletError as exc:
                if exc.not_found:
                    continue
                raise error_of(exc, self.name, f"contacts/{oid}") from None
            out[oid] = str(row.get("Notes") or "")
        return out

    def _membership_changes(
        self, members: set[str], known: Mapping[str, str], pull: Pull
    ) -> Iterator[Record]:
        """Users who joined or left ``member_of`` groups without changing themselves."""
        known_users = {n[len("users/") :] for n in known if n.startswith("users/")}
        for oid in known_users - members:
            pull.deleted.add(f"users/{oid}")
        joined = sorted(members - known_users)
        select = ",".join(USER_SELECT)
        answers = self.graph().batch(
            [{"method": "GET", "url": f"/users/{oid}?$select={select}"} for oid in joined]
        )
        for oid, reply in zip(joined, answers, strict=True):
            body = reply.get("body") or {}
            if reply.get("status") != 200 or not self._in_scope(body, members):
                continue
            fields = user_fields(body, self.config.region)
            yield Record(f"users/{oid}", version_of(fields), fields, where=f"{self.name}: users {oid}")

    def get(self, native_id: str) -> Record:
        kind, _, oid = native_id.partition("/")
        if kind not in KINDS or not oid:
            raise RecordNotFoundError("not a GAL record id", native_id, self.name)
        if kind == "users":
            response = self.graph().get("users", oid, USER_SELECT)
            if response.status_code == 404:
                raise RecordNotFoundError("no such user in the tenant", native_id, self.name)
            if response.status_code != 200:
                raise error_for(response, self.name, record=native_id)
            fields = user_fields(response.json(), self.config.region)
            return Record(native_id, version_of(fields), fields, where=f"{self.name}: users {oid}")
        current = self._contact(oid, native_id)
        if current is None:
            raise RecordNotFoundError("no such contact in the GAL", native_id, self.name)
        mail_row, row = current
        hub_id = self.owner_of(mail_row)
        fields = self._exchange_fields(row, hub_id is not None)
        return Record(
            native_id, version_of(fields), fields, hub_id=hub_id, where=f"{self.name}: contacts {oid}"
        )

    def _exchange_fields(self, row: Mapping[str, Any], ours: bool) -> Fields:
        fields = exchange_fields(row, self.config.region)
        if not ours:
            fields.pop("notes", None)  # as pull reads it: notes only for our own contacts
        return fields

    def _contact(self, oid: str, native_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(Get-MailContact row, Get-Contact row) of a mail contact, None when there is none."""
        exchange = self.exchange()
        try:
            [mail_row] = exchange.run("Get-MailContact", Identity=oid)
            [row] = exchange.run("Get-Contact", Identity=oid)
        except CmdletError as exc:
            if exc.not_found:
                return None
            raise error_of(exc, self.name, native_id) from None
        return mail_row, row

    def find(self, keys: Sequence[str]) -> Record | None:
        for key in keys:
            if not key.startswith("email:"):
                continue
            mail = key[len("email:") :].replace("'", "''")
            for kind in self.objects:
                select = ",".join(USER_SELECT if kind == "users" else ("id",))
                for item in self.graph().items(f"/v1.0/{kind}?$filter=mail eq '{mail}'&$select={select}"):
                    return self.get(f"{kind}/{item['id']}")
        return None

    # --- writing ------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        user_ops: list[tuple[int, WriteOp]] = []
        for index, op in enumerate(ops):
            if op.kind != "create" and (op.native_id or "").startswith("users/"):
                user_ops.append((index, op))
                continue
            try:
                results[index] = self._write_contact(op)
            except RecordError as exc:
                results[index] = WriteResult(op, error=exc)
        if user_ops:
            for (index, _), result in zip(
                user_ops, self._write_users([op for _, op in user_ops]), strict=True
            ):
                results[index] = result
        return [results[i] for i in range(len(ops))]

    def _write_contact(self, op: WriteOp) -> WriteResult:
        record = op.native_id or op.hub_id
        if op.kind == "create":
            return self._create(op)
        kind, _, oid = (op.native_id or "").partition("/")
        if kind != "contacts" or not oid:
            raise RecordNotFoundError("not a GAL contact id", record, self.name)
        current = self._contact(oid, record)
        if current is None:
            raise RecordNotFoundError("the contact is no longer in the GAL", record, self.name)
        mail_row, row = current
        if self.owner_of(mail_row) is None:
            theirs = self._exchange_fields(row, False)
            error = ReadOnlyRecordError(
                f"this GAL contact was not created by contacthub (no {self.anchor_name} anchor): "
                "it is never changed, hidden or removed",
                record,
                self.name,
            )
            return WriteResult(
                op, native_id=op.native_id, version=version_of(theirs), fields=theirs, error=error
            )
        fields = self._exchange_fields(row, True)
        if op.version is not None and version_of(fields) != op.version:
            raise StaleVersionError("the contact changed in the GAL since the hub read it", record, self.name)
        exchange = self.exchange()
        try:
            if op.kind == "delete":
                self.budget().spend()
                exchange.run("Remove-MailContact", Identity=oid, Confirm=False)
                return WriteResult(op, native_id=op.native_id)
            if op.kind == "deactivate":
                self.budget().spend()
                exchange.run("Set-MailContact", Identity=oid, HiddenFromAddressListsEnabled=True)
                return WriteResult(op, native_id=op.native_id, version=version_of(fields), fields=fields)
            return self._apply(op, oid, row, mail_row)
        except CmdletError as exc:
            raise error_of(exc, self.name, record) from None

    def _apply(
        self, op: WriteOp, oid: str, row: Mapping[str, Any], mail_row: Mapping[str, Any]
    ) -> WriteResult:
        """Make the mail contact ``oid`` hold ``op.fields``; only what differs is sent."""
        exchange = self.exchange()
        email = primary_email(op.fields)
        if not email:
            raise RecordError("a GAL contact needs an email address", op.native_id or op.hub_id, self.name)
        mail_changes: dict[str, Any] = {}
        if email.lower() != str(row.get("WindowsEmailAddress") or "").lower():
            mail_changes["ExternalEmailAddress"] = email
        if mail_row.get("HiddenFromAddressListsEnabled"):
            mail_changes["HiddenFromAddressListsEnabled"] = False  # back in the hub: visible again
        if mail_changes:
            self.budget().spend()
            exchange.run("Set-MailContact", Identity=oid, **mail_changes)
        wanted = contact_params(op.fields)
        changes = {k: v for k, v in wanted.items() if str(row.get(k) or "") != v}
        if changes:
            self.budget().spend()
            exchange.run("Set-Contact", Identity=oid, **changes)
        [after] = exchange.run("Get-Contact", Identity=oid)
        fields = self._exchange_fields(after, True)
        return WriteResult(op, native_id=f"contacts/{oid}", version=version_of(fields), fields=fields)

    def _create(self, op: WriteOp) -> WriteResult:
        record = op.hub_id
        exchange = self.exchange()
        email = primary_email(op.fields)
        if not email:
            raise RecordError("a GAL contact needs an email address", record, self.name)
        anchor = self.anchor(op.hub_id)
        try:
            found = exchange.run("Get-MailContact", Filter=f"{self.anchor_name} -eq {_opath(anchor)}")
            if found:  # a create whose answer was lost: it is ours already
                oid = str(found[0]["ExternalDirectoryObjectId"])
                [row] = exchange.run("Get-Contact", Identity=oid)
                return self._apply(op, oid, row, found[0])
            display = display_name_of(op.fields) or email
            base = {
                "DisplayName": display[:256],
                "ExternalEmailAddress": email,
                "FirstName": str(op.fields.get("given_name") or ""),
                "LastName": str(op.fields.get("family_name") or ""),
            }
            base = {k: v for k, v in base.items() if v}
            self.budget().spend()
            try:
                [made] = exchange.run("New-MailContact", Name=_name(display), **base)
            except CmdletError as exc:
                if not (exc.exists and "ADObjectAlreadyExists" in exc.type_name):
                    raise
                self.budget().spend()  # another recipient has that name: make ours unique
                [made] = exchange.run("New-MailContact", Name=_name(display, op.hub_id), **base)
            oid = str(made["ExternalDirectoryObjectId"])
            self.budget().spend()
            exchange.run("Set-MailContact", Identity=oid, **{self.anchor_name: anchor})
            [row] = exchange.run("Get-Contact", Identity=oid)
            return self._apply(op, oid, row, {**made, self.anchor_name: anchor})
        except CmdletError as exc:
            raise error_of(exc, self.name, record) from None

    def _write_users(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Directory users: read in ``$batch``es, then only updates, only with
        ``write_users``, only to users mastered in the cloud, PATCHed in ``$batch``es. A
        refusal for good carries the user as it is (``ReadOnlyRecordError``), so the engine
        does not try again until the hub contact changes again."""
        results: list[WriteResult | None] = [None] * len(ops)
        select = ",".join(USER_SELECT)
        reads = self.graph().batch(
            [{"method": "GET", "url": f"/users/{(op.native_id or '')[6:]}?$select={select}"} for op in ops]
        )
        patches: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for i, (op, answer) in enumerate(zip(ops, reads, strict=True)):
            record = op.native_id or op.hub_id
            status = int(answer.get("status", 500))
            current = answer.get("body") or {}
            if status == 404:
                error: RecordError = RecordNotFoundError("no such user in the tenant", record, self.name)
                results[i] = WriteResult(op, error=error)
                continue
            if status != 200:
                error = RecordError(f"reading the user failed ({status})", record, self.name)
                results[i] = WriteResult(op, error=error)
                continue
            fields = user_fields(current, self.config.region)
            version = version_of(fields)
            if op.version is not None and version != op.version:
                error = StaleVersionError(
                    "the user changed in the directory since the hub read it", record, self.name
                )
                results[i] = WriteResult(op, error=error)
                continue
            refusal = None
            if op.kind != "update":
                refusal = "contacthub never deletes or disables directory users"
            elif not self.write_users:
                refusal = "directory users are read-only for this connector (write_users = false)"
            elif current.get("onPremisesSyncEnabled"):
                refusal = ON_PREM_TEXT
            if refusal:
                error = ReadOnlyRecordError(refusal, record, self.name)
                results[i] = WriteResult(
                    op, native_id=op.native_id, version=version, fields=fields, error=error
                )
                continue
            body = {k: v for k, v in user_patch(op.fields).items() if current.get(k) != v}
            if not body:
                results[i] = WriteResult(op, native_id=op.native_id, version=version, fields=fields)
                continue
            patches.append((i, current, body))
        if patches:
            self.budget().spend(len(patches))
            requests = [{"method": "PATCH", "url": f"/users/{c['id']}", "body": b} for _, c, b in patches]
            for (i, current, body), done in zip(patches, self.graph().batch(requests), strict=True):
                op = ops[i]
                record = op.native_id or op.hub_id
                status = int(done.get("status", 500))
                if status in (200, 204):
                    fields = user_fields({**current, **body}, self.config.region)
                    results[i] = WriteResult(
                        op, native_id=op.native_id, version=version_of(fields), fields=fields
                    )
                    continue
                message = str(((done.get("body") or {}).get("error") or {}).get("message") or status)
                if ON_PREM in message:
                    fields = user_fields(current, self.config.region)
                    error = ReadOnlyRecordError(ON_PREM_TEXT, record, self.name)
                    results[i] = WriteResult(
                        op, native_id=op.native_id, version=version_of(fields), fields=fields, error=error
                    )
                else:
                    error = RecordError(f"Graph refused the update ({status}: {message})", record, self.name)
                    results[i] = WriteResult(op, error=error)
        return [r for r in results if r is not None]

    # --- signing in a partner tenant ----------------------------------------------------

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        """Admin consent for the tenant (another organisation's with ``invite``); see
        ``m365_consent``."""
        admin_consent(cls(config), ui, invite=invite)


def error_of(exc: CmdletError, connector: str, record: str) -> RecordError:
    if exc.not_found:
        return RecordNotFoundError(exc.message, record, connector)
    return RecordError(f"Exchange refused it: {exc.message}", record, connector)


def _opath(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _name(display: str, hub_id: str | None = None) -> str:
    """An Exchange object ``Name`` (64 characters, unique in the tenant)."""
    text = " ".join(display.split()) or "contact"
    if hub_id is None:
        return text[:64]
    suffix = f" ({hub_id[-8:]})"
    return text[: 64 - len(suffix)] + suffix


def _names(value: Any, setting: str, where: str, empty: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not value and not empty):
        raise ConfigError(f"{setting} must be a list of names", where)
    return list(value)
