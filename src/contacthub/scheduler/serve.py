"""What ``contacthub serve`` (and ``demo --serve``) runs besides the web app: the
scheduler, the webhook receivers and ``/metrics``; see the package docstring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine


@dataclass(slots=True)
class ServeParts:
    router: APIRouter
    start: Callable[[], None]
    stop: Callable[[], None]
    engine: Engine

    def next_run(self, hub_id: int) -> datetime | None:
        from contacthub.scheduler.schedule import next_run

        return next_run(self.engine, hub_id)

    def lifespan(self, app: FastAPI) -> Any:
        """An async context manager for the web app's lifespan hooks."""

        @asynccontextmanager
        async def running() -> AsyncIterator[None]:
            import asyncio

            web = getattr(app.state, "web", None)
            if web is not None and hasattr(web, "next_run"):
                web.next_run = self.next_run
            self.start()
            try:
                yield
            finally:
                await asyncio.to_thread(self.stop)  # waits for runs in progress

        return running()


def for_serve(engine: Engine, *, broker: str | None = None, debounce: float = 2.0) -> ServeParts:
    from contacthub.scheduler import metrics
    from contacthub.scheduler.celery_app import broker_url
    from contacthub.webhooks.router import Dispatcher, webhook_router

    router = APIRouter()
    router.include_router(metrics.metrics_router(engine))
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

        return ServeParts(router, start, lambda: None, engine)
    from contacthub.scheduler.inprocess import InProcessScheduler

    scheduler = InProcessScheduler(engine, debounce=debounce)
    router.include_router(webhook_router(engine, scheduler))
    return ServeParts(router, scheduler.start, scheduler.stop, engine)


def served_app(engine: Engine, *, secure_cookies: bool) -> FastAPI:
    """The whole app ``contacthub serve`` runs: the dashboard and API with this module's
    router (webhooks, ``/metrics``) and the scheduler in their lifespan."""
    from contacthub.web import create_app

    parts = for_serve(engine)
    return create_app(
        engine, secure_cookies=secure_cookies, extra_routers=[parts.router], lifespan_hooks=[parts.lifespan]
    )
