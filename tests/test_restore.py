"""A folder put back from a backup, after edits made elsewhere since were copied into it.

Under ``newest``, a value a record changed to, whose record is older than the time the
hub's value was set (by more than the clocks' slack), is the older value: the hub keeps
its own and writes it back, and the overruled value is kept in a conflict. Before, a
restored card counted as an edit of one side only, which no policy weighs: the week's
edits made elsewhere were undone everywhere (QA).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.sheets import site


def _age(folder: Path, days: float) -> None:
    moment = time.time() - days * 86400
    for path in folder.glob("*.vcf"):
        os.utime(path, (moment, moment))


def _edit_sheet(sheet: Path, old: str, new: str) -> None:
    text = sheet.read_text(encoding="utf-8-sig")
    assert old in text
    sheet.write_text(text.replace(old, new), encoding="utf-8")


def test_a_folder_restored_from_a_backup_does_not_undo_newer_edits(tmp_path: Path) -> None:
    hub = site(tmp_path, people=4, TITLE="Fitter {i}")
    hub.sync()
    hub.settled()
    _age(hub.folder, 8)  # last week's cards...
    backup = tmp_path / "backup"
    shutil.copytree(hub.folder, backup)  # ...and a copy of them (copy2: the times kept)
    hub.settled()
    _edit_sheet(hub.sheet, "Fitter 1", "Site Manager")  # edited in the sheet this week
    assert hub.sync()["changes"]["cards"]["update"] == 1
    assert "TITLE:Site Manager" in (hub.folder / "p1.vcf").read_text()
    shutil.rmtree(hub.folder)
    shutil.copytree(backup, hub.folder)  # the backup put back
    report = hub.sync()
    assert report["status"] == "applied"
    assert "hub" not in report["changes"], report  # the hub took nothing from the old cards
    assert report["conflicts"] >= 1
    assert "TITLE:Site Manager" in (hub.folder / "p1.vcf").read_text()  # written back
    assert "Site Manager" in hub.sheet.read_text(encoding="utf-8-sig")
    listed = hub.cli("conflicts", "h", "--all")  # the overruled old value, and which stayed
    assert "sheet: Site Manager  (kept)" in listed and "cards: Fitter 1\n" in listed, listed
    hub.settled()


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_people_missing_from_a_restored_folder_are_held_not_deleted(tmp_path: Path, decision: str) -> None:
    """QA: people added since the backup are not in it, and were deleted everywhere with
    the restore, under the delete threshold (2 of 42), with nothing said. A connector
    whose records went back in time in a run (older versions put back) holds its
    deletions for a person: approved, they go; rejected, they are written back."""
    from contacthub.cli import app
    from tests.sheets import runner

    hub = site(tmp_path, people=20, TITLE="Fitter {i}")
    hub.sync()
    hub.settled()
    _age(hub.folder, 8)
    backup = tmp_path / "backup"
    shutil.copytree(hub.folder, backup)
    hub.settled()
    _edit_sheet(hub.sheet, "Fitter 1,", "Site Manager,")
    with hub.sheet.open("a", encoding="utf-8") as out:  # a person added this week
        out.write("u99,Person 99,99,Person,,,,,,Fitter 99,,p99@example.com,,,,\n")
    hub.sync()
    assert any("p99@" in p.read_text() for p in hub.folder.glob("*.vcf"))
    shutil.rmtree(hub.folder)
    shutil.copytree(backup, hub.folder)
    result = runner.invoke(app, ["--database", hub.db, "sync", "h", "--json"])
    assert result.exit_code == 3, result.output
    import json

    report = json.loads(result.output)
    assert report["status"] == "held"
    assert "p99@example.com" in hub.sheet.read_text(encoding="utf-8-sig")  # nothing written
    assert "went back to older versions" in hub.cli("show", str(report["run"]))
    hub.cli(decision, str(report["run"]))
    kept = decision == "reject"
    assert any("p99@" in p.read_text() for p in hub.folder.glob("*.vcf")) is kept  # written back
    assert ("p99@example.com" in hub.sheet.read_text(encoding="utf-8-sig")) is kept
    assert "TITLE:Site Manager" in (hub.folder / "p1.vcf").read_text()
    hub.settled()


def test_a_card_edited_after_the_hub_wrote_it_is_still_an_edit(tmp_path: Path) -> None:
    """The rule weighs the record's own time: a card edited now (its mtime now), even one
    whose REV is old, is newer than the value the hub wrote into it."""
    hub = site(tmp_path, people=2, TITLE="Fitter {i}", REV="20150101T000000Z")
    hub.sync()
    hub.settled()
    _edit_sheet(hub.sheet, "Fitter 1", "Site Manager")
    hub.sync()
    card = hub.folder / "p1.vcf"
    card.write_text(card.read_text().replace("TITLE:Site Manager", "TITLE:Foreman"))
    report = hub.sync()
    assert report["changes"]["hub"]["update"] == 1, report
    assert "Foreman" in hub.sheet.read_text(encoding="utf-8-sig")


def test_a_new_row_carrying_a_deleted_persons_id_is_a_new_person(tmp_path: Path) -> None:
    """QA: a plain CSV's next row number (or a card copied from a template) may carry the
    id of someone deleted: merged into them, the new person got the deleted one's email,
    phone and notes in their own row and card. Such a record is a new person."""
    hub = site(tmp_path, 'format = "plain"', people=3, NOTE="private {i}")
    hub.sync()
    hub.settled()
    text = hub.sheet.read_text(encoding="utf-8-sig")
    header, *rows = text.splitlines()
    row = next(r for r in rows if "p3@example.com" in r)
    assert row.startswith("u3,")
    hub.sheet.write_text("\n".join([header, *(r for r in rows if r != row)]) + "\n", encoding="utf-8")
    hub.sync()
    assert not (hub.folder / "p3.vcf").exists()
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    cells.update(display_name="Frank Newman", given_name="Frank", family_name="Newman", notes="")
    cells["emails"] = "frank@example.com"
    with hub.sheet.open("a", encoding="utf-8") as out:
        out.write(",".join(cells[h] for h in header.split(",")) + "\n")
    report = hub.sync()
    assert report["changes"]["hub"]["create"] == 1, report
    everything = hub.sheet.read_text(encoding="utf-8-sig") + "".join(
        p.read_text() for p in hub.folder.glob("*.vcf")
    )
    assert "p3@example.com" not in everything and "private 3" not in everything
    assert "frank@example.com" in everything


def test_a_field_newly_mapped_on_an_old_folder_is_taken_not_put_back(tmp_path: Path) -> None:
    """QA: an old folder (copied with its times kept) added to a hub whose people came from
    the sheet, then ``custom.trade`` mapped to its ``X-TRADE``: the trades, a first
    sighting the hub has no value for, were taken for older versions put back, and wiped
    from the cards. A field the hub has no value of, or one whose place just moved, is no
    step back."""
    hub = site(tmp_path, people=4)
    cards = hub.folder
    hub.sync()
    hub.settled()
    for i in range(1, 5):  # the cards now carry a trade the hub does not read yet
        card = cards / f"p{i}.vcf"
        card.write_text(card.read_text().replace("END:VCARD", f"X-TRADE:Plumber {i}\r\nEND:VCARD"))
    _age(cards, 400)
    hub.settled()
    hub.apply(cards_settings='mapping = { "custom.trade" = "X-TRADE" }')
    report = hub.sync()
    assert report["status"] == "applied", report
    assert all(f"X-TRADE:Plumber {i}" in (cards / f"p{i}.vcf").read_text() for i in range(1, 5))
    hub.settled()


def test_a_restored_folder_keeps_the_weeks_emails_when_the_list_changed_again_elsewhere(
    tmp_path: Path,
) -> None:
    """QA: with the sheet read first, an email added to it in the same run as the folder
    was put back changed the hub's list before the card was merged: the card's list then
    merged as an edit of both sides, and the email added this week, which the backup
    lacks, went from everywhere. A record that went back in time (its title older than
    the hub's) is an older version for its lists too."""
    hub = site(tmp_path, people=3, TITLE="Fitter {i}")
    cards_block, sheet_block = hub.hub.read_text().split("[[hubs.h.connectors]]")[1:]
    hub.hub.write_text(f"[[hubs.h.connectors]]{sheet_block}[[hubs.h.connectors]]{cards_block}")
    hub.cli("apply", str(hub.hub))  # the sheet read first
    hub.sync()
    hub.settled()
    _age(hub.folder, 8)
    backup = tmp_path / "backup"
    shutil.copytree(hub.folder, backup)
    hub.settled()
    _edit_sheet(
        hub.sheet, ",Fitter 1,,p1@example.com,", ",Site Manager,,p1@example.com; work:new1@example.com,"
    )
    hub.sync()
    assert "new1@example.com" in (hub.folder / "p1.vcf").read_text()
    shutil.rmtree(hub.folder)
    shutil.copytree(backup, hub.folder)
    _edit_sheet(hub.sheet, "work:new1@example.com,", "work:new1@example.com; home:third1@example.com,")
    hub.sync()
    card = (hub.folder / "p1.vcf").read_text()
    sheet = hub.sheet.read_text(encoding="utf-8-sig")
    for email in ("new1@example.com", "third1@example.com"):
        assert email in card and email in sheet, (email, card, sheet)
    assert "TITLE:Site Manager" in card


def test_a_settled_conflict_of_a_connector_with_its_own_older_value_marks_the_newer_kept(
    tmp_path: Path,
) -> None:
    """QA (Microsoft 365): a GAL user's deletion undone brought back their old title as the
    hub's, from that same GAL; reactivated with a new title, the conflict was the GAL's
    against the GAL's, and ``conflicts --all`` marked the old value "(kept)" though the
    new one had won (the winner named is the connector, which both sides were)."""
    from sqlalchemy import create_engine, insert, select

    from contacthub.store import tables as t
    from contacthub.store.repo import now

    hub = site(tmp_path, people=2, TITLE="Engineer")
    hub.sync()
    engine = create_engine(hub.db)
    with engine.begin() as conn:
        first, second = conn.execute(select(t.contacts.c.id).order_by(t.contacts.c.id)).scalars()
        hub_id, run_id = conn.execute(select(t.runs.c.hub_id, t.runs.c.id)).first() or (0, 0)
        for contact_id, status in ((first, "auto"), (second, "open")):
            conn.execute(
                insert(t.conflicts).values(
                    hub_id=hub_id, contact_id=contact_id, run_id=run_id, field="job_title",
                    hub_value='"Engineer"', hub_source="cards", value='"Returned"', source="cards",
                    policy="newest", status=status, winner="cards" if status == "auto" else None,
                    created_at=now(), resolved_at=now() if status == "auto" else None,
                )
            )  # fmt: skip
        opened = conn.execute(select(t.conflicts.c.id).where(t.conflicts.c.status == "open")).scalar_one()
    listed = hub.cli("conflicts", "h", "--all")
    assert "cards: Returned  (kept)" in listed and "cards: Engineer\n" in listed, listed
    from contacthub import service

    # the dashboard's two sides, each a "Keep this" (under one name, only the newer one)
    shown = service.conflicts(engine, "h")
    assert [c["values"] for c in shown] == [{"hub": "Engineer", "cards": "Returned"}]
    # a person takes the connector's side by its name: its value as it is now (the hub's
    # name overwrote it, and --take cards kept the older value, QA), and the listing says so
    hub.cli("resolve", str(opened), "--take", "cards")
    with engine.connect() as conn:
        data = conn.execute(select(t.contacts.c.data).where(t.contacts.c.id == second)).scalar_one()
    engine.dispose()
    assert '"job_title":"Returned"' in data.replace(" ", ""), data
    assert hub.cli("conflicts", "h", "--all").count("cards: Returned  (kept)") == 2
