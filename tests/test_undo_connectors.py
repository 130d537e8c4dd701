"""Undo after the hub's connectors changed: one renamed, removed, or pointed elsewhere and
back. Each made an undo of an older run take the wrong records for the ones it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contacthub.cli import app

runner = CliRunner()


def card(uid: str, name: str, email: str, extra: str = "") -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEMAIL:{email}\r\n{extra}END:VCARD\r\n"


class Hub:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.db = f"sqlite:///{tmp_path / 'hub.db'}"

    def cli(self, *args: str) -> str:
        result = runner.invoke(app, ["--database", self.db, *args])
        assert result.exit_code == 0, result.output
        return result.output

    def apply(self, *connectors: tuple[str, str]) -> str:
        text = "[hubs.h]\n" + "".join(
            f'[[hubs.h.connectors]]\nname = "{name}"\ntype = "vcard-dir"\npath = "{self.root / folder}"\n'
            "create = true\n"
            for name, folder in connectors
        )
        (self.root / "hub.toml").write_text(text)
        return self.cli("apply", str(self.root / "hub.toml"))

    def sync(self) -> dict:
        return json.loads(self.cli("sync", "h", "--json"))

    def files(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.root / folder).glob("*.vcf"))


def test_undoing_a_run_that_wrote_into_a_removed_connector_deletes_no_one(tmp_path: Path) -> None:
    """Its rows lost their connector id with the connector, and were taken for the hub's:
    the undo deleted the three people, and their cards in y."""
    hub = Hub(tmp_path)
    (tmp_path / "X").mkdir()
    for i in (1, 2, 3):
        (tmp_path / "X" / f"p{i}.vcf").write_text(card(f"p{i}", f"Pat {i}", f"pat{i}@x.test"))
    hub.apply(("x", "X"), ("y", "Y"))
    hub.sync()
    hub.apply(("x", "X"), ("y", "Y"), ("z", "Z"))
    second = hub.sync()
    assert second["changes"] == {"z": {"create": 3, "update": 0, "delete": 0}}
    hub.apply(("x", "X"), ("y", "Y"))
    hub.cli("undo", str(second["run"]))
    assert hub.sync()["changes"] == {}
    assert hub.files("X") == ["p1.vcf", "p2.vcf", "p3.vcf"] and len(hub.files("Y")) == 3


def test_a_renamed_connector_keeps_its_links_and_an_undo_takes_back_its_copies(tmp_path: Path) -> None:
    """Taken for a removal and a new connector, the copy written under the old name was
    no longer known as one: the undo left it behind, detached, for good."""
    hub = Hub(tmp_path)
    (tmp_path / "Y").mkdir()
    (tmp_path / "Y" / "typed.vcf").write_text(card("src-1", "Dora New", "dora@d.test"))
    hub.apply(("x", "X"), ("y", "Y"))
    first = hub.sync()
    assert hub.files("X") == ["src-1.vcf"]
    printed = hub.apply(("xfolder", "X"), ("y", "Y"))
    assert "renamed from 'x'" in printed and "removed" not in printed
    assert hub.sync()["changes"] == {}
    hub.cli("undo", str(first["run"]))
    hub.sync()
    assert hub.files("X") == [] and hub.files("Y") == ["typed.vcf"]
    assert hub.sync()["changes"] == {}


def test_an_undo_keeps_the_card_a_person_was_read_from_after_its_folder_moved_and_back(
    tmp_path: Path,
) -> None:
    """y pointed at another folder got a copy there; back on its own folder, its card (the
    one the person was read from) was taken for that copy, and the undo deleted it."""
    hub = Hub(tmp_path)
    (tmp_path / "Y").mkdir()
    (tmp_path / "Y" / "typed-by-hand.vcf").write_text(
        card("src-1", "Dora New", "dora@d.test", "X-ONLY-HERE:precious\r\n")
    )
    hub.apply(("x", "X"), ("y", "Y"))
    first = hub.sync()
    hub.apply(("x", "X"), ("y", "Z"))
    hub.sync()
    hub.apply(("x", "X"), ("y", "Y"))
    hub.sync()
    hub.cli("undo", str(first["run"]))
    hub.sync()
    assert hub.files("Y") == ["typed-by-hand.vcf"] and hub.files("X") == []
    assert "X-ONLY-HERE:precious" in (tmp_path / "Y" / "typed-by-hand.vcf").read_text()
    assert hub.sync()["changes"] == {}


def test_an_undo_after_two_connectors_swapped_folders_deletes_no_ones_own_card(tmp_path: Path) -> None:
    """Each connector then pointed at the other's folder, where the copy it had written
    bore the same file name as the card a person was read from: the journal took the
    originals for copies, and the undo deleted them. A link now says whether we made it."""
    hub = Hub(tmp_path)
    for folder, uid, name in (("P1", "a", "Alice Smith"), ("P2", "c", "Carol White")):
        (tmp_path / folder).mkdir()
        extra = "X-MY-NOTE:only here\r\n"
        (tmp_path / folder / f"{uid}.vcf").write_text(card(uid, name, f"{uid}@x.test", extra))
    hub.apply(("one", "P1"), ("two", "P2"))
    first = hub.sync()
    assert hub.files("P1") == hub.files("P2") == ["a.vcf", "c.vcf"]
    hub.apply(("two", "P1"), ("one", "P2"))
    hub.sync()
    hub.cli("undo", str(first["run"]))
    hub.sync()
    # each person's own card is kept; no original went to the trash
    assert "a.vcf" in hub.files("P1") and "c.vcf" in hub.files("P2")
    assert "X-MY-NOTE:only here" in (tmp_path / "P1" / "a.vcf").read_text()
    assert "X-MY-NOTE:only here" in (tmp_path / "P2" / "c.vcf").read_text()
    assert hub.sync()["changes"] == {}


def test_an_undo_whose_sync_finds_8_of_20_cards_deleted_is_held_as_a_sync_is(tmp_path: Path) -> None:
    """The undo's sync carried the deletion out, in the hub and the other folder, unheld,
    where a sync was held: its own deletions are never held, the ones it finds are."""
    hub = Hub(tmp_path)
    (tmp_path / "X").mkdir()
    for i in range(20):
        (tmp_path / "X" / f"p{i:02}.vcf").write_text(card(f"p{i:02}", f"Pat {i}", f"pat{i}@x.test"))
    hub.apply(("x", "X"), ("y", "Y"))
    hub.sync()
    path = tmp_path / "X" / "p00.vcf"
    path.write_text(path.read_text().replace("FN:Pat 0", "FN:Pat Zero"))
    edit = hub.sync()
    for i in range(1, 9):
        (tmp_path / "X" / f"p{i:02}.vcf").unlink()
    result = runner.invoke(app, ["--database", hub.db, "undo", str(edit["run"]), "--json"])
    assert result.exit_code == 3, result.output
    held = json.loads(result.output)
    assert held["status"] == "held"
    assert {h["connector"]: h["deletes"] for h in held["held"]} == {"x": 8, "y": 8}
    assert len(hub.files("Y")) == 20 and len(hub.files("X")) == 12
    shown = json.loads(hub.cli("show", str(held["run"]), "--json"))
    assert f"the undo of run {edit['run']} was not done" in shown["message"]
    hub.cli("approve", str(held["run"]))
    assert len(hub.files("Y")) == 12
    undone = json.loads(hub.cli("undo", str(edit["run"]), "--json"))
    assert undone["status"] == "applied" and "FN:Pat 0\n" in path.read_text()
    assert hub.sync()["changes"] == {}
