"""The PostgreSQL and Redis servers a benchmark runs against, shared by the scripts that
need them: the user's (a URL), else a throwaway one started from Debian's binaries."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from tests.conftest import _throwaway_server, find_postgres_bindir
from tests.scheduler.fleet import redis_binary, redis_server


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """``url`` (a server of the user's), else a throwaway server started here: Debian's
    binaries, 127.0.0.1, as the tests start theirs."""
    if url:
        yield url
        return
    bindir = find_postgres_bindir()
    if bindir is None:
        sys.exit("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)")
    with _throwaway_server(bindir) as server:
        yield server


@contextlib.contextmanager
def redis(url: str | None) -> Iterator[str]:
    """``url`` (a broker of the user's), else a throwaway ``redis-server`` on 127.0.0.1."""
    if url:
        yield url
        return
    binary = redis_binary()
    if binary is None:
        sys.exit("no redis-server (apt-get install redis-server)")
    with redis_server(binary) as server:
        yield server
