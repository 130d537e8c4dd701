"""The REST API under /api/v1: hubs, connectors, runs, conflicts and contacts.

Handlers are thin: they check who may see the object (``access``), then call ``service``.
Errors are JSON ``{"error": "..."}`` with a message a person can act on. Secret settings are
accepted on create and update but never sent back (their names are listed in ``secrets``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import Engine

from contacthub import service
from contacthub.errors import NotFoundError
from contacthub.web import access
from contacthub.web.app import Caller, api_caller, check_csrf, state

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
ContactId = Annotated[str, Path(min_length=1, max_length=36)]
Direction = Literal["two-way", "to-hub", "from-hub"]
Operation = Literal["create", "update", "delete"]
ALL_OPERATIONS: tuple[Operation, ...] = ("create", "update", "delete")
OnDelete = Literal["delete", "ignore", "deactivate"]
Policy = Literal["newest", "priority", "manual"]


async def who(request: Request, caller: Annotated[Caller, Depends(api_caller)]) -> Caller:
    await check_csrf(request, caller)
    return caller


Who = Annotated[Caller, Depends(who)]

#: the largest id an INTEGER column holds (PostgreSQL: 32 bits): a bigger one was a 500
ID_MAX = 2**31 - 1

router = APIRouter(prefix="/api/v1", tags=["contacthub"])


def engine_of(request: Request) -> Engine:
    return state(request).engine


Db = Annotated[Engine, Depends(engine_of)]


#: the name rule, as ``config`` counts: in NFC (``names``), a hub's without surrounding blanks
HUB_NAME = "1 to 200 characters, counted in NFC without surrounding blanks (as `apply` counts)"
CONNECTOR_NAME = "1 to 200 characters, counted in NFC (as `apply` counts)"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubIn(Strict):
    name: str = Field(min_length=1, pattern=r"^[^\x00-\x1f]+$", description=HUB_NAME)
    conflict: Policy = "newest"
    delete_threshold: str = Field("10%", max_length=20, description="a count, or a percentage like 10%")
    phone_region: str = Field("US", pattern=r"^[A-Z]{2}$")


class HubPatch(Strict):
    conflict: Policy | None = None
    delete_threshold: str | None = Field(None, max_length=20)
    phone_region: str | None = Field(None, pattern=r"^[A-Z]{2}$")


class ConnectorIn(Strict):
    name: str = Field(min_length=1, pattern=r"^[^\x00-\x1f]+$", description=CONNECTOR_NAME)
    type: str = Field(max_length=50, description="see GET /api/v1/connector-types")
    direction: Direction = "two-way"
    operations: list[Operation] = Field(default_factory=lambda: list(ALL_OPERATIONS))
    on_delete: OnDelete = "delete"
    filter: dict[str, Any] | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="the type's settings; secret ones are write-only"
    )


class ConnectorPatch(Strict):
    name: str | None = Field(None, min_length=1, pattern=r"^[^\x00-\x1f]+$", description=CONNECTOR_NAME)
    direction: Direction | None = None
    operations: list[Operation] | None = None
    on_delete: OnDelete | None = None
    filter: dict[str, Any] | None = None
    clear_filter: StrictBool = False
    mapping: dict[str, str] | None = None
    settings: dict[str, Any] | None = Field(
        None, description="settings to change; a secret left out keeps its stored value"
    )


class RunIn(Strict):
    dry_run: StrictBool = Field(False, description="plan only: nothing is written (the preview)")


class ResolveIn(Strict):
    take: str = Field(
        min_length=1, max_length=200, description="the connector whose value wins, or 'hub' to keep it"
    )


# --- helpers --------------------------------------------------------------------------------


def hub_dict(engine: Engine, hub_id: int) -> dict[str, Any]:
    [found] = service.hubs(engine, only=[hub_id])
    return public_hub(found)


def public_hub(hub: dict[str, Any]) -> dict[str, Any]:
    return {**hub, "connectors": [public_connector(c, hub["id"]) for c in hub["connectors"]]}


def public_connector(connector: dict[str, Any], hub_id: int) -> dict[str, Any]:
    """A connector as the API shows it: secret settings left out, their names in ``secrets``."""
    from contacthub.connectors.registry import TYPES, connector_class

    secret_names = connector_class(connector["type"]).secret_settings if connector["type"] in TYPES else set()
    settings = {k: v for k, v in connector["settings"].items() if k not in secret_names}
    stored = sorted(k for k in connector["settings"] if k in secret_names)
    return {**connector, "hub_id": hub_id, "settings": settings, "secrets": stored}


def connector_dict(engine: Engine, hub_id: int, connector_id: int) -> dict[str, Any]:
    hub = hub_dict(engine, hub_id)
    for c in hub["connectors"]:
        if c["id"] == connector_id:
            return dict(c)
    raise NotFoundError(f"no connector {connector_id}")


def page_of(request: Request, response: Response, items: list[Any], limit: int, key: str) -> list[Any]:
    """The first ``limit`` of ``items`` (asked for one more, to know whether there is a next
    page), and where the next page is, the same way for every listing: a ``Link: <...>;
    rel="next"`` header (RFC 8288) holding this request's path and query with ``key`` (the
    keyset parameter: ``before`` for runs, ``after`` for a run's changes and for contacts)
    set to the last item's id. No header: this was the last page. A header, not a field:
    the listings are JSON arrays, which a field would have turned into objects."""
    if len(items) <= limit:
        return items
    items = items[:limit]
    url = request.url.include_query_params(**{key: items[-1]["id"]})
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return items


def report_dict(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = report.as_json()
    out["message"] = report.message
    out["held"] = report.held
    return out


# --- connector types ------------------------------------------------------------------------


@router.get("/connector-types", summary="Connector types and what they hold")
def connector_types(_who: Who) -> list[dict[str, Any]]:
    from contacthub.web.forms import type_info

    return type_info()


# --- hubs -----------------------------------------------------------------------------------


@router.get("/hubs", summary="The hubs you can see")
def list_hubs(who: Who, db: Db) -> list[dict[str, Any]]:
    return [public_hub(h) for h in service.hubs(db, only=access.visible_hub_ids(db, who.user))]


@router.post("/hubs", status_code=201, summary="Create a hub (you own it)")
def create_hub(body: HubIn, who: Who, db: Db) -> dict[str, Any]:
    hub_id = service.create_hub(db, body.name, **body.model_dump(exclude={"name"}), owner_id=who.user.id)
    return hub_dict(db, hub_id)


@router.get("/hubs/{hub_id}", summary="One hub with its connectors and last run")
def get_hub(hub_id: Id, who: Who, db: Db) -> dict[str, Any]:
    access.hub(db, who.user, hub_id)
    return hub_dict(db, hub_id)


@router.patch("/hubs/{hub_id}", summary="Change a hub's conflict policy, deletion threshold or region")
def patch_hub(hub_id: Id, body: HubPatch, who: Who, db: Db) -> dict[str, Any]:
    name = access.hub(db, who.user, hub_id)
    service.update_hub(db, name, body.model_dump(exclude_none=True))
    return hub_dict(db, hub_id)


# --- connectors -----------------------------------------------------------------------------


@router.get("/hubs/{hub_id}/connectors", summary="A hub's connectors")
def list_connectors(hub_id: Id, who: Who, db: Db) -> list[dict[str, Any]]:
    access.hub(db, who.user, hub_id)
    return list(hub_dict(db, hub_id)["connectors"])


@router.post("/hubs/{hub_id}/connectors", status_code=201, summary="Add a connector to a hub")
def add_connector(hub_id: Id, body: ConnectorIn, who: Who, db: Db) -> dict[str, Any]:
    name = access.hub(db, who.user, hub_id)
    values = body.model_dump(exclude={"settings"})
    connector_id = service.add_connector(db, name, values, body.settings, admin=who.user.is_admin)
    return connector_dict(db, hub_id, connector_id)


@router.get("/connectors/{connector_id}", summary="One connector (secret settings are never shown)")
def get_connector(connector_id: Id, who: Who, db: Db) -> dict[str, Any]:
    hub_id, _ = access.hub_of(db, who.user, "connector", connector_id)
    return connector_dict(db, hub_id, connector_id)


@router.patch(
    "/connectors/{connector_id}",
    summary="Change a connector's settings, direction, operations, deletion behaviour, filter or mapping",
)
def patch_connector(connector_id: Id, body: ConnectorPatch, who: Who, db: Db) -> dict[str, Any]:
    hub_id, _ = access.hub_of(db, who.user, "connector", connector_id)
    values = body.model_dump(exclude_none=True, exclude={"settings", "clear_filter"})
    if body.clear_filter:
        values["filter"] = None
    service.update_connector(db, connector_id, values, body.settings, admin=who.user.is_admin)
    return connector_dict(db, hub_id, connector_id)


@router.delete("/connectors/{connector_id}", status_code=204, summary="Remove a connector (records stay)")
def delete_connector(connector_id: Id, who: Who, db: Db) -> None:
    access.hub_of(db, who.user, "connector", connector_id)
    service.remove_connector(db, connector_id)


@router.post("/connectors/{connector_id}/test", summary="Test the connection: reach the system, read one")
def test_connector(connector_id: Id, who: Who, db: Db) -> dict[str, Any]:
    access.hub_of(db, who.user, "connector", connector_id)
    return service.test_connector(db, connector_id)


# --- runs -----------------------------------------------------------------------------------


@router.get("/hubs/{hub_id}/runs", summary="A hub's runs, newest first (paged: see the Link header)")
def list_runs(
    request: Request,
    response: Response,
    hub_id: Id,
    who: Who,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=ID_MAX, description="only runs older than this run id")
    ] = None,
) -> list[dict[str, Any]]:
    name = access.hub(db, who.user, hub_id)
    return page_of(request, response, service.runs(db, name, limit + 1, before), limit, "before")


@router.post("/hubs/{hub_id}/runs", status_code=201, summary="Sync now, or preview (dry run)")
def start_run(request: Request, hub_id: Id, body: RunIn, who: Who, db: Db) -> dict[str, Any]:
    name = access.hub(db, who.user, hub_id)
    return report_dict(state(request).run(hub_id, name, lambda: service.sync(db, name, dry_run=body.dry_run)))


@router.get(
    "/runs/{run_id}",
    summary="One run with its changes (field values before and after; paged: see the Link header)",
)
def get_run(
    request: Request,
    response: Response,
    run_id: Id,
    who: Who,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=10_000, description="changes in this page")] = 1000,
    after: Annotated[
        int | None, Query(ge=1, le=ID_MAX, description="only changes after this change id")
    ] = None,
) -> dict[str, Any]:
    access.hub_of(db, who.user, "run", run_id)
    found = service.show_run(db, run_id, limit + 1, after)
    found["journal"] = page_of(request, response, found["journal"], limit, "after")
    return found


@router.post("/runs/{run_id}/approve", summary="Let a held run's deletions happen")
def approve_run(request: Request, run_id: Id, who: Who, db: Db) -> dict[str, Any]:
    hub_id, name = access.hub_of(db, who.user, "run", run_id)
    return report_dict(state(request).run(hub_id, name, lambda: service.approve(db, run_id)))


@router.post("/runs/{run_id}/reject", summary="Refuse a held run's deletions")
def reject_run(request: Request, run_id: Id, who: Who, db: Db) -> dict[str, Any]:
    hub_id, name = access.hub_of(db, who.user, "run", run_id)
    return report_dict(state(request).run(hub_id, name, lambda: service.reject(db, run_id)))


@router.post("/runs/{run_id}/undo", summary="Undo an applied run")
def undo_run(request: Request, run_id: Id, who: Who, db: Db, body: RunIn | None = None) -> dict[str, Any]:
    """With ``{"dry_run": true}``: the undo's plan, nothing written (status ``planned``)."""
    hub_id, name = access.hub_of(db, who.user, "run", run_id)
    dry_run = body is not None and body.dry_run
    return report_dict(state(request).run(hub_id, name, lambda: service.undo(db, run_id, dry_run=dry_run)))


