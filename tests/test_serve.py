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
