"""Prometheus metrics of runs, changes, errors, API calls and the queue.

Each process counts what it does itself: ``contacthub serve`` (and its in-process
scheduler) answers ``/metrics``; a Celery worker started with ``--metrics-port`` answers
on its own port, as Prometheus expects of a pool of workers. Label values are hub and
connector names and fixed words, never record data or secrets. Those names are every
user's, so ``/metrics`` answers only an admin (see ``metrics_router``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import Engine

from contacthub.engine.context import Report

RUNS = Counter("contacthub_runs", "Runs finished, by outcome", ["status"])
CHANGES = Counter(
    "contacthub_changes", "Changes written, by hub, connector and kind", ["hub", "connector", "kind"]
)
ERRORS = Counter(
    "contacthub_errors", "Record and connector errors, by hub and connector", ["hub", "connector"]
)
API_CALLS = Counter(
    "contacthub_api_calls", "Calls to a system's API, by connector and method", ["hub", "connector", "method"]
)
RATE_WAIT = Counter(
    "contacthub_rate_limit_wait_seconds",
    "Seconds spent waiting for rate limits and retries, by connector",
    ["hub", "connector"],
)
RUN_SECONDS = Histogram(
    "contacthub_run_duration_seconds",
    "Duration of runs (lock held)",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
REQUESTS = Counter(
    "contacthub_run_requests", "Requests for a run, by origin and what became of them", ["origin", "outcome"]
)
NOTIFICATIONS = Counter(
    "contacthub_notifications", "Change notifications received, by source and outcome", ["source", "outcome"]
)
QUEUE_DEPTH = Gauge("contacthub_queue_depth", "Runs requested and not started yet")

_depth_source: Callable[[], float] | None = None


def set_queue_depth_source(source: Callable[[], float] | None) -> None:
    """Where ``contacthub_queue_depth`` is read at each scrape (the in-process queue or the
    broker's); the last one set wins."""
    global _depth_source
    _depth_source = source


def _depth() -> float:
    if _depth_source is None:
        return 0.0
    try:
        return float(_depth_source())
    except Exception:  # a broker down must not break the whole scrape
        return float("nan")


QUEUE_DEPTH.set_function(_depth)


def observe_run(hub: str, report: Report, seconds: float) -> None:
    RUNS.labels(report.status).inc()
    RUN_SECONDS.observe(seconds)
    for connector, counts in report.changes.items():
        for kind, n in counts.items():
            if n:
                CHANGES.labels(hub, connector, kind).inc(n)
    for error in report.errors:
        ERRORS.labels(hub, error.get("connector") or "hub").inc()
    for connector, calls in report.api_calls.items():
        for method, n in calls.items():
            if n:
                API_CALLS.labels(hub, connector, method).inc(n)
    for connector, waited in report.waited.items():
        if waited:
            RATE_WAIT.labels(hub, connector).inc(waited)


def metrics_router(engine: Engine) -> APIRouter:
    """``/metrics`` for an admin only: an admin's API token (``Authorization: Bearer``, which
    Prometheus sends with ``bearer_token``) or a signed-in admin's session, else 401. It
    answered anyone, naming every user's hubs and connectors, where each user sees only
    their own. (A worker's ``--metrics-port`` listens on 127.0.0.1 only.)"""
    from contacthub.web import accounts
    from contacthub.web.app import SESSION_COOKIE

    router = APIRouter()

    def admin(request: Request) -> bool:
        who = accounts.request_user(
            engine, request.headers.get("authorization", ""), request.cookies.get(SESSION_COOKIE)
        )
        return who is not None and who[0].is_admin

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not admin(request):
            return Response(
                "metrics are for an admin: send 'Authorization: Bearer TOKEN' with an admin's API token\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
