"""A hub file applied again with a connector changed: the next sync must lose nothing.

Each of these once did: pointing a connector at another file deleted its old people
everywhere, a field mapped to another column was emptied everywhere, and a filter added
and removed on an unchanged CSV file left edits that never arrived.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contacthub.cli import app

runner = CliRunner()


def cli(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--database", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def sync(db: str) -> dict:
    return json.loads(cli(db, "sync", "h", "--json"))


def setup(tmp_path: Path, sheet: str, extra: str = "", cards: str = "") -> tuple[str, Path, Path]:
    folder = tmp_path / "cards"
    folder.mkdir()
    for i in range(1, 5):
        (folder / f"p{i}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u{i}\r\nFN:Person {i}\r\nN:Person;{i};;;\r\n"
            f"EMAIL:p{i}@example.com\r\nNOTE:note {i}\r\nX-TRADE:trade{i}\r\nX-KEEP:x\r\nEND:VCARD\r\n"
        )
    hub = tmp_path / "hub.toml"
    write_hub(hub, folder, tmp_path / sheet, extra, cards)
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    cli(db, "apply", str(hub))
    sync(db)
    return db, folder, hub


def write_hub(hub: Path, folder: Path, sheet: Path, extra: str, cards: str = "") -> None:
    hub.write_text(
        f"""
[[hubs.h.connectors]]
name = "cards"
type = "vcard-dir"
path = "{folder}"
{cards}

[[hubs.h.connectors]]
name = "sheet"
type = "csv"
path = "{sheet}"
create = true
{extra}
"""
    )


def settled(db: str) -> None:
    assert sync(db)["changes"] == {}


def test_pointing_a_connector_at_another_file_deletes_no_one(tmp_path: Path) -> None:
    db, folder, hub = setup(tmp_path, "old.csv")
    (tmp_path / "new.csv").write_text("display_name,emails\nOther Person,work:other@example.com\n")
    write_hub(hub, folder, tmp_path / "new.csv", "")
    cli(db, "apply", str(hub))
    report = sync(db)
    assert report["status"] == "applied", report
    assert all(counts["delete"] == 0 for counts in report["changes"].values()), report
    assert len(list(folder.glob("*.vcf"))) == 5  # the four, and the new file's person
    assert all("X-KEEP:x" in (folder / f"p{i}.vcf").read_text() for i in range(1, 5))
    new = (tmp_path / "new.csv").read_text()
    assert all(f"p{i}@example.com" in new for i in range(1, 5))
    settled(db)


def test_a_field_mapped_to_another_column_is_emptied_nowhere(tmp_path: Path) -> None:
    cards = 'mapping = {"custom.trade" = "X-TRADE"}'
    db, folder, hub = setup(tmp_path, "s.csv", 'mapping = {"custom.trade" = "Trade"}', cards)
    assert "trade1" in (tmp_path / "s.csv").read_text()
    write_hub(hub, folder, tmp_path / "s.csv", 'mapping = {"custom.trade" = "Job"}', cards)
    cli(db, "apply", str(hub))
    sync(db)
    settled(db)
    assert all(f"X-TRADE:trade{i}" in (folder / f"p{i}.vcf").read_text() for i in range(1, 5))
    header, *rows = (tmp_path / "s.csv").read_text().splitlines()
    job = header.split(",").index("Job")
    assert sorted(row.split(",")[job] for row in rows) == ["trade1", "trade2", "trade3", "trade4"]


def test_edits_arrive_after_a_filter_comes_and_goes_on_an_unchanged_file(tmp_path: Path) -> None:
    db, folder, hub = setup(tmp_path, "s.csv")
    sheet = tmp_path / "s.csv"
    only_one = 'filter = {all = [{field = "email", op = "equals", value = "p1@example.com"}]}'
    write_hub(hub, folder, sheet, only_one)
    cli(db, "apply", str(hub))
    sync(db)
    sheet.write_text(sheet.read_text().replace("note 2", "note 2 edited in the sheet"))
    card = folder / "p3.vcf"
    card.write_text(card.read_text().replace("note 3", "note 3 edited in the card"))
    sync(db)
    write_hub(hub, folder, sheet, "")
    cli(db, "apply", str(hub))
    report = sync(db)
    assert report["errors"] == [], report
    settled(db)
    assert "note 2 edited in the sheet" in (folder / "p2.vcf").read_text()
    assert "note 3 edited in the card" in sheet.read_text()
