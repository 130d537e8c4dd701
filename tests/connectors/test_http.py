"""The shared API client: retries, Retry-After, rate budgets, one refresh on 401, errors."""

from __future__ import annotations

import time

import httpx
import pytest

from contacthub.connectors.http import ApiClient, RateHeaders, Transport, error_for, message_of, retry_after
from contacthub.errors import (
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    RejectedRecordError,
    RetriableError,
    StaleVersionError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client(handler, clock: Clock, **kwargs) -> ApiClient:  # type: ignore[no-untyped-def]
    return ApiClient(
        "http://api.test",
        connector="c",
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock.time,
        **kwargs,
    )


def test_429_waits_retry_after_then_succeeds() -> None:
    clock = Clock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})])
    api = client(lambda request: next(answers), clock)
    assert api.request("GET", "/x").json() == {"ok": 1}
    assert clock.slept == [7.0]
    assert api.calls["GET"] == 2 and api.waited == 7.0


def test_5xx_backs_off_and_gives_up_as_retriable() -> None:
    clock = Clock()
    api = client(lambda request: httpx.Response(502, json={"message": "bad gateway"}), clock, max_attempts=3)
    with pytest.raises(RetriableError) as info:
        api.request("GET", "/x")
    assert "502" in info.value.message and "bad gateway" in info.value.message
    assert len(clock.slept) == 2 and clock.slept[1] > clock.slept[0]


def test_transport_errors_are_retried() -> None:
    clock = Clock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused")
        return httpx.Response(204)

    assert client(handler, clock).request("DELETE", "/x").status_code == 204


def test_budget_headers_make_the_client_wait_before_the_limit() -> None:
    clock = Clock()
    reset = clock.now + 10

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": str(reset)})

    api = client(handler, clock, rate_headers=RateHeaders())
    api.request("GET", "/a")
    api.request("GET", "/b")
    assert clock.slept and 10 <= clock.slept[0] < 10.5


def test_relative_reset_headers() -> None:
    clock = Clock()
    names = RateHeaders(
        "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", reset_is_epoch=False
    )
    api = client(
        lambda r: httpx.Response(200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}),
        clock,
        rate_headers=names,
    )
    api.request("GET", "/a")
    api.request("GET", "/b")
    assert clock.slept and 2 <= clock.slept[0] < 2.5


class Refreshing:
    def __init__(self) -> None:
        self.token = "old"
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> bool:
        self.refreshes += 1
        self.token = "new"
        return True


def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    auth = Refreshing()

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == "Bearer new"
        return httpx.Response(200 if ok else 401)

    assert client(handler, Clock(), auth=auth).request("GET", "/me").status_code == 200
    assert auth.refreshes == 1


def test_401_after_refresh_is_fatal_and_names_no_token() -> None:
    auth = Refreshing()
    api = client(lambda r: httpx.Response(401, json={"error": "invalid_token"}), Clock(), auth=auth)
    with pytest.raises(FatalConnectorError) as info:
        api.request("GET", "/me")
    assert auth.refreshes == 1
    assert "new" not in str(info.value) and "contacthub connect" in str(info.value)


