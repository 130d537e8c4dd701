"""Writing behind on the other core: a forked worker makes a page of writes while the engine
records the page before and plans the page after.

The mirror of ``readahead``. A first copy into a vCard folder spends a third of its time
building and writing the new cards, CPU-bound Python that a thread could not overlap with
the engine's own work; a forked worker can, on the second core, and starts in milliseconds
with everything imported and the connector built. Only the page of writes goes to it and
only the results come back, pickled.

The worker is forked when the first big page comes (``MINIMUM`` writes: a page of a run
with more to come), only where ``readahead.can_fork`` says it is safe, and is kept for the
rest of the run (``close`` stops it). Small pages, and every page once the worker failed,
are written in process: the engine is told so (``submit`` returns None) and calls
``write`` itself.

The engine has its own work to do while a page is written (recording the page before,
planning the next), so the two sides share each page: the worker takes its head, and this
process writes its tail when it waits for the results, the split moving page by page
towards the point where neither waits for the other.

A task given to ``WriteBehind`` must be safe to run on two parts of a page at once, and
safe to repeat: when the worker dies, or a result cannot be sent back, its part is written
again in process, and some of those writes may have happened already (a new vCard file is
found again by its name and UID, and reported as written). An error of the task itself is
raised there, as it would be without a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from contacthub.connectors.readahead import can_fork, in_worker, worker_pool

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

#: a page shorter than this is written in process (a run this small gains nothing)
MINIMUM = 400
#: the part of a page done in this process: at first, at most, and the step it moves by
FIRST_SHARE, MOST_HERE, STEP = 0.25, 0.75, 0.05


class WriteBehind(Generic[T, R]):
    """A one-worker pool running ``task`` over pages, forked on first use."""

    def __init__(self, task: Callable[[list[T]], list[R]], minimum: int | None = None) -> None:
        self._task = task
        self._minimum = MINIMUM if minimum is None else minimum
        self._pool: ProcessPoolExecutor | None = None
        self._off = False  # no worker for this run: it could not be forked, or it failed
        self._share = FIRST_SHARE  # of each page, the part done in this process

    def submit(self, page: list[T]) -> Callable[[], list[R]] | None:
        """Start ``task(page)`` in the worker; what waits for its results, or None when the
        page is to be done in process (see the module docstring)."""
        if self._off or len(page) < self._minimum:
            return None
        from concurrent.futures.process import BrokenProcessPool

        if self._pool is None:
            if not can_fork():
                self._off = True
                return None
            self._pool = worker_pool(self._task)
        # the worker takes the head of the page; the tail is done in process when the
        # results are waited for, so neither side idles (see ``_balance``)
        cut = len(page) - int(len(page) * self._share)
        head, tail = page[:cut], page[cut:]
        try:
            future = in_worker(self._pool, head)
        except (BrokenProcessPool, OSError, RuntimeError):
            self._off = True
            return None

        def wait() -> list[R]:
            done_here = self._task(tail) if tail else []
            self._balance(future.done())
            try:
                results: list[R] = future.result()
            except Exception:
                # the worker died, a result could not be sent back, or the task failed:
                # the head again in process, and no worker for the rest of the run
                self._off = True
                results = self._task(head)
            return results + done_here

        return wait

    def _balance(self, worker_done: bool) -> None:
        """Move a little of the next pages to this process when the worker is still busy
        once this process has done its part, and back when the worker was done first: the
        two cores then finish a page at about the same time, whatever each side costs."""
        if worker_done:
            self._share = max(0.0, self._share - STEP)
        else:
            self._share = min(MOST_HERE, self._share + STEP)

    def close(self) -> None:
        """Stop the worker, after the page it is writing (a write is never cut short)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
