"""create_app's plug points for the scheduler and webhook receivers (issue 5): extra routers
and lifespan hooks, and the next-run hook shown on the overview."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from contacthub import service
from contacthub.web import accounts, create_app
from contacthub.web.app import Caller, api_caller
from tests.web.conftest import PASSWORD, sign_in


def test_extra_routers_lifespan_hooks_and_next_run(engine: Engine) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def scheduler(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        app.state.web.next_run = lambda hub_id: f"in 5 minutes (hub {hub_id})"
        yield
        events.append("stop")

    router = APIRouter(prefix="/api/v1/webhooks")

    @router.get("/ping")
    def ping(who: Annotated[Caller, Depends(api_caller)]) -> dict[str, str]:
        return {"user": who.user.email}

    app = create_app(engine, extra_routers=[router], lifespan_hooks=[scheduler])
    user = accounts.add_user(engine, "ops@example.com", PASSWORD)
    service.create_hub(engine, "team", owner_id=user.id)
    token = accounts.create_token(engine, user)
    with TestClient(app, base_url="https://testserver") as client:
        assert events == ["start"]
        assert client.get("/api/v1/webhooks/ping").status_code == 401
        pong = client.get("/api/v1/webhooks/ping", headers={"Authorization": f"Bearer {token}"})
        assert pong.json() == {"user": "ops@example.com"}
        assert "in 5 minutes (hub 1)" in sign_in(app, "ops@example.com").get("/").text
    assert events == ["start", "stop"]


def test_the_next_run_reads_like_every_other_time_on_the_dashboard(engine: Engine) -> None:
    """The scheduler's next run was printed as Python's ``str`` of a datetime
    ("2026-11-27 10:19:01.872662+00:00"); every other time reads "2026-11-27T10:19" (UTC)."""
    from datetime import datetime, timedelta, timezone

    app = create_app(engine)
    user = accounts.add_user(engine, "ops@example.com", PASSWORD)
    service.create_hub(engine, "team", owner_id=user.id)
    at = datetime(2026, 11, 27, 11, 19, 1, 872662, tzinfo=timezone(timedelta(hours=1)))
    app.state.web.next_run = lambda hub_id: at
    page = sign_in(app, "ops@example.com").get("/").text
    assert "next run: 2026-11-27T10:19\n" in page
    assert "10:19:01" not in page and "+00:00" not in page
