"""A CardDAV server answering with far more than a card or a listing: the connector stops
reading at its bound (``max_card_mb`` for a card, ``max_answer_mb`` for a listing or a
multiget), says which setting, and concludes no deletion from what it did not read.

A proxy in front of Radicale floods the answers the test picks with 64 MB sent in 64 KB
writes (with or without a ``Content-Length``) and counts what it managed to send before
the client hung up: without the bound the client read all 64 MB of each, into memory."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from contacthub.connectors.base import ConnectorConfig, Record
from contacthub.connectors.carddav import CardDavConnector
from contacthub.errors import AnswerTooLargeError, RecordError
from tests.radicale_server import Radicale, new_book, serve

FLOOD = 64 * 2**20
CHUNK = 64 * 1024
#: what a client that hangs up at its bound can still have been sent: the loopback's
#: socket buffers (a few MB at most), far below the flood
EARLY = 16 * 2**20


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    yield from serve(tmp_path_factory)


class _Flood(http.server.BaseHTTPRequestHandler):
    """Forwards to Radicale, except the requests ``server.flood(method, path, body)``
    picks: those are answered with ``FLOOD`` bytes (close-delimited, or with a
    ``Content-Length`` when ``server.declare``), and ``server.sent`` gets how many of them
    went out before the client closed the connection."""

    def _any(self) -> None:
        proxy: Any = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if proxy.flood(self.command, self.path, body):
            self._flood(proxy)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
        self.send_response(answer.status_code)
        for k, v in answer.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def _flood(self, proxy: Any) -> None:
        self.close_connection = True
        self.send_response(200 if self.command == "GET" else 207)
        self.send_header("Content-Type", "text/vcard" if self.command == "GET" else "application/xml")
        self.send_header("ETag", '"flood"')
        if proxy.declare:
            self.send_header("Content-Length", str(FLOOD))
        self.end_headers()
        sent = 0
        chunk = b"NOTE:" + b"x" * (CHUNK - 6) + b"\n"
        try:
            while sent < FLOOD:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            proxy.sent.append(sent)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(radicale: Radicale) -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    server.upstream = radicale.url
    server.flood = lambda method, path, body: False
    server.declare = False
    server.sent = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _card(uid: str, note: str = "") -> bytes:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{uid} Doe", f"N:Doe;{uid};;;"]
    lines += [f"EMAIL:{uid}@example.com", *([f"NOTE:{note}"] if note else []), "END:VCARD", ""]
    return "\r\n".join(lines).encode()


def _book(radicale: Radicale, proxy: Any) -> str:
    """A book of ann, bob and big, as the proxy serves it."""
    book = new_book(radicale)
    with radicale.client() as client:
        for name in ("ann", "bob", "big"):
            assert client.put(f"{book}{name}.vcf", content=_card(name)).status_code == 201
    return book.replace(radicale.url, f"http://127.0.0.1:{proxy.server_address[1]}")


def _make(url: str, radicale: Radicale, **settings: Any) -> CardDavConnector:
    values = {"url": url, "username": "alice", "password": radicale.users["alice"], **settings}
    return CardDavConnector(ConnectorConfig("dav", values))


def _floods(proxy: Any, count: int) -> list[int]:
    """The bytes sent by each flood, once ``count`` of them ended (the handler thread may
    finish its last write after the client has moved on)."""
    deadline = time.monotonic() + 20
    while len(proxy.sent) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(proxy.sent)


def _when(test: Callable[[str, str, bytes], bool]) -> Callable[[str, str, bytes], bool]:
    return test


@pytest.mark.parametrize("declare", [False, True], ids=["unsaid", "content-length"])
def test_a_huge_card_is_an_error_of_its_record_read_no_further(
    radicale: Radicale, proxy: Any, declare: bool
) -> None:
    book = _book(radicale, proxy)
    proxy.declare = declare
    proxy.flood = _when(lambda method, path, body: path.endswith("/big.vcf") or b"big.vcf" in body)
    connector = _make(book, radicale, max_card_mb=0.01, batch=10)  # 10485 bytes
    try:
        with pytest.raises(RecordError) as raised:
            connector.get("big.vcf")
        assert raised.value.record.endswith("big.vcf") and "max_card_mb" in raised.value.message
        assert "10485 bytes" in raised.value.message
        # a listing with big among the changed: its multiget is asked again in halves, the
        # others are read, big is its record's error, and nothing is taken as deleted
        known = {"ann.vcf": "old", "big.vcf": "old"}
        pull = connector.pull(None, known)
        got = list(pull.records)
        assert sorted(r.native_id or "" for r in got if isinstance(r, Record)) == ["ann.vcf", "bob.vcf"]
        [error] = [r for r in got if isinstance(r, RecordError)]
        assert error.record.endswith("big.vcf") and "max_card_mb" in error.message
        assert pull.deleted == set() and pull.complete
    finally:
        connector.close()
    # the GET, the batch of three, the half with big and big alone
    sent = _floods(proxy, 4)
    assert len(sent) == 4 and max(sent) < EARLY, sent


def test_a_huge_listing_fails_the_connector_read_no_further(radicale: Radicale, proxy: Any) -> None:
    book = _book(radicale, proxy)
    connector = _make(book, radicale, max_answer_mb=1)
    try:
        first = connector.pull(None, {})
        known = {r.native_id or "": r.version or "" for r in first.records if isinstance(r, Record)}
        assert len(known) == 3
    finally:
        connector.close()
    proxy.flood = _when(lambda method, path, body: b"sync-collection" in body)
    again = _make(book, radicale, max_answer_mb=1)
    try:
        with pytest.raises(AnswerTooLargeError) as raised:
            again.pull(first.cursor, known)  # no Pull: nothing taken for deleted
        assert "max_answer_mb" in raised.value.message and "1 MB" in raised.value.message
    finally:
        again.close()
    # read once: the book the cursor names is not looked for again on this error
    sent = _floods(proxy, 1)
    assert len(sent) == 1 and sent[0] < EARLY, sent
