"""Benchmark: a Procore company directory (the emulator) into an empty hub and vCard folder.

Phases, each one ``contacthub sync`` subprocess, timed (wall seconds) and measured (peak RSS
from ``os.wait4``), with the emulator's count of API calls made during it:

  1. initial: N users (and their vendors) into the empty hub and folder;
  2. no-op:   a second run with nothing changed (target: one list call per object type);
  3. changes: 1% of the cards edited (job title), written back to Procore (target: batched
              through ``users/sync``, 1000 a call, plus one listing for the version check).

Targets printed beside the figures: list calls = ceil(N / per_page) on the initial run. The
emulator runs in its own process; the working folder is on /dev/shm when there is one.
Nothing here asserts on timings.

    .venv/bin/python bench/procore.py [--users 20000] [--vendors 200] [--per-page 1000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"


def contacthub() -> list[str]:
    exe = REPO / ".venv" / "bin" / "contacthub"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "contacthub"]


def run_phase(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one command; ``os.wait4`` reads the child's
    own rusage."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 3):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def calls(base: str) -> Counter[str]:
    return Counter(httpx.get(f"{base}/_emulator/calls").json()["calls"])


def summarize(delta: Counter[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in delta.items():
        method, path = key.split(" ", 1)
        if not path.startswith("/rest/"):
            continue
        if method == "GET" and path.endswith("/users"):
            out["list users"] = out.get("list users", 0) + n
        elif method == "GET" and path.endswith("/vendors"):
            out["list vendors"] = out.get("list vendors", 0) + n
        elif path.endswith("/users/sync"):
            out["users/sync"] = out.get("users/sync", 0) + n
        else:
            out[f"{method} other"] = out.get(f"{method} other", 0) + n
    out["total"] = sum(n for k, n in delta.items() if k.split(" ", 1)[1].startswith("/rest/"))
    return out


def edit_cards(folder: Path, share: float, seed: int) -> int:
    files = sorted(folder.glob("*.vcf"))
    rng = random.Random(seed)
    chosen = rng.sample(files, max(1, int(len(files) * share)))
    for i, path in enumerate(chosen):
        text = path.read_bytes().decode("utf-8")
        lines = [line for line in text.splitlines() if not line.upper().startswith("TITLE")]
        end = next(n for n, line in enumerate(lines) if line.strip().upper() == "END:VCARD")
        lines.insert(end, f"TITLE:Bench edit {i}")
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--vendors", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="procore-bench-", dir=shm if shm.is_dir() else None))
    env = {**os.environ, "CONTACTHUB_HOME": str(root / "home")}
    emulator = subprocess.Popen(
        [*contacthub(), "emulate", "procore", "--port", "0", "--users", str(args.users), "--vendors",
         str(args.vendors), "--people", "0", "--projects", "0", "--rate-hour", "0"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        base = info["base_url"]
        folder = root / "cards"
        folder.mkdir()
        hub = root / "hub.toml"
        hub.write_text(
            f"""[hubs.bench]
delete_threshold = "50%"

[[hubs.bench.connectors]]
name = "procore"
type = "procore"
base_url = "{base}"
login_url = "{info["login_url"]}"
company_id = {info["company_id"]}
client_id = "{info["client_id"]}"
client_secret = "{info["client_secret"]}"
per_page = {args.per_page}

[[hubs.bench.connectors]]
name = "cards"
type = "vcard-dir"
path = "{folder}"
""",
            encoding="utf-8",
        )
        db = f"sqlite:///{root / 'bench.db'}"
        cli = [*contacthub(), "--database", db]
        subprocess.run([*cli, "apply", str(hub)], check=True, env=env, capture_output=True)
        results: list[dict[str, Any]] = []
        for phase in ("initial", "no-op", "changes"):
            edited = edit_cards(folder, 0.01, 7) if phase == "changes" else 0
            before = calls(base)
            seconds, rss, out = run_phase([*cli, "sync", "bench", "--json"], env)
            delta = calls(base) - before
            report = json.loads(out)
            results.append(
                {
                    "phase": phase,
                    "seconds": round(seconds, 2),
                    "peak_mb": round(rss, 1),
                    "api": summarize(delta),
                    "edited": edited,
                    "status": report["status"],
                    "changes": report["changes"],
                    "errors": len(report.get("errors") or []),
                }
            )
        cards = len(list(folder.glob("*.vcf")))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    target = math.ceil(args.users / args.per_page)
    print(
        f"Procore emulator -> hub -> vCard folder: {args.users} users, {args.vendors} vendors, "
        f"per_page {args.per_page}"
    )
    print(f"cards in folder after the runs: {cards}; target list calls on the initial run: {target}")
    print(f"{'phase':<8} {'wall s':>7} {'peak MB':>8}  api calls")
    for r in results:
        api = ", ".join(f"{k} {v}" for k, v in sorted(r["api"].items()))
        extra = f"  (edited {r['edited']} cards)" if r["edited"] else ""
        print(
            f"{r['phase']:<8} {r['seconds']:>7.2f} {r['peak_mb']:>8.1f}  {api}; errors {r['errors']}{extra}"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / f"procore-{args.users}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
