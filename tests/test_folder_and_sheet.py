"""A vCard folder two-way with a CSV file, end to end through the command line.

Each test is a case that once lost or damaged something: a blank row read back as a
deleted person, a deleted row written back instead of deleted, a removed column read as
everyone's values removed, a connector pointed elsewhere deleting its old people, a field
mapped to another column emptied everywhere, and edits that never arrived after a filter
came and went on an unchanged file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from contacthub.connectors.csv_file import CsvConnector
from contacthub.connectors.vcard_dir import REREAD, VCardDirConnector
from contacthub.formats.csv_columns import PLAIN_COLUMNS
from contacthub.store import tables as t
from tests.sheets import Site, app, person_card, runner, site


@pytest.mark.parametrize("fmt", ["thunderbird", "outlook", "google", "plain"])
def test_real_cards_with_a_csv_file_lose_nothing(tmp_path: Path, corpus_dir: Path, fmt: str) -> None:
    """Every corpus card, three runs. Cards with nothing a CSV column holds (only a photo,
    only X- properties) once went out as blank rows, which read back as deleted rows: the
    second run then deleted their files from the folder."""
    shutil.copytree(corpus_dir / "vcards", tmp_path / "cards")
    hub = site(tmp_path, f'format = "{fmt}"')
    names = sorted(p.name for p in hub.folder.iterdir())
    first = hub.sync()
    assert first["status"] == "applied" and first["changes"]["sheet"]["create"] > 40
    hub.settled()
    hub.settled()
    assert sorted(p.name for p in hub.folder.iterdir()) == names


@pytest.mark.parametrize("fmt", ["google", "outlook", "thunderbird", "plain"])
def test_a_row_deleted_from_a_csv_file_deletes_the_card(tmp_path: Path, fmt: str) -> None:
    """The CSV baseline is what the row holds of the columns the file has: a display name
    derived on reading (Google's file has no column for it), or an email type an Outlook
    file cannot hold, once made every deleted row look edited, so it was written back."""
    hub = site(tmp_path, f'format = "{fmt}"', people=6)
    assert hub.sync()["changes"]["sheet"]["create"] == 6
    lines = hub.sheet.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    hub.sheet.write_text("".join(line for line in lines if "p3@example.com" not in line), encoding="utf-8")
    assert hub.sync()["changes"] == {
        "hub": {"create": 0, "update": 0, "delete": 1},
        "cards": {"create": 0, "update": 0, "delete": 1},
    }
    assert hub.cards() == ["p1.vcf", "p2.vcf", "p4.vcf", "p5.vcf", "p6.vcf"]
    hub.settled()


def test_a_column_removed_from_a_plain_csv_file_empties_nothing(tmp_path: Path) -> None:
    """Removing the notes column says the file no longer holds notes, not that everyone's
    notes were deleted (which emptied NOTE in every card)."""
    hub = site(tmp_path, 'format = "plain"', people=3, NOTE="note {i}")
    assert hub.sync()["changes"]["sheet"]["create"] == 3
    rows = list(csv.reader(hub.sheet.read_text(encoding="utf-8").splitlines()))
    drop = rows[0].index("notes")
    with hub.sheet.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([cell for n, cell in enumerate(row) if n != drop] for row in rows)
    hub.settled()
    hub.settled()
    assert all(f"NOTE:note {i}" in (hub.folder / f"p{i}.vcf").read_text() for i in range(1, 4))


def test_pointing_a_connector_at_another_file_deletes_no_one(tmp_path: Path) -> None:
    hub = site(tmp_path, people=4, **{"X-KEEP": "x"})
    hub.sync()
    other = tmp_path / "new.csv"
    other.write_text("display_name,emails\nOther Person,work:other@example.com\n")
    hub.apply(sheet=other)
    report = hub.sync()
    assert report["status"] == "applied", report
    assert all(counts["delete"] == 0 for counts in report["changes"].values()), report
    assert len(hub.cards()) == 5  # the four, and the new file's person
    assert all("X-KEEP:x" in (hub.folder / f"p{i}.vcf").read_text() for i in range(1, 5))
    assert all(f"p{i}@example.com" in other.read_text() for i in range(1, 5))
    hub.settled()


def test_a_field_mapped_to_another_column_is_emptied_nowhere(tmp_path: Path) -> None:
    cards = 'mapping = {"custom.trade" = "X-TRADE"}'
    hub = site(tmp_path, 'mapping = {"custom.trade" = "Trade"}', cards, people=4, **{"X-TRADE": "trade{i}"})
    hub.sync()
    assert "trade1" in hub.sheet.read_text()
    hub.apply('mapping = {"custom.trade" = "Job"}', cards)
    hub.sync()
    hub.settled()
    assert all(f"X-TRADE:trade{i}" in (hub.folder / f"p{i}.vcf").read_text() for i in range(1, 5))
    header, *rows = hub.sheet.read_text().splitlines()
    job = header.split(",").index("Job")
    assert sorted(row.split(",")[job] for row in rows) == ["trade1", "trade2", "trade3", "trade4"]


def test_a_field_mapped_onto_a_column_of_another_keeps_the_hubs_value(tmp_path: Path) -> None:
    """The trade mapped onto the sheet's notes column: the notes there are no edit of the
    trade. Read as a first sighting, they rivalled the trade and won under ``newest``:
    every card's X-TRADE became its note. Where the hub has no trade, the column's value is
    the first one seen, and taken."""
    cards = 'mapping = {"custom.trade" = "X-TRADE"}'
    hub = site(tmp_path, 'format = "plain"', cards, people=4, NOTE="note {i}", **{"X-TRADE": "trade{i}"})
    p4 = hub.folder / "p4.vcf"
    p4.write_bytes(p4.read_bytes().replace(b"X-TRADE:trade4\r\n", b""))
    hub.sync()
    hub.apply('format = "plain"\nmapping = {"custom.trade" = "notes"}', cards)
    report = hub.sync()
    assert report["conflicts"] == 0, report
    hub.settled()
    for i in range(1, 4):
        card = (hub.folder / f"p{i}.vcf").read_text()
        assert f"X-TRADE:trade{i}" in card and f"NOTE:note {i}" in card
    assert "X-TRADE:note 4" in p4.read_text()
    rows = {r["emails"]: r["notes"] for r in csv.DictReader(hub.sheet.read_text().splitlines())}
    assert rows == {f"p{i}@example.com": f"trade{i}" for i in range(1, 4)} | {"p4@example.com": "note 4"}


def test_a_mapping_removed_gives_the_column_back_to_its_own_field_unchanged(tmp_path: Path) -> None:
    """The job title mapped onto Outlook's "Notes", then the mapping removed: the column is
    the notes' again and holds the job title. Only the job title's baseline was forgotten,
    so the title read there was an edit of the notes, which won under ``newest``: every
    note was replaced by the title, in the hub, the cards and the sheet."""
    sheet = 'format = "outlook"'
    hub = site(
        tmp_path,
        f'{sheet}\nmapping = {{"job_title" = "Notes"}}',
        people=3,
        TITLE="title {i}",
        NOTE="note {i}",
    )
    hub.sync()
    hub.settled()
    assert "title 1" in hub.sheet.read_text(encoding="utf-8-sig")
    hub.apply(sheet)
    report = hub.sync()
    assert report["conflicts"] == 0, report
    hub.settled()
    for i in range(1, 4):
        card = (hub.folder / f"p{i}.vcf").read_text()
        assert f"NOTE:note {i}" in card and f"TITLE:title {i}" in card
    rows = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    assert sorted((r["Job Title"], r["Notes"]) for r in rows) == [
        (f"title {i}", f"note {i}") for i in (1, 2, 3)
    ]


def test_a_field_moved_to_another_column_leaves_no_copy_under_the_old_columns_name(tmp_path: Path) -> None:
    """The trade moved from Outlook's "User 1" to "User 2": "User 1" still held the trades,
    read (unmapped now) as a new custom field ``custom.user1`` and written to every card,
    one value under two names. What the old column holds of the trade is a leftover: it
    is emptied. A value of its own put there is still a new field, and taken."""
    cards = 'mapping = {"custom.trade" = "X-TRADE"}'
    sheet = 'format = "outlook"\nmapping = {{"custom.trade" = "{}"}}'
    hub = site(tmp_path, sheet.format("User 1"), cards, people=3, **{"X-TRADE": "trade{i}"})
    hub.sync()
    hub.settled()
    hub.apply(sheet.format("User 2"), cards)
    rows = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    assert sorted(r["User 1"] for r in rows) == ["trade1", "trade2", "trade3"]
    for r in rows:
        if r["E-mail Address"] == "p3@example.com":
            r["User 1"] = "forklift"  # edited in the same save: the person's own value
    with hub.sheet.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = hub.sync()
    assert report["conflicts"] == 0, report
    hub.settled()
    for i in range(1, 4):
        assert (hub.folder / f"p{i}.vcf").read_text().count(f"trade{i}") == 1
    # (taken by the hub: a value it has none of is emptied, as the leftovers were)
    rows = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    assert sorted((r["User 1"], r["User 2"]) for r in rows) == [
        ("", "trade1"),
        ("", "trade2"),
        ("forklift", "trade3"),
    ]


def test_a_property_mapped_away_and_back_keeps_the_trade_edited_meanwhile(tmp_path: Path) -> None:
    """The folder's trade moved from X-TRADE to X-JOB and back: the cards kept their old
    X-TRADE, stale once the trade was edited in the sheet. Mapped back, that stale value
    was read as the trade and won under ``newest``, everywhere: the edit was lost."""
    sheet = 'mapping = {"custom.trade" = "Trade"}'
    hub = site(tmp_path, sheet, 'mapping = {"custom.trade" = "X-TRADE"}', people=3, **{"X-TRADE": "trade{i}"})
    hub.sync()
    hub.apply(sheet, 'mapping = {"custom.trade" = "X-JOB"}')
    hub.sync()
    hub.sheet.write_text(hub.sheet.read_text().replace("trade1", "new1"))
    hub.sync()
    card = (hub.folder / "p1.vcf").read_text()
    assert "X-JOB:new1" in card and "X-TRADE:trade1" in card
    hub.apply(sheet, 'mapping = {"custom.trade" = "X-TRADE"}')
    report = hub.sync()
    assert report["conflicts"] == 0, report
    hub.settled()
    assert "X-TRADE:new1" in (hub.folder / "p1.vcf").read_text()
    assert "new1" in hub.sheet.read_text() and "trade1" not in hub.sheet.read_text()
    assert all(f"X-TRADE:trade{i}" in (hub.folder / f"p{i}.vcf").read_text() for i in (2, 3))


def test_edits_arrive_after_a_filter_comes_and_goes_on_an_unchanged_file(tmp_path: Path) -> None:
    hub = site(tmp_path, people=4, NOTE="note {i}")
    hub.sync()
    hub.apply('filter = {all = [{field = "email", op = "equals", value = "p1@example.com"}]}')
    hub.sync()
    hub.sheet.write_text(hub.sheet.read_text().replace("note 2", "note 2 edited in the sheet"))
    card = hub.folder / "p3.vcf"
    card.write_text(card.read_text().replace("note 3", "note 3 edited in the card"))
    hub.sync()
    hub.apply()
    assert hub.sync()["errors"] == []
    hub.settled()
    assert "note 2 edited in the sheet" in (hub.folder / "p2.vcf").read_text()
    assert "note 3 edited in the card" in hub.sheet.read_text()


def test_a_folder_pointed_at_an_empty_one_gets_everyone_without_a_hold(tmp_path: Path) -> None:
    """A new, empty folder is not an emptied one: the hub's people are written into it."""
    hub = site(tmp_path, people=6)
    hub.sync()
    empty = tmp_path / "new-cards"
    empty.mkdir()
    hub.folder, old = empty, hub.folder
    hub.apply()
    report = hub.sync()
    assert report["status"] == "applied", report
    assert report["changes"]["cards"]["create"] == 6
    assert len(list(empty.glob("*.vcf"))) == 6 and len(list(old.glob("*.vcf"))) == 6
    hub.settled()


def test_a_failed_run_counts_only_what_it_kept(tmp_path: Path) -> None:
    """The sheet fails the run after the folder was read: the hub's creates were rolled
    back with it, yet the run's report and ``runs`` said "hub create 3"."""
    from contacthub.engine.context import Options
    from contacthub.engine.run import run_hub
    from contacthub.errors import FatalConnectorError
    from contacthub.store.db import open_database

    hub = site(tmp_path, people=3)
    hub.sheet.write_text("given_name,family_name,emails\nZed,Roe,zed@example.com\n", encoding="utf-8")

    def progress(label: str, done: int, total: int | None) -> None:
        if label == "reading sheet":  # the sheet's system going away after the folder was read
            raise FatalConnectorError("the file server went away", "sheet")

    report = run_hub(open_database(hub.db), "h", options=Options(), progress=progress)
    assert report.status == "failed" and report.changes == {}
    runs = json.loads(hub.cli("runs", "h", "--json"))
    assert runs[0]["status"] == "failed" and not runs[0]["changes"]
    assert hub.sync()["changes"]["hub"]["create"] == 4  # nothing was kept: all of it again


def test_a_thunderbird_home_country_is_synced_both_ways(tmp_path: Path) -> None:
    """Thunderbird's "Home Country" column is also an old Outlook name, read as Outlook's
    "Home Country/Region": every home country going through Thunderbird was dropped."""
    from contacthub.formats.csv_columns import DEFAULT_HEADERS

    header = list(DEFAULT_HEADERS["thunderbird"])
    hub = site(tmp_path, 'format = "thunderbird"')
    row = {name: "" for name in header}
    row.update({"First Name": "Ola", "Last Name": "Nordmann", "Primary Email": "ola@example.com"})
    row.update({"Home Address": "1 Main St", "Home City": "Oslo", "Home ZipCode": "0150"})
    row.update({"Home Country": "Norway"})
    with hub.sheet.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerow(row)
    (hub.folder / "kari.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:kari\r\nFN:Kari Nordmann\r\nN:Nordmann;Kari;;;\r\n"
        "EMAIL:kari@example.com\r\nADR;TYPE=home:;;2 Side St;Bergen;;5003;Norway\r\nEND:VCARD\r\n"
    )
    hub.sync()
    (ola,) = [p.read_text() for p in hub.folder.glob("*.vcf") if "ola@" in p.read_text()]
    assert ";Oslo;;0150;Norway" in ola
    rows = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    assert {r["Primary Email"]: r["Home Country"] for r in rows} == {
        "ola@example.com": "Norway",
        "kari@example.com": "Norway",
    }
    hub.settled()


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        ("outlook", {"Business Phone": "9515", "Business Fax": "9564", "Home Fax": "9999"}),
        ("thunderbird", {"Work Phone": "9515", "Fax Number": "9564"}),
    ],
)
def test_fax_numbers_go_to_fax_columns_only(tmp_path: Path, fmt: str, want: dict[str, str]) -> None:
    """A "work fax" matched no column of type "fax", so faxes went to Other Phone, Primary
    Phone, even Thunderbird's Mobile Number: a fax machine to be called. A fax with no fax
    column left stays out of the file (Thunderbird has one)."""
    hub = site(tmp_path, f'format = "{fmt}"')
    (hub.folder / "frank.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:frank\r\nFN:Frank Dawson\r\nN:Dawson;Frank;;;\r\n"
        "EMAIL:frank@example.com\r\nTEL;TYPE=WORK,VOICE:+1-919-676-9515\r\n"
        "TEL;TYPE=WORK,FAX:+1-919-676-9564\r\nTEL;TYPE=HOME,FAX:+1-919-676-9999\r\nEND:VCARD\r\n"
    )
    hub.sync()
    (row,) = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    phones = {k: v[-4:] for k, v in row.items() if v and ("Phone" in k or "Fax" in k or "Number" in k)}
    assert phones == want
    hub.settled()
    assert "TEL;TYPE=HOME,FAX:+1-919-676-9999" in (hub.folder / "frank.vcf").read_text()


