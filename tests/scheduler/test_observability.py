"""Metrics after real runs, JSON logs, and no secret in any log line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from contacthub.cli import app as cli_app
from contacthub.scheduler import logs, metrics
from contacthub.scheduler.runner import run_requested
from contacthub.store.db import open_database
from contacthub.web import accounts
from contacthub.webhooks import tokens
from tests.net import free_port
from tests.scheduler.fleet import make_hubs, write_people


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_runs_are_counted_and_timed(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    folders = make_hubs(engine, tmp_path, 1, 4, prefix="metered")
    applied = sample("contacthub_runs_total", status="applied")
    created = sample("contacthub_changes_total", hub="metered000", connector="b", kind="create")
    timed = sample("contacthub_run_duration_seconds_count")
    first = run_requested(engine, "metered000", 0.0)
    assert first.result == "ran"
    assert sample("contacthub_runs_total", status="applied") == applied + 1
    assert sample("contacthub_changes_total", hub="metered000", connector="b", kind="create") == created + 4
    assert sample("contacthub_run_duration_seconds_count") == timed + 1
    # a request made before that run started is already served by it
    assert run_requested(engine, "metered000", 0.0).result == "satisfied"
    write_people(folders["metered000"][0], "new", 1)
    import time

    assert run_requested(engine, "metered000", time.time()).result == "ran"
    assert sample("contacthub_changes_total", hub="metered000", connector="b", kind="create") == created + 5
    assert run_requested(engine, "gone", time.time()).result == "missing"
    api = FastAPI()
    api.include_router(metrics.metrics_router(engine))
    admin = accounts.add_user(engine, "ops@example.com", "correct horse battery", admin=True)
    token = accounts.create_token(engine, admin)
    text = TestClient(api).get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'contacthub_changes_total{connector="b",hub="metered000",kind="create"} ' in text
    assert "contacthub_queue_depth" in text


SECRETS = [
    "redis://:hunter2pass@127.0.0.1:6379/0",
    "postgresql+psycopg://app:s3cretPW@db:5432/contacthub",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "client_secret=abcDEF123456",
    'refresh_token": "rt-0123456789"',
    "POST /hooks/procore/" + "A" * 32 + " HTTP/1.1",
    'HTTP Request: PROPFIND https://dav.example/books/?apikey=K3yVal9&sig=S1gVal9 "HTTP/1.1 207"',
]
LEAKS = [
    "hunter2pass",
    "s3cretPW",
    "eyJhbGciOiJIUzI1NiJ9",
    "abcDEF123456",
    "rt-0123456789",
    "A" * 32,
    "K3yVal9",
    "S1gVal9",
]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_reaches_a_log_line(fmt: str) -> None:
    stream = io.StringIO()
    logs.configure(fmt, "INFO")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        log = logging.getLogger("contacthub.test")
        for text in SECRETS:
            log.info("seen %s", text, extra={"hub": "team", "detail": text})
        log.warning("plain %s", "message")
        try:
            raise RuntimeError("cannot reach " + SECRETS[0])
        except RuntimeError:
            log.exception("failure")
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "%s" 200', SECRETS[-1])
    finally:
        logging.getLogger().handlers.clear()
    output = stream.getvalue()
    for leak in LEAKS:
        assert leak not in output
    assert "plain message" in output
    if fmt == "json":
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        assert lines[0]["hub"] == "team"
        assert any("error" in line for line in lines)


WEBHOOK_HUBS = """
[hubs.hooked]
[[hubs.hooked.connectors]]
name = "site"
type = "procore"
company_id = 1
client_id = "app"
client_secret = "app-secret"
[[hubs.hooked.connectors]]
name = "crm"
type = "pipedrive"
api_token = "crm-token"
[[hubs.hooked.connectors]]
name = "gal"
type = "m365-gal"
direction = "to-hub"
tenant_id = "00000000-0000-0000-0000-000000000000"
client_id = "app"
client_secret = "app-secret"
[[hubs.hooked.connectors]]
name = "cards"
type = "vcard-dir"
path = "{cards}"

