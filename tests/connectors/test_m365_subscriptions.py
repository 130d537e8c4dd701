"""A GAL connector with ``notify_url`` keeps a Graph subscription pointing at its hub's
receiver: created (through Graph's validation handshake against our real receiver) at the
start of a run, left alone while it has time, renewed before it ends, created again when
Graph lost it; and the notifications it brings ask for a run of the right hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from contacthub import config
from contacthub.emulators.base import background
from contacthub.engine.run import connector_for
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.store.repo import Store
from contacthub.webhooks import tokens
from contacthub.webhooks.router import webhook_router
from tests.connectors.m365_support import emulator, served, settings


class Requests:
    def __init__(self) -> None:
        self.hubs: list[str] = []

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        self.hubs.append(hub)
        return True


def test_subscription_created_kept_renewed_and_recreated(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    requests = Requests()
    receiver = FastAPI()
    receiver.include_router(webhook_router(engine, requests))
    emu = emulator(tenants=1, users=3, contacts=0, consent="all")
    with served(emu) as info, background(receiver) as hooks:
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "gal-hub": {
                        "connectors": [
                            {"name": "gal", "type": "m365-gal", **settings(info, notify_url=hooks)},
                            {
                                "name": "cards",
                                "type": "vcard-dir",
                                "path": str(tmp_path / "c"),
                                "create": True,
                            },
                        ]
                    }
                }
            }
        )
        config.apply(engine, spec)

        def gal() -> Any:
            with engine.connect() as conn:
                store = Store(conn)
                hub = store.hub("gal-hub")
                row = next(r for r in store.connectors(hub.id) if r.name == "gal")
            return connector_for(row, hub, engine)

        def saved() -> dict[str, Any]:
            return dict(gal().config.credentials.load()["graph_subscription"])

        first = gal()
        first.check()
        first.close()
        [sub] = emu.subscriptions.items.values()
        assert sub["notificationUrl"] == tokens.receiver_url(hooks, "graph", "gal-hub", "gal")
        assert sub["resource"] == "users" and emu.subscriptions.validations == 1
        assert saved()["id"] == sub["id"]

        # a run while it has days left changes nothing
        again = gal()
        again.check()
        again.close()
        assert emu.subscriptions.validations == 1 and len(emu.subscriptions.items) == 1

        # near its end it is renewed in place
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        creds = gal().config.credentials
        creds.save({**creds.load(), "graph_subscription": {**saved(), "expirationDateTime": soon}})
        renewing = gal()
        renewing.check()
        renewing.close()
        assert len(emu.subscriptions.items) == 1 and saved()["id"] == sub["id"]
        assert saved()["expirationDateTime"] > soon

        # lost at Graph: created again
        emu.subscriptions.items.clear()
        creds.save({**creds.load(), "graph_subscription": {**saved(), "expirationDateTime": soon}})
        lost = gal()
        lost.check()
        lost.close()
        assert emu.subscriptions.validations == 2 and saved()["id"] != sub["id"]

        # a notification carrying the subscription's clientState asks for a run of the hub
        [current] = emu.subscriptions.items.values()
        note = {
            "value": [
                {
                    "subscriptionId": current["id"],
                    "clientState": current["clientState"],
                    "changeType": "updated",
                    "resource": "Users/x",
                }
            ]
        }
        assert httpx.post(current["notificationUrl"], json=note, timeout=10).status_code == 202
        assert requests.hubs == ["gal-hub"]

        # Graph removes it and says so: the next run makes a new one (it kept the saved one,
        # a day or more left, and no notification came for up to 36 hours: QA)
        emu.subscriptions.items.clear()
        removed = {
            "value": [
                {
                    "subscriptionId": current["id"],
                    "clientState": current["clientState"],
                    "lifecycleEvent": "subscriptionRemoved",
                }
            ]
        }
        assert httpx.post(current["notificationUrl"], json=removed, timeout=10).status_code == 202
        after = gal()
        after.check()
        after.close()
        assert emu.subscriptions.validations == 3 and saved()["id"] != current["id"]
        assert len(emu.subscriptions.items) == 1

    with engine.connect() as conn:
        raw = conn.execute(select(t.credentials.c.data)).scalars().all()
    assert all(current["clientState"] not in value for value in raw)


def test_an_unreachable_receiver_does_not_stop_the_run(sqlite_url: str, tmp_path: Path) -> None:
    emu = emulator(tenants=1, users=3, contacts=0, consent="all")
    with served(emu) as info:
        from contacthub.connectors.base import ConnectorConfig, MemoryCredentials
        from contacthub.connectors.m365 import M365GalConnector

        config_ = ConnectorConfig(
            "gal", settings(info, notify_url="http://127.0.0.1:9"), credentials=MemoryCredentials(), hub="h"
        )
        connector = M365GalConnector(config_)
        connector.check()  # logged, not raised
        connector.close()
        assert emu.subscriptions.items == {} and emu.subscriptions.validations == 1
