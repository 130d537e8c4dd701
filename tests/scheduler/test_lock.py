"""The per-hub lock: one run at a time across threads and processes, freed when its
holder dies, and taken by every run (run_hub), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from contacthub.engine.run import run_hub
from contacthub.scheduler.lock import HubBusy, hub_lock, lock_key
from contacthub.store import tables as t
from contacthub.store.db import open_database
from tests.scheduler.fleet import make_hubs

HOLD = """
import sys, time
from contacthub.store.db import open_database
from contacthub.scheduler.lock import hub_lock
engine = open_database(sys.argv[1])
with hub_lock(engine, sys.argv[2]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("team") == lock_key("team")
    assert lock_key("team") != lock_key("team2")
    assert -(2**63) <= lock_key("team") < 2**63


def test_second_holder_waits_or_is_refused(database_url: str) -> None:
    engine = open_database(database_url)
    with hub_lock(engine, "team"):
        with pytest.raises(HubBusy), hub_lock(engine, "team", wait=0):
            pass
        started = time.monotonic()
        with pytest.raises(HubBusy), hub_lock(engine, "team", wait=0.5):
            pass
        assert time.monotonic() - started >= 0.45
        with hub_lock(engine, "other", wait=0):  # another hub is free
            pass
    with hub_lock(engine, "team", wait=0):  # released
        pass


def test_waiter_gets_the_lock_when_the_holder_ends(database_url: str) -> None:
    engine = open_database(database_url)
    order: list[str] = []
    held = threading.Event()

    def holder() -> None:
        with hub_lock(engine, "team"):
            held.set()
            time.sleep(0.5)
            order.append("first done")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with hub_lock(engine, "team", wait=10):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_lock_of_a_killed_process_is_freed(database_url: str) -> None:
    engine = open_database(database_url)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, database_url, "team"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(HubBusy), hub_lock(engine, "team", wait=0):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # PostgreSQL ends the session when its socket closes; flock goes with the process
        with hub_lock(engine, "team", wait=10):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_hub_takes_the_lock(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)
    make_hubs(engine, tmp_path, 1, 3)
    with hub_lock(engine, "hub000"):
        with pytest.raises(HubBusy):
            run_hub(engine, "hub000", lock_wait=0)
        with engine.connect() as conn:  # a refused run leaves no trace
            assert conn.execute(select(t.runs)).all() == []
    report = run_hub(engine, "hub000", lock_wait=0)
    assert report.status == "applied"
    assert report.changes["b"]["create"] == 3


def test_service_sync_can_refuse_instead_of_waiting(sqlite_url: str, tmp_path: Path) -> None:
    from contacthub import service

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 2)
    with hub_lock(engine, "hub000"), pytest.raises(HubBusy, match="being synced by another run"):
        service.sync(engine, "hub000", lock_wait=0)
    assert service.sync(engine, "hub000", lock_wait=0).status == "applied"


def test_a_waiter_is_told_once_and_a_free_hub_says_nothing(database_url: str) -> None:
    engine = open_database(database_url)
    told: list[str] = []
    with hub_lock(engine, "team", on_wait=lambda: told.append("free")):
        pass
    assert told == []  # free: nothing to say
    with hub_lock(engine, "team"):
        with pytest.raises(HubBusy), hub_lock(engine, "team", wait=0, on_wait=lambda: told.append("0")):
            pass
        assert told == []  # refused at once: it never waited
        with pytest.raises(HubBusy), hub_lock(engine, "team", wait=0.6, on_wait=lambda: told.append("w")):
            pass
    assert told == ["w"]  # once, however many times it polled


def test_a_second_sync_says_it_waits(sqlite_url: str, tmp_path: Path) -> None:
    """The second ``contacthub sync`` of a busy hub says on stderr why it sits there, and
    keeps stdout one JSON object."""
    import json

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 2)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, sqlite_url, "hub000"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        sync = subprocess.Popen(
            [sys.executable, "-m", "contacthub", "--database", sqlite_url, "sync", "hub000", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # the holder goes after 60 s whatever happens: without the message the line read
        # below would wait for the holder's whole 600 s
        safety = threading.Timer(60, proc.kill)
        safety.start()
        assert sync.stderr is not None
        said = sync.stderr.readline()  # before the holder lets go: it is waiting
        assert sync.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = sync.communicate(timeout=60)
        safety.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert "another run of this hub is in progress; waiting for it to end" in said
    assert json.loads(out)["status"] == "applied"


def test_many_hubs_are_locked_together_and_a_busy_one_is_waited_for(database_url: str) -> None:
    """``apply`` of a file naming 30 hubs holds all their locks (on PostgreSQL a connection
    for each emptied the pool, and apply timed out), waiting for the one a run holds."""
    from contacthub.scheduler.lock import hub_locks

    engine = open_database(database_url)
    names = [f"h{i:02d}" for i in range(30)]
    told: list[str] = []
    release = threading.Event()

    def a_run() -> None:
        with hub_lock(engine, "h07"):
            held.set()
            release.wait(10)

    held = threading.Event()
    thread = threading.Thread(target=a_run)
    thread.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    start = time.monotonic()
    with hub_locks(engine, names, told.append):
        waited = time.monotonic() - start
        with pytest.raises(HubBusy), hub_lock(engine, "h29", wait=0):  # held by this caller
            pass
    thread.join()
    assert told == ["h07"] and waited >= 0.4
    with hub_lock(engine, "h29", wait=0):  # and all given back
        pass


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # one name, composed and decomposed


@pytest.mark.parametrize(("stored", "typed"), [(NFC, NFD), (NFD, NFC)])
def test_a_hub_is_one_lock_whatever_spelling_its_name_is_given_in(
    database_url: str, tmp_path: Path, stored: str, typed: str
) -> None:
    """``Store.hub`` finds a hub by the other Unicode form of its name (or one an older
    contacthub stored in NFD), but ``sync`` and ``apply`` locked the name as typed: another
    lock file (advisory key) than the scheduler's, which locks the stored name, and the
    two ran the hub at once (QA)."""
    from sqlalchemy import update

    from contacthub import config

    engine = open_database(database_url)
    make_hubs(engine, tmp_path, 1, 2)
    with engine.begin() as conn:
        conn.execute(update(t.hubs).values(name=stored))
    hub_file = tmp_path / "again.toml"
    hub_file.write_text(f'[hubs."{typed}"]\n', encoding="utf-8")

    def waits(name: str) -> None:
        raise TimeoutError(f"apply waits for {name}")

    with hub_lock(engine, stored):  # as a run the scheduler, dashboard or a webhook started
        with pytest.raises(HubBusy):
            run_hub(engine, typed, lock_wait=0)
        with pytest.raises(TimeoutError, match="apply waits for"):
            config.apply(engine, config.load(hub_file), waits)
        with pytest.raises(HubBusy), hub_lock(engine, typed, wait=0):
            pass
    with engine.connect() as conn:
        assert conn.execute(select(t.runs)).all() == []
        assert len(conn.execute(select(t.connectors)).all()) == 2  # apply changed nothing
    assert run_hub(engine, typed, lock_wait=0).status == "applied"
