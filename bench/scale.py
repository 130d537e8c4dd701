"""Scale-out benchmark: hubs of vCard folders synced by 1 and by 2 Celery workers on
Redis, with PostgreSQL as the store, both started here (Debian's redis-server and
PostgreSQL binaries, on 127.0.0.1, in temporary directories).

For each worker count it measures:

- first sync: every hub queued at once, each copies its folder ``a`` (N contacts) into an
  empty folder ``b``; runs per minute until all have applied;
- no-op: every hub queued again with nothing changed; runs per minute;
- webhook to written: one contact edited in the folder ``a`` of a random hub that has a
  Procore company (a receiver takes only the token of a connector of its vendor), a
  Procore webhook posted to that connector's receiver (debounce included), time until the
  edit is in that hub's folder ``b``; samples spread over time, reported as median and
  95th percentile (none with ``--procore-hubs 0``).

    python bench/scale.py                       # 200 hubs x 1,000 contacts (the issue's size)
    python bench/scale.py --hubs 40 --contacts 1000 --samples 40 --workers 1,2

The first ``--procore-hubs`` hubs (default 20) also sync an emulated Procore company of
their own (``--procore-users``, default 100), served from this process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gen_contacts  # noqa: E402
import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from servers import postgres, redis  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402
from tests.conftest import _fresh_postgres_database  # noqa: E402

from contacthub import config  # noqa: E402
from contacthub.emulators.base import background  # noqa: E402
from contacthub.scheduler import celery_app  # noqa: E402
from contacthub.store import tables as t  # noqa: E402
from contacthub.store.db import open_database  # noqa: E402
from contacthub.webhooks import tokens  # noqa: E402
from contacthub.webhooks.router import webhook_router  # noqa: E402


@contextlib.contextmanager
def procore_company(users: int) -> Iterator[str]:
    """An emulated Procore company of its own, served from this process."""
    from contacthub.emulators.procore import ProcoreEmulator
    from contacthub.emulators.procore_state import ProcoreState

    state = ProcoreState(users=users, vendors=5, client_id="bench-client", client_secret="bench-secret")
    with background(ProcoreEmulator(state).app) as url:
        yield url


def make_template(root: Path, hubs: int, contacts: int) -> list[Path]:
    """One folder of cards per hub (different seeds), generated once and copied per round."""
    folders = []
    for i in range(hubs):
        folder = root / f"hub{i:03d}"
        gen_contacts.write_cards(folder, contacts, seed=1000 + i)
        folders.append(folder)
    return folders


def setup_round(
    engine: Engine, work: Path, template: list[Path], procore: list[str] | None = None
) -> dict[str, tuple[Path, Path]]:
    """The hubs: folders ``a`` and ``b``; the first hubs also get a Procore company of their
    own (``procore``: the emulators' base URLs, one per hub)."""
    folders: dict[str, tuple[Path, Path]] = {}
    blocks = []
    for i, source in enumerate(template):
        name = source.name
        a, b = work / name / "a", work / name / "b"
        shutil.copytree(source, a)
        b.mkdir(parents=True)
        folders[name] = (a, b)
        blocks.append(
            f'[hubs.{name}]\ninterval = "off"\ndelete_threshold = "100%"\n'
            f'[[hubs.{name}.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
            f'[[hubs.{name}.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
        )
        if procore and i < len(procore):
            blocks[-1] += (
                f'[[hubs.{name}.connectors]]\nname = "procore"\ntype = "procore"\n'
                f'base_url = "{procore[i]}"\nlogin_url = "{procore[i]}"\ncompany_id = 1\n'
                f'client_id = "bench-client"\nclient_secret = "bench-secret"\n'
            )
    hub_file = work / "hubs.toml"
    hub_file.write_text("\n".join(blocks))
    config.apply(engine, config.load(hub_file))
    return folders


def applied_runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(t.runs.c.status == "applied")).scalar() or 0)


def all_runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.runs.c.status, t.runs.c.message)))


