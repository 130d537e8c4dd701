"""Benchmark: contacthub against vdirsyncer, vCard folder <-> a real Radicale address book.

In one run, on a RAM-backed tmpfs, with one Radicale server (htpasswd auth, as in the
tests) that both tools talk to, each tool with its own address book and its own folder:

  small (default 1,000 contacts):
    1. initial  the folder of N contacts into an empty address book
    2. no-op    a sync with no change
    3. 1%       a sync after 1% of the folder's cards were edited
  large (default 10,000 contacts; the script loads each tool's address book once, with
  one whole-collection PUT, and each tool first syncs it into an empty folder: "setup"):
    4. no-op
    5. 1%       1% of the folder's cards edited

Each sync runs as a subprocess, measured by a small launcher with ``os.wait4``: wall
seconds, the client's CPU seconds (user + system) and its peak RSS. HTTP requests by
method are counted on the server side, from Radicale's request log, for both tools alike,
with the seconds Radicale itself took to answer them ("server s", from the same log) and
the rest of the wall time ("rest s": the client's own work, start-up included).
The address book is checked after every phase. Nothing here asserts on timings.

    .venv/bin/python bench/carddav.py [--small 1000] [--large 10000] [--tool both]
                                      [--keep] [--no-large]

vdirsyncer comes from ``bench/.venv-vdirsyncer`` (made by ``bench/vs_vdirsyncer.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_DIR))

import gen_contacts  # noqa: E402
from tests.radicale_server import Radicale  # noqa: E402
from vs_vdirsyncer import (  # noqa: E402
    compile_sources,
    contacthub_command,
    ensure_vdirsyncer,
    vdirsyncer_bin,
)

USER, PASSWORD = "bench", "bench-pass-1"
HUB = "bench"

LAUNCHER = """
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(out, "w") as f:
    f.write(f"{seconds!r} {usage.ru_utime + usage.ru_stime!r} {usage.ru_maxrss} "
            f"{os.waitstatus_to_exitcode(status)}")
"""


@dataclass
class Figures:
    wall: float
    cpu: float
    peak_mb: float
    requests: Counter[str] = field(default_factory=Counter)
    server: float = 0.0  # seconds Radicale spent answering, by its own log

    def row(self) -> str:
        calls = " ".join(f"{m} {n}" for m, n in sorted(self.requests.items()))
        total = sum(self.requests.values())
        return (
            f"{self.wall:8.2f} {self.server:8.2f} {self.wall - self.server:8.2f} {self.cpu:8.2f}"
            f" {self.peak_mb:8.1f} {total:7d}  {calls}"
        )


class BenchError(Exception):
    pass


def measured(cmd: list[str], cwd: Path) -> tuple[float, float, float, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as usage, tempfile.TemporaryFile() as err:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, usage.name, *cmd]
        proc = subprocess.run(
            launcher, cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT
        )
        fields = usage.read().split()
        err.seek(0)
        output = err.read().decode("utf-8", "replace")
        if proc.returncode != 0 or len(fields) != 4 or fields[3] != "0":
            raise BenchError(f"{' '.join(cmd)} failed:\n{output[-3000:]}")
        return float(fields[0]), float(fields[1]), int(fields[2]) / 1024, output


_REQUEST = re.compile(r"\b([A-Z]+) request for '")
_ANSWERED = re.compile(r"\b[A-Z]+ response status for '.*? in ([0-9.]+) seconds")


class Server:
    """Radicale with its request log, counted between two points."""

    def __init__(self, root: Path) -> None:
        self.radicale = Radicale(root / "radicale", {USER: PASSWORD}, log_level="info").start()
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.radicale.log.stat().st_size

    def requests(self) -> tuple[Counter[str], float]:
        """Requests by method since ``mark``, and the seconds Radicale took to answer them."""
        with open(self.radicale.log, "rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        return Counter(_REQUEST.findall(text)), sum(float(s) for s in _ANSWERED.findall(text))

    def book(self, name: str, cards: Path | None = None) -> str:
        url = self.radicale.make_book(USER, name)
        if cards is not None:  # load it once: one PUT of the whole collection
            data = b"".join(p.read_bytes() for p in sorted(cards.glob("*.vcf")))
            with self.radicale.client(USER) as http:
                http.timeout = 600  # type: ignore[assignment]
                response = http.put(url, content=data, headers={"Content-Type": "text/vcard"})
                if response.status_code not in (201, 204):
                    raise BenchError(f"loading {url}: {response.status_code} {response.text[:300]}")
                http.request("PROPFIND", url, headers={"Depth": "1"})  # fills Radicale's item cache
        return url

    def cards(self, name: str) -> dict[str, str]:
        """UID -> TITLE of every card stored in an address book, read from Radicale's folder."""
        out = {}
        for path in self.radicale.book_folder(USER, name).glob("*"):
            if path.is_file() and not path.name.startswith("."):
                text = re.sub(r"\r?\n[ \t]", "", path.read_text("utf-8"))
                uid = re.search(r"^UID:(.*)$", text, re.M)
                title = re.search(r"^TITLE:(.*)$", text, re.M)
                out[uid.group(1).strip() if uid else path.stem] = title.group(1).strip() if title else ""
        return out


