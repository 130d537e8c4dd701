"""A bounded answer (``ApiClient.request``'s ``limit``) that comes compressed: unpacked a
step at a time, so the bound holds for memory too; stacked or unknown encodings refused.

A server on 127.0.0.1 sends what each path names. The bombs are zeros gzipped: 256 MB in
about 250 KB on the wire, under a 1 MB bound as sent. httpx unpacked each 64 KB it read
at once (64 MB) before the bound was looked at; twice gzipped, 512 MB come of 1 KB (2 GB
of 3 KB in QA's case: 4 GB of memory). What the
client costs is measured in a process of its own (its peak RSS, before and after the
request), so the server's and pytest's memory are not counted."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contacthub.connectors.http import ApiClient
from contacthub.errors import AnswerTooLargeError, RetriableError

MB = 2**20
#: the most the client process may grow by while refusing a bomb with a 1 MB bound: the
#: bound, what is joined of it, a step, httpx's buffers; without the step-wise unpacking
#: the single bomb grew it by 64 MB or more and the stacked one by gigabytes
GROWTH = 24 * MB
#: what a bounded request accepts: what it unpacks a step at a time
ASKED = "gzip, deflate, identity"


def _gzip(chunks: Iterator[bytes], wbits: int = 31) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join([*(packer.compress(c) for c in chunks), packer.flush()])


def _zeros(total: int) -> Iterator[bytes]:
    return (bytes(4 * MB) for _ in range(total // (4 * MB)))


class _Server(http.server.ThreadingHTTPServer):
    #: path -> (Content-Encoding or None, body, whether a Content-Length is sent)
    answers: dict[str, tuple[str | None, bytes, bool]]
    #: the Accept-Encoding of each request, by path
    asked: dict[str, str | None]
    url: str


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_REPORT(self) -> None:
        server: Any = self.server
        server.asked[self.path] = self.headers.get("Accept-Encoding")
        encoding, body, declare = server.answers[self.path]
        self.send_response(207)
        self.send_header("Content-Type", "application/xml")
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        if declare:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # (without a length: the answer ends when the connection does)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    bomb = _gzip(_zeros(256 * MB))
    inner = _gzip(_zeros(512 * MB))
    text = b"".join(b"BEGIN:VCARD\r\nNOTE:%d\r\nEND:VCARD\r\n" % i for i in range(100_000))
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.answers = {
        "/bomb": ("gzip", bomb, True),
        "/bomb-nolen": ("gzip", bomb, False),
        "/stacked": ("gzip, gzip", _gzip(iter([inner])), True),
        "/gzip": ("gzip", _gzip(iter([text])), True),
        "/x-gzip": ("X-GZIP", _gzip(iter([text])), False),
        "/deflate": ("deflate", _gzip(iter([text]), 15), True),
        "/raw-deflate": ("deflate", _gzip(iter([text]), -15), True),
        "/identity": ("identity", text, True),
        "/plain": (None, text, False),
        "/br": ("br", b"\x0b\x02\x80hello\x03", True),
        "/broken": ("gzip", b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10, True),
    }
    srv.asked = {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = f"http://127.0.0.1:{srv.server_port}"
    yield srv
    srv.shutdown()
    srv.server_close()


_CLIENT = """
import json, resource, sys
from contacthub.connectors.http import ApiClient
client = ApiClient(sys.argv[1], connector="dav", max_attempts=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    client.request("REPORT", sys.argv[2], limit=2**20)
    error = None
except Exception as exc:
    error = [type(exc).__name__, str(exc)]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "growth": (after - before) * 1024}))
"""


def _in_a_process(url: str, path: str) -> dict[str, Any]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, url, path], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("path", ["/bomb", "/bomb-nolen"])
def test_a_gzip_bomb_is_refused_at_the_bound_holding_no_more_than_it(server: _Server, path: str) -> None:
    result = _in_a_process(server.url, path)
    assert result["error"] == [
        "AnswerTooLargeError",
        "the answer to REPORT " + path + " is over 1 MB: not read further",
    ]
    assert result["growth"] < GROWTH, f"the client grew by {result['growth'] // MB} MB"


def test_stacked_encodings_are_refused_unread(server: _Server) -> None:
    """``gzip, gzip``: httpx unpacked both, the bound counting only what came out."""
    result = _in_a_process(server.url, "/stacked")
    assert result["growth"] < GROWTH, f"the client grew by {result['growth'] // MB} MB"
    assert result["error"] is not None and result["error"][0] == "RetriableError"
    assert "encoded 'gzip, gzip', which contacthub does not unpack" in result["error"][1]


@pytest.mark.parametrize("path", ["/gzip", "/x-gzip", "/deflate", "/raw-deflate", "/identity", "/plain"])
def test_an_answer_within_the_bound_is_read_whole_in_each_encoding_asked_for(
    server: _Server, path: str
) -> None:
    client = ApiClient(server.url, connector="dav", max_attempts=1)
    answer = client.request("REPORT", path, limit=4 * MB)
    text = b"".join(b"BEGIN:VCARD\r\nNOTE:%d\r\nEND:VCARD\r\n" % i for i in range(100_000))
    assert answer.content == text  # (3.3 MB: many steps of unpacking)
    assert answer.text.startswith("BEGIN:VCARD")
    assert server.asked[path] == ASKED


def test_an_unpacked_answer_over_the_bound_is_refused(server: _Server) -> None:
    client = ApiClient(server.url, connector="dav", max_attempts=1)
    with pytest.raises(AnswerTooLargeError, match=r"REPORT /deflate is over 1 MB: not read further"):
        client.request("REPORT", "/deflate", limit=MB)


@pytest.mark.parametrize(
    ("path", "why"),
    [("/br", "is encoded 'br', which contacthub does not unpack"), ("/broken", "does not unpack as gzip")],
)
def test_an_answer_in_another_encoding_or_broken_is_an_error_not_its_bytes(
    server: _Server, path: str, why: str
) -> None:
    """Before, httpx passed an unknown encoding's bytes on as if they were the answer."""
    client = ApiClient(server.url, connector="dav", max_attempts=1)
    with pytest.raises(RetriableError, match=why) as caught:
        client.request("REPORT", path, limit=MB)
    assert caught.value.connector == "dav"


def test_a_request_without_a_bound_is_unpacked_by_httpx_as_before(server: _Server) -> None:
    client = ApiClient(server.url, connector="dav", max_attempts=1)
    assert client.request("REPORT", "/gzip").content.startswith(b"BEGIN:VCARD\r\nNOTE:0\r\n")
    assert server.asked["/gzip"] == "gzip, deflate"  # httpx's own
