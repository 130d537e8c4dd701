"""Scale-out: Celery workers on Redis, with PostgreSQL as the store.

- ``contacthub worker`` runs ``worker_main`` on this app; each worker process runs one hub
  at a time (``--concurrency`` for more threads).
- ``contacthub beat`` runs Celery beat with one entry: ``contacthub.tick`` every few
  seconds, which enqueues the hubs whose schedule is due (``scheduler.schedule``): the
  schedules live in the database, so changing a hub file needs no restart of beat.
- ``enqueue(hub)`` (``contacthub sync HUB --queue``, the webhook receivers) sends
  ``contacthub.sync``.

Coalescing has two layers. In Redis, ``contacthub:queued:HUB`` is set (NX, with a TTL)
to the request's time when a request is sent, and deleted by the task when it starts, if
it still holds that time: while one request waits in the queue, more are dropped. In the
task, a request already satisfied by a run that started after it is skipped
(``runner.run_requested``). A task that finds the hub locked sends itself again after
``RETRY`` seconds instead of blocking a worker.

A request that finds the database unreachable (a restart, a failover) is sent again, with
its marker, after 5, 10, 20, 40, then 60 s, ``DB_RETRIES`` times: its message is acknowledged
already, so dropping it would lose the request. (A pooled connection the server dropped is
never seen: the engine pre-pings.)

A worker killed mid-run: its PostgreSQL session ends, which frees the hub's advisory lock,
and the hub's next run marks the killed run interrupted and completes its journal. Celery
asks for acknowledgement on receipt (``task_acks_late=False``), but on Redis the message
of the task being run stays in the transport's ``unacked`` hash until the task returns
(observed with Celery and kombu 5.7), so the killed run's message, like any other the dead
worker held, is delivered again after ``VISIBILITY`` seconds. That is harmless by design:
its request is satisfied by the killed run (which started after it), so nothing runs; it
takes back only its own queued-marker and starts no notification gap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from functools import cache
from typing import Any

from celery import Celery
from sqlalchemy import Engine

from contacthub.errors import ConfigError, UnavailableError

BROKER_ENV = "CONTACTHUB_BROKER_URL"
QUEUE = "contacthub"
QUEUED_TTL = 120  # seconds a queued-marker lives if its message is lost
RETRY = 2.0  # seconds before a request that found its hub busy tries again
VISIBILITY = 120  # seconds before a message reserved by a dead worker is delivered again
TICK = 5.0  # seconds between schedule checks by beat
DB_RETRIES = 8  # times a request that found the database unreachable is sent again
GAP = 5.0  # seconds at least between a run's start and a run asked for by a notification

log = logging.getLogger("contacthub.scheduler")

app = Celery("contacthub")
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=False,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": VISIBILITY},
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    beat_schedule={"contacthub-tick": {"task": "contacthub.tick", "schedule": TICK}},
)


def broker_url() -> str | None:
    return os.environ.get(BROKER_ENV) or None


def configure(broker: str | None = None, tick: float | None = None) -> Celery:
    """Point the app at the broker (default ``CONTACTHUB_BROKER_URL``)."""
    url = broker or broker_url()
    if not url:
        raise ConfigError(f"no broker: set {BROKER_ENV}=redis://HOST:PORT/0")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{BROKER_ENV} must be a redis:// URL")
    app.conf.broker_url = url
    if tick is not None:
        app.conf.beat_schedule = {"contacthub-tick": {"task": "contacthub.tick", "schedule": tick}}
    _redis.cache_clear()
    return app


@cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(app.conf.broker_url, socket_timeout=5, socket_connect_timeout=5)


@cache
def _engine() -> Engine:
    """The store of this worker process (``CONTACTHUB_DATABASE_URL``), opened once.

    Migrating is done here rather than by ``open_database`` so that a database that cannot
    be reached raises SQLAlchemy's own error, which ``sync_task`` retries, and nothing is
    cached until it worked."""
    from contacthub.store.db import open_database, upgrade

    engine = open_database(migrate=False)
    upgrade(engine)
    return engine


def _queued_key(hub: str) -> str:
    return f"contacthub:queued:{hub}"


def _started_key(hub: str) -> str:
    return f"contacthub:started:{hub}"


def enqueue(
    hub: str,
    *,
    delay: float = 0.0,
    requested_at: float | None = None,
    origin: str = "queue",
    attempt: int = 0,
) -> bool:
    """Send a run request for ``hub`` (after ``delay`` seconds); ``False`` when one is
    already waiting in the queue, which will serve this one too.

    An unreachable broker raises ``UnavailableError`` (one line naming the broker, its
    password masked) rather than Redis's or kombu's own error: the caller says so, and a
    marker set before the message failed to go is taken back, or it would swallow every
    request for ``QUEUED_TTL`` seconds."""
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import RedisError

    from contacthub.scheduler import metrics
    from contacthub.scheduler.schedule import notified

    requested = time.time() if requested_at is None else requested_at
    try:
        if notified(origin):  # a stream of notifications: one run per GAP at most
            left = _redis().pttl(_started_key(hub))
            delay = max(delay, left / 1000 if left and left > 0 else 0.0)
        if not _redis().set(_queued_key(hub), str(requested), nx=True, ex=int(QUEUED_TTL + delay)):
            metrics.REQUESTS.labels(origin, "coalesced").inc()
            return False
        try:
            kwargs = {"attempt": attempt} if attempt else None
            sync_task.apply_async((hub, requested, origin), kwargs, countdown=delay or None)
        except KombuOperationalError:
            with contextlib.suppress(RedisError):
                _release(hub, requested)
            raise
    except (RedisError, KombuOperationalError) as exc:
        from contacthub.scheduler.logs import redact
        from contacthub.store.db import safe_url

        reason = redact(str(exc).strip() or type(exc).__name__)
        raise UnavailableError(f"cannot reach the broker {safe_url(app.conf.broker_url)}: {reason}") from None
    return True


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _release(hub: str, requested: float) -> bool:
    """Delete the hub's queued-marker if it is still the one set for the request made at
    ``requested`` (one atomic step); a newer request's marker stays."""
    return bool(_redis().eval(_RELEASE, 1, _queued_key(hub), str(requested)))


