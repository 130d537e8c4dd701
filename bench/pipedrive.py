"""Pipedrive emulator <-> vCard folder through the real engine: seconds, records/s, peak MB,
API calls and Pipedrive tokens for a first sync, a no-op run, and a run after 1 % edits in
Pipedrive, plus a first upload of cards into an empty Pipedrive. Peak memory is the
benchmark process's peak RSS so far (tracemalloc would slow the run down several times).

    .venv/bin/python bench/pipedrive.py --count 5000

The emulator runs as its own process (``contacthub emulate pipedrive``) with the burst limit
lifted, so the figures are the connector's and the engine's, not the rate limit's; tokens are
the emulator's count at Pipedrive's documented costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
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

TOKEN = "bench-token"


def start(persons: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "contacthub", "emulate", "pipedrive", "--port", "0"]
    command += ["--persons", str(persons), "--api-token", TOKEN, "--burst", "1000000"]
    command += ["--daily-tokens", "100000000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


def tokens_left(url: str) -> int:
    r = httpx.get(f"{url}/api/v2/persons/1", headers={"x-api-token": TOKEN})
    return int(r.headers["x-daily-ratelimit-token-remaining"]) + 1  # this probe cost 1


def hub(url: str, work: Path, cards: Path) -> Any:
    engine = open_database(f"sqlite:///{work / 'hub.db'}")
    spec = config.HubFile.model_validate(
        {
            "hubs": {
                "b": {
                    "connectors": [
                        {"name": "pd", "type": "pipedrive", "base_url": url, "api_token": TOKEN},
                        {"name": "cards", "type": "vcard-dir", "path": str(cards)},
                    ]
                }
            }
        }
    )
    config.apply(engine, spec)
    return engine


def timed(label: str, url: str, engine: Any, records: int) -> None:
    before = tokens_left(url)
    started = time.perf_counter()
    report = run_hub(engine, "b", options=Options())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # of the process so far
    spent = before - tokens_left(url)
    rate = records / seconds if seconds else 0.0
    print(
        f"{label:<28} {seconds:7.2f} s  {rate:8.0f} rec/s  peak RSS {peak:6.1f} MB  "
        f"tokens {spent:6d}  status {report.status}  errors {len(report.errors)}  changes {report.changes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    n = args.count
    work = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    proc, url = start(n)
    try:
        cards = work / "cards"
        cards.mkdir()
        engine = hub(url, work, cards)
        print(f"{n} persons, emulator at {url}, work folder {work}")
        timed("first sync (Pipedrive->cards)", url, engine, n)
        timed("no-op run", url, engine, n)
        client = httpx.Client(base_url=url, headers={"x-api-token": TOKEN})
        edits = max(1, n // 100)
        for pid in range(1, n + 1, max(1, n // edits))[:edits]:
            client.patch(f"/api/v2/persons/{pid}", json={"name": f"Edited Person{pid}"})
        timed(f"after {edits} edits (1 %)", url, engine, edits)
        timed("no-op run (incremental)", url, engine, n)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, url = start(0)
    try:
        other = work / "upload"
        other.mkdir()
        engine = hub(url, other, cards)
        timed("first upload (cards->Pipedrive)", url, engine, n)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
