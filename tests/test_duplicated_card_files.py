"""A card duplicated in a vCard folder by a file manager ("ann (1).vcf": same content, same
UID), end to end: two folders and a plain CSV file, two-way.

The copy was made a second Ann in the hub, the other folder (under a hub-made UID) and the
sheet; an edit of it then read as another person's card at its name (its UID is another
contact's): that second Ann was deleted everywhere (the other folder's card, with what
someone had added there, to the trash) and a third made. Deleting the original instead
deleted Ann everywhere while the copy's person lived on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contacthub.connectors.card_source import file_version
from contacthub.model import match_keys
from contacthub.store.db import open_database
from contacthub.store.repo import ContactRow, LinkRow, Store
from tests.sheets import HubCli


def _card(uid: str, name: str, email: str) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{name}", f"N:{name};;;;", f"EMAIL:{email}"]
    return "\r\n".join([*lines, "END:VCARD", ""])


@dataclass
class Folders(HubCli):
    db: str
    a: Path
    b: Path
    sheet: Path

    def settled(self) -> None:
        report = self.sync()
        assert report["changes"] == {}, report

    def b_cards(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.b.glob("*.vcf"))}

    def trash(self) -> list[str]:
        return sorted(p.name for p in (self.b / ".contacthub-trash").glob("*")) if self.b.exists() else []


def _hub(tmp_path: Path) -> Folders:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    (a / "ann.vcf").write_text(_card("u-ann", "Ann Lee", "ann@x.test"))
    (a / "bob.vcf").write_text(_card("u-bob", "Bob Roe", "bob@x.test"))
    hub = Folders(f"sqlite:///{tmp_path / 'hub.db'}", a, b, tmp_path / "c.csv")
    spec = tmp_path / "hub.toml"
    spec.write_text(
        f'[hubs.h]\ndelete_threshold = "100%"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
        f'[[hubs.h.connectors]]\nname = "c"\ntype = "csv"\npath = "{hub.sheet}"\n'
        'create = true\nformat = "plain"\n'
    )
    hub.cli("apply", str(spec))
    assert hub.sync()["changes"]["hub"]["create"] == 2
    return hub


def _copy_errors(report: dict[str, Any]) -> list[str]:
    return [f"{Path(e['record']).name}: {e['message']}" for e in report["errors"]]


COPY_ERROR = (
    "ann (1).vcf: holds the same UID as 'ann.vcf' (a copy?): not synced; delete one, or give it its own UID"
)


def test_a_duplicated_card_is_no_second_person_and_its_edit_deletes_no_one(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    cards, sheet = hub.b_cards(), hub.sheet.read_text()
    shutil.copy(hub.a / "ann.vcf", hub.a / "ann (1).vcf")  # Finder's, Nautilus's "Duplicate"
    report = hub.sync()
    assert report["status"] == "applied" and report["changes"] == {}, report
    assert _copy_errors(report) == [COPY_ERROR]
    assert hub.b_cards() == cards and hub.sheet.read_text() == sheet
    copy = hub.a / "ann (1).vcf"
    copy.write_text(copy.read_text().replace("END:VCARD", "TEL:+14155550199\r\nEND:VCARD"))
    for _ in range(2):
        report = hub.sync()
        assert report["changes"] == {} and _copy_errors(report) == [COPY_ERROR], report
    assert hub.b_cards() == cards and hub.sheet.read_text() == sheet and hub.trash() == []
    assert "TEL" in copy.read_text() and "TEL" not in (hub.a / "ann.vcf").read_text()  # left as it is


def test_a_copy_kept_when_the_original_is_deleted_is_the_card_renamed(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    b_ann = hub.b / "u-ann.vcf"
    b_ann.write_text(b_ann.read_text().replace("END:VCARD", "X-B-ONLY:keep me\r\nEND:VCARD"))
    hub.sync()
    cards, sheet = hub.b_cards(), hub.sheet.read_text()
    shutil.copy(hub.a / "ann.vcf", hub.a / "ann (1).vcf")
    hub.sync()
    (hub.a / "ann.vcf").unlink()
    report = hub.sync()
    assert report["changes"] == {} and report["errors"] == [], report
    assert hub.b_cards() == cards and hub.sheet.read_text() == sheet and hub.trash() == []
    copy = hub.a / "ann (1).vcf"
    copy.write_text(copy.read_text().replace("END:VCARD", "TEL:+14155550199\r\nEND:VCARD"))
    report = hub.sync()
    assert report["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "b": {"create": 0, "update": 1, "delete": 0},
        "c": {"create": 0, "update": 1, "delete": 0},
    }, report
    assert "+14155550199" in b_ann.read_text() and "X-B-ONLY:keep me" in b_ann.read_text()
    hub.settled()


def _as_an_older_version_left_it(hub: Folders) -> str:
    """The copy made a person of its own, as before copies were refused: a contact with no
    UID (its UID was Ann's) made from the copy, linked to it. The next run writes that
    person into the other folder and the sheet, as that version did. Returns its id."""
    copy = hub.a / "ann (1).vcf"
    shutil.copy(hub.a / "ann.vcf", copy)
    with open_database(hub.db).connect() as conn:
        store = Store(conn)
        hub_id = store.hub("h").id
        a = next(c for c in store.connectors(hub_id) if c.name == "a")
        [ann] = store.contacts_by_ref(hub_id, ["u-ann"]).values()
        second = ContactRow("01a21c70-f158-7adb-a354-f1701e22e483", dict(ann.data), {}, 1, False, None)
        second.sources = {"*": [a.id, ann.sources.get("*", [None, ""])[1]]}
        store.insert_contacts(hub_id, [second])
        store.set_match_keys(hub_id, {second.id: match_keys(second.data)}, frozenset({second.id}))
        link = LinkRow(0, a.id, second.id, copy.name, file_version(copy.stat()), dict(ann.data), 1, "active")
        link.made = False
        store.insert_links([link])
        conn.commit()
    report = hub.sync()
    assert report["changes"]["b"]["create"] == 1 and report["changes"]["c"]["create"] == 1, report
    return second.id


def test_a_copy_an_older_version_made_a_person_is_edited_as_that_person(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    second = _as_an_older_version_left_it(hub)
    hub.settled()
    card = hub.b / f"{second}.vcf"
    added = "NOTE:met at conf\r\nX-B-ONLY:keep me\r\nEND:VCARD"
    card.write_text(card.read_text().replace("END:VCARD", added))
    hub.sync()
    copy = hub.a / "ann (1).vcf"
    copy.write_text(copy.read_text().replace("END:VCARD", "TEL:+14155550199\r\nEND:VCARD"))
    report = hub.sync()
    assert report["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "b": {"create": 0, "update": 1, "delete": 0},
        "c": {"create": 0, "update": 1, "delete": 0},
    }, report
    assert sorted(hub.b_cards()) == sorted([f"{second}.vcf", "u-ann.vcf", "u-bob.vcf"])
    text = card.read_text()
    assert "+14155550199" in text and "X-B-ONLY:keep me" in text and "NOTE:met at conf" in text
    assert hub.trash() == [] and hub.sheet.read_text().count("ann@x.test") == 2
    hub.settled()
