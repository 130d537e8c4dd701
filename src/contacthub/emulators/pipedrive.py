"""An emulator of Pipedrive's Persons API, faithful to Pipedrive's documentation (see
/work/shared/reference/procore_pipedrive.md part 2 for the sources).

It serves, on one origin:

- API v2: ``/api/v2/persons`` (list with ``cursor``/``limit`` <= 500, ``updated_since``,
  ``updated_until``, ``sort_by``, ``sort_direction``, ``ids``, ``org_id``; get; create
  answering 200; PATCH; DELETE as a soft delete), ``/api/v2/persons/search``,
  ``/api/v2/organizations`` (list, get, create, search);
- API v1 for older clients: ``/v1/persons`` (offset paging, create answering 201, PUT,
  DELETE), ``/v1/personFields`` (custom fields keyed by 40-character hashes), also under
  ``/api/v1``; ``/v1/users/me``;
- OAuth: ``/oauth/authorize`` (consents at once and redirects with ``code`` and ``state``)
  and ``/oauth/token`` (``authorization_code`` and ``refresh_token``; the body must be
  form-encoded; client credentials in HTTP Basic, or in the body);
- auth by ``x-api-token`` header (or the legacy ``api_token`` query parameter) or a bearer
  token; the envelope ``{"success", "data", "additional_data"}`` and Pipedrive's error bodies;
- limits: a rolling 2-second burst window per token (``x-ratelimit-limit``, ``-remaining``,
  ``-reset`` in seconds, 429 with ``Retry-After``), and the company's daily token budget
  charged at each operation's documented ``x-token-cost``. Its headers
  ``x-daily-ratelimit-token-limit``/``-remaining`` are what the live API sends though the
  docs do not name them; ``x-daily-requests-left`` (documented) counts POST/PUT/PATCH for
  API-token requests. An exhausted budget answers 429 until midnight UTC;
- fault switches (``Faults``): a share of 500/503 answers, slow answers, expired tokens.

``contacthub emulate pipedrive --port 0 --persons 200 --api-token TOKEN`` prints one JSON line
with the base URL, the API token and the OAuth client, then a hub-file block.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from contacthub.emulators.base import Faults, RateWindow, serve
from contacthub.emulators.pipedrive_data import Company, Invalid, parse_time, v1time

MAX_LIMIT = 500
ACCESS_TTL = 3600
REFRESH_TTL = 60 * 86400

#: (method, path pattern, token cost) from the ``x-token-cost`` of each operation
COSTS: list[tuple[str, re.Pattern[str], int]] = [
    (m, re.compile(p), c)
    for m, p, c in [
        ("GET", r"/api/v2/(persons|organizations)/search", 20),
        ("GET", r"/api/v2/(persons|organizations)/\d+", 1),
        ("GET", r"/api/v2/(persons|organizations)", 10),
        ("POST", r"/api/v2/(persons|organizations)", 5),
        ("PATCH", r"/api/v2/(persons|organizations)/\d+", 5),
        ("DELETE", r"/api/v2/(persons|organizations)/\d+", 3),
        ("GET", r"(/api)?/v1/personFields", 20),
        ("POST", r"(/api)?/v1/personFields", 10),
        ("GET", r"(/api)?/v1/persons/\d+", 2),
        ("GET", r"(/api)?/v1/persons", 20),
        ("POST", r"(/api)?/v1/persons", 10),
        ("PUT", r"(/api)?/v1/persons/\d+", 10),
        ("DELETE", r"(/api)?/v1/persons/\d+", 6),
        ("GET", r"(/api)?/v1/users/me", 2),
    ]
]


def cost_of(method: str, path: str) -> int:
    for m, pattern, cost in COSTS:
        if m == method and pattern.fullmatch(path):
            return cost
    return 10


@dataclass
class Settings:
    """The emulated company's account: credentials, plan limits and fault switches."""

    api_token: str = "pd-emulator-token"
    client_id: str = "pd-client"
    client_secret: str = "pd-client-secret"
    burst: int = 40  # per 2 s for API tokens (Growth plan); OAuth tokens get 4x
    daily_tokens: int = 300_000  # 30,000 x Growth multiplier 2 x 5 seats
    storm: float = 0.0  # share of requests refused with a burst 429 whatever the window says
    storm_wait: int = 1  # the Retry-After and x-ratelimit-reset of those
    faults: Faults = field(default_factory=Faults)


