"""Scale-out with real servers: Redis (Debian's redis-server), PostgreSQL, two
``contacthub worker`` processes and ``contacthub beat``, 20 hubs on short intervals.

Checked from the runs table and the folders: every run completes; no hub ever runs twice
at once; a worker killed with SIGKILL mid-run leaves its hub to be finished by the next
run, without a duplicate; a burst of 50 webhook calls for one hub gives at most two runs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from contacthub.emulators.base import background
from contacthub.scheduler import celery_app
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.webhooks import tokens
from contacthub.webhooks.router import webhook_router
from tests.conftest import _fresh_postgres_database
from tests.connectors.procore_helpers import served
from tests.scheduler.fleet import connector_block, make_hubs, uids, write_people

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HUBS = 20
CONTACTS = 20
BIG = 1500  # the hub whose worker is killed: long enough to be caught mid-run
FLEET_SECONDS = 30


class Worker:
    """One ``contacthub worker`` process; a thread follows its JSON log to know which hub
    it runs at the moment."""

    def __init__(self, name: str, db: str, env: dict[str, str]) -> None:
        self.name = name
        self.current: str | None = None
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "contacthub", "--database", db, "worker",
                "--name", f"{name}@test", "--log-format", "json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self.lines.append(entry)
            event = entry.get("event")
            if event == "start":
                self.current = entry.get("hub")
            elif event in ("end", "busy"):
                self.current = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def runs(engine: Engine) -> dict[str, list[Any]]:
    query = (
        select(
            t.hubs.c.name, t.runs.c.id, t.runs.c.status, t.runs.c.started_at, t.runs.c.finished_at,
            t.runs.c.message,
        )
        .join(t.hubs, t.hubs.c.id == t.runs.c.hub_id)
        .order_by(t.runs.c.started_at)
    )  # fmt: skip
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            out.setdefault(row.name, []).append(row)
    return out


def applying_with_writes(engine: Engine, hub: str) -> bool:
    """The hub's run is in its apply phase and some of its writes are journalled done."""
    query = (
        select(func.count())
        .select_from(t.changes.join(t.runs, t.runs.c.id == t.changes.c.run_id).join(t.hubs))
        .where(t.hubs.c.name == hub, t.runs.c.status == "applying", t.changes.c.status == "done")
    )
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


