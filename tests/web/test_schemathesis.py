"""Property-based requests generated from the OpenAPI document (schemathesis) find no 5xx.

Bounded: a few examples per operation, no shrinking time limit beyond hypothesis' own, over
a store holding a real hub (two vCard folders, synced once) so that ids lead somewhere."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.python import asgi as schemathesis_asgi

from contacthub.store.db import open_database
from contacthub.web import accounts, create_app
from tests.web.conftest import PASSWORD, card


def test_generated_requests_find_no_server_error(tmp_path: Path) -> None:
    from contacthub import service

    engine = open_database(f"sqlite:///{tmp_path}/hub.db")
    app = create_app(engine)
    user = accounts.add_user(engine, "fuzz@example.com", PASSWORD, admin=False)
    auth = {"Authorization": f"Bearer {accounts.create_token(engine, user)}"}
    service.create_hub(engine, "fuzz", owner_id=user.id)
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        if name == "a":
            for i in range(3):
                (folder / f"p{i}.vcf").write_text(card(f"p{i}", f"P{i} F{i}", f"p{i}@example.com"))
        service.add_connector(engine, "fuzz", {"name": name, "type": "vcard-dir"}, {"path": str(folder)})
    service.sync(engine, "fuzz")

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r}: {response.status_code}")

        call()
    engine.dispose()
    # schemathesis runs ASGI apps on one event loop thread for the whole process, stopped at
    # exit: stopped here, so that the read-ahead and write-behind tests that run next in this
    # process may fork their workers (never done while other threads run)
    schemathesis_asgi._shutdown()
    # an AnyIO worker thread of the last requests may still wait for work: AnyIO stops its
    # workers when their event loop's root task ends, which a stopped loop may never see
    for thread in threading.enumerate():
        if type(thread).__name__ == "WorkerThread" and hasattr(thread, "stop"):
            thread.stop()
    until = time.monotonic() + 15
    while threading.active_count() > 1 and time.monotonic() < until:
        time.sleep(0.05)
    assert threading.active_count() == 1, threading.enumerate()
    print(f"schemathesis: {calls} requests over {len(operations)} operations")
    assert calls >= len(operations) * 2
    assert failures == []
