"""An emulator of Procore's REST API (company directory) and its OAuth server.

It speaks the documented wire format (``../shared/reference/procore_pipedrive.md`` part 1,
``procore-directory.json``): ``/oauth/authorize`` and ``/oauth/token`` (authorization code,
single-use rotating refresh tokens, client credentials; form, multipart or JSON bodies),
``/rest/v1.0/me``, ``/rest/v1.0/companies``, company users (list, show, create, update, sync,
inactive), vendors, people and project directories; ``page``/``per_page`` paging with
``Link``, ``Total`` and ``Per-Page``; ``filters[updated_at]`` and ``filters[search]``;
``X-Rate-Limit-*`` headers on every answer with a spike (10 s) and an hourly window, 429 with
``Retry-After`` beyond them; ``Procore-Company-Id`` required on every call. Fault switches
make it slow, fail with 5xx, or expire every token.

Run it with ``contacthub emulate procore --port 8801``; tests build ``ProcoreEmulator`` and
serve ``.app`` with ``emulators.base.background``.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import orjson
import typer
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse

from contacthub.emulators.base import Faults, RateWindow
from contacthub.emulators.procore_state import ProcoreState, Refused, parse_range

VERSIONS = ("v1.0", "v1.1", "v1.2", "v1.3")
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server."
RATE_TEXT = "You have surpassed the max number of requests for an hour. Please wait until your limit resets."
NO_COMPANY_HEADER = ("/rest/v1.0/me", "/rest/v1.0/companies")


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def not_found() -> ApiError:
    return ApiError(404, {"errors": "Not Found"})


class ProcoreEmulator:
    """The emulator: state, rate windows and fault switches, and the FastAPI ``app``."""

    def __init__(
        self,
        state: ProcoreState | None = None,
        *,
        rate_10s: int = 0,
        rate_hour: int = 3600,
        faults: Faults | None = None,
    ) -> None:
        self.state = state or ProcoreState()
        self.spike = RateWindow(rate_10s, 10, clock=self.state.clock)
        self.hourly = RateWindow(rate_hour, 3600, clock=self.state.clock)
        self.faults = faults or Faults()
        self.throttled = 0  # 429s answered
        self.log: deque[tuple[str, str, str]] = deque(maxlen=10_000)  # method, path, query
        self.app = build_app(self)

    def rate(self) -> tuple[bool, dict[str, str]]:
        """Count one call in both windows; the headers describe the tighter one."""
        windows = [(w, *w.hit()) for w in (self.spike, self.hourly)]
        allowed = all(ok for _, ok, _, _ in windows)
        active = [(w, rem, reset) for w, _, rem, reset in windows if w.limit] or [
            (self.hourly, 1_000_000, 0.0)
        ]
        window, remaining, reset = min(active, key=lambda item: item[1] / max(item[0].limit, 1))
        limit = window.limit or 1_000_000
        reset_at = math.ceil(reset) if reset else int(self.state.clock()) + 3600
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset_at),
        }
        if not allowed:
            blocked = [reset for _, ok, _, reset in windows if not ok]
            wait = max(1, math.ceil(max(blocked) - self.state.clock()))
            headers["Retry-After"] = str(wait)
            headers["X-Rate-Limit-Remaining"] = "0"
            headers["X-Rate-Limit-Reset"] = str(math.ceil(max(blocked)))
        return allowed, headers


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON, urlencoded or multipart body as a dict; ``a[b]`` form keys become nesting."""
    kind = request.headers.get("content-type", "")
    if "json" in kind or not kind:
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(400, {"errors": "Malformed JSON"}) from None
        if not isinstance(data, dict):
            raise ApiError(400, {"errors": "Malformed JSON"})
        return data
    form = await request.form()
    return nest((key, value) for key, value in form.multi_items() if isinstance(value, str))


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rails-style form keys (``user[first_name]``, ``updates[0][id]``, ``updates[][id]``)
    as nested dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = [p.rstrip("]") for p in key.split("[")]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                # "[]": a new element when the current one already has this sub-key
                if part == "" or part.isdigit():
                    index = int(part) if part.isdigit() else None
                    sub = parts[i + 1] if not last else None
                    if index is not None:
                        while len(node) <= index:
                            node.append({})
                        target = node[index]
                    elif not node or (sub is not None and sub in node[-1]):
                        node.append({})
                        target = node[-1]
                    else:
                        target = node[-1]
                    if last:
                        node[-1 if index is None else index] = value
                    node = target
                continue
            if last:
                node[part] = value
            else:
                following = parts[i + 1]
                node = node.setdefault(part, [] if following == "" or following.isdigit() else {})
    return out