[hubs.files]
[[hubs.files.connectors]]
name = "cards"
type = "vcard-dir"
path = "{cards}"
[[hubs.files.connectors]]
name = "sheet"
type = "csv"
path = "{sheet}"
"""


def test_webhooks_command_prints_each_connectors_own_receiver(sqlite_url: str, tmp_path: Path) -> None:
    """Each connector a vendor can notify gets that vendor's receiver only; folders and CSV
    files get none (they printed all three vendors' receivers each)."""
    (tmp_path / "cards").mkdir()
    (tmp_path / "sheet.csv").write_text("First Name,Last Name,E-mail Address\n", encoding="utf-8")
    hub_file = tmp_path / "hubs.toml"
    hub_file.write_text(WEBHOOK_HUBS.format(cards=tmp_path / "cards", sheet=tmp_path / "sheet.csv"))
    runner = CliRunner()
    applied = runner.invoke(cli_app, ["--database", sqlite_url, "apply", str(hub_file)])
    assert applied.exit_code == 0, applied.output
    args = ["--database", sqlite_url, "webhooks", "hooked", "--base-url", "https://hub.example.org/"]
    masked = runner.invoke(cli_app, args)
    assert masked.exit_code == 0, masked.output
    assert "https://hub.example.org/hooks/graph/********" in masked.output
    for secret in (tokens.url_token("hooked", "site"), tokens.client_state("hooked", "gal")):
        assert secret not in masked.output
    result = runner.invoke(cli_app, [*args, "--reveal"])
    assert result.exit_code == 0, result.output
    blocks = {}
    for line in result.output.splitlines():
        if not line.startswith(" "):
            name = line.split(" ", 1)[0]
            blocks[name] = line
        else:
            blocks[name] += "\n" + line
    root = "https://hub.example.org/hooks"
    site, crm, gal = (tokens.url_token("hooked", n) for n in ("site", "crm", "gal"))
    assert f"{root}/procore/{site}" in blocks["site"]
    assert f"Bearer {tokens.bearer('hooked', 'site')}" in blocks["site"]
    assert f"{root}/pipedrive/{crm}" in blocks["crm"]
    assert tokens.basic_password("hooked", "crm") in blocks["crm"]
    assert f"{root}/graph/{gal}" in blocks["gal"]
    assert tokens.client_state("hooked", "gal") in blocks["gal"]
    for name, own in (("site", "procore"), ("crm", "pipedrive"), ("gal", "graph")):
        others = [s for s in tokens.SOURCES if s != own]
        assert not any(f"/hooks/{s}/" in blocks[name] for s in others), blocks[name]
    assert blocks["cards"] == "cards (vcard-dir): polled (no webhooks)"
    assert tokens.url_token("hooked", "cards") not in result.output

    files = runner.invoke(cli_app, ["--database", sqlite_url, "webhooks", "files", "--reveal"])
    assert files.exit_code == 0, files.output
    assert "has no connector that receives webhooks" in files.output
    assert "/hooks/" not in files.output
    missing = runner.invoke(cli_app, ["--database", sqlite_url, "webhooks", "nope"])
    assert missing.exit_code != 0 and "no hub named 'nope'" in missing.output


@pytest.mark.parametrize(
    ("base_url", "said"),
    [
        ("https://h.example/x?y=1", "leave out the query"),
        ("https://h.example/#frag", "leave out the query"),
        ("https://h.example/?", "leave out the query"),
        ("h.example", "with a host"),
        ("", "with a host"),
        ("ftp://h.example", "with a host"),
        ("https://", "with a host"),
        ("https://h.example:port", "with a host"),
        ("https://user:secret@h.example", "leave out the user and password"),
        ("https://user:se?cret@h.example", "leave out the user and password"),
    ],
)
def test_webhooks_base_url_is_an_http_url_with_a_host_and_nothing_after_its_path(
    sqlite_url: str, tmp_path: Path, base_url: str, said: str
) -> None:
    """The base URL was joined as given: a query or fragment came before the receiver's
    path, no scheme or "" gave relative URLs, and a password was printed in clear (QA)."""
    (tmp_path / "cards").mkdir()
    (tmp_path / "sheet.csv").write_text("First Name,Last Name,E-mail Address\n", encoding="utf-8")
    hub_file = tmp_path / "hubs.toml"
    hub_file.write_text(WEBHOOK_HUBS.format(cards=tmp_path / "cards", sheet=tmp_path / "sheet.csv"))
    runner = CliRunner()
    assert runner.invoke(cli_app, ["--database", sqlite_url, "apply", str(hub_file)]).exit_code == 0
    args = ["--database", sqlite_url, "webhooks", "hooked", "--reveal", "--base-url", base_url]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    assert said in result.output and "/hooks/" not in result.output
    assert "secret" not in result.output and "se?cret" not in result.output
    ok = runner.invoke(cli_app, [*args[:-1], "http://127.0.0.1:8080/base/"])
    assert ok.exit_code == 0, ok.output
    assert "http://127.0.0.1:8080/base/hooks/graph/" in ok.output


def test_sync_queue_needs_a_broker(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 1, prefix="queued")
    monkeypatch.delenv("CONTACTHUB_BROKER_URL", raising=False)
    result = CliRunner().invoke(cli_app, ["--database", sqlite_url, "sync", "queued000", "--queue"])
    assert result.exit_code != 0 and "CONTACTHUB_BROKER_URL" in result.output


def test_sync_queue_with_the_broker_down_says_so_in_one_line(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 1, prefix="queued")
    broker = f"redis://:brokerpw@127.0.0.1:{free_port()}/0"  # nothing listens there
    args = ["--database", sqlite_url, "sync", "queued000", "--queue"]
    result = CliRunner().invoke(cli_app, args, env={"CONTACTHUB_BROKER_URL": broker})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the broker redis://:***@127.0.0.1:")
    assert "brokerpw" not in result.output


def test_a_message_that_could_not_be_sent_leaves_no_queued_marker(
    sqlite_url: str, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis answers but publishing fails (kombu's error, as when the broker goes away
    between the two): the marker must go, or it would swallow every request for minutes."""
    import redis
    from kombu.exceptions import OperationalError

    from contacthub.errors import UnavailableError
    from contacthub.scheduler import celery_app

    celery_app.configure(redis_url)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(celery_app.sync_task, "apply_async", refuse)
    with pytest.raises(UnavailableError, match="cannot reach the broker"):
        celery_app.enqueue("lost", origin="cli")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.get("contacthub:queued:lost") is None
    finally:
        client.close()


def test_sync_queue_enqueues_once(sqlite_url: str, tmp_path: Path, redis_url: str) -> None:
    import redis

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 1, prefix="queued")
    env = {"CONTACTHUB_BROKER_URL": redis_url}
    runner = CliRunner()
    args = ["--database", sqlite_url, "sync", "queued000", "--queue", "--json"]
    first = runner.invoke(cli_app, args, env=env)
    again = runner.invoke(cli_app, args, env=env)
    assert json.loads(first.output) == {"hub": "queued000", "queued": True}
    assert json.loads(again.output) == {"hub": "queued000", "queued": False}
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.llen("contacthub") >= 1
        client.delete("contacthub", "contacthub:queued:queued000")
    finally:
        client.close()


def test_sync_queue_goes_by_the_stored_spelling_of_the_hub(
    sqlite_url: str, tmp_path: Path, redis_url: str
) -> None:
    """``sync --queue`` with the other Unicode spelling of a hub's name (NFD typed, NFC
    stored) queued the name as typed: the queue's marker missed the run already queued."""
    import unicodedata

    import redis

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 1, 1, prefix="jos\u00e9")
    stored, typed = "jos\u00e9000", unicodedata.normalize("NFD", "jos\u00e9000")
    env = {"CONTACTHUB_BROKER_URL": redis_url}
    runner = CliRunner()
    first = runner.invoke(cli_app, ["--database", sqlite_url, "sync", stored, "--queue", "--json"], env=env)
    again = runner.invoke(cli_app, ["--database", sqlite_url, "sync", typed, "--queue", "--json"], env=env)
    assert json.loads(first.output) == {"hub": stored, "queued": True}
    assert json.loads(again.output) == {"hub": stored, "queued": False}
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete("contacthub", f"contacthub:queued:{stored}")
    finally:
        client.close()