def wait_runs(engine: Engine, target: int, timeout: float) -> float:
    started = time.monotonic()
    while applied_runs(engine) < target:
        failed = [r for r in all_runs(engine) if r.status == "failed"]
        if failed:
            raise SystemExit(f"a run failed: {failed[0].message}")
        if time.monotonic() - started > timeout:
            failed = [r for r in all_runs(engine) if r.status != "applied"]
            raise SystemExit(f"timed out waiting for {target} runs; not applied: {failed[:5]}")
        time.sleep(0.2)
    return time.monotonic() - started


class Workers:
    def __init__(self, count: int, db: str, env: dict[str, str], logdir: Path) -> None:
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "contacthub",
                    "--database",
                    db,
                    "worker",
                    "--name",
                    f"bench{i}@bench",
                    "--log-level",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(logdir / f"worker{i}.log", "w"),  # noqa: SIM115
                env=env,
            )
            for i in range(count)
        ]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(count: int, timeout: float) -> None:
    """Until ``count`` workers answer a ping (they take a few seconds to start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = celery_app.app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
    raise SystemExit(f"only {len(replies)} of {count} workers started")


def edit_card(folder: Path, marker: str) -> tuple[Path, str]:
    """Put ``marker`` in the NOTE of a random card that has a UID; returns its path and UID."""
    paths = sorted(folder.glob("*.vcf"))
    while True:
        path = random.choice(paths)
        lines = [
            line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("NOTE")
        ]
        uid = next((line[4:] for line in lines if line.startswith("UID:")), None)
        if uid is not None and "END:VCARD" in lines:
            break
    lines.insert(lines.index("END:VCARD"), f"NOTE:{marker}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path, uid


def written(folder: Path, uid: str, marker: str) -> bool:
    """Whether the card of ``uid`` in ``folder`` holds ``marker``. contacthub names the
    cards it creates after the contact's UID, so one file is read, not the folder."""
    try:
        text = (folder / f"{uid}.vcf").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return marker in text.replace("\r\n ", "")


