"""What every emulator shares: serving on 127.0.0.1, announcing where, rate-limit windows and
fault switches.

``serve`` binds the socket before it prints, so the first line on stdout (one JSON object
with ``url`` and ``port``) is true the moment it is read: tests and the demo start an
emulator with ``--port 0`` and read that line. ``background`` runs an app in a thread of the
calling process for tests that want no subprocess.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"


def _bind(port: int) -> socket.socket:
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it
    # every answer written in two parts waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    return sock


def serve(
    app: Any, port: int = 0, info: dict[str, Any] | None = None, block: Callable[[str], str] | None = None
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (0 picks a free one) until stopped; the first line
    on stdout is ``{"url": ..., "port": ..., **info}``, then ``block(url)``: a hub-file block
    to paste, with the address filled in once it is known."""
    import uvicorn

    sock = _bind(port)
    bound = sock.getsockname()[1]
    url = f"http://{HOST}:{bound}"
    print(json.dumps({"url": url, "port": bound, **(info or {})}), flush=True)
    if block is not None:
        print(block(url), flush=True)
    server = uvicorn.Server(server_config(app))
    server.run(sockets=[sock])


def server_config(app: Any, tls: tuple[str, str] | None = None) -> Any:
    """uvicorn's settings for an emulator: quiet, no lifespan, a short graceful shutdown;
    ``tls`` is (certificate file, key file) for the emulators that must speak https."""
    import uvicorn

    certfile, keyfile = tls or (None, None)
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


@contextmanager
def background(app: Any, tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Run ``app`` in a daemon thread on a free port; yields its base URL (https with
    ``tls``, see ``server_config``)."""
    import uvicorn

    sock = _bind(0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, tls))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{HOST}:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # clients may keep connections alive: do not wait for them
        thread.join(timeout=10)
        sock.close()


class RateWindow:
    """At most ``limit`` calls per ``period`` seconds (a sliding window), as vendors count
    them: every call counts, failed ones too. ``limit`` 0 means unlimited."""

    def __init__(self, limit: int, period: float, clock: Any = time.time) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self.calls: deque[float] = deque()
        self.lock = threading.Lock()

    def hit(self) -> tuple[bool, int, float]:
        """Count one call: (allowed, remaining, reset as a Unix time)."""
        now = self.clock()
        with self.lock:
            while self.calls and self.calls[0] <= now - self.period:
                self.calls.popleft()
            reset = (self.calls[0] if self.calls else now) + self.period
            if self.limit and len(self.calls) >= self.limit:
                self.calls.append(now)
                return False, 0, reset
            self.calls.append(now)
            remaining = max(0, self.limit - len(self.calls)) if self.limit else 1_000_000
            return True, remaining, reset


@dataclass
class Faults:
    """Switches a test (or ``--fault`` options) turns on to make the emulator misbehave the
    way the real service does on a bad day."""

    error_rate: float = 0.0  # share of requests answered 500/503
    slow_seconds: float = 0.0  # delay before every answer
    expire_tokens: bool = False  # every access token is refused as expired
    #: (Procore) the next listing call asking for this page is answered with the page after
    #: it, headers and all (``Total`` unchanged, ``Link`` next past it): a page skipped on
    #: the way, as a proxy or a server whose pages moved can do. Once, then back to 0
    skip_page: int = 0
    #: "METHOD /path/fragment" -> the status every such request is answered with, until the
    #: entry is removed (a write that fails while the rest works, for tests)
    fail: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._random.seed(self.seed)

    def server_error(self) -> bool:
        return self.error_rate > 0 and self._random.random() < self.error_rate

    def failing(self, method: str, path: str) -> int | None:
        """The status ``fail`` answers this request with, if any."""
        for key, status in self.fail.items():
            want, _, fragment = key.partition(" ")
            if want == method and fragment in path:
                return status
        return None
