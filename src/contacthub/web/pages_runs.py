"""The run pages: a run's journal a page at a time, grouped by connector, the actions on a
run (approve or reject a held run, undo an applied one) and resolving a conflict. Each of
them first finds the run's or conflict's hub through ``access``, so a stranger's id answers
like a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from contacthub import service
from contacthub.errors import UserError
from contacthub.web import access
from contacthub.web.app import state
from contacthub.web.pages_common import Changer, Id, Viewer, go, render

router = APIRouter(include_in_schema=False)


#: changes a run page shows at a time: a first sync's page of 40,000 rows was 8.5 MB, and the
#: server grew 150 MB building it
PAGE = 500

ChangeId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/runs/{run_id}")
def run_page(
    request: Request, run_id: Id, who: Viewer, after: ChangeId = None, before: ChangeId = None
) -> Response:
    """The run and one page of its journal: the first ``PAGE`` changes, those after the
    change ``after`` (Next) or just before the change ``before`` (Previous), keyset by
    change id as the API pages it."""
    engine = state(request).engine
    hub_id, _ = access.hub_of(engine, who.user, "run", run_id)
    if before is not None:
        run = service.show_run(engine, run_id, PAGE + 1, before=before)
        earlier = len(run["journal"]) > PAGE
        shown = run["journal"][-PAGE:]
        later = True
    else:
        run = service.show_run(engine, run_id, PAGE + 1, after)
        later = len(run["journal"]) > PAGE
        shown = run["journal"][:PAGE]
        earlier = after is not None
    start = service.journal_position(engine, run_id, shown[0]["id"]) if shown else 0
    earlier = earlier and start > 0
    pages: dict[str, str] = {}
    if shown and earlier:
        pages["previous"] = f"/runs/{run_id}?before={shown[0]['id']}"
    if shown and later:
        pages["next"] = f"/runs/{run_id}?after={shown[-1]['id']}"
    by_connector: dict[str, list[dict[str, Any]]] = {}
    for change in shown:
        by_connector.setdefault(change["connector"], []).append(change)
    return render(
        request,
        "run.html",
        who,
        run=run,
        hub_id=hub_id,
        by_connector=by_connector,
        start=start,
        shown=len(shown),
        pages=pages,
        page_size=PAGE,
    )


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
