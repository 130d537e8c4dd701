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
from contacthub.errors import UserError
from contacthub.filters import OPERATORS
from contacthub.web import access
from contacthub.web.app import Caller, state
from contacthub.web.form_errors import (
    check_name,
    is_form_error,
    plain,
    problem,
    refill_settings,
    secrets_typed,
)
from contacthub.web.forms import (
    FIELD_CHOICES,
    check_filter_rows,
    filter_rows,
    form_filter_rows,
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
    return _new_connector(request, who, hub_id, name, type)


def _new_connector(
    request: Request,
    who: Caller,
    hub_id: int,
    hub_name: str,
    type_name: str,
    status: int = 200,
    **refused: Any,
) -> Response:
    """The form to add a connector of ``type_name`` (``refused``: its ``error``, the values
    ``typed``, and the secrets typed, which are not shown again)."""
    types = type_info()
    chosen = next((t for t in types if t["type"] == type_name), None)
    return render(
        request,
        "connector_new.html",
        who,
        status,
        hub_id=hub_id,
        hub_name=hub_name,
        types=types,
        chosen=chosen,
        **refused,
    )


@router.post("/hubs/{hub_id}/connectors")
async def add_connector(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    hub_name = await run_in_threadpool(access.hub, engine, who.user, hub_id)
    form = await request.form()
    type_name = str(form.get("type") or "")
    values = {
        "name": str(form.get("name") or "").strip(),
        "type": type_name,
        "direction": str(form.get("direction") or "two-way"),
        "operations": [str(op) for op in form.getlist("operations")],
        "on_delete": str(form.get("on_delete") or "delete"),
    }
    text = str(form.get("settings") or "")
    try:
        if type_name not in {t["type"] for t in type_info()}:
            raise UserError(
                problem("type", f"unknown connector type {type_name!r}: pick one of the kinds above")
            )
        check_name(str(form.get("name") or ""))
        settings = parse_settings(text, text_settings(type_name))
        for key, value in form.multi_items():
            if key.startswith("secret_") and str(value):
                settings[key.removeprefix("secret_")] = str(value)
        connector_id = await run_in_threadpool(
            partial(service.add_connector, admin=who.user.is_admin), engine, hub_name, values, settings
        )
    except UserError as exc:
        if not is_form_error(exc):
            raise
        refill, dropped = refill_settings(text, _secret_keys(type_name))
        typed = {**values, "name": str(form.get("name") or ""), "settings": refill}
        return await run_in_threadpool(
            partial(_new_connector, error=plain(exc), typed=typed, retype=_retype(form, dropped)),
            request,
            who,
            hub_id,
            hub_name,
            type_name,
            400,
        )
    return go(f"/connectors/{connector_id}")


def _secret_keys(type_name: str) -> frozenset[str]:
    from contacthub.connectors.registry import TYPES, connector_class

    return frozenset(connector_class(type_name).secret_settings) if type_name in TYPES else frozenset()


def _retype(form: Any, dropped: list[str]) -> list[str]:
    """What the person must type again: the password fields they filled in, and the
    settings lines left out of the box because they held a secret."""
    return sorted({*secrets_typed(form), *dropped})


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
    return _connector_page(request, who, connector_id)


def _connector_page(
    request: Request, who: Caller, connector_id: int, status: int = 200, form: Any = None, **refused: Any
) -> Response:
    """A connector's page; with the ``form`` it refused (``refused``: ``error`` and the
    settings box ``typed``), the form as it was sent: the rows, choices and mapping typed."""
    hub_id, connector = _connector(request, who, connector_id)
    top, modes, rows = filter_rows(connector["filter"])
    flattened = shown_filter(connector["filter"]) != connector["filter"]
    settings = settings_text(connector["settings"])
    mapping = list(connector["mapping"].items())
    if form is not None:
        top, modes, rows = form_filter_rows(form)
        settings = refused.pop("typed")
        mapping = list(
            zip(map(str, form.getlist("m_field")), map(str, form.getlist("m_native")), strict=False)
        )
        mapping = [(k, v) for k, v in mapping if k.strip() or v.strip()]
        connector = {
            **connector,
            "direction": str(form.get("direction") or "two-way"),
            "operations": [str(op) for op in form.getlist("operations")],
            "on_delete": str(form.get("on_delete") or "delete"),
        }
    info = next((t for t in type_info() if t["type"] == connector["type"]), None)
    return render(
        request,
        "connector.html",
        who,
        status,
        hub_id=hub_id,
        c=connector,
        info=info,
        settings=settings,
        mapping_rows=mapping,
        filter_top=top,
        group_modes=modes,
        filter_rows=rows,
        filter_flattened=flattened,
        group_count=max(10, len(modes)),  # a filter of more groups keeps them all
        operators=OPERATORS,
        fields=FIELD_CHOICES,
        signin=state(request).signins.status(connector_id),
        **refused,
    )


@router.post("/connectors/{connector_id}")
async def save_connector(request: Request, connector_id: Id, who: Changer) -> Response:
    _, current = await run_in_threadpool(_connector, request, who, connector_id)
    form = await request.form()
    text = str(form.get("settings") or "")
    try:
        settings = parse_settings(text, text_settings(current["type"]))
        for key, value in form.multi_items():
            if key.startswith("secret_") and str(value):
                settings[key.removeprefix("secret_")] = str(value)
        try:
            kept = _filter_saved(form, current["filter"]) is current["filter"]
        except UserError:
            kept = False  # said below, row by row
        if not kept:
            # rows left as the stored filter showed them are that filter, read as runs
            # read it: one an older version stored (``in [""]``, shown as a row with no
            # text) kept every other setting of the page from being saved (QA)
            check_filter_rows(form)
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
    except UserError as exc:
        if not is_form_error(exc):
            raise
        refill, dropped = refill_settings(text, _secret_keys(current["type"]))
        return await run_in_threadpool(
            partial(
                _connector_page, form=form, error=plain(exc), typed=refill, retype=_retype(form, dropped)
            ),
            request,
            who,
            connector_id,
            400,
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
