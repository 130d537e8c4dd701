"""CSV file to CSV file at size: the first copy of N rows into a new file, then a run with
nothing changed, then one after 1% of the source rows were edited.

    python bench/csv_big.py                      # 10,000 and 50,000 rows
    python bench/csv_big.py --counts 2000 --workdir /tmp/b

Each phase is ``contacthub sync`` run as a command of its own (this checkout's ``src`` on
its ``PYTHONPATH``), timed from outside, with its peak RSS from ``os.wait4``. Figures are
printed, never asserted; a wrong result (rows missing or twice in the target, an edit not
arrived) is printed as WRONG and makes the exit code 1.

The first copy wrote the target a page (500 rows) at a time, and each page read, parsed
and mapped the whole file again: quadratic (10,000 rows 13 s, 50,000 more than 120 s).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eva", "Fatima", "Günter", "Hiro", "Ines", "José"]
LAST = ["Lee", "Smith", "Østergaard", "Nakamura", "Garcia", "Okafor", "Brown", "Müller"]
HEADER = ["id", "display_name", "given_name", "family_name", "organization", "emails", "phones", "notes"]


def write_source(path: Path, count: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(count):
            given, family = rng.choice(FIRST), rng.choice(LAST)
            writer.writerow(
                [
                    f"r{i}",
                    f"{given} {family} {i}",
                    given,
                    f"{family} {i}",
                    rng.choice(["Acme", "Globex", "Initech", ""]),
                    f"work:p{i}@example.com" + (f"; home:p{i}@home.example" if i % 3 == 0 else ""),
                    f"cell:+1 202 555 {i % 10000:04d}",
                    "met at the fair\nsecond line" if i % 5 == 0 else "",
                ]
            )


def edit_source(path: Path, share: float) -> set[str]:
    """Give ``share`` of the rows a new note; the ids of the rows edited."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    step = max(1, round(1 / share))
    edited = set()
    for row in rows[1::step]:
        row[-1] = f"edited {row[0]}"
        edited.add(row[0])
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return edited


def timed(cmd: list[str]) -> tuple[float, float, int, str]:
    """Seconds, peak MB, exit code and output of ``cmd``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), text


def target_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def run(count: int, work: Path, exe: list[str]) -> bool:
    folder = work / f"csv{count}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source, target, db = folder / "in.csv", folder / "out.csv", f"sqlite:///{folder / 'hub.db'}"
    write_source(source, count)
    hub = folder / "hub.toml"
    hub.write_text(
        '[hubs.big]\ninterval = "off"\n'
        f'[[hubs.big.connectors]]\nname = "in"\ntype = "csv"\npath = "{source}"\nformat = "plain"\n'
        f'[[hubs.big.connectors]]\nname = "out"\ntype = "csv"\npath = "{target}"\nformat = "plain"\n'
        "create = true\n"
    )
    subprocess.run([*exe, "--database", db, "apply", str(hub)], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    ok = True
    edited: set[str] = set()
    for phase in ("initial", "no-op", "changes"):
        if phase == "changes":
            edited = edit_source(source, 0.01)
        seconds, peak, code, text = timed([*exe, "--database", db, "sync", "big"])
        rows = target_rows(target) if target.exists() else []
        wrong = []
        if code != 0:
            wrong.append(f"exit {code}: {text.strip()[-500:]}")
        if len(rows) != count or len({row["emails"] for row in rows}) != count:
            wrong.append(f"{len(rows)} rows in the target ({count} wanted), or some twice")
        if phase == "changes":
            arrived = sum(row["notes"].startswith("edited ") for row in rows)
            if arrived != len(edited):
                wrong.append(f"{arrived} of {len(edited)} edits arrived")
        ok = ok and not wrong
        said = "ok" if not wrong else "WRONG: " + "; ".join(wrong)
        print(f"{phase:8} {count:>7,} rows  {seconds:7.2f} s  peak {peak:6.1f} MB  {said}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10000,50000")
    shm = Path("/dev/shm")
    parser.add_argument("--workdir", default=str(shm) if shm.is_dir() else tempfile.gettempdir())
    args = parser.parse_args()
    exe = [sys.executable, "-m", "contacthub"]
    work = Path(args.workdir) / "contacthub-csv-bench"
    print(f"working in {work}")
    ok = all([run(int(n), work, exe) for n in args.counts.split(",")])
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
