"""The command line. Every user error ends in one message saying what and where, and a
non-zero exit; never a traceback. Heavy modules are imported inside the commands so that
``contacthub sync`` on an unchanged hub spends its time syncing, not importing.

The commands live in modules by what they are about (``syncing``: hubs and runs; ``server``:
servers, workers, emulators; ``users``: accounts and tokens), sharing ``common``. This module
is the entry point (``main``) and re-exports the names ``contacthub.cli`` always had."""

from __future__ import annotations

# isort: off
# Importing a module registers its commands on ``app``; ``contacthub --help`` lists them in
# the order the modules are imported here.
from contacthub.cli.common import EXIT_HELD, EXIT_USER, State, app, db, fail, main_options
from contacthub.cli.syncing import (
    apply,
    approve,
    conflicts,
    hubs,
    prune,
    reject,
    resolve,
    runs,
    show,
    sync,
    undo,
)
from contacthub.cli.server import LogFormat, LogLevel, beat, connect, demo, emulate, serve, webhooks, worker
from contacthub.cli.users import token_app, token_create, user_add, user_app

# isort: on

__all__ = [
    "EXIT_HELD",
    "EXIT_USER",
    "LogFormat",
    "LogLevel",
    "State",
    "app",
    "apply",
    "approve",
    "beat",
    "conflicts",
    "connect",
    "db",
    "demo",
    "emulate",
    "fail",
    "hubs",
    "main",
    "main_options",
    "prune",
    "reject",
    "resolve",
    "runs",
    "serve",
    "show",
    "sync",
    "token_app",
    "token_create",
    "undo",
    "user_add",
    "user_app",
    "webhooks",
    "worker",
]


def main() -> None:
    import gc

    # a run allocates many small dicts that live until it ends; the cyclic collector would
    # walk them again and again for nothing (our data has no reference cycles to free)
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        app()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            _exit_now(exc.code or 0)
        raise


def _exit_now(code: int) -> None:
    """End the process once a command is done, without the interpreter's teardown, which
    frees every object and module one by one: 50-60 ms of a 0.5 s sync, for memory the
    operating system takes back at once (mypy ends its runs the same way). Everything an
    exit does that anyone sees is done first: the stores closed (``close_databases``), the
    exit handlers run (log handlers flushed, temporary files removed, forked workers
    joined), the output flushed. Returns, for the normal exit, while another thread runs
    (``serve``'s: a normal exit joins it), under a profiler or tracer (``python -m cProfile``
    writes its figures once ``main`` returns), or if the output cannot be flushed."""
    import atexit
    import os
    import sys
    import threading

    from contacthub.store.db import close_databases

    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        return
    close_databases()
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # (None: the descriptor was closed, ``>&-``)
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
