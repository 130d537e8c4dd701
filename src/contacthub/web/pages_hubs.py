"""The hub pages: the overview of the hubs a user may see, creating a hub, a hub's page (recent
runs with a chart of what they changed, runs held for approval, open conflicts), its settings,
and starting a preview or a sync from it. Runs are shown by ``pages_runs``; a hub's connectors
and contacts have their own modules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contacthub import service
from contacthub.errors import UserError
from contacthub.times import iso
from contacthub.web import access
from contacthub.web.app import Caller, state
from contacthub.web.form_errors import check_name, check_short, is_form_error, plain
from contacthub.web.forms import type_info
from contacthub.web.pages_common import Changer, Id, Viewer, go, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview(request: Request, who: Viewer) -> Response:
    return _overview(request, who)


def _overview(request: Request, who: Caller, status: int = 200, **refused: Any) -> Response:
    """The hubs, and the form to create one (``refused``: its ``error`` and ``typed`` values)."""
    engine = state(request).engine
    hubs = service.hubs(engine, only=access.visible_hub_ids(engine, who.user))
    next_run = state(request).next_run
    for hub in hubs:
        hub["next_run"] = _minute(next_run(hub["id"])) if next_run else None
        hub["open_conflicts"] = len(service.conflicts(engine, hub["name"]))
    return render(request, "hubs.html", who, status, hubs=hubs, **refused)


def _minute(moment: Any) -> Any:
    """The scheduler's next run as the page shows every time: ISO 8601 in UTC to the minute,
    as the last run beside it (it was the datetime's ``str``, "2026-11-27 10:19:01.872662+00:00").
    A hook that answers text ("in 5 minutes") is shown as it says."""
    return (iso(moment) or "")[:16] if isinstance(moment, datetime) else moment


# The form fields take any text (no ``Form(max_length=...)``): FastAPI's refusal was a bare
# 422 page that lost what was typed; ``check_name`` and ``check_short`` say it on the form.
@router.post("/hubs")
def create_hub(
    request: Request,
    who: Changer,
    name: Annotated[str, Form()] = "",
    conflict: Annotated[str, Form()] = "newest",
    delete_threshold: Annotated[str, Form()] = "10%",
) -> Response:
    typed = {"name": name, "conflict": conflict, "delete_threshold": delete_threshold}
    try:
        check_name(name)
        check_short("conflict", conflict)
        check_short("delete_threshold", delete_threshold)
        hub_id = service.create_hub(
            state(request).engine,
            name,
            conflict=conflict,
            delete_threshold=delete_threshold,
            owner_id=who.user.id,
        )
    except UserError as exc:
        if not is_form_error(exc):
            raise
        return _overview(request, who, 400, error=plain(exc), typed=typed)
    return go(f"/hubs/{hub_id}")


SETTLED_SHOWN = 50  # settled conflicts on a hub's page, newest first (all: the API's include_settled)


@router.get("/hubs/{hub_id}")
def hub_page(request: Request, hub_id: Id, who: Viewer) -> Response:
    return _hub_page(request, who, hub_id)


def _hub_page(request: Request, who: Caller, hub_id: int, status: int = 200, **refused: Any) -> Response:
    """A hub's page (``refused``: the settings form's ``error`` and ``typed`` values)."""
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    [hub] = service.hubs(engine, only=[hub_id])
    runs = service.runs(engine, name, 200)
    return render(
        request,
        "hub.html",
        who,
        status,
        **refused,
        hub=hub,
        runs=runs[:30],
        # only the hold that can still be decided: one a later run superseded is refused
        held=[r for r in runs if r["status"] == "held" and r["superseded_by"] is None],
        conflicts=service.conflicts(engine, name),
        settled=service.conflicts(engine, name, settled_only=SETTLED_SHOWN),
        chart=chart(runs[:60]),
        types=type_info(),
    )


@router.post("/hubs/{hub_id}/settings")
def hub_settings(
    request: Request,
    hub_id: Id,
    who: Changer,
    conflict: Annotated[str, Form()] = "",
    delete_threshold: Annotated[str, Form()] = "",
    phone_region: Annotated[str, Form()] = "US",
) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    typed = {"conflict": conflict, "delete_threshold": delete_threshold, "phone_region": phone_region}
    try:
        for field, value in typed.items():
            if not value.strip():  # the page always sends them: left empty, not "unchanged"
                raise UserError(f"{field}: Field required")
            check_short(field, value)
        service.update_hub(engine, name, typed)
    except UserError as exc:
        if not is_form_error(exc):
            raise
        return _hub_page(request, who, hub_id, 400, error=plain(exc), typed=typed)
    return go(f"/hubs/{hub_id}")


@router.post("/hubs/{hub_id}/preview")
def preview(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    report = state(request).run(hub_id, name, lambda: service.sync(engine, name, dry_run=True))
    return go(f"/runs/{report.run_id}")


@router.post("/hubs/{hub_id}/sync")
def sync_now(request: Request, hub_id: Id, who: Changer) -> Response:
    engine = state(request).engine
    name = access.hub(engine, who.user, hub_id)
    report = state(request).run(hub_id, name, lambda: service.sync(engine, name))
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
