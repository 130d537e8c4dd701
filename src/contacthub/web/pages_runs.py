"""The run pages: a run's journal grouped by connector, the actions on a run (approve or reject
a held run, undo an applied one) and resolving a conflict. Each of them first finds the run's
or conflict's hub through ``access``, so a stranger's id answers like a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contacthub import service
from contacthub.errors import UserError
from contacthub.web import access
from contacthub.web.app import state
from contacthub.web.pages_common import Changer, Id, Viewer, go, render

router = APIRouter(include_in_schema=False)


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
    hub_id, name = access.hub_of(engine, who.user, "run", run_id)
    actions = {"approve": service.approve, "reject": service.reject, "undo": service.undo}
    if action not in actions:
        raise UserError(f"unknown action {action!r}")
    report = state(request).run(hub_id, name, lambda: actions[action](engine, run_id))
    return go(f"/runs/{report.run_id}")


@router.post("/conflicts/{conflict_id}/resolve")
def resolve(
    request: Request, conflict_id: Id, who: Changer, take: Annotated[str, Form(max_length=200)]
) -> Response:
    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "conflict", conflict_id)
    service.resolve(engine, conflict_id, take)
    return go(f"/hubs/{hub_id}#conflicts")