def test_an_edit_in_a_slot_of_another_type_keeps_the_type(tmp_path: Path) -> None:
    """A second work address goes to Outlook's Other columns and a third work phone to Other
    Phone (Business is taken): editing its city or number there made the address "other"
    and the phone untyped in every connector. The slot is where the file put it; the type
    stays what it was."""
    hub = site(tmp_path, 'format = "outlook"')
    (hub.folder / "rich.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:rich\r\nFN:Rich Man\r\nN:Man;Rich;;;\r\n"
        "EMAIL:rich@example.com\r\nTEL;TYPE=work:+12125550101\r\nTEL;TYPE=work:+12125550102\r\n"
        "TEL;TYPE=work:+12125550103\r\nADR;TYPE=work:;;1 A St;NYC;NY;10001;US\r\n"
        "ADR;TYPE=work:;;2 B St;NYC;NY;10002;US\r\nEND:VCARD\r\n"
    )
    hub.sync()
    hub.settled()
    (row,) = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    assert (row["Other Street"], row["Other Phone"]) == ("2 B St", "'+12125550103")
    row.update({"Other City": "Brooklyn", "Other Phone": "+12125550199"})
    with hub.sheet.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, list(row))
        writer.writeheader()
        writer.writerow(row)
    hub.sync()
    card = (hub.folder / "rich.vcf").read_text()
    assert "ADR;TYPE=work:;;2 B St;Brooklyn;NY;10002;US" in card
    assert "TEL;TYPE=work:+12125550199" in card and "+12125550103" not in card
    assert "TYPE=other" not in card
    hub.settled()


def test_one_person_written_differently_in_a_card_and_a_row_is_one(tmp_path: Path) -> None:
    """Each pair made two people: a name with a decomposed accent (as macOS tools write
    it) and the same phone; an Outlook cell's "Name <address>"; the trunk prefix "(0)"
    after a country code, which also put a wrong number into every copy."""
    hub = site(tmp_path, 'format = "outlook"')
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{0}\r\nFN:{1}\r\nN:{2};{3};;;\r\n{4}\r\nEND:VCARD\r\n"
    cards = [
        ("jose", "José García", "García", "José", "TEL;TYPE=CELL:+1 202 555 0111"),
        ("bob", "Bob Roe", "Roe", "Bob", "EMAIL:bob@example.com"),
        ("olly", "Olly Hart", "Hart", "Olly", "TEL;TYPE=CELL:+44 7700 900123"),
    ]
    for uid, *values in cards:
        (hub.folder / f"{uid}.vcf").write_text(card.format(uid, *values), encoding="utf-8")
    rows = [
        ("Jose\u0301", "Garci\u0301a", "", "(202) 555-0111"),
        ("Bob", "Roe", "Bob Roe <bob@example.com>", ""),
        ("Olly", "Hart", "", "+44 (0)7700 900123"),
    ]
    with hub.sheet.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["First Name", "Last Name", "E-mail Address", "Mobile Phone"])
        writer.writerows(rows)
    report = hub.sync()
    assert report["changes"]["hub"]["create"] == 3, report
    assert "sheet" not in report["changes"] and hub.cards() == ["bob.vcf", "jose.vcf", "olly.vcf"]
    assert "+4407700900123" not in (hub.folder / "olly.vcf").read_text()
    hub.settled()