def latency_samples(
    folders: dict[str, tuple[Path, Path]], base: str, samples: int, spacing: float, timeout: float
) -> list[float]:
    hubs = sorted(folders)
    results: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        hub = hubs[(i * 7919) % len(hubs)]
        a, b = folders[hub]
        marker = f"bench-edit-{i}-{time.time_ns()}"
        _, uid = edit_card(a, marker)
        url = f"{base}/hooks/procore/{tokens.url_token(hub, 'procore')}"
        event = {"event_type": "update", "resource_name": "Company Users", "resource_id": i}
        # the header the hook is registered with (``webhooks --reveal``); it is required
        auth = {"Authorization": f"Bearer {tokens.bearer(hub, 'procore')}"}
        started = time.monotonic()
        httpx.post(url, json=event, headers=auth, timeout=10).raise_for_status()
        while not written(b, uid, marker):
            if time.monotonic() - started > timeout:
                print(f"  sample {i} ({hub}) not written within {timeout}s", file=sys.stderr)
                return
            time.sleep(0.02)
        with lock:
            results.append(time.monotonic() - started)

    with ThreadPoolExecutor(16) as pool:
        futures = []
        for i in range(samples):
            futures.append(pool.submit(one, i))
            time.sleep(spacing)
        for future in futures:
            future.result()  # an error in a sample stops the benchmark with its traceback
    return results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def bench_round(
    workers: int, server: str, redis_url: str, template: list[Path], args: argparse.Namespace
) -> dict[str, Any]:
    with (
        _fresh_postgres_database(server) as db,
        tempfile.TemporaryDirectory(prefix="contacthub-scale-", dir=args.workdir) as tmp,
    ):
        work = Path(tmp)
        # the workers decrypt the connectors' secrets (Procore's client secret) with this key
        os.environ.setdefault("CONTACTHUB_SECRET_KEY", "contacthub-scale-benchmark")
        engine = open_database(db)
        emulators = contextlib.ExitStack()
        procore = [
            emulators.enter_context(procore_company(args.procore_users)) for _ in range(args.procore_hubs)
        ]
        folders = setup_round(engine, work, template, procore)
        celery_app.configure(redis_url)
        celery_app._redis().flushdb()
        env = {**os.environ, "CONTACTHUB_BROKER_URL": redis_url, "CONTACTHUB_HOME": str(work)}
        pool = Workers(workers, db, env, work)
        try:
            wait_ready(workers, args.timeout)
            hubs = sorted(folders)
            for hub in hubs:
                celery_app.enqueue(hub, origin="bench")
            first = wait_runs(engine, len(hubs), args.timeout)
            for hub in hubs:
                celery_app.enqueue(hub, origin="bench")
            noop = wait_runs(engine, 2 * len(hubs), args.timeout)
            app = FastAPI()
            app.include_router(webhook_router(engine, celery_app.CeleryDispatcher(debounce=args.debounce)))
            # only a hub with a Procore connector has a receiver for Procore's webhooks
            notified = dict(list(folders.items())[: len(procore)])
            latencies: list[float] = []
            with background(app) as base:
                if notified:
                    latencies = latency_samples(notified, base, args.samples, args.spacing, args.timeout)
        finally:
            pool.stop()
            engine.dispose()
            emulators.close()
    hubs_n = len(folders)
    return {
        "workers": workers,
        "first_runs_per_min": hubs_n / first * 60,
        "first_seconds": first,
        "noop_runs_per_min": hubs_n / noop * 60,
        "noop_seconds": noop,
        "latency_median": statistics.median(latencies) if latencies else float("nan"),
        "latency_p95": p95(latencies) if latencies else float("nan"),
        "samples": len(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    parser.add_argument("--samples", type=int, default=40, help="webhook latency samples per round")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between latency samples")
    parser.add_argument("--debounce", type=float, default=1.0, help="receiver debounce, seconds")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--workdir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the folders go (default /dev/shm: a RAM-backed tmpfs, as disks add noise)",
    )
    parser.add_argument(
        "--procore-hubs", type=int, default=20, help="hubs that also sync an emulated Procore company"
    )
    parser.add_argument("--procore-users", type=int, default=100, help="users of each Procore company")
    parser.add_argument("--database-url", help="an existing PostgreSQL server (default: start one)")
    parser.add_argument("--redis-url", help="an existing Redis (default: start one)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    print(
        f"scale benchmark: {args.hubs} hubs x {args.contacts} contacts (vCard folders), "
        f"{args.procore_hubs} of them also with a Procore emulator of {args.procore_users} users; "
        f"workers {counts}"
    )
    print(f"  {os.cpu_count()} CPUs; webhook samples {args.samples}, debounce {args.debounce}s", flush=True)
    print(f"  folders under {args.workdir or tempfile.gettempdir()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="contacthub-scale-template-", dir=args.workdir) as tmp:
        started = time.monotonic()
        template = make_template(Path(tmp), args.hubs, args.contacts)
        print(
            f"  generated {args.hubs * args.contacts} cards in {time.monotonic() - started:.1f}s", flush=True
        )
        with postgres(args.database_url) as server, redis(args.redis_url) as redis_url:
            for count in counts:
                result = bench_round(count, server, redis_url, template, args)
                results.append(result)
                print(
                    f"  {count} worker(s): first sync {result['first_runs_per_min']:.1f} runs/min "
                    f"({result['first_seconds']:.1f}s), no-op {result['noop_runs_per_min']:.1f} runs/min "
                    f"({result['noop_seconds']:.1f}s), webhook->written median "
                    f"{result['latency_median']:.2f}s p95 {result['latency_p95']:.2f}s "
                    f"({result['samples']} samples)",
                    flush=True,
                )
    print()
    print("| workers | first sync runs/min | no-op runs/min | webhook->written median | p95 |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['workers']} | {r['first_runs_per_min']:.1f} | {r['noop_runs_per_min']:.1f} | "
            f"{r['latency_median']:.2f} s | {r['latency_p95']:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
