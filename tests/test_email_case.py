"""An email keeps the case it was typed in, in every copy the hub writes, and still compares
and matches ignoring case: a vCard folder and a CSV file, end to end through the command
line. The hub lower-cased every email it read, and so wrote "bo.ek@example.org" for an
Outlook row's "Bo.Ek@Example.ORG"."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.sheets import Site, site

OUTLOOK = "First Name,Last Name,E-mail Address,Mobile Phone\r\nBo,Ek,Bo.Ek@Example.ORG,+46701234567\r\n"
ZOE = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:zoe\r\nFN:Zoe Private\r\nN:Private;Zoe;;;\r\n"
    "EMAIL:Zoe.Private@Example.ORG\r\nEND:VCARD\r\n"
)


def _hub(tmp_path: Path, fmt: str = "outlook") -> Site:
    (tmp_path / "sheet.csv").write_text(OUTLOOK if fmt == "outlook" else "", encoding="utf-8")
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "zoe.vcf").write_text(ZOE)
    return site(tmp_path, f'format = "{fmt}"')


def _card_of(hub: Site, text: str) -> Path:
    [found] = [p for p in hub.folder.glob("*.vcf") if text.casefold() in p.read_text().casefold()]
    return found


def _rows(hub: Site) -> list[dict[str, str]]:
    return list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))


def _emails(card: Path) -> list[str]:
    lines = card.read_text().splitlines()
    return [line.partition(":")[2] for line in lines if line.upper().startswith("EMAIL")]


def _files(hub: Site) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [hub.sheet, *hub.folder.glob("*.vcf")]}


def _store(hub: Site) -> sqlite3.Connection:
    return sqlite3.connect(hub.db.removeprefix("sqlite:///"))


def _stored_emails(hub: Site) -> list[list[str]]:
    with _store(hub) as db:
        rows = db.execute("SELECT data FROM contacts WHERE NOT deleted ORDER BY id").fetchall()
    return sorted([e["value"] for e in json.loads(data).get("emails", [])] for (data,) in rows)


@pytest.mark.parametrize("fmt", ["outlook", "google"])
def test_a_mixed_case_email_arrives_in_the_copy_with_its_case(tmp_path: Path, fmt: str) -> None:
    hub = _hub(tmp_path, fmt)
    if fmt == "google":  # the row comes from the folder instead
        (hub.folder / "bo.vcf").write_text(
            ZOE.replace("zoe", "bo").replace("Zoe Private", "Bo Ek").replace("Private;Zoe", "Ek;Bo")
            .replace("Zoe.Private", "Bo.Ek")
        )  # fmt: skip
    report = hub.sync()
    assert report["status"] == "applied", report
    assert _emails(_card_of(hub, "Bo.Ek@")) == ["Bo.Ek@Example.ORG"]
    column = "E-mail Address" if fmt == "outlook" else "E-mail 1 - Value"
    assert sorted(r[column] for r in _rows(hub)) == ["Bo.Ek@Example.ORG", "Zoe.Private@Example.ORG"]
    assert _stored_emails(hub) == [["Bo.Ek@Example.ORG"], ["Zoe.Private@Example.ORG"]]
    hub.settled()
    hub.settled()


def _as_the_old_code_left_it(hub: Site) -> None:
    """The store and the copies as a hub synced by a version that lower-cased every email
    left them: emails lower-case in the hub's contacts and its baselines, and in the copies
    it wrote (the card of the CSV's Bo, the row of the card's Zoe); the originals as typed.
    ``links.version`` (below) says nothing of the emails; what it sets off, a full read, is
    what would find a mismatch, and happens to such a hub sooner or later."""
    with _store(hub) as db:
        for table, column in (("contacts", "data"), ("links", "baseline")):
            for rid, text in db.execute(f"SELECT id, {column} FROM {table}").fetchall():
                value: dict[str, Any] = json.loads(text) if text else {}
                for e in value.get("emails", []):
                    e["value"] = e["value"].lower()
                db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (json.dumps(value), rid))
        # and every record to be read again and compared with its baseline (a full read, as
        # after a settings change), not skipped as unchanged since the hub last read it
        db.execute("UPDATE links SET version = 'read by an older version'")
    bo = _card_of(hub, "Bo.Ek@")
    bo.write_bytes(bo.read_bytes().replace(b"Bo.Ek@Example.ORG", b"bo.ek@example.org"))
    sheet = hub.sheet.read_bytes()
    hub.sheet.write_bytes(sheet.replace(b"Zoe.Private@Example.ORG", b"zoe.private@example.org"))


def test_a_hub_synced_with_lower_cased_emails_writes_nothing(tmp_path: Path) -> None:
    """No churn: the files hold each email in two spellings (the original as typed, the copy
    lower-cased), the store lower-case. Compared as they are, every original would read as
    an edit, and each run write it over the copy (and the copy's back)."""
    hub = _hub(tmp_path)
    hub.sync()
    _as_the_old_code_left_it(hub)
    assert _stored_emails(hub) == [["bo.ek@example.org"], ["zoe.private@example.org"]]
    before = _files(hub)
    assert b"Bo.Ek@Example.ORG" in before["sheet.csv"] and b"zoe.private@example.org" in before["sheet.csv"]
    hub.settled()
    hub.settled()
    assert _files(hub) == before
    assert _stored_emails(hub) == [["bo.ek@example.org"], ["zoe.private@example.org"]]

    # a real edit elsewhere is written without changing the spelling each copy holds
    card = _card_of(hub, "zoe.private@")  # Zoe's own card, as typed
    card.write_text(card.read_text().replace("END:VCARD", "TEL;TYPE=CELL:+46709876543\r\nEND:VCARD"))
    row = hub.sheet.read_text(encoding="utf-8").replace("+46701234567", "+46701111111")
    hub.sheet.write_text(row, encoding="utf-8")
    assert hub.sync()["changes"] == {
        "hub": {"create": 0, "update": 2, "delete": 0},
        "cards": {"create": 0, "update": 1, "delete": 0},
        "sheet": {"create": 0, "update": 1, "delete": 0},
    }
    assert _emails(_card_of(hub, "Bo.Ek@")) == ["bo.ek@example.org"]
    assert _emails(card) == ["Zoe.Private@Example.ORG"]
    rows = {r["First Name"]: r for r in _rows(hub)}
    assert rows["Bo"]["E-mail Address"] == "Bo.Ek@Example.ORG"
    assert rows["Zoe"]["E-mail Address"] == "zoe.private@example.org"
    assert rows["Zoe"]["Mobile Phone"].endswith("+46709876543")
    hub.settled()

    # and a person new since is written as typed
    with hub.sheet.open("a", encoding="utf-8", newline="") as sheet:
        sheet.write("Al,Berg,Al.Berg@Example.ORG,\r\n")
    assert hub.sync()["changes"]["cards"] == {"create": 1, "update": 0, "delete": 0}
    assert _emails(_card_of(hub, "Al.Berg@")) == ["Al.Berg@Example.ORG"]
    hub.settled()


def test_two_spellings_of_one_email_are_one_person_with_one_email(tmp_path: Path) -> None:
    """A card and a row of one person, their email in two cases: one contact, one email,
    each side keeping its own spelling (neither is an edit of the other's, so neither
    writes over the other, run after run)."""
    hub = _hub(tmp_path)
    hub.sheet.write_text(OUTLOOK + "Zoe,Private,ZOE.PRIVATE@example.org,\r\n", encoding="utf-8")
    report = hub.sync()
    assert report["changes"] == {
        "hub": {"create": 2, "update": 0, "delete": 0},
        "cards": {"create": 1, "update": 0, "delete": 0},
    }, report
    assert _stored_emails(hub) == [["Bo.Ek@Example.ORG"], ["Zoe.Private@Example.ORG"]]  # the first seen
    assert len(list(hub.folder.glob("*.vcf"))) == 2 and len(_rows(hub)) == 2
    assert _emails(hub.folder / "zoe.vcf") == ["Zoe.Private@Example.ORG"]
    assert {r["E-mail Address"] for r in _rows(hub)} == {"Bo.Ek@Example.ORG", "ZOE.PRIVATE@example.org"}
    before = _files(hub)
    hub.settled()
    hub.settled()
    assert _files(hub) == before

    # a change of case alone is no edit: it stays where it was made, and spreads nowhere
    card = hub.folder / "zoe.vcf"
    card.write_text(card.read_text().replace("Zoe.Private@Example.ORG", "zoe.PRIVATE@EXAMPLE.ORG"))
    before = _files(hub)
    hub.settled()
    hub.settled()
    assert _files(hub) == before
    assert _stored_emails(hub) == [["Bo.Ek@Example.ORG"], ["Zoe.Private@Example.ORG"]]


def test_two_spellings_in_one_record_are_one_email(tmp_path: Path) -> None:
    """A card listing one address twice, in two cases, holds one email (the first spelling)."""
    hub = _hub(tmp_path)
    card = hub.folder / "zoe.vcf"
    twice = "EMAIL;TYPE=WORK:zoe.private@example.org\r\nEND:VCARD"
    card.write_text(card.read_text().replace("END:VCARD", twice))
    hub.sync()
    assert _stored_emails(hub) == [["Bo.Ek@Example.ORG"], ["Zoe.Private@Example.ORG"]]
    hub.settled()
