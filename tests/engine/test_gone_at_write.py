"""A record deleted at a local connector between the pull and the write (a CSV row removed,
a card file deleted while the run reads the other side): the write that finds it gone takes
it as that deletion. Its link goes and the contact, edited elsewhere, is created there again
(modification beats deletion); the error was reported on every run before, and the person
came back only when a listing reported the deletion."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from contacthub import config
from contacthub.engine.context import Options, Report
from contacthub.engine.run import run_hub
from contacthub.store import tables as t
from contacthub.store.db import open_database

CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Del Me\r\nN:Me;Del;;;\r\nEMAIL:delme@example.org\r\n"
CARD += "NOTE:{note}\r\nEND:VCARD\r\n"


def rows(sheet: Path) -> list[dict[str, str]]:
    with sheet.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("gone_from", ["sheet", "cards"])
def test_a_record_gone_when_written_is_created_again(sqlite_url: str, tmp_path: Path, gone_from: str) -> None:
    folder, sheet = tmp_path / "cards", tmp_path / "people.csv"
    folder.mkdir()
    (folder / "u1.vcf").write_text(CARD.format(note="first"), encoding="utf-8")
    sheet.write_text("id,first_name,last_name,email,notes\r\n", encoding="utf-8")
    # the side the record goes from is read first; the deletion happens while the other
    # side is read, after its own pull, so only the write can find it
    cards = {"name": "cards", "type": "vcard-dir", "path": str(folder)}
    table = {"name": "sheet", "type": "csv", "path": str(sheet), "format": "plain"}
    connectors = [table, cards] if gone_from == "sheet" else [cards, table]
    engine = open_database(sqlite_url)
    config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": connectors}}}))

    def sync(progress: Any = None) -> Report:
        return run_hub(engine, "h", options=Options(), progress=progress)

    first = sync()
    assert first.errors == [] and len(rows(sheet)) == 1
    other = connectors[1]["name"]

    def delete_record() -> None:
        if gone_from == "sheet":
            sheet.write_text("id,first_name,last_name,email,notes\r\n", encoding="utf-8")
        else:
            (folder / "u1.vcf").unlink()

    def progress(label: str, done: int, total: int | None) -> None:
        if label == f"reading {other}" and done:
            delete_record()

    if gone_from == "sheet":  # edited on the card, removed from the sheet
        (folder / "u1.vcf").write_text(CARD.format(note="edited"), encoding="utf-8")
    else:  # edited in the sheet, its card file deleted
        row = rows(sheet)[0]
        row["notes"] = "edited"
        with sheet.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, list(row))
            writer.writeheader()
            writer.writerow(row)
    report = sync(progress)
    assert report.status == "applied" and report.errors == [], report.errors
    journal = [
        (r.op, r.status)
        for r in engine.connect().execute(
            select(t.changes.c.op, t.changes.c.status).where(
                t.changes.c.run_id == report.run_id, t.changes.c.connector_name == gone_from
            )
        )
    ]
    assert ("update", "failed") in journal and ("unlink", "done") in journal
    if gone_from == "sheet":  # a CSV file is written at once: created again in this run
        assert ("create", "done") in journal
    else:  # a folder writes behind: the plan had passed the contact, so the next run does
        assert sync().errors == []
    assert [r["notes"] for r in rows(sheet)] == ["edited"]
    assert "NOTE:edited" in (folder / "u1.vcf").read_text(encoding="utf-8")
    quiet = sync()
    assert quiet.errors == [] and all(sum(c.values()) == 0 for c in quiet.changes.values()), quiet.changes


def test_a_deletion_whose_record_is_already_gone_is_done(sqlite_url: str, tmp_path: Path) -> None:
    """A card deleted, and its person's row removed from the sheet after the sheet was read:
    the row's deletion finds no row, which is what it wanted (it failed on every run)."""
    folder, sheet = tmp_path / "cards", tmp_path / "people.csv"
    folder.mkdir()
    for i in (1, 2):
        text = CARD.format(note="first").replace("u1", f"u{i}").replace("delme", f"p{i}")
        (folder / f"u{i}.vcf").write_text(text.replace("FN:Del Me", f"FN:Del Me{i}"), encoding="utf-8")
    sheet.write_text("id,first_name,last_name,email,notes\r\n", encoding="utf-8")
    cards = {"name": "cards", "type": "vcard-dir", "path": str(folder)}
    table = {"name": "sheet", "type": "csv", "path": str(sheet), "format": "plain"}
    engine = open_database(sqlite_url)
    config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": [table, cards]}}}))
    assert run_hub(engine, "h", options=Options()).errors == []
    assert len(rows(sheet)) == 2

    def progress(label: str, done: int, total: int | None) -> None:
        if label == "reading cards" and done:  # the sheet was read: its u1 row goes now
            keep = [r for r in rows(sheet) if r["id"] != "u1"]
            with sheet.open("w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, list(keep[0]))
                writer.writeheader()
                writer.writerows(keep)

    (folder / "u1.vcf").unlink()
    (folder / "u2.vcf").write_text(
        (folder / "u2.vcf").read_text(encoding="utf-8").replace("first", "edited"), encoding="utf-8"
    )
    report = run_hub(engine, "h", options=Options(), progress=progress)
    assert report.status == "applied" and report.errors == [], report.errors
    assert report.changes["sheet"] == {"create": 0, "update": 1, "delete": 1}
    assert [(r["id"], r["notes"]) for r in rows(sheet)] == [("u2", "edited")]
    quiet = run_hub(engine, "h", options=Options())
    assert quiet.errors == [] and all(sum(c.values()) == 0 for c in quiet.changes.values()), quiet.changes
