"""An emulator of Procore's REST API (company directory) and its OAuth server.

It speaks the documented wire format (``../shared/reference/procore_pipedrive.md`` part 1,
``procore-directory.json``): ``/oauth/authorize`` and ``/oauth/token`` (authorization code,
single-use rotating refresh tokens, client credentials; form, multipart or JSON bodies),
``/rest/v1.0/me``, ``/rest/v1.0/companies``, company users (list, show, create, update, sync,
inactive), vendors, people and project directories; ``page``/``per_page`` paging with
``Link``, ``Total`` and ``Per-Page``; ``filters[updated_at]`` and ``filters[search]``;
``X-Rate-Limit-*`` headers on every answer with a spike (10 s) and an hourly window, 429 with
``Retry-After`` beyond them; ``Procore-Company-Id`` required on every call. Fault switches
make it slow, fail with 5xx, expire every token, or skip a page of a listing once.

Run it with ``contacthub emulate procore --port 8801``; tests build ``ProcoreEmulator`` and
serve ``.app`` with ``emulators.base.background``.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import typer
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse

from contacthub.emulators.base import Faults, RateWindow
from contacthub.emulators.procore_directory import add_directory_routes
from contacthub.emulators.procore_http import (
    ApiError,
    check_company,
    check_version,
    json_response,
    page_of,
    read_body,
)
from contacthub.emulators.procore_state import ProcoreState

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


def skip_page(request: Request, faults: Faults) -> None:
    """``Faults.skip_page``: a listing asked for that page gets the next one instead (the
    route reads the query the scope now holds); the switch turns itself off."""
    pairs = request.query_params.multi_items()
    if ("page", str(faults.skip_page)) not in pairs:
        return
    moved = [(k, str(faults.skip_page + 1) if k == "page" else v) for k, v in pairs]
    request.scope["query_string"] = urlencode(moved).encode("latin-1")
    faults.skip_page = 0


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
        failing = emu.faults.failing(request.method, path)
        if failing is not None:
            return json_response({"errors": "Service Unavailable"}, failing, {**headers, "Retry-After": "0"})
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
        if emu.faults.skip_page and request.method == "GET":
            skip_page(request, emu.faults)
        response = await call_next(request)
        for key, value in headers.items():
            response.headers[key] = value
        return response

    def company(cid: int) -> None:
        check_company(state, cid)

    def version(v: str) -> None:
        check_version(v)

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

    add_directory_routes(app, state)
    return app


cli = typer.Typer(add_completion=False, help="Emulate Procore's company directory API and OAuth server.")


@cli.command()
def main(
    port: int = typer.Option(..., min=0, max=65535, help="port on 127.0.0.1 (0 picks a free one)"),
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
    skip_page: int = typer.Option(
        0, "--skip-page", min=0, help="answer the first listing call for page N with page N+1 (once)"
    ),
    token_lifetime: int = typer.Option(5400, help="access token lifetime in seconds (short: tokens expire)"),
    max_per_page: int = typer.Option(1000, help="largest per_page honoured"),
    vendors_list_inactive: bool = typer.Option(
        False, help="list inactive vendors too in GET /rest/v1.0/vendors (documented as 'all Vendors')"
    ),
    state_file: str = typer.Option("", "--state", help="keep the directory in this JSON file"),
) -> None:
    """Serve the emulator; the first stdout line is JSON with everything a connector needs."""
    import uvicorn

    from contacthub.emulators.base import HOST, _bind, server_config

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
        vendors_list_inactive=vendors_list_inactive,
        token_lifetime=token_lifetime,
        state_file=state_file or None,
    )
    emu = ProcoreEmulator(
        state,
        rate_10s=rate_10s,
        rate_hour=rate_hour,
        faults=Faults(error_rate=error_rate, slow_seconds=slow, skip_page=skip_page),
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
    server = uvicorn.Server(server_config(emu.app))
    server.run(sockets=[sock])
