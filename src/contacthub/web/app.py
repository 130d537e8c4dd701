"""The FastAPI application: dashboard pages and the REST API over one store.

``create_app`` takes the engine and optional extra routers and lifespan hooks, so the
scheduler and webhook receivers (``contacthub.scheduler``) plug in without this module
knowing them. Who is asking is decided here, once: an API token (``Authorization: Bearer``)
or a session cookie; a cookie-authenticated request that changes something must also carry
the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from contacthub.engine.context import Report
from contacthub.errors import ConnectorError, NotFoundError, RetriableError, UserError
from contacthub.scheduler.lock import HubBusy
from contacthub.web import accounts
from contacthub.web.accounts import Throttle, User
from contacthub.web.signin import SignIns

log = logging.getLogger("contacthub.web")

SESSION_COOKIE = "contacthub_session"
LOGIN_CSRF_COOKIE = "contacthub_login_csrf"
HERE = Path(__file__).parent
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass
class WebState:
    engine: Engine
    secure_cookies: bool = True
    throttle: Throttle = field(default_factory=Throttle)
    signins: SignIns = field(default_factory=SignIns)
    #: hub id -> when it runs next; set by the scheduler when one is plugged in
    next_run: Callable[[int], Any] | None = None
    _running: set[int] = field(default_factory=set)
    _running_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def running(self, hub_id: int) -> Iterator[None]:
        """One run of a hub at a time from this server: a second click answers 409 at once
        instead of queueing behind the first on the database's write lock."""
        with self._running_lock:
            if hub_id in self._running:
                raise Busy(f"hub {hub_id} is running now: wait for that run to finish, then try again")
            self._running.add(hub_id)
        try:
            yield
        finally:
            with self._running_lock:
                self._running.discard(hub_id)

    def run(self, hub_id: int, hub: str, start: Callable[[], Report]) -> Report:
        """A run started from the web (one at a time per hub, as ``running``), counted in
        ``/metrics`` and logged as the scheduler's runs are: they were missing from both."""
        from contacthub.scheduler import metrics

        with self.running(hub_id):
            began = time.monotonic()
            report = start()
        seconds = time.monotonic() - began
        metrics.observe_run(hub, report, seconds)
        log.info(
            "hub %s: run %s %s from the web in %.2fs",
            hub,
            report.run_id,
            report.status,
            seconds,
            extra={"hub": hub},
        )
        return report


class Busy(UserError):
    """A run of the hub is in progress (409)."""


class Unauthorized(Exception):
    """No valid session or token (API: 401; pages: to the sign-in page)."""


class CsrfRefused(Exception):
    """A cookie-authenticated change without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    csrf: str | None  # None for API tokens: they are not sent by browsers on their own


def state(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def caller(request: Request) -> Caller:
    """Who is asking (cached on the request); ``Unauthorized`` when nobody valid."""
    cached = getattr(request.state, "caller", None)
    if isinstance(cached, Caller):
        return cached
    web = state(request)
    who = accounts.request_user(
        web.engine, request.headers.get("authorization", ""), request.cookies.get(SESSION_COOKIE)
    )
    if who is None:
        raise Unauthorized()
    found = Caller(*who)
    request.state.caller = found
    return found


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def check_csrf(request: Request, who: Caller) -> None:
    """Refuse a change made with a session cookie unless it carries the session's CSRF token."""
    if who.csrf is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf") or "")
    if not same(sent, who.csrf):
        raise CsrfRefused()


def api_caller(request: Request) -> Caller:
    return caller(request)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _wants_page(request: Request) -> bool:
    """Whether an error is answered as a dashboard page: not for the API, nor for the
    webhook receivers, which only vendors' servers call (their 404 and 405 came back as the
    dashboard's HTML page, with links to sign in, while their other errors were JSON)."""
    return not request.url.path.startswith(("/api/", "/hooks/"))


MAX_API_BODY = 1 << 20  # bytes: a hub's or connector's settings are a few kilobytes