def test_retry_after_as_http_date() -> None:
    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
    assert retry_after(response, 1445412480.0) == pytest.approx(10.0)


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_retry_after_as_http_date_at_minus_0000_is_utc(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-0000`` (``email.utils.formatdate``'s default) parses without a zone: read as local
    time, Tokyo waited 0 s (and the run failed "answered 429 N times"), Los Angeles the
    longest wait. It is UTC."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:10 -0000"})
        assert retry_after(response, 1445412480.0) == pytest.approx(10.0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_retry_after_beyond_utc_is_none() -> None:
    """A date UTC cannot hold is no date (not an OverflowError out of the client)."""
    response = httpx.Response(429, headers={"Retry-After": "Fri, 31 Dec 9999 23:00:00 -0100"})
    assert retry_after(response, 1445412480.0) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, RecordNotFoundError),
        (412, StaleVersionError),
        # invalid values: refused until the contact changes (``RejectedRecordError``)
        (400, RejectedRecordError),
        (422, RejectedRecordError),
        (413, RejectedRecordError),  # too large for the system (a CardDAV server's limit)
        # refused access or a rate limit: tried again on the next run
        (401, RecordError),
        (403, RecordError),
        (429, RecordError),
        (500, RetriableError),
    ],
)
def test_errors_for_one_record(status: int, kind: type[Exception]) -> None:
    error = error_for(httpx.Response(status, json={"errors": {"email": ["is invalid"]}}), "c", record="42")
    assert type(error) is kind
    if status == 422:
        assert "email is invalid" in str(error) or "is invalid" in str(error)


def test_errors_for_the_connector_name_what() -> None:
    error = error_for(httpx.Response(403, json={"message": "no access"}), "c", what="company 7")
    assert (
        isinstance(error, FatalConnectorError)
        and "company 7" in error.message
        and "no access" in error.message
    )


def test_message_of_html_body_is_not_echoed() -> None:
    assert message_of(httpx.Response(502, text="<html>proxy</html>")) == "HTTP 502"


def test_message_of_a_webdav_error_body_gives_its_words() -> None:
    """A CardDAV server's reason for refusing a card comes in a ``DAV:error`` body: its
    message (SabreDAV), else the precondition it names; both once read ``HTTP 4xx``."""
    sabre = (
        '<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">'
        "<s:exception>Sabre\\DAV\\Exception\\BadRequest</s:exception>"
        "<s:message>Invalid vCard:\n  two N properties; token=abc123secret</s:message></d:error>"
    )
    said = message_of(httpx.Response(400, text=sabre))
    assert said == "Invalid vCard: two N properties; token=********", said
    precondition = (
        '<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><C:valid-address-data/></D:error>'
    )
    assert message_of(httpx.Response(403, text=precondition)) == "valid-address-data"
    assert message_of(httpx.Response(400, text="<p>not <b>xml")) == "HTTP 400"
    assert message_of(httpx.Response(400, text="<html><body><error>x</error></body></html>")) == "HTTP 400"
    assert len(message_of(httpx.Response(400, text=sabre.replace("two N", "N " * 300)))) == 200


def test_a_post_is_not_repeated_after_a_5xx_or_a_lost_answer() -> None:
    clock = Clock()
    sent = []

    def failing(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(502)

    with pytest.raises(RetriableError):
        client(failing, clock).request("POST", "/persons", json={"name": "x"})
    assert sent == ["POST"]

    def lost(request: httpx.Request) -> httpx.Response:
        sent.append("lost")
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(RetriableError):
        client(lost, clock).request("POST", "/persons", json={"name": "x"})
    assert sent.count("lost") == 1

    answers = iter([httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(201, json={"id": 1})])
    assert client(lambda r: next(answers), clock).request("POST", "/persons").status_code == 201


def test_transport_loads_certificates_only_for_https(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain http:// never builds the verifying transport (whose certificate store costs
    50-90 ms a connector); https:// gets one, with the caller's ``verify``."""
    made: list[dict[str, object]] = []

    class Recording(httpx.BaseTransport):
        def __init__(self, **options: object) -> None:
            made.append(options)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, request=request, text=str(len(made)))

    monkeypatch.setattr(httpx, "HTTPTransport", Recording)
    with httpx.Client(transport=Transport(verify="/etc/ca.pem", retries=2)) as client:
        client.get("http://127.0.0.1:9/a")
        client.get("http://127.0.0.1:9/b")
        assert made == [{"verify": False, "retries": 2}]
        client.get("https://contacts.example.test/")
        client.get("https://contacts.example.test/again")
    assert made == [{"verify": False, "retries": 2}, {"verify": "/etc/ca.pem", "retries": 2}]