def test_a_group_card_linked_as_a_person_before_is_never_deleted(tmp_path: Path) -> None:
    """Hubs synced before groups were told apart have a "person" for each group card: that
    person deleted elsewhere deleted the group card and its list of members."""
    hub = site(tmp_path, people=6)
    hub.sync()
    group = hub.folder / "p3.vcf"
    # the card linked as a person is a group, as the hub saw it (same size and time): an
    # older contacthub linked it so; and the same once it changed since, below
    st = group.stat()
    data = group.read_bytes().replace(b"FN:Person 3\r\n", b"KIND:group \r\n")
    assert len(data) == st.st_size
    group.write_bytes(data)
    os.utime(group, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hub.sync()["changes"] == {}
    lines = hub.sheet.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    hub.sheet.write_text("".join(line for line in lines if "p3@example.com" not in line), encoding="utf-8")
    report = hub.sync()
    assert report["changes"]["hub"]["delete"] == 1 and "cards" not in report["changes"]
    assert [e["record"] for e in report["errors"]] == [str(group)]
    assert group.read_bytes() == data
    hub.settled()
    edited = data.replace(b"END:VCARD", b"NOTE:members changed\r\nEND:VCARD")
    group.write_bytes(edited)
    hub.settled()
    assert group.read_bytes() == edited


def test_a_sheet_that_cannot_be_written_fails_the_run_with_one_message(tmp_path: Path) -> None:
    """A file whose folder cannot take the temporary file (here its name is too long for
    one, which fails for root too): the run ends failed with one message, no traceback."""
    hub = site(tmp_path, people=1)
    sheet = tmp_path / ("s" * 244 + ".csv")
    sheet.write_text("First Name,Last Name,E-mail Address\r\n", encoding="utf-8")
    hub.apply('format = "outlook"', sheet=sheet)
    result = runner.invoke(app, ["--database", hub.db, "sync", "h", "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.output)
    assert report["status"] == "failed"
    assert [e["message"] for e in report["errors"]] == [
        f"connector 'sheet': cannot write {sheet}: file name too long"
    ]
    [run] = [r for r in json.loads(hub.cli("runs", "h", "--json")) if r["id"] == report["run"]]
    assert run["status"] == "failed"
    assert sheet.read_bytes() == b"First Name,Last Name,E-mail Address\r\n"
    assert hub.cards() == ["p1.vcf"]


@pytest.mark.parametrize(
    ("fmt", "columns", "new_name"),
    [
        ("outlook", ("E-mail 2 Address",), ""),
        ("outlook", ("E-mail 2 Address",), "Email 2"),
        ("outlook", ("Trade",), "trade"),
        ("google", ("E-mail 2 - Label", "E-mail 2 - Value"), ""),
    ],
)
def test_a_column_deleted_or_renamed_in_a_sheet_empties_nothing(
    tmp_path: Path, fmt: str, columns: tuple[str, ...], new_name: str
) -> None:
    """Deleting Outlook's ``E-mail 2 Address`` (or renaming it, or a mapped ``Trade``, or
    deleting a Google slot) read as each person's value there removed: the second email,
    or the trade, was removed from the hub and from every card."""
    cards = 'mapping = {"custom.trade" = "X-TRADE"}'
    extra = {"EMAIL;TYPE=home": "p{i}@home.example", "X-TRADE": "trade{i}"}
    sheet = f'format = "{fmt}"\nmapping = {{"custom.trade" = "Trade"}}'
    hub = site(tmp_path, sheet, cards, people=3, **extra)
    hub.sync()
    hub.settled()
    bom = hub.sheet.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    where = [rows[0].index(column) for column in columns]
    assert all(row[where[-1]] for row in rows[1:])  # every person had a value there
    if new_name:
        rows[0][where[0]] = new_name
    else:
        rows = [[cell for n, cell in enumerate(row) if n not in where] for row in rows]
    with hub.sheet.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    dry = json.loads(hub.cli("sync", "h", "--dry-run", "--json"))  # (it moves no cursor)
    changes = hub.sync()["changes"]
    assert "hub" not in changes and "cards" not in changes, (changes, dry)
    # the next run holds the field again and reads every row as a first sighting: the hub
    # keeps its values, the file gets them back where it has room (a new ``Trade`` column)
    again = hub.sync()["changes"]
    assert set(again) <= {"sheet"}, again
    hub.settled()

    def kept() -> bool:
        return all(
            f"p{i}@home.example" in text and f"X-TRADE:trade{i}" in text
            for i in range(1, 4)
            for text in [(hub.folder / f"p{i}.vcf").read_text()]
        )

    assert kept()
    # the file holds the field again: an edit elsewhere writes it where it can go
    card = hub.folder / "p1.vcf"
    card.write_text(card.read_text().replace("N:Person;1;;;", "N:Personne;1;;;"))
    assert hub.sync()["changes"]["sheet"]["update"] == 1
    hub.settled()
    assert kept() and "p1@home.example" in hub.sheet.read_text(encoding="utf-8-sig")


def _rewrite(
    sheet: Path, drop: str = "", edit: tuple[str, str] | None = None, who: str = "p1@example.com"
) -> None:
    """Delete column ``drop`` of an Outlook sheet and/or set ``edit`` = (column, value) in
    the row of ``who`` (person 1's), as a spreadsheet saves it."""
    rows = list(csv.reader(sheet.read_text(encoding="utf-8-sig").splitlines()))
    if edit is not None:
        column, value = edit
        [row] = [row for row in rows[1:] if who in row]
        row[rows[0].index(column)] = value
    if drop:
        where = rows[0].index(drop)
        rows = [row[:where] + row[where + 1 :] for row in rows]
    with sheet.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)


def _outlook_site(tmp_path: Path) -> Site:
    # (a phone: a row whose primary email and other emails all change in one save is
    # recognised as the same person by what else it holds, ``engine/matching``)
    extra = {"EMAIL;TYPE=home": "p{i}@home.example", "TEL;TYPE=cell": "+1 212 555 010{i}"}
    hub = site(tmp_path, 'format = "outlook"', people=2, **extra)
    hub.sync()
    hub.settled()
    return hub


def _emails_kept(hub: Site, *also: str) -> None:
    """After two runs (the second puts back into the file what it has room for) a third
    changes nothing, every person's two emails are still on their card, ``also`` on person 1's."""
    hub.sync()
    hub.sync()
    hub.settled()
    for i in (1, 2):
        card = (hub.folder / f"p{i}.vcf").read_text()
        assert f"p{i}@example.com" in card and f"p{i}@home.example" in card, card
    card = (hub.folder / "p1.vcf").read_text()
    assert all(value in card for value in also), card


def test_an_email_edited_in_the_run_that_deletes_a_column_arrives(tmp_path: Path) -> None:
    """QA repro-14: the run that first read a header without ``E-mail 2 Address`` left the
    emails out, so the edit of the same save never reached the hub, and the next write of
    the row put the old address back over it. The next run reads every row again."""
    hub = _outlook_site(tmp_path)
    _rewrite(hub.sheet, drop="E-mail 2 Address", edit=("E-mail Address", "p1@new.example"))
    assert set(hub.sync()["changes"]) <= {"sheet"}
    _emails_kept(hub, "p1@new.example")
    card = hub.folder / "p1.vcf"  # a later write of the row keeps the edit
    card.write_text(card.read_text().replace("N:Person;1;;;", "N:Personne;1;;;"))
    hub.sync()
    hub.settled()
    assert "p1@new.example" in hub.sheet.read_text(encoding="utf-8-sig")


def test_an_email_edited_in_the_run_after_a_column_was_deleted_arrives(tmp_path: Path) -> None:
    """QA repro-15: the run after the deletion still left the emails out (what the file held
    was decided before its pull forgot the old header), and the file unchanged since was
    never read again: the address typed in then never arrived."""
    hub = _outlook_site(tmp_path)
    _rewrite(hub.sheet, drop="E-mail 2 Address")
    hub.sync()
    _rewrite(hub.sheet, edit=("E-mail 3 Address", "p1@third.example"))
    _emails_kept(hub, "p1@third.example")


def test_a_column_deleted_empties_nothing_whatever_the_database_url_spelling(tmp_path: Path) -> None:
    """QA repro-11: the headers the hub knew were kept in a file of a data directory named
    after the database's URL; the same database by another URL (or that directory removed)
    knew none, and deleting ``E-mail 2 Address`` removed every second email again."""
    hub = _outlook_site(tmp_path)
    _rewrite(hub.sheet, drop="E-mail 2 Address")
    hub.db = f"sqlite:///{tmp_path}/./hub.db"
    assert set(hub.sync()["changes"]) <= {"sheet"}
    _emails_kept(hub)


def test_a_column_deleted_then_added_back_empty_gets_its_values_back(tmp_path: Path) -> None:
    """QA: ``Job Title`` deleted (a run in between), then added back empty: its rows were
    not read again (their values unchanged), so the cells stayed empty and every run said
    nothing changed, the hub and the cards still holding the titles."""
    hub = site(tmp_path, 'format = "outlook"', people=2, TITLE="Boss {i}")
    hub.sync()
    hub.settled()
    _rewrite(hub.sheet, drop="Job Title")
    hub.sync()
    hub.sync()
    rows = list(csv.reader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    added = [[*rows[0], "Job Title"], *([*r, ""] for r in rows[1:])]  # back, empty
    with hub.sheet.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(added)
    hub.sync()
    hub.sync()
    hub.settled()
    sheet = hub.sheet.read_text(encoding="utf-8-sig")
    assert "Boss 1" in sheet and "Boss 2" in sheet
    assert "TITLE:Boss 1" in (hub.folder / "p1.vcf").read_text()


def test_a_row_read_from_an_outlook_file_agrees_with_typed_emails(tmp_path: Path) -> None:
    """Outlook's email columns have no types: a row the hub read (edited there, or every
    row after a column came back) never equalled its person's typed emails, and the run
    that read it wrote it back to the file unchanged."""
    hub = site(tmp_path, 'format = "outlook"', people=2, **{"EMAIL;TYPE=home": "p{i}@home.example"})
    hub.sync()
    hub.settled()
    _rewrite(hub.sheet, edit=("Job Title", "Foreman"))
    written = hub.sheet.read_bytes()
    changes = hub.sync()["changes"]
    assert changes == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "cards": {"create": 0, "update": 1, "delete": 0},
    }
    assert hub.sheet.read_bytes() == written
    card = (hub.folder / "p1.vcf").read_text()
    assert "TITLE:Foreman" in card and "EMAIL;TYPE=home:p1@home.example" in card
    hub.settled()


def test_an_outlook_file_of_emails_only_is_not_rewritten_when_a_title_changes(tmp_path: Path) -> None:
    """QA: a file whose only columns are Outlook's email addresses, of people with typed
    emails: every change of a title or a company elsewhere wrote their rows again,
    unchanged (the file's untyped emails never equalled the hub's)."""
    hub = site(
        tmp_path, 'format = "outlook"', people=2, TITLE="Boss {i}", **{"EMAIL;TYPE=home": "p{i}@home.example"}
    )
    hub.sheet.write_text("E-mail Address,E-mail 2 Address,E-mail 3 Address\r\n", encoding="utf-8")
    hub.sync()
    hub.settled()
    written = hub.sheet.read_bytes()
    card = hub.folder / "p1.vcf"
    card.write_text(card.read_text().replace("TITLE:Boss 1", "TITLE:Foreman"))
    assert hub.sync()["changes"] == {"hub": {"create": 0, "update": 1, "delete": 0}}
    assert hub.sheet.read_bytes() == written
    hub.settled()


_NAMELESS = (
    "BEGIN:VCARD\r\nVERSION:{}\r\nUID:x1\r\nN:;;;;\r\nFN:\r\n"
    "EMAIL:forrest@example.com\r\nTEL:+1 217 555 0100\r\nEND:VCARD\r\n"
)


@pytest.mark.parametrize("card", ["3.0", "4.0", "empty-values__2.1__audriga_test_vcard_2.vcf"])
def test_a_card_without_a_name_keeps_its_empty_fn(tmp_path: Path, corpus_dir: Path, card: str) -> None:
    """QA: a card with an empty FN (and N), its person named in the hub by their email,
    got ``FN:<the email>`` when only its Job Title was edited in an Outlook file; so did
    the corpus card of empty values. README: an email standing in for a name is not
    written as one. An edit of the card itself is no reason to write it again either."""
    hub = site(tmp_path, 'format = "outlook"')
    path = hub.folder / "x1.vcf"
    if card.endswith(".vcf"):
        shutil.copy(corpus_dir / "vcards" / card, path)
    else:
        path.write_bytes(_NAMELESS.format(card).encode())
    who = "forrestgump@example.com" if card.endswith(".vcf") else "forrest@example.com"
    hub.sync()
    hub.settled()
    _rewrite(hub.sheet, edit=("Job Title", "Runner"), who=who)
    assert hub.sync()["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "cards": {"create": 0, "update": 1, "delete": 0},
    }
    text = path.read_text()
    assert "\nTITLE:Runner\n" in text and "\nFN:\n" in text and "FN:forrest" not in text, text
    hub.settled()
    path.write_text(text.replace("TITLE:Runner", "TITLE:Coach"))
    assert hub.sync()["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "sheet": {"create": 0, "update": 1, "delete": 0},
    }
    assert path.read_text() == text.replace("TITLE:Runner", "TITLE:Coach")
    hub.settled()


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_a_name_given_to_a_nameless_card_in_a_sheet_keeps_its_parts(tmp_path: Path, version: str) -> None:
    """QA: the row of a card with an empty FN and N (shown there by its email) given
    "Zed Alpha" with given name Zed and family name Alpha: the card got FN:Zed Alpha over
    an empty N, and the same run wrote the row back with the two parts emptied."""
    hub = site(tmp_path, 'format = "plain"')
    path = hub.folder / "x1.vcf"
    path.write_bytes(_NAMELESS.format(version).encode())
    hub.sync()
    hub.settled()
    rows = list(csv.reader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    [row] = rows[1:]
    assert row[rows[0].index("display_name")] == "forrest@example.com"
    for column, value in {"display_name": "Zed Alpha", "given_name": "Zed", "family_name": "Alpha"}.items():
        row[rows[0].index(column)] = value
    with hub.sheet.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert hub.sync()["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "cards": {"create": 0, "update": 1, "delete": 0},
    }
    card = path.read_text()
    assert "\nN:Alpha;Zed;;;\n" in card and "\nFN:Zed Alpha\n" in card, card
    [written] = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
    typed = ("display_name", "given_name", "family_name")
    assert [written[k] for k in typed] == ["Zed Alpha", "Zed", "Alpha"]
    hub.settled()


@pytest.mark.parametrize("gone", ["folder", "sheet"])
def test_a_created_folder_or_sheet_that_goes_away_fails_the_run(tmp_path: Path, gone: str) -> None:
    """``create = true`` starts a folder or file on first use only. Made again empty when
    the one holding known people went away (an unmounted disk), the run was held wanting
    to delete everyone everywhere: one ``approve`` away from wiping the hub."""
    hub = site(tmp_path, people=3)
    hub.apply(cards_settings="create = true")
    assert hub.sync()["status"] == "applied"
    path = hub.folder if gone == "folder" else hub.sheet
    path.rename(tmp_path / "unmounted")
    result = runner.invoke(app, ["--database", hub.db, "sync", "h", "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.output)
    assert report["status"] == "failed" and report["changes"] == {}
    [error] = report["errors"]
    assert f"{path} is gone" in error["message"], error
    assert not path.exists()
    (tmp_path / "unmounted").rename(path)  # mounted again: nothing was lost
    hub.settled()


def test_a_folder_to_create_is_made_by_the_first_sync_with_nothing_to_write(tmp_path: Path) -> None:
    """QA: ``create = true`` made the folder only at the first card written into it: with
    a sheet of no rows the first sync said "no changes" and left no folder to find or fill.
    A dry run still makes none."""
    hub = Site(
        f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "cards", tmp_path / "sheet.csv", tmp_path / "hub.toml"
    )
    hub.sheet.write_text("display_name,emails\n", encoding="utf-8")
    hub.apply(cards_settings="create = true")
    hub.cli("sync", "h", "--dry-run")
    assert not hub.folder.exists()
    assert hub.sync()["changes"] == {}
    assert hub.folder.is_dir() and hub.cards() == []
    hub.settled()


@pytest.mark.parametrize("people", [0, 2])
def test_a_sheet_to_create_is_written_by_the_first_sync_with_nothing_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people: int
) -> None:
    """README: with ``create = true`` "the first sync writes the file (an empty one too:
    whole header)"; with an empty hub, or everyone filtered out of the sheet, no sync wrote
    one. The first applied sync writes the format's whole header (a dry run writes
    nothing), the runs after find the file as written (no row read, nothing written), and
    a file that goes away holding no row the hub knows is started again, as on first use."""
    nobody = 'filter = {all = [{field = "email", op = "ends_with", value = "@nowhere.example"}]}'
    hub = site(tmp_path, nobody if people else "", people=people)
    hub.cli("sync", "h", "--dry-run")
    assert not hub.sheet.exists()
    assert hub.sync()["changes"].get("sheet", {}).get("create", 0) == 0
    assert hub.sheet.read_bytes() == (",".join(PLAIN_COLUMNS) + "\r\n").encode()
    written = hub.sheet.stat()
    loads: list[Path] = []
    load = CsvConnector._load

    def spy(self: CsvConnector) -> Any:
        loads.append(self.path)
        return load(self)

    monkeypatch.setattr(CsvConnector, "_load", spy)
    hub.settled()
    hub.settled()
    assert loads == [] and hub.sheet.stat().st_mtime_ns == written.st_mtime_ns
    assert hub.sheet.stat().st_ino == written.st_ino
    hub.sheet.unlink()  # (one holding rows the hub knows fails the run: above)
    assert hub.sync()["status"] == "applied"
    assert hub.sheet.read_bytes() == (",".join(PLAIN_COLUMNS) + "\r\n").encode()


def test_a_folder_pointed_away_and_back_links_two_cards_of_one_person_again(
    tmp_path: Path, corpus_dir: Path
) -> None:
    """Two cards of one John Doe (same name, email and phones) in one folder are two hub
    people sharing every match key. Once the folder was pointed away and back (its links
    forgotten), the key index held one of them only: the first card took it, and the
    second, finding it taken, was made a third person, in every connector for good."""
    cards = tmp_path / "cards"
    cards.mkdir()
    for name in (
        "apple-ios5__3.0__ezvcard_John_Doe_IPHONE",
        "apple-macos__3.0__ezvcard_John_Doe_MAC_ADDRESS_BOOK",
    ):
        shutil.copy(corpus_dir / "vcards" / f"{name}.vcf", cards)
    hub = site(tmp_path, 'format = "plain"')
    assert hub.sync()["changes"]["hub"]["create"] == 2
    hub.settled()
    rows = hub.sheet.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    hub.folder = empty
    hub.apply('format = "plain"')
    hub.folder = cards
    hub.apply('format = "plain"')
    report = hub.sync()
    assert report["status"] == "applied", report
    assert "hub" not in report["changes"], report["changes"]
    assert len(list(cards.glob("*.vcf"))) == 2 and hub.sheet.read_text() == rows
    hub.settled()


def test_a_rows_own_number_stays_in_its_column(tmp_path: Path) -> None:
    """A person's mobile number typed into Outlook's Mobile Phone moved to Other Phone when
    the hub merged in a card's cell number, which took Mobile Phone: the row the user typed
    was rearranged, and a Thunderbird user saw a mobile number as Home (QA). What a slot
    holds stays there while its type still fits; the new number takes a free slot."""
    hub = site(tmp_path, 'format = "outlook"')
    (hub.folder / "simon.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:simon\r\nFN:Simon Perreault\r\nN:Perreault;Simon;;;\r\n"
        "EMAIL:simon@example.com\r\nTEL;TYPE=CELL:+1 418 555 0199\r\nEND:VCARD\r\n"
    )
    with hub.sheet.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["First Name", "Last Name", "E-mail Address", "Mobile Phone", "Other Phone"])
        writer.writerow(["Simon", "Perreault", "simon@example.com", "+1 418 555 0123", ""])
    hub.sync()
    (row,) = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    assert row["Mobile Phone"].lstrip("'") in ("+1 418 555 0123", "+14185550123"), row
    assert row["Other Phone"].lstrip("'") == "+14185550199", row
    card = (hub.folder / "simon.vcf").read_text()
    assert "+14185550123" in card.replace(" ", "") and "0199" in card
    hub.settled()


def test_people_with_no_email_or_phone_are_found_again_when_a_connector_comes_back(tmp_path: Path) -> None:
    """A CSV connector removed from the hub file and added back (its links gone with it):
    a row with a name and an address only had no key to be matched by, so each became a
    new person, written as a second card into the folder. A contact with no email or
    phone has its name as a key, and a record with none finds it by that name when it
    holds exactly what the hub would write there; a namesake that differs is new."""
    hub = site(tmp_path, 'format = "outlook"')
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{0}\r\nFN:{1}\r\nN:{2};{3};;;\r\n{4}END:VCARD\r\n"
    address = "ADR;TYPE=home:;;1 Elm St;Springfield;;;\r\n"
    (hub.folder / "ann.vcf").write_text(card.format("ann", "Ann Lee", "Lee", "Ann", address))
    (hub.folder / "bo.vcf").write_text(card.format("bo", "Bo Ek", "Ek", "Bo", "ORG:Ek & Sons\r\n"))
    first = hub.sync()
    assert first["changes"]["sheet"]["create"] == 2
    full = hub.hub.read_text()
    hub.hub.write_text(full[: full.index('[[hubs.h.connectors]]\nname = "sheet"')])
    hub.cli("apply", str(hub.hub))
    hub.hub.write_text(full)
    hub.cli("apply", str(hub.hub))
    with hub.sheet.open("a", newline="", encoding="utf-8") as out:  # a namesake typed meanwhile
        header = next(csv.reader(hub.sheet.read_text(encoding="utf-8-sig").splitlines()))
        row = dict.fromkeys(header, "")
        row.update({"First Name": "Bo", "Last Name": "Ek", "Company": "Other Co"})
        csv.DictWriter(out, header).writerow(row)
    again = hub.sync()
    assert again["status"] == "applied", again
    assert again["changes"] == {
        "hub": {"create": 1, "update": 0, "delete": 0},
        "cards": {"create": 1, "update": 0, "delete": 0},
    }, again
    assert len(list(hub.folder.glob("*.vcf"))) == 3
    hub.settled()


@pytest.mark.parametrize("phone", ["TEL;TYPE=CELL:+1 217 555 0100\r\n", ""], ids=["phone", "no-phone"])
def test_a_person_without_an_email_renamed_in_an_outlook_file_keeps_their_card(
    tmp_path: Path, phone: str
) -> None:
    """An Outlook row without an email is known by its name: Lee -> Lee-Smith gave it a
    new id, and the run deleted the card (to the trash) and wrote a new one, without its
    UID, photo, categories and X- properties, under another file name. Now the row is
    the same record renamed (by its phone and a name that only adds a word; without a
    phone, as the only row gone and the only one new, one edit apart): the card is
    updated in place."""
    hub = site(tmp_path, 'format = "outlook"')
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann-1\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n"
        f"{phone}ADR;TYPE=HOME:;;1 Main St;Springfield;IL;62701;USA\r\nCATEGORIES:Family\r\n"
        "X-SPOUSE:Bob\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ==\r\nEND:VCARD\r\n"
    )
    (hub.folder / "ann.vcf").write_text(card)
    assert hub.sync()["changes"]["sheet"]["create"] == 1
    text = hub.sheet.read_text(encoding="utf-8-sig")
    assert text.count(",Lee,") == 1
    hub.sheet.write_text(text.replace(",Lee,", ",Lee-Smith,"), encoding="utf-8")
    report = hub.sync()
    assert report["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "cards": {"create": 0, "update": 1, "delete": 0},
    }, report
    assert hub.cards() == ["ann.vcf"]
    written = (hub.folder / "ann.vcf").read_text()
    assert "N:Lee-Smith;Ann;;;" in written and "UID:ann-1" in written
    for kept in ("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ==", "CATEGORIES:Family", "X-SPOUSE:Bob"):
        assert kept in written
    hub.settled()


def test_a_note_with_lone_crs_reaches_the_cards_with_its_line_breaks(tmp_path: Path) -> None:
    """A note an old Mac program wrote, its lines broken by CR alone: its lines were glued
    into one in every card, and the sheet itself was then rewritten with the glued note."""
    hub = site(tmp_path, 'format = "outlook"')
    sheet = 'First Name,Last Name,E-mail Address,Notes\r\nAnn,Lee,ann@a.com,"gate code 12\rring twice"\r\n'
    hub.sheet.write_bytes(sheet.encode())
    assert hub.sync()["changes"]["cards"]["create"] == 1
    [card] = [p.read_text() for p in hub.folder.glob("*.vcf")]
    assert "NOTE:gate code 12\\nring twice" in card
    hub.settled()
    assert hub.sheet.read_bytes() == sheet.encode()


@pytest.mark.parametrize(
    ("fmt", "column", "cell"),
    [("google", "Birthday", " --02-03"), ("plain", "birthday", " --02-03"), ("outlook", "Birthday", "")],
)
def test_a_birthday_without_a_year_goes_to_the_sheet_as_it_can_hold_it(
    tmp_path: Path, fmt: str, column: str, cell: str
) -> None:
    """``BDAY:--0203`` went into the sheet as ``'--02-03``. Google and our plain format get
    Google's `` --02-03``; Outlook, which has no date without a year, an empty cell, which
    is no deletion of the birthday: an edit of that row elsewhere keeps the card's BDAY."""
    hub = site(tmp_path, f'format = "{fmt}"', people=2, BDAY="--020{i}")
    assert hub.sync()["changes"]["sheet"]["create"] == 2
    hub.settled()
    rows = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    assert sorted(row[column] for row in rows) == [cell.replace("3", "1"), cell.replace("3", "2")]
    if fmt == "outlook":
        _rewrite(hub.sheet, edit=("Job Title", "Foreman"))
        assert hub.sync()["changes"]["cards"] == {"create": 0, "update": 1, "delete": 0}
        hub.settled()
    card = (hub.folder / "p1.vcf").read_text()
    assert "BDAY:--0201" in card and (fmt != "outlook" or "TITLE:Foreman" in card)


def test_birthdays_go_to_an_outlook_sheet_in_its_own_date_style(tmp_path: Path) -> None:
    """The people a folder adds to an Outlook export got ISO birthdays among its ``3/14/1980``."""
    hub = site(tmp_path, 'format = "outlook"', people=2, BDAY="1980-01-0{i}")
    hub.sheet.write_text("First Name,Last Name,E-mail Address,Birthday\r\nAnn,Lee,ann@a.com,3/14/1980\r\n")
    assert hub.sync()["changes"]["sheet"]["create"] == 2
    hub.settled()
    rows = {r["E-mail Address"]: r["Birthday"] for r in csv.DictReader(hub.sheet.read_text().splitlines())}
    assert rows == {"ann@a.com": "3/14/1980", "p1@example.com": "1/1/1980", "p2@example.com": "1/2/1980"}
    _rewrite(hub.sheet, edit=("Birthday", "1/11/1980"))
    assert hub.sync()["changes"]["cards"] == {"create": 0, "update": 1, "delete": 0}
    hub.settled()
    assert "BDAY:1980-01-11" in (hub.folder / "p1.vcf").read_text()
    assert "BDAY:1980-03-14" in next(
        p.read_text() for p in hub.folder.glob("*.vcf") if "ann@a.com" in p.read_text()
    )


_CARDS_21 = (
    "outlook-2003__2.1__ezvcard_outlook-2003.vcf",
    "outlook__2.1__ezvcard_John_Doe_MS_OUTLOOK.vcf",
    "windows-1252__2.1__roundcube_johndoe.vcf",
    "japanese-feature-phone__2.1__aosp_v21_japanese_2.vcf",
    "blackberry__2.1__ezvcard_John_Doe_BLACK_BERRY.vcf",
    "android-aosp__2.1__aosp_v21_complicated.vcf",
    "windows-mobile-6.5__2.1__aosp_v21_winmo_65.vcf",
    "xing__2.1__nodevcf_xing.vcf",
    "thebat__2.1__roundcube_thebat.vcf",
)


def test_a_21_card_edited_in_a_csv_file_stays_21(tmp_path: Path, corpus_dir: Path) -> None:
    """QA: a Job Title edited in an Outlook file rewrote each vCard 2.1 card it reached as
    3.0 (quoted-printable decoded, CHARSET dropped, ``TEL;WORK`` made ``TEL;TYPE=WORK``),
    which the phone or Outlook that wrote it may not read. Now the card stays 2.1, and only
    the title (with the REV the change dates, and the UID a card without one gets) differs."""
    hub = site(tmp_path, 'format = "outlook"')
    for name in _CARDS_21:
        shutil.copy(corpus_dir / "vcards" / name, hub.folder / name)
    assert hub.sync()["changes"]["sheet"]["create"] == len(_CARDS_21)
    hub.settled()
    with hub.sheet.open(encoding="utf-8-sig", newline="") as sheet:  # notes of several lines
        rows = list(csv.reader(sheet))
    for row in rows[1:]:
        row[rows[0].index("Job Title")] = "QA Lead"
    with hub.sheet.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert hub.sync()["changes"]["cards"]["update"] == len(_CARDS_21)
    for name in _CARDS_21:
        # (a file ending without a line break gets one)
        old = (corpus_dir / "vcards" / name).read_bytes().rstrip(b"\r\n").split(b"\r\n")
        new = (hub.folder / name).read_bytes().rstrip(b"\r\n").split(b"\r\n")
        assert new[:2] == [b"BEGIN:VCARD", b"VERSION:2.1"], name
        kept = [line for line in old if not line.startswith((b"TITLE", b"REV:"))]
        assert [line for line in new if line in kept] == kept, name  # in order, byte for byte
        added = [line for line in new if line not in kept]
        assert b"TITLE:QA Lead" in added, name
        assert all(line.startswith((b"TITLE:QA Lead", b"REV:", b"UID:")) for line in added), (name, added)
    hub.settled()


#: cards with no VERSION line, in 2.1's syntax (Evolution's): QA's and two of the corpus
_ANN = (
    b"BEGIN:VCARD\nFN:Ann Lee\nN:Lee;Ann\nLABEL;QUOTED-PRINTABLE;WORK:1 Main St=0ABoston\n"
    b"TEL;WORK;VOICE:(617) 236-0442\nX-EVOLUTION-FILE-AS:Lee, Ann\nEND:VCARD\n"
)
_VERSIONLESS = ("evolution-ximian__none__kcontacts_vcard4.vcf", "no-version__none__eds_sorted-7.vcf")


def test_a_card_without_a_version_edited_in_a_csv_file_keeps_its_lines(
    tmp_path: Path, corpus_dir: Path
) -> None:
    """QA: a job title edited in the sheet rewrote a card with no VERSION line whole, as
    3.0: VERSION:3.0 added, ``LABEL;QUOTED-PRINTABLE;WORK`` (unmodelled) made
    ``LABEL;TYPE=WORK`` with ``\\n``, the unchanged ``TEL;WORK;VOICE`` made
    ``TEL;TYPE=WORK,VOICE``. Now it is updated as a 2.1 card is: only the title (and the UID
    a card without one gets, the FN one without a readable FN gets) is new, no VERSION."""
    hub = site(tmp_path, 'format = "plain"')
    originals = {"ann.vcf": _ANN}
    for name in _VERSIONLESS:
        originals[name] = (corpus_dir / "vcards" / name).read_bytes()
    for name, data in originals.items():
        (hub.folder / name).write_bytes(data)
    assert hub.sync()["changes"]["sheet"]["create"] == len(originals)
    rows = list(csv.DictReader(hub.sheet.read_text(encoding="utf-8").splitlines()))
    for row in rows:
        row["job_title"] = "Boss"
    with hub.sheet.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert hub.sync()["changes"]["cards"]["update"] == len(originals)
    for name, data in originals.items():
        old = data.rstrip(b"\n").split(b"\n")
        new = (hub.folder / name).read_bytes().rstrip(b"\n").split(b"\n")
        assert not [line for line in new if line.startswith(b"VERSION")], name
        kept = [line for line in old if b":" in line]  # (Ximian's bare "FN" is no property)
        assert [line for line in new if line in kept] == kept, name  # in order, byte for byte
        added = [line for line in new if line not in kept]
        assert b"TITLE:Boss" in added, name
        assert all(line.startswith((b"TITLE:Boss", b"UID:", b"FN")) for line in added), (name, added)
    hub.settled()


def test_a_card_cut_off_and_edited_elsewhere_says_why_in_words(tmp_path: Path) -> None:
    """QA: the card lost its END:VCARD and the sheet's row was edited: after the right
    error, the refused write said "changed since it was read (version
    1795810356733260681-314-2147447, expected ...)", the file's internal versions."""
    hub = site(tmp_path, 'format = "plain"', people=1)
    hub.sync()
    card = hub.folder / "p1.vcf"
    card.write_bytes(card.read_bytes().replace(b"END:VCARD\r\n", b""))
    hub.edit_first_row(job_title="Boss")
    messages = [error["message"] for error in hub.sync()["errors"]]
    assert len(messages) == 2 and "no END:VCARD" in messages[0], messages
    assert "changed since the hub last read it" in messages[1], messages
    assert "next sync" in messages[1] and not re.search(r"\d+-\d+-\d+", messages[1]), messages


def test_a_file_of_several_cards_is_said_on_every_run_until_split(tmp_path: Path, corpus_dir: Path) -> None:
    """QA: "the file holds 6 cards" was said by the first run only: once the hub wrote into
    the file (an edit of its first person), no run read it again, and the five others went
    unsynced without a word. Said on every run, also those that read no file, until the
    file is split."""
    name = "android__2.1__ezvcard_John_Doe_ANDROID.multi.vcf"
    hub = site(tmp_path, 'format = "plain"')
    data = (corpus_dir / "vcards" / name).read_bytes()
    (hub.folder / name).write_bytes(data)

    def said() -> list[str]:
        return [e["message"] for e in hub.sync()["errors"] if e["record"] == str(hub.folder / name)]

    [message] = said()
    assert message.startswith("the file holds 6 cards") and "only the first is synced" in message
    hub.edit_first_row(job_title="Boss")
    for _ in range(3):  # the run that writes into the file, then runs that read nothing
        assert said() == [message] and b"TITLE:Boss" in (hub.folder / name).read_bytes()
    first = (hub.folder / name).read_bytes().split(b"END:VCARD\r\n")[0] + b"END:VCARD\r\n"
    (hub.folder / name).write_bytes(first)  # split: the others moved elsewhere
    assert said() == [] and said() == []


@pytest.mark.parametrize("old", [None, REREAD])
def test_a_file_of_several_cards_is_said_again_after_an_upgrade(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch, old: str | None
) -> None:
    """A hub synced by the version before the files of several cards were kept in the
    folder's cursor has the cursor of that version (none, or "read every file" after a
    stale write): read as "no file of several cards", the upgraded hub read no file it
    knew unchanged, and the file's warning was never said again. The first run after the
    upgrade reads every file once and says it; the runs after say it and open no file."""
    name = "android__2.1__ezvcard_John_Doe_ANDROID.multi.vcf"
    hub = site(tmp_path, 'format = "plain"')
    (hub.folder / name).write_bytes((corpus_dir / "vcards" / name).read_bytes())

    def said() -> list[str]:
        return [e["message"] for e in hub.sync()["errors"] if e["record"] == str(hub.folder / name)]

    [message] = said()
    engine = sa.create_engine(hub.db)
    with engine.begin() as conn:  # the cursor as the version before saved it
        cards = sa.select(t.connectors.c.id).where(t.connectors.c.name == "cards").scalar_subquery()
        conn.execute(sa.update(t.cursors).where(t.cursors.c.connector_id == cards).values(value=old))
    engine.dispose()
    read: list[str] = []
    reading = VCardDirConnector._read

    def spy(self: VCardDirConnector, path: Path) -> Any:
        read.append(path.name)
        return reading(self, path)

    monkeypatch.setattr(VCardDirConnector, "_read", spy)
    assert said() == [message] and read == [name]  # every file read once
    read.clear()
    assert said() == [message] and said() == [message] and read == []


def test_a_value_the_files_encoding_lacks_leaves_the_rest_of_the_row_written(tmp_path: Path) -> None:
    """QA: a note ``Café`` for a Shift_JIS (cp932) Outlook file refused the whole row, on
    every run: an email added on the same card never arrived. Now the row gets the email,
    the note cell keeps what it held, and the run reports the note once, naming it. The
    baseline is what the file holds: the next runs neither report it again nor take the
    old note back to the hub (the card keeps Café)."""
    hub = site(tmp_path)
    header = "名,姓,電子メール アドレス,電子メール 2 アドレス,メモ"
    hub.sheet.write_bytes(f"{header}\r\n太郎,山田,taro@example.com,,古いメモ\r\n".encode("cp932"))
    assert hub.sync()["changes"]["cards"]["create"] == 1
    [name] = hub.cards()
    card = hub.folder / name
    text = card.read_text().replace("NOTE:古いメモ", "NOTE:Café")
    card.write_text(text.replace("END:VCARD", "EMAIL:added@example.com\r\nEND:VCARD"))
    report = hub.sync()
    assert [e["message"] for e in report["errors"]] == [
        "the note ('é') cannot be written in the file's encoding cp932; its other fields were written"
    ]
    # the row changed: counted and journalled as done, not "failed" (QA)
    assert report["changes"]["sheet"]["update"] == 1
    shown = json.loads(
        runner.invoke(app, ["--database", hub.db, "show", str(report["run"]), "--json"]).stdout
    )
    [row_change] = [c for c in shown["journal"] if c["connector"] == "sheet"]
    assert row_change["status"] == "done" and "its other fields were written" in row_change["error"]
    row = hub.sheet.read_bytes().decode("cp932").splitlines()[1]
    assert row == "太郎,山田,taro@example.com,added@example.com,古いメモ"
    for _ in range(2):
        again = hub.sync()
        assert again["changes"] == {} and again["errors"] == [], again
    assert "NOTE:Café" in card.read_text()


def test_name_parts_typed_in_a_card_with_a_new_name_are_kept(tmp_path: Path) -> None:
    """QA: a card the hub made from a plain CSV row (a display name, so N:;;;;) gets its N
    filled in and its FN changed in one edit. The parts spelled the new name, so they were
    taken for a system's split of it and dropped: the hub took the display name alone and
    wrote the card back with N:;;;;, erasing what its owner had just typed."""
    hub = site(tmp_path, 'format = "plain"')
    hub.sheet.write_text("id,display_name,emails\n1,Ann Lee,work:ann@x.test\n")
    hub.sync()
    [card] = hub.folder.glob("*.vcf")
    assert "N:;;;;" in card.read_text().splitlines()
    card.write_text(card.read_text().replace("N:;;;;", "N:Lee;Anna;;;").replace("FN:Ann Lee", "FN:Anna Lee"))
    hub.sync()
    lines = card.read_text().splitlines()
    assert "N:Lee;Anna;;;" in lines and "FN:Anna Lee" in lines
    [row] = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    assert row["display_name"] == "Anna Lee"
    hub.settled()


def test_a_quote_left_open_in_the_sheet_deletes_no_one_and_the_sheet_is_not_written(tmp_path: Path) -> None:
    """A note edited to ``"note 4 edited`` without its closing quote: the rows after it were
    read as part of the note, so their people were deleted from the hub and the folder, and
    their text written into person 4's card. Now the row is an error naming the line, no
    one is deleted, and while the quote stays open the sheet is not written (an edit in
    the folder waits, as an error saying why) and is left byte for byte as it was."""
    hub = site(tmp_path, 'format = "plain"', people=6, NOTE="note {i}")
    assert hub.sync()["changes"]["sheet"]["create"] == 6
    hub.settled()
    text = hub.sheet.read_text(encoding="utf-8")
    assert text.count(",note 4") == 1
    hub.sheet.write_text(text.replace(",note 4", ',"note 4 edited'), encoding="utf-8")
    broken = hub.sheet.read_bytes()
    line = next(n for n, row in enumerate(text.splitlines(), 1) if ",note 4" in row)
    report = hub.sync()
    assert report["status"] == "applied"
    assert all(counts["delete"] == 0 for counts in report["changes"].values()), report
    assert [e["message"] for e in report["errors"]] == [
        f"the quote opened on line {line} is never closed: the rest of the file reads as one cell, "
        "so this row and the lines after it are not read (close the quote)"
    ]
    assert hub.cards() == [f"p{i}.vcf" for i in range(1, 7)]
    assert "NOTE:note 4\n" in (hub.folder / "p4.vcf").read_text()
    card = hub.folder / "p5.vcf"
    card.write_text(card.read_text().replace("NOTE:note 5", "NOTE:note 5 changed"))
    report = hub.sync()
    assert [e["message"] for e in report["errors"]] == [  # the row, still bad, is said again
        f"the quote opened on line {line} is never closed: the rest of the file reads as one cell, "
        "so this row and the lines after it are not read (close the quote)",
        f"not written: the quote opened on line {line} is never closed, so the file could not be "
        "read whole; the hub writes nothing into it until the quote is closed",
    ]
    assert hub.sheet.read_bytes() == broken
    hub.sheet.write_bytes(broken.replace(b'"note 4 edited', b'"note 4 edited"'))
    report = hub.sync()
    assert report["errors"] == [] and "note 5 changed" in hub.sheet.read_text(encoding="utf-8")
    assert "NOTE:note 4 edited" in (hub.folder / "p4.vcf").read_text()
    assert hub.cards() == [f"p{i}.vcf" for i in range(1, 7)]


def test_a_quote_opened_and_a_stray_one_rows_later_delete_no_one(tmp_path: Path) -> None:
    """QA: one note edited to ``"note 1 edited`` (a quote opened) and the note three rows
    down to ``note 4 edited"`` (a stray quote): by the rules of CSV one cell spanning four
    lines, in a row of just the header's number of cells. Read as such, the run applied
    without an error, the three people whose rows were swallowed were deleted from the hub
    and the folder, and the first person's card got the last one's email. Now that row is
    an error naming the line the quote opened on, no one is deleted, no email moves, and
    the sheet is not written (nor changed) until the quotes are put right."""
    hub = site(tmp_path, 'format = "plain"', people=10, NOTE="note {i}")
    assert hub.sync()["changes"]["sheet"]["create"] == 10
    hub.settled()
    lines = hub.sheet.read_bytes().decode().split("\r\n")
    first = 2  # (file line 3)
    notes = lines[0].split(",").index("notes")
    opened, closed = (int(lines[n].split(",")[notes].split()[1]) for n in (first, first + 3))
    lines[first] = lines[first].replace(f",note {opened},", f',"note {opened} edited,')
    lines[first + 3] = lines[first + 3].replace(f",note {closed},", f',note {closed} edited",')
    hub.sheet.write_bytes("\r\n".join(lines).encode())
    broken = hub.sheet.read_bytes()
    report = hub.sync()
    assert report["status"] == "applied"
    assert all(counts["delete"] == 0 for counts in report["changes"].values()), report
    swallowed = lines[first + 1].split(",")[lines[0].split(",").index("id")]  # (file line 4)
    assert [e["message"] for e in report["errors"]] == [
        "the quoted cell opened on line 3 seems to hold whole rows of the file (line 4 reads as "
        f"the row {swallowed!r}, found nowhere else in the file): a quote left open there and a "
        "stray one further on? This row and the rows in it are not read (fix the quotes)"
    ]
    assert hub.cards() == sorted(f"p{i}.vcf" for i in range(1, 11))
    for i in range(1, 11):
        card = (hub.folder / f"p{i}.vcf").read_text()
        assert [x for x in card.splitlines() if x.startswith(("EMAIL", "NOTE"))] == [
            f"EMAIL:p{i}@example.com",
            f"NOTE:note {i}",
        ], card
    five = 5 if 5 not in (opened, closed) else 6 if 6 not in (opened, closed) else 7
    card = hub.folder / f"p{five}.vcf"
    card.write_text(card.read_text().replace(f"NOTE:note {five}", f"NOTE:note {five} changed"))
    report = hub.sync()
    assert [e["message"] for e in report["errors"]] == [  # the row, still bad, is said again
        "the quoted cell opened on line 3 seems to hold whole rows of the file (line 4 reads as "
        f"the row {swallowed!r}, found nowhere else in the file): a quote left open there and a "
        "stray one further on? This row and the rows in it are not read (fix the quotes)",
        "not written: the quoted cell opened on line 3 seems to hold whole rows of the "
        "file, so the file could not be read whole; the hub writes nothing into it until the "
        "quotes are fixed",
    ]
    assert hub.sheet.read_bytes() == broken
    hub.sheet.write_bytes(broken.replace(b' edited"', b" edited").replace(b',"note ', b",note "))
    report = hub.sync()
    assert report["errors"] == [] and f"note {five} changed" in hub.sheet.read_text(encoding="utf-8")
    assert hub.cards() == sorted(f"p{i}.vcf" for i in range(1, 11))
    for i in (opened, closed):
        card = (hub.folder / f"p{i}.vcf").read_text()
        assert f"NOTE:note {i} edited" in card and f"EMAIL:p{i}@example.com" in card


def test_a_quoted_note_of_several_lines_with_commas_still_syncs(tmp_path: Path) -> None:
    """What the check for a cell holding rows must leave alone: a real note of several
    lines, one of them with as many commas as a row of the sheet has."""
    hub = site(tmp_path, 'format = "plain"', people=4, NOTE="note {i}")
    hub.sync()
    hub.settled()
    text = hub.sheet.read_bytes().decode()
    header = text.split("\r\n")[0].split(",")
    many = ", ".join(f"item {n}" for n in range(len(header)))  # a line of more cells than a row
    note = f'first line\r\nsecond, line "q"\r\n{many}'
    quoted = note.replace('"', '""')
    hub.sheet.write_bytes(text.replace(",note 3,", f',"{quoted}",').encode())
    report = hub.sync()
    assert report["errors"] == [] and report["changes"]["cards"]["update"] == 1
    card = (hub.folder / "p3.vcf").read_text()
    assert 'NOTE:first line\\nsecond\\, line "q"\\nitem 0\\, item 1' in card
    hub.settled()
    (hub.folder / "p2.vcf").write_text(person_card(2, NOTE="note 2 changed"))
    report = hub.sync()
    assert report["errors"] == [] and report["changes"]["sheet"]["update"] == 1
    assert f',"{quoted}",' in hub.sheet.read_bytes().decode()


def test_stray_quotes_in_an_outlook_sheet_of_three_columns_delete_no_one(tmp_path: Path) -> None:
    """QA: an Outlook export of 3 columns (no id column: the rows' ids are derived from
    their emails) synced with a folder; a quote opened on row 2's last name and a stray one
    three rows down. The check for a cell holding whole rows then asked for a header of 4
    columns or more: the run applied, 3 people were deleted from the hub and the folder, and
    P1's card got p4's email. Now the lines in the cell give the ids of rows the hub knows
    and finds nowhere else: that row is an error, no one is deleted, no email moves."""
    rows = [f"P{i},Last{i},p{i}@example.com" for i in range(8)]
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(("\r\n".join(["First Name,Last Name,E-mail Address", *rows]) + "\r\n").encode())
    hub = site(tmp_path)
    assert hub.sync()["changes"]["cards"]["create"] == 8
    hub.settled()
    emails = {p.name: p.read_text() for p in hub.folder.glob("*.vcf")}
    rows[1] = rows[1].replace(",Last1", ',"Last1 jr')
    rows[4] = rows[4].replace(",Last4", ',Last4 sr"')
    sheet.write_bytes(("\r\n".join(["First Name,Last Name,E-mail Address", *rows]) + "\r\n").encode())
    report = hub.sync()
    assert report["status"] == "applied"
    assert all(counts["delete"] == 0 for counts in report["changes"].values()), report
    assert [e["message"] for e in report["errors"]] == [
        "the quoted cell opened on line 3 seems to hold whole rows of the file (line 4 reads as "
        "the row 'p2@example.com', found nowhere else in the file): a quote left open there and a "
        "stray one further on? This row and the rows in it are not read (fix the quotes)"
    ]
    assert {p.name: p.read_text() for p in hub.folder.glob("*.vcf")} == emails
    sheet.write_bytes(sheet.read_bytes().replace(b'"Last1 jr', b"Last1 jr").replace(b'sr"', b"sr"))
    report = hub.sync()
    assert report["errors"] == [] and all(c["delete"] == 0 for c in report["changes"].values())
    cards = [p.read_text() for p in hub.folder.glob("*.vcf")]
    assert sorted(x for c in cards for x in c.splitlines() if x.startswith("EMAIL")) == [
        f"EMAIL;TYPE=pref:p{i}@example.com" for i in range(8)
    ]
    assert any("Last1 jr" in c and "p1@example.com" in c for c in cards)


def test_a_shopping_list_note_in_a_sheet_without_ids_syncs(tmp_path: Path) -> None:
    """QA: a hand-made plain sheet of 4 columns without an id column, one note of two
    lines, the second ``milk, eggs, bread, butter`` (4 cells read alone). It was taken for a
    cell holding whole rows on every run: Ann never reached the hub, and every write (even
    the id column's) was refused, for good. A line names no row the hub knows: it is a note."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(
        b"display_name,emails,phones,notes\r\n"
        b'Ann Lee,ann@example.com,+1 212 555 0100,"Shopping list:\r\nmilk, eggs, bread, butter"\r\n'
        + b"".join(f"P{i},p{i}@example.com,,\r\n".encode() for i in range(3))
    )
    hub = site(tmp_path)
    report = hub.sync()
    assert report["errors"] == [] and report["changes"]["cards"]["create"] == 4
    (ann,) = [p.read_text() for p in hub.folder.glob("*.vcf") if "Ann Lee" in p.read_text()]
    assert "NOTE:Shopping list:\\nmilk\\, eggs\\, bread\\, butter" in ann
    hub.settled()
    card = next(p for p in hub.folder.glob("*.vcf") if "P1" in p.read_text())
    card.write_text(card.read_text().replace("FN:P1", "FN:P1 changed"))
    report = hub.sync()
    assert report["errors"] == [] and report["changes"]["sheet"]["update"] == 1
    text = sheet.read_bytes().decode()
    assert text.startswith("display_name,emails,phones,notes,id\r\n")  # (a plain file we write has ids)
    assert "P1 changed" in text and '"Shopping list:\r\nmilk, eggs, bread, butter"' in text
    hub.settled()


def test_a_plain_csv_files_name_column_is_the_display_name_both_ways(tmp_path: Path) -> None:
    """A plain sheet headed ``name`` (not ``display_name``): its names went unread, so its
    people got their organisation as their name (``FN:Acme``), and people written into it
    got no name and no name column either."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,organization,emails\r\nAnn Smith,Acme,ann@example.com\r\n", encoding="utf-8")
    hub = site(tmp_path, people=1)
    assert hub.sync()["changes"]["cards"]["create"] == 1
    [ann] = [p for p in hub.folder.glob("*.vcf") if "ann@example.com" in p.read_text()]
    assert "FN:Ann Smith" in ann.read_text()
    with sheet.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["name", "organization", "emails", "id"]  # the header as written
    assert {row["emails"]: row["name"] for row in rows} == {
        "ann@example.com": "Ann Smith",
        "p1@example.com": "Person 1",
    }
    hub.settled()
    # a name edited in the sheet arrives as the display name
    sheet.write_text(sheet.read_text(encoding="utf-8").replace("Ann Smith", "Ann Jones"), encoding="utf-8")
    hub.sync()
    assert "FN:Ann Jones" in ann.read_text()
    hub.settled()


def test_an_edit_of_only_values_the_files_encoding_lacks_is_said_on_every_run(tmp_path: Path) -> None:
    """The row's only change a note the file's encoding cannot hold: nothing is written
    (``RejectedRecordError``), so the row stays out of step and the note is reported on
    every run until it changes (said once, the row kept the old note without a word)."""
    hub = site(tmp_path)
    header = "名,姓,電子メール アドレス,メモ"
    hub.sheet.write_bytes(f"{header}\r\n太郎,山田,taro@example.com,古いメモ\r\n".encode("cp932"))
    assert hub.sync()["changes"]["cards"]["create"] == 1
    [name] = hub.cards()
    card = hub.folder / name
    card.write_text(card.read_text().replace("NOTE:古いメモ", "NOTE:Café"))
    for _ in range(3):
        report = hub.sync()
        assert ["the note ('é') cannot be written" in e["message"] for e in report["errors"]] == [True], (
            report
        )
    card.write_text(card.read_text().replace("NOTE:Café", "NOTE:新しいメモ"))
    assert hub.sync()["errors"] == []
    assert hub.sheet.read_bytes().decode("cp932").splitlines()[1] == "太郎,山田,taro@example.com,新しいメモ"
    assert hub.sync()["errors"] == []


@pytest.mark.parametrize(
    ("card_name", "row_name", "parts"),
    [("Ann Lee-Smith", "Anna Lee", "N:Lee;Anna;;;"), ("Bob Jones", "Carl Brown", "N:;;;;")],
)
@pytest.mark.parametrize("card_newer", [True, False])
def test_a_person_renamed_in_a_card_and_a_plain_sheet_takes_the_newer_name_whole(
    tmp_path: Path, card_name: str, row_name: str, parts: str, card_newer: bool
) -> None:
    """QA: renamed in a card (its FN only, N left as it was) and in a plain sheet's display
    name in one run, under ``newest``. The newer name wins everywhere and the other stays
    an [auto] conflict. The sheet's rename takes the name parts along (they spelled the name
    it renamed); with the card read first they did not: the hub's name was the card's by
    then, which they did not spell, and the card was left N:Lee;Ann under FN:Anna Lee,
    where the same edits with the sheet listed first gave N:Lee;Anna."""
    now = time.time()
    hub = site(tmp_path, 'format = "plain"')
    hub.hub.write_text('[hubs.h]\nconflict = "newest"\n' + hub.hub.read_text())
    hub.cli("apply", str(hub.hub))
    hub.sheet.write_text("id,display_name,emails\r\n1,Ann Lee,ann@example.com\r\n")
    card = hub.folder / "ann.vcf"
    card.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n"
        "EMAIL:ann@example.com\r\nEND:VCARD\r\n"
    )
    for path in (card, hub.sheet):  # (times before the renames': no older version put back)
        os.utime(path, (now - 10000, now - 10000))
    hub.sync()
    hub.settled()
    card.write_text(card.read_text().replace("FN:Ann Lee", f"FN:{card_name}"))
    hub.sheet.write_text(hub.sheet.read_text().replace("Ann Lee", row_name))
    newer, older = (card, hub.sheet) if card_newer else (hub.sheet, card)
    os.utime(newer, (now - 1000, now - 1000))
    os.utime(older, (now - 3000, now - 3000))
    hub.sync()
    won, lost = (card_name, row_name) if card_newer else (row_name, card_name)
    lines = card.read_text().splitlines()
    assert f"FN:{won}" in lines
    assert ("N:Lee;Ann;;;" if card_newer else parts) in lines  # (the card's own N, or the rename's)
    [row] = csv.DictReader(hub.sheet.read_text(encoding="utf-8-sig").splitlines())
    assert row["display_name"] == won
    listed = hub.cli("conflicts", "h", "--all")
    assert "[auto]" in listed and f": {lost}\n" in listed and f": {won}  (kept)" in listed
    assert hub.cli("conflicts", "h").count("[open]") == 0
    hub.settled()


