"""The connector pages: adding a connector to a hub (pick a type, then its form), a
connector's page and its save (settings with write-only secrets, direction, operations,
filter builder, field mapping), the htmx filter row, the connection test and removal. The
connector's sign-in (OAuth, partner consent) lives in ``pages_signin``."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from contacthub import service
from contacthub.filters import OPERATORS
from contacthub.web import access
from contacthub.web.app import Caller, state
from contacthub.web.forms import (
    FIELD_CHOICES,
    filter_rows,
    parse_filter,
    parse_mapping,
    parse_settings,
    settings_text,
    shown_filter,
    text_settings,
    type_info,
)
from contacthub.web.pages_common import Changer, Id, Viewer, go, render

router = APIRouter(include_in_schema=False)


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
    settings = parse_settings(str(form.get("settings") or ""), text_settings(type_name))
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
    connector_id = await run_in_threadpool(
        partial(service.add_connector, admin=who.user.is_admin), engine, hub_name, values, settings
    )
    return go(f"/connectors/{connector_id}")


def _connector(request: Request, who: Caller, connector_id: int) -> tuple[int, dict[str, Any]]:
    from contacthub.web.api import connector_dict

    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "connector", connector_id)
    return hub_id, connector_dict(engine, hub_id, connector_id)


def _filter_saved(form: Any, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The builder's filter, or the stored one where the rows were left as they showed it
    (a filter the rows can only show flattened stays as it was written)."""
    built = parse_filter(form)
    return stored if built == shown_filter(stored) else built


@router.get("/connectors/{connector_id}")
def connector_page(request: Request, connector_id: Id, who: Viewer) -> Response:
    hub_id, connector = _connector(request, who, connector_id)
    top, modes, rows = filter_rows(connector["filter"])
    flattened = shown_filter(connector["filter"]) != connector["filter"]
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
        filter_flattened=flattened,
        group_count=max(10, len(modes)),  # a filter of more groups keeps them all
        operators=OPERATORS,
        fields=FIELD_CHOICES,
        signin=state(request).signins.status(connector_id),
    )


@router.post("/connectors/{connector_id}")
async def save_connector(request: Request, connector_id: Id, who: Changer) -> Response:
    _, current = await run_in_threadpool(_connector, request, who, connector_id)
    form = await request.form()
    settings = parse_settings(str(form.get("settings") or ""), text_settings(current["type"]))
    for key, value in form.multi_items():
        if key.startswith("secret_") and str(value):
            settings[key.removeprefix("secret_")] = str(value)
    values = {
        "direction": str(form.get("direction") or "two-way"),
        "operations": [str(op) for op in form.getlist("operations")],
        "on_delete": str(form.get("on_delete") or "delete"),
        "filter": _filter_saved(form, current["filter"]),
        "mapping": parse_mapping(form),
    }
    await run_in_threadpool(
        partial(service.update_connector, admin=who.user.is_admin),
        state(request).engine,
        connector_id,
        values,
        settings,
    )
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
