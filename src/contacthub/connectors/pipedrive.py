"""Pipedrive persons, through API v2 (``/api/v2/persons``).

Settings: ``api_token`` (sent as ``x-api-token``), or ``client_id`` and ``client_secret`` of
an OAuth app (sign in once with ``contacthub connect HUB CONNECTOR``; tokens refresh by
themselves); ``base_url`` (default ``https://api.pipedrive.com``, or the company URL the
sign-in answered), ``oauth_url`` (``https://oauth.pipedrive.com``), ``redirect_uri``,
``page_size`` (<= 500), ``create_organizations`` (default true), ``daily_reserve`` (tokens
of the company's daily budget left untouched: a count, or ``"10%"``, the default),
``max_tokens_per_run`` (0: no cap), ``full_every_hours`` (24), ``hub_id_field`` (the name
of a text custom field to keep the hub's contact id in; see ``pipedrive_map``).

How a run reads: with no cursor, one listing of every person (500 a page, 10 tokens a page),
compared with the versions the hub knows; afterwards only persons changed since the last
run (``updated_since`` = the newest ``update_time`` seen, but never past a minute before the
listing's first answer by Pipedrive's ``Date``: a person edited after its page was read,
while later pages were, is asked for again; ``sort_by=update_time``). A
soft-deleted person drops out of the lists, so a full listing is made again every
``full_every_hours`` to see deletions.

Why versions are checked by hand: Pipedrive has no conditional update, so an update or
delete reads the person first (1 token) and refuses with ``StaleVersionError`` when it
changed since the hub read it. A person's organization is a name in the hub: organizations
are listed once per run and cached; a name Pipedrive does not have yet is created (unless
``create_organizations = false``, which leaves such persons without one). An update sends
``org_id`` only when the name changed (case and spacing aside): with two organizations of
one name, the person stays in its own; moved to a name several carry, it joins the oldest
(lowest id).

Why writes can stop early: see ``pipedrive_api`` (the daily token budget). When one more
write would eat into the reserve, it and the rest of the batch come back as errors saying
they were deferred; nothing was sent for them, their links are untouched, and the next run
(after Pipedrive's midnight reset) writes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx

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
from contacthub.connectors.http import Auth, HeaderAuth
from contacthub.connectors.oauth import OAuthClient, OAuthSession, authorize
from contacthub.connectors.pipedrive_api import Budget, BudgetExhausted, PipedriveApi
from contacthub.connectors.pipedrive_map import (
    DEFAULT_MAPPING,
    PersonSchema,
    Unwritable,
    as_held,
    modified_of,
    to_body,
    to_fields,
    version_of,
)
from contacthub.errors import (
    ConfigError,
    RecordError,
    RecordNotFoundError,
    RetriableError,
    StaleVersionError,
)
from contacthub.model import CUSTOM_PREFIX, Fields, keep_spelling, match_keys

PERSONS = "/api/v2/persons"
ORGS = "/api/v2/organizations"
# a write's worst case in tokens: read (1) + write (5) + a new organization (5)
WRITE_COST = {"create": 10, "update": 11, "delete": 4}
#: seconds the next ``updated_since`` stays before a listing's first answer: edits that land
#: while the answer is made, and ``update_time``'s whole seconds
LISTING_SLACK = 60.0


class PipedriveConnector(Connector):
    """See the module docstring."""

    type: ClassVar[str] = "pipedrive"
    capabilities: ClassVar[Capabilities] = Capabilities(
        create=True, update=True, delete=True, deactivate=False, delta=True, batch_size=100
    )
    secret_settings: ClassVar[frozenset[str]] = frozenset({"api_token", "client_secret"})
    setting_types: ClassVar[Mapping[str, Any]] = {
        "client_id": str, "base_url": str, "oauth_url": str, "redirect_uri": str,
        "daily_reserve": str | float, "max_tokens_per_run": int, "create_organizations": bool,
        "full_every_hours": float, "page_size": int, "hub_id_field": str, "api_token": str,
        "client_secret": str,
    }  # fmt: skip
    default_mapping: ClassVar[Mapping[str, str]] = DEFAULT_MAPPING

    @classmethod
    def native_fields(cls, settings: Mapping[str, Any], places: frozenset[str]) -> frozenset[str]:
        """The default mapping's fields, and each place as the custom field it is read as
        when no mapping claims it (``PersonSchema``: "Trade" is ``custom.Trade``)."""
        custom = {CUSTOM_PREFIX + p.strip() for p in places if p.strip()}
        return super().native_fields(settings, places) | custom

    def __init__(self, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config)
        s = config.settings
        self.oauth_url = str(s.get("oauth_url") or "https://oauth.pipedrive.com").rstrip("/")
        self.page_size = _int_setting(s, "page_size", 500, config.name)
        if not 1 <= self.page_size <= 500:
            raise ConfigError("page_size must be between 1 and 500", config.name)
        self.create_orgs = bool(s.get("create_organizations", True))
        self.full_every = float(s.get("full_every_hours", 24)) * 3600
        reserve = str(s.get("daily_reserve", "10%"))
        try:
            float(reserve.rstrip("%"))
        except ValueError:
            raise ConfigError(
                f"daily_reserve must be a count or a percentage, not {reserve!r}", config.name
            ) from None
        self.budget = Budget(reserve, _int_setting(s, "max_tokens_per_run", 0, config.name))
        self.session: OAuthSession | None = None
        auth: Auth
        if s.get("api_token"):
            auth = HeaderAuth("x-api-token", str(s["api_token"]))
        elif s.get("client_id") and s.get("client_secret"):
            self.session = OAuthSession(self.oauth_client(s), config.credentials, connector=config.name)
            auth = self.session
        else:
            raise ConfigError(
                "give api_token, or client_id and client_secret of an OAuth app "
                "(then sign in with `contacthub connect`)",
                config.name,
            )
        tokens = self.session.tokens if self.session else {}
        base = s.get("base_url") or tokens.get("api_domain") or "https://api.pipedrive.com"
        self.base_url = str(base).rstrip("/")
        self.mapping = {**DEFAULT_MAPPING, **config.mapping}
        self.hub_id_field = str(s.get("hub_id_field") or "")
        self.api = PipedriveApi(self.base_url, auth, config.name, self.budget, transport)
        self._schema: PersonSchema | None = None
        self._org_names: dict[int, str] | None = None
        self._org_ids: dict[str, int] = {}

    @classmethod
    def oauth_client(cls, settings: Mapping[str, Any]) -> OAuthClient:
        oauth = str(settings.get("oauth_url") or "https://oauth.pipedrive.com").rstrip("/")
        return OAuthClient(
            token_url=f"{oauth}/oauth/token",
            client_id=str(settings.get("client_id", "")),
            client_secret=str(settings.get("client_secret", "")),
            authorize_url=f"{oauth}/oauth/authorize",
            client_auth="basic",
        )

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        s = config.settings
        if s.get("api_token"):
            raise ConfigError("this connector uses an API token: it needs no sign-in", config.name)
        if not (s.get("client_id") and s.get("client_secret")):
            raise ConfigError("set client_id and client_secret of your Pipedrive app first", config.name)
        redirect = str(s.get("redirect_uri") or "http://127.0.0.1:8765/callback")
        if invite:
            ui.echo("Send the link below to an admin of the other Pipedrive company; it signs in there.")
        authorize(cls.oauth_client(s), config.credentials, ui, redirect_uri=redirect, connector=config.name)
        ui.echo("Signed in to Pipedrive.")

    # --- schema and organizations -----------------------------------------------------------

    def schema(self) -> PersonSchema:
        """The company's person fields, read once per run (every page: past 100 too)."""
        if self._schema is None:
            fields: list[dict[str, Any]] = []
            for chunk in self.api.offset_pages("/v1/personFields", "the person fields"):
                fields += chunk
            self._schema = PersonSchema(fields, self.mapping, self.hub_id_field)
        return self._schema

    @property
    def fields(self) -> frozenset[str] | None:
        return self.schema().held()

    def check(self) -> None:
        if self.session is not None:
            self.session.ensure()
        self.schema()

    def _orgs(self) -> dict[int, str]:
        if self._org_names is None:
            names: dict[int, str] = {}
            for chunk in self.api.pages(ORGS, {"limit": 500}, "the organizations"):
                for org in chunk:
                    names[int(org["id"])] = str(org.get("name") or "")
            self._org_names = names
            # several organizations of one name: the oldest (lowest id) is the one a person
            # moved to that name joins; a person already in one of them stays (``_write_one``)
            self._org_ids = {_org_key(name): oid for oid, name in sorted(names.items(), reverse=True)}
        return self._org_names

    def _org_name(self, org_id: Any) -> str:
        if not org_id:
            return ""
        if isinstance(org_id, dict):  # v1 shape, should a proxy hand one back
            org_id = org_id.get("value")
        names = self._orgs()
        if int(org_id) not in names:
            try:
                body = self.api.call("GET", f"{ORGS}/{int(org_id)}", record=f"organization {org_id}")
                names[int(org_id)] = str((body.get("data") or {}).get("name") or "")
            except RecordNotFoundError:
                names[int(org_id)] = ""
        return names[int(org_id)]

    def _org_id(self, name: str, where: str) -> int | None:
        name = name.strip()
        if not name:
            return None
        self._orgs()
        found = self._org_ids.get(_org_key(name))
        if found is not None or not self.create_orgs:
            return found
        body = self.api.raw("POST", ORGS, json={"name": name}, record=where)
        oid = int(body["data"]["id"])
        self._orgs()[oid] = name
        self._org_ids[_org_key(name)] = oid
        return oid

    def read_back(self, fields: Fields) -> Fields:
        """The person a write of ``fields`` leaves (``to_body``, then ``as_held``), read as
        a pull reads it, without a call: the name Pipedrive makes of the name parts ("Emma
        Müller" for a hub's "Emma Müller (Supplier 0)"), the labels it can hold (an untyped
        email is "work", a pager phone "other"), an option's own spelling, the organization
        as it is named there (found by name, case aside). Compared as they were, a full
        read (after a settings save, every ``full_every_hours``) wrote such persons again,
        unchanged. A value it cannot hold (no such option) is no agreement: the write says
        why."""
        schema = self.schema()  # read once per run, already by ``fields``
        try:
            body = to_body(fields, schema, None)
        except Unwritable:
            return fields
        name = str(fields.get("organization") or "").strip()
        oid = self._org_ids.get(_org_key(name)) if name else None
        if oid is not None and self._org_names is not None:
            name = self._org_names.get(oid, name)
        elif self._org_names is not None and not self.create_orgs:
            name = ""  # not found, and not made: the write leaves the person without one
        return to_fields(as_held(body), schema, name, self.config.region)

    # --- reading --------------------------------------------------------------------------

    def _record(self, person: Mapping[str, Any]) -> Record:
        schema = self.schema()
        fields = to_fields(person, schema, self._org_name(person.get("org_id")), self.config.region)
        hub_id = (person.get("custom_fields") or {}).get(schema.hub_id_key) if schema.hub_id_key else None
        return Record(
            hub_id=str(hub_id) if hub_id else None,
            native_id=str(person["id"]),
            version=version_of(person.get("update_time"), fields),
            fields=fields,
            modified=modified_of(person),
            where=f"pipedrive person {person['id']}",
        )

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        state = _parse_cursor(cursor)
        started = time.time()
        full = state is None or started - float(state.get("full", 0)) >= self.full_every
        params: dict[str, Any] = {"limit": self.page_size}
        if not full and state is not None:
            params.update(updated_since=state["since"], sort_by="update_time", sort_direction="asc")
        result = Pull(records=iter(()), complete=full)

        def records() -> Iterator[Record | RecordError]:
            since = state.get("since") if state else None
            seen: set[str] = set()
            bound = ""
            for chunk in self.api.pages(PERSONS, params, "the persons"):
                if not bound:  # the listing's start, by Pipedrive's clock when it tells it
                    bound = _stamp((self.api.answered_at or started) - LISTING_SLACK)
                for person in chunk:
                    pid = str(person.get("id", ""))
                    stamp = str(person.get("update_time") or "")
                    if stamp and (since is None or stamp > since):
                        since = stamp
                    if person.get("is_deleted"):
                        result.deleted.add(pid)
                        continue
                    seen.add(pid)
                    try:
                        record = self._record(person)
                    except (KeyError, TypeError, ValueError) as exc:
                        yield RecordError(
                            f"cannot read this person ({exc})", f"pipedrive person {pid}", self.name
                        )
                        continue
                    if known.get(pid) != record.version:
                        yield record
            if full:
                result.deleted |= set(known) - seen
            result.deleted &= set(known)
            result.listed = len(seen)
            # never past the listing's start: a person edited after its page was read but
            # before a later page's (newer) person was, is not listed by this run, and the
            # next must still ask for it; a person listed twice is known by its version
            since = min(since, bound) if since and bound else since or bound
            result.cursor = json.dumps(
                {"since": since or "", "full": started if full else state.get("full", 0) if state else 0}
            )

        result.records = records()
        return result

    def get(self, native_id: str) -> Record:
        where = f"pipedrive person {native_id}"
        person = self._read(native_id, where)
        return self._record(person)

    def _read(self, native_id: str, where: str) -> dict[str, Any]:
        if not native_id.isdigit():
            raise RecordNotFoundError("not a Pipedrive person id", native_id, self.name)
        body = self.api.raw("GET", f"{PERSONS}/{native_id}", record=where)
        person = body.get("data")
        if not isinstance(person, dict) or person.get("is_deleted"):
            raise RecordNotFoundError("deleted in Pipedrive", where, self.name)
        return person

    def find(self, keys: Sequence[str]) -> Record | None:
        """Search by email (exact), then by phone; the person must carry one of ``keys``."""
        wanted = set(keys)
        for key in keys:
            kind, _, value = key.partition(":")
            if kind == "email":
                term, field = value, "email"
            elif kind == "phone+name":
                term, field = value.partition("|")[0], "phone"
            else:
                continue
            if len(term) < 2:
                continue
            params = {"term": term, "fields": field, "exact_match": "true", "limit": 10}
            body = self.api.call("GET", f"{PERSONS}/search", params=params, what="the person search")
            for hit in (body.get("data") or {}).get("items") or []:
                pid = str((hit.get("item") or {}).get("id", ""))
                try:
                    record = self.get(pid)
                except RecordNotFoundError:
                    continue
                if wanted.intersection(match_keys(record.fields)):
                    return record
        return None

    # --- writing --------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: list[WriteResult] = []
        stop: str | None = None
        for op in ops:
            where = _where(op)
            if stop is None and not self.budget.allows(WRITE_COST[op.kind], write=True):
                stop = (
                    "deferred to the next run: Pipedrive's daily token budget is nearly used "
                    f"({self.budget.describe()})"
                )
            if stop is not None:
                results.append(WriteResult(op, error=RecordError(stop, where, self.name)))
                continue
            try:
                results.append(self._write_one(op, where))
            except BudgetExhausted:
                stop = (
                    "deferred to the next run: Pipedrive's daily token budget is used up "
                    "(it resets at midnight)"
                )
                results.append(WriteResult(op, error=RecordError(stop, where, self.name)))
            except Unwritable as exc:
                results.append(WriteResult(op, error=RecordError(str(exc), where, self.name)))
            except RecordError as exc:
                results.append(WriteResult(op, error=exc))
            except RetriableError as exc:
                # persistent 5xx or 429: this and the rest are left for the next run, and what
                # was written already is recorded (raising would lose those results)
                stop = f"not written, the next run retries: {exc.message}"
                results.append(WriteResult(op, error=RecordError(stop, where, self.name)))
        return results

    def refusal(self, op: WriteOp) -> RecordError | None:
        """A create or update with a value Pipedrive cannot hold (an option the field does
        not have, an amount without a currency: ``Unwritable``), told by the person
        fields read this run (none read yet: nothing told, as a read is a call)."""
        if op.kind not in ("create", "update") or self._schema is None:
            return None
        try:
            to_body(op.fields, self._schema, None)
        except Unwritable as exc:
            return RecordError(str(exc), _where(op), self.name)
        return None

    def _write_one(self, op: WriteOp, where: str) -> WriteResult:
        if op.kind == "create":
            # the body first, its organization after: made first, a person refused for an
            # option (``Unwritable``) left a new organization behind
            body = to_body(op.fields, self.schema(), None, op.hub_id)
            body["org_id"] = self._org_id(op.fields.get("organization", ""), where)
            person = self.api.raw("POST", PERSONS, json=body, record=where)["data"]
        else:
            native_id = op.native_id or ""
            current = self._read(native_id, where)
            if op.version is not None and self._record(current).version != op.version:
                raise StaleVersionError("changed in Pipedrive since it was read", where, self.name)
            if op.kind == "delete":
                self.api.raw("DELETE", f"{PERSONS}/{native_id}", record=where)
                return WriteResult(op, native_id=native_id)
            if op.kind != "update":
                raise RecordError(f"cannot {op.kind} a Pipedrive person", where, self.name)
            # the body sends every email: those it holds keep their spelling there (the
            # hub may spell one otherwise, in another case)
            fields, held = op.fields, self._record(current).fields.get("emails")
            if fields.get("emails") and held:
                fields = {**fields, "emails": keep_spelling("emails", fields["emails"], held)}
            body = to_body(fields, self.schema(), None)
            wanted = str(op.fields.get("organization") or "")
            if _org_key(wanted) == _org_key(self._org_name(current.get("org_id"))):
                # same name: the person stays where it is (another organization of that
                # name, as ``_org_id`` would find, is not this one)
                del body["org_id"]
            else:
                body["org_id"] = self._org_id(wanted, where)
            person = self.api.raw("PATCH", f"{PERSONS}/{native_id}", json=body, record=where)["data"]
        record = self._record(person)
        return WriteResult(op, native_id=record.native_id, version=record.version, fields=record.fields)

    def api_calls(self) -> dict[str, int]:
        return dict(self.api.client.calls)

    def close(self) -> None:
        self.api.close()


def _where(op: WriteOp) -> str:
    """The record a write's error names."""
    return f"pipedrive person {op.native_id}" if op.native_id else f"new pipedrive person for {op.hub_id}"


def _parse_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("since") else None


def _stamp(ts: float) -> str:
    """A time as Pipedrive's v2 ``update_time`` spells it (RFC 3339, whole seconds, UTC):
    so that it compares with those as text."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _int_setting(settings: Mapping[str, Any], name: str, default: int, where: str) -> int:
    value = settings.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {value!r}", where) from None


def _org_key(name: str) -> str:
    """An organization's name as its lookup compares it: case aside, and runs of spaces as
    one ("Acme  Construction Inc. " typed on a phone made a second organization)."""
    return " ".join(name.split()).casefold()
