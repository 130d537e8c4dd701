"""A hub named ``h`` of one vCard folder (``cards``) and one CSV file (``sheet``), driven
through the command line: the set-up of the end-to-end tests of a folder and a sheet."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from contacthub.cli import app

runner = CliRunner()


def person_card(i: int, **extra: str) -> str:
    lines = [f"UID:u{i}", f"FN:Person {i}", f"N:Person;{i};;;", f"EMAIL:p{i}@example.com"]
    lines += [f"{k}:{v}" for k, v in extra.items()]
    return "BEGIN:VCARD\r\nVERSION:3.0\r\n" + "".join(f"{x}\r\n" for x in lines) + "END:VCARD\r\n"


class HubCli:
    """The command line on the store ``db``, for a hub named ``h``."""

    db: str

    def cli(self, *args: str) -> str:
        result = runner.invoke(app, ["--database", self.db, *args])
        assert result.exit_code == 0, result.output
        return result.output

    def sync(self) -> dict[str, Any]:
        return json.loads(self.cli("sync", "h", "--json"))


@dataclass
class Site(HubCli):
    db: str
    folder: Path
    sheet: Path
    hub: Path

    def settled(self) -> None:
        """A run with no edits changes nothing."""
        assert self.sync()["changes"] == {}

    def apply(self, sheet_settings: str = "", cards_settings: str = "", sheet: Path | None = None) -> None:
        self.sheet = sheet or self.sheet
        self.hub.write_text(
            f"""
[[hubs.h.connectors]]
name = "cards"
type = "vcard-dir"
path = "{self.folder}"
{cards_settings}

[[hubs.h.connectors]]
name = "sheet"
type = "csv"
path = "{self.sheet}"
create = true
{sheet_settings}
"""
        )
        self.cli("apply", str(self.hub))

    def cards(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob("*.vcf"))

    def edit_first_row(self, **cells: str) -> None:
        """Set these cells of the sheet's first row, as a spreadsheet program saves it."""
        rows = list(csv.DictReader(self.sheet.read_text(encoding="utf-8").splitlines()))
        rows[0].update(cells)
        with self.sheet.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def site(
    tmp_path: Path, sheet_settings: str = "", cards_settings: str = "", people: int = 0, **extra: str
) -> Site:
    """The hub applied, with ``people`` cards in the folder (``extra`` properties each,
    ``{i}`` standing for the person's number), not yet synced."""
    folder = tmp_path / "cards"
    folder.mkdir(exist_ok=True)
    for i in range(1, people + 1):
        (folder / f"p{i}.vcf").write_text(person_card(i, **{k: v.format(i=i) for k, v in extra.items()}))
    made = Site(f"sqlite:///{tmp_path / 'hub.db'}", folder, tmp_path / "sheet.csv", tmp_path / "hub.toml")
    made.apply(sheet_settings, cards_settings)
    return made