@contextlib.contextmanager
def processes(items: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for item in items:
            item.stop()


class Beat:
    def __init__(self, db: str, env: dict[str, str], home: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contacthub", "--database", db, "beat", "--tick", "1"],
            stdout=subprocess.DEVNULL,
            stderr=open(home / "beat.log", "w"),  # noqa: SIM115 (closed with the process)
            env=env,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_two_workers_twenty_hubs_kill_and_burst(
    postgres_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the workers decrypt the Procore connector's client secret with the key this process uses
    monkeypatch.setenv("CONTACTHUB_SECRET_KEY", "contacthub-test-workers")
    with _fresh_postgres_database(postgres_url) as db, served() as procore:
        engine = open_database(db)
        folders = make_hubs(engine, tmp_path / "fleet", HUBS, CONTACTS, interval="4s")
        folders |= make_hubs(engine, tmp_path / "big", 1, BIG, interval="3s", prefix="big")
        # the webhooks are Procore's, so the burst hub syncs an (empty) emulated company too
        site = connector_block("burst000", "site", "procore", procore.settings())
        folders |= make_hubs(
            engine, tmp_path / "burst", 1, 5, interval="off", prefix="burst", extra={"burst000": site}
        )
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "CONTACTHUB_BROKER_URL": redis_url, "CONTACTHUB_HOME": str(home)}
        workers = [Worker("w1", db, env), Worker("w2", db, env)]
        beat = Beat(db, env, home)
        killed: Worker | None = None
        started_processes: list[Any] = [*workers, beat]
        with processes(started_processes):
            # 1. run for a while; kill the worker that runs the big hub while it writes
            deadline = time.monotonic() + 90
            while killed is None and time.monotonic() < deadline:
                for w in workers:
                    assert w.proc.poll() is None, f"worker {w.name} ended:\n" + "".join(w.raw[-40:])
                assert beat.proc.poll() is None, (home / "beat.log").read_text()
                holders = [w for w in workers if w.current == "big000"]
                if len(holders) == 1 and applying_with_writes(engine, "big000"):
                    killed = holders[0]
                    os.kill(killed.proc.pid, signal.SIGKILL)
                    killed.proc.wait()
                    break
                time.sleep(0.02)
            assert killed is not None, (
                "the big hub was never caught mid-run:\n"
                + "".join(workers[0].raw[-30:] + workers[1].raw[-30:])
                + (home / "beat.log").read_text()
            )
            replacement = Worker("w3", db, env)
            workers.append(replacement)
            started_processes.append(replacement)

            # 2. a burst of 50 webhook calls for one hub, through the broker
            celery_app.configure(redis_url)
            app = FastAPI()
            app.include_router(webhook_router(engine, celery_app.CeleryDispatcher(debounce=1.0)))
            burst_a = folders["burst000"][0]
            with background(app) as base, httpx.Client(base_url=base) as http:
                write_people(burst_a, "late", 2)
                url = f"/hooks/procore/{tokens.url_token('burst000', 'site')}"
                event = {"event_type": "update", "resource_name": "Company Users", "resource_id": 1}
                auth = {"Authorization": f"Bearer {tokens.bearer('burst000', 'site')}"}

                def post(_: int) -> int:
                    return http.post(url, json=event, headers=auth).status_code

                with ThreadPoolExecutor(8) as pool:
                    statuses = list(pool.map(post, range(50)))
            assert statuses == [200] * 50

            # 3. keep going until the big hub was finished by a later run, and a while more
            started = time.monotonic()
            while time.monotonic() - started < FLEET_SECONDS or not any(
                r.status == "applied" for r in runs(engine).get("big000", [])
            ):
                assert time.monotonic() - started < 150, "the big hub was never finished"
                time.sleep(0.5)
        by_hub = runs(engine)
        assert all(w.proc.poll() is not None for w in workers)
        with engine.connect() as conn:
            contacts = conn.execute(
                select(func.count()).select_from(t.contacts.join(t.hubs)).where(t.hubs.c.name == "big000")
            ).scalar()
        engine.dispose()

    survivors = [w for w in workers if w is not killed]
    assert not any("Traceback" in line for w in survivors for line in w.raw)

    # every hub ran on its schedule, again and again, never twice at once
    for hub in [h for h in folders if h != "burst000"]:
        assert len(by_hub.get(hub, [])) >= 2, f"{hub} ran {len(by_hub.get(hub, []))} time(s)"
    for hub, hub_runs in by_hub.items():
        for earlier, later in itertools.pairwise(hub_runs):
            assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, (
                f"{hub}: run {earlier.id} ({earlier.started_at}-{earlier.finished_at}) overlaps "
                f"run {later.id} (from {later.started_at})"
            )
        # every run completed, except the one whose worker was killed: marked interrupted
        for run in hub_runs:
            if hub == "big000" and run.status == "failed":
                assert run.message == "interrupted; recovered by the next run"
            else:
                assert run.status == "applied", f"{hub} run {run.id}: {run.status} {run.message}"
    big_runs = by_hub["big000"]
    assert [r.status for r in big_runs].count("failed") == 1
    interrupted = next(i for i, r in enumerate(big_runs) if r.status == "failed")
    assert big_runs[interrupted + 1].status == "applied"

    # nothing duplicated, nothing missing, in every folder
    for hub, (a, b) in folders.items():
        in_a, in_b = uids(a), uids(b)
        assert len(in_a) == len(set(in_a)) and len(in_b) == len(set(in_b)), f"{hub}: duplicate card"
        assert sorted(in_a) == sorted(in_b), f"{hub}: folders differ"
    assert len(uids(folders["big000"][1])) == BIG
    assert contacts == BIG  # no duplicate person in the hub either

    # the burst: at most two runs, and the people it announced were written
    assert 1 <= len(by_hub["burst000"]) <= 2
    assert {"late-0", "late-1"} <= set(uids(folders["burst000"][1]))

    # the logs were JSON, one object a line, naming hubs and runs
    ends = [e for w in workers for e in w.lines if e.get("event") == "end"]
    assert ends and all({"hub", "run", "status", "seconds", "level", "time"} <= set(e) for e in ends)
