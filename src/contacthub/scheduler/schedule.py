"""When each hub runs on its own: an interval (default 15 minutes) or a cron expression.

Both live in the hub's settings (``interval = "15m"`` or ``cron = "*/5 * * * *"`` in the
hub file). A hub is due when its last scheduled kind of run started at least one interval
ago, less ``START_LAG`` (or the cron expression has fired since); a hub that never ran is
due at once.
``interval = "off"`` leaves a hub to manual runs and change notifications only.

The times come from the runs table, so every process (the in-process scheduler, ``beat``)
agrees on them and a restart neither skips nor repeats a run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from contacthub.errors import ConfigError
from contacthub.store import tables as t
from contacthub.store.repo import loads

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=15)
#: the longest interval a hub file may give: "4000000d" was taken, and once the hub had run
#: its next date lay past the year 9999, so working it out raised at every tick and every
#: other hub's schedule stopped with it (QA); "99999999999d" ended ``apply`` in a traceback
MAX_INTERVAL = timedelta(days=366)
#: how much sooner than one interval after its last start a hub on an interval is due (a
#: tenth of a shorter interval). A run starts a moment after the tick that found it due;
#: one interval later the hub was that moment short of due at the tick, and ran a tick
#: late: ``interval = "5s"`` on the 5 s tick ran every 10 s (QA). Fixed, not half the
#: tick: the worker that looks does not know the tick beat uses, and half of a 1 s tick
#: let a 5 s hub run every 3 s (QA). A cron is due at its minutes, never sooner.
START_LAG = timedelta(seconds=1)
#: run kinds that count as "the hub ran" for its schedule (a dry run writes nothing)
SCHEDULED_KINDS = ("sync", "approve", "reject", "undo")


def notified(origin: str) -> bool:
    """Whether a run request came from a notification, which waits ``gap`` after the hub's
    last run started (a stream of them gives one run per gap). The receivers name their
    vendor as the origin (``webhooks.tokens.SOURCES``; "notification" is the default), and
    the check for "notification" alone held none of them back: a Pipedrive import's stream
    ran the hub every 2 seconds."""
    from contacthub.webhooks.tokens import SOURCES  # (here: ``apply`` reads this module)

    return origin == "notification" or origin in SOURCES


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_interval(text: str) -> timedelta | None:
    """``"15m"``, ``"1h30m"``, ``"90s"``, ``"2d"``, a bare number of seconds, or ``"off"``
    (``None``: never on a schedule)."""
    value = text.strip().lower()
    if value in ("off", "never", "none"):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        compact = value.replace(" ", "")
        parts = _PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ConfigError(f"interval {text!r} is not like '15m', '1h30m', '90s' or 'off'")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ConfigError(f"interval {text!r} is shorter than one second")
    if seconds > MAX_INTERVAL.total_seconds():  # (before timedelta(), which overflows)
        raise ConfigError(
            f"interval {text!r} is longer than {MAX_INTERVAL.days} days (use 'off' for manual runs only)"
        )
    return timedelta(seconds=seconds)


def _five_fields(expression: str) -> str:
    """A cron expression of five fields, or a macro (``@hourly``, ``@daily``...). croniter
    takes a sixth field as seconds and a seventh as years: ``"* * * * * *"`` ran its hub
    back to back, and a Quartz-style ``"0 */5 * * * *"`` every second of minute 0 (QA)."""
    fields = expression.split()
    if not expression.strip().startswith("@") and len(fields) != 5:
        raise ConfigError(
            f"cron expression {expression!r} has {len(fields)} fields: five are expected "
            "(minute hour day month weekday, e.g. '*/15 * * * *')"
        )
    return expression


def check_cron(expression: str) -> str:
    from croniter import croniter

    _five_fields(expression)
    if not croniter.is_valid(expression):
        raise ConfigError(f"cron expression {expression!r} is not valid (e.g. '*/15 * * * *')")
    if Schedule(None, expression).next_after(datetime.now(UTC)) is None:
        # valid syntax, no date: croniter raised at every tick, and the scheduler's whole
        # tick failed with it, every other hub's schedule included (QA)
        raise ConfigError(f"cron expression {expression!r} never fires (no such date, as 31 February)")
    return expression


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: timedelta | None = DEFAULT_INTERVAL
    cron: str | None = None

    @classmethod
    def of(cls, settings: dict[str, Any]) -> Schedule:
        if settings.get("cron"):  # (one stored before the check: skipped, not run every second)
            return cls(None, _five_fields(str(settings["cron"])))
        if settings.get("interval"):
            return cls(parse_interval(str(settings["interval"])))
        return cls()

    def next_after(self, last: datetime) -> datetime | None:
        """When a hub last run at ``last`` is due again (``None``: not on a schedule)."""
        if self.cron:
            from croniter import CroniterError, croniter

            try:
                nxt: datetime = croniter(self.cron, last).get_next(datetime)
            except (CroniterError, ValueError):
                return None  # an expression that never fires (stored before it was refused)
            return nxt
        if self.interval is None:
            return None
        return last + self.interval

    def due_after(self, last: datetime) -> datetime | None:
        """When the scheduler runs a hub last run at ``last``: ``next_after``, or on an
        interval up to ``START_LAG`` (a tenth of a shorter interval) sooner. The dashboard
        shows ``next_after``: cut to the minute, the sooner time showed a minute early."""
        nxt = self.next_after(last)
        if nxt is None or self.cron or self.interval is None:
            return nxt
        return nxt - min(START_LAG, self.interval / 10)

    def describe(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        return "manual only" if self.interval is None else f"every {self.interval}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: the (hub, reason) pairs warned about in this process: a tick every few seconds repeated
#: the same warning thousands of times a day
_warned: set[tuple[str, str]] = set()


def _warn_once(hub: str, reason: str) -> None:
    if (hub, reason) not in _warned:
        _warned.add((hub, reason))
        log.warning("hub %s is not run on a schedule: %s", hub, reason)


def _next_due(
    hub: str, settings: str | None, last: datetime | None, at: datetime, run_at: bool = False
) -> datetime | None:
    """When the hub is due by its stored schedule (``at`` if it never ran); ``None``: manual
    only, or a schedule that cannot be worked out. That one is warned about (once) and
    skipped: a stored value from before a check refused it (an interval past the year 9999,
    a cron that never fires) raised at every tick, and the whole tick failed with it, every
    other hub's schedule and the dashboard's list of hubs included (QA)."""
    schedule: Schedule | None = None
    try:
        schedule = Schedule.of(loads(settings) or {})
        if schedule.interval is None and schedule.cron is None:
            return None
        if last is None:
            return at
        nxt = schedule.due_after(_aware(last)) if run_at else schedule.next_after(_aware(last))
    except ConfigError as exc:
        _warn_once(hub, exc.message)
        return None
    except (OverflowError, ValueError) as exc:  # (a stored value no check saw)
        what = schedule.describe() if schedule is not None else "its schedule"
        _warn_once(hub, f"{what} gives no next date ({exc})")
        return None
    if nxt is None and schedule.cron:
        _warn_once(hub, f"cron {schedule.cron!r} never fires")
    return nxt


def due_hubs(engine: Engine, at: datetime | None = None) -> list[str]:
    """Names of the hubs whose schedule says they should run now."""
    at = at or datetime.now(UTC)
    last_run = (
        select(t.runs.c.hub_id, func.max(t.runs.c.started_at).label("last"))
        .where(t.runs.c.kind.in_(SCHEDULED_KINDS))
        .group_by(t.runs.c.hub_id)
        .subquery()
    )
    query = select(t.hubs.c.name, t.hubs.c.settings, last_run.c.last).outerjoin(
        last_run, last_run.c.hub_id == t.hubs.c.id
    )
    due = []
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.hubs.c.name)).all()
    for name, settings, last in rows:
        nxt = _next_due(name, settings, last, at, run_at=True)
        if nxt is not None and nxt <= at:
            due.append(name)
    return due


def last_started(engine: Engine, hub: str) -> datetime | None:
    """When the hub's newest scheduled-kind run started (any outcome)."""
    query = (
        select(func.max(t.runs.c.started_at))
        .select_from(t.runs.join(t.hubs, t.hubs.c.id == t.runs.c.hub_id))
        .where(t.hubs.c.name == hub, t.runs.c.kind.in_(SCHEDULED_KINDS))
    )
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else _aware(value)


def next_run(engine: Engine, hub_id: int, at: datetime | None = None) -> datetime | None:
    """When the hub's schedule runs it next (``None``: manual only, or a schedule that
    cannot be worked out); a hub that is due already, or never ran, answers ``at`` (now)."""
    at = at or datetime.now(UTC)
    with engine.connect() as conn:
        hub = conn.execute(select(t.hubs.c.name, t.hubs.c.settings).where(t.hubs.c.id == hub_id)).first()
        if hub is None or hub.settings is None:
            return None
        last = conn.execute(
            select(func.max(t.runs.c.started_at)).where(
                t.runs.c.hub_id == hub_id, t.runs.c.kind.in_(SCHEDULED_KINDS)
            )
        ).scalar()
    nxt = _next_due(hub.name, hub.settings, last, at)
    return None if nxt is None else max(nxt, at)
