"""The contact pages: a hub's contacts with a search (the htmx request gets only the rows),
in pages of ``PAGE`` by name, and one contact's page. Read-only: contacts change through
syncs and conflict resolution."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from contacthub import service
from contacthub.service.views import by_name, name_place
from contacthub.web import access
from contacthub.web.app import state
from contacthub.web.pages_common import Id, Viewer, render

router = APIRouter(include_in_schema=False)

PAGE = 200  # contacts on one page of the list


def page_by_name(
    found: list[dict[str, Any]], after: tuple[str, str, str] | None, before: tuple[str, str, str] | None
) -> tuple[list[dict[str, Any]], int]:
    """The page of ``found`` (sorted by ``service.views.by_name``: a tie-free order, so a
    page boundary between two of one name loses neither) after the key ``after`` or, going back,
    before ``before``: a keyset, as the API's ``page_of`` pages, but by name, the list's
    order. A contact added or removed between clicks shifts no other one into or out of
    view. Also the page's offset, for "201-400 of 450"."""
    if before is not None:
        end = bisect_left(found, before, key=by_name)
        start = max(0, end - PAGE)
    else:
        start = 0 if after is None else bisect_right(found, after, key=by_name)
        end = start + PAGE
    return found[start:end], start


@router.get("/hubs/{hub_id}/contacts")
def contacts_page(
    request: Request,
    hub_id: Id,
    who: Viewer,
    q: str = "",
    after: str = "",
    after_id: str = "",
    before: str = "",
    before_id: str = "",
) -> Response:
    """``after`` and ``after_id`` (the last contact's name, as written, and id) ask for the
    page that follows it; ``before`` and ``before_id`` for the one before the first. The
    link carries the name, not its sort key, which the server works out again: the key is
    the server's to change (it was the name case-folded, which a link from then still
    pages by, nearly in place)."""
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    found = service.contacts_of(engine, name, q[:200] or None)  # (sorted by by_name)
    shown, start = page_by_name(
        found,
        name_place(after, after_id) if after or after_id else None,
        name_place(before, before_id) if before or before_id else None,
    )
    pages: dict[str, str] = {}
    if start > 0 and shown:
        pages["previous"] = _link(request, "before", by_name(shown[0]))
    if start + len(shown) < len(found) and shown:
        pages["next"] = _link(request, "after", by_name(shown[-1]))
    template = "_contact_rows.html" if request.headers.get("hx-request") else "contacts.html"
    return render(
        request,
        template,
        who,
        hub_id=hub_id,
        hub_name=name,
        q=q,
        contacts=shown,
        total=len(found),
        start=start,
        pages=pages,
        page_size=PAGE,
    )


def _link(request: Request, side: str, key: tuple[str, str, str]) -> str:
    """This list (its search kept) on the page ``side`` (after, before) of ``key``."""
    url = request.url.remove_query_params(["after", "after_id", "before", "before_id"])
    url = url.include_query_params(**{side: key[1], f"{side}_id": key[2]})
    return f"{url.path}?{url.query}"


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
