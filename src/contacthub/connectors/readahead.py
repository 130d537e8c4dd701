"""Reading ahead on the other core: a forked worker process works through the batches of a
long read while the engine folds the records already read into the hub.

A first sync of a big vCard folder spends about half its time reading and parsing files
and half in the engine and the store. Both are CPU-bound Python, so threads would only take
turns; a second process is the one way to use a second core. The worker is forked, so it
starts in milliseconds with everything already imported and the connector already built:
only the batches (a list of names) go to it and the results come back, pickled.

Forking is only safe, and only pays, in some processes; ``read_ahead`` quietly does the
work in process instead when it is not:

* a short read (fewer than ``minimum`` items): the fork costs more than it saves;
* one usable core;
* other threads running (a fork copies locks another thread may hold: the web server and
  the in-process scheduler run threads), or a daemonic process (Celery's pool workers),
  which may not have children;
* the worker dies or a result cannot be sent back: the rest of the batches, the failed one
  included, are done in process, so a record is never lost or read twice (and an error of
  the task itself is raised there, as it would have been without a worker).

When the worker falls behind (the engine is waiting for its next batch), this process
reads the next batch itself instead of waiting, so both cores stay busy whichever side is
faster. The order of the results is the order of the items, whichever way they were made.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# ``multiprocessing`` and ``concurrent.futures`` are imported when a worker is about to be
# forked: a run that reads a few files (most runs) does not pay for them at start-up

T = TypeVar("T")
R = TypeVar("R")

#: a read shorter than this is done in process
MINIMUM = 2000

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
_TASK: list[Callable[[Any], Any]] = []  # the task, in the worker (inherited through the fork)


def _install(task: Callable[[Any], Any], parent: int) -> None:
    """Worker start-up: remember the task; no garbage collection, so that no object copied
    from the parent (a database connection among them) is ever finalised in the worker; and
    die with the parent: a worker left running after its run was killed would go on writing
    files while the next run reads them."""
    gc.disable()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # killed before the line above took effect
        os._exit(1)
    _TASK.append(task)


def _call(batch: Any) -> Any:
    return _TASK[0](batch)


def worker_pool(task: Callable[[Any], Any]) -> ProcessPoolExecutor:
    """A one-worker pool, forked (check ``can_fork`` first), whose worker runs ``task``:
    give it a batch with ``in_worker``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_install,
        initargs=(task, os.getpid()),
    )


def in_worker(pool: ProcessPoolExecutor, batch: Any) -> Future[Any]:
    """``task(batch)`` in the worker of a ``worker_pool``."""
    return pool.submit(_call, batch)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not Linux)
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether a worker may be forked from this process now (see the module docstring)."""
    import multiprocessing

    return (
        "fork" in multiprocessing.get_all_start_methods()
        and usable_cores() > 1
        and threading.active_count() == 1
        and not multiprocessing.current_process().daemon
    )


def read_ahead(
    task: Callable[[list[T]], list[R]],
    items: Sequence[T],
    *,
    batch: int = 250,
    depth: int = 3,
    minimum: int | None = None,
) -> Iterator[R]:
    """The results of ``task`` over ``items`` in batches, in order, with up to ``depth``
    batches done ahead in a worker process (see the module docstring for when it is not).

    ``task`` must be a function of a list that returns a list of picklable results, and
    must not write anything: the worker is a copy of this process, the parent's state is
    never updated from it."""
    batches = [list(items[i : i + batch]) for i in range(0, len(items), batch)]
    if len(items) < (MINIMUM if minimum is None else minimum) or not can_fork():
        for part in batches:
            yield from task(part)
        return
    from concurrent.futures.process import BrokenProcessPool

    pool = worker_pool(task)
    # in order: batches given to the worker (futures) and batches read here (their results)
    pending: deque[Future[list[R]] | list[R]] = deque()
    given = 0  # batches handed out, to the worker or read here
    done = 0  # batches whose results have been yielded
    try:
        try:
            while given < min(depth, len(batches)):
                pending.append(in_worker(pool, batches[given]))
                given += 1
        except (BrokenProcessPool, OSError):
            pending.clear()  # the worker could not start: all in process
            given = 0
        while pending:
            head = pending[0]
            if (
                not isinstance(head, list)
                and not head.done()
                and given < len(batches)
                and len(pending) <= depth
            ):
                # the worker is behind: read the next batch here rather than wait for it
                pending.append(task(batches[given]))
                given += 1
                continue
            try:
                results = head if isinstance(head, list) else head.result()
                pending.popleft()
                if given < len(batches) and sum(not isinstance(p, list) for p in pending) < depth:
                    pending.append(in_worker(pool, batches[given]))
                    given += 1
            except Exception:
                # the worker died, or a result could not be sent back, or the task failed:
                # the rest in process, from this batch on (where a failing task fails again)
                break
            done += 1
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for part in batches[done:]:
        yield from task(part)
