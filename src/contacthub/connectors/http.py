"""The HTTP client every API connector uses: retries, rate limits, one refresh on 401, and
vendor errors translated into ``contacthub.errors`` at this one boundary.

Why one client: every hosted API we speak (Procore, Pipedrive, Microsoft Graph, CardDAV
servers) fails in the same few ways, and each way has one right answer:

    transport error, 500/502/504   retry with exponential backoff, then ``RetriableError``
                                   (a POST only when it was never sent: it may have created)
    429, 503                       wait ``Retry-After`` (seconds or an HTTP date), then retry
    401                            ask the ``Auth`` to refresh once, then ``FatalConnectorError``
    any other status               returned; ``error_for`` turns it into the right error

Answers are streamed and read here; a request given a ``limit`` (bytes) stops reading past
it with ``AnswerTooLargeError`` (a ``Content-Length`` over it: nothing of the body is read),
so a server answering with gigabytes costs at most the limit of memory. It is never retried:
the same server would send the same answer. Such a request asks for ``gzip``, ``deflate`` or
no compression (``ACCEPT_ENCODING``) and unpacks the answer itself, a bounded step at a time
(``_Unpacker``): httpx unpacks a whole wire chunk at once, and 64 KB of gzip can be 64 MB,
so a 3 KB answer gzipped twice made the process hold gigabytes before the bound was checked.
An answer in another encoding, or in several stacked, is refused unread (``RetriableError``:
nothing is concluded from it), as is one that does not unpack.

Rate limits are read from the response headers the vendor names (``RateHeaders``): when the
remaining budget reaches ``reserve`` the client sleeps until the window resets instead of
running into a 429. Failed calls count too, because vendors count them. ``calls`` counts
requests by method for benchmarks and metrics; ``waited`` is the time spent sleeping.

Nothing here logs a header or a body: tokens never leave this module except on the wire.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from contacthub.connectors.card_source import size_text
from contacthub.errors import (
    AnswerTooLargeError,
    ConnectorError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    RejectedRecordError,
    RetriableError,
    StaleVersionError,
)
from contacthub.redact import redact, scrub, sent_secrets
from contacthub.times import utc


class Transport(httpx.BaseTransport):
    """httpx's own transport, with the part that speaks TLS built on the first https://
    request. An ``httpx.HTTPTransport`` loads the whole certificate store when it is made
    (50-90 ms), which a run against a plain-HTTP server (a Radicale on the LAN, an emulator)
    never uses: plain requests go through a transport without one. ``verify`` is httpx's
    (True, a CA bundle path, an ``ssl.SSLContext``); ``options`` go to both transports."""

    def __init__(self, verify: ssl.SSLContext | str | bool = True, **options: Any) -> None:
        self.verify = verify
        self.options = options
        self._plain: httpx.HTTPTransport | None = None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.HTTPTransport(verify=self.verify, **self.options)
            return self._tls.handle_request(request)
        if self._plain is None:
            # no TLS is ever spoken here: the schemes decide, and proxies have their own
            self._plain = httpx.HTTPTransport(verify=False, **self.options)
        return self._plain.handle_request(request)

    def close(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                transport.close()


class Auth(Protocol):
    """Credentials for requests: ``headers`` to send, ``refresh`` after a 401 (False when
    there is nothing to refresh, which makes the 401 fatal)."""

    def headers(self) -> dict[str, str]: ...

    def refresh(self) -> bool: ...


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        return False


class HeaderAuth:
    """A fixed credential in a header: an API token, a basic-auth pair, a static bearer."""

    def __init__(self, name: str, value: str) -> None:
        self._header = {name: value}

    def headers(self) -> dict[str, str]:
        return dict(self._header)

    def refresh(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """The names of a vendor's rate-limit headers, and whether ``reset`` is a Unix time
    (Procore) or seconds from now (Pipedrive)."""

    limit: str = "X-Rate-Limit-Limit"
    remaining: str = "X-Rate-Limit-Remaining"
    reset: str = "X-Rate-Limit-Reset"
    reset_is_epoch: bool = True


#: hosts that are this machine: a refused connection there is a server not started
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
RETRY_STATUSES = frozenset({429, 503})
BACKOFF_STATUSES = frozenset({500, 502, 504})


class ApiClient:
    """One API's client; see the module docstring. ``sleep`` and ``clock`` are injectable so
    tests of waiting take no time."""

    def __init__(
        self,
        base_url: str,
        *,
        connector: str,
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
        rate_headers: RateHeaders | None = None,
        reserve: int = 1,
        max_attempts: int = 6,
        max_wait: float = 120.0,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connector = connector
        self.auth: Auth = auth or NoAuth()
        self.rate_headers = rate_headers
        self.reserve = reserve
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self.waited = 0.0
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self._http = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport or Transport(),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> httpx.Response:
        """Send one request with the retries of the module docstring; the response of any
        status that is not retried (the caller checks it, ``error_for`` translates it),
        read whole unless its body is over ``limit`` bytes (``AnswerTooLargeError``)."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_budget()
            merged = {**self.auth.headers(), **(headers or {})}
            self.calls[method.upper()] += 1
            try:
                request = self._http.build_request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    content=content,
                    headers=merged,
                )
                if limit is not None and "accept-encoding" not in {k.lower() for k in merged}:
                    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
                response = self._http.send(request, stream=True)
                try:
                    _read_within(response, limit, self.connector)
                finally:
                    response.close()
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt >= self.max_attempts or (sent and not self._may_repeat(method)):
                    raise RetriableError(self._unreachable(exc), self.connector) from exc
                self._pause(self._backoff(attempt))
                continue
            self._read_budget(response)
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                if self.auth.refresh():
                    attempt -= 1
                    continue
            if status == 401:
                raise FatalConnectorError(
                    f"{self._host()} refused the credentials ({message_of(response)}); "
                    "check them in the hub file or sign in again with `contacthub connect`",
                    self.connector,
                )
            if status in RETRY_STATUSES or status in BACKOFF_STATUSES:
                # a 500/502/504 may come after the server did the work: a POST is not sent twice
                unsafe = status in BACKOFF_STATUSES and not self._may_repeat(method)
                if attempt >= self.max_attempts or unsafe:
                    raise RetriableError(
                        f"{self._host()} answered {status} {attempt} times ({message_of(response)}); "
                        "the next run will try again",
                        self.connector,
                    )
                delay = retry_after(response, self.clock()) if status in RETRY_STATUSES else None
                self._pause(self._backoff(attempt) if delay is None else delay)
                continue
            return response

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _may_repeat(method: str) -> bool:
        """Whether a request whose answer was lost may be sent again: not a POST, which may
        have created something (a second create would be a duplicate). 429 and 503 say the
        server did nothing, so those are retried for every method."""
        return method.upper() != "POST"

    def _host(self) -> str:
        return str(self._http.base_url.copy_with(path="/", query=None)).rstrip("/")

    def _unreachable(self, exc: httpx.TransportError) -> str:
        """Why the server could not be reached, and what to do. Nothing listening on this
        machine is no passing outage: "try again later" never helped a person whose
        server (the demo's emulators, say, which stop with ``demo``) was not started. What
        to check is said, not a command: the client cannot tell the demo's emulators from
        a person's own server on this machine, and `contacthub demo --serve` was suggested
        for every hub (it starts new emulators on other ports, and never a person's own
        server); the demo says itself that its emulators stop with it."""
        if isinstance(exc, httpx.ConnectError) and self._http.base_url.host in _LOOPBACK:
            return (
                f"nothing answers at {self._host()} on this machine ({type(exc).__name__}): check"
                " the server address in the hub file and that the server there is running"
            )
        return f"{self._host()} cannot be reached ({type(exc).__name__}); try again later"

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait, 0.5 * 2 ** (attempt - 1) * (1 + random.random() / 4)))

    def _pause(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, self.max_wait))
        if seconds:
            self.waited += seconds
            self.sleep(seconds)

    def _read_budget(self, response: httpx.Response) -> None:
        names = self.rate_headers
        if names is None:
            return
        remaining = _int(response.headers.get(names.remaining))
        reset = _float(response.headers.get(names.reset))
        if remaining is None:
            return
        self.remaining = remaining
        if reset is not None:
            self.reset_at = reset if names.reset_is_epoch else self.clock() + reset

    def _wait_for_budget(self) -> None:
        if self.remaining is None or self.remaining > self.reserve or self.reset_at is None:
            return
        delay = self.reset_at - self.clock()
        self.remaining = None
        if delay > 0:
            self._pause(delay + 0.05)


