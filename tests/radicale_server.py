"""A real Radicale server (from PyPI) for the CardDAV tests and the benchmark.

``Radicale(folder).start()`` runs ``python -m radicale`` on 127.0.0.1 on a free port with
htpasswd authentication (users and passwords given), ``owner_only`` rights and its storage
and log in ``folder``; ``stop()`` ends it (it is also ended when the test process ends).
``bench/carddav.py`` uses it too, with ``log_level="info"`` to count requests by method.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.net import free_port

if TYPE_CHECKING:  # the benchmark uses this module without pytest
    import pytest


class Radicale:
    def __init__(self, folder: Path, users: dict[str, str] | None = None, log_level: str = "warning") -> None:
        self.folder = folder
        self.users = users or {"alice": "wonderland-7", "bob": "builder-9"}
        self.log_level = log_level
        self.storage = folder / "collections"
        self.log = folder / "radicale.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Radicale:
        self.folder.mkdir(parents=True, exist_ok=True)
        htpasswd = self.folder / "users"
        htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        self.port = free_port()
        config = self.folder / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\n"
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {self.storage}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            f"level = {self.log_level}\n"
            "mask_passwords = True\n"
        )
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radicale exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/", timeout=1)
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("radicale did not start in 30 s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def client(self, user: str = "alice") -> httpx.Client:
        """A plain HTTP client signed in as ``user``: the tests' way to act as another
        CardDAV client, independent of the connector."""
        return httpx.Client(base_url=self.url, auth=(user, self.users[user]), timeout=30)

    def make_book(self, user: str, name: str) -> str:
        """Create an empty address book; its URL."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype>'
            "<d:collection/><c:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>"
        )
        with self.client(user) as http:
            response = http.request("MKCOL", f"/{user}/{name}/", content=body)
            assert response.status_code == 201, response.text
        return f"{self.url}/{user}/{name}/"

    def book_folder(self, user: str, name: str) -> Path:
        return self.storage / "collection-root" / user / name


def serve(factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    """A fixture body: one Radicale server, ended afterwards."""
    server = Radicale(factory.mktemp("radicale")).start()
    yield server
    server.stop()


def new_book(server: Radicale, user: str = "alice") -> str:
    """A new empty address book of ``user``'s: its URL."""
    return server.make_book(user, f"b{uuid.uuid4().hex[:10]}")
