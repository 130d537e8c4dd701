"""Procore connector, part one: settings, the API client, and reading (paged and
incremental listings, one record, search). See ``procore.py`` for the whole picture."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from contacthub.connectors.base import (
    Connector,
    ConnectorConfig,
    Pull,
    Record,
)
from contacthub.connectors.http import ApiClient, RateHeaders, error_for
from contacthub.connectors.oauth import OAuthClient, OAuthSession
from contacthub.connectors.procore_map import (
    USER_MAPPABLE,
    USER_SCALARS,
    parse_time,
    person_fields,
    user_fields,
    vendor_fields,
    version_of,
)
from contacthub.errors import (
    ConfigError,
    RecordNotFoundError,
    RetriableError,
)
from contacthub.model import match_keys

OBJECTS = ("users", "vendors", "people")
#: the ``origin_code`` of a vendor the hub made as the company of a user it created
COMPANY_VENDOR = "contacthub-company"
#: what makes a vendor a contact of its own: any of these filled in
_CONTACT_DETAILS = ("email_address", "business_phone", "mobile_phone", "fax_number", "address", "website")


def company_only(native: Mapping[str, Any]) -> bool:
    """A vendor the hub made for a user's company that still holds only its name: no
    contact. Read back, the next run made it a person in every connector (a CRM got
    "Acme" / "Construction Inc." as first and last name). Filled in since, it is one."""
    return native.get("origin_code") == COMPANY_VENDOR and not any(native.get(k) for k in _CONTACT_DETAILS)


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


class ProcoreReader(Connector):
    """Settings, client and the read side; ``ProcoreWriter`` adds writes."""

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

    # --- paths and listings --------------------------------------------------------------

    @property
    def users_path(self) -> str:
        return f"/rest/v1.0/companies/{self.company_id}/users"

    def _what(self) -> str:
        return f"Procore company {self.company_id}"

    def _list(self, path: str, params: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing, following ``Link`` rel="next"; a listing that
        comes up short of the ``Total`` header Procore sends is a ``RetriableError`` at
        its end, before its caller takes what it did not list for deactivated.

        A page can go missing on the way (a server or proxy answering ``page=5`` with page
        6, an empty page with a ``next`` link) while every header still looks right: the
        records on it were then taken for deleted everywhere. The rule, since records may
        come and go while the listing runs (``Total`` moves with them): the distinct ids
        listed (one listed twice, as an insertion shifts the pages, counts once) must be
        at least the smallest ``Total`` any page sent. A listing longer than that is fine
        (records added meanwhile); one shorter missed records that were there on every
        page asked for, which only a page skipped (or a deactivation shifting one past
        us, a record that was missed all the same) explains. A listing with no ``Total``
        (Procore does not page every endpoint) is taken as it comes."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": self.per_page, "page": 1}
        ids: set[Any] = set()
        total: int | None = None
        while url:
            response = self.client.request("GET", url, params=query)
            if response.status_code != 200:
                raise error_for(response, self.name, what=what)
            items = response.json()
            if not isinstance(items, list):
                raise error_for(response, self.name, what=what)
            said = response.headers.get("Total", "").strip()
            if said.isdigit():
                total = int(said) if total is None else min(total, int(said))
            ids.update(item.get("id") if isinstance(item, dict) else None for item in items)
            yield from items
            nxt = response.links.get("next", {}).get("url")
            url, query = (nxt, None) if nxt and items else (None, None)
        if total is not None and len(ids) < total:
            raise RetriableError(
                f"{what}: the listing of {path} came up short: {len(ids)} of Total {total} "
                "records (a page went missing on the way); nothing is taken for deleted from "
                "it, the next run tries again",
                self.name,
            )

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
            version=version_of(updated, fields, native.get("is_active") is not False),
            fields=fields,
            modified=parse_time(updated),
            hub_id=native.get("origin_id") or None,
            where=f"Procore {kind[:-1] if kind != 'people' else 'person'} {native['id']}",
        )

    def _source(self, kind: str, since: str | None, now: str) -> Iterator[dict[str, Any]]:
        """The records of ``kind`` (updated since ``since`` where Procore can filter so).
        People, and a project's vendors, have no documented ``filters[updated_at]``: they
        are listed whole, and the caller drops what the hub already has by its version."""
        params: dict[str, Any] = {}
        if since and kind != "people" and not (kind == "vendors" and self.projects):
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
            changed_vendors: list[int] = []  # listed by an incremental listing: maybe renamed
            users_seen: set[str] = set()
            for kind, since in plan.items():
                seen: set[str] = set()
                names: dict[str, int] = {}
                for native in self._source(kind, since, now):
                    if native.get("is_active") is False:
                        # deactivated, though listed: the vendors list is documented as
                        # "all Vendors", inactive ones perhaps among them. Such a record is
                        # gone, as one a full listing leaves out (by then it was never
                        # missing, and its contact lived on everywhere). In a project's
                        # list it may be inactive there only: ``_gone`` asks the company
                        gone = PREFIX[kind] + str(native["id"])
                        if since is not None and gone in known and not self.projects:
                            pull.deleted.add(gone)
                        continue
                    if kind == "vendors" and native.get("name"):
                        names.setdefault(str(native["name"]).casefold(), int(native["id"]))
                    if kind == "vendors" and since is not None:
                        changed_vendors.append(int(native["id"]))
                    if kind == "vendors" and company_only(native):
                        continue
                    record = self._record(kind, native)
                    seen.add(record.native_id)
                    if known.get(record.native_id) != record.version:
                        yield record
                listed += len(seen)
                if kind == "users":
                    users_seen = seen
                if kind == "vendors" and since is None:
                    self._vendor_names = names  # every vendor: no listing needed to resolve names
                if since is None:  # a full listing: what the hub knew and is gone was deactivated
                    pull.deleted |= self._gone(
                        kind, {n for n in known if kind_of(n)[0] == kind and n not in seen}
                    )
                    full = now_ts
                else:
                    full = float(state[kind]["full"])
                new_state[kind] = {"since": now_ts, "full": full}
                if kind == "users":
                    self._pulled_at = now_ts
            if plan.get("users") is not None and not self.projects:
                yield from self._users_of_vendors(plan, now, changed_vendors, users_seen, known)
            pull.listed = listed
            pull.cursor = orjson.dumps(new_state).decode()

        pull.records = records()
        return pull

    def _users_of_vendors(
        self,
        plan: Mapping[str, str | None],
        now: str,
        changed: list[int],
        seen: set[str],
        known: Mapping[str, str],
    ) -> Iterator[Record]:
        """The users of the vendors changed since the last run, read again for an
        incremental run: a user's organization is its vendor's name, and a vendor renamed
        moves no user's ``updated_at``, so the users' ``filters[updated_at]`` listing never
        showed them with the new name. The hub kept the old one, and an edit of such a user
        made elsewhere was written with it (``ProcoreWriter._user_body`` now sends the vendor
        only for an organization changed in the hub, and takes a user whose vendor was
        renamed since its version for stale). One listing of the vendors changed, where
        they are not synced themselves (none for a run where none changed), and one of
        their users (``filters[vendor_id][]``) when some were."""
        if "vendors" not in plan:
            changed = [
                int(v["id"])
                for v in self._source("vendors", plan["users"], now)
                if v.get("is_active") is not False
            ]
        if not changed:
            return
        mine = {"filters[vendor_id][]": sorted(set(changed))}
        for native in self._list(self.users_path, mine, self._what()):
            if native.get("is_active") is False:
                continue
            record = self._record("users", native)
            if record.native_id not in seen and known.get(record.native_id) != record.version:
                yield record

    def _gone(self, kind: str, missing: set[str]) -> set[str]:
        """Of the records a full listing no longer shows, those that were deleted. Within
        ``projects`` a person may only have left the projects: only those in the company's
        inactive list count as deleted; the others are left as they are."""
        if not missing or not self.projects:
            return missing
        path = f"/rest/v1.0/companies/{self.company_id}/{kind}/inactive"
        inactive = {PREFIX[kind] + str(item["id"]) for item in self._list(path, {}, self._what())}
        return missing & inactive

    def get(self, native_id: str) -> Record:
        return self._get(native_id, inactive=False)

    def get_deactivated(self, native_id: str) -> Record:
        """A user or vendor the hub deactivated, shown whatever its state (Procore's show
        answers for an inactive one): a person added again takes it up, and the write
        reactivates it. Read with ``get``, it was "not found", so the person's create
        followed, which Procore refuses for a user (the email is the inactive user's) and
        takes for a vendor (a second one beside the inactive one). A person without a login
        has no show GET; Procore lists the inactive ones (``people/inactive``), read
        through here when the active listing has them not: looked for among the active
        ones only, one added again was made a second time beside the inactive one. A
        person's update sends ``active: true``, which reactivates them."""
        return self._get(native_id, inactive=True)

    def _get(self, native_id: str, *, inactive: bool) -> Record:
        kind, number = kind_of(native_id)
        if number is None:
            raise RecordNotFoundError("not a Procore id", native_id, self.name)
        if kind == "people":
            listings = [self._source("people", None, stamp(time.time()))]
            if inactive:  # Procore's inactive people, documented as a listing of its own
                mine = {"view": "extended", "filters[reference_users_only]": "true"}
                path = f"/rest/v1.0/companies/{self.company_id}/people/inactive"
                listings.append(self._list(path, mine, self._what()))
            for listing in listings:
                for native in listing:
                    if native["id"] == number:
                        return self._record(kind, native)
            raise RecordNotFoundError("no such person", native_id, self.name)
        path = f"{self.users_path}/{number}" if kind == "users" else f"/rest/v1.0/vendors/{number}"
        params = {"company_id": self.company_id} if kind == "vendors" else None
        response = self.client.request("GET", path, params=params)
        if response.status_code != 200:
            raise error_for(response, self.name, record=native_id)
        native = response.json()
        if not inactive and not native.get("is_active", True):
            raise RecordNotFoundError("deactivated in Procore", native_id, self.name)
        return self._record(kind, native)

    def find(self, keys: Sequence[str]) -> Record | None:
        """A record by email, or by phone and name. Procore's company-user search matches a
        first name, last name, email, job title or company name, never a full name: users
        are searched by the name's last word (the family name's, or the one name there is)
        and the candidates checked here against the whole key."""
        wanted = set(keys)
        for key in keys:
            term = key.split(":", 1)[1] if key.startswith("email:") else key.rpartition("|")[2]
            if not term:
                continue
            for kind in self.objects:
                if kind == "people":
                    continue
                by_name = kind == "users" and not key.startswith("email:")
                params: dict[str, Any] = {"filters[search]": term.split()[-1] if by_name else term}
                path = self.users_path if kind == "users" else "/rest/v1.0/vendors"
                if kind == "vendors":
                    params["company_id"] = self.company_id
                for native in self._list(path, params, self._what()):
                    if native.get("is_active") is False:
                        continue  # (a deactivated record listed: no one to link to)
                    record = self._record(kind, native)
                    if wanted.intersection(match_keys(record.fields)):
                        return record
        return None
