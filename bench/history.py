"""History benchmark: what looking at and pruning a large run costs.

A hub of two vCard folders, ``a`` with N generated cards (default 20,000) and ``b`` empty;
its first sync (run 1) journals 2 N changes (N hub creates, N copies into ``b``). Then each
command below runs in its own process, its output piped to nowhere, and the script prints
its wall time and peak RSS (``os.wait4``):

- ``show 1`` (piped: plain lines), ``show 1 --json``, ``show 1 | head`` (its exit code);
- ``runs big`` after ``--runs`` more no-op syncs;
- the dashboard's ``/runs/1`` (one process: an app over the store, one signed-in GET;
  the page's size and rows, and how much the process grew for it);
- ``prune big --before 2 --dry-run``, then ``prune big --before 2 --vacuum`` and the
  store file's size before and after.

    python bench/history.py                  # 20,000 cards
    python bench/history.py --count 2000 --keep

The commands run this checkout (``PYTHONPATH=<checkout>/src``), so the same script measures
a branch before and after a change (commands a checkout lacks are reported as failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PAGE = """
import os, re, resource, sys
from fastapi.testclient import TestClient
from contacthub.store.db import open_database
from contacthub.web import accounts, create_app

engine = open_database(sys.argv[1])
app = create_app(engine)
accounts.add_user(engine, "bench@example.com", "bench-password-1234", admin=True)
c = TestClient(app, base_url="https://testserver", follow_redirects=False)
token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
c.post("/login", data={"email": "bench@example.com", "password": "bench-password-1234", "csrf": token})
c.get("/")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
page = c.get("/runs/1")
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"status {page.status_code}, {len(page.content) / 1e6:.2f} MB, "
      f"{page.text.count('<tr')} rows, process grew {grew / 1024:.0f} MB")
"""


def run_measured(label: str, argv: list[str], env: dict[str, str], stdout: int | None = None) -> None:
    """Run one command and print its wall time, its own peak RSS (``os.wait4``) and exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=stdout if stdout is not None else subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    err = proc.stderr.read() if proc.stderr else b""
    out = proc.stdout.read() if stdout == subprocess.PIPE and proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    text = out.decode().strip()
    extra = f"  {text.splitlines()[-1]}" if text else ""  # (its last line: a summary)
    tail = f"  ({err.decode().strip().splitlines()[-1]})" if code and err.strip() else ""
    print(
        f"{label:<40} {wall:7.2f} s  peak {usage.ru_maxrss / 1024:5.0f} MB  exit {code}{extra}{tail}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=60, help="no-op syncs after the first (for 'runs')")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="contacthub-history-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "hub.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CONTACTHUB_DATABASE_URL": url}
    env["CONTACTHUB_HOME"] = str(work)
    ch = [sys.executable, "-m", "contacthub"]
    print(f"checkout {ROOT}, {args.count} cards, store {db}", flush=True)
    try:
        (work / "b").mkdir(exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gen_contacts.py"),
                str(work / "a"),
                "--count",
                str(args.count),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (work / "hub.toml").write_text(
            '[hubs.big]\ninterval = "off"\ndelete_threshold = "100%"\n'
            f'[[hubs.big.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{work / "a"}"\n'
            f'[[hubs.big.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{work / "b"}"\ncreate = true\n'
        )
        subprocess.run([*ch, "apply", str(work / "hub.toml")], env=env, check=True, stdout=subprocess.DEVNULL)
        run_measured("sync big (first copy: run 1)", [*ch, "sync", "big"], env)
        run_measured("show 1 (piped)", [*ch, "show", "1"], env)
        run_measured("show 1 --json", [*ch, "show", "1", "--json"], env)
        run_measured("show 1 --limit 100", [*ch, "show", "1", "--limit", "100"], env)
        head = subprocess.run(
            f"{' '.join(ch)} show 1 | head -n 3 >/dev/null; echo ${{PIPESTATUS[0]}}",
            shell=True,
            executable="/bin/bash",
            env=env,
            capture_output=True,
            text=True,
        )
        print(
            f"{'show 1 | head -n 3':<40} exit {head.stdout.strip()}  {head.stderr.strip()[-200:]}", flush=True
        )
        for _ in range(args.runs):
            subprocess.run([*ch, "sync", "big"], env=env, check=True, stdout=subprocess.DEVNULL)
        run_measured(f"runs big ({args.runs + 1} runs)", [*ch, "runs", "big"], env, stdout=subprocess.PIPE)
        run_measured("dashboard GET /runs/1", [sys.executable, "-c", PAGE, url], env, stdout=subprocess.PIPE)
        size = db.stat().st_size
        run_measured("prune --before 2 --dry-run", [*ch, "prune", "big", "--before", "2", "--dry-run"], env)
        run_measured("prune --before 2 --vacuum", [*ch, "prune", "big", "--before", "2", "--vacuum"], env)
        print(
            f"store file: {size / 1e6:.1f} MB before prune, {db.stat().st_size / 1e6:.1f} MB after",
            flush=True,
        )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
