"""The scheduler used when no broker is configured: threads inside ``contacthub serve``.

One loop thread looks at the hubs' schedules every ``tick`` seconds and at the queue of
requested runs; a small pool runs them. Coalescing: a hub has at most one waiting request
(a second one while it waits is dropped: the first will see its changes) and at most one
run; a request made while the hub runs waits, so a burst during a run gives one follow-up
run. The database lock (``scheduler.lock``) still guards against a run started elsewhere,
e.g. ``contacthub sync`` from a terminal: the request then waits and tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from contacthub.scheduler import metrics
from contacthub.scheduler.runner import database_words, lost_database, run_requested
from contacthub.scheduler.schedule import due_hubs, last_started, notified

log = logging.getLogger("contacthub.scheduler")


@dataclass(slots=True)
class _Request:
    due: float  # when it may start (monotonic clock)
    requested_at: float  # when it was made (epoch seconds, compared with runs' start)
    origin: str


class InProcessScheduler:
    """Start with ``start()``, end with ``stop()`` (waits for runs in progress).
    ``request(hub)`` is what change notifications call; it only records the request.

    ``workers``: runs at the same time (on SQLite keep 1: it has one writer at a time).
    ``debounce``: seconds a notification waits, so that a burst gives one run.
    ``gap``: seconds at least between the start of a run and a run asked for by a
    notification, so that a long stream of notifications gives one run per ``gap``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        workers: int | None = None,
        tick: float = 5.0,
        debounce: float = 2.0,
        retry: float = 2.0,
        gap: float = 5.0,
    ) -> None:
        self.engine = engine
        self.workers = workers or (1 if engine.dialect.name == "sqlite" else 4)
        self.tick = tick
        self.debounce = debounce
        self.retry = retry
        self.gap = gap
        self._started: dict[str, float] = {}  # hub -> monotonic time its last run started
        self._queue: dict[str, _Request] = {}
        self._running: set[str] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ public

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="contacthub-run")
        self._thread = threading.Thread(target=self._loop, name="contacthub-scheduler", daemon=True)
        self._thread.start()
        metrics.set_queue_depth_source(self.queue_depth)
        log.info("in-process scheduler started with %d worker thread(s)", self.workers)

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking new runs and wait for the ones in progress."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool:
        """Ask for a run of ``hub`` in ``delay`` seconds (default ``debounce``); ``False``
        when an earlier request is still waiting (this one is coalesced into it)."""
        wait = self.debounce if delay is None else delay
        now = time.monotonic()
        elsewhere = None
        if notified(origin):
            with self._guard:
                if hub in self._queue:  # coalesced: no query of the store for each of a stream
                    metrics.REQUESTS.labels(origin, "coalesced").inc()
                    return False
            elsewhere = self._started_elsewhere(hub, now)
        with self._guard:
            if hub in self._queue:
                metrics.REQUESTS.labels(origin, "coalesced").inc()
                return False
            due = now + wait
            if notified(origin):
                started = max(self._started.get(hub, float("-inf")), elsewhere or float("-inf"))
                due = max(due, started + self.gap)
            self._queue[hub] = _Request(due, time.time(), origin)
        self._wake.set()
        return True

    def _started_elsewhere(self, hub: str, now: float) -> float | None:
        """When the hub's last run started, wherever it was started (the command line, the
        API, another process), on this scheduler's monotonic clock: the gap counts from it
        too (counted only from this scheduler's own runs, a notification right after a
        ``contacthub sync`` ran the hub again at once)."""
        when = last_started(self.engine, hub)
        if when is None:
            return None
        return now - max(0.0, time.time() - when.timestamp())

    def queue_depth(self) -> int:
        with self._guard:
            return len(self._queue)

    def running(self) -> set[str]:
        with self._guard:
            return set(self._running)

    # ------------------------------------------------------------------ loop

    def _loop(self) -> None:
        next_tick = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick
                self._request_due()
            self._start_ready()
            self._wake.wait(min(0.5, max(0.0, next_tick - time.monotonic())))
            self._wake.clear()

    def _request_due(self) -> None:
        try:
            hubs = due_hubs(self.engine)
        except Exception as exc:  # the database may be away for a moment; try at the next tick
            if not lost_database(exc):
                log.exception("could not read the hubs' schedules")
            else:  # (one line each tick while it is away, not a traceback)
                log.warning(
                    "could not read the hubs' schedules: the database is away (%s)",
                    database_words(exc),
                )
            return
        for hub in hubs:
            self.request(hub, delay=0, origin="schedule")

    def _start_ready(self) -> None:
        now = time.monotonic()
        with self._guard:
            free = self.workers - len(self._running)
            ready = sorted(
                (r.due, hub) for hub, r in self._queue.items() if r.due <= now and hub not in self._running
            )
            for _, hub in ready[: max(0, free)]:
                request = self._queue.pop(hub)
                self._running.add(hub)
                self._started[hub] = now
                assert self._pool is not None
                self._pool.submit(self._run, hub, request)

    def _run(self, hub: str, request: _Request) -> None:
        try:
            outcome = run_requested(self.engine, hub, request.requested_at, origin=request.origin)
            if outcome.result == "busy":  # running elsewhere: ask again shortly
                with self._guard:
                    waiting = self._queue.get(hub)
                    if waiting is None:
                        request.due = time.monotonic() + self.retry
                        self._queue[hub] = request
                    else:  # keep the older request time: it is the stricter one
                        waiting.requested_at = min(waiting.requested_at, request.requested_at)
        except Exception as exc:
            if not lost_database(exc):
                log.exception("run of hub %s failed", hub, extra={"hub": hub})
            else:  # a restart or failover: the next run finishes what this one began
                log.warning(
                    "run of hub %s stopped: the database is away (%s); its next run finishes it",
                    hub,
                    database_words(exc),
                    extra={"hub": hub},
                )
        finally:
            with self._guard:
                self._running.discard(hub)
            self._wake.set()
