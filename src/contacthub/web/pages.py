"""The dashboard: server-rendered pages (Jinja2, autoescaped: whatever a user or a system
typed is shown as text), with htmx for the few live parts. Every form posts the session's
CSRF token; every action redirects to a page that shows its outcome (post/redirect/get)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from contacthub import service
from contacthub.errors import UserError
from contacthub.filters import OPERATORS
from contacthub.web import access, accounts
from contacthub.web.app import (
    HERE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Caller,
    caller,
    check_csrf,
    same,
    state,
)
from contacthub.web.forms import (
    FIELD_CHOICES,
    filter_rows,
    parse_filter,
    parse_mapping,
    parse_settings,
    settings_text,
    type_info,
)

templates = Jinja2Templates(directory=HERE / "templates")


def show_value(value: Any) -> str:
    """A field value as a person reads it (emails and phones as their text, one per line)."""
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, list):
        return "; ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        if "value" in value:
            kind = value.get("type")
            return f"{value['value']}" + (f" ({kind})" if kind else "")
        return ", ".join(f"{k}: {show_value(v)}" for k, v in value.items() if v not in (None, ""))
    return str(value)


templates.env.filters["tojson_text"] = show_value
router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def page_caller(request: Request) -> Caller:
    return caller(request)


async def changing(request: Request, who: Annotated[Caller, Depends(page_caller)]) -> Caller:
    await check_csrf(request, who)
    return who


Viewer = Annotated[Caller, Depends(page_caller)]
Changer = Annotated[Caller, Depends(changing)]


def render(request: Request, name: str, who: Caller | None, status: int = 200, **context: Any) -> Response:
    context.update(user=who.user if who else None, csrf=who.csrf if who else None)
    return templates.TemplateResponse(request, name, context, status_code=status)


def go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def message_page(request: Request, status: int, message: str) -> Response:
    who = getattr(request.state, "caller", None)
    return render(request, "message.html", who, status=status, message=message, status_code=status)


def to_login(request: Request) -> Response:
    if accounts.user_count(state(request).engine) == 0:
        return go("/setup")
    target = request.url.path
    return go("/login" + (f"?next={quote(target)}" if target not in ("/", "/login") else ""))


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


# --- first run, sign in, sign out -----------------------------------------------------------


@router.get("/setup")
def setup_page(request: Request) -> Response:
    if accounts.user_count(state(request).engine):
        return go("/login")
    return _login_form(request, "setup.html")


@router.post("/setup")
def setup(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    engine = state(request).engine
    if accounts.user_count(engine):
        return go("/login")
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return message_page(request, 403, "the form's security token is missing: reload the page")
    try:
        user = accounts.add_user(engine, email, password, admin=True)
    except UserError as exc:
        return _login_form(request, "setup.html", 400, error=str(exc), email=email)
    return _start_session(request, user, "/")


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if accounts.user_count(state(request).engine) == 0:
        return go("/setup")
    return _login_form(request, "login.html", next=next)


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    web = state(request)
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return message_page(request, 403, "the form's security token is missing: reload the page")
    keys = (f"email:{email.strip().lower()}", f"ip:{request.client.host if request.client else '?'}")
    wait = web.throttle.wait(*keys)
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
    user = accounts.authenticate(web.engine, email, password)
    if user is None:
        web.throttle.failed(*keys)
        return _login_form(
            request, "login.html", 401, error="wrong email or password", email=email, next=next
        )
    web.throttle.succeeded(keys[0])
    return _start_session(request, user, next)


@router.post("/logout")
def logout(request: Request, who: Changer) -> Response:
    accounts.end_session(state(request).engine, request.cookies.get(SESSION_COOKIE, ""))
    response = go("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- hubs -----------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request, who: Viewer) -> Response:
    engine = state(request).engine
    hubs = service.hubs(engine, only=access.visible_hub_ids(engine, who.user))
    next_run = state(request).next_run
    for hub in hubs:
        hub["next_run"] = next_run(hub["id"]) if next_run else None
        hub["open_conflicts"] = len(service.conflicts(engine, hub["name"]))
    return render(request, "hubs.html", who, hubs=hubs)


@router.post("/hubs")
def create_hub(
    request: Request,
    who: Changer,
    name: Annotated[str, Form(max_length=200)],
    conflict: Annotated[str, Form(max_length=20)] = "newest",
    delete_threshold: Annotated[str, Form(max_length=20)] = "10%",
) -> Response:
    hub_id = service.create_hub(
        state(request).engine,
        name,
        conflict=conflict,
        delete_threshold=delete_threshold,
        owner_id=who.user.id,
    )
    return go(f"/hubs/{hub_id}")


@router.get("/hubs/{hub_id}")
def hub_page(request: Request, hub_id: Id, who: Viewer) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    [hub] = service.hubs(engine, only=[hub_id])
    runs = service.runs(engine, name, 200)
    return render(
        request,
        "hub.html",
        who,
        hub=hub,
        runs=runs[:30],
        held=[r for r in runs if r["status"] == "held"],
        conflicts=service.conflicts(engine, name),
        chart=chart(runs[:60]),
        types=type_info(),
    )


@router.post("/hubs/{hub_id}/settings")
def hub_settings(
    request: Request,
    hub_id: Id,
    who: Changer,
    conflict: Annotated[str, Form(max_length=20)],
    delete_threshold: Annotated[str, Form(max_length=20)],
    phone_region: Annotated[str, Form(max_length=2)] = "US",
) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    service.update_hub(
        engine,
        name,
        {"conflict": conflict, "delete_threshold": delete_threshold, "phone_region": phone_region},
    )
    return go(f"/hubs/{hub_id}")


@router.post("/hubs/{hub_id}/preview")
def preview(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    with state(request).running(hub_id):
        report = service.sync(engine, name, dry_run=True)
    return go(f"/runs/{report.run_id}")


@router.post("/hubs/{hub_id}/sync")
def sync_now(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    with state(request).running(hub_id):
        report = service.sync(engine, name)
    return go(f"/runs/{report.run_id}")


def chart(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of creates, updates and deletes per run, oldest on the left, for an inline SVG."""
    bars = []
    for run in reversed(runs):
        if run["status"] != "applied":  # previews, held and failed runs changed nothing
            continue
        totals = {"create": 0, "update": 0, "delete": 0}
        for counts in run["changes"].values():
            for op in totals:
                totals[op] += int(counts.get(op, 0))
        bars.append({"id": run["id"], "at": (run["started_at"] or "")[:16], **totals})
    peak = max((b["create"] + b["update"] + b["delete"] for b in bars), default=0) or 1
    width = 14
    for i, bar in enumerate(bars):
        bar["x"] = i * (width + 4)
        y = 100.0
        for op in ("create", "update", "delete"):
            h = 100.0 * bar[op] / peak
            y -= h
            bar[f"{op}_y"], bar[f"{op}_h"] = round(y, 1), round(h, 1)
    return {"bars": bars, "width": width, "total_width": max(len(bars) * (width + 4), width), "peak": peak}