class State:
    """What the routes share: the company, tokens, rate windows and the budget spent today."""

    def __init__(self, settings: Settings, company: Company) -> None:
        self.settings = settings
        self.company = company
        self.lock = threading.Lock()
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (redirect_uri, expires)
        self.access: dict[str, float] = {}  # access token -> expires
        self.refresh: dict[str, float] = {}  # refresh token -> expires
        self.windows: dict[str, RateWindow] = {}
        self.day = ""
        self.spent = 0
        self.writes_left = 10_000
        self.requests = 0
        self.rate_limited = 0

    def window(self, token: str, oauth: bool) -> RateWindow:
        with self.lock:
            if token not in self.windows:
                limit = self.settings.burst * (4 if oauth else 1)
                self.windows[token] = RateWindow(limit, 2.0)
            return self.windows[token]

    def charge(self, cost: int, write: bool) -> tuple[bool, int]:
        """Spend ``cost`` tokens of today's budget: (allowed, remaining). A call is served
        while anything is left; once nothing is, every call is refused until midnight."""
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        with self.lock:
            if today != self.day:
                self.day, self.spent, self.writes_left = today, 0, 10_000
            if self.spent >= self.settings.daily_tokens:
                return False, 0
            self.spent = min(self.settings.daily_tokens, self.spent + cost)
            if write:
                self.writes_left = max(0, self.writes_left - 1)
            return True, self.settings.daily_tokens - self.spent


def envelope(data: Any, additional: Any = None, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, "additional_data": additional, **extra}, status)


def error(status: int, message: str, info: str = "Please check developers.pipedrive.com") -> JSONResponse:
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "error_info": info,
        "data": None,
        "additional_data": None,
    }
    if status == 401:
        body["errorCode"] = 401
    return JSONResponse(body, status)


def not_found() -> JSONResponse:
    return error(404, "Entity was not found", "Object was not found.")


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except ValueError:
        raise Invalid("Invalid cursor") from None


