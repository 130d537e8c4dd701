"""A person deleted, then added again: the records the deletion left behind are theirs.

Connector a (a vCard folder, two-way) deletes Ann; b (a folder, ``on_delete = "ignore"``)
and c (a CSV file that may not delete) keep their records of her, detached. A new card of
Ann with the same email in a made a second card beside the old one in b and a second row
in c, for good (``engine.leftovers``). End to end through the command line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contacthub.cli import app

runner = CliRunner()


def card(uid: str, given: str, family: str, email: str, *extra: str) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"UID:{uid}",
        f"FN:{given} {family}",
        f"N:{family};{given};;;",
        f"EMAIL;TYPE=work:{email}",
        *extra,
        "END:VCARD",
        "",
    ]
    return "\r\n".join(lines)


class Hub:
    def __init__(self, tmp_path: Path, c_extra: str = "", b_direction: str = "two-way") -> None:
        self.a, self.b, self.c = tmp_path / "a", tmp_path / "b", tmp_path / "c.csv"
        self.a.mkdir()
        self.b.mkdir()
        self.db = f"sqlite:///{tmp_path / 'hub.db'}"
        config = tmp_path / "hub.toml"
        config.write_text(
            f"""
[hubs.team]
conflict = "newest"

[[hubs.team.connectors]]
name = "a"
type = "vcard-dir"
path = "{self.a}"

[[hubs.team.connectors]]
name = "b"
type = "vcard-dir"
path = "{self.b}"
direction = "{b_direction}"
on_delete = "ignore"