# --- connectors -----------------------------------------------------------------------------


@router.get("/hubs/{hub_id}/connectors/new")
def new_connector_page(request: Request, hub_id: Id, who: Viewer, type: str = "") -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    types = type_info()
    chosen = next((t for t in types if t["type"] == type), None)
    return render(
        request, "connector_new.html", who, hub_id=hub_id, hub_name=name, types=types, chosen=chosen
    )


@router.post("/hubs/{hub_id}/connectors")
async def add_connector(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    hub_name = await run_in_threadpool(access.hub, engine, who.user, hub_id)
    form = await request.form()
    type_name = str(form.get("type") or "")
    settings = parse_settings(str(form.get("settings") or ""))
    for key, value in form.multi_items():
        if key.startswith("secret_") and str(value):
            settings[key.removeprefix("secret_")] = str(value)
    values = {
        "name": str(form.get("name") or "").strip(),
        "type": type_name,
        "direction": str(form.get("direction") or "two-way"),
        "operations": [str(op) for op in form.getlist("operations")],
        "on_delete": str(form.get("on_delete") or "delete"),
    }
    connector_id = await run_in_threadpool(service.add_connector, engine, hub_name, values, settings)
    return go(f"/connectors/{connector_id}")


def _connector(request: Request, who: Caller, connector_id: int) -> tuple[int, dict[str, Any]]:
    from contacthub.web.api import connector_dict

    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "connector", connector_id)
    return hub_id, connector_dict(engine, hub_id, connector_id)


@router.get("/connectors/{connector_id}")
def connector_page(request: Request, connector_id: Id, who: Viewer) -> Response:
    hub_id, connector = _connector(request, who, connector_id)
    top, modes, rows = filter_rows(connector["filter"])
    info = next((t for t in type_info() if t["type"] == connector["type"]), None)
    return render(
        request,
        "connector.html",
        who,
        hub_id=hub_id,
        c=connector,
        info=info,
        settings=settings_text(connector["settings"]),
        filter_top=top,
        group_modes=modes,
        filter_rows=rows,
        operators=OPERATORS,
        fields=FIELD_CHOICES,
        signin=state(request).signins.status(connector_id),
    )


@router.post("/connectors/{connector_id}")
async def save_connector(request: Request, connector_id: Id, who: Changer) -> Response:
    await run_in_threadpool(_connector, request, who, connector_id)
    form = await request.form()
    settings = parse_settings(str(form.get("settings") or ""))
    for key, value in form.multi_items():
        if key.startswith("secret_") and str(value):
            settings[key.removeprefix("secret_")] = str(value)
    values = {
        "direction": str(form.get("direction") or "two-way"),
        "operations": [str(op) for op in form.getlist("operations")],
        "on_delete": str(form.get("on_delete") or "delete"),
        "filter": parse_filter(form),
        "mapping": parse_mapping(form),
    }
    await run_in_threadpool(service.update_connector, state(request).engine, connector_id, values, settings)
    return go(f"/connectors/{connector_id}?saved=1")


