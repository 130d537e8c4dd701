"""Microsoft Graph v1.0 as the emulator serves it: users, org contacts, their delta queries,
group members, user updates and JSON batching.

Every request goes through ``GraphApi.call`` (method, path, query, body) and gets back a
``Reply``; the HTTP route and ``$batch`` both use it, so a batched request behaves exactly like
a direct one (each one is throttled on its own, as Graph does). Names, paging annotations,
``@removed`` entries and error bodies are spelled as Microsoft's documentation spells them.

Delta tokens are opaque to clients: they carry the change number a round started after and
the one it stops at, the ``$select``, and when they were issued. A round lists objects whose
last Graph-visible change falls in that window, keyed by id, so an object changed while a
client is paging is not lost: it falls after the window and comes in the next round.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from contacthub.emulators.m365_data import Obj, Tenant, graph_contact
from contacthub.emulators.m365_wire import Reply, decode_token, encode_token, error, not_found

__all__ = ["GraphApi", "Reply", "decode_token", "encode_token", "error", "not_found"]

#: string collections that take ``any`` with ``eq`` in ``$filter`` (Graph's user and
#: orgContact pages: proxyAddresses supports eq; imAddresses, otherMails too for users)
LAMBDA_FILTER = {
    "users": ("proxyAddresses", "imAddresses", "otherMails"),
    "contacts": ("proxyAddresses",),
}
USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)
USER_WRITABLE = frozenset(
    {
        "displayName",
        "givenName",
        "surname",
        "jobTitle",
        "department",
        "companyName",
        "officeLocation",
        "streetAddress",
        "city",
        "state",
        "postalCode",
        "country",
        "businessPhones",
        "mobilePhone",
        "faxNumber",
        "mail",
        "accountEnabled",
        "usageLocation",
        "employeeId",
        "preferredLanguage",
    }
)
ON_PREM_MESSAGE = (
    "Unable to update the specified properties for on-premises mastered Directory Sync objects "
    "or objects currently undergoing migration."
)
TOKEN_LIFETIME = 7 * 24 * 3600.0


class GraphApi:
    """Graph for one emulator; ``throttle`` decides per call whether to answer 429."""

    def __init__(
        self,
        page_size: int = 200,
        throttle: Callable[[Tenant], Reply | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.page_size = page_size
        self.throttle = throttle
        self.clock = clock
        self.expire_delta = False  # fault switch: every delta token answers 410 Gone (state lost)
        self._rounds: dict[tuple[str, str, int, int], list[str]] = {}
        self.calls = 0

    def call(
        self, tenant: Tenant, base: str, method: str, url: str, body: Any = None, headers: Any = None
    ) -> Reply:
        """One Graph request; ``url`` is the path after ``/v1.0`` with its query string."""
        self.calls += 1
        if self.throttle is not None:
            refused = self.throttle(tenant)
            if refused is not None:
                return refused
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = [s for s in path.split("/") if s]
        method = method.upper()
        with tenant.lock:
            return self._route(tenant, base, method, segments, query, body)

    def _route(
        self, tenant: Tenant, base: str, method: str, seg: list[str], query: dict[str, str], body: Any
    ) -> Reply:
        if seg and seg[0] in ("users", "contacts"):
            kind = seg[0]
            if len(seg) == 1 and method == "GET":
                return self._list(tenant, base, kind, query)
            if len(seg) == 2 and seg[1] in ("delta", "delta()") and method == "GET":
                return self._delta(tenant, base, kind, query)
            if len(seg) == 2 and method == "GET":
                return self._get(tenant, base, kind, seg[1], query)
            if len(seg) == 2 and kind == "users" and method == "PATCH":
                return self._patch_user(tenant, seg[1], body)
            if len(seg) == 2 and kind == "contacts" and method in ("PATCH", "POST", "DELETE"):
                return error(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
        if seg and seg[0] == "groups":
            if len(seg) == 1 and method == "GET":
                return self._groups(tenant, base, query)
            if len(seg) == 3 and seg[2] == "members" and method == "GET":
                return self._members(tenant, base, seg[1], query)
        return error(400, "BadRequest", f"Resource not found for the segment '{seg[-1] if seg else ''}'.")

    # --- shapes -------------------------------------------------------------------------

    def _view(self, kind: str, obj: Obj, select: list[str] | None) -> dict[str, Any]:
        full = dict(obj.props) if kind == "users" else graph_contact(obj)
        names = select or (list(USER_DEFAULT) if kind == "users" else list(full))
        out = {name: full.get(name) for name in names if name != "id"}
        return {"id": obj.id, **out}

    @staticmethod
    def _select(query: dict[str, str]) -> list[str] | None:
        raw = query.get("$select")
        return [s.strip() for s in raw.split(",") if s.strip()] if raw else None

    @staticmethod
    def _context(base: str, kind: str, select: list[str] | None) -> str:
        return f"{base}/v1.0/$metadata#{kind}" + (f"({','.join(select)})" if select else "")

    def _store(self, tenant: Tenant, kind: str) -> dict[str, Obj]:
        return tenant.users if kind == "users" else tenant.contacts

    # --- reads --------------------------------------------------------------------------

    def _top(self, query: dict[str, str]) -> Any:
        raw = query.get("$top")
        if raw is None:
            return 100
        try:
            top = int(raw)
        except ValueError:
            top = -1
        if not 1 <= top <= 999:
            return error(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.",
            )
        return top

    def _list(self, tenant: Tenant, base: str, kind: str, query: dict[str, str]) -> Reply:
        select = self._select(query)
        skip = decode_token(query["$skiptoken"]) if "$skiptoken" in query else {}
        if skip is None:
            return error(400, "Request_BadRequest", "Invalid skip token.")
        top = int(skip["top"]) if skip else self._top(query)
        if isinstance(top, Reply):
            return top
        select = skip.get("sel", select) if skip else select
        after = str(skip.get("after", "")) if skip else ""
        wanted = skip.get("filter") if skip else query.get("$filter")
        live = sorted((o for o in self._store(tenant, kind).values() if not o.deleted), key=lambda o: o.id)
        if wanted:
            match = re.fullmatch(r"(\w+) eq '((?:[^']|'')*)'", wanted)
            # a collection of strings is filtered with a lambda, as Graph documents:
            # proxyAddresses/any(x:x eq 'smtp:a@b.example'), any range variable name
            lam = re.fullmatch(r"(\w+)/any\((\w+):\s*\2 eq '((?:[^']|'')*)'\)", wanted)
            if match is not None and match.group(1) not in LAMBDA_FILTER.get(kind, ()):
                name, value = match.group(1), match.group(2).replace("''", "'").lower()
                live = [o for o in live if str(self._view(kind, o, [name]).get(name) or "").lower() == value]
            elif lam is not None and lam.group(1) in LAMBDA_FILTER.get(kind, ()):
                name, value = lam.group(1), lam.group(3).replace("''", "'").lower()
                live = [
                    o
                    for o in live
                    if value in {str(v).lower() for v in self._view(kind, o, [name]).get(name) or []}
                ]
            else:
                return error(400, "Request_UnsupportedQuery", "Unsupported Query.")
        page = [o for o in live if o.id > after][:top]
        body: dict[str, Any] = {
            "@odata.context": self._context(base, kind, select),
            "value": [self._view(kind, o, select) for o in page],
        }
        if page and page[-1].id != live[-1].id:
            token = encode_token({"after": page[-1].id, "top": top, "sel": select, "filter": wanted})
            body["@odata.nextLink"] = f"{base}/v1.0/{kind}?$skiptoken={quote(token)}"
        return Reply(200, body)

    def _get(self, tenant: Tenant, base: str, kind: str, oid: str, query: dict[str, str]) -> Reply:
        obj = self._store(tenant, kind).get(oid)
        if obj is None or obj.deleted:
            return not_found(oid)
        select = self._select(query)
        body = {"@odata.context": f"{self._context(base, kind, select)}/$entity"}
        body.update(self._view(kind, obj, select))
        return Reply(200, body)

    def _delta(self, tenant: Tenant, base: str, kind: str, query: dict[str, str]) -> Reply:
        now = self.clock()
        token: dict[str, Any]
        if "$skiptoken" in query or "$deltatoken" in query:
            raw = query.get("$skiptoken") or query.get("$deltatoken") or ""
            if raw == "latest":
                link = self._delta_link(base, kind, tenant.seq, self._select(query), now)
                return Reply(
                    200,
                    {
                        "@odata.context": self._context(base, kind, None),
                        "value": [],
                        "@odata.deltaLink": link,
                    },
                )
            decoded = decode_token(raw)
            if decoded is None or "since" not in decoded:
                return error(400, "Request_BadRequest", "Invalid delta token.")
            if "$deltatoken" in query:
                if self.expire_delta:  # the service lost the state: the documented 410 reset
                    location = f"{base}/v1.0/{kind}/delta?$deltatoken="
                    return error(
                        410,
                        "syncStateNotFound",
                        "The sync state was not found or has expired. Please restart the sync "
                        "from the beginning (a full resync).",
                        {"Location": location},
                    )
                if now - float(decoded.get("t", 0)) > TOKEN_LIFETIME:
                    # Microsoft documents a 7-day-old directory delta token as 400, not 410
                    # (devblogs: "Duration of change tracking tokens for identity resources")
                    return error(
                        400,
                        "syncStateNotFound",
                        "The sync state generation is not found. The delta token is expired and "
                        "data must be synchronized again.",
                    )
                decoded = {
                    "since": decoded["since"],
                    "upto": tenant.seq,
                    "sel": decoded.get("sel"),
                    "after": "",
                    "t": now,
                }
            token = decoded
        else:
            token = {"since": 0, "upto": tenant.seq, "sel": self._select(query), "after": "", "t": now}
        since, upto, select = int(token["since"]), int(token["upto"]), token.get("sel")
        after = str(token.get("after", ""))
        store = self._store(tenant, kind)
        ids = self._round_ids(tenant.id, kind, since, upto, store)
        start = bisect.bisect_right(ids, after) if after else 0
        changed = []
        for oid in ids[start:]:
            obj = store[oid]
            if since < obj.seen <= upto:  # changed again since the round began: the next round has it
                changed.append(obj)
                if len(changed) > self.page_size:
                    break
        page = changed[: self.page_size]
        value: list[dict[str, Any]] = []
        for obj in page:
            if obj.deleted:
                # a deleted user waits in deletedItems (restorable for 30 days): Graph says
                # "changed"; "deleted" is for what is gone for good, as a removed org contact
                reason = "changed" if kind == "users" else "deleted"
                value.append({"id": obj.id, "@removed": {"reason": reason}})
            else:
                value.append(self._view(kind, obj, select))
        body: dict[str, Any] = {"@odata.context": self._context(base, kind, select), "value": value}
        if len(changed) > len(page):
            nxt = {"since": since, "upto": upto, "sel": select, "after": page[-1].id, "t": now}
            body["@odata.nextLink"] = f"{base}/v1.0/{kind}/delta?$skiptoken={quote(encode_token(nxt))}"
        else:
            body["@odata.deltaLink"] = self._delta_link(base, kind, upto, select, now)
        return Reply(200, body)

    def _round_ids(self, tid: str, kind: str, since: int, upto: int, store: dict[str, Obj]) -> list[str]:
        """The sorted ids of a delta round, computed once per round (paging a 50,000-object
        round must not sort the directory again for every page)."""
        key = (tid, kind, since, upto)
        ids = self._rounds.get(key)
        if ids is None:
            ids = sorted(
                o.id for o in store.values() if since < o.seen <= upto and not (since == 0 and o.deleted)
            )
            self._rounds[key] = ids
            while len(self._rounds) > 16:
                self._rounds.pop(next(iter(self._rounds)))
        return ids

    def _delta_link(self, base: str, kind: str, upto: int, select: Any, now: float) -> str:
        token = encode_token({"since": upto, "sel": select, "t": now})
        return f"{base}/v1.0/{kind}/delta?$deltatoken={quote(token)}"

    def _groups(self, tenant: Tenant, base: str, query: dict[str, str]) -> Reply:
        wanted = query.get("$filter", "")
        groups = list(tenant.groups.values())
        if wanted:
            prefix = "displayName eq '"
            if not (wanted.startswith(prefix) and wanted.endswith("'")):
                return error(400, "Request_UnsupportedQuery", "Unsupported Query.")
            name = wanted[len(prefix) : -1].replace("''", "'")
            groups = [g for g in groups if g.display_name == name]
        value = [{"id": g.id, "displayName": g.display_name} for g in groups]
        return Reply(200, {"@odata.context": f"{base}/v1.0/$metadata#groups", "value": value})

    def _members(self, tenant: Tenant, base: str, gid: str, query: dict[str, str]) -> Reply:
        group = tenant.groups.get(gid)
        if group is None:
            return not_found(gid)
        select = self._select(query) or ["id"]
        skip = decode_token(query["$skiptoken"]) if "$skiptoken" in query else {}
        start = int((skip or {}).get("o", 0))
        top = int((skip or {}).get("top", 0)) or self._top(query)
        if isinstance(top, Reply):
            return top
        ids = group.members[start : start + top]
        value = []
        for oid in ids:
            kind = "users" if oid in tenant.users else "contacts"
            obj = self._store(tenant, kind).get(oid)
            if obj is None or obj.deleted:
                continue
            odata = "#microsoft.graph.user" if kind == "users" else "#microsoft.graph.orgContact"
            value.append({"@odata.type": odata, **self._view(kind, obj, select)})
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#directoryObjects", "value": value}
        if start + top < len(group.members):
            token = encode_token({"o": start + top, "top": top})
            body["@odata.nextLink"] = f"{base}/v1.0/groups/{gid}/members?$skiptoken={quote(token)}"
        return Reply(200, body)

    # --- writes -------------------------------------------------------------------------

    def _patch_user(self, tenant: Tenant, uid: str, body: Any) -> Reply:
        obj = tenant.users.get(uid)
        if obj is None or obj.deleted:
            return not_found(uid)
        if not isinstance(body, dict) or not body:
            return error(400, "Request_BadRequest", "Empty Payload. JSON content expected.")
        for name in body:
            if name not in USER_WRITABLE:
                return error(
                    400,
                    "Request_BadRequest",
                    f"Property '{name}' is read-only and cannot be set.",
                )
        if obj.props.get("onPremisesSyncEnabled"):
            return error(400, "Request_BadRequest", ON_PREM_MESSAGE)
        phones = body.get("businessPhones")
        if phones is not None and (not isinstance(phones, list) or len(phones) > 1):
            return error(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'businessPhones' of resource 'User'.",
            )
        if "displayName" in body and not body["displayName"]:
            return error(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'displayName' of resource 'User'.",
            )
        tenant.update_user(uid, dict(body))
        return Reply(204)

    # --- $batch -------------------------------------------------------------------------

    def batch(self, tenant: Tenant, base: str, body: Any) -> Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > 20:
            return error(400, "BadRequest", "Number of requests is greater than the maximum of 20.")
        ids = [str(r.get("id", "")).lower() for r in requests if isinstance(r, dict)]
        if len(ids) != len(requests) or "" in ids or len(set(ids)) != len(ids):
            return error(400, "BadRequest", "Batch request ids must be unique and present.")
        answers: list[dict[str, Any]] = []
        status_by_id: dict[str, int] = {}
        for request in requests:
            rid = str(request["id"])
            depends = [str(d).lower() for d in request.get("dependsOn", [])]
            if any(status_by_id.get(d, 200) >= 400 for d in depends):
                reply = error(424, "FailedDependency", "Failed dependency.")
            elif request.get("body") is not None and "content-type" not in {
                k.lower() for k in (request.get("headers") or {})
            }:
                reply = error(400, "BadRequest", "Content-Type header is required when a body is present.")
            else:
                url = str(request.get("url", ""))
                if url.startswith("/v1.0/"):
                    url = url[len("/v1.0") :]
                reply = self.call(tenant, base, str(request.get("method", "GET")), url, request.get("body"))
            status_by_id[rid.lower()] = reply.status
            answer: dict[str, Any] = {"id": rid, "status": reply.status, "headers": reply.headers}
            if reply.body is not None:
                answer["body"] = reply.body
            answers.append(answer)
        return Reply(200, {"responses": answers})