[[hubs.team.connectors]]
name = "c"
type = "csv"
path = "{self.c}"
format = "plain"
create = true
operations = ["create", "update"]
{c_extra}
"""
        )
        self.run("apply", str(config))

    def run(self, *args: str) -> str:
        result = runner.invoke(app, ["--database", self.db, *args])
        assert result.exit_code == 0, result.output
        return result.output

    def sync(self, *args: str) -> dict:
        report = json.loads(self.run("sync", "team", "--json", *args))
        assert report["status"] in ("applied", "planned"), report
        assert not report["errors"], report
        return report

    def stable(self) -> None:
        report = self.sync()
        assert all(not any(n.values()) for n in report["changes"].values()), report

    def rows(self, email: str) -> list[dict[str, str]]:
        with self.c.open(encoding="utf-8", newline="") as f:
            return [row for row in csv.DictReader(f) if email in row.get("emails", "").lower()]

    def cards(self, folder: Path, email: str) -> list[str]:
        return [p.read_text() for p in sorted(folder.glob("*.vcf")) if email in p.read_text().lower()]


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path)


@pytest.fixture(params=["two-way", "from-hub"])
def any_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Hub:
    """b two-way, or fed by the hub only (its record is still the person's)."""
    return Hub(tmp_path, b_direction=request.param)


def ann_deleted(hub: Hub) -> None:
    """Ann and Bob everywhere, then Ann's card deleted in a (Bob keeps a from listing
    nothing, which is held)."""
    (hub.a / "ann.vcf").write_text(card("ann-1", "Ann", "Lee", "ann@example.com"))
    (hub.a / "bob.vcf").write_text(card("bob", "Bob", "Roe", "bob@example.com"))
    hub.sync()
    (hub.a / "ann.vcf").unlink()
    assert hub.sync()["changes"]["hub"]["delete"] == 1


def _deleted_then_added_again(hub: Hub) -> dict:
    (hub.a / "ann.vcf").write_text(card("ann-1", "Ann", "Lee", "ann@example.com", "TEL:+1 415 555 0100"))
    (hub.a / "bob.vcf").write_text(card("bob", "Bob", "Roe", "bob@example.com"))
    hub.sync()
    hub.stable()
    assert len(hub.cards(hub.b, "ann@example.com")) == 1 and len(hub.rows("ann@example.com")) == 1
    (hub.a / "ann.vcf").unlink()
    report = hub.sync()
    assert report["changes"]["hub"]["delete"] == 1
    # the deletion leaves both records where they are (ignore; no delete operation)
    assert len(hub.cards(hub.b, "ann@example.com")) == 1 and len(hub.rows("ann@example.com")) == 1
    hub.stable()
    # a new card of Ann, same email (the address written otherwise), a new title and phone
    (hub.a / "ann2.vcf").write_text(
        card("ann-2", "Ann", "Lee-Park", "Ann@Example.com", "TITLE:Foreman", "TEL:+1 415 555 0199")
    )
    return hub.sync()


def test_a_person_added_again_takes_up_the_records_left_behind(any_hub: Hub) -> None:
    hub = any_hub
    report = _deleted_then_added_again(hub)
    assert report["changes"]["hub"]["create"] == 1
    # no second card, no second row: the old ones are updated to the new person's values
    assert report["changes"]["b"]["create"] == 0 and report["changes"]["b"]["update"] == 1
    assert report["changes"]["c"]["create"] == 0 and report["changes"]["c"]["update"] == 1
    [old] = hub.cards(hub.b, "ann@example.com")
    digits = old.replace(" ", "").replace("-", "")
    assert "Lee-Park" in old and "TITLE:Foreman" in old and "4155550199" in digits
    assert "4155550100" not in digits  # the old phone went: the new person has none such
    assert len(list(hub.b.glob("*.vcf"))) == 2  # Ann's and Bob's
    [row] = hub.rows("ann@example.com")
    assert row["family_name"] == "Lee-Park" and row["job_title"] == "Foreman"
    assert "0199" in row["phones"] and "0100" not in row["phones"]
    with hub.c.open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2  # Ann and Bob, once each
    # the hub's new Ann holds the new card's values, not the old records' (a's card too)
    a_card = (hub.a / "ann2.vcf").read_text()
    assert "Lee-Park" in a_card and "0100" not in a_card
    hub.stable()


def test_the_text_report_says_what_was_taken_up(hub: Hub) -> None:
    ann_deleted(hub)
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    out = hub.run("sync", "team")
    assert "b: 1 record(s) left behind" in out and "c: 1 record(s) left behind" in out
    assert len(hub.cards(hub.b, "ann@example.com")) == 1 and len(hub.rows("ann@example.com")) == 1
    hub.stable()


def test_a_dry_run_plans_the_relink_and_writes_nothing(hub: Hub) -> None:
    ann_deleted(hub)
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    before_b = {p.name: p.read_text() for p in hub.b.iterdir()}
    before_c = hub.c.read_text()
    report = hub.sync("--dry-run")
    assert report["status"] == "planned"
    assert report["changes"]["b"] == {"create": 0, "update": 1, "delete": 0}
    assert report["changes"]["c"] == {"create": 0, "update": 1, "delete": 0}
    assert {p.name: p.read_text() for p in hub.b.iterdir()} == before_b and hub.c.read_text() == before_c
    shown = json.loads(hub.run("show", str(report["run"]), "--json"))
    links = [(r["connector"], r["op"]) for r in shown["journal"] if r["op"] == "link"]
    assert sorted(links) == [("b", "link"), ("c", "link")]
    report = hub.sync()  # the real run does what the dry run said
    assert report["changes"]["b"]["create"] == 0 and report["changes"]["c"]["create"] == 0
    assert len(hub.cards(hub.b, "ann@example.com")) == 1 and "TITLE:Foreman" in hub.cards(hub.b, "ann@")[0]
    hub.stable()


def test_an_edit_made_to_the_record_left_behind_is_merged_not_lost(hub: Hub) -> None:
    """The record's old values give way to the new person's (they came later), but an edit
    made to it while it was left behind is an edit: merged as any linked record's."""
    ann_deleted(hub)
    [path] = [p for p in hub.b.glob("*.vcf") if "ann@" in p.read_text()]
    path.write_text(path.read_text().replace("END:VCARD", "NOTE:met at the fair\r\nEND:VCARD"))
    hub.stable()  # (no one to bring back: an edit of a record left behind does not)
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    hub.sync()
    assert "NOTE:met at the fair" in (hub.a / "ann2.vcf").read_text()
    assert "TITLE:Foreman" in path.read_text() and "NOTE:met at the fair" in path.read_text()
    assert len(hub.cards(hub.b, "ann@example.com")) == 1
    hub.stable()


def test_two_people_matching_one_record_left_behind(hub: Hub) -> None:
    """One takes it, the other is created: a record is no one's twice."""
    ann_deleted(hub)
    # two people of a with Ann's email (two cards of one folder are two people)
    (hub.a / "x1.vcf").write_text(card("x1", "Ann", "Lee", "ann@example.com"))
    (hub.a / "x2.vcf").write_text(card("x2", "Annie", "Lee", "ann@example.com"))
    report = hub.sync()
    assert report["changes"]["hub"]["create"] == 2
    assert report["changes"]["b"]["create"] == 1 and report["changes"]["c"]["create"] == 1
    cards = hub.cards(hub.b, "ann@example.com")
    assert len(cards) == 2 and sum("FN:Annie Lee" in c for c in cards) == 1
    assert len(hub.rows("ann@example.com")) == 2
    hub.stable()


def test_an_undo_of_the_run_gives_the_record_back_as_it_was(hub: Hub) -> None:
    ann_deleted(hub)
    [path] = [p for p in hub.b.glob("*.vcf") if "ann@" in p.read_text()]
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    run = hub.sync()["run"]
    assert "TITLE:Foreman" in path.read_text()
    hub.run("undo", str(run))
    # the person's creation undone: the old card stays (it was found, not made for them),
    # as it was before the run
    assert path.exists() and "TITLE:Foreman" not in path.read_text()
    assert len(hub.cards(hub.b, "ann@example.com")) == 1 and len(hub.rows("ann@example.com")) == 1
    hub.stable()


def test_a_run_with_nothing_to_create_does_not_look_for_left_behind_records(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector that keeps a left-behind record walked the hub's contacts on every run,
    a no-op included; with its plan mark in step there is no one to create, and no walk."""
    from contacthub.engine.leftovers import LeftBehind

    ann_deleted(hub)
    hub.stable()
    walked: list[str] = []
    take_up = LeftBehind._take_up

    def counted(self: LeftBehind, spoke: object) -> None:
        walked.append(str(getattr(spoke, "name", "")))
        take_up(self, spoke)  # type: ignore[arg-type]

    monkeypatch.setattr(LeftBehind, "_take_up", counted)
    hub.stable()
    assert walked == []
    (hub.a / "cy.vcf").write_text(card("cy", "Cy", "Poe", "cy@example.com"))  # someone to create
    hub.sync()
    assert sorted(walked) == ["b", "c"]


def test_a_card_whose_import_was_undone_is_never_taken_up(hub: Hub) -> None:
    """An undo of the run that took Ann in leaves her card, detached, so that no run takes
    it in again; a later Ann added elsewhere took it up as left behind and erased what its
    owner had typed in it (QA)."""
    (hub.a / "ann.vcf").write_text(
        card("ann-a", "Ann", "Lee", "ann@example.com", "TITLE:Foreman", "NOTE:typed on my phone")
    )
    (hub.a / "bob.vcf").write_text(card("bob", "Bob", "Roe", "bob@example.com"))
    imported = hub.sync()["run"]
    hub.run("undo", str(imported))
    own = (hub.a / "ann.vcf").read_text()
    assert "TITLE:Foreman" in own
    (hub.b / "ann-new.vcf").write_text(card("ann-b", "Ann", "Lee", "ann@example.com"))
    hub.sync()
    assert (hub.a / "ann.vcf").read_text() == own  # untouched, and not linked again
    hub.stable()


def test_undoing_the_take_up_then_the_deletion_fails_no_run(hub: Hub) -> None:
    """Ann deleted, added again (her left-behind card taken up), that run undone, then the
    deletion undone: restoring Ann made a card with her UID in b, where her old card (left
    on the undone person) had that name, and every run failed on the links' key (QA)."""
    ann_deleted(hub)
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    again = hub.sync()["run"]
    hub.run("undo", str(again))
    deleted = json.loads(hub.run("runs", "team", "--json"))[-2]["id"]  # ann_deleted's second
    hub.run("undo", str(deleted))
    for _ in range(2):
        result = runner.invoke(app, ["--database", hub.db, "sync", "team", "--json"])
        assert result.exit_code == 0 and json.loads(result.output)["status"] == "applied", result.output
    assert len(hub.cards(hub.b, "ann@example.com")) == 1


def test_undoing_the_take_up_then_the_deletion_leaves_one_row_and_no_error(hub: Hub) -> None:
    """The same two undos, seen in the CSV file that may not delete: the take-up's undo left
    Ann's row detached on the undone taker (never taken up again: an undone person's), and
    the restored Ann's create named the id of that very row: "id 'ann-1' is already in the
    file" on every run (QA). Her row is hers again; an edit made to it meanwhile stays."""
    ann_deleted(hub)
    (hub.a / "ann2.vcf").write_text(card("ann-2", "Ann", "Lee", "ann@example.com", "TITLE:Foreman"))
    again = hub.sync()["run"]
    hub.run("undo", str(again))
    [row] = hub.rows("ann@example.com")
    assert row["job_title"] == ""  # the take-up's values taken back from the row
    with hub.c.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    for r in table:
        if r["id"] == row["id"]:
            r["notes"] = "met at the fair"  # an edit of the row while it is left behind
    with hub.c.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    deleted = json.loads(hub.run("runs", "team", "--json"))[-2]["id"]  # ann_deleted's second
    report = json.loads(hub.run("undo", str(deleted), "--json"))
    assert not report["errors"], report
    assert all(report["changes"].get(name, {}).get("create", 0) == 0 for name in ("b", "c"))
    for _ in range(2):
        report = hub.sync()  # (no errors: asserted there)
    [row] = hub.rows("ann@example.com")
    assert row["id"] == "ann-1" and row["given_name"] == "Ann" and row["notes"] == "met at the fair"
    assert row["job_title"] == ""
    with hub.c.open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2  # Ann and Bob, once each
    assert len(hub.cards(hub.b, "ann@example.com")) == 1
    assert "met at the fair" in hub.cards(hub.b, "ann@example.com")[0]
    assert "met at the fair" in (hub.a / "ann-1.vcf").read_text()
    hub.stable()