def test_rate_limit_waits_reach_the_metrics() -> None:
    """``run_hub`` reads the waits of a connector's API clients as it closes it."""
    from contacthub.connectors.http import ApiClient
    from contacthub.engine.context import Report
    from contacthub.engine.run import _waited

    class WithClient:
        def __init__(self) -> None:
            self.client = ApiClient("http://127.0.0.1:9", connector="crm", sleep=lambda _s: None)
            self.other = "not a client"

    connector = WithClient()
    connector.client._pause(1.5)  # what a Retry-After of 1.5 s does
    assert _waited(connector) == 1.5  # type: ignore[arg-type]
    assert _waited(object()) == 0.0  # type: ignore[arg-type]
    connector.client.close()
    before = sample("contacthub_rate_limit_wait_seconds_total", hub="team", connector="crm")
    calls = sample("contacthub_api_calls_total", hub="team", connector="crm", method="GET")
    report = Report(1, status="applied", api_calls={"crm": {"GET": 3}}, waited={"crm": 1.5})
    metrics.observe_run("team", report, 0.2)
    assert sample("contacthub_rate_limit_wait_seconds_total", hub="team", connector="crm") == before + 1.5
    assert sample("contacthub_api_calls_total", hub="team", connector="crm", method="GET") == calls + 3


def test_a_failed_runs_log_line_says_why(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run's line said "failed ... 1 error(s)" and nothing more: an admin reading the
    service's log had to run ``contacthub show`` for every failure (QA)."""
    import shutil
    import time

    engine = open_database(sqlite_url)
    folders = make_hubs(engine, tmp_path, 1, 2, prefix="logged")
    assert run_requested(engine, "logged000", 0.0).result == "ran"
    shutil.rmtree(folders["logged000"][0])  # the folder is gone (a disk not mounted)
    with caplog.at_level(logging.INFO, logger="contacthub"):
        assert run_requested(engine, "logged000", time.time()).result == "ran"
    lines = [r.getMessage() for r in caplog.records]
    [line] = [m for m in lines if "error(s)" in m and " failed " in m]
    assert "error(s): " in line and "does not exist" in line, lines
