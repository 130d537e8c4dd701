"""Undo benchmark: a first copy of N generated cards from vCard folder ``a`` into an empty
folder ``b``, its undo, and the undo of that undo, each a ``contacthub`` command; prints
wall seconds and peak RSS (MB) of each. QA found the undo of an undo growing with the
square of the run (2,000 cards 16 s, 20,000 390 s); it should cost about what the undo
costs.

    python bench/undo.py                      # 2,000 cards
    python bench/undo.py --counts 2000,4000,20000 --workdir /tmp

The folders and the SQLite store go to ``--workdir`` (default ``/dev/shm``, RAM-backed:
a disk's file creations and removals weigh more than the store there). No timing is
asserted anywhere; ``tests/engine/test_undo_queries.py`` counts the queries instead.
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
HUB = """[hubs.s]
delete_threshold = "100%"
interval = "off"
[[hubs.s.connectors]]
name = "a"
type = "vcard-dir"
path = "{root}/a"
[[hubs.s.connectors]]
name = "b"
type = "vcard-dir"
path = "{root}/b"
create = true
"""


def contacthub() -> list[str]:
    """The console script next to this Python, else ``python -m contacthub``."""
    exe = Path(sys.executable).with_name("contacthub")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "contacthub"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024  # KB on Linux


def run(count: int, workdir: Path, keep: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"undo-{count}-", dir=workdir))
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "gen_contacts.py"), str(root / "a"), "--count", str(count)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (root / "data").mkdir()
        (root / "hub.toml").write_text(HUB.format(root=root))
        env = {
            **os.environ,
            "CONTACTHUB_HOME": str(root / "data"),
            "CONTACTHUB_DATABASE_URL": f"sqlite:///{root / 'data' / 'hub.db'}",
        }
        ch = contacthub()
        subprocess.run([*ch, "apply", str(root / "hub.toml")], env=env, check=True, stdout=subprocess.DEVNULL)
        for label, args in (
            ("sync", ["sync", "s", "--json"]),
            ("undo", ["undo", "1", "--json"]),
            ("undo of undo", ["undo", "2", "--json"]),
        ):
            seconds, mb = timed([*ch, *args], env)
            print(f"N={count:>6} {label:<13} {seconds:8.2f} s {mb:8.1f} MB", flush=True)
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="2000", help="comma-separated numbers of cards")
    parser.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    parser.add_argument("--keep", action="store_true", help="keep the folders and the store")
    options = parser.parse_args()
    workdir = Path(options.workdir or tempfile.gettempdir())
    for count in (int(n) for n in options.counts.split(",")):
        run(count, workdir, options.keep)


if __name__ == "__main__":
    main()
