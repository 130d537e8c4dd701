"""Turning a request for a run into at most one run: the part every driver shares (the
in-process scheduler, the Celery task).

A request carries the time it was made. It is satisfied by any run of the hub that started
after that time: such a run saw every change the request was about. So duplicated
requests (two webhooks, a webhook and the schedule, a message delivered twice) cost one
query, not one run. A request that finds the hub busy is handed back to its driver to try
again shortly; by then the run in progress may have satisfied it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from contacthub.engine.context import Report
from contacthub.errors import NotFoundError
from contacthub.scheduler import metrics
from contacthub.scheduler.lock import HubBusy
from contacthub.scheduler.schedule import last_started, notified

log = logging.getLogger("contacthub.scheduler")


@dataclass(frozen=True, slots=True)
class Outcome:
    hub: str
    result: str  # ran | satisfied | early | busy | missing
    report: Report | None = None
    #: for ``early``: seconds until the notification gap after the hub's last start ends
    wait: float = 0.0


def run_requested(
    engine: Engine,
    hub: str,
    requested_at: float,
    *,
    origin: str = "queue",
    on_start: Callable[[], object] | None = None,
    gap: float = 0.0,
) -> Outcome:
    """Run ``hub`` unless a run started after ``requested_at`` (epoch seconds) already did;
    never waits for a busy hub. ``on_start`` is called just before a run is tried (not for
    a request already satisfied): the Celery task starts its notification gap there, so a
    message delivered a second time, long satisfied, holds nothing back.

    A request from a notification that comes within ``gap`` seconds of the hub's last start,
    wherever that run was started (the command line, the API), is ``early``: the driver
    sends it again for when the gap ends. The Celery task's own gap (a Redis key) knew only
    the runs the workers had started."""
    from contacthub.engine.run import run_hub

    try:
        last = last_started(engine, hub)
    except NotFoundError:
        last = None
    if last is not None and last >= datetime.fromtimestamp(requested_at, UTC):
        metrics.REQUESTS.labels(origin, "satisfied").inc()
        return Outcome(hub, "satisfied")
    if last is not None and gap > 0 and notified(origin):
        left = gap - (datetime.now(UTC) - last).total_seconds()
        if left > 0:
            metrics.REQUESTS.labels(origin, "early").inc()
            return Outcome(hub, "early", wait=left)
    start = time.monotonic()
    log.info("hub %s: run starting", hub, extra={"hub": hub, "origin": origin, "event": "start"})
    if on_start is not None:
        on_start()
    try:
        report = run_hub(engine, hub, lock_wait=0)
    except HubBusy:
        metrics.REQUESTS.labels(origin, "busy").inc()
        log.info("hub %s: busy, run deferred", hub, extra={"hub": hub, "origin": origin, "event": "busy"})
        return Outcome(hub, "busy")
    except NotFoundError:
        # the hub was removed after the request was made
        metrics.REQUESTS.labels(origin, "missing").inc()
        log.warning("run requested for hub %s, which no longer exists", hub, extra={"hub": hub})
        return Outcome(hub, "missing")
    seconds = time.monotonic() - start
    metrics.REQUESTS.labels(origin, "ran").inc()
    metrics.observe_run(hub, report, seconds)
    changes = sum(sum(c.values()) for c in report.changes.values())
    # why a run failed or was held, on its own line: "failed ... 1 error(s)" sent an admin
    # to ``contacthub show`` for every failure (the message carries no secret: Report.unsaid)
    why = f": {report.message}" if report.status in ("failed", "held") and report.message else ""
    log.info(
        "hub %s: run %s %s in %.2fs, %d change(s), %d error(s)%s",
        hub,
        report.run_id,
        report.status,
        seconds,
        changes,
        len(report.errors),
        why,
        extra={
            "hub": hub,
            "run": report.run_id,
            "status": report.status,
            "seconds": round(seconds, 3),
            "changes": changes,
            "errors": len(report.errors),
            "origin": origin,
            "event": "end",
        },
    )
    return Outcome(hub, "ran", report)


def lost_database(exc: Exception) -> bool:
    """The database could not be reached or dropped the connection: worth trying again
    (a restart, a failover), unlike an error in a statement."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    )


def database_words(exc: Exception) -> str:
    """The first line of the database's own words, without SQLAlchemy's statement and
    background lines: what a log line about a lost database says."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
