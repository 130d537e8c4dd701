"""Procore company directory: users, vendors and people of one company, both ways.

Reads page through ``page``/``per_page`` (``Link`` rel="next") with the largest page the API
honours. A run with a cursor asks only for ``filters[updated_at]=SINCE...NOW`` (one call per
object type when nothing changed); a full listing every ``full_every`` (default 24 h) sees
the deactivations an ``updated_at`` filter cannot, because the active list simply loses them.
People have no ``updated_at`` filter and are listed whole, which is cheap: they are the few
contacts without a login.

Writes: one record goes through POST/PATCH; a batch of users goes through ``PATCH
.../users/sync`` (1000 per call), which answers per record, so one refused record never
fails the others. Procore deletes nothing: a deletion deactivates (``is_active: false``). A
create carries our hub id as ``origin_id``; sync matches on it, so a create whose answer was
lost is found and updated instead of duplicated. Procore has no version check on writes:
before updating, the records changed since the versions we hold are listed (one filtered
call) and a write over someone else's newer edit is refused as stale.

Authentication: ``client_credentials`` (a developer managed service account) when
``client_secret`` is set and no one signed in, else the authorization code of ``contacthub
connect`` with single-use refresh tokens saved before use (``oauth.OAuthSession``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

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
from contacthub.connectors.http import ApiClient, RateHeaders, error_for
from contacthub.connectors.oauth import OAuthClient, OAuthSession, authorize, token_set
from contacthub.connectors.procore_map import (
    USER_MAPPABLE,
    USER_SCALARS,
    parse_time,
    person_attrs,
    person_fields,
    updated_of,
    user_attrs,
    user_fields,
    vendor_attrs,
    vendor_fields,
    version_of,
)
from contacthub.errors import (
    ConfigError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from contacthub.model import Fields, match_keys

OBJECTS = ("users", "vendors", "people")
PREFIX = {"users": "", "vendors": "vendor:", "people": "person:"}
OVERLAP = 60  # seconds re-read at the start of an incremental window (clock skew, same-second edits)
SYNC_LIMIT = 1000
DEFAULT_REDIRECT = "http://127.0.0.1:8765/callback"


def parse_duration(value: Any) -> float:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"``, or a number of hours."""
    if isinstance(value, int | float):
        return float(value) * 3600
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not match:
        raise ConfigError(f"full_every must look like 24h, 30m or 7d, not {value!r}")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}[match.group(2)]
    return float(match.group(1)) * unit


def stamp(moment: float) -> str:
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind_of(native_id: str) -> tuple[str, int | None]:
    for kind in ("vendors", "people"):
        if native_id.startswith(PREFIX[kind]):
            rest = native_id[len(PREFIX[kind]) :]
            return kind, int(rest) if rest.isdigit() else None
    return "users", int(native_id) if native_id.isdigit() else None


