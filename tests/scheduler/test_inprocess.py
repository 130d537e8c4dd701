"""The in-process scheduler runs hubs on their schedules and coalesces requests."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from contacthub.scheduler.inprocess import InProcessScheduler
from contacthub.scheduler.lock import hub_lock
from contacthub.store import tables as t
from contacthub.store.db import open_database
from tests.scheduler.fleet import make_hubs, uids, write_people


def runs_of(engine: object, hub: str) -> list[tuple[str, object, object]]:
    query = (
        select(t.runs.c.status, t.runs.c.started_at, t.runs.c.finished_at)
        .join(t.hubs, t.hubs.c.id == t.runs.c.hub_id)
        .where(t.hubs.c.name == hub)
        .order_by(t.runs.c.id)
    )
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(query)]


def wait_for(condition: object, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_hubs_run_on_their_interval(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    folders = make_hubs(engine, tmp_path, 2, 5, interval="1s")
    scheduler = InProcessScheduler(engine, tick=0.2)
    scheduler.start()
    try:
        wait_for(lambda: all(len(runs_of(engine, h)) >= 3 for h in folders), 30)
    finally:
        scheduler.stop()
    for hub, (_a, b) in folders.items():
        runs = runs_of(engine, hub)
        assert {status for status, _, _ in runs} == {"applied"}
        starts = [start for _, start, _ in runs]
        assert all(later > earlier for earlier, later in itertools.pairwise(starts))
        assert sorted(uids(b)) == sorted(f"{hub}-{n}" for n in range(5))


def test_a_burst_of_requests_gives_one_run_and_a_follow_up(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    folders = make_hubs(engine, tmp_path, 1, 2, interval="off")
    scheduler = InProcessScheduler(engine, tick=0.2, debounce=0.5)
    scheduler.start()
    try:
        results = [scheduler.request("hub000") for _ in range(20)]
        assert results.count(True) == 1  # the rest were coalesced into the waiting one
        wait_for(lambda: len(runs_of(engine, "hub000")) == 1 and not scheduler.running())
        time.sleep(1.0)
        assert len(runs_of(engine, "hub000")) == 1  # "off": no schedule, nothing more
        # while a run goes on (held here by the lock, as a run elsewhere would), requests
        # wait and become exactly one run once the hub is free
        write_people(folders["hub000"][0], "late", 1)
        with hub_lock(engine, "hub000"):
            for _ in range(10):
                scheduler.request("hub000", delay=0)
                time.sleep(0.05)
            time.sleep(1.0)
            assert len(runs_of(engine, "hub000")) == 1
        wait_for(lambda: len(runs_of(engine, "hub000")) == 2 and not scheduler.running())
        time.sleep(0.5)
        assert len(runs_of(engine, "hub000")) == 2
    finally:
        scheduler.stop()
    assert "late-0" in uids(folders["hub000"][1])


def test_a_stream_of_vendor_notifications_runs_a_hub_once_per_gap(sqlite_url: str, tmp_path: Path) -> None:
    """The receivers name their vendor as a request's origin ("pipedrive"), and only
    "notification" waited for the gap: a Pipedrive import's stream of notifications ran
    the hub every 2 seconds instead of once per 5 (QA)."""
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 2, interval="off")
    scheduler = InProcessScheduler(engine, tick=0.2, debounce=0.1, gap=2.0)
    scheduler.start()
    try:
        for origin in ("pipedrive", "procore", "graph"):
            done = len(runs_of(engine, "hub000")) + 1
            scheduler.request("hub000", origin=origin)
            wait_for(lambda done=done: len(runs_of(engine, "hub000")) == done and not scheduler.running())
    finally:
        scheduler.stop()
    starts = [start for _, start, _ in runs_of(engine, "hub000")]
    assert len(starts) == 3
    assert all((later - earlier).total_seconds() >= 1.9 for earlier, later in itertools.pairwise(starts))


def test_a_notification_right_after_a_run_from_the_command_line_waits_the_gap(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The gap counted only from runs this scheduler had started: a notification right
    after a ``contacthub sync`` (or a run from the API, or another process) ran the hub
    again at once (QA). It counts from the hub's last run, wherever it was started."""
    from contacthub.engine.run import run_hub

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 2, interval="off")
    scheduler = InProcessScheduler(engine, tick=0.2, debounce=0.1, gap=2.0)
    scheduler.start()
    try:
        run_hub(engine, "hub000")  # as the command line runs it
        scheduler.request("hub000", origin="pipedrive")
        wait_for(lambda: len(runs_of(engine, "hub000")) == 2 and not scheduler.running())
    finally:
        scheduler.stop()
    first, second = (start for _, start, _ in runs_of(engine, "hub000"))
    assert (second - first).total_seconds() >= 1.9


def test_coalesced_notifications_cost_no_query(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each notification asked the store when the hub last started, even those coalesced
    into a request already waiting: a stream of them was a stream of queries."""
    import contacthub.scheduler.inprocess as inprocess

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 2, interval="off")
    asked: list[str] = []

    def counted(engine_: object, hub: str) -> object:
        asked.append(hub)
        return last_started(engine_, hub)

    last_started = inprocess.last_started
    monkeypatch.setattr(inprocess, "last_started", counted)
    scheduler = InProcessScheduler(engine, tick=0.2, debounce=30, gap=2.0)  # not started: requests wait
    outcomes = [scheduler.request("hub000", origin="pipedrive") for _ in range(50)]
    assert outcomes == [True] + [False] * 49
    assert asked == ["hub000"]


def test_a_database_away_is_one_line_a_tick_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database was away (a restart, a failover), ``serve`` logged a traceback
    at every tick, and one for every run it cut short (QA): one line says it now, with the
    database's own words; an error of another kind keeps its traceback."""
    from sqlalchemy import create_engine

    gone = create_engine(f"sqlite:///{tmp_path / 'no such folder' / 'hub.db'}")  # cannot be opened
    scheduler = InProcessScheduler(gone, workers=1, tick=60)
    with caplog.at_level("WARNING", logger="contacthub.scheduler"):
        scheduler._request_due()
    [said] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert said.exc_info is None
    assert "could not read the hubs' schedules: the database is away (unable to open database file)" in (
        said.getMessage()
    )