def limit_of(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return int(raw)


def page(items: list[dict[str, Any]], request: Request, key: str) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset paging on (``key``, id): stable while records change between pages."""
    limit = limit_of(request)
    desc = request.query_params.get("sort_direction", "asc") == "desc"
    items.sort(key=lambda p: (p[key], p["id"]), reverse=desc)
    cursor = request.query_params.get("cursor")
    if cursor:
        after = decode_cursor(cursor)
        mark = (after.get("v"), after.get("id"))
        if desc:
            items = [p for p in items if (p[key], p["id"]) < mark]
        else:
            items = [p for p in items if (p[key], p["id"]) > mark]
    chunk = items[:limit]
    more = len(items) > limit
    next_cursor = encode_cursor({"v": chunk[-1][key], "id": chunk[-1]["id"]}) if more else None
    return chunk, next_cursor


def create_app(settings: Settings | None = None, company: Company | None = None) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.pd`` is its ``State`` for tests."""
    state = State(settings or Settings(), company or Company())
    app = FastAPI(title="Pipedrive emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.pd = state
    data = state.company

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/oauth/"):
            return await call_next(request)
        faults = state.settings.faults
        if faults.slow_seconds:
            time.sleep(faults.slow_seconds)
        token, oauth = _token_of(request)
        if token is None or not _valid(state, token, oauth):
            return error(401, "unauthorized access")
        state.requests += 1
        allowed, remaining, reset = state.window(token, oauth).hit()
        headers = {
            "x-ratelimit-limit": str(state.window(token, oauth).limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(max(1, math.ceil(reset - time.time()))),
        }
        stormy = state.settings.storm > 0 and faults._random.random() < state.settings.storm
        if stormy:
            headers["x-ratelimit-remaining"] = "0"
            headers["x-ratelimit-reset"] = str(state.settings.storm_wait)
        if not allowed or stormy:
            state.rate_limited += 1
            response: Response = error(429, "Request over limit")
            response.headers.update(headers)
            response.headers["Retry-After"] = headers["x-ratelimit-reset"]
            return response
        write = request.method in ("POST", "PUT", "PATCH")
        ok, daily_left = state.charge(cost_of(request.method, path), write)
        headers["x-daily-ratelimit-token-limit"] = str(state.settings.daily_tokens)
        headers["x-daily-ratelimit-token-remaining"] = str(daily_left)
        if not oauth and write:
            headers["x-daily-requests-left"] = str(state.writes_left)
        if not ok:
            state.rate_limited += 1
            midnight = (datetime.now(UTC) + timedelta(days=1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            response = error(
                429, "Request over limit", "Daily token budget is used up; it resets at midnight"
            )
            response.headers.update(headers)
            response.headers["Retry-After"] = str(int((midnight - datetime.now(UTC)).total_seconds()) + 1)
            return response
        if faults.server_error():
            response = error(503 if state.requests % 2 else 500, "Requested service is not available")
        else:
            response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.exception_handler(Invalid)
    async def invalid(request: Request, exc: Invalid) -> JSONResponse:
        return error(400, str(exc), "Validation failed")

    # --- OAuth ----------------------------------------------------------------------------

    @app.get("/oauth/authorize")
    def authorize(request: Request) -> Response:
        params = request.query_params
        if params.get("client_id") != state.settings.client_id or not params.get("redirect_uri"):
            return JSONResponse({"success": False, "message": "Invalid client: client is invalid"}, 400)
        code = secrets.token_urlsafe(18)
        with state.lock:
            state.codes[code] = (params["redirect_uri"], time.time() + 300)
        query = {"code": code}
        if params.get("state"):
            query["state"] = params["state"]
        uri = params["redirect_uri"]
        return RedirectResponse(uri + ("&" if "?" in uri else "?") + urlencode(query), 302)

    async def token(request: Request) -> JSONResponse:
        def refuse(message: str, status: int = 400) -> JSONResponse:
            return JSONResponse({"success": False, "message": message, "error": message}, status)

        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return refuse("Invalid request: content must be application/x-www-form-urlencoded")
        form = dict((await request.form()).items())
        client = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                pair = base64.b64decode(basic[6:]).decode()
            except ValueError:
                pair = ":"
            client = tuple(pair.split(":", 1)) if ":" in pair else ("", "")  # type: ignore[assignment]
        if client != (state.settings.client_id, state.settings.client_secret):
            return refuse("Invalid client: client is invalid", 401)
        grant = form.get("grant_type")
        now = time.time()
        with state.lock:
            if grant == "authorization_code":
                found = state.codes.pop(str(form.get("code", "")), None)
                if found is None or found[1] < now:
                    return refuse("Invalid grant: authorization_code has expired")
                if found[0] != form.get("redirect_uri"):
                    return refuse("Invalid grant: redirect_uri does not match")
                refresh = secrets.token_urlsafe(24)
            elif grant == "refresh_token":
                refresh = str(form.get("refresh_token", ""))
                if state.refresh.get(refresh, 0) < now:
                    return refuse("Invalid grant: refresh_token is invalid")
            else:
                return refuse("Invalid grant: grant_type is not supported")
            access = secrets.token_urlsafe(24)
            state.access[access] = now + ACCESS_TTL
            state.refresh[refresh] = now + REFRESH_TTL  # Pipedrive keeps it, 60 more days
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TTL,
                "refresh_token": refresh,
                "scope": "base,contacts:full",
                "api_domain": str(request.base_url).rstrip("/"),
            }
        )

    app.add_api_route("/oauth/token", token, methods=["POST"])
    app.add_api_route("/oauth/token/", token, methods=["POST"])

    # --- v2 persons -----------------------------------------------------------------------

    @app.get("/api/v2/persons")
    def list_persons(request: Request) -> JSONResponse:
        q = request.query_params
        sort_by = q.get("sort_by", "id")
        if sort_by not in ("id", "update_time", "add_time"):
            raise Invalid("sort_by must be one of id, update_time, add_time")
        with data.lock:
            items = [p for p in data.persons.values() if not p["is_deleted"]]
        if q.get("updated_since"):
            since = parse_time(q["updated_since"])
            items = [p for p in items if p["update_time"] >= since]
        if q.get("updated_until"):
            until = parse_time(q["updated_until"])
            items = [p for p in items if p["update_time"] < until]
        if q.get("ids"):
            wanted = {int(x) for x in q["ids"].split(",") if x.strip().isdigit()}
            items = [p for p in items if p["id"] in wanted]
        if q.get("org_id"):
            items = [p for p in items if str(p["org_id"]) == q["org_id"]]
        chunk, next_cursor = page(items, request, sort_by)
        return envelope([data.person_v2(p) for p in chunk], {"next_cursor": next_cursor})

    @app.get("/api/v2/persons/search")
    def search_persons(request: Request) -> JSONResponse:
        q = request.query_params
        term = q.get("term", "").strip()
        if len(term) < 2:
            raise Invalid("term must be at least 2 characters long")
        fields = set((q.get("fields") or "name,email,phone,notes,custom_fields").split(","))
        exact = q.get("exact_match", "false") == "true"

        def hit(text: str) -> bool:
            return text.lower() == term.lower() if exact else term.lower() in text.lower()

        found = []
        with data.lock:
            for p in data.persons.values():
                if p["is_deleted"]:
                    continue
                texts = []
                if "name" in fields:
                    texts.append(p["name"])
                if "email" in fields:
                    texts += [e["value"] for e in p["emails"]]
                if "phone" in fields:
                    texts += [x["value"] for x in p["phones"]]
                    texts += [re.sub(r"\D", "", x["value"]) for x in p["phones"]]
                if any(hit(t) for t in texts):
                    org = data.orgs.get(p["org_id"]) if p["org_id"] else None
                    found.append(
                        {
                            "result_score": 1.0,
                            "item": {
                                "id": p["id"],
                                "type": "person",
                                "name": p["name"],
                                "phones": [x["value"] for x in p["phones"]],
                                "emails": [e["value"] for e in p["emails"]],
                                "visible_to": p["visible_to"],
                                "owner": {"id": p["owner_id"]},
                                "organization": {"id": org["id"], "name": org["name"]} if org else None,
                                "custom_fields": [],
                                "notes": [],
                            },
                            "id": p["id"],
                        }
                    )
        chunk, next_cursor = page(found, request, "id")
        for item in chunk:
            del item["id"]
        return envelope({"items": chunk}, {"next_cursor": next_cursor})

    @app.get("/api/v2/persons/{pid}")
    def get_person(pid: int) -> JSONResponse:
        person = data.persons.get(pid)
        return not_found() if person is None else envelope(data.person_v2(person))

    @app.post("/api/v2/persons")
    async def create_person(request: Request) -> JSONResponse:
        person = data.create_person(await _json(request))
        return envelope(data.person_v2(person))

    @app.patch("/api/v2/persons/{pid}")
    async def update_person(pid: int, request: Request) -> JSONResponse:
        person = data.update_person(pid, await _json(request))
        return not_found() if person is None else envelope(data.person_v2(person))

    @app.delete("/api/v2/persons/{pid}")
    def delete_person(pid: int) -> JSONResponse:
        return envelope({"id": pid}) if data.delete_person(pid) else not_found()

    # --- v2 organizations -----------------------------------------------------------------

    @app.get("/api/v2/organizations")
    def list_orgs(request: Request) -> JSONResponse:
        q = request.query_params
        with data.lock:
            items = [o for o in data.orgs.values() if not o["is_deleted"]]
        if q.get("ids"):
            wanted = {int(x) for x in q["ids"].split(",") if x.strip().isdigit()}
            items = [o for o in items if o["id"] in wanted]
        if q.get("updated_since"):
            since = parse_time(q["updated_since"])
            items = [o for o in items if o["update_time"] >= since]
        chunk, next_cursor = page(items, request, q.get("sort_by", "id"))
        return envelope([data.org_v2(o) for o in chunk], {"next_cursor": next_cursor})

    @app.get("/api/v2/organizations/search")
    def search_orgs(request: Request) -> JSONResponse:
        q = request.query_params
        term = q.get("term", "").strip().lower()
        if len(term) < 2:
            raise Invalid("term must be at least 2 characters long")
        exact = q.get("exact_match", "false") == "true"
        with data.lock:
            hits = [
                o
                for o in data.orgs.values()
                if not o["is_deleted"] and (o["name"].lower() == term if exact else term in o["name"].lower())
            ]
        items = [
            {
                "result_score": 1.0,
                "item": {
                    "id": o["id"],
                    "type": "organization",
                    "name": o["name"],
                    "address": (o["address"] or {}).get("value"),
                    "visible_to": o["visible_to"],
                    "owner": {"id": o["owner_id"]},
                    "custom_fields": [],
                    "notes": [],
                },
                "id": o["id"],
            }
            for o in hits
        ]
        chunk, next_cursor = page(items, request, "id")
        for item in chunk:
            del item["id"]
        return envelope({"items": chunk}, {"next_cursor": next_cursor})

    @app.get("/api/v2/organizations/{oid}")
    def get_org(oid: int) -> JSONResponse:
        org = data.orgs.get(oid)
        return not_found() if org is None else envelope(data.org_v2(org))

    @app.post("/api/v2/organizations")
    async def create_org(request: Request) -> JSONResponse:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise Invalid("name is required")
        return envelope(data.org_v2(data.add_org(body["name"])))

    # --- v1 -------------------------------------------------------------------------------

    def person_fields(request: Request) -> JSONResponse:
        start = int(request.query_params.get("start", "0") or 0)
        limit = min(int(request.query_params.get("limit", "100") or 100), MAX_LIMIT)
        chunk = data.fields[start : start + limit]
        more = start + limit < len(data.fields)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return envelope(chunk, {"pagination": pagination})

    async def add_person_field(request: Request) -> JSONResponse:
        body = await _body(request)
        kind = body.get("field_type")
        if not isinstance(body.get("name"), str) or not body["name"].strip() or not isinstance(kind, str):
            raise Invalid("name and field_type are required")
        options = [str(o.get("label", "")) for o in body.get("options") or [] if isinstance(o, dict)]
        return envelope(data.add_field(body["name"].strip(), kind, options))

    def me(request: Request) -> JSONResponse:
        host = request.url.hostname or "127.0.0.1"
        return envelope({"id": 12001, "name": "Alex Seller", "company_id": 7001, "company_domain": host})

    def v1_list(request: Request) -> JSONResponse:
        start = int(request.query_params.get("start", "0") or 0)
        limit = limit_of(request)
        with data.lock:
            items = sorted((p for p in data.persons.values() if not p["is_deleted"]), key=lambda p: p["id"])
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return envelope([data.person_v1(p) for p in chunk], {"pagination": pagination}, related_objects={})

    def v1_get(pid: int) -> JSONResponse:
        person = data.persons.get(pid)
        if person is None:
            return not_found()
        return envelope(data.person_v1(person), {}, related_objects={})

    async def v1_create(request: Request) -> JSONResponse:
        person = data.create_person(data.v1_body_to_v2(await _body(request)))
        return envelope(data.person_v1(person), {}, 201, related_objects={})

    async def v1_update(pid: int, request: Request) -> JSONResponse:
        person = data.update_person(pid, data.v1_body_to_v2(await _body(request)))
        return not_found() if person is None else envelope(data.person_v1(person), {}, related_objects={})

    def v1_delete(pid: int) -> JSONResponse:
        return envelope({"id": pid}) if data.delete_person(pid) else not_found()

    for prefix in ("/v1", "/api/v1"):
        app.add_api_route(prefix + "/personFields", person_fields, methods=["GET"])
        app.add_api_route(prefix + "/personFields", add_person_field, methods=["POST"])
        app.add_api_route(prefix + "/users/me", me, methods=["GET"])
        app.add_api_route(prefix + "/persons", v1_list, methods=["GET"])
        app.add_api_route(prefix + "/persons", v1_create, methods=["POST"])
        app.add_api_route(prefix + "/persons/{pid}", v1_get, methods=["GET"])
        app.add_api_route(prefix + "/persons/{pid}", v1_update, methods=["PUT"])
        app.add_api_route(prefix + "/persons/{pid}", v1_delete, methods=["DELETE"])

    return app


def _token_of(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), True
    token = request.headers.get("x-api-token") or request.query_params.get("api_token")
    return token, False


def _valid(state: State, token: str, oauth: bool) -> bool:
    if oauth:
        if state.settings.faults.expire_tokens:
            return False
        return state.access.get(token, 0) > time.time()
    return secrets.compare_digest(token, state.settings.api_token)


async def _json(request: Request) -> Any:
    """v2 writes take JSON only."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Invalid("Content-Type must be application/json")
    try:
        return json.loads(await request.body())
    except ValueError:
        raise Invalid("Request body is not valid JSON") from None


async def _body(request: Request) -> dict[str, Any]:
    """v1 writes take JSON or a form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await _json(request)
        if not isinstance(body, dict):
            raise Invalid("Request body must be a JSON object")
        return body
    return dict((await request.form()).items())


cli = typer.Typer(add_completion=False, help="Emulate Pipedrive's Persons API on 127.0.0.1.")


@cli.command()
def run(
    port: Annotated[int, typer.Option(help="port to listen on (0: a free one)")] = 0,
    persons: Annotated[int, typer.Option(help="persons to seed")] = 50,
    api_token: Annotated[str, typer.Option(help="the company's API token")] = "pd-emulator-token",
    client_id: Annotated[str, typer.Option(help="OAuth client id")] = "pd-client",
    client_secret: Annotated[str, typer.Option(help="OAuth client secret")] = "pd-client-secret",
    burst: Annotated[int, typer.Option(help="requests per 2 s per API token (OAuth: 4x)")] = 40,
    daily_tokens: Annotated[int, typer.Option(help="the company's daily token budget")] = 300_000,
    contact_sync: Annotated[
        bool, typer.Option(help="show contact-sync fields (job_title, notes...)")
    ] = False,
    error_rate: Annotated[float, typer.Option(help="share of requests answered 500/503")] = 0.0,
    storm: Annotated[float, typer.Option(help="share of requests answered 429 (burst)")] = 0.0,
    slow: Annotated[float, typer.Option(help="seconds before every answer")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed for the data and faults")] = 7,
) -> None:
    """Serve the emulator; the first stdout line is JSON with everything a connector needs."""
    settings = Settings(
        api_token,
        client_id,
        client_secret,
        burst,
        daily_tokens,
        storm,
        1,
        Faults(error_rate, slow, seed=seed),
    )
    company = Company(contact_sync=contact_sync)
    company.seed(persons, seed)
    app = create_app(settings, company)
    info = {
        "system": "pipedrive",
        "api_token": api_token,
        "client_id": client_id,
        "client_secret": client_secret,
        "persons": persons,
    }
    # serve() prints the JSON line on stdout; the block for people goes to stderr
    typer.echo(
        '\n[[hubs.HUB.connectors]]\nname = "pipedrive"\ntype = "pipedrive"\n'
        'base_url = "<url from the line above>"\n'
        f'api_token = "{api_token}"\n',
        err=True,
    )
    serve(app, port, info)


__all__ = ["COSTS", "Company", "Settings", "State", "cli", "cost_of", "create_app", "v1time"]