SECRET = "PDSECRETTOKEN123"


def test_a_vendor_echoing_the_request_never_puts_a_secret_into_an_error() -> None:
    """A server, a proxy or a debugging sign-in server that quotes the request in its
    error put the API token or the client secret into the run's errors, shown to every
    user of the hub and kept for good (QA). What the request carried in a header, the
    query or a form body whose name says it is secret is masked in the vendor's words,
    before they are cut short (a cut secret still gave its first letters)."""
    clock = Clock()

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": f"bad request {dict(request.headers)} {request.url}"})

    api = client(echo, clock, max_attempts=1, headers={"x-api-token": SECRET})
    with pytest.raises(RetriableError) as info:
        api.request("GET", "/persons", params={"api_token": SECRET + "Q"})
    assert SECRET not in info.value.message and "bad request" in info.value.message
    body = f"grant_type=client_credentials&client_id=cid&client_secret={SECRET}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic Y2lkOnNlY3JldC1iYXNpYy12YWx1ZQ==",  # cid:secret-basic-value
    }
    sent = httpx.Request("POST", "http://login.test/token", content=body.encode(), headers=headers)
    for words in (body, body[:60], "client cid:secret-basic-value refused"):
        answer = httpx.Response(
            401, json={"error": "invalid_client", "error_description": words}, request=sent
        )
        said = message_of(answer)
        assert SECRET[:6] not in said and "secret-basic-value" not in said, said


def test_a_runs_errors_never_hold_a_connectors_secret_setting() -> None:
    """Whatever said it (a sign-in library's error quoting the server, a vendor's words
    about a request it got another way): a run's errors are stored and shown to every user
    of the hub, so the connectors' secret settings are masked in them, URL-encoded too."""
    from contacthub.engine.context import Report

    report = Report(1, secrets=["s3cr3t/value+x", "tok"])
    report.error("p", "row tok", "refused: client_secret s3cr3t/value+x, again s3cr3t%2Fvalue%2Bx")
    [error] = report.errors
    assert "s3cr3t" not in error["message"] and error["message"].count("********") == 2
    assert error["record"] == "row tok"  # too short to mask: it would mask half of everything


def test_a_secret_echoed_in_another_encoding_is_masked_too() -> None:
    """A server quoting the request percent-encoded every sign ("Zq9%2Dhunter2%2Dpw"), or
    as HTML entities ("Zq9&#45;hunter2&#45;pw"), put the password into the run's errors (QA)."""
    from contacthub.redact import mask

    secret = "Zq9-hunter2-pw"
    for said in ("pw=Zq9%2Dhunter2%2Dpw", "pw=Zq9%2dhunter2%2dpw", "u:Zq9&#45;hunter2&#45;pw", secret):
        assert "hunter2" not in mask(f"refused ({said})", [secret]), said


def test_nothing_listening_on_this_machine_says_to_start_the_server() -> None:
    """``sync demo-cloud`` after the demo had ended said "127.0.0.1:36789 cannot be reached;
    try again later": no later try could work, the emulators were not running (QA). Then
    every hub's server on this machine was told to run ``contacthub demo --serve``, which
    starts the demo's emulators (on new ports), never the server the hub points at (QA)."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = ApiClient(f"http://127.0.0.1:{port}", connector="c", max_attempts=1)
    with pytest.raises(RetriableError) as info:
        api.request("GET", "/x")
    assert f"nothing answers at http://127.0.0.1:{port} on this machine" in info.value.message
    said = info.value.message
    assert "check the server address in the hub file and that the server there is running" in said
    assert "demo" not in said and "try again later" not in said
    elsewhere = client(
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")), Clock(), max_attempts=1
    )
    with pytest.raises(RetriableError) as info:
        elsewhere.request("GET", "/x")
    assert info.value.message == "http://api.test cannot be reached (ConnectError); try again later"
