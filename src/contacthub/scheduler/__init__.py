"""When hubs run: schedules, the per-hub lock, coalescing of requests, the in-process
scheduler and the Celery workers.

``contacthub serve`` takes what it needs from ``for_serve``::

    parts = for_serve(engine)
    app.include_router(parts.router)      # /metrics and /hooks/...
    parts.start()                         # on start-up
    parts.stop()                          # on shutdown

With ``CONTACTHUB_BROKER_URL`` set, notifications are sent to the Celery workers and the
schedule is ``contacthub beat``'s; without it, both run inside the serving process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from sqlalchemy import Engine


@dataclass(slots=True)
class ServeParts:
    router: APIRouter
    start: Callable[[], None]
    stop: Callable[[], None]


def for_serve(engine: Engine, *, broker: str | None = None, debounce: float = 2.0) -> ServeParts:
    from contacthub.scheduler import metrics
    from contacthub.scheduler.celery_app import broker_url
    from contacthub.webhooks.router import Dispatcher, webhook_router

    router = APIRouter()
    router.include_router(metrics.metrics_router())
    url = broker or broker_url()
    dispatcher: Dispatcher
    if url:
        from contacthub.scheduler.celery_app import CeleryDispatcher, configure

        configure(url)
        celery = CeleryDispatcher(debounce)
        dispatcher = celery
        router.include_router(webhook_router(engine, dispatcher))

        def start() -> None:
            metrics.set_queue_depth_source(celery.queue_depth)

        return ServeParts(router, start, lambda: None)
    from contacthub.scheduler.inprocess import InProcessScheduler

    scheduler = InProcessScheduler(engine, debounce=debounce)
    router.include_router(webhook_router(engine, scheduler))
    return ServeParts(router, scheduler.start, scheduler.stop)
