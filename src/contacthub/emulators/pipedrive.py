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

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from contacthub.emulators.base import Faults, serve
from contacthub.emulators.pipedrive_data import Company, Invalid, parse_time
from contacthub.emulators.pipedrive_routes import add_oauth, add_v1
from contacthub.emulators.pipedrive_wire import (
    Settings,
    State,
    cost_of,
    envelope,
    error,
    json_body,
    not_found,
    page,
    token_of,
    valid,
)


def create_app(
    settings: Settings | None = None, company: Company | None = None, state_file: Path | None = None
) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.pd`` is its ``State`` for tests. With
    ``state_file`` the company is saved there after every write (``Company.load`` reads it)."""
    state = State(settings or Settings(), company or Company())
    state.state_file = state_file
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
            await asyncio.sleep(faults.slow_seconds)
        token, oauth = token_of(request)
        if token is None or not valid(state, token, oauth):
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
            if state.state_file is not None and request.method != "GET" and response.status_code < 300:
                state.company.save(state.state_file)
        response.headers.update(headers)
        return response

    @app.exception_handler(Invalid)
    async def invalid(request: Request, exc: Invalid) -> JSONResponse:
        return error(400, str(exc), "Validation failed")

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = ".".join(str(part) for part in (exc.errors() or [{}])[0].get("loc", ()))
        return error(400, f"Validation failed: {where or 'request'} is not valid", "Validation failed")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error(404, "Unknown method .")
        return error(exc.status_code, str(exc.detail))

    add_oauth(app, state)
    add_v1(app, state)

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
        person = data.create_person(await json_body(request))
        return envelope(data.person_v2(person))

    @app.patch("/api/v2/persons/{pid}")
    async def update_person(pid: int, request: Request) -> JSONResponse:
        person = data.update_person(pid, await json_body(request))
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
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise Invalid("name is required")
        return envelope(data.org_v2(data.add_org(body["name"])))

    return app


cli = typer.Typer(add_completion=False, help="Emulate Pipedrive's Persons API on 127.0.0.1.")


@cli.command()
def run(
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on (0: a free one)")] = 0,
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
    state: Annotated[
        Path | None, typer.Option(help="keep the data in this JSON file (loaded when it exists)")
    ] = None,
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
    if state is not None and state.exists():
        company.load(state)
    else:
        company.seed(persons, seed)
        if state is not None:
            company.save(state)
    app = create_app(settings, company, state)
    info = {
        "system": "pipedrive",
        "api_token": api_token,
        "client_id": client_id,
        "client_secret": client_secret,
        "persons": persons,
    }
    serve(
        app,
        port,
        info,
        lambda url: (
            f'\n[[hubs.HUB.connectors]]\nname = "pipedrive"\ntype = "pipedrive"\n'
            f'base_url = "{url}"\napi_token = "{api_token}"'
        ),
    )