def page_of(
    request: Request, items: list[Any], serialize: Callable[[Any], Any], max_per_page: int
) -> Response:
    """One page with Procore's ``Link``, ``Total`` and ``Per-Page`` headers."""
    query = request.query_params
    try:
        page = max(1, int(query.get("page", "1")))
        per_page = max(1, min(int(query.get("per_page", "100")), max_per_page))
    except ValueError:
        raise ApiError(400, {"errors": "page and per_page must be integers"}) from None
    total = len(items)
    last = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=per_page))

    links = []
    if page >= 2:
        links.append(f'<{link(1)}>; rel="first"')
    if page >= 3:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if page < last:
        links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(last)}>; rel="last"')
    headers = {"Total": str(total), "Per-Page": str(per_page)}
    if links:
        headers["Link"] = ", ".join(links)
    return json_response([serialize(item) for item in chunk], headers=headers)


def filtered(
    rows: Iterable[dict[str, Any]], request: Request, text: Callable[[dict[str, Any]], str]
) -> list[dict[str, Any]]:
    """``filters[updated_at]``, ``filters[created_at]``, ``filters[search]``,
    ``filters[origin_id]``, ``filters[vendor_id]``, ``filters[id]``, in id order."""
    query = request.query_params
    out = list(rows)
    for name in ("updated_at", "created_at"):
        value = query.get(f"filters[{name}]")
        if value:
            try:
                start, end = parse_range(value)
            except ValueError:
                raise ApiError(400, {"errors": f"filters[{name}] must be a range START...END"}) from None
            out = [r for r in out if start <= r[name] <= end]
    search = query.get("filters[search]")
    if search:
        needle = search.casefold()
        out = [r for r in out if needle in text(r).casefold()]
    origin = query.get("filters[origin_id]")
    if origin:
        out = [r for r in out if r.get("origin_id") == origin]
    for name in ("vendor_id", "id"):
        wanted = query.getlist(f"filters[{name}][]") + query.getlist(f"filters[{name}]")
        if wanted:
            ids = {int(v) for v in wanted if v.isdigit()}
            out = [r for r in out if r.get(name) in ids]
    return sorted(out, key=lambda r: r["id"])