class Tool:
    name = ""

    def __init__(self, root: Path, server: Server, book: str, folder_from: Path | None) -> None:
        self.root, self.server, self.book = root, server, book
        self.folder = root / "folder"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if folder_from is not None:
            shutil.copytree(folder_from, self.folder)
        else:
            self.folder.mkdir()
        self.setup()

    def setup(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def sync(self) -> Figures:
        self.server.mark()
        wall, cpu, peak, _ = measured(self.command(), self.root)
        time.sleep(0.2)  # the last log lines
        return Figures(wall, cpu, peak, *self.server.requests())


class Contacthub(Tool):
    name = "contacthub"

    def setup(self) -> None:
        self.db = f"sqlite:///{self.root / 'hub.db'}"
        toml = self.root / "hub.toml"
        toml.write_text(
            f'[hubs.{HUB}]\nconflict = "newest"\ndelete_threshold = "10%"\n\n'
            f'[[hubs.{HUB}.connectors]]\nname = "folder"\ntype = "vcard-dir"\n'
            f"path = {json.dumps(str(self.folder))}\n\n"
            f'[[hubs.{HUB}.connectors]]\nname = "dav"\ntype = "carddav"\n'
            f'url = "{self.book}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
        )
        measured([*contacthub_command(None), "--database", self.db, "apply", str(toml)], self.root)

    def command(self) -> list[str]:
        return [*contacthub_command(None), "--database", self.db, "sync", HUB]


class Vdirsyncer(Tool):
    name = "vdirsyncer"

    def setup(self) -> None:
        self.conf = self.root / "vdirsyncer.conf"
        (self.root / "status").mkdir()
        self.conf.write_text(
            f'[general]\nstatus_path = "{self.root / "status"}/"\n\n'
            '[pair bench]\na = "bench_folder"\nb = "bench_dav"\ncollections = null\n'
            'conflict_resolution = "a wins"\n\n'
            f'[storage bench_folder]\ntype = "filesystem"\npath = "{self.folder}/"\nfileext = ".vcf"\n\n'
            f'[storage bench_dav]\ntype = "carddav"\nurl = "{self.book}"\n'
            f'username = "{USER}"\npassword = "{PASSWORD}"\n'
        )
        measured([str(vdirsyncer_bin()), "-c", str(self.conf), "discover"], self.root)

    def command(self) -> list[str]:
        return [str(vdirsyncer_bin()), "-c", str(self.conf), "sync"]


def edit_titles(folder: Path, share: float, seed: int) -> dict[str, str]:
    """Give ``share`` of the folder's cards a new TITLE (and a newer mtime); UID -> title."""
    paths = sorted(folder.glob("*.vcf"))
    rng = random.Random(seed)
    chosen = rng.sample(paths, max(1, int(len(paths) * share)))
    edits = {}
    later = time.time() + 5
    for i, path in enumerate(chosen):
        text = re.sub(r"\r?\n[ \t]", "", path.read_text("utf-8"))
        title = f"Edited title {seed}-{i}"
        text = re.sub(r"^TITLE:.*$", f"TITLE:{title}", text, count=1, flags=re.M)
        uid = re.search(r"^UID:(.*)$", text, re.M)
        path.write_bytes(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())
        os.utime(path, (later, later))
        edits[uid.group(1).strip() if uid else path.stem] = title
    return edits


def check(server: Server, book_name: str, count: int, edits: dict[str, str], tool: str, phase: str) -> None:
    cards = server.cards(book_name)
    problems = []
    if len(cards) != count:
        problems.append(f"{len(cards)} cards instead of {count}")
    wrong = [uid for uid, title in edits.items() if cards.get(uid) != title]
    if wrong:
        problems.append(f"{len(wrong)} edits missing, e.g. {wrong[0]}")
    if problems:
        raise BenchError(f"{tool} after {phase}: " + "; ".join(problems))


def run(args: argparse.Namespace) -> None:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="contacthub-carddav-bench-", dir=base))
    tools = ["contacthub", "vdirsyncer"] if args.tool == "both" else [args.tool]
    if "vdirsyncer" in tools:
        print(f"vdirsyncer {ensure_vdirsyncer('vdirsyncer==0.21.0')}")
    if "contacthub" in tools:
        compile_sources()
    print(f"working folders and Radicale storage in {root}")
    server = Server(root)
    results: list[tuple[str, str, str, Figures]] = []
    classes = {"contacthub": Contacthub, "vdirsyncer": Vdirsyncer}

    def phase(tool: Tool, size: str, name: str, count: int, edits: dict[str, str]) -> None:
        figures = tool.sync()
        check(server, tool.book.rstrip("/").rsplit("/", 1)[-1], count, edits, tool.name, name)
        results.append((size, name, tool.name, figures))
        print(f"  {size:>6} {name:<8} {tool.name:<11} {figures.row()}", flush=True)

    try:
        print(
            f"  {'size':>6} {'phase':<8} {'tool':<11} {'wall s':>8} {'server s':>8} {'rest s':>8}"
            f" {'cpu s':>8} {'peak MB':>8} {'HTTP':>7}"
        )
        small = root / f"master-{args.small}"
        gen_contacts.write_cards(small, args.small)
        for name in tools:
            tool = classes[name](root / f"{name}-small", server, server.book(f"{name}-small"), small)
            phase(tool, f"{args.small}", "initial", args.small, {})
            phase(tool, f"{args.small}", "no-op", args.small, {})
            edits = edit_titles(tool.folder, 0.01, 1)
            phase(tool, f"{args.small}", "1%", args.small, edits)
        if args.large:
            large = root / f"master-{args.large}"
            gen_contacts.write_cards(large, args.large, seed=7)
            for name in tools:
                started = time.perf_counter()
                book = server.book(f"{name}-large", large)
                print(f"  (loaded {args.large} cards for {name} in {time.perf_counter() - started:.1f} s)")
                tool = classes[name](root / f"{name}-large", server, book, None)
                phase(tool, f"{args.large}", "setup", args.large, {})
                phase(tool, f"{args.large}", "no-op", args.large, {})
                edits = edit_titles(tool.folder, 0.01, 2)
                phase(tool, f"{args.large}", "1%", args.large, edits)
    finally:
        server.radicale.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    out = BENCH_DIR / "out"
    out.mkdir(exist_ok=True)
    rows = [
        {
            "size": s,
            "phase": p,
            "tool": t,
            "wall": f.wall,
            "cpu": f.cpu,
            "peak_mb": f.peak_mb,
            "requests": f.requests,
            "server": f.server,
        }
        for s, p, t, f in results
    ]
    (out / "carddav.json").write_text(json.dumps(rows, indent=1))
    print(f"figures written to {out / 'carddav.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--no-large", dest="large", action="store_const", const=0)
    parser.add_argument("--tool", choices=["both", "contacthub", "vdirsyncer"], default="both")
    parser.add_argument("--keep", action="store_true")
    try:
        run(parser.parse_args())
    except BenchError as exc:
        sys.exit(f"benchmark failed: {exc}")


if __name__ == "__main__":
    main()
