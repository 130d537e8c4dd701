"""The contact pages: a hub's contacts with a search (the htmx request gets only the rows) and
one contact's page. Read-only: contacts change through syncs and conflict resolution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from contacthub import service
from contacthub.web import access
from contacthub.web.app import state
from contacthub.web.pages_common import Id, Viewer, render

router = APIRouter(include_in_schema=False)


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