@router.get("/connectors/{connector_id}/filter-row")
def filter_row(request: Request, connector_id: Id, who: Viewer, group: int = 0) -> Response:
    _connector(request, who, connector_id)
    row = {"field": "", "op": "equals", "text": "", "group": max(0, min(group, 50))}
    return render(
        request, "_filter_row.html", who, row=row, operators=OPERATORS, fields=FIELD_CHOICES, groups=range(10)
    )


@router.post("/connectors/{connector_id}/test")
def test_connection(request: Request, connector_id: Id, who: Changer) -> Response:
    _connector(request, who, connector_id)
    result = service.test_connector(state(request).engine, connector_id)
    if request.headers.get("hx-request"):
        return render(request, "_test_result.html", who, result=result)
    return render(request, "message.html", who, message=result["message"], ok=result["ok"])


@router.post("/connectors/{connector_id}/delete")
def delete_connector(request: Request, connector_id: Id, who: Changer) -> Response:
    hub_id, _ = _connector(request, who, connector_id)
    service.remove_connector(state(request).engine, connector_id)
    return go(f"/hubs/{hub_id}")


# --- runs and conflicts ---------------------------------------------------------------------


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: Id, who: Viewer) -> Response:
    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "run", run_id)
    run = service.show_run(engine, run_id)
    by_connector: dict[str, list[dict[str, Any]]] = {}
    for change in run["journal"]:
        by_connector.setdefault(change["connector"], []).append(change)
    return render(request, "run.html", who, run=run, hub_id=hub_id, by_connector=by_connector)


@router.post("/runs/{run_id}/{action}")
def run_action(request: Request, run_id: Id, action: str, who: Changer) -> Response:
    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "run", run_id)
    actions = {"approve": service.approve, "reject": service.reject, "undo": service.undo}
    if action not in actions:
        raise UserError(f"unknown action {action!r}")
    with state(request).running(hub_id):
        report = actions[action](engine, run_id)
    return go(f"/runs/{report.run_id}")


@router.post("/conflicts/{conflict_id}/resolve")
def resolve(
    request: Request, conflict_id: Id, who: Changer, take: Annotated[str, Form(max_length=200)]
) -> Response:
    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "conflict", conflict_id)
    service.resolve(engine, conflict_id, take)
    return go(f"/hubs/{hub_id}#conflicts")


# --- contacts -------------------------------------------------------------------------------


@router.get("/hubs/{hub_id}/contacts")
def contacts_page(request: Request, hub_id: Id, who: Viewer, q: str = "") -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    found = service.contacts_of(engine, name, q[:200] or None)
    template = "_contact_rows.html" if request.headers.get("hx-request") else "contacts.html"
    return render(
        request, template, who, hub_id=hub_id, hub_name=name, q=q, contacts=found[:200], total=len(found)
    )


@router.get("/contacts/{contact_id}")
def contact_page(request: Request, contact_id: Annotated[str, Path(max_length=36)], who: Viewer) -> Response:
    engine = state(request).engine
    hub_id, hub_name = access.hub_of(engine, who.user, "contact", contact_id)
    return render(
        request,
        "contact.html",
        who,
        contact=service.contact(engine, contact_id),
        hub_id=hub_id,
        hub_name=hub_name,
    )


# --- sign-in of connectors (OAuth, partner consent) -----------------------------------------


@router.post("/connectors/{connector_id}/signin")
def start_signin(
    request: Request, connector_id: Id, who: Changer, invite: Annotated[bool, Form()] = False
) -> Response:
    engine = state(request).engine
    _, hub_name = access.hub_of(engine, who.user, "connector", connector_id)
    _, connector = _connector(request, who, connector_id)
    state(request).signins.start(engine, connector_id, hub_name, connector["name"], invite=invite)
    return go(f"/connectors/{connector_id}#signin")


@router.get("/connectors/{connector_id}/signin")
def signin_status(request: Request, connector_id: Id, who: Viewer) -> Response:
    _connector(request, who, connector_id)
    return render(
        request,
        "_signin.html",
        who,
        signin=state(request).signins.status(connector_id),
        c={"id": connector_id},
    )


@router.get("/connect/callback")
def connect_callback(request: Request) -> Response:
    """Where OAuth providers and partner admins' consent pages send the browser back: the
    query goes to the sign-in waiting for its ``state`` (set the connector's redirect URI to
    this address). No session is needed: a partner tenant's admin has none; ``state`` is
    the proof, and a request with an unknown state is refused."""
    query = {k: v for k, v in request.query_params.items()}
    connector_id = state(request).signins.deliver(query)
    if connector_id is None:
        return message_page(request, 400, "this sign-in link is unknown or expired: start the sign-in again")
    return render(
        request,
        "message.html",
        None,
        message="Thank you: the sign-in arrived. You can close this page.",
        ok=True,
    )
