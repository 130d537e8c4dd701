"""How the command line ends (``cli._exit_now``): without the interpreter's teardown, but
with everything an exit does that anyone sees: the store closed (SQLite's WAL written back),
the output whole through a pipe, the exit code kept."""

from __future__ import annotations

import json
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
