"""Crash safety: a sync killed with SIGKILL at any moment, then run again, ends with no
duplicate and no lost edit. The sync runs as a real subprocess of the command line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import card, read_cards

pytestmark = pytest.mark.slow

N = 1500


def start(db: str, hub: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", hub, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def sync(db: str, hub: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", hub, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def kill_when(proc: subprocess.Popen[bytes], ready: callable, deadline: float = 60) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False when it finished first."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("sync neither finished nor reached the kill point")


def setup_hub(tmp_path: Path) -> tuple[str, Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(N):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"Given{i}", f"Family{i}", f"p{i}@example.com"))
    hub_file = tmp_path / "hub.toml"
    hub_file.write_text(
        f'[hubs.h]\ndelete_threshold = "10%"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    subprocess.run([sys.executable, "-m", "contacthub", "--database", db, "apply", str(hub_file)], check=True)
    return db, a, b


def check_converged(db: str, a: Path, b: Path, expect: int) -> tuple[dict, dict]:
    sync(db, "h")
    out = sync(db, "h")
    assert '"changes": {}' in out, out  # settled: a further run changes nothing
    cards_a, cards_b = read_cards(a), read_cards(b)
    emails_a = [c["email"] for c in cards_a.values()]
    emails_b = [c["email"] for c in cards_b.values()]
    assert len(emails_a) == len(set(emails_a)) == expect  # no duplicate
    assert len(emails_b) == len(set(emails_b)) == expect
    return cards_a, cards_b


def test_killed_initial_copy_recovers_without_duplicates(tmp_path: Path) -> None:
    db, a, b = setup_hub(tmp_path)
    rng = random.Random(7)
    kills = 0
    for _ in range(4):  # kill it several times at different moments of the apply
        before = len(os.listdir(b))
        target = before + rng.randint(1, 400)
        proc = start(db, "h")
        if kill_when(proc, lambda t=target: len(os.listdir(b)) >= t):
            kills += 1
    assert kills >= 1
    check_converged(db, a, b, N)


def test_a_killed_run_counts_what_it_kept_and_can_be_undone(tmp_path: Path) -> None:
    """A killed first sync had created hundreds of people and said +0 once recovered, and
    undo refused it for being failed: those creates belonged to no run one could undo."""
    import json

    db, _, b = setup_hub(tmp_path)
    proc = start(db, "h")
    assert kill_when(proc, lambda: len(os.listdir(b)) >= 200)
    sync(db, "h")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "contacthub", "--database", db, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    runs = {r["id"]: r for r in json.loads(cli("runs", "h", "--json").stdout)}
    killed = runs[min(runs)]
    assert killed["status"] == "failed"
    journal = json.loads(cli("show", str(killed["id"]), "--json").stdout)
    hub_creates = [c for c in journal["journal"] if c["connector"] == "hub" and c["op"] == "create"]
    made = sum(c["status"] == "done" for c in hub_creates)
    assert made > 0
    assert killed["changes"]["hub"]["create"] == made
    undo = cli("undo", str(killed["id"]), "--json")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert json.loads(undo.stdout)["changes"]["hub"]["delete"] == made
    # every copy of those people goes, also those the run after it wrote or found again
    # by the hub id they carry (the run had left their creates "interrupted")
    assert len(list(b.glob("*.vcf"))) == N - made


def test_a_killed_undo_counts_the_people_it_brought_back(tmp_path: Path) -> None:
    """A killed undo of an undo had brought every person back in the hub (its journal held
    their ``restore`` rows, done) and said +0 once recovered: a killed run's counts left
    out the op an applied undo counts as a creation."""
    import json

    db, _, b = setup_hub(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "contacthub", "--database", db, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    sync(db, "h")  # run 1: copies everyone into b
    first_undo = cli("undo", "1", "--json")  # run 2: deletes them everywhere but a
    assert first_undo.returncode == 0, first_undo.stdout + first_undo.stderr
    assert not list(b.glob("*.vcf"))
    proc = subprocess.Popen(  # run 3: brings them back, killed while it writes b
        [sys.executable, "-m", "contacthub", "--database", db, "undo", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert kill_when(proc, lambda: len(os.listdir(b)) >= 200)
    sync(db, "h")

    runs = {r["id"]: r for r in json.loads(cli("runs", "h", "--json").stdout)}
    killed = runs[3]
    assert (killed["kind"], killed["status"]) == ("undo", "failed")
    journal = json.loads(cli("show", "3", "--json").stdout)["journal"]
    restored = sum((c["connector"], c["op"], c["status"]) == ("hub", "restore", "done") for c in journal)
    assert restored == N  # the hub's part is one transaction: all of it was kept
    # counted as the applied undo counts a restore, a creation in the hub
    assert killed["changes"]["hub"] == {"create": restored, "update": 0, "delete": 0}
    written = sum(c["connector"] == "b" and c["status"] == "done" for c in journal)
    assert killed["changes"].get("b", {}).get("create", 0) == written


def test_killed_run_loses_no_edit(tmp_path: Path) -> None:
    db, a, b = setup_hub(tmp_path)
    sync(db, "h")
    by_email_b = {c["email"]: path for path, c in read_cards(b).items()}
    edits_a, edits_b = {}, {}
    for i in range(0, N, 3):
        text = (a / f"p{i}.vcf").read_text().replace("END:VCARD", f"TITLE:title-{i}\r\nEND:VCARD")
        (a / f"p{i}.vcf").write_text(text)
        edits_a[f"p{i}@example.com"] = f"title-{i}"
    for i in range(1, N, 3):
        path = by_email_b[f"p{i}@example.com"]
        text = path.read_text().replace("END:VCARD", f"NOTE:note-{i}\r\nEND:VCARD")
        path.write_text(text)
        edits_b[f"p{i}@example.com"] = f"note-{i}"
    mtimes = {p.name: p.stat().st_mtime_ns for p in b.glob("*.vcf")}

    def rewritten() -> int:
        count = 0
        for entry in os.scandir(b):
            try:
                if entry.name in mtimes and entry.stat().st_mtime_ns != mtimes[entry.name]:
                    count += 1
            except FileNotFoundError:  # a temporary file renamed meanwhile
                pass
        return count

    proc = start(db, "h")
    # kill once the run has started writing the edits into b (at the first one seen: on a
    # loaded machine, waiting for 20 let a run write all 500 of a page between two looks)
    assert kill_when(proc, lambda: rewritten() >= 1), "the run finished before it could be killed"
    cards_a, cards_b = check_converged(db, a, b, N)
    for cards in (cards_a, cards_b):
        got = {c["email"]: c for c in cards.values()}
        for email, title in edits_a.items():
            assert got[email]["title"] == title
        for email, note in edits_b.items():
            assert got[email]["note"] == note


def test_killed_first_copy_into_a_csv_file_recovers_without_duplicates(tmp_path: Path) -> None:
    """The CSV file is written a page at a time from the table kept in memory between pages
    (``CsvStore._kept``): killed between pages or in the middle of one, the file on disk
    is always a whole page's, and the run after it ends with every person once."""
    import csv

    db, a, _ = setup_hub(tmp_path)
    sheet = tmp_path / "b.csv"
    hub_file = tmp_path / "hub.toml"
    hub_file.write_text(
        f'[hubs.s]\ndelete_threshold = "10%"\n'
        f'[[hubs.s.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.s.connectors]]\nname = "b"\ntype = "csv"\npath = "{sheet}"\n'
        'format = "plain"\ncreate = true\n'
    )
    subprocess.run([sys.executable, "-m", "contacthub", "--database", db, "apply", str(hub_file)], check=True)

    def rows() -> int:
        try:
            return sheet.read_bytes().count(b"@example.com")
        except FileNotFoundError:
            return 0

    kills = 0
    for target in (1, 700):
        if kill_when(start(db, "s"), lambda t=target: rows() >= t):
            kills += 1
    assert kills >= 1
    sync(db, "s")
    assert '"changes": {}' in sync(db, "s")
    with sheet.open(encoding="utf-8", newline="") as f:
        emails = [row["emails"] for row in csv.DictReader(f)]
    assert len(emails) == len(set(emails)) == N