def test_with_the_order_set_a_date_cell_of_text_becomes_no_birthday(tmp_path: Path) -> None:
    """QA: a Google file with ``date_order = "dmy"`` holding ``31/31/1980`` and ``tomorrow``
    gave the cards ``BDAY:31/31/1980`` and ``BDAY:tomorrow`` (no valid 3.0 card). Each row
    is an error naming its line until its cell is fixed; the other rows sync. A birthday of
    text from a vCard 4.0 card is not written into that file (its cell stays empty, which
    deletes nothing)."""
    hub = site(tmp_path, 'format = "google"\ndate_order = "dmy"')
    (hub.folder / "dee.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:dee\r\nFN:Dee Ng\r\nN:Ng;Dee;;;\r\n"
        "EMAIL:dee@example.com\r\nBDAY;VALUE=text:circa 1800\r\nEND:VCARD\r\n"
    )
    hub.sheet.write_text(
        "First Name,Last Name,Birthday,E-mail 1 - Value\r\n"
        "Ann,Lee,31/31/1980,ann@example.com\r\nBob,Roe,tomorrow,bob@example.com\r\n"
        "Cy,Wu,25/12/1980,cy@example.com\r\n"
    )
    report = hub.sync()
    assert [(e["record"], e["message"]) for e in report["errors"]] == [
        (f"{hub.sheet}:2", "cannot map row: Birthday: '31/31/1980' is no date (with date_order = 'dmy' set, "
         "a date cell holds a date or nothing): fix the cell"),
        (f"{hub.sheet}:3", "cannot map row: Birthday: 'tomorrow' is no date (with date_order = 'dmy' set, "
         "a date cell holds a date or nothing): fix the cell"),
    ]  # fmt: skip
    cards = {p.name: p.read_text() for p in hub.folder.glob("*.vcf")}
    assert len(cards) == 2 and sum("BDAY:1980-12-25" in card for card in cards.values()) == 1
    assert not any("31/31" in card or "tomorrow" in card for card in cards.values())
    rows = {r["E-mail 1 - Value"]: r["Birthday"] for r in csv.DictReader(hub.sheet.read_text().splitlines())}
    assert rows == {
        "ann@example.com": "31/31/1980",
        "bob@example.com": "tomorrow",
        "cy@example.com": "25/12/1980",
        "dee@example.com": "",
    }
    hub.sheet.write_text(hub.sheet.read_text().replace("31/31/1980", "30/1/1980"))
    assert hub.sync()["changes"]["cards"] == {"create": 1, "update": 0, "delete": 0}
    assert "BDAY;VALUE=text:circa 1800" in (hub.folder / "dee.vcf").read_text()
    assert any("BDAY:1980-01-30" in p.read_text() for p in hub.folder.glob("*.vcf"))


