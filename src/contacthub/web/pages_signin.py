"""The pages of a connector's sign-in (OAuth, a partner tenant admin's consent): starting it,
the htmx status the connector's page polls, and the one generic ``/connect/callback`` every
provider sends the browser back to. The sign-in itself runs in ``web.signin``; the user's own
sign-in to the dashboard is ``pages_login``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contacthub.web import access
from contacthub.web.app import state
from contacthub.web.pages_common import Changer, Id, Viewer, go, message_page, render
from contacthub.web.pages_connectors import _connector

router = APIRouter(include_in_schema=False)


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