def queue_depth() -> int:
    """Messages waiting in the broker's queue (not those a worker holds for later)."""
    return int(_redis().llen(QUEUE))


class CeleryDispatcher:
    """What the webhook receivers call when a broker is configured."""

    def __init__(self, debounce: float = 2.0) -> None:
        self.debounce = debounce

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        return enqueue(hub, delay=self.debounce if delay is None else delay, origin=origin)

    def queue_depth(self) -> int:
        return queue_depth()


def db_retry_delay(attempt: int) -> float:
    """Seconds before try ``attempt`` (1, 2, ...) of a request that found the database
    unreachable: 5, 10, 20, 40, then every 60 s (about 6 minutes over ``DB_RETRIES``)."""
    return min(5.0 * 2.0 ** (attempt - 1), 60.0)


@app.task(name="contacthub.sync")  # type: ignore[untyped-decorator]
def sync_task(hub: str, requested_at: float, origin: str = "queue", attempt: int = 0) -> dict[str, Any]:
    from contacthub.scheduler.runner import lost_database, run_requested

    # From now on a new request needs a new run. Only this request's marker goes: a message
    # delivered again (a dead worker's, after VISIBILITY) must not free a newer request's.
    _release(hub, requested_at)

    def starting() -> None:
        _redis().set(_started_key(hub), "1", px=int(GAP * 1000))

    try:
        outcome = run_requested(_engine(), hub, requested_at, origin=origin, on_start=starting, gap=GAP)
    except Exception as exc:
        # The message is acknowledged already: without sending the request again, it
        # would be lost (a hub with interval "off" would never get the change). A run the
        # failure cut short is marked interrupted and completed by the next one.
        if not lost_database(exc):
            raise
        if attempt >= DB_RETRIES:
            log.error(
                "hub %s: the database stayed unreachable; run request dropped after %d tries "
                "(the schedule runs the hub again)",
                hub,
                attempt + 1,
                extra={"hub": hub, "origin": origin},
            )
            raise
        delay = db_retry_delay(attempt + 1)
        log.warning(
            "hub %s: the database cannot be reached (%s); request kept, try %d of %d in %.0fs",
            hub,
            (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0],
            attempt + 1,
            DB_RETRIES,
            delay,
            extra={"hub": hub, "origin": origin, "event": "retry"},
        )
        enqueue(hub, delay=delay, requested_at=requested_at, origin=origin, attempt=attempt + 1)
        return {"hub": hub, "result": "retry", "run": None, "status": None}
    if outcome.result == "busy":
        enqueue(hub, delay=RETRY, requested_at=requested_at, origin=origin)
    elif outcome.result == "early":  # a run started elsewhere within the gap
        enqueue(hub, delay=outcome.wait, requested_at=requested_at, origin=origin)
    report = outcome.report
    return {
        "hub": hub,
        "result": outcome.result,
        "run": report.run_id if report else None,
        "status": report.status if report else None,
    }


@app.task(name="contacthub.tick")  # type: ignore[untyped-decorator]
def tick_task() -> list[str]:
    """Enqueue every hub whose schedule is due."""
    from contacthub.scheduler.runner import database_words, lost_database
    from contacthub.scheduler.schedule import due_hubs

    try:
        due = due_hubs(_engine())
    except Exception as exc:
        if not lost_database(exc):
            raise
        # one line a tick, not Celery's traceback every two seconds of an outage (QA: 195
        # error lines in 20 s); the next tick looks again, nothing is lost
        log.warning(
            "the database cannot be reached (%s); schedules looked at again next tick", database_words(exc)
        )
        return []
    sent = []
    for hub in due:
        if enqueue(hub, origin="schedule"):
            sent.append(hub)
    return sent


def worker_argv(concurrency: int, loglevel: str, hostname: str | None) -> list[str]:
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={'solo' if concurrency == 1 else 'threads'}",
        f"--loglevel={loglevel}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def beat_argv(loglevel: str, schedule_file: str) -> list[str]:
    return ["beat", f"--loglevel={loglevel}", f"--schedule={schedule_file}"]


if broker_url():  # ``celery -A contacthub.scheduler.celery_app`` works as well
    configure()