def build_app(emu: ProcoreEmulator) -> FastAPI:
    state = emu.state
    app = FastAPI(title="Procore emulator", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.body, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_path(request: Request, exc: RequestValidationError) -> Response:
        return json_response({"errors": "Not Found"}, 404)

    @app.middleware("http")
    async def _gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        state.calls[f"{request.method} {path}"] += 1
        emu.log.append((request.method, path, str(request.url.query)))
        if emu.faults.slow_seconds:
            await asyncio.sleep(emu.faults.slow_seconds)
        if not path.startswith("/rest/"):
            return await call_next(request)
        allowed, headers = emu.rate()
        if not allowed:
            emu.throttled += 1
            return json_response({"errors": RATE_TEXT}, 429, headers)
        if emu.faults.server_error():
            return json_response({"errors": "Service Unavailable"}, 503, {**headers, "Retry-After": "1"})
        if emu.faults.expire_tokens:
            emu.faults.expire_tokens = False
            state.expire_tokens()
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        grant = state.token_info(token)
        if grant is None:
            body = {"error": "invalid_token", "error_description": "The access token is invalid"}
            return json_response(body, 401, {**headers, "WWW-Authenticate": 'Bearer error="invalid_token"'})
        company = request.headers.get("procore-company-id")
        if company is None and (path not in NO_COMPANY_HEADER or grant["dmsa"]):
            return json_response({"errors": "Missing Procore-Company-Id header!"}, 400, headers)
        if company is not None and company.strip() != str(state.company_id):
            return json_response({"errors": "App is not connected to this company"}, 403, headers)
        response = await call_next(request)
        for key, value in headers.items():
            response.headers[key] = value
        return response

    def company(cid: int) -> None:
        if cid != state.company_id:
            raise ApiError(404, {"errors": f"Company {cid} not found"})

    def version(v: str) -> None:
        if v not in VERSIONS:
            raise not_found()

    def refused(exc: Refused) -> ApiError:
        return ApiError(exc.status, {"errors": exc.errors})

    @app.get("/_emulator/calls")
    async def emulator_calls() -> Response:
        """The emulator's own counters (not part of Procore's API), for benchmarks."""
        return json_response({"calls": dict(state.calls), "throttled": emu.throttled})

    # --- OAuth ------------------------------------------------------------------------------

    @app.get("/oauth/authorize")
    async def authorize_page(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") not in state.clients or q.get("response_type") != "code":
            return HTMLResponse(
                "<!doctype html><p>Client authentication failed or response_type is not code.", 400
            )
        fields = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k) or "")}">'
            for k in ("client_id", "redirect_uri", "state", "response_type")
        )
        page = (
            "<!doctype html><title>Procore (emulator)</title>"
            f"<p>Allow this app to use {html.escape(state.company_name)}'s Procore directory?"
            f'<form method="post" action="/oauth/authorize">{fields}<button>Allow</button></form>'
        )
        return HTMLResponse(page)

    @app.post("/oauth/authorize")
    async def authorize_approve(request: Request) -> Response:
        form = await read_body(request)
        client_id = str(form.get("client_id") or "")
        redirect_uri = str(form.get("redirect_uri") or "")
        if client_id not in state.clients or not redirect_uri:
            return HTMLResponse("<!doctype html><p>Unknown client or no redirect_uri.", 400)
        code = state.issue_code(client_id, redirect_uri)
        if redirect_uri == "urn:ietf:wg:oauth:2.0:oob":
            return HTMLResponse(f"<!doctype html><p>Your authorization code: <code>{code}</code>")
        query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(query), 302)

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        body = await read_body(request)
        client_id, secret = body.get("client_id"), body.get("client_secret")
        if not state.client_ok(client_id, secret):
            return json_response({"error": "invalid_client", "error_description": INVALID_CLIENT}, 401)
        grant = body.get("grant_type")
        if grant == "client_credentials":
            return json_response(state.issue_tokens(str(client_id), refresh=False))
        if grant == "authorization_code":
            if not state.take_code(str(body.get("code") or ""), str(client_id), body.get("redirect_uri")):
                return json_response({"error": "invalid_grant", "error_description": INVALID_GRANT}, 400)
            return json_response(state.issue_tokens(str(client_id), refresh=True))
        if grant == "refresh_token":
            if not state.take_refresh(str(body.get("refresh_token") or ""), str(client_id)):
                return json_response(
                    {"error": "invalid_grant", "error_description": "The refresh token is invalid"}, 400
                )
            return json_response(state.issue_tokens(str(client_id), refresh=True))
        return json_response(
            {
                "error": "unsupported_grant_type",
                "error_description": UNSUPPORTED_GRANT,
            },
            400,
        )

    @app.get("/oauth/token/info")
    async def token_info(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        grant = state.token_info(auth[7:] if auth.lower().startswith("bearer ") else None)
        if grant is None:
            return json_response(
                {"error": "invalid_token", "error_description": "The access token is invalid"}, 401
            )
        return json_response(
            {
                "resource_owner_id": state.me["id"],
                "scopes": [],
                "expires_in_seconds": int(grant["expires_at"] - state.clock()),
                "application": {"uid": grant["client_id"]},
                "created_at": grant["created_at"],
            }
        )

    @app.post("/oauth/revoke")
    async def revoke(request: Request) -> Response:
        body = await read_body(request)
        state.revoke(str(body.get("token") or ""))
        return json_response({})

    # --- me, companies ----------------------------------------------------------------------

    @app.get("/rest/v1.0/me")
    async def me() -> Response:
        return json_response(state.me)

    @app.get("/rest/v1.0/companies")
    async def companies(request: Request) -> Response:
        row = {
            "id": state.company_id,
            "name": state.company_name,
            "is_active": True,
            "logo_url": None,
            "pcn_business_experience": None,
            "my_company": True,
        }
        return page_of(request, [row], lambda r: r, state.max_per_page)

    @app.get("/rest/{v}/companies/{cid}/me")
    async def company_me(v: str, cid: int) -> Response:
        version(v)
        company(cid)
        return json_response(
            {"id": state.me["id"], "name": state.me["name"], "email_address": state.me["login"]}
        )

    # --- company users ------------------------------------------------------------------------

    def user_search(u: dict[str, Any]) -> str:
        """What ``filters[search]`` looks at: names, email, job title, company name."""
        vendor = state.vendors.get(u["vendor_id"]) if u["vendor_id"] else None
        parts = [u.get(n) for n in ("first_name", "last_name", "email_address", "job_title")]
        full = f"{u.get('first_name') or ''} {u.get('last_name') or ''}"
        return " | ".join(str(p) for p in (*parts, full, vendor["name"] if vendor else None) if p)

    def user_rows(active: bool) -> list[dict[str, Any]]:
        return [u for u in state.users.values() if u["is_active"] == active]

    def user_by_id(row: dict[str, Any]) -> dict[str, Any]:
        return state.user_json(state.users[row["id"]])

    @app.get("/rest/v1.0/companies/{cid}/users/inactive")
    async def users_inactive(cid: int, request: Request) -> Response:
        company(cid)
        return page_of(
            request, filtered(user_rows(False), request, user_search), user_by_id, state.max_per_page
        )

    @app.patch("/rest/v1.0/companies/{cid}/users/inactive/{uid}")
    async def user_reactivate(cid: int, uid: int) -> Response:
        company(cid)
        user = state.users.get(uid)
        if user is None or user["is_active"]:
            raise not_found()
        try:
            return json_response(state.user_json(state.update_user(uid, {"is_active": True}), view="show"))
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/{v}/companies/{cid}/users/sync")
    async def users_sync(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        updates = body.get("updates")
        if not isinstance(updates, list):
            raise ApiError(400, {"errors": "param is missing or the value is empty: updates"})
        if len(updates) > 1000:
            raise ApiError(400, {"errors": "updates can hold at most 1000 items"})
        return json_response(state.sync_users(updates))

    @app.get("/rest/{v}/companies/{cid}/users")
    async def users_list(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        rows = filtered(user_rows(True), request, user_search)
        if request.query_params.get("sort") in ("name", "full_name"):
            rows.sort(
                key=lambda r: (
                    (r.get("last_name") or "").casefold(),
                    (r.get("first_name") or "").casefold(),
                    r["id"],
                )
            )
        return page_of(request, rows, user_by_id, state.max_per_page)

    @app.get("/rest/{v}/companies/{cid}/users/{uid}")
    async def user_show(v: str, cid: int, uid: int) -> Response:
        version(v)
        company(cid)
        user = state.users.get(uid)
        if user is None:
            raise not_found()
        return json_response(state.user_json(user, view="show"))

    @app.post("/rest/{v}/companies/{cid}/users")
    async def user_create(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        attrs = body.get("user")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: user"})
        try:
            return json_response(state.user_json(state.create_user(attrs), view="show"), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/{v}/companies/{cid}/users/{uid}")
    async def user_update(v: str, cid: int, uid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        attrs = body.get("user")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: user"})
        try:
            return json_response(state.user_json(state.update_user(uid, attrs), view="show"))
        except Refused as exc:
            raise refused(exc) from None

    # --- vendors ----------------------------------------------------------------------------

    def vendor_search(v: dict[str, Any]) -> str:
        return " | ".join(str(v.get(n)) for n in ("name", "origin_code", "trade_name") if v.get(n))

    def vendor_company(request: Request, body: dict[str, Any] | None = None) -> None:
        raw = (body or {}).get("company_id") or request.query_params.get("company_id")
        if raw is None:
            raise ApiError(400, {"errors": "param is missing or the value is empty: company_id"})
        try:
            company(int(raw))
        except ValueError:
            raise not_found() from None

    def vendor_rows(active: bool) -> list[dict[str, Any]]:
        return [v for v in state.vendors.values() if v["is_active"] == active]

    def vendor_page(request: Request, rows: list[dict[str, Any]]) -> Response:
        counts = state.contact_counts()
        return page_of(request, rows, lambda row: state.vendor_json(row, counts), state.max_per_page)

    @app.get("/rest/v1.0/vendors")
    async def vendors_list(request: Request) -> Response:
        vendor_company(request)
        return vendor_page(request, filtered(vendor_rows(True), request, vendor_search))

    @app.patch("/rest/v1.0/vendors/sync")
    async def vendors_sync(request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        updates = body.get("updates")
        if not isinstance(updates, list) or len(updates) > 1000:
            raise ApiError(400, {"errors": "updates must be a list of at most 1000 items"})
        entities, errors = [], []
        for item in updates:
            try:
                if item.get("id"):
                    vendor = state.update_vendor(
                        int(item["id"]), {k: v for k, v in item.items() if k != "id"}
                    )
                else:
                    found = next(
                        (
                            v
                            for v in state.vendors.values()
                            if item.get("origin_id") and v.get("origin_id") == str(item["origin_id"])
                        ),
                        None,
                    )
                    vendor = state.update_vendor(found["id"], item) if found else state.create_vendor(item)
                entities.append(state.vendor_json(vendor))
            except Refused as exc:
                detail = (
                    exc.errors if isinstance(exc.errors, dict) else {"id": ["Entity with this ID not found"]}
                )
                errors.append({**item, "errors": detail})
        return json_response({"entities": entities, "errors": errors})

    @app.get("/rest/v1.0/vendors/{vid}")
    async def vendor_show(vid: int, request: Request) -> Response:
        vendor_company(request)
        vendor = state.vendors.get(vid)
        if vendor is None:
            raise not_found()
        return json_response(state.vendor_json(vendor))

    @app.post("/rest/v1.0/vendors")
    async def vendor_create(request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        attrs = body.get("vendor")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: vendor"})
        try:
            return json_response(state.vendor_json(state.create_vendor(attrs)), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/v1.0/vendors/{vid}")
    async def vendor_update(vid: int, request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        attrs = body.get("vendor")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: vendor"})
        try:
            return json_response(state.vendor_json(state.update_vendor(vid, attrs)))
        except Refused as exc:
            raise refused(exc) from None

    @app.get("/rest/v1.0/companies/{cid}/vendors/inactive")
    async def vendors_inactive(cid: int, request: Request) -> Response:
        company(cid)
        return vendor_page(request, filtered(vendor_rows(False), request, vendor_search))

    @app.patch("/rest/v1.0/companies/{cid}/vendors/inactive/{vid}")
    async def vendor_reactivate(cid: int, vid: int) -> Response:
        company(cid)
        vendor = state.vendors.get(vid)
        if vendor is None or vendor["is_active"]:
            raise not_found()
        return json_response(state.vendor_json(state.update_vendor(vid, {"is_active": True})))

    # --- people -----------------------------------------------------------------------------

    def people_list(request: Request, active: bool, members: set[int] | None = None) -> Response:
        q = request.query_params
        rows = list(state.people_rows(active))
        if members is not None:
            rows = [r for r in rows if r.get("_user") is not None and r["_user"]["id"] in members]
        if q.get("filters[reference_users_only]") == "true":
            rows = [r for r in rows if "_user" not in r]
        if q.get("filters[without_reference_users]") == "true":
            rows = [r for r in rows if "_user" in r]
        view = q.get("view", "normal")
        search = (q.get("filters[search]") or "").casefold()
        if search:
            rows = [
                r
                for r in rows
                if search in json.dumps(state.person_json(r, "extended"), ensure_ascii=False).casefold()
            ]
        rows.sort(key=lambda r: r["id"])
        return page_of(request, rows, lambda r: state.person_json(r, view), state.max_per_page)

    @app.get("/rest/v1.0/companies/{cid}/people")
    async def people(cid: int, request: Request) -> Response:
        company(cid)
        return people_list(request, True)

    @app.get("/rest/v1.0/companies/{cid}/people/inactive")
    async def people_inactive(cid: int, request: Request) -> Response:
        company(cid)
        return people_list(request, False)

    @app.post("/rest/v1.0/companies/{cid}/people")
    async def person_create(cid: int, request: Request) -> Response:
        company(cid)
        attrs = (await read_body(request)).get("person")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: person"})
        try:
            return json_response(state.person_json(state.create_person(attrs), "extended"), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/v1.0/companies/{cid}/people/{pid}")
    async def person_update(cid: int, pid: int, request: Request) -> Response:
        company(cid)
        attrs = (await read_body(request)).get("person")
        if not isinstance(attrs, dict):
            raise ApiError(400, {"errors": "param is missing or the value is empty: person"})
        try:
            return json_response(state.person_json(state.update_person(pid, attrs), "extended"))
        except Refused as exc:
            raise refused(exc) from None

    # --- project directories ----------------------------------------------------------------

    def project(pid: int) -> dict[str, Any]:
        found = state.projects.get(pid)
        if found is None:
            raise ApiError(404, {"errors": f"Project {pid} not found"})
        return found

    @app.get("/rest/v1.0/projects/{pid}/users")
    async def project_users(pid: int, request: Request) -> Response:
        members = project(pid)["user_ids"]
        rows = [r for r in user_rows(True) if r["id"] in members]
        return page_of(request, filtered(rows, request, user_search), user_by_id, state.max_per_page)

    @app.get("/rest/v1.0/projects/{pid}/people")
    async def project_people(pid: int, request: Request) -> Response:
        return people_list(request, True, project(pid)["user_ids"])

    @app.get("/rest/{v}/projects/{pid}/vendors")
    async def project_vendors(v: str, pid: int, request: Request) -> Response:
        if v not in ("v1.0", "v1.1"):
            raise not_found()
        members = project(pid)["vendor_ids"]
        rows = [r for r in vendor_rows(True) if r["id"] in members]
        return vendor_page(request, filtered(rows, request, vendor_search))

    @app.post("/rest/v1.0/projects/{pid}/users/{uid}/actions/add")
    async def project_user_add(pid: int, uid: int) -> Response:
        found = project(pid)
        user = state.users.get(uid)
        if user is None:
            raise not_found()
        with state.lock:
            found["user_ids"].add(uid)
            if user["vendor_id"]:
                found["vendor_ids"].add(user["vendor_id"])
            state.save()
        return json_response(state.user_json(user, view="show"), 201)

    return app


cli = typer.Typer(add_completion=False, help="Emulate Procore's company directory API and OAuth server.")


@cli.command()
def main(
    port: int = typer.Option(..., help="port on 127.0.0.1 (0 picks a free one)"),
    company_id: int = typer.Option(1, help="the company's id"),
    company_name: str = typer.Option("Summit Builders Inc.", help="the company's name"),
    users: int = typer.Option(40, help="seeded company users"),
    vendors: int = typer.Option(12, help="seeded vendors"),
    people: int = typer.Option(5, help="seeded people without a login (reference users)"),
    projects: int = typer.Option(3, help="seeded projects"),
    client_id: str = typer.Option("procore-emulator-client", help="the app's client id"),
    client_secret: str = typer.Option("procore-emulator-secret", help="the app's client secret"),
    seed: int = typer.Option(7, help="random seed of the generated directory"),
    rate_10s: int = typer.Option(0, "--rate-10s", help="calls allowed per 10 s (0: no spike limit)"),
    rate_hour: int = typer.Option(3600, help="calls allowed per hour (0: no limit)"),
    error_rate: float = typer.Option(0.0, help="share of API calls answered 503"),
    slow: float = typer.Option(0.0, help="seconds added to every answer"),
    token_lifetime: int = typer.Option(5400, help="access token lifetime in seconds (short: tokens expire)"),
    max_per_page: int = typer.Option(1000, help="largest per_page honoured"),
    state_file: str = typer.Option("", "--state", help="keep the directory in this JSON file"),
) -> None:
    """Serve the emulator; the first stdout line is JSON with everything a connector needs."""
    import uvicorn

    from contacthub.emulators.base import HOST, _bind

    state = ProcoreState(
        company_id=company_id,
        company_name=company_name,
        users=users,
        vendors=vendors,
        reference_people=people,
        projects=projects,
        client_id=client_id,
        client_secret=client_secret,
        seed=seed,
        max_per_page=max_per_page,
        token_lifetime=token_lifetime,
        state_file=state_file or None,
    )
    emu = ProcoreEmulator(
        state, rate_10s=rate_10s, rate_hour=rate_hour, faults=Faults(error_rate=error_rate, slow_seconds=slow)
    )
    sock = _bind(port)
    bound = sock.getsockname()[1]
    url = f"http://{HOST}:{bound}"
    info = {
        "url": url,
        "port": bound,
        "base_url": url,
        "login_url": url,
        "company_id": company_id,
        "client_id": client_id,
        "client_secret": client_secret,
        "projects": sorted(state.projects),
    }
    print(json.dumps(info), flush=True)
    print(
        '\n# paste into a hub file:\n[[hubs.site.connectors]]\nname = "procore"\ntype = "procore"\n'
        f'base_url = "{url}"\nlogin_url = "{url}"\ncompany_id = {company_id}\n'
        f'client_id = "{client_id}"\nclient_secret = "{client_secret}"\nobjects = ["users"]\n',
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(emu.app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
