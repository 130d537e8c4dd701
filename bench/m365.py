"""Benchmark: a Microsoft 365 tenant's GAL read into an empty hub, then a no-op run, then a
run after 100 edits, through the real engine, connector (msal, httpx) and the emulator.

    .venv/bin/python bench/m365.py                 # 50,000 users
    .venv/bin/python bench/m365.py --users 5000 --page-size 500

The emulator runs as its own process (``contacthub emulate m365``) so that the figures are
ours: wall seconds of each ``sync``, CPU seconds of this process during it (our own time;
the emulator's work is in the other process), peak RSS of this process after the phase, and
the Graph and Exchange calls the emulator served during the phase. The 100 edits are made
with Graph ``PATCH`` in ``$batch``es before the third run, outside the timed part.
"""

from __future__ import annotations

import argparse
import json
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from contacthub import config
from contacthub.engine.context import Options
from contacthub.engine.run import run_hub
from contacthub.store.db import open_database


def start_emulator(users: int, page_size: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "contacthub",
        "emulate",
        "m365",
        "--tenants",
        "1",
        "--users",
        str(users),
        "--contacts",
        "50",
        "--page-size",
        str(page_size),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, json.loads(line)


def stats(client: httpx.Client) -> dict[str, int]:
    data: dict[str, int] = client.get("/_emulator/stats").json()
    return data


def edit_users(info: dict[str, Any], client: httpx.Client, count: int) -> None:
    tenant = info["tenants"][0]["tenant_id"]
    token = client.post(
        f"/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": f"{info['graph_url']}/.default",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = "/v1.0/users?$top=999&$select=id,onPremisesSyncEnabled,accountEnabled"
    users = client.get(url, headers=headers).json()["value"]
    # users the connector reads (enabled) and Graph lets an app change (not synced from AD)
    cloud = [u["id"] for u in users if u.get("accountEnabled") and not u.get("onPremisesSyncEnabled")][:count]
    for start in range(0, len(cloud), 20):
        requests = [
            {
                "id": str(i),
                "method": "PATCH",
                "url": f"/users/{uid}",
                "headers": {"Content-Type": "application/json"},
                "body": {"jobTitle": f"Edited {i}"},
            }
            for i, uid in enumerate(cloud[start : start + 20])
        ]
        answer = client.post("/v1.0/$batch", json={"requests": requests}, headers=headers).json()
        assert all(r["status"] == 204 for r in answer["responses"]), answer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()
    started = time.monotonic()
    process, info = start_emulator(args.users, args.page_size)
    print(
        f"emulator: {args.users} users, delta pages of {args.page_size}, "
        f"up in {time.monotonic() - started:.1f} s"
    )
    try:
        verify = ssl.create_default_context(cafile=info["ca_file"])
        client = httpx.Client(base_url=info["graph_url"], verify=verify, timeout=120)
        with tempfile.TemporaryDirectory(prefix="bench-m365-") as tmp:
            engine = open_database(f"sqlite:///{Path(tmp) / 'hub.db'}")
            tenant = info["tenants"][0]["tenant_id"]
            gal = {
                "name": "gal",
                "type": "m365-gal",
                "tenant_id": tenant,
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "authority_url": info["authority_url"],
                "graph_url": info["graph_url"],
                "exchange_url": info["exchange_url"],
                "ca_file": info["ca_file"],
            }
            spec = config.HubFile.model_validate({"hubs": {"bench": {"connectors": [gal]}}})
            config.apply(engine, spec)
            print(
                f"{'phase':<10}{'seconds':>9}{'our CPU s':>11}{'peak MB':>9}{'Graph':>7}{'Exchange':>9}"
                "  hub changes"
            )
            for phase in ("initial", "no-op", "edits"):
                if phase == "edits":
                    edit_users(info, client, args.edits)
                before = stats(client)
                cpu, wall = time.process_time(), time.perf_counter()
                report = run_hub(engine, "bench", options=Options())
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                after = stats(client)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                graph = after["graph_calls"] - before["graph_calls"]
                exchange = after["exchange_calls"] - before["exchange_calls"]
                changes = json.dumps(report.changes.get("hub", {}))
                print(
                    f"{phase:<10}{wall:>9.2f}{cpu:>11.2f}{peak:>9.0f}{graph:>7}{exchange:>9}"
                    f"  {changes} {report.status}"
                )
                if report.errors:
                    print("  errors:", report.errors[:3])
        client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