class ProcoreConnector(Connector):
    type = "procore"
    capabilities = Capabilities(
        create=True, update=True, delete=True, deactivate=True, delta=True, batch_size=SYNC_LIMIT
    )
    secret_settings = frozenset({"client_secret"})
    default_mapping = USER_SCALARS

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        s = config.settings
        try:
            self.company_id = int(s["company_id"])
            self.projects = [int(p) for p in s.get("projects", [])]
            self.per_page = max(1, int(s.get("per_page", 1000)))
        except KeyError:
            raise ConfigError("procore connectors need company_id", self.name) from None
        except (TypeError, ValueError):
            raise ConfigError("company_id, projects and per_page must be numbers", self.name) from None
        self.objects = tuple(s.get("objects", ["users"]))
        unknown = [o for o in self.objects if o not in OBJECTS]
        if unknown or not self.objects:
            raise ConfigError(
                f"objects must be among {', '.join(OBJECTS)} (got {unknown or 'none'})", self.name
            )
        self.full_every = parse_duration(s.get("full_every", "24h"))
        self.create_vendors = bool(s.get("create_vendors", True))
        self.base_url = str(s.get("base_url", "https://api.procore.com")).rstrip("/")
        self.login_url = str(s.get("login_url", "https://login.procore.com")).rstrip("/")
        self.mapping = dict(USER_SCALARS)
        for canon, native in config.mapping.items():
            if native not in USER_MAPPABLE:
                raise ConfigError(
                    f"mapping {canon!r} = {native!r}: Procore user attributes that can be mapped are "
                    + ", ".join(sorted(USER_MAPPABLE)),
                    self.name,
                )
            self.mapping = {k: v for k, v in self.mapping.items() if v != native}
            self.mapping[canon] = native
        tokens = config.credentials.load()
        client_id = str(s.get("client_id") or tokens.get("client_id") or "")
        secret = str(s.get("client_secret") or tokens.get("client_secret") or "")
        grant: Literal["authorization_code", "client_credentials"] = s.get("grant") or (
            "authorization_code" if tokens.get("refresh_token") or not secret else "client_credentials"
        )
        if grant not in ("authorization_code", "client_credentials"):
            raise ConfigError("grant must be authorization_code or client_credentials", self.name)
        self.oauth = OAuthClient(
            token_url=f"{self.login_url}/oauth/token",
            authorize_url=f"{self.login_url}/oauth/authorize",
            client_id=client_id,
            client_secret=secret,
        )
        self.session = OAuthSession(self.oauth, config.credentials, connector=self.name, grant=grant)
        self.client = ApiClient(
            self.base_url,
            connector=self.name,
            auth=self.session,
            headers={"Procore-Company-Id": str(self.company_id), "Accept": "application/json"},
            rate_headers=RateHeaders(),
            reserve=int(s.get("rate_reserve", 1)),
        )
        self._vendor_names: dict[str, int] | None = None
        self._pulled_at: float | None = None  # NOW of this instance's last users listing
        self._project_users: set[int] | None = None

    # --- settings and paths ---------------------------------------------------------------

    @property
    def fields(self) -> frozenset[str]:
        # no display_name: Procore derives ``name`` from the name parts and keeps no other
        held = {*self.mapping, "organization", "emails", "phones", "addresses"}
        if "vendors" in self.objects:
            held |= {"websites", "custom.trade", "notes"}
        return frozenset(held)

    @property
    def users_path(self) -> str:
        return f"/rest/v1.0/companies/{self.company_id}/users"

    def _what(self) -> str:
        return f"Procore company {self.company_id}"

    def _list(self, path: str, params: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing, following ``Link`` rel="next"."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": self.per_page, "page": 1}
        while url:
            response = self.client.request("GET", url, params=query)
            if response.status_code != 200:
                raise error_for(response, self.name, what=what)
            items = response.json()
            if not isinstance(items, list):
                raise error_for(response, self.name, what=what)
            yield from items
            nxt = response.links.get("next", {}).get("url")
            url, query = (nxt, None) if nxt and items else (None, None)

    # --- reading ----------------------------------------------------------------------------

    def _record(self, kind: str, native: Mapping[str, Any]) -> Record:
        region = self.config.region
        if kind == "users":
            fields = user_fields(native, self.mapping, region)
        elif kind == "vendors":
            fields = vendor_fields(native, region)
        else:
            fields = person_fields(native, region)
        updated = native.get("updated_at")
        native_id = PREFIX[kind] + str(native["id"])
        return Record(
            native_id=native_id,
            version=version_of(updated, fields),
            fields=fields,
            modified=parse_time(updated),
            hub_id=native.get("origin_id") or None,
            where=f"Procore {kind[:-1] if kind != 'people' else 'person'} {native['id']}",
        )

    def _source(self, kind: str, since: str | None, now: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {}
        if since and kind != "people":
            params["filters[updated_at]"] = f"{since}...{now}"
        if kind == "people":
            params.update({"view": "extended", "filters[reference_users_only]": "true"})
        if self.projects:
            seen: set[int] = set()
            for pid in self.projects:
                path = {
                    "users": f"/rest/v1.0/projects/{pid}/users",
                    "vendors": f"/rest/v1.0/projects/{pid}/vendors",
                    "people": f"/rest/v1.0/projects/{pid}/people",
                }[kind]
                for item in self._list(path, params, f"Procore project {pid}"):
                    if item["id"] not in seen:
                        seen.add(item["id"])
                        yield item
            return
        if kind == "users":
            yield from self._list(self.users_path, params, self._what())
        elif kind == "vendors":
            yield from self._list(
                "/rest/v1.0/vendors", {**params, "company_id": self.company_id}, self._what()
            )
        else:
            yield from self._list(f"/rest/v1.0/companies/{self.company_id}/people", params, self._what())

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        state: dict[str, Any] = orjson.loads(cursor) if cursor else {}
        now_ts = time.time()
        now = stamp(now_ts)
        plan: dict[str, str | None] = {}
        for kind in self.objects:
            mine = state.get(kind) or {}
            full_due = not mine or now_ts - float(mine.get("full", 0)) >= self.full_every or not known
            plan[kind] = None if full_due or kind == "people" else stamp(float(mine["since"]) - OVERLAP)
        pull = Pull(records=iter(()), complete=all(since is None for since in plan.values()))

        def records() -> Iterator[Record]:
            listed = 0
            new_state: dict[str, Any] = {}
            for kind, since in plan.items():
                seen: set[str] = set()
                names: dict[str, int] = {}
                for native in self._source(kind, since, now):
                    if kind == "vendors" and native.get("name"):
                        names.setdefault(str(native["name"]).casefold(), int(native["id"]))
                    record = self._record(kind, native)
                    seen.add(record.native_id)
                    if known.get(record.native_id) != record.version:
                        yield record
                listed += len(seen)
                if kind == "vendors" and since is None:
                    self._vendor_names = names  # every vendor: no listing needed to resolve names
                if since is None:  # a full listing: what the hub knew and is gone was deactivated
                    pull.deleted |= {n for n in known if kind_of(n)[0] == kind and n not in seen}
                    full = now_ts
                else:
                    full = float(state[kind]["full"])
                new_state[kind] = {"since": now_ts, "full": full}
                if kind == "users":
                    self._pulled_at = now_ts
            pull.listed = listed
            pull.cursor = orjson.dumps(new_state).decode()

        pull.records = records()
        return pull

    def get(self, native_id: str) -> Record:
        kind, number = kind_of(native_id)
        if number is None:
            raise RecordNotFoundError("not a Procore id", native_id, self.name)
        if kind == "people":
            for native in self._source("people", None, stamp(time.time())):
                if native["id"] == number:
                    return self._record(kind, native)
            raise RecordNotFoundError("no such person", native_id, self.name)
        path = f"{self.users_path}/{number}" if kind == "users" else f"/rest/v1.0/vendors/{number}"
        params = {"company_id": self.company_id} if kind == "vendors" else None
        response = self.client.request("GET", path, params=params)
        if response.status_code != 200:
            raise error_for(response, self.name, record=native_id)
        native = response.json()
        if not native.get("is_active", True):
            raise RecordNotFoundError("deactivated in Procore", native_id, self.name)
        return self._record(kind, native)

    def find(self, keys: Sequence[str]) -> Record | None:
        wanted = set(keys)
        for key in keys:
            term = key.split(":", 1)[1] if key.startswith("email:") else key.rpartition("|")[2]
            if not term:
                continue
            for kind in self.objects:
                if kind == "people":
                    continue
                params: dict[str, Any] = {"filters[search]": term}
                path = self.users_path if kind == "users" else "/rest/v1.0/vendors"
                if kind == "vendors":
                    params["company_id"] = self.company_id
                for native in self._list(path, params, self._what()):
                    record = self._record(kind, native)
                    if wanted.intersection(match_keys(record.fields)):
                        return record
        return None

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

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        bodies: dict[int, dict[str, Any]] = {}
        for i, op in enumerate(ops):  # refusals we can tell without a call, and no-op updates
            kind = self._kind_for_create(op.fields) if op.kind == "create" else kind_of(op.native_id or "")[0]
            where = op.native_id or f"new Procore {kind} for {op.hub_id}"
            if op.kind != "create" and kind_of(op.native_id or "")[1] is None:
                results[i] = WriteResult(op, error=RecordNotFoundError("not a Procore id", where, self.name))
            elif kind == "users":
                try:
                    bodies[i] = self._user_body(op)
                except RecordError as exc:
                    results[i] = WriteResult(op, error=exc)
                    continue
                unchanged = self._unchanged(op, bodies[i])
                if unchanged is not None:
                    results[i] = unchanged
        pending = [i for i in range(len(ops)) if i not in results]
        stale = self._stale([(i, ops[i]) for i in pending])
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

    def _stale(self, ops: Sequence[tuple[int, WriteOp]]) -> dict[int, StaleVersionError]:
        """Ops whose record changed since the version they carry. One filtered listing per
        object type: everything updated since the oldest version (or since this instance's
        last pull, which saw everything older)."""
        checked = [(i, op) for i, op in ops if op.kind != "create" and op.version and op.native_id]
        out: dict[int, StaleVersionError] = {}
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
        body = {"company_id": self.company_id, "vendor": {"name": name}}
        response = self.client.request("POST", "/rest/v1.0/vendors", json=body)
        if response.status_code not in (200, 201):
            raise error_for(response, self.name, record=f"vendor {name!r}")
        vid = int(response.json()["id"])
        self._vendor_names[name.casefold()] = vid
        return vid

    def _user_body(self, op: WriteOp) -> dict[str, Any]:
        if op.kind in ("delete", "deactivate"):
            return {"is_active": False}
        attrs = user_attrs(op.fields, self.mapping)
        attrs["vendor_id"] = self._vendor_id(op.fields.get("organization"))
        if op.kind == "create":
            missing = [
                n
                for n, a in (("an email address", "email_address"), ("a last name", "last_name"))
                if not attrs.get(a)
            ]
            if missing:
                raise RecordError(
                    f"Procore users need {' and '.join(missing)}",
                    f"new Procore user for {op.hub_id}",
                    self.name,
                )
            attrs["origin_id"] = op.hub_id
        return attrs

    def _unchanged(self, op: WriteOp, attrs: dict[str, Any]) -> WriteResult | None:
        """An update that would write what the user already holds (the hub changed a field
        Procore has no room for) is answered without a call: the version's digest is of
        the record's mapped fields, so equal digests mean an equal record."""
        if op.kind != "update" or not op.version or "~" not in op.version:
            return None
        native = {
            **attrs,
            "vendor": {"name": op.fields.get("organization")} if attrs.get("vendor_id") else None,
        }
        fields = user_fields(native, self.mapping, self.config.region)
        if version_of(updated_of(op.version), fields) != op.version:
            return None
        return WriteResult(op, op.native_id, op.version, fields)

    def _user_result(self, op: WriteOp, native: Mapping[str, Any]) -> WriteResult:
        record = self._record("users", native)
        if op.kind in ("delete", "deactivate"):
            return WriteResult(op, record.native_id, record.version)
        if not native.get("is_active", True):
            return WriteResult(
                op, error=RecordNotFoundError("deactivated in Procore", record.native_id, self.name)
            )
        return WriteResult(op, record.native_id, record.version, record.fields)

    def _write_user(self, op: WriteOp, attrs: dict[str, Any]) -> WriteResult:
        where = op.native_id or f"new Procore user for {op.hub_id}"
        if op.kind == "create":
            response = self.client.request("POST", self.users_path, json={"user": attrs})
            if response.status_code in (409, 422):  # maybe ours: a create whose answer was lost
                found = next(
                    self._list(self.users_path, {"filters[origin_id]": op.hub_id}, self._what()), None
                )
                if found is not None:
                    attrs.pop("origin_id", None)
                    response = self.client.request(
                        "PATCH", f"{self.users_path}/{found['id']}", json={"user": attrs}
                    )
        else:
            response = self.client.request("PATCH", f"{self.users_path}/{op.native_id}", json={"user": attrs})
        if response.status_code not in (200, 201):
            return WriteResult(
                op, error=_record_error(error_for(response, self.name, record=where), where, self.name)
            )
        result = self._user_result(op, response.json())
        if op.kind == "create" and result.error is None and self.projects:
            self._add_to_projects(int(response.json()["id"]))
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
        for i, op, _ in batch:
            where = op.native_id or f"new Procore user for {op.hub_id}"
            if op.kind == "create":
                native, failure = by_origin.get(op.hub_id), failed_origin.get(op.hub_id)
            else:
                native, failure = by_id.get(int(op.native_id or 0)), failed_id.get(int(op.native_id or 0))
            if native is not None:
                out[i] = self._user_result(op, native)
                if op.kind == "create" and self.projects and out[i].error is None:
                    self._add_to_projects(int(native["id"]))
            else:
                message = _sync_message(failure) if failure else "no answer for this record"
                if failure and "not found" in message.lower():
                    out[i] = WriteResult(op, error=RecordNotFoundError(message, where, self.name))
                else:
                    out[i] = WriteResult(op, error=RecordError(f"refused: {message}", where, self.name))
        return out

    def _add_to_projects(self, user_id: int) -> None:
        for pid in self.projects:
            response = self.client.request(
                "POST", f"/rest/v1.0/projects/{pid}/users/{user_id}/actions/add", json={}
            )
            if response.status_code not in (200, 201):
                raise error_for(response, self.name, what=f"Procore project {pid}")

    def _write_other(self, kind: str, op: WriteOp, number: int | None, where: str) -> WriteResult:
        """Vendors and people, one call each (they are few)."""
        if kind == "vendors":
            attrs: dict[str, Any] = (
                {"is_active": False} if op.kind in ("delete", "deactivate") else vendor_attrs(op.fields)
            )
            if op.kind == "create":
                attrs["origin_id"] = op.hub_id
                response = self.client.request(
                    "POST", "/rest/v1.0/vendors", json={"company_id": self.company_id, "vendor": attrs}
                )
            else:
                response = self.client.request(
                    "PATCH",
                    f"/rest/v1.0/vendors/{number}",
                    json={"company_id": self.company_id, "vendor": attrs},
                )
        else:
            gone = op.kind in ("delete", "deactivate")
            attrs = {"active": False} if gone else person_attrs(op.fields)
            base = f"/rest/v1.0/companies/{self.company_id}/people"
            if op.kind == "create":
                attrs["origin_id"] = op.hub_id
                response = self.client.request("POST", base, json={"person": attrs})
            else:
                response = self.client.request("PATCH", f"{base}/{number}", json={"person": attrs})
        if response.status_code not in (200, 201):
            return WriteResult(
                op, error=_record_error(error_for(response, self.name, record=where), where, self.name)
            )
        native = response.json()
        if kind == "vendors" and native.get("name") and self._vendor_names is not None:
            self._vendor_names[str(native["name"]).casefold()] = int(native["id"])
        record = self._record(kind, native)
        if op.kind in ("delete", "deactivate"):
            return WriteResult(op, record.native_id, record.version)
        return WriteResult(op, record.native_id, record.version, record.fields)

    # --- signing in, lifecycle ----------------------------------------------------------------

    def check(self) -> None:
        self.session.ensure()

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        s = config.settings
        login = str(s.get("login_url", "https://login.procore.com")).rstrip("/")
        client_id = str(s.get("client_id") or ui.ask("Procore app client id"))
        secret = str(s.get("client_secret") or ui.ask("Procore app client secret", secret=True))
        client = OAuthClient(
            token_url=f"{login}/oauth/token",
            authorize_url=f"{login}/oauth/authorize",
            client_id=client_id,
            client_secret=secret,
        )
        if s.get("grant") == "client_credentials":
            answer = client.request_token({"grant_type": "client_credentials"}, config.name)
            tokens = token_set(answer, {}, time.time())
        else:
            ui.echo(f"Sign in to Procore and allow access for company {s.get('company_id', '?')}.")
            tokens = authorize(
                client,
                config.credentials,
                ui,
                redirect_uri=str(s.get("redirect_uri", DEFAULT_REDIRECT)),
                connector=config.name,
            )
        if not s.get("client_id"):
            tokens["client_id"] = client_id
        if not s.get("client_secret"):
            tokens["client_secret"] = secret
        config.credentials.save(tokens)

    def api_calls(self) -> dict[str, int]:
        return dict(self.client.calls)

    def close(self) -> None:
        self.client.close()


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