def test_a_linked_row_whose_date_cell_turns_to_no_date_waits_for_its_fix(tmp_path: Path) -> None:
    """QA: a linked row's birthday typed as ``30/02/2000`` (``date_order`` set) made the row
    unreadable; the card's edit then found no row by its id, the row was unlinked and the
    person written into the file again (two rows of one email), and once the cell was fixed
    the old row came back as a second person everywhere. While a row cannot be read, a
    change for a row the file no longer shows waits, saying why; the cell fixed, the edit
    lands in the same row and nobody is doubled."""
    hub = site(tmp_path, 'format = "google"\ndate_order = "dmy"')
    hub.sheet.write_text(
        "First Name,Last Name,Birthday,E-mail 1 - Value\r\n"
        "Leap,Year,29/02/2000,leap@example.com\r\nCy,Wu,25/12/1980,cy@example.com\r\n"
    )
    hub.sync()
    (card,) = [p for p in hub.folder.glob("*.vcf") if "leap@example.com" in p.read_text()]
    hub.sheet.write_text(hub.sheet.read_text().replace("29/02/2000", "30/02/2000"))
    card.write_text(card.read_text().replace("Year", "Yearling"))  # (FN and N)
    report = hub.sync()
    assert [e["record"] for e in report["errors"]][:1] == [f"{hub.sheet}:2"], report["errors"]
    # (the person by name, not by the row's derived id)
    assert {
        "record": f"{hub.sheet}:leap@example.com",
        "message": "Leap Yearling: no readable row is theirs, and line 2 could not be read (it "
        "may be theirs): fix it and this change is written on the next sync",
    }.items() <= next(e for e in report["errors"] if "could not be read" in e["message"]).items()
    assert report["changes"].get("sheet", {}).get("create", 0) == 0, report
    assert hub.sheet.read_text().count("leap@example.com") == 1
    hub.sheet.write_text(hub.sheet.read_text().replace("30/02/2000", "29/02/2000"))
    report = hub.sync()
    assert not report["errors"], report["errors"]
    rows = list(csv.DictReader(hub.sheet.read_text().splitlines()))
    assert [(r["Last Name"], r["E-mail 1 - Value"]) for r in rows if "leap" in r["E-mail 1 - Value"]] == [
        ("Yearling", "leap@example.com")
    ]
    assert sum("leap@example.com" in p.read_text() for p in hub.folder.glob("*.vcf")) == 1
    hub.settled()


def test_a_sheet_started_empty_has_the_mapped_columns_to_fill_in(tmp_path: Path) -> None:
    """QA: the header-only file the first sync starts had the format's columns but not
    the mapped ones (``custom.trade = "Trade"``): added only by the first row written, a
    person filling the empty file in by hand had no column for the trade. A row typed there
    with a trade reaches the cards."""
    hub = site(tmp_path, 'mapping = {"custom.trade" = "Trade"}', 'mapping = {"custom.trade" = "X-TRADE"}')
    hub.sync()
    assert hub.sheet.read_text().splitlines() == [",".join([*PLAIN_COLUMNS, "Trade"])]
    row = {column: "" for column in [*PLAIN_COLUMNS, "Trade"]}
    row |= {"display_name": "Ann Lee", "emails": "ann@example.com", "Trade": "mason"}
    with hub.sheet.open("a", encoding="utf-8", newline="") as out:
        csv.DictWriter(out, fieldnames=list(row)).writerow(row)
    assert hub.sync()["changes"]["cards"]["create"] == 1
    (card,) = hub.folder.glob("*.vcf")
    assert b"X-TRADE:mason\r\n" in card.read_bytes()
    hub.settled()