#: what a request with a ``limit`` accepts: what ``_Unpacker`` unpacks a step at a time
ACCEPT_ENCODING = "gzip, deflate, identity"
#: the most one unpacking step makes, so the memory held past the bound is at most this
_STEP = 64 * 1024


def _read_within(response: httpx.Response, limit: int | None, connector: str) -> None:
    """Read a streamed answer into ``response.content``, stopping past ``limit`` bytes of
    it, counted both as sent and as unpacked (``_Unpacker``: never more than ``_STEP`` at
    once). httpx's own ``read`` keeps what it read in ``_content``; so does this, the one
    place outside httpx that sets it, which is what lets every caller keep using
    ``response.content``. Without a limit, httpx reads and unpacks it as it always did."""
    if limit is None:
        response.read()
        return
    said = _int(response.headers.get("Content-Length"))
    parts: list[bytes] = []
    size = 0
    if said is None or said <= limit:
        unpacker = _Unpacker(response, connector)
        sent = 0
        for raw in response.iter_raw():
            sent += len(raw)
            for chunk in unpacker.feed(raw):
                size += len(chunk)
                if size > limit:
                    break
                parts.append(chunk)
            if size > limit or sent > limit:
                break
        else:
            unpacker.end()
            response._content = b"".join(parts)
            return
    path = response.request.url.path
    raise AnswerTooLargeError(
        f"the answer to {response.request.method} {path} is over {size_text(limit)}"
        f"{f' ({size_text(said)})' if said is not None and said > limit else ''}: not read further",
        connector,
        limit,
    )


