"""The Celery task on a real Redis: what a request becomes when the database cannot be
reached, and what a message delivered a second time may touch.

The task is called in this process (``sync_task(...)`` runs its body, as a worker would);
the messages it sends are read back from Redis's list for the queue.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from contacthub.scheduler import celery_app
from contacthub.store.db import open_database
from tests.net import free_port
from tests.scheduler.fleet import make_hubs


@pytest.fixture
def broker(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """Redis for the queue, and a store URL where no database answers."""
    monkeypatch.setenv("CONTACTHUB_DATABASE_URL", f"postgresql+psycopg://u@127.0.0.1:{free_port()}/gone")
    celery_app.configure(redis_url)
    celery_app._engine.cache_clear()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
        celery_app._engine.cache_clear()


@pytest.fixture
def live_broker(
    redis_url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, redis.Redis]]:
    """Redis for the queue, and a store that answers (the task opens it from the URL)."""
    engine = open_database(sqlite_url)
    monkeypatch.setenv("CONTACTHUB_DATABASE_URL", sqlite_url)
    celery_app.configure(redis_url)
    celery_app._engine.cache_clear()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield engine, client
    finally:
        client.flushdb()
        client.close()
        celery_app._engine.cache_clear()


def sent(client: redis.Redis) -> list[tuple[list[Any], dict[str, Any]]]:
    """(args, kwargs) of every message waiting in the queue."""
    out = []
    for raw in client.lrange(celery_app.QUEUE, 0, -1):
        envelope = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        out.append((args, kwargs))
    return out


def test_a_request_that_finds_the_database_unreachable_is_kept_and_sent_again(broker: redis.Redis) -> None:
    requested = time.time()
    result = celery_app.sync_task("h", requested, "queue")
    assert result["result"] == "retry"
    # queued again, for later, marked as waiting so further requests coalesce with it
    assert broker.get("contacthub:queued:h") == str(requested).encode()
    assert sent(broker) == [(["h", requested, "queue"], {"attempt": 1})]


def test_the_retries_end(broker: redis.Redis) -> None:
    with pytest.raises(OperationalError):
        celery_app.sync_task("h", time.time(), "queue", attempt=celery_app.DB_RETRIES)
    assert sent(broker) == []
    assert broker.get("contacthub:queued:h") is None
    delays = [celery_app.db_retry_delay(n) for n in range(1, celery_app.DB_RETRIES + 1)]
    assert delays == sorted(delays) and 120 < sum(delays) < 900  # minutes, not forever


def test_a_message_delivered_again_leaves_a_newer_request_waiting(
    live_broker: tuple[Engine, redis.Redis], tmp_path: Path
) -> None:
    """A dead worker's message comes back after the visibility timeout, its request long
    satisfied: it must run nothing, keep the marker of the request waiting behind it, and
    hold no notification back."""
    engine, client = live_broker
    make_hubs(engine, tmp_path, 1, 1, interval="off", prefix="again")
    first = time.time()
    assert celery_app.sync_task("again000", first, "queue")["result"] == "ran"
    client.delete("contacthub:started:again000")
    assert celery_app.enqueue("again000", origin="cli")  # a newer request, waiting
    newer = client.get("contacthub:queued:again000")

    assert celery_app.sync_task("again000", first, "queue")["result"] == "satisfied"
    assert client.get("contacthub:queued:again000") == newer
    assert client.get("contacthub:started:again000") is None
    assert celery_app.enqueue("again000", origin="cli") is False  # still coalesces

    # the newer request's own message takes its marker and runs
    (args, _kwargs), *_ = sent(client)
    assert celery_app.sync_task(*args)["result"] == "ran"
    assert client.get("contacthub:queued:again000") is None
    assert client.pttl("contacthub:started:again000") > 0


def test_a_notification_right_after_a_run_from_the_command_line_waits_the_gap(
    live_broker: tuple[Engine, redis.Redis], tmp_path: Path
) -> None:
    """The workers counted the notification gap only from the runs they had started (a
    Redis key): a webhook right after a ``contacthub sync`` ran the hub again at once. The
    task now also asks the store when the hub last started, and sends an early request
    again for the end of the gap."""
    from contacthub.engine.run import run_hub

    engine, client = live_broker
    make_hubs(engine, tmp_path, 1, 1, interval="off", prefix="gap")
    run_hub(engine, "gap000")  # as the command line runs it: no Redis key
    requested = time.time()
    result = celery_app.sync_task("gap000", requested, "pipedrive")
    assert result["result"] == "early" and result["run"] is None
    assert client.get("contacthub:queued:gap000") == str(requested).encode()
    assert [args for args, _ in sent(client)] == [["gap000", requested, "pipedrive"]]
    # a request of the schedule or the command line is no notification: it runs
    assert celery_app.sync_task("gap000", time.time(), "schedule")["result"] == "ran"


def test_a_tick_that_finds_the_database_unreachable_says_so_in_one_line(
    broker: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Each beat tick of a database outage raised, and Celery logged a whole traceback for
    it every two seconds (QA: 195 error lines in 20 s); one warning a tick, nothing sent."""
    with caplog.at_level("WARNING", logger="contacthub.scheduler"):
        assert celery_app.tick_task() == []
    [record] = [r for r in caplog.records if r.name == "contacthub.scheduler"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage().startswith("the database cannot be reached (")
    assert "schedules looked at again next tick" in record.getMessage()
    assert sent(broker) == []
