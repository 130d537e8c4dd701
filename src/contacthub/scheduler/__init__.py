"""When hubs run: schedules, the per-hub lock, coalescing of requests, the in-process
scheduler and the Celery workers.

``contacthub serve`` takes what it needs from ``scheduler.serve.for_serve``::

    parts = for_serve(engine)
    create_app(engine, extra_routers=[parts.router], lifespan_hooks=[parts.lifespan])

``parts.router`` holds ``/metrics`` and ``/hooks/...``; ``parts.lifespan`` starts the
scheduler at start-up, stops it at shut-down and tells the dashboard when each hub runs next
(``app.state.web.next_run``). ``parts.start()`` / ``parts.stop()`` do the same by hand.

With ``CONTACTHUB_BROKER_URL`` set, notifications are sent to the Celery workers and the
schedule is ``contacthub beat``'s; without it, both run inside the serving process.

The package itself imports nothing: every run takes the hub lock (``scheduler.lock``), and a
plain ``contacthub sync`` must not pay for importing FastAPI and Celery.
"""
