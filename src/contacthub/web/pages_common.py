"""What every dashboard page module shares: the Jinja2 templates (autoescaped: whatever a user
or a system typed is shown as text), the caller dependencies (``Viewer`` for a page,
``Changer`` for a form post, which also checks the session's CSRF token), rendering, the
post/redirect/get redirect, the message page and the way to the sign-in page. Kept apart so
the page groups import one small module instead of each other, and so ``app``'s error
handlers can answer pages without loading every route."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from contacthub.web import accounts
from contacthub.web.app import HERE, Caller, caller, check_csrf, state

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