class BodyLimit:
    """Refuse an API request or a webhook notification whose body is over ``MAX_API_BODY``
    with 413, before any route reads it: a signed-in user's 30 MB token was stored, and
    every listing of hubs then decrypted it; a receiver read a 400 MB notification whole
    before its own check (the server grew to 861 MB, QA: its URL is the only secret some
    vendors send). The body is read here (up to the limit) and handed on unchanged;
    dashboard forms keep the form parser's limit."""

    def __init__(self, app: Any, limit: int = MAX_API_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/hooks/")):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
        body = b"".join(chunks)
        given = False

        async def replay() -> Any:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        too_big = JSONResponse(
            {"error": f"the request body is over {self.limit // 1024} KiB"}, status_code=413
        )
        await too_big(scope, receive, send)


def _install_errors(app: FastAPI) -> None:
    from contacthub.web import pages

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, _exc: Unauthorized) -> Response:
        if _wants_page(request):
            return pages.to_login(request)
        return _error(
            401,
            "sign in first: send 'Authorization: Bearer TOKEN' (create one with 'contacthub token create')",
        )

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        message = "the form's security token is missing or out of date: reload the page and try again"
        if _wants_page(request):
            return pages.message_page(request, 403, message)
        return _error(403, message)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if _wants_page(request):
            return pages.message_page(request, 404, str(exc))
        return _error(404, str(exc))

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        status = 409 if isinstance(exc, Busy | HubBusy) else 400
        if _wants_page(request):
            return pages.message_page(request, status, str(exc))
        return _error(status, str(exc))

    @app.exception_handler(ConnectorError)
    async def connector_error(request: Request, exc: ConnectorError) -> Response:
        status = 503 if isinstance(exc, RetriableError) else 502
        text = f"{exc.connector}: {exc.message}" if exc.connector else exc.message
        if _wants_page(request):
            return pages.message_page(request, status, text)
        return _error(status, text)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # pydantic's own report echoes the input, which may hold a password: give only where and what
        problems = [
            {"where": ".".join(str(p) for p in err.get("loc", ())), "problem": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        message = f"{first['where']}: {first['problem']}"
        if _wants_page(request):
            # a page says it in words: "Side to keep: this is required", not "body.take: Field required"
            from contacthub.web.form_errors import problem

            loc = [str(p) for p in (exc.errors()[0].get("loc", ()) if exc.errors() else ())]
            field = loc[-1] if len(loc) > 1 and loc[0] in ("body", "query") else None
            return pages.message_page(request, 422, problem(field, first["problem"]))
        return _error(422, message, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_page(request) and exc.status_code in (404, 405):
            return pages.message_page(request, exc.status_code, str(exc.detail))
        return _error(exc.status_code, str(exc.detail))


def create_app(
    engine: Engine,
    *,
    extra_routers: Iterable[APIRouter] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    secure_cookies: bool = True,
    throttle: Throttle | None = None,
) -> FastAPI:
    """The whole web application over ``engine``.

    ``extra_routers`` are included as they are (they use ``api_caller`` / ``check_csrf`` and
    ``access`` for their own checks); each of ``lifespan_hooks`` is an async context manager
    factory entered at start-up and left at shut-down (a scheduler starts and stops there).
    ``secure_cookies=False`` only for plain HTTP on a loopback address (see ``contacthub serve``).
    """
    hooks = list(lifespan_hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in hooks:
                await stack.enter_async_context(hook(app))
            yield

    from contacthub.web import api, pages

    app = FastAPI(
        title="contacthub",
        version="1",
        summary="Keep contacts in sync across address books, directories and CRMs.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.web = WebState(engine, secure_cookies, throttle or Throttle())
    _install_errors(app)
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "frame-ancestors 'none'; form-action 'self'",
            )
        if not request.url.path.startswith("/static/"):
            # every answer but the static files: a dashboard page cached by the browser was
            # shown again by Back after "Sign out" (contacts of a session that had ended)
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(api.router)
    app.include_router(pages.router)
    for router in extra_routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg")

    return app
