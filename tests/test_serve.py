"""`contacthub serve` as a person starts it: the dashboard, the REST API, /metrics and the
in-process scheduler in one process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.net import free_port


def test_serve_runs_dashboard_api_metrics_and_schedules(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "ann.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n"
        "EMAIL:ann@example.com\r\nEND:VCARD\r\n"
    )
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[hubs.s]\ninterval = "off"\n'
        f'[[hubs.s.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{folder}"\n'
        f'[[hubs.s.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{tmp_path / "b"}"\ncreate = true\n'
        f'[hubs.t]\ninterval = "1s"\n'
        f'[[hubs.t.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{folder}"\n'
        f'[[hubs.t.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "{tmp_path / "c"}"\ncreate = true\n'
    )
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    env.pop("CONTACTHUB_BROKER_URL", None)
    cli = [sys.executable, "-m", "contacthub", "--database", f"sqlite:///{tmp_path / 'hub.db'}"]
    subprocess.run([*cli, "apply", str(hub)], check=True, env=env, capture_output=True)
    add = [*cli, "user", "add", "ops@example.com", "--admin", "--password-stdin"]
    subprocess.run(add, check=True, env=env, capture_output=True, input=b"correct horse battery\n")
    made = subprocess.run([*cli, "token", "create"], check=True, env=env, capture_output=True, text=True)
    admin = {"Authorization": f"Bearer {made.stdout.split()[0]}"}
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                metrics = httpx.get(f"{base}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert metrics.status_code == 401  # hub and connector names are for an admin
        metrics = httpx.get(f"{base}/metrics", headers=admin, timeout=5)
        assert metrics.status_code == 200 and "contacthub_" in metrics.text
        assert httpx.get(f"{base}/api/v1/hubs", timeout=5).status_code == 401
        # the scheduler syncs hub t on its 1 s interval; hub s is "off" and is left alone
        while not list((tmp_path / "c").glob("*.vcf")):
            assert time.monotonic() < deadline, "the scheduled run did not happen"
            time.sleep(0.3)
        assert not (tmp_path / "b").exists() or not list((tmp_path / "b").glob("*.vcf"))
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode is not None


def _serve(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """``contacthub serve`` on a free port of 127.0.0.1 with ``options``, once it answers."""
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    env.pop("CONTACTHUB_BROKER_URL", None)
    env.pop("CONTACTHUB_FORWARDED_ALLOW_IPS", None)
    env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own: the default must not depend on it
    cli = [sys.executable, "-m", "contacthub", "--database", f"sqlite:///{tmp_path / 'hub.db'}"]
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/login", timeout=2)
            return server, base
        except httpx.TransportError:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)


def _sign_in(client: httpx.Client, email: str, forwarded: str) -> int:
    """A wrong password for ``email``, sent saying it comes from ``forwarded``: the status."""
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    answer = client.post(
        "/login",
        data={"email": email, "password": "guess-123", "csrf": token.group(1)},
        headers={"X-Forwarded-For": forwarded},
    )
    return answer.status_code


def test_the_sign_in_throttle_believes_no_forwarded_address_unless_told(tmp_path: Path) -> None:
    """uvicorn believed X-Forwarded-For from 127.0.0.1: a guesser on this machine (or
    through a local proxy that does not set it) sent a new address with each attempt and
    was never throttled by address. By default the address is the socket's peer; with
    --forwarded-allow-ips naming the proxy, the address it forwards."""
    from contacthub.store.db import open_database
    from contacthub.web import accounts

    engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    accounts.add_user(engine, "ops@example.com", "correct horse battery", admin=True)  # no first-run page
    engine.dispose()
    server, base = _serve(tmp_path)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            said = [_sign_in(client, f"u{i}@example.com", f"203.0.113.{i}") for i in range(6)]
        assert said == [401] * 5 + [429]  # five from 127.0.0.1, whatever the header said
    finally:
        server.terminate()
        server.wait(timeout=20)
    _each_forwarded_client_throttled(tmp_path, "127.0.0.1")


def _each_forwarded_client_throttled(tmp_path: Path, proxies: str) -> None:
    """With ``--forwarded-allow-ips proxies`` naming this machine, the client a forwarded
    address names is throttled as one (after five wrong passwords, 429), and another
    client is not."""
    server, base = _serve(tmp_path, "--forwarded-allow-ips", proxies)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            said = [_sign_in(client, f"v{i}@example.com", "198.51.100.7") for i in range(6)]
            assert said == [401] * 5 + [429]  # the proxy's client, throttled as one
            assert _sign_in(client, "w@example.com", "198.51.100.8") == 401  # another client
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_forwarded_allow_ips_that_is_no_address_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from contacthub.cli import app

    database = f"sqlite:///{tmp_path / 'hub.db'}"
    result = CliRunner().invoke(app, ["--database", database, "serve", "--forwarded-allow-ips", "proxy.lan"])
    assert result.exit_code != 0 and "'proxy.lan' is not an IP address" in result.output


def test_a_proxy_named_by_a_network_with_host_bits_is_believed(tmp_path: Path) -> None:
    """``127.0.0.1/8`` was taken, then given to uvicorn as written: its strict parsing
    refused it and the proxy was trusted by no one, so every client behind it was
    throttled as one (QA). Passed on as the network it names, 127.0.0.0/8."""
    from contacthub.store.db import open_database
    from contacthub.web import accounts

    engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    accounts.add_user(engine, "ops@example.com", "correct horse battery", admin=True)
    engine.dispose()
    _each_forwarded_client_throttled(tmp_path, "127.0.0.1/8")


def test_every_peer_among_addresses_is_refused_at_start(tmp_path: Path) -> None:
    """(A process of its own: taken, as it was, the server would run and not return.)"""
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    env.pop("CONTACTHUB_BROKER_URL", None)
    env["CONTACTHUB_FORWARDED_ALLOW_IPS"] = "10.0.0.1, *"
    cli = [sys.executable, "-m", "contacthub", "--database", f"sqlite:///{tmp_path / 'hub.db'}"]
    done = subprocess.run(
        [*cli, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "'*' trusts every peer and goes alone" in done.stdout + done.stderr