class _Unpacker:
    """The body of an answer as sent (``iter_raw``) unpacked by its ``Content-Encoding``
    (``gzip``, ``deflate``, ``identity`` or none: ``ACCEPT_ENCODING``), each ``feed``
    giving pieces of at most ``_STEP`` bytes, so the caller can stop at its bound before
    more is made (zlib's ``max_length``; what is left waits in ``unconsumed_tail``).
    Another encoding, or two stacked (``gzip, gzip``: a 3 KB answer that is 2 GB
    unpacked), is refused before anything is read; a body that does not unpack too. As
    httpx does, a gzip body ends with its first member, and ``deflate`` is zlib's format
    or, as some servers send it, a raw deflate stream."""

    def __init__(self, response: httpx.Response, connector: str) -> None:
        self.response = response
        self.connector = connector
        said = response.headers.get("Content-Encoding", "")
        codings = [c.strip().lower() for c in said.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise self._refused(f"is encoded {said.strip()!r}, which contacthub does not unpack")
        self.coding = codings[0] if codings else None
        self._zlib: Any = None
        self._head = b""  # (deflate: the first bytes, until they say which format it is)

    def feed(self, raw: bytes) -> Iterator[bytes]:
        if self.coding is None:
            if raw:
                yield raw
            return
        if self._zlib is None:
            if self.coding != "deflate":
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                self._head += raw
                if len(self._head) < 2:
                    return
                raw, self._head = self._head, b""
                cmf, flg = raw[0], raw[1]
                wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        unpack = self._zlib
        while not unpack.eof:
            try:
                piece = unpack.decompress(raw, _STEP)
            except zlib.error as exc:
                raise self._refused(f"does not unpack as {self.coding} ({exc})") from None
            if piece:
                yield piece
            raw = unpack.unconsumed_tail
            if not raw and len(piece) < _STEP:
                return  # (a full step may leave more made from input already given)

    def end(self) -> None:
        """After the last ``feed``: a deflate body of one byte is no body."""
        if self._head:
            raise self._refused(f"does not unpack as {self.coding} (1 byte)")

    def _refused(self, why: str) -> RetriableError:
        request = self.response.request
        return RetriableError(
            f"the answer to {request.method} {request.url.path} {why}: not read (it asks for "
            f"{ACCEPT_ENCODING})",
            self.connector,
        )


def retry_after(response: httpx.Response, now: float) -> float | None:
    """``Retry-After`` in seconds from now (it may be a number or an HTTP date). A date at
    ``-0000`` parses without a zone: it is UTC (``times.utc``), not the machine's local time,
    which made Tokyo wait 0 s and fail the run on its retries; one UTC cannot hold is none."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    number = _float(value)
    if number is not None:
        return max(0.0, number)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    moment = utc(when)
    return max(0.0, moment.timestamp() - now) if moment is not None else None


def message_of(response: httpx.Response) -> str:
    """The vendor's own words for an error, short: the common JSON error shapes of the APIs
    we speak, else the start of the body, else the status text; never a secret the request
    carried, nor one of a known shape (``contacthub.redact``), masked before the words are
    cut short (a cut secret still gave its first letters)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if not text or "<" in text[:1]:
            said = _dav_error(response.content) if text else None
            return _unsaid(response, said)[:200] if said else f"HTTP {response.status_code}"
        return _unsaid(response, text)[:200]
    found = _find_message(body)
    return _unsaid(response, found)[:300] if found else f"HTTP {response.status_code}"


def _dav_error(body: bytes) -> str | None:
    """The words of a WebDAV error body (RFC 4918 ``DAV:error``), which CardDAV servers
    send with a refused card: its ``message`` (SabreDAV's: Nextcloud, Baïkal), else the
    preconditions it names (``valid-address-data``). None for any other markup: an HTML
    page (a proxy's) is never echoed. Parsed as ``carddav_xml`` parses answers (expat
    refuses entity bombs, fetches no external entity)."""
    if len(body) > 65536:
        return None
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return None
    if _local(root.tag) != "error":
        return None
    for element in root.iter():
        if _local(element.tag) == "message" and element.text and element.text.strip():
            return " ".join(element.text.split())
    named = [_local(child.tag) for child in root if _local(child.tag) not in _SABRE_INFO]
    return ", ".join(named) or None


_SABRE_INFO = frozenset({"sabredav-version", "exception", "file", "line", "code"})


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _unsaid(response: httpx.Response, text: str) -> str:
    try:
        request = response.request
    except RuntimeError:  # (a response made without one, in tests)
        return redact(text)
    return scrub(text, sent_secrets(request))


def _find_message(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        parts = [m for m in (_find_message(item) for item in body[:3]) if m]
        return "; ".join(parts) or None
    if not isinstance(body, dict):
        return None
    for key in ("error_description", "message", "error", "errors", "error_info", "detail"):
        if body.get(key):
            value = body[key]
            if isinstance(value, dict) and not any(k in value for k in ("message", "error", "detail")):
                return "; ".join(f"{k} {_find_message(v) or v}" for k, v in list(value.items())[:5])
            found = _find_message(value)
            if found:
                return found
    return None


def error_for(
    response: httpx.Response, connector: str, *, record: str | None = None, what: str = ""
) -> ConnectorError:
    """The ``contacthub.errors`` error for a response the caller did not expect.

    With ``record`` (a write or a read of one record) a refusal is that record's problem and
    the run goes on; without it (a listing, the company, the address book) 403 and 404 mean
    the connector cannot work, naming ``what`` it could not reach."""
    status = response.status_code
    message = message_of(response)
    if record is not None:
        if status == 404 or status == 410:
            return RecordNotFoundError(f"not found ({message})", record, connector)
        if status == 412 or status == 409:
            return StaleVersionError(f"changed by someone else ({message})", record, connector)
        if status in (400, 413, 422):
            # the values are invalid (a validation message) or too large for the system
            # (a CardDAV server's size limit): tried and reported on every run until
            # they change
            return RejectedRecordError(f"refused with {status}: {message}", record, connector)
        if 400 <= status < 500:
            return RecordError(f"refused with {status}: {message}", record, connector)
        return RetriableError(f"{status} while writing {record}: {message}", connector)
    target = what or "the API"
    if status == 403:
        return FatalConnectorError(f"access to {target} was refused (403: {message})", connector)
    if status == 404:
        return FatalConnectorError(f"{target} was not found (404: {message}); check the settings", connector)
    if 400 <= status < 500:
        return FatalConnectorError(f"{target} refused the request ({status}: {message})", connector)
    return RetriableError(f"{target} answered {status} ({message}); the next run will try again", connector)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
