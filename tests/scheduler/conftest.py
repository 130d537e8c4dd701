from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.scheduler.fleet import redis_binary, redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server for this test session (Debian's ``redis-server``)."""
    binary = redis_binary()
    if binary is None:
        message = "redis-server is not installed (scripts/test.sh installs Debian's redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with redis_server(binary) as url:
        yield url
