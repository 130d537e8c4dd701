"""How the command line ends (``cli._exit_now``): without the interpreter's teardown, but
with everything an exit does that anyone sees: the store closed (SQLite's WAL written back),
the output whole through a pipe, the exit code kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.sheets import person_card


def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, *args], capture_output=True, text=True
    )


def test_commands_end_with_the_store_closed_and_their_output_whole(tmp_path: Path) -> None:
    folder, other = tmp_path / "cards", tmp_path / "copy"
    folder.mkdir()
    other.mkdir()
    for i in range(400):
        (folder / f"p{i}.vcf").write_text(person_card(i, TITLE=f"Title {i}"))
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{folder}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{other}"\n'
    )
    store = tmp_path / "h.db"
    db = f"sqlite:///{store}"
    wal = tmp_path / "h.db-wal"
    assert run(db, "apply", str(hub)).returncode == 0 and not wal.exists()
    synced = run(db, "sync", "h", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["changes"]["b"]["create"] == 400
    assert not wal.exists()  # closed: the last connection wrote the WAL back
    shown = run(db, "show", "1", "--json")  # far more than a pipe's buffer
    assert shown.returncode == 0 and len(shown.stdout) > 200_000
    assert len(json.loads(shown.stdout)["journal"]) == 800
    for card in folder.iterdir():
        card.unlink()
    held = run(db, "sync", "h", "--json")
    assert held.returncode == 3 and json.loads(held.stdout)["status"] == "held"
    assert not wal.exists()
    missing = run(db, "sync", "nohub")
    assert missing.returncode == 2 and "nohub" in missing.stderr and "Traceback" not in missing.stderr


def test_the_demo_leaves_one_whole_store_file(tmp_path: Path) -> None:
    """The demo opens its store itself, not through the command line's ``db``: left open at
    the quick exit, its hubs were in ``d.db-wal`` and a copy of ``d.db`` alone had none."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'd.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "demo", "--dir", str(tmp_path / "files")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "d.db-wal").exists()
    shutil.copy(tmp_path / "d.db", tmp_path / "copy.db")
    runs = run(f"sqlite:///{tmp_path / 'copy.db'}", "runs", "demo")
    assert runs.returncode == 0 and "applied" in runs.stdout, runs.stderr


def test_a_closed_output_keeps_the_exit_code_and_a_profiler_gets_its_figures(tmp_path: Path) -> None:
    """With stdout or stderr closed (``>&-`` in a cron line) Python has no stream to flush:
    the exit said 1 and a traceback for a command that worked. And ``python -m cProfile``
    writes its figures once ``main`` returns, which the quick exit never did."""
    folder = tmp_path / "cards"
    folder.mkdir()
    for i in range(6):
        (folder / f"p{i}.vcf").write_text(person_card(i))
    hub = tmp_path / "hub.toml"
    hub.write_text(f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{folder}"\n')
    db = f"sqlite:///{tmp_path / 'h.db'}"
    command = [sys.executable, "-m", "contacthub", "--database", db]

    def closed(redirect: str, *args: str) -> int:
        shell = f'"$0" "$@" {redirect}'
        return subprocess.run(["sh", "-c", shell, *command, *args], capture_output=True).returncode

    assert closed(">&-", "apply", str(hub)) == 0
    assert closed("2>&-", "sync", "h") == 0 and closed(">&-", "sync", "h", "--json") == 0
    assert closed("2>&-", "show", "99") == 2
    for card in folder.iterdir():
        card.unlink()
    assert closed(">&- 2>&-", "sync", "h") == 3  # held
    profile = tmp_path / "p.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "contacthub", "--database", db, "hubs"],
        check=True,
        capture_output=True,
    )
    assert profile.stat().st_size > 10_000
