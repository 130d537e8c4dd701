"""The receivers speak each vendor's wire format, check who is calling, and only ask for a
run; the Graph validation handshake and subscription creation work end to end."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from contacthub import config
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
from tests.connectors.procore_helpers import served
from tests.net import free_port
from tests.scheduler.fleet import connector_block, make_hubs, uids, write_people


class Recorder:
    """A dispatcher that remembers what it was asked (the receivers are under test here;
    the scheduler behind them has its own tests, and the burst test below uses it)."""

    def __init__(self) -> None:
        self.hubs: list[str] = []

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        self.hubs.append(hub)
        return True


NOWHERE = "http://127.0.0.1:9"  # nothing listens: these hubs are never synced here

HUB = """
[hubs.{hub}]
interval = "off"
[[hubs.{hub}.connectors]]
name = "a"
type = "vcard-dir"
path = "{cards}"
[[hubs.{hub}.connectors]]
name = "sheet"
type = "csv"
path = "{sheet}"
[[hubs.{hub}.connectors]]
name = "site"
type = "procore"
base_url = "{nowhere}"
login_url = "{nowhere}"
company_id = 1
client_id = "app"
client_secret = "app-secret"
[[hubs.{hub}.connectors]]
name = "crm"
type = "pipedrive"
base_url = "{nowhere}"
api_token = "crm-token"
[[hubs.{hub}.connectors]]
name = "gal"
type = "m365-gal"
direction = "to-hub"
authority_url = "{nowhere}"
graph_url = "{nowhere}"
tenant_id = "00000000-0000-0000-0000-000000000000"
client_id = "app"
client_secret = "app-secret"
"""

#: receiver -> the connector of that vendor in every hub of ``HUB``
CONNECTOR = {"procore": "site", "graph": "gal", "pipedrive": "crm"}


@pytest.fixture
def engine(sqlite_url: str, tmp_path: Path) -> Engine:
    """Hubs ``hub000`` and ``hub001`` (run only when asked), each with one connector per
    vendor that calls a receiver, a vCard folder and a CSV file: the receivers only look
    the connectors up, so the vendors are declared, never reached."""
    engine = open_database(sqlite_url)
    blocks = []
    for hub in ("hub000", "hub001"):
        (tmp_path / hub / "cards").mkdir(parents=True)
        sheet = tmp_path / hub / "sheet.csv"
        sheet.write_text("First Name,Last Name,E-mail Address\n", encoding="utf-8")
        blocks.append(HUB.format(hub=hub, cards=tmp_path / hub / "cards", sheet=sheet, nowhere=NOWHERE))
    hub_file = tmp_path / "hubs.toml"
    hub_file.write_text("\n".join(blocks), encoding="utf-8")
    config.apply(engine, config.load(hub_file))
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


def hook(source: str, hub: str = "hub001", connector: str | None = None) -> str:
    """The receiver URL of ``connector`` (by default the hub's connector of that vendor)."""
    return f"/hooks/{source}/{tokens.url_token(hub, connector or CONNECTOR[source])}"


def procore_auth(hub: str = "hub001", connector: str = "site") -> dict[str, str]:
    """The ``Authorization`` header ``webhooks --reveal`` has registered with a Procore hook
    (``destination_headers``): Procore sends it with every delivery, and it is required."""
    return {"Authorization": f"Bearer {tokens.bearer(hub, connector)}"}


def test_procore(client: TestClient, recorder: Recorder) -> None:
    bearer = procore_auth()
    assert client.post("/hooks/procore/not-a-token", json=PROCORE_EVENT, headers=bearer).status_code == 404
    assert client.post(hook("procore"), json=PROCORE_EVENT, headers=bearer).status_code == 200
    for kind in ("create", "delete"):
        client.post(
            hook("procore"),
            json={**PROCORE_EVENT, "event_type": kind, "resource_name": "Company Vendors"},
            headers=bearer,
        )
    v4 = {
        "id": "01JM",
        "reason": "update",
        "company_id": "8",
        "resource_type": "Company Users",
        "resource_id": "3",
    }
    assert client.post(hook("procore", "hub000"), json=v4, headers=procore_auth("hub000")).status_code == 200
    assert recorder.hubs == ["hub001", "hub001", "hub001", "hub000"]
    ignored = client.post(hook("procore"), json={**PROCORE_EVENT, "resource_name": "RFIs"}, headers=bearer)
    assert ignored.status_code == 200 and ignored.json()["accepted"] is False
    assert client.post(hook("procore"), content=b"{not json", headers=bearer).status_code == 400
    assert client.post(hook("procore"), json=PROCORE_EVENT, headers=bearer).status_code == 200
    assert len(recorder.hubs) == 5
    # each connector has its own header; a wrong one, or another connector's, is refused
    before = rejected("procore")
    wrong = client.post(hook("procore"), json=PROCORE_EVENT, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    other = client.post(hook("procore"), json=PROCORE_EVENT, headers=procore_auth("hub000"))
    assert (other.status_code, other.json()) == (401, wrong.json())
    assert rejected("procore") - before == 2
    # A missing header was taken (checked only when present): the URL token alone queued
    # a run. The hook is registered with it, so a request without it is not Procore's:
    # refused exactly as a wrong one (status, detail, counted as rejected).
    before = rejected("procore")
    for headers in ({}, {"Authorization": ""}):
        missing = client.post(hook("procore"), json=PROCORE_EVENT, headers=headers)
        assert (missing.status_code, missing.json()) == (401, wrong.json())
    assert rejected("procore") - before == 2
    assert len(recorder.hubs) == 5  # none of them asked for a run
    # the scheme's case aside (HTTP auth schemes are case-insensitive); another scheme with
    # the right token is no bearer
    token = procore_auth()["Authorization"].split(" ", 1)[1]
    lower = client.post(hook("procore"), json=PROCORE_EVENT, headers={"Authorization": f"bearer {token}"})
    assert lower.status_code == 200 and len(recorder.hubs) == 6
    basic_scheme = client.post(
        hook("procore"), json=PROCORE_EVENT, headers={"Authorization": f"Basic {token}"}
    )
    assert (basic_scheme.status_code, basic_scheme.json()) == (401, wrong.json())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_pipedrive_needs_basic_auth(client: TestClient, recorder: Recorder) -> None:
    event = {
        "meta": {"action": "change", "entity": "person", "entity_id": "42", "version": "2.0", "attempt": 1},
        "data": {"id": 42, "name": "Ann"},
        "previous": {"name": "Anne"},
    }
    good = basic("contacthub", tokens.basic_password("hub001", "crm"))
    assert client.post(hook("pipedrive"), json=event).status_code == 401
    assert client.post(hook("pipedrive"), json=event, headers=basic("contacthub", "guess")).status_code == 401
    other_connector = basic("contacthub", tokens.basic_password("hub001", "site"))
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
    state = tokens.client_state("hub001", "gal")
    genuine = client.post(hook("graph"), json={"value": [{**note, "clientState": state}] * 3})
    assert genuine.status_code == 202
    lifecycle = {"subscriptionId": note["subscriptionId"], "lifecycleEvent": "missed", "clientState": state}
    assert client.post(hook("graph"), json={"value": [lifecycle]}).status_code == 202
    assert recorder.hubs == ["hub001", "hub001"]  # one request per delivery, not per item
    assert client.post(hook("graph"), json={"nothing": 1}).status_code == 400


def rejected(source: str) -> float:
    labels = {"source": source, "outcome": "rejected"}
    return REGISTRY.get_sample_value("contacthub_notifications_total", labels) or 0.0


def test_a_token_counts_only_at_the_receiver_of_its_connectors_vendor(
    client: TestClient, recorder: Recorder
) -> None:
    """A folder's or a CSV file's token (no vendor calls for them), or one vendor's token at
    another's receiver, answers exactly as a token of no connector: each was taken and
    queued a run. The vendor's own proof is given too, so only the pairing is wrong."""
    event = {"meta": {"action": "change", "entity": "person"}, "data": {}}
    note = {"clientState": "", "changeType": "updated", "resource": "Users/1"}

    def deliver(source: str, connector: str, query: str = "") -> httpx.Response:
        proof: dict[str, Any] = {
            "procore": {"headers": {"Authorization": f"Bearer {tokens.bearer('hub001', connector)}"}},
            "pipedrive": {"headers": basic("contacthub", tokens.basic_password("hub001", connector))},
            "graph": {},
        }[source]
        body = {
            "procore": PROCORE_EVENT,
            "pipedrive": event,
            "graph": {"value": [{**note, "clientState": tokens.client_state("hub001", connector)}]},
        }[source]
        return client.post(hook(source, connector=connector) + query, json=body, **proof)

    unknown = client.post("/hooks/procore/not-a-token", json=PROCORE_EVENT)
    assert unknown.status_code == 404
    answers, counted = {}, {}
    for source in tokens.SOURCES:
        wrong = [name for name in ("a", "sheet", *CONNECTOR.values()) if name != CONNECTOR[source]]
        before = rejected(source)
        for connector in wrong:
            answer = deliver(source, connector)
            answers[source, connector] = (answer.status_code, answer.json())
        handshake = deliver(source, "a", "?validationToken=echo-me")  # Graph's, on a folder
        answers[source, "a?validationToken"] = (handshake.status_code, handshake.text)
        counted[source] = rejected(source) - before
    assert answers == {
        key: (404, unknown.text if key[1] == "a?validationToken" else unknown.json()) for key in answers
    }
    assert answers["procore", "crm"] == (404, {"detail": "unknown receiver"})
    assert counted == {"procore": 5, "graph": 5, "pipedrive": 5}  # as rejected, as an unknown token
    assert recorder.hubs == []
    # the right pairings, with the same proofs, still ask for a run
    assert [deliver(source, CONNECTOR[source]).status_code for source in tokens.SOURCES] == [200, 202, 200]
    assert recorder.hubs == ["hub001"] * 3


def test_a_removed_connectors_token_stops_being_taken(engine: Engine, tmp_path: Path) -> None:
    """Known tokens were answered from the first read for good: a Procore connector removed
    from the hub file kept its receiver queuing runs until an unknown token came."""
    directory = tokens.Directory(engine, refresh=0.2)
    site, cards = tokens.url_token("hub001", "site"), tokens.url_token("hub001", "a")
    assert directory.find(site) == tokens.Target("hub001", "site", "procore")
    hub_file = tmp_path / "fewer.toml"
    only_cards = connector_block("hub001", "a", "vcard-dir", {"path": str(tmp_path / "hub001" / "cards")})
    hub_file.write_text(f'[hubs.hub001]\ninterval = "off"\n{only_cards}', encoding="utf-8")
    config.apply(engine, config.load(hub_file))
    assert directory.find(site) is not None  # read less than 0.2 s ago
    time.sleep(0.25)
    assert directory.find(site) is None
    assert directory.find(cards) == tokens.Target("hub001", "a", "vcard-dir")


def test_with_the_store_unreadable_the_last_read_serves(engine: Engine, tmp_path: Path) -> None:
    directory = tokens.Directory(engine, refresh=0.1)
    site = tokens.url_token("hub000", "site")
    assert directory.find(site) is not None
    (tmp_path / "hub.db").rename(tmp_path / "away.db")
    engine.dispose()  # the next connection opens a new, empty file: no tables to read
    time.sleep(0.15)
    assert directory.find(site) == tokens.Target("hub000", "site", "procore")
    with pytest.raises(DBAPIError):
        tokens.Directory(engine).find(site)  # nothing read yet: nothing to answer from


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
        sub = graph.create(client, base_url=base, hub="hub000", connector="gal")
        assert subs[sub.id]["clientState"] == tokens.client_state("hub000", "gal")
        assert subs[sub.id]["notificationUrl"].endswith(tokens.url_token("hub000", "gal"))
        kept = graph.keep(client, sub, base_url=base, hub="hub000", connector="gal")
        assert kept == sub  # plenty of time left: nothing to do
        soon = sub.expires - graph.RENEW_BEFORE + graph.RENEW_BEFORE / 2
        renewed = graph.keep(client, sub, base_url=base, hub="hub000", connector="gal", now=soon)
        assert renewed.id == sub.id and renewed.expires > sub.expires
        subs.clear()  # Graph dropped it: a new one is made
        near_end = renewed.expires - graph.RENEW_BEFORE / 2
        again = graph.keep(client, renewed, base_url=base, hub="hub000", connector="gal", now=near_end)
        assert again.id in subs
        # a receiver Graph cannot validate: creation fails with a clear error
        with pytest.raises(FatalConnectorError):
            graph.create(client, base_url=base + "/nowhere", hub="hub000", connector="gal")
        client.close()


def runs_of(engine: Engine, hub: str) -> list[Any]:
    query = select(t.runs.c.id).join(t.hubs, t.hubs.c.id == t.runs.c.hub_id).where(t.hubs.c.name == hub)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@pytest.fixture
def burst(engine: Engine, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A hub ``burst000`` that really syncs when notified: folders ``a`` and ``b`` and an
    emulated, empty Procore company ``site``; yields its folders."""
    with served() as srv:
        site = connector_block("burst000", "site", "procore", srv.settings())
        folders = make_hubs(
            engine, tmp_path / "burst", 1, 1, interval="off", prefix="burst", extra={"burst000": site}
        )
        yield folders["burst000"]


def test_a_burst_of_fifty_webhooks_gives_at_most_two_runs(engine: Engine, burst: tuple[Path, Path]) -> None:
    a_folder, b_folder = burst
    scheduler = InProcessScheduler(engine, tick=3600, debounce=1.0, gap=10.0)
    app = FastAPI()
    app.include_router(webhook_router(engine, scheduler))
    scheduler.start()
    times: list[float] = []

    def deliver(http: httpx.Client, i: int) -> int:
        started = time.monotonic()
        answer = http.post(
            hook("procore", "burst000"), json={**PROCORE_EVENT, "id": i}, headers=procore_auth("burst000")
        )
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
    assert 1 <= len(runs_of(engine, "burst000")) <= 2
    assert runs_of(engine, "hub000") == runs_of(engine, "hub001") == []  # nothing asked for the others
    assert slowest < 5  # Procore's deadline
    assert sorted(uids(b_folder)) == sorted(["burst000-0", "burst-0", "burst-1", "burst-2"])


def test_for_serve_without_broker_mounts_metrics_and_receivers(engine: Engine) -> None:
    parts = for_serve(engine, broker=None)
    app = FastAPI()
    app.include_router(parts.router)
    parts.start()
    try:
        client = TestClient(app)
        answer = client.post(hook("procore", "hub000"), json=PROCORE_EVENT, headers=procore_auth("hub000"))
        assert answer.status_code == 200
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
    response = client.post(hook("procore", "hub000"), json=PROCORE_EVENT, headers=procore_auth("hub000"))
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


class HungBroker:
    """A dispatcher whose broker accepts the connection and never answers (a dead network
    path): each request blocks, as a Redis call does until its socket timeout."""

    HANG = 6.0  # seconds: longer than ``ANSWER_IN``

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        time.sleep(self.HANG)
        return True


def test_a_hung_broker_holds_neither_the_server_nor_the_sender(engine: Engine) -> None:
    """The broker call ran on the event loop: with a broker that stopped answering, every
    notification took 5 s before its 503 and held the dashboard and the API meanwhile (a
    sign-in page took 25 s, QA); Graph, which waits 3 s, never got its answer. It is made off
    the loop, and answered 503 with Retry-After within ``ANSWER_IN`` seconds."""
    app = FastAPI()
    app.include_router(webhook_router(engine, HungBroker()))

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    answered: list[float] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        pending = pool.submit(
            client.post, hook("procore", "hub000"), json=PROCORE_EVENT, headers=procore_auth("hub000")
        )
        pending.add_done_callback(lambda _: answered.append(time.monotonic()))
        time.sleep(0.3)  # the notification is waiting on the broker now
        assert client.get("/ping").json() == {"ok": True}
        pinged = time.monotonic()
        answer = pending.result(timeout=20)
    # told by order, not by a time the machine's load may stretch: on the loop, the broker
    # call held the ping until it returned (6 s), after the notification's own answer
    assert pinged < answered[0]  # the server answered meanwhile
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    assert answered[0] - started < HungBroker.HANG  # answered before the hung call ended


def test_a_huge_notification_is_refused_before_it_is_read(engine: Engine) -> None:
    """A receiver read a notification of any size into memory before its 1 MB check (400 MB
    took the server to 861 MB, QA); the served app refuses it as it comes in."""
    import asyncio

    from contacthub.web.app import BodyLimit

    app = FastAPI()
    app.include_router(webhook_router(engine, Recorder()))
    pulled: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        pulled.append(1)  # 50 MB in 1 MB pieces, no Content-Length
        return {"type": "http.request", "body": b" " * (1 << 20), "more_body": len(pulled) < 50}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = hook("procore", "hub000")
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", procore_auth("hub000")["Authorization"].encode()),
        ],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "app": app,
    }
    asyncio.run(BodyLimit(app)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert len(pulled) <= 2  # stopped at the limit, not after reading all 50 MB


def test_the_receivers_errors_are_json_in_the_whole_app(engine: Engine, recorder: Recorder) -> None:
    """In the app ``serve`` runs, an unknown receiver (404) and a GET on one (405) came back
    as the dashboard's HTML error page, with links to sign in, while the receivers' other
    errors are JSON: only vendors' servers call them, and their delivery logs showed HTML."""
    from fastapi import APIRouter

    from contacthub.web import create_app

    router = APIRouter()
    router.include_router(webhook_router(engine, recorder))
    client = TestClient(create_app(engine, extra_routers=[router]))
    for answer, status in (
        (client.post("/hooks/procore/not-a-token", json=PROCORE_EVENT, headers=procore_auth()), 404),
        (client.post("/hooks/graph/unknown?validationToken=x"), 404),
        (client.get("/hooks/pipedrive/not-a-token"), 405),
    ):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json"), answer.text
        assert answer.json()["error"]
    assert "text/html" in client.get("/no-such-page").headers["content-type"]  # pages stay pages