# --- conflicts ------------------------------------------------------------------------------


@router.get("/hubs/{hub_id}/conflicts", summary="Conflicts waiting for a person")
def list_conflicts(hub_id: Id, who: Who, db: Db, include_settled: bool = False) -> list[dict[str, Any]]:
    name = access.hub(db, who.user, hub_id)
    return service.conflicts(db, name, include_settled)


@router.post("/conflicts/{conflict_id}/resolve", summary="Settle a conflict with one side's value")
def resolve_conflict(conflict_id: Id, body: ResolveIn, who: Who, db: Db) -> dict[str, Any]:
    access.hub_of(db, who.user, "conflict", conflict_id)
    return service.resolve(db, conflict_id, body.take)


# --- contacts -------------------------------------------------------------------------------


@router.get(
    "/hubs/{hub_id}/contacts", summary="Search a hub's contacts, by contact id (paged: see the Link header)"
)
def search_contacts(
    request: Request,
    response: Response,
    hub_id: Id,
    who: Who,
    db: Db,
    q: Annotated[str | None, Query(max_length=200, description="text anywhere in the contact")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None, Query(min_length=1, max_length=36, description="only contacts after this contact id")
    ] = None,
) -> list[dict[str, Any]]:
    name = access.hub(db, who.user, hub_id)
    return page_of(request, response, service.contacts_page(db, name, q, limit + 1, after), limit, "after")


@router.get(
    "/contacts/{contact_id}",
    summary="One contact with its history and, per field, which connector supplied it and when",
)
def get_contact(contact_id: ContactId, who: Who, db: Db) -> dict[str, Any]:
    access.hub_of(db, who.user, "contact", contact_id)
    return service.contact(db, contact_id)
