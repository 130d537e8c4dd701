"""The receivers speak each vendor's wire format, check who is calling, and only ask for a
run; the Graph validation handshake and subscription creation work end to end."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from contacthub.connectors.http import ApiClient, HeaderAuth
from contacthub.emulators.base import background
from contacthub.errors import FatalConnectorError
from contacthub.scheduler.inprocess import InProcessScheduler
from contacthub.scheduler.serve import for_serve
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.web import accounts
from contacthub.webhooks import graph, tokens
from contacthub.webhooks.router import webhook_router
from tests.net import free_port
from tests.scheduler.fleet import make_hubs, uids, write_people


class Recorder:
    """A dispatcher that remembers what it was asked (the receivers are under test here;
    the scheduler behind them has its own tests, and the burst test below uses it)."""

    def __init__(self) -> None:
        self.hubs: list[str] = []

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        self.hubs.append(hub)
        return True


@pytest.fixture
def engine(sqlite_url: str, tmp_path: Path) -> Engine:
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 2, 1, interval="off")  # runs only when asked
    return engine


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(engine: Engine, recorder: Recorder) -> TestClient:
    app = FastAPI()
    app.include_router(webhook_router(engine, recorder))
    return TestClient(app)


PROCORE_EVENT = {
    "id": 123456789,
    "ulid": "0A1B2C3D4F5G6H7I8J9K0LMN",
    "timestamp": "2025-02-06T23:34:12.246562Z",
    "metadata": {"source_user_id": 9, "source_company_id": 8, "source_application_id": None},
    "user_id": 9,
    "company_id": 8,
    "project_id": None,
    "api_version": "v2.0",
    "event_type": "update",
    "resource_name": "Company Users",
    "resource_id": 54321,
}


def hook(source: str, hub: str = "hub001", connector: str = "a") -> str:
    return f"/hooks/{source}/{tokens.url_token(hub, connector)}"


def test_procore(client: TestClient, recorder: Recorder) -> None:
    assert client.post("/hooks/procore/not-a-token", json=PROCORE_EVENT).status_code == 404
    assert client.post(hook("procore"), json=PROCORE_EVENT).status_code == 200
    for kind in ("create", "delete"):
        client.post(
            hook("procore"), json={**PROCORE_EVENT, "event_type": kind, "resource_name": "Company Vendors"}
        )
    v4 = {
        "id": "01JM",
        "reason": "update",
        "company_id": "8",
        "resource_type": "Company Users",
        "resource_id": "3",
    }
    assert client.post(hook("procore", "hub000"), json=v4).status_code == 200
    assert recorder.hubs == ["hub001", "hub001", "hub001", "hub000"]
    ignored = client.post(hook("procore"), json={**PROCORE_EVENT, "resource_name": "RFIs"})
    assert ignored.status_code == 200 and ignored.json()["accepted"] is False
    assert client.post(hook("procore"), content=b"{not json").status_code == 400
    bearer = {"Authorization": f"Bearer {tokens.bearer('hub001', 'a')}"}
    assert client.post(hook("procore"), json=PROCORE_EVENT, headers=bearer).status_code == 200
    wrong = client.post(hook("procore"), json=PROCORE_EVENT, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert len(recorder.hubs) == 5


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_pipedrive_needs_basic_auth(client: TestClient, recorder: Recorder) -> None:
    event = {
        "meta": {"action": "change", "entity": "person", "entity_id": "42", "version": "2.0", "attempt": 1},
        "data": {"id": 42, "name": "Ann"},
        "previous": {"name": "Anne"},
    }
    good = basic("contacthub", tokens.basic_password("hub001", "a"))
    assert client.post(hook("pipedrive"), json=event).status_code == 401
    assert client.post(hook("pipedrive"), json=event, headers=basic("contacthub", "guess")).status_code == 401
    other_connector = basic("contacthub", tokens.basic_password("hub001", "b"))
    assert client.post(hook("pipedrive"), json=event, headers=other_connector).status_code == 401
    assert recorder.hubs == []
    assert client.post(hook("pipedrive"), json=event, headers=good).status_code == 200
    v1 = {"v": 1, "meta": {"action": "updated", "object": "person", "id": 42}, "current": {}, "previous": {}}
    assert client.post(hook("pipedrive"), json=v1, headers=good).status_code == 200
    deal = {"meta": {"action": "change", "entity": "deal"}, "data": {}}
    assert client.post(hook("pipedrive"), json=deal, headers=good).json()["accepted"] is False
    assert recorder.hubs == ["hub001", "hub001"]


def test_graph_validation_and_client_state(client: TestClient, recorder: Recorder) -> None:
    answer = client.post(hook("graph") + "?validationToken=Validation%3A+Testing+client+application")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "Validation: Testing client application"
    assert client.post("/hooks/graph/unknown?validationToken=x").status_code == 404
    note = {
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "changeType": "updated",
        "resource": "Users/76f2c4e4",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": "76f2c4e4"},
    }
    forged = client.post(hook("graph"), json={"value": [{**note, "clientState": "guess"}]})
    assert forged.status_code == 202 and recorder.hubs == []
    state = tokens.client_state("hub001", "a")
    genuine = client.post(hook("graph"), json={"value": [{**note, "clientState": state}] * 3})
    assert genuine.status_code == 202
    lifecycle = {"subscriptionId": note["subscriptionId"], "lifecycleEvent": "missed", "clientState": state}
    assert client.post(hook("graph"), json={"value": [lifecycle]}).status_code == 202
    assert recorder.hubs == ["hub001", "hub001"]  # one request per delivery, not per item
    assert client.post(hook("graph"), json={"nothing": 1}).status_code == 400


def test_graph_subscription_is_created_through_the_handshake_and_renewed(engine: Engine) -> None:
    """A stand-in for Graph's /subscriptions that, like Graph, validates the notification URL
    before it answers 201."""
    subs: dict[str, dict[str, Any]] = {}

    fake = FastAPI()

    @fake.post("/v1.0/subscriptions")
    async def create(request: Request) -> Any:
        body = await request.json()
        check = httpx.post(body["notificationUrl"], params={"validationToken": "tok 123"}, timeout=10)
        if check.status_code != 200 or check.text != "tok 123":
            error = {"code": "ValidationError", "message": "Subscription validation request failed."}
            return JSONResponse({"error": error}, status_code=400)
        sub = {**body, "id": f"sub-{len(subs) + 1}"}
        subs[sub["id"]] = sub
        return JSONResponse(sub, status_code=201)

    @fake.patch("/v1.0/subscriptions/{sub_id}")
    async def renew(sub_id: str, request: Request) -> Any:
        if sub_id not in subs:
            return JSONResponse({"error": {"code": "ResourceNotFound", "message": "gone"}}, status_code=404)
        subs[sub_id].update(await request.json())
        return JSONResponse(subs[sub_id])

    ours = FastAPI()
    ours.include_router(webhook_router(engine, Recorder()))
    with background(ours) as base, background(fake) as graph_url:
        client = ApiClient(f"{graph_url}/v1.0", connector="gal", auth=HeaderAuth("Authorization", "Bearer x"))
        sub = graph.create(client, base_url=base, hub="hub000", connector="a")
        assert subs[sub.id]["clientState"] == tokens.client_state("hub000", "a")
        assert subs[sub.id]["notificationUrl"].endswith(tokens.url_token("hub000", "a"))
        kept = graph.keep(client, sub, base_url=base, hub="hub000", connector="a")
        assert kept == sub  # plenty of time left: nothing to do
        soon = sub.expires - graph.RENEW_BEFORE + graph.RENEW_BEFORE / 2
        renewed = graph.keep(client, sub, base_url=base, hub="hub000", connector="a", now=soon)
        assert renewed.id == sub.id and renewed.expires > sub.expires
        subs.clear()  # Graph dropped it: a new one is made
        near_end = renewed.expires - graph.RENEW_BEFORE / 2
        again = graph.keep(client, renewed, base_url=base, hub="hub000", connector="a", now=near_end)
        assert again.id in subs
        # a receiver Graph cannot validate: creation fails with a clear error
        with pytest.raises(FatalConnectorError):
            graph.create(client, base_url=base + "/nowhere", hub="hub000", connector="a")
        client.close()


def runs_of(engine: Engine, hub: str) -> list[Any]:
    query = select(t.runs.c.id).join(t.hubs, t.hubs.c.id == t.runs.c.hub_id).where(t.hubs.c.name == hub)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_a_burst_of_fifty_webhooks_gives_at_most_two_runs(engine: Engine, tmp_path: Path) -> None:
    a_folder = tmp_path / "hub000" / "a"
    scheduler = InProcessScheduler(engine, tick=3600, debounce=1.0, gap=10.0)
    app = FastAPI()
    app.include_router(webhook_router(engine, scheduler))
    scheduler.start()
    times: list[float] = []

    def deliver(http: httpx.Client, i: int) -> int:
        started = time.monotonic()
        answer = http.post(hook("procore", "hub000"), json={**PROCORE_EVENT, "id": i})
        times.append(time.monotonic() - started)
        return answer.status_code

    try:
        with background(app) as base, httpx.Client(base_url=base) as http:
            write_people(a_folder, "burst", 3)
            # senders deliver in parallel: 50 calls from 8 connections at once
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda i: deliver(http, i), range(50)))
            assert statuses == [200] * 50
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (scheduler.queue_depth() or scheduler.running()):
                time.sleep(0.1)
    finally:
        scheduler.stop()
    slowest = max(times)
    assert 1 <= len(runs_of(engine, "hub000")) <= 2
    assert runs_of(engine, "hub001") == []  # nothing asked for the other hub
    assert slowest < 5  # Procore's deadline
    b_folder = tmp_path / "hub000" / "b"
    assert sorted(uids(b_folder)) == sorted(["hub000-0", "burst-0", "burst-1", "burst-2"])


def test_for_serve_without_broker_mounts_metrics_and_receivers(engine: Engine) -> None:
    parts = for_serve(engine, broker=None)
    app = FastAPI()
    app.include_router(parts.router)
    parts.start()
    try:
        client = TestClient(app)
        assert client.post(hook("procore", "hub000"), json=PROCORE_EVENT).status_code == 200
        assert client.get("/metrics").status_code == 401  # hub names are for an admin
        admin = accounts.add_user(engine, "ops@example.com", "correct horse battery", admin=True)
        token = accounts.create_token(engine, admin)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert 'contacthub_notifications_total{outcome="accepted",source="procore"}' in text
        assert "contacthub_queue_depth 1.0" in text
    finally:
        parts.stop()


def test_with_the_broker_down_a_receiver_answers_503_so_the_sender_sends_again(engine: Engine) -> None:
    parts = for_serve(engine, broker=f"redis://:brokerpw@127.0.0.1:{free_port()}/0")
    app = FastAPI()
    app.include_router(parts.router)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post(hook("procore", "hub000"), json=PROCORE_EVENT)
    assert response.status_code == 503
    assert response.json()["accepted"] is False and "unavailable" in response.json()["error"]
    assert int(response.headers["retry-after"]) > 0
    assert "brokerpw" not in response.text


def test_lifespan_hook_starts_the_scheduler_and_tells_the_dashboard(engine: Engine) -> None:
    import asyncio
    from types import SimpleNamespace

    parts = for_serve(engine, broker=None)
    app = FastAPI()
    app.state.web = SimpleNamespace(next_run=None)  # what the dashboard's state offers

    async def serve_once() -> None:
        async with parts.lifespan(app):
            assert app.state.web.next_run is not None
            assert app.state.web.next_run(1) is None  # "off": manual only
            assert parts.router.routes  # /metrics and /hooks

    asyncio.run(serve_once())
