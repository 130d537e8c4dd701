"""One run per hub at a time, across threads, processes and machines.

The lock lives where every process that can run a hub already meets: the database.

- PostgreSQL: a session-level advisory lock on its own connection, keyed by the hub's
  name. The server drops it when the session ends, so a worker killed with SIGKILL (or a
  machine that vanishes, once TCP notices) never leaves a hub locked.
- SQLite: an exclusive ``flock`` on a file next to the database, one per hub. The kernel
  drops it when the process dies. (SQLite is one machine by construction.)
- Anything else (an in-memory SQLite database): a lock inside this process.

The lock is held for the whole run, from before the run's row is written (which is also
where runs left behind by a dead process are marked interrupted) to after it is closed.

It is keyed by the hub's name as stored (``stored_name``), whatever spelling the caller
was given: ``sync`` typed with the decomposed (NFD) spelling of a composed name, which
``Store.hub`` finds, took another file, advisory key or dict entry than the scheduler's run
of the same hub, and the two ran at once (QA).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from contacthub.errors import UserError

POLL = 0.2  # seconds between attempts while waiting for a busy hub

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class HubBusy(UserError):
    """Another run of the hub holds the lock (and the caller would not wait longer)."""


def lock_key(hub_name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, stable across processes and versions."""
    digest = hashlib.blake2b(f"contacthub:hub:{hub_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def stored_name(engine: Engine, hub_name: str) -> str:
    """The name the hub ``hub_name`` means is stored under (``stored_names``)."""
    return stored_names(engine, [hub_name])[hub_name]


def stored_names(engine: Engine, hub_names: Iterable[str]) -> dict[str, str]:
    """Each name -> the name its hub is stored under (``names.pick`` among its
    ``names.spellings``, as ``Store.hub`` finds it), in one query; a hub not stored (yet:
    ``apply`` is about to create it) is keyed by its NFC name, the one it will be stored
    under."""
    from sqlalchemy import select

    from contacthub import names
    from contacthub.store import tables as t

    given = list(dict.fromkeys(hub_names))
    spelt = sorted({form for name in given for form in names.spellings(name)})
    with engine.connect() as conn:
        found = conn.execute(select(t.hubs.c.name).where(t.hubs.c.name.in_(spelt))).scalars().all()
    return {name: names.pick(found, name) or names.nfc(name) for name in given}


def _lock_dir(engine: Engine) -> Path | None:
    from contacthub.store.db import sqlite_path

    database = sqlite_path(engine.url)
    return None if database is None else Path(f"{database}.locks")


def hub_lock(
    engine: Engine,
    hub_name: str,
    *,
    wait: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> contextlib.AbstractContextManager[None]:
    """Hold the hub's lock for the body. ``wait``: seconds to wait for a busy hub (``None``:
    as long as it takes, ``0``: not at all); ``HubBusy`` when it stays busy. ``on_wait`` is
    called once if the hub is busy and the caller is to wait: a command that sat silent
    behind another run looked hung. ``hub_name`` may be any spelling (``stored_name``)."""
    return _hub_lock(engine, stored_name(engine, hub_name), wait=wait, on_wait=on_wait)


@contextlib.contextmanager
def _hub_lock(
    engine: Engine,
    hub_name: str,
    *,
    wait: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """``hub_lock`` of the name as stored."""
    deadline = None if wait is None else time.monotonic() + wait
    told = False

    def waiting() -> bool:
        nonlocal told
        if not told and on_wait is not None and (deadline is None or deadline > time.monotonic()):
            told = True
            on_wait()
        return _wait_more(deadline)

    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, hub_name, waiting):
            yield
        return
    directory = _lock_dir(engine)
    if directory is not None:
        with _file_lock(directory, hub_name, waiting):
            yield
        return
    with _process_lock(hub_name, deadline, on_wait):
        yield


@contextlib.contextmanager
def hub_locks(
    engine: Engine, hub_names: Iterable[str], on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the locks of several hubs (``apply`` of a file naming them), waiting for each
    as long as it takes, in one order (two callers never hold one each of two). On
    PostgreSQL all on one connection: a connection per hub emptied the pool for a file of
    twenty hubs. Each keyed by its stored name (``stored_name``)."""
    names = sorted(set(stored_names(engine, hub_names).values()))
    if engine.dialect.name != "postgresql":
        with contextlib.ExitStack() as held:
            for name in names:
                told = (lambda n=name: on_wait(n)) if on_wait is not None else None
                held.enter_context(_hub_lock(engine, name, on_wait=told))
            yield
        return
    conn = engine.connect()
    taken: list[int] = []
    try:
        for name in names:
            key, said = lock_key(name), False
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                conn.commit()
                if not said and on_wait is not None:
                    said = True
                    on_wait(name)
                time.sleep(POLL)
            conn.commit()
            taken.append(key)
        yield
    finally:
        for key in taken:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        conn.commit()
        conn.close()


def _busy(hub_name: str) -> HubBusy:
    return HubBusy(f"hub {hub_name!r} is being synced by another run; try again when it ends")


def _wait_more(deadline: float | None) -> bool:
    if deadline is not None and time.monotonic() >= deadline:
        return False
    time.sleep(POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic())))
    return True


@contextlib.contextmanager
def _postgres_lock(engine: Engine, hub_name: str, waiting: Callable[[], bool]) -> Iterator[None]:
    key = lock_key(hub_name)
    conn = engine.connect()
    try:
        while True:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            conn.commit()  # no transaction stays open while the run goes on
            if got:
                break
            if not waiting():
                raise _busy(hub_name)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def _file_lock(directory: Path, hub_name: str, waiting: Callable[[], bool]) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # beside the store: its owner's
    path = directory / (hashlib.sha256(hub_name.encode()).hexdigest()[:32] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting():
                    raise _busy(hub_name) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _process_lock(
    hub_name: str, deadline: float | None, on_wait: Callable[[], None] | None
) -> Iterator[None]:
    with _local_guard:
        lock = _local_locks.setdefault(hub_name, threading.Lock())
    if not lock.acquire(blocking=False):
        timeout = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if timeout == 0.0:
            raise _busy(hub_name)
        if on_wait is not None:
            on_wait()
        if not lock.acquire(timeout=timeout):
            raise _busy(hub_name)
    try:
        yield
    finally:
        lock.release()
