"""The Microsoft 365 Global Address List connector (``type = "m365-gal"``): one tenant's GAL,
the organisation's own or a partner's that consented through an invitation link.

Reads go through Microsoft Graph delta queries (``/users/delta``, ``/contacts/delta``): the
first run lists everything, later runs ask only for what changed, with the ``deltaLink`` as
the cursor. ``@removed`` items are deletions; a ``410 Gone`` or an expired token (``400
syncStateNotFound``) starts a full round again, and a
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

This module is the connector class (the entry point ``registry.py`` names): its settings, its
clients (sign-in, Graph, Exchange, the write budget), the Graph subscription kept by
``check``, and the ownership anchor that reading and writing share. Reading is in
``m365_read.py``, writing in ``m365_write.py``; the Graph, Exchange, sign-in, consent and
field-mapping pieces each have their own ``m365_*.py``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from contacthub.connectors import m365_read, m365_write
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
from contacthub.connectors.http import ApiClient, Transport
from contacthub.connectors.m365_auth import TenantSignIn, TokenAuth, client_credential
from contacthub.connectors.m365_consent import admin_consent
from contacthub.connectors.m365_consent import complete_consent as complete_consent
from contacthub.connectors.m365_consent import consent_link as consent_link
from contacthub.connectors.m365_exchange import CmdletError, ExchangeClient, opath
from contacthub.connectors.m365_exchange import error_of as error_of
from contacthub.connectors.m365_graph import GraphClient
from contacthub.connectors.m365_map import (
    HELD,
    contact_params,
    exchange_fields,
    primary_email,
    user_fields,
    user_patch,
)
from contacthub.connectors.m365_read import KINDS as KINDS
from contacthub.connectors.m365_write import ON_PREM as ON_PREM
from contacthub.connectors.m365_write import ON_PREM_TEXT as ON_PREM_TEXT
from contacthub.connectors.m365_write import WriteBudget as WriteBudget
from contacthub.errors import ConfigError, ConnectorError, FatalConnectorError, RecordError
from contacthub.model import Fields, email_key

log = logging.getLogger(__name__)


class M365GalConnector(Connector):
    type = "m365-gal"
    capabilities = Capabilities(
        create=True, update=True, delete=True, deactivate=True, delta=True, batch_size=100
    )
    secret_settings = frozenset({"client_secret", "certificate_key"})
    setting_types: ClassVar[Mapping[str, Any]] = {
        "tenant_id": str, "client_id": str, "certificate_key_file": str, "certificate_thumbprint": str,
        "objects": list[str] | str, "member_of": list[str] | str, "user_types": list[str] | str,
        "include_disabled": bool, "write_users": bool, "anchor_attribute": int, "anchor_prefix": str,
        "authority_url": str, "graph_url": str, "exchange_url": str, "graph_scope": str,
        "exchange_scope": str, "ca_file": str, "write_budget": int, "redirect_uri": str,
        "notify_url": str, "client_secret": str, "certificate_key": str,
    }  # fmt: skip
    scope_settings = frozenset({"objects", "member_of", "user_types", "include_disabled"})
    path_settings = frozenset({"certificate_key_file", "ca_file"})

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
        #: lowercased email -> what this connector read there: "users", "ours" (a mail
        #: contact of ours, with notes) or "theirs" (a contact it reads without notes)
        self._read_as: dict[str, str] = {}

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

    def check_location(self) -> None:
        # a certificate key that is no key (the certificate pasted instead, an encrypted
        # key, a missing file) is refused by apply, not found by the first sync; read
        # without the network. A client secret alone has nothing to check here.
        if self.config.settings.get("certificate_key_file") or self.config.settings.get("certificate_key"):
            client_credential(self.config.settings, self.name)

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
        pattern = opath(self.anchor_prefix + ":*")
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

    # --- one mail contact, as reading and writing both see it ---------------------------

    def _exchange_fields(self, row: Mapping[str, Any], ours: bool) -> Fields:
        fields = exchange_fields(row, self.config.region)
        if not ours:
            fields.pop("notes", None)  # as pull reads it: notes only for our own contacts
        return fields

    def read_back(self, fields: Fields) -> Fields:
        """What a write of ``fields`` leaves, read as a pull reads it (no call): one email
        (the first, as the external address, typed work), the first phone of each kind in
        the business, mobile and fax slots, one address. Compared as they were, a full
        read after a settings save wrote every contact of ours with a second or untyped
        email again, unchanged.

        Read as the kind of record this connector last read at that email (``saw``): a
        directory user, or a contact not ours, holds no notes; else as a mail contact of
        ours (the records it creates), or a user where it reads users only. Read as one of
        ours whatever it was, a directory user whose hub contact has notes never agreed:
        every full read (a settings save) wrote it again, a refusal with ``write_users =
        false``, a $batch read for nothing with it."""
        email = primary_email(fields)
        kind = "users" if self.objects == ["users"] else self._read_as.get(email_key(email), "ours")
        if kind == "users":
            return user_fields({**user_patch(fields), "mail": email}, self.config.region)
        held = exchange_fields({**contact_params(fields), "WindowsEmailAddress": email}, self.config.region)
        if kind == "theirs":
            held.pop("notes", None)
        return held

    def saw(self, kind: str, fields: Fields) -> None:
        """Note what was read at the record's email (``read_back``): ``users``, ``ours``
        or ``theirs``. Every read notes it; a full read (a settings save, a lost delta
        state, the first run) so knows every record it may compare."""
        email = email_key(primary_email(fields))
        if email:
            self._read_as[email] = kind

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

    # --- reading (m365_read.py) and writing (m365_write.py) -----------------------------

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        return m365_read.pull(self, cursor, known)

    def get(self, native_id: str) -> Record:
        return m365_read.get(self, native_id)

    def find(self, keys: Sequence[str]) -> Record | None:
        return m365_read.find(self, keys)

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        return m365_write.write(self, ops)

    def refusal(self, op: WriteOp) -> RecordError | None:
        """A mail contact without an email, a user with ``write_users = false``
        (``m365_write.refusal``)."""
        return m365_write.refusal(self, op)

    def undeletable(self, native_id: str) -> str | None:
        """Directory users: ``write`` refuses every delete and deactivate of one, whatever
        ``write_users`` says (only mail contacts are ours to remove)."""
        return m365_write.UNDELETABLE_TEXT if native_id.startswith("users/") else None

    # --- signing in a partner tenant ----------------------------------------------------

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        """Admin consent for the tenant (another organisation's with ``invite``); see
        ``m365_consent``."""
        admin_consent(cls(config), ui, invite=invite)


def _names(value: Any, setting: str, where: str, empty: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not value and not empty):
        raise ConfigError(f"{setting} must be a list of names", where)
    return list(value)
