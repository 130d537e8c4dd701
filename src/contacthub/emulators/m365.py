"""A Microsoft 365 emulator: Entra sign-in, Microsoft Graph and Exchange's InvokeCommand, for
several tenants, over TLS (msal insists on https). For tests, benchmarks and the demo.

``contacthub emulate m365 --port 0 --tenants 2 --users 50 --contacts 10`` prints one JSON line
with everything a connector needs (authority, Graph and Exchange URLs, the CA file to trust,
the app's client id, secret and certificate, the tenants), then a ready-to-paste TOML block.

One app registration exists (``client_id``), registered in the first tenant ("home"). Other
tenants are partners: they accept tokens only after their admin consented at
``/{tenant}/adminconsent`` (``--consent all`` consents every tenant from the start). The
emulator plays the admin: a consent request is granted by the tenant named in the path (or,
for ``common``/``organizations``, the first one not consented yet) and redirected as
Microsoft does, ``?admin_consent=True&tenant=...&state=...``; ``decline_consent`` answers
``?error=access_denied&error_description=...`` instead.

Fault switches (attributes of ``Emulator``; also ``POST /_emulator/faults`` with JSON):
``throttle_rate`` (share of Graph and Exchange calls answered 429 with ``Retry-After``),
``retry_after`` (seconds), ``graph_limit`` (calls per 10 s per tenant), ``expire_delta``
(delta tokens answer 410 Gone; without it a token older than 7 days answers 400
``syncStateNotFound``), ``decline_consent``, ``error_rate`` (500s), ``expire_tokens``,
``fail_cmdlets`` (cmdlet name -> the status its every call is answered with: 500, or a
cmdlet error such as 400, until the switch is cleared).
``GET /_emulator/stats`` counts the Graph and Exchange calls served (for benchmarks).

This module holds the emulator's state (``Emulator``), the app with its Graph and Exchange
routes, and the ways to run it; the Entra sign-in endpoints are in ``m365_signin.py``, the
directory data, Graph, Exchange, subscriptions and certificates in their own ``m365_*.py``.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from contacthub.emulators.base import HOST, RateWindow, _bind, background, server_config
from contacthub.emulators.m365_data import Tenant, seed
from contacthub.emulators.m365_exchange import ExchangeApi, cmdlet_error
from contacthub.emulators.m365_graph import GraphApi
from contacthub.emulators.m365_signin import _base, add_signin_routes
from contacthub.emulators.m365_subscriptions import Subscriptions
from contacthub.emulators.m365_tls import ClientCert, ServerCert, client_cert, server_cert
from contacthub.emulators.m365_wire import Reply, error


class Emulator:
    """The state behind the app: tenants, the app registration, issued tokens, switches."""

    def __init__(
        self,
        tenants: int = 2,
        users: int = 20,
        contacts: int = 5,
        consent: str = "home",
        seed_value: int = 7,
        page_size: int = 200,
        cert: ClientCert | None = None,
    ) -> None:
        rng = random.Random(seed_value)
        self.client_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.client_secret = secrets.token_urlsafe(30)
        self.cert: ClientCert = cert or client_cert()
        self.tenants: list[Tenant] = []
        for i in range(tenants):
            tid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            name = "Contoso" if i == 0 else f"Fabrikam{i if i > 1 else ''}"
            tenant = Tenant(tid, f"{name.lower()}.onmicrosoft.com", name)
            if i == 0 or consent == "all":
                tenant.consented.add(self.client_id)
            seed(tenant, users, contacts, rng, offset=7 * i)
            self.tenants.append(tenant)
        self.tokens: dict[str, tuple[str, str, float]] = {}  # token -> (tenant id, audience, expiry)
        self.codes: dict[str, str] = {}
        self.throttle_rate = 0.0
        self.retry_after = 1
        self.graph_limit = 0
        self.graph_window = 10.0  # seconds of the graph_limit window
        self.error_rate = 0.0
        self.fail_cmdlets: dict[str, int] = {}
        self.expire_tokens = False
        self.decline_consent = False
        self.token_lifetime = 3599
        self.windows: dict[str, RateWindow] = {}
        self.exchange_window: dict[str, RateWindow] = {}
        self.random = random.Random(seed_value)
        self.lock = threading.Lock()
        self.graph = GraphApi(page_size=page_size, throttle=self._throttle)
        self.exchange = ExchangeApi()
        self.subscriptions = Subscriptions()
        self.token_requests = 0
        self.throttled = 0  # 429 answers given

    # --- lookups ------------------------------------------------------------------------

    def tenant(self, key: str) -> Tenant | None:
        low = key.lower()
        return next((t for t in self.tenants if low in (t.id, t.domain)), None)

    @property
    def expire_delta(self) -> bool:
        return self.graph.expire_delta

    @expire_delta.setter
    def expire_delta(self, value: bool) -> None:
        self.graph.expire_delta = value

    def _throttle(self, tenant: Tenant) -> Reply | None:
        with self.lock:
            window = self.windows.setdefault(tenant.id, RateWindow(self.graph_limit, self.graph_window))
            window.limit, window.period = self.graph_limit, self.graph_window
            allowed, _, reset = window.hit()
            storm = self.throttle_rate > 0 and self.random.random() < self.throttle_rate
        if allowed and not storm:
            return None
        self.throttled += 1
        wait = self.retry_after if storm else max(self.retry_after, math.ceil(reset - time.time()))
        scope = f"Tenant_Application/ReadWrite/{self.client_id}/{tenant.id}"
        return error(
            429,
            "TooManyRequests",
            f"Too many requests from Identifier:{self.client_id}+{tenant.id} under category:"
            "throttle.aad.ags.ResourceUnitLimitExceeded. Please try again later.",
            {
                "Retry-After": str(wait),
                "x-ms-throttle-scope": scope,
                "x-ms-throttle-information": "ResourceUnitLimitExceeded",
            },
        )

    def info(self, base: str, cert: ServerCert) -> dict[str, Any]:
        exchange = base.replace(HOST, "localhost")
        return {
            "authority_url": base,
            "graph_url": base,
            "exchange_url": exchange,
            "ca_file": str(cert.cert_file),
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "certificate_thumbprint": self.cert.thumbprint,
            "certificate_key_file": str(cert.cert_file.parent / "app-key.pem"),
            "tenants": [
                {"tenant_id": t.id, "domain": t.domain, "name": t.name, "consented": bool(t.consented)}
                for t in self.tenants
            ],
        }


def _json(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _failed_cmdlet(emu: Emulator, body: Any) -> Reply | None:
    """The answer of a cmdlet ``fail_cmdlets`` makes fail (a write that does not go
    through, for the tests of what the next run does about it), else None."""
    cmd = body.get("CmdletInput") if isinstance(body, dict) else None
    name = cmd.get("CmdletName") if isinstance(cmd, dict) else None
    status = emu.fail_cmdlets.get(name) if isinstance(name, str) else None
    if status is None:
        return None
    if status >= 500:
        return error(status, "InternalServerError", "The server encountered an internal error.")
    return cmdlet_error(
        status, "BadRequest", f"{name} failed (an injected fault)", "Microsoft.Exchange.Management.Fault"
    )


def create_app(emu: Emulator) -> FastAPI:
    app = FastAPI(title="Microsoft 365 emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emu

    # --- Entra sign-in (m365_signin.py) -------------------------------------------------

    add_signin_routes(app, emu)

    # --- Graph --------------------------------------------------------------------------

    def signed_in(request: Request) -> Tenant | Reply:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return error(401, "InvalidAuthenticationToken", "Access token is empty.")
        entry = emu.tokens.get(header[7:].strip())
        if entry is None:
            return error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        tid, audience, expiry = entry
        if emu.expire_tokens or expiry < time.time():
            return error(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
        if audience != _base(request):
            return error(401, "InvalidAuthenticationToken", "Invalid audience.")
        found = emu.tenant(tid)
        assert found is not None
        if emu.error_rate and emu.random.random() < emu.error_rate:
            return error(503, "serviceNotAvailable", "Service unavailable.", {"Retry-After": "0"})
        return found

    @app.post("/v1.0/$batch")
    async def batch(request: Request) -> Response:
        who = signed_in(request)
        if isinstance(who, Reply):
            return _json(who)
        try:
            body = await request.json()
        except ValueError:
            return _json(error(400, "BadRequest", "Invalid JSON."))
        return _json(emu.graph.batch(who, _base(request), body))

    @app.post("/v1.0/subscriptions")
    async def subscribe(request: Request) -> Response:
        who = signed_in(request)
        if isinstance(who, Reply):
            return _json(who)
        try:
            body = await request.json()
        except ValueError:
            return _json(error(400, "BadRequest", "Invalid JSON."))
        return _json(await emu.subscriptions.create(who, body))

    @app.api_route("/v1.0/subscriptions/{sid}", methods=["GET", "PATCH", "DELETE"])
    async def subscription(sid: str, request: Request) -> Response:
        who = signed_in(request)
        if isinstance(who, Reply):
            return _json(who)
        body = await request.json() if request.method == "PATCH" else None
        return _json(emu.subscriptions.change(who, sid, request.method, body))

    @app.api_route("/v1.0/{path:path}", methods=["GET", "PATCH", "POST", "DELETE"])
    async def graph(path: str, request: Request) -> Response:
        who = signed_in(request)
        if isinstance(who, Reply):
            return _json(who)
        body = None
        if request.method in ("PATCH", "POST"):
            try:
                body = await request.json()
            except ValueError:
                return _json(error(400, "BadRequest", "Invalid JSON."))
        url = "/" + path + (f"?{request.url.query}" if request.url.query else "")
        return _json(emu.graph.call(who, _base(request), request.method, url, body))

    # --- Exchange -----------------------------------------------------------------------

    @app.post("/adminapi/beta/{tenant}/InvokeCommand")
    async def invoke(tenant: str, request: Request) -> Response:
        who = signed_in(request)
        if isinstance(who, Reply):
            return _json(who)
        if emu.tenant(tenant) is not who:
            return _json(error(403, "Forbidden", "The user is not authorized for this tenant."))
        with emu.lock:
            window = emu.exchange_window.setdefault(who.id, RateWindow(0, 60.0))
        storm = emu.throttle_rate > 0 and emu.random.random() < emu.throttle_rate
        if storm:
            emu.throttled += 1
            return _json(
                Reply(
                    429,
                    {
                        "error": {
                            "code": "TooManyRequests",
                            "message": "Too many requests. Please try again later.",
                        }
                    },
                    {"Retry-After": str(emu.retry_after)},
                )
            )
        _, remaining, _ = window.hit()
        try:
            body = await request.json()
        except ValueError:
            return _json(error(400, "BadRequest", "Invalid JSON."))
        failed = _failed_cmdlet(emu, body)
        if failed is not None:
            return _json(failed)
        reply = emu.exchange.invoke(
            who,
            _base(request),
            body,
            request.query_params.get("$skiptoken"),
            request.headers.get("prefer", ""),
        )
        reply.headers.update(
            {"Rate-Limit-Limit": "30000", "Rate-Limit-Remaining": str(min(remaining, 29999))}
        )
        return _json(reply)

    @app.post("/_emulator/faults")
    async def faults(request: Request) -> Response:
        body = await request.json()
        allowed = {
            "throttle_rate",
            "retry_after",
            "graph_limit",
            "graph_window",
            "expire_delta",
            "decline_consent",
            "error_rate",
            "expire_tokens",
            "fail_cmdlets",
        }
        for key, value in body.items():
            if key in allowed:
                setattr(emu, key, value)
        return JSONResponse({k: getattr(emu, k) for k in sorted(allowed)})

    @app.get("/_emulator/stats")
    def stats() -> Response:
        return JSONResponse(
            {
                "graph_calls": emu.graph.calls,
                "exchange_calls": emu.exchange.calls,
                "token_requests": emu.token_requests,
                "throttled": emu.throttled,
            }
        )

    return app


# --- running it ----------------------------------------------------------------------------


@contextmanager
def running(emu: Emulator, folder: Path | None = None) -> Iterator[dict[str, Any]]:
    """Serve ``emu`` over TLS in a daemon thread; yields its ``info`` (URLs, CA file, app)."""
    with tempfile.TemporaryDirectory(prefix="m365-emu-") as tmp:
        cert = server_cert(folder or Path(tmp))
        (cert.cert_file.parent / "app-key.pem").write_text(emu.cert.private_key_pem)
        with background(create_app(emu), (str(cert.cert_file), str(cert.key_file))) as url:
            yield emu.info(url, cert)


cli = typer.Typer(add_completion=False, help="Run the Microsoft 365 emulator (Entra, Graph, Exchange).")


@cli.command()
def main(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")] = 0,
    tenants: Annotated[int, typer.Option(help="How many tenants (the first is the app's home).")] = 2,
    users: Annotated[int, typer.Option(help="Users per tenant.")] = 20,
    contacts: Annotated[int, typer.Option(help="External mail contacts per tenant.")] = 5,
    consent: Annotated[str, typer.Option(help="'home': only the first tenant consented; 'all'.")] = "home",
    page_size: Annotated[int, typer.Option(help="Items per Graph delta page.")] = 200,
    state_dir: Annotated[Path | None, typer.Option(help="Where to write the TLS certificate.")] = None,
) -> None:
    """Serve until stopped; the first stdout line is JSON with everything a connector needs."""
    emu = Emulator(
        tenants=max(1, tenants), users=users, contacts=contacts, consent=consent, page_size=page_size
    )
    folder = state_dir or Path(tempfile.mkdtemp(prefix="m365-emu-"))
    cert = server_cert(folder)
    key_file = folder / "app-key.pem"
    key_file.write_text(emu.cert.private_key_pem)
    key_file.chmod(0o600)
    sock = _bind(port)
    bound = sock.getsockname()[1]
    info = emu.info(f"https://{HOST}:{bound}", cert)
    print(json.dumps({"url": info["graph_url"], "port": bound, **info}), flush=True)
    for t in info["tenants"]:
        print(
            f'\n[[hubs.HUB.connectors]]\nname = "gal-{t["name"].lower()}"\ntype = "m365-gal"\n'
            f'tenant_id = "{t["tenant_id"]}"\nclient_id = "{info["client_id"]}"\n'
            f'client_secret = "{info["client_secret"]}"\nauthority_url = "{info["authority_url"]}"\n'
            f'graph_url = "{info["graph_url"]}"\nexchange_url = "{info["exchange_url"]}"\n'
            f'ca_file = "{info["ca_file"]}"',
            flush=True,
        )
    import uvicorn

    uvicorn.Server(server_config(create_app(emu), (str(cert.cert_file), str(cert.key_file)))).run(
        sockets=[sock]
    )
