"""The dashboard's own sign-in: the first-run form that creates the first (admin) user, signing
in (throttled per email and per address) and signing out. These are the only pages reached
without a session, so their forms carry a double-submit CSRF token of their own; a
connector's sign-in (OAuth, partner consent) is another thing, in ``pages_signin``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contacthub.errors import UserError
from contacthub.web import accounts
from contacthub.web.app import LOGIN_CSRF_COOKIE, SESSION_COOKIE, same, state
from contacthub.web.pages_common import Changer, go, message_page, render

router = APIRouter(include_in_schema=False)


def _login_form(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A sign-in or first-run form: before there is a session, its CSRF token is a random
    value kept in a cookie and repeated in the form (double submit)."""
    import secrets

    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, None, status=status, login_csrf=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=state(request).secure_cookies,
        path="/",
    )
    return response


def _start_session(request: Request, user: accounts.User, target: str) -> Response:
    token, _csrf = accounts.create_session(state(request).engine, user)
    local = target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target
    response = go(target if local else "/")  # never an open redirect to another site
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",  # lax, not strict: a sign-in redirect back from Microsoft must carry it
        secure=state(request).secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.get("/setup")
def setup_page(request: Request) -> Response:
    if accounts.user_count(state(request).engine):
        return go("/login")
    return _login_form(request, "setup.html")


def _too_long(email: str, password: str) -> None:
    """The fields' limits, said on the form (``Form(max_length=...)`` answered a bare 422 page)."""
    if len(email) > 320:
        raise UserError("Email: at most 320 characters")
    if len(password) > 1000:
        raise UserError("Password: at most 1000 characters")


@router.post("/setup")
def setup(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    engine = state(request).engine
    if accounts.user_count(engine):
        return go("/login")
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return message_page(request, 403, "the form's security token is missing: reload the page")
    try:
        _too_long(email, password)
        user = accounts.add_user(engine, email, password, admin=True)
    except UserError as exc:
        return _login_form(request, "setup.html", 400, error=str(exc), email=email[:320])
    return _start_session(request, user, "/")


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if accounts.user_count(state(request).engine) == 0:
        return go("/setup")
    return _login_form(request, "login.html", next=next)


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    web = state(request)
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return message_page(request, 403, "the form's security token is missing: reload the page")
    try:
        _too_long(email, password)
    except UserError as exc:
        return _login_form(request, "login.html", 400, error=str(exc), email=email[:320], next=next)
    keys = (f"email:{accounts.email_key(email)}", f"ip:{request.client.host if request.client else '?'}")
    user: accounts.User | None = None
    with web.throttle.one_at_a_time(keys[0]):
        wait, moment = web.throttle.begin(*keys)
        if wait <= 0:
            user = accounts.authenticate(web.engine, email, password)
            if user is not None:
                web.throttle.succeeded(keys[:1], keys[1:], moment)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        response = _login_form(
            request,
            "login.html",
            429,
            error=f"too many failed sign-ins: try again in {minutes} minute(s)",
            email=email,
            next=next,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if user is None:  # (counted as a failure when it began)
        return _login_form(
            request, "login.html", 401, error="wrong email or password", email=email, next=next
        )
    return _start_session(request, user, next)


@router.post("/logout")
def logout(request: Request, who: Changer) -> Response:
    accounts.end_session(state(request).engine, request.cookies.get(SESSION_COOKIE, ""))
    response = go("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
