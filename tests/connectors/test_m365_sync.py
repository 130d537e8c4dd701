"""vCard <-> GAL, two-way, through the real engine and store: the GAL's people reach the
vCard folder, the folder's people become mail contacts in the GAL, edits travel both ways,
deletions follow the hub's rules, and contacts the hub did not create are never written."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contacthub import config
from contacthub.connectors.base import ConnectorConfig
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.engine.context import Options
from contacthub.engine.run import run_hub
from contacthub.engine.undo import undo_preparer
from contacthub.store.db import open_database
from tests.connectors.m365_support import emulator, served, settings


def card(uid: str, given: str, family: str, email: str, title: str = "") -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"N:{family};{given};;;", f"FN:{given} {family}"]
    lines += [f"EMAIL;TYPE=work:{email}"] + ([f"TITLE:{title}"] if title else []) + ["END:VCARD", ""]
    return "\r\n".join(lines)


def cards(folder: Path) -> dict[str, dict[str, Any]]:
    """Primary email -> fields of every card in the folder."""
    conn = VCardDirConnector(ConnectorConfig("read", {"path": str(folder)}))
    out = {}
    for record in conn.pull(None, {}).records:
        assert not isinstance(record, Exception), record
        out[record.fields["emails"][0]["value"]] = {**record.fields, "_file": record.native_id}
    return out


def test_vcard_and_gal_two_way(tmp_path: Path, sqlite_url: str) -> None:
    emu = emulator(tenants=1, users=6, contacts=2)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    matched = next(iter(tenant.users.values())).props
    (folder / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@partner.example", "Buyer"))
    (folder / "bob.vcf").write_text(card("bob", "Bob", "Ng", "bob@partner.example"))
    (folder / "same.vcf").write_text(card("same", matched["givenName"], matched["surname"], matched["mail"]))
    with served(emu) as info:
        engine = open_database(sqlite_url)
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "h": {
                        "delete_threshold": "100%",
                        "connectors": [
                            {"name": "phones", "type": "vcard-dir", "path": str(folder)},
                            {"name": "gal", "type": "m365-gal", "on_delete": "deactivate", **settings(info)},
                        ],
                    }
                }
            }
        )
        config.apply(engine, spec)

        def sync() -> Any:
            report = run_hub(engine, "h", options=Options())
            assert report.status == "applied", report.as_json()
            return report

        first = sync()
        assert first.errors == []
        book = cards(folder)
        people = {u.props["mail"].lower() for u in tenant.users.values()}
        externals = {c.props["ExternalEmailAddress"][5:].lower() for c in tenant.contacts.values()}
        assert set(book) == people | externals | {"ann@partner.example", "bob@partner.example"}
        assert len(book) == 6 + 2 + 2  # the card of a GAL user matched that user: no duplicate
        ours = {
            c.props["ExternalEmailAddress"][5:]: c
            for c in tenant.live_contacts()
            if c.props["CustomAttribute15"]
        }
        assert set(ours) == {"ann@partner.example", "bob@partner.example"}
        ann = ours["ann@partner.example"]
        assert ann.props["Title"] == "Buyer" and ann.props["FirstName"] == "Ann"
        assert ann.props["CustomAttribute15"].startswith("contacthub:")
        assert sync().changes == {}  # nothing moves: no ping-pong

        # an edit in the folder reaches the GAL, an edit in the GAL reaches the folder
        path = folder / "ann.vcf"
        path.write_text(card("ann", "Ann", "Lee", "ann@partner.example", "Head buyer"))
        sync()
        assert ann.props["Title"] == "Head buyer"
        user = next(u for u in tenant.users.values() if u.props["mail"] != matched["mail"])
        tenant.update_user(user.id, {"jobTitle": "Site lead"})
        tenant.update_contact(ann.id, {"Department": "Purchasing"})
        sync()
        book = cards(folder)
        assert book[user.props["mail"].lower()]["job_title"] == "Site lead"
        assert book["ann@partner.example"]["department"] == "Purchasing"

        # a user removed from the tenant (@removed) is deleted from the folder
        tenant.delete_user(user.id)
        sync()
        assert user.props["mail"].lower() not in cards(folder)

        # a card deleted from the folder hides our contact from the address lists
        (folder / "bob.vcf").unlink()
        sync()
        bob = ours["bob@partner.example"]
        assert not bob.deleted and bob.props["HiddenFromAddressListsEnabled"] is True

        # contacts the hub did not create are never written, whatever the folder says
        foreign = next(c for c in tenant.live_contacts() if not c.props["CustomAttribute15"])
        before = dict(foreign.props)
        entry = cards(folder)[foreign.props["ExternalEmailAddress"][5:].lower()]
        text = (folder / entry["_file"]).read_text()
        assert "TITLE:" in text
        edited = re.sub(r"TITLE:[^\r\n]*", "TITLE:Changed here", text)
        (folder / entry["_file"]).write_text(edited)
        report = sync()
        assert foreign.props == before
        assert any("not created by contacthub" in e["message"] for e in report.errors)
        assert sync().errors == []  # refused for good: not tried again until the hub contact changes

        # the card of a directory user deleted: the user is never deleted, and the refusal is
        # said once (it was retried, and reported, on every run after)
        alive = next(u for u in tenant.users.values() if u.props["mail"].lower() in cards(folder))
        (folder / cards(folder)[alive.props["mail"].lower()]["_file"]).unlink()
        report = sync()  # the directory keeps them, so the hub does: their card comes back
        assert any("never deletes or disables" in e["message"] for e in report.errors), report.errors
        assert report.changes == {"phones": {"create": 1, "update": 0, "delete": 0}}
        assert alive.id in tenant.users and alive.props.get("accountEnabled", True) is not False
        assert alive.props["mail"].lower() in cards(folder)
        again = sync()
        assert again.errors == [] and again.changes == {}


def folder_and_gal(sqlite_url: str, folder: Path, info: dict[str, Any]) -> Callable[[], Any]:
    """Hub "h" of a vCard folder and the GAL; a function that syncs it and checks the run."""
    engine = open_database(sqlite_url)
    gal = {"name": "gal", "type": "m365-gal", **settings(info)}
    phones = {"name": "phones", "type": "vcard-dir", "path": str(folder)}
    config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": [phones, gal]}}}))

    def sync() -> Any:
        report = run_hub(engine, "h", options=Options())
        assert report.status == "applied", report.as_json()
        return report

    return sync


def settings_sync(
    engine: Any, folder: Path, info: dict[str, Any], errors: bool = False
) -> Callable[..., Any]:
    """A function that applies hub "h" of a vCard folder and the GAL with the GAL settings
    it is given, syncs it and checks the run applied (and, unless ``errors``, clean)."""

    def sync(**gal: Any) -> Any:
        connectors = [
            {"name": "phones", "type": "vcard-dir", "path": str(folder)},
            {"name": "gal", "type": "m365-gal", **settings(info), **gal},
        ]
        config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": connectors}}}))
        report = run_hub(engine, "h", options=Options())
        assert report.status == "applied" and (errors or report.errors == []), report.as_json()
        return report

    return sync


def test_a_disabled_user_kept_by_an_edit_is_not_added_as_a_contact(tmp_path: Path, sqlite_url: str) -> None:
    """Disabled while their card was edited, the person stays in the hub (modification
    beats deletion), and the hub wrote them into their own tenant as a mail contact; once
    re-enabled, the user became a second person everywhere."""
    emu = emulator(tenants=1, users=4, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    with served(emu) as info:
        sync = folder_and_gal(sqlite_url, folder, info)

        sync()
        user = next(iter(tenant.users.values()))
        mail = user.props["mail"].lower()
        path = folder / cards(folder)[mail]["_file"]
        tenant.update_user(user.id, {"accountEnabled": False})
        path.write_text(path.read_text().replace("END:VCARD", "NOTE:met on site\r\nEND:VCARD"))
        kept = sync()
        assert any("does not add a user of the tenant" in e["message"] for e in kept.errors), kept.errors
        assert [
            c for c in tenant.live_contacts() if mail in str(c.props.get("ExternalEmailAddress", "")).lower()
        ] == []
        assert sync().errors == []  # said once
        tenant.update_user(user.id, {"accountEnabled": True})
        sync()
        assert [m for m in cards(folder) if m == mail] == [mail]  # one person, not two
        assert len(list(folder.glob("*.vcf"))) == 4
        assert sync().changes == {}


def test_a_person_without_an_email_is_said_once_and_added_once_they_have_one(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A GAL contact needs an email: the refusal was repeated on every run."""
    emu = emulator(tenants=1, users=1, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "UID:desk",
        "FN:Front Desk",
        "TEL;TYPE=work:+12025550100",
        "END:VCARD",
        "",
    ]
    (folder / "desk.vcf").write_text("\r\n".join(lines))
    with served(emu) as info:
        sync = folder_and_gal(sqlite_url, folder, info)

        first = sync()
        assert any("needs an email address" in e["message"] for e in first.errors), first.errors
        assert sync().errors == []  # said once
        text = (
            (folder / "desk.vcf").read_text().replace("END:VCARD", "EMAIL:desk@partner.example\r\nEND:VCARD")
        )
        (folder / "desk.vcf").write_text(text)
        sync()
        emails = [str(c.props.get("ExternalEmailAddress", "")).lower() for c in tenant.live_contacts()]
        assert any("desk@partner.example" in e for e in emails), emails


def test_switching_from_a_client_secret_to_a_certificate_file_signs_in_with_the_certificate(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The store keeps a secret the hub file no longer names; a certificate the file now
    gives must still be what signs in, and a wrong thumbprint is said to be one."""
    emu = emulator(tenants=1, users=2, contacts=0)
    key_file = tmp_path / "app.key"
    key_file.write_text(emu.cert.private_key_pem)
    with served(emu) as info:
        engine = open_database(sqlite_url)

        def apply_and_sync(**credential: Any) -> Any:
            gal = {**settings(info), **credential, "name": "gal", "type": "m365-gal"}
            if "client_secret" not in credential:
                del gal["client_secret"]
            spec = config.HubFile.model_validate({"hubs": {"h": {"connectors": [gal]}}})
            config.apply(engine, spec)
            return run_hub(engine, "h", options=Options())

        stale = apply_and_sync(client_secret="typo-secret")
        assert stale.status != "applied" and "AADSTS7000215" in str(stale.as_json())
        cert = {"certificate_key_file": str(key_file), "certificate_thumbprint": emu.cert.thumbprint}
        report = apply_and_sync(**cert)
        assert report.status == "applied", report.as_json()
        wrong = apply_and_sync(**{**cert, "certificate_thumbprint": "00" * 20})
        text = str(wrong.as_json())
        assert wrong.status != "applied" and "certificate_thumbprint" in text and "client_secret" not in text


def test_deleting_a_directory_users_card_keeps_the_person_the_directory_keeps(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The GAL never deletes a user: the deletion of their card is refused there once, the
    person stays in the hub, their card comes back, and their later GAL edits arrive (the
    GAL record was left unlinked, and the person was gone from the hub for good)."""
    emu = emulator(tenants=1, users=3, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    with served(emu) as info:
        sync = folder_and_gal(sqlite_url, folder, info)

        sync()
        user = next(iter(tenant.users.values()))
        mail = user.props["mail"].lower()
        (folder / cards(folder)[mail]["_file"]).unlink()
        refused = sync()
        assert [e["connector"] for e in refused.errors] == ["gal"]
        assert "never deletes or disables directory users" in refused.errors[0]["message"]
        assert not tenant.users[user.id].deleted
        again = sync()
        assert again.errors == []  # said once
        assert mail in cards(folder)  # the card is back
        tenant.update_user(user.id, {"jobTitle": "Edited in Entra"})
        sync()
        assert cards(folder)[mail]["job_title"] == "Edited in Entra"
        assert len(list(folder.glob("*.vcf"))) == 3
        assert sync().changes == {}


def test_deleting_a_users_card_in_one_folder_leaves_the_other_folders_copy_alone(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Folders a and b and the GAL: the user's card deleted in a comes back there, and b's
    copy is never touched (the GAL refused the deletion only after b had deleted its copy,
    which the next run made again from the hub's fields: a new file without its photo)."""
    emu = emulator(tenants=1, users=3, contacts=0)
    tenant = emu.tenants[0]
    folders = {name: tmp_path / name for name in ("a", "b")}
    for path in folders.values():
        path.mkdir()
    with served(emu) as info:
        engine = open_database(sqlite_url)
        books = [
            {"name": "a", "type": "vcard-dir", "path": str(folders["a"])},
            {"name": "b", "type": "vcard-dir", "path": str(folders["b"]), "trash_days": 0},
            {"name": "gal", "type": "m365-gal", **settings(info)},
        ]
        spec = {"hubs": {"h": {"delete_threshold": 100, "connectors": books}}}
        config.apply(engine, config.HubFile.model_validate(spec))

        def sync() -> Any:
            report = run_hub(engine, "h", options=Options())
            assert report.status == "applied", report.as_json()
            return report

        sync()
        user = next(iter(tenant.users.values()))
        mail = user.props["mail"].lower()
        in_b = folders["b"] / cards(folders["b"])[mail]["_file"]
        extra = "X-KEEP:only-in-b\r\nPHOTO;VALUE=uri:https://example.com/p.jpg\r\nEND:VCARD"
        in_b.write_text(in_b.read_text().replace("END:VCARD", extra))
        sync()
        kept = in_b.read_text()
        (folders["a"] / cards(folders["a"])[mail]["_file"]).unlink()

        report = sync()
        assert [e["connector"] for e in report.errors] == ["gal"]
        assert "never deletes or disables directory users" in report.errors[0]["message"]
        assert report.changes == {"a": {"create": 1, "update": 0, "delete": 0}}
        assert mail in cards(folders["a"])  # back in the same run
        assert in_b.read_text() == kept  # b's card untouched, its photo and X- property too
        assert not tenant.users[user.id].deleted
        again = sync()
        assert again.errors == [] and again.changes == {}
        assert in_b.read_text() == kept and len(list(folders["b"].glob("*.vcf"))) == 3


def test_a_full_read_after_a_settings_save_writes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    """A mail contact holds one email, typed work (``read_back``): a card with an untyped
    email and a second one settles, and the full read a settings save brings finds our
    contact agreeing instead of writing it again, unchanged."""
    emu = emulator(tenants=1, users=2, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "UID:ann",
        "N:Lee;Ann;;;",
        "FN:Ann Lee",
        "EMAIL:ann@partner.example",
    ]
    lines += ["EMAIL;TYPE=home:ann@home.example", "TEL;TYPE=pager:+1 206 555 0100", "END:VCARD", ""]
    (folder / "ann.vcf").write_text("\r\n".join(lines))
    with served(emu) as info:
        engine = open_database(sqlite_url)

        sync = settings_sync(engine, folder, info)

        assert sync().changes["gal"]["create"] == 1
        [ann] = [c for c in tenant.live_contacts() if c.props["CustomAttribute15"]]
        assert ann.props["ExternalEmailAddress"][5:] == "ann@partner.example"
        sync()
        for budget in (2000, 1000):  # settings saves: every record is read again
            report = sync(write_budget=budget)
            assert report.changes.get("gal", {}).get("update", 0) == 0, report.changes


def test_a_directory_user_with_notes_agrees_with_the_hub_on_every_full_read(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Only our mail contacts hold notes: a directory user (and a contact not ours) reads
    without them. Read back as one of ours because the connector reads contacts too, such
    a person with notes in the hub never agreed, and every full read (a settings save)
    wrote them again: a refusal with ``write_users = false``, a $batch for nothing with
    it. Read back as what was read at their email, they agree; our contact keeps its notes."""
    emu = emulator(tenants=1, users=3, contacts=1)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    user = next(iter(tenant.users.values())).props
    foreign = tenant.live_contacts()[0].props
    people = [
        ("u", user["givenName"], user["surname"], user["mail"], user["displayName"]),
        (
            "f",
            foreign["FirstName"],
            foreign["LastName"],
            foreign["ExternalEmailAddress"][5:],
            foreign["DisplayName"],
        ),
        ("ann", "Ann", "Lee", "ann@partner.example", "Ann Lee"),
    ]
    for uid, given, family, email, shown in people:
        text = card(uid, given, family, email).replace(f"FN:{given} {family}", f"FN:{shown}")
        text = text.replace("END:VCARD", f"NOTE:met {uid} at the fair\r\nEND:VCARD")
        (folder / f"{uid}.vcf").write_text(text)
    with served(emu) as info:
        engine = open_database(sqlite_url)

        sync = settings_sync(engine, folder, info, errors=True)

        first = sync()
        assert first.errors == [] and first.changes["gal"] == {"create": 1, "update": 0, "delete": 0}
        [ann] = [c for c in tenant.live_contacts() if c.props["CustomAttribute15"]]
        assert ann.props["Notes"] == "met ann at the fair"
        for gal in ({}, {"write_budget": 2000}, {"write_budget": 1000}, {"write_users": True}):
            report = sync(**gal)  # the last three save settings: every record is read again
            assert report.errors == [] and "gal" not in report.changes, (gal, report.as_json())
        assert {c["notes"] for c in cards(folder).values() if c.get("notes")} == {
            "met u at the fair",
            "met f at the fair",
            "met ann at the fair",
        }


def deactivating_hub(
    sqlite_url: str, info: dict[str, Any], *folders: dict[str, Any], threshold: str = "100%"
) -> Callable[[], Any]:
    """Hub "h" of these folders and the GAL with ``on_delete = "deactivate"``; a function
    that syncs it and checks the run."""
    engine = open_database(sqlite_url)
    gal = {"name": "gal", "type": "m365-gal", "on_delete": "deactivate", **settings(info)}
    spec = {"hubs": {"h": {"delete_threshold": threshold, "connectors": [*folders, gal]}}}
    config.apply(engine, config.HubFile.model_validate(spec))

    def sync() -> Any:
        report = run_hub(engine, "h", options=Options())
        assert report.status == "applied", report.as_json()
        return report

    return sync


@dataclass
class Hidden:
    """A GAL contact a deletion in a folder hid (``hidden_by_deletion``)."""

    sync: Any
    contact: Any
    deletion: int
    folder: Path


def hidden_by_deletion(
    emu: Any, info: Any, tmp_path: Path, sqlite_url: str, others: int = 0, threshold: str = "100%"
) -> Hidden:
    """Dana's card synced into the GAL, then deleted in its folder: her mail contact hidden.
    ``others``: more people in the folder (for a later mass deletion to hold)."""
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "dana.vcf").write_text(card("dana", "Dana", "Doe", "dana@example.org"))
    for i in range(others):
        (folder / f"p{i}.vcf").write_text(card(f"p{i}", f"Pat{i}", "Roe", f"p{i}@example.org"))
    sync = deactivating_hub(
        sqlite_url, info, {"name": "phones", "type": "vcard-dir", "path": str(folder)}, threshold=threshold
    )
    sync()
    [dana] = [
        c
        for c in emu.tenants[0].live_contacts()
        if c.props["CustomAttribute15"] and "dana@example.org" in str(c.props)
    ]
    (folder / "dana.vcf").unlink()
    deletion = sync()
    assert dana.props["HiddenFromAddressListsEnabled"] is True
    return Hidden(sync, dana, deletion.run_id, folder)


def undo_with_failing(emu: Any, engine: Any, run_id: int, status: int) -> Any:
    """The undo of ``run_id`` while Exchange answers ``status`` to Set-MailContact."""
    emu.fail_cmdlets = {"Set-MailContact": status}
    try:
        return run_hub(engine, "h", kind="undo", options=Options(no_hold=True), prepare=undo_preparer(run_id))
    finally:
        emu.fail_cmdlets = {}


def test_an_undone_deletion_shows_the_hidden_gal_contact_again(tmp_path: Path, sqlite_url: str) -> None:
    """Undoing a deletion restores the person everywhere: the mail contact the deletion hid
    is visible again (the GAL's delta listing leaves a hidden contact out, so nothing read
    it again, and its baseline already held the hub's fields: no write was planned)."""
    emu = emulator(tenants=1, users=1, contacts=0)
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url)
        sync, dana = hidden.sync, hidden.contact
        engine = open_database(sqlite_url)
        undo = run_hub(
            engine, "h", kind="undo", options=Options(no_hold=True), prepare=undo_preparer(hidden.deletion)
        )
        assert undo.status == "applied" and undo.errors == [], undo.as_json()
        assert "dana@example.org" in cards(hidden.folder)
        assert not dana.deleted and dana.props["HiddenFromAddressListsEnabled"] is False
        assert undo.changes["gal"]["update"] == 1
        for _ in range(2):
            assert sync().changes == {}  # written once: nothing moves after


def test_a_person_an_edit_brings_back_is_shown_in_the_gal_again(tmp_path: Path, sqlite_url: str) -> None:
    """Modification beats deletion: a card deleted in one folder and edited in a to-hub
    folder brings the person back, and the mail contact the deletion hid is visible again
    with the edit (its link stayed detached, never planned: hidden for good)."""
    emu = emulator(tenants=1, users=1, contacts=0)
    tenant = emu.tenants[0]
    phones, archive = tmp_path / "cards", tmp_path / "archive"
    phones.mkdir()
    archive.mkdir()
    for folder in (phones, archive):
        (folder / "dana.vcf").write_text(card("dana", "Dana", "Doe", "dana@example.org"))
    with served(emu) as info:
        sync = deactivating_hub(
            sqlite_url,
            info,
            {"name": "phones", "type": "vcard-dir", "path": str(phones)},
            {"name": "archive", "type": "vcard-dir", "path": str(archive), "direction": "to-hub"},
        )
        sync()
        [dana] = [c for c in tenant.live_contacts() if c.props["CustomAttribute15"]]
        (phones / "dana.vcf").unlink()
        sync()
        assert dana.props["HiddenFromAddressListsEnabled"] is True
        (archive / "dana.vcf").write_text(card("dana", "Dana", "Doe", "dana@example.org", "Surveyor"))
        back = sync()
        assert back.errors == [], back.as_json()
        assert cards(phones)["dana@example.org"]["job_title"] == "Surveyor"
        assert not dana.deleted and dana.props["HiddenFromAddressListsEnabled"] is False
        assert dana.props["Title"] == "Surveyor"
        for _ in range(2):
            assert sync().changes == {}


@pytest.mark.parametrize("status", [400, 500])
def test_a_failed_reactivation_is_tried_again_by_the_next_run(
    tmp_path: Path, sqlite_url: str, status: int
) -> None:
    """The write that shows a hidden GAL contact again fails (Exchange refuses the cmdlet:
    the run reports it; or answers 500: the run fails): the next run writes it again. The
    records to reactivate were the undo run's memory only, and the link agreed after it:
    the contact stayed hidden for good while every run reported nothing to do."""
    emu = emulator(tenants=1, users=1, contacts=0)
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url)
        sync, dana = hidden.sync, hidden.contact
        undo = undo_with_failing(emu, open_database(sqlite_url), hidden.deletion, status)
        assert undo.status == ("applied" if status < 500 else "failed"), undo.as_json()
        assert undo.errors and "dana@example.org" in cards(hidden.folder)
        assert dana.props["HiddenFromAddressListsEnabled"] is True
        again = sync()
        assert again.errors == [] and again.changes == {"gal": {"create": 0, "update": 1, "delete": 0}}
        assert not dana.deleted and dana.props["HiddenFromAddressListsEnabled"] is False
        for _ in range(2):
            assert sync().changes == {}  # done: written once more, then nothing moves


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_failed_reactivation_is_written_by_the_run_a_person_lets_go(
    tmp_path: Path, sqlite_url: str, decision: str
) -> None:
    """The reactivating write failed, and the next run is held (too many deletions in the
    folder): the approve or reject of it shows the hidden GAL contact again."""
    from contacthub import service

    emu = emulator(tenants=1, users=1, contacts=0)
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url, others=5, threshold="2")
        sync, dana, folder = hidden.sync, hidden.contact, hidden.folder
        engine = open_database(sqlite_url)
        undo = undo_with_failing(emu, engine, hidden.deletion, 400)
        assert undo.status == "applied" and undo.errors, undo.as_json()
        for i in range(3):
            (folder / f"p{i}.vcf").unlink()
        held = run_hub(engine, "h")
        assert held.status == "held", held.as_json()
        assert dana.props["HiddenFromAddressListsEnabled"] is True  # a held run writes nothing
        decided = getattr(service, decision)(engine, held.run_id)
        assert decided.status == "applied" and decided.errors == [], decided.as_json()
        assert decided.changes["gal"]["update"] >= 1
        assert not dana.deleted and dana.props["HiddenFromAddressListsEnabled"] is False
        assert sync().changes == {}


@pytest.mark.parametrize("title", ["", "Surveyor"])
def test_a_person_added_again_takes_up_the_contact_their_deletion_hid(
    tmp_path: Path, sqlite_url: str, title: str
) -> None:
    """QA: Dana deleted (her mail contact hidden), then added again as a new card (a new
    hub contact: a partner's user disabled and enabled again, a card typed anew). The plan
    created a second mail contact beside the hidden one; Exchange refused it on every run
    (the address is the hidden contact's), and Dana stayed hidden for good. Her hidden
    contact is hers now: shown again, with her values and her mark, and nothing is created;
    also when her values are the ones it already holds (no title)."""
    emu = emulator(tenants=1, users=1, contacts=0)
    tenant = emu.tenants[0]
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url)
        sync, dana = hidden.sync, hidden.contact
        again = card("dana-again", "Dana", "Doe", "dana@example.org", title)
        (hidden.folder / "dana-again.vcf").write_text(again)
        back = sync()
        assert back.errors == [], back.as_json()
        assert back.changes["gal"] == {"create": 0, "update": 1, "delete": 0}
        assert back.taken_up == {"gal": 1}
        assert [c.id for c in tenant.live_contacts() if c.props["CustomAttribute15"]] == [dana.id]
        assert dana.props["HiddenFromAddressListsEnabled"] is False
        assert dana.props["CustomAttribute15"] == "contacthub:dana-again"
        assert (dana.props.get("Title") or "") == title
        for _ in range(2):
            assert sync().changes == {}  # written once: nothing moves after


def test_undoing_the_run_a_returning_person_took_up_a_hidden_contact_in_hides_it_again(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Dana deleted (her mail contact hidden), added again as a new card, which took up the
    hidden contact and showed it; that run undone, Dana's new card is no person of the hub
    again and her mail contact is hidden again, as before the run (it stayed visible, a
    contact of no one's in the address list). Undoing the undo shows it again."""
    emu = emulator(tenants=1, users=1, contacts=0)
    tenant = emu.tenants[0]
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url)
        sync, dana = hidden.sync, hidden.contact
        (hidden.folder / "dana-again.vcf").write_text(card("dana-again", "Dana", "Doe", "dana@example.org"))
        back = sync()
        assert back.taken_up == {"gal": 1} and dana.props["HiddenFromAddressListsEnabled"] is False
        engine = open_database(sqlite_url)
        undo = run_hub(engine, "h", kind="undo", options=Options(), prepare=undo_preparer(back.run_id))
        assert undo.status == "applied" and undo.errors == [], undo.as_json()
        assert dana.props["HiddenFromAddressListsEnabled"] is True
        assert (hidden.folder / "dana-again.vcf").exists()  # the card it was read from stays
        assert [c.id for c in tenant.live_contacts() if c.props["CustomAttribute15"]] == [dana.id]
        for _ in range(2):
            assert sync().changes == {}
        again = run_hub(engine, "h", kind="undo", options=Options(), prepare=undo_preparer(undo.run_id))
        assert again.status == "applied" and again.errors == [], again.as_json()
        assert dana.props["HiddenFromAddressListsEnabled"] is False
        assert [c.id for c in tenant.live_contacts() if c.props["CustomAttribute15"]] == [dana.id]
        for _ in range(2):
            assert sync().changes == {}


def test_a_contact_left_hidden_before_the_upgrade_is_shown_again_after_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A hub whose reactivating write failed before links kept the mark (schema 0010): the
    link agreed, and the GAL contact stayed hidden. Migration 0011 finds it from the journal
    (the last write of that contact there is the deactivation, and its person is live), so
    the next run shows it again; once written, nothing more."""
    from alembic import command
    from alembic.config import Config

    from contacthub.store import db

    emu = emulator(tenants=1, users=1, contacts=0)
    with served(emu) as info:
        hidden = hidden_by_deletion(emu, info, tmp_path, sqlite_url)
        sync, dana = hidden.sync, hidden.contact
        engine = open_database(sqlite_url)
        undo = undo_with_failing(emu, engine, hidden.deletion, 400)
        assert undo.status == "applied" and undo.errors, undo.as_json()
        config = Config()
        config.set_main_option("script_location", str(db.MIGRATIONS))
        for target in ("0010", "head"):  # the schema (and links) as before the column, then now
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                (command.downgrade if target == "0010" else command.upgrade)(config, target)
        assert dana.props["HiddenFromAddressListsEnabled"] is True
        again = sync()
        assert again.changes == {"gal": {"create": 0, "update": 1, "delete": 0}}, again.as_json()
        assert dana.props["HiddenFromAddressListsEnabled"] is False
        assert sync().changes == {}


def test_a_narrower_member_of_lets_go_of_the_users_it_leaves_out(tmp_path: Path, sqlite_url: str) -> None:
    """QA: given ``member_of`` and ``user_types`` after two clean syncs, the next run was
    held for deleting the users they leave out, and one approve deleted their cards from
    the folder. They are let go now: their cards stay, no mail contact is written for them;
    a member who leaves the group later, the settings unchanged, is a deletion as before."""
    emu = emulator(tenants=1, users=12, contacts=0)
    tenant = emu.tenants[0]
    [team] = [g for g in tenant.groups.values() if g.display_name == "Field Team"]
    folder = tmp_path / "cards"
    folder.mkdir()
    with served(emu) as info:
        engine = open_database(sqlite_url)

        sync = settings_sync(engine, folder, info)

        sync()
        assert sync().changes == {}
        assert len(cards(folder)) == 12
        scope = {"member_of": ["Field Team"], "user_types": ["Member"]}
        report = sync(**scope)
        assert report.held == [] and report.changes == {}, report.as_json()
        assert report.unlinked == {"gal": 12 - len(team.members)}
        assert len(cards(folder)) == 12
        assert sync(**scope).changes == {}
        assert [c for c in tenant.live_contacts() if c.props.get("CustomAttribute15")] == []
        assert len(cards(folder)) == 12

        gone = tenant.users[team.members.pop()].props["mail"].lower()
        report = sync(**scope)
        assert report.changes["phones"]["delete"] == 1, report.as_json()
        assert gone not in cards(folder) and len(cards(folder)) == 11


def dry_then_real(engine: Any, hub: str = "h") -> tuple[Any, Any]:
    """A dry run, then the real run it plans: both reports, the real one checked applied."""
    dry = run_hub(engine, hub, options=Options(dry_run=True))
    assert dry.status == "planned", dry.as_json()
    real = run_hub(engine, hub, options=Options())
    assert real.status == "applied", real.as_json()
    return dry, real


def test_a_dry_run_says_the_gal_refuses_a_person_without_an_email_as_the_real_run_does(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A GAL contact needs an email, which the connector says before any call: a dry run
    counted such a person as a GAL create (and no error), which the real run then refused.
    It says the real run's error instead, and counts what the real run counts: for the
    create, for the create again once the person changed without getting an email, and for
    the update that takes the email away from a contact of ours."""
    emu = emulator(tenants=1, users=1, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    desk = ["BEGIN:VCARD", "VERSION:3.0", "UID:desk", "FN:Front Desk", "TEL;TYPE=work:+12025550100"]
    (folder / "desk.vcf").write_text("\r\n".join([*desk, "END:VCARD", ""]))
    (folder / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@partner.example"))
    no_email = [{"connector": "gal", "record": "desk", "message": "a GAL contact needs an email address"}]
    with served(emu) as info:
        engine = open_database(sqlite_url)
        gal = {"name": "gal", "type": "m365-gal", **settings(info)}
        phones = {"name": "phones", "type": "vcard-dir", "path": str(folder)}
        config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": [phones, gal]}}}))

        dry, real = dry_then_real(engine)
        assert dry.errors == no_email, dry.as_json()
        assert dry.changes["gal"] == {"create": 1, "update": 0, "delete": 0}  # Ann only
        assert (real.errors, real.changes) == (dry.errors, dry.changes)
        ours = [c for c in tenant.live_contacts() if c.props.get("CustomAttribute15")]
        assert [c.props["ExternalEmailAddress"][5:] for c in ours] == ["ann@partner.example"]

        dry, real = dry_then_real(engine)  # refused once: said once, by both
        assert (dry.errors, dry.changes) == ([], {}) == (real.errors, real.changes)

        (folder / "desk.vcf").write_text("\r\n".join([*desk, "TITLE:Reception", "END:VCARD", ""]))
        dry, real = dry_then_real(engine)  # changed, still no email: refused again
        assert dry.errors == no_email and "gal" not in dry.changes, dry.as_json()
        assert (real.errors, real.changes) == (dry.errors, dry.changes)

        (folder / "ann.vcf").write_text(card("ann", "Ann", "Lee", "x").replace("EMAIL;TYPE=work:x\r\n", ""))
        dry, real = dry_then_real(engine)  # an update that takes the email away
        [ann] = ours
        gone = "a GAL contact needs an email address"
        wanted = [{"connector": "gal", "record": f"contacts/{ann.id}", "message": gone}]
        assert dry.errors == wanted and "gal" not in dry.changes, dry.as_json()
        assert (real.errors, real.changes) == (dry.errors, dry.changes)
        assert tenant.live_contacts()[0].props["ExternalEmailAddress"][5:] == "ann@partner.example"


def test_a_dry_run_says_directory_users_are_read_only_as_the_real_run_does(
    tmp_path: Path, sqlite_url: str
) -> None:
    """With ``write_users = false`` an edit of a user's card is refused by the GAL (said
    once): a dry run counted it as a GAL update. It says the real run's error instead."""
    emu = emulator(tenants=1, users=2, contacts=0)
    tenant = emu.tenants[0]
    folder = tmp_path / "cards"
    folder.mkdir()
    with served(emu) as info:
        engine = open_database(sqlite_url)
        sync = settings_sync(engine, folder, info, errors=True)
        sync()
        user = next(iter(tenant.users.values()))
        path = folder / cards(folder)[user.props["mail"].lower()]["_file"]
        text, n = re.subn(r"^TITLE:.*$", "TITLE:Edited on a phone", path.read_text(), flags=re.M)
        assert n == 1
        path.write_text(text)

        dry, real = dry_then_real(engine)
        read_only = "directory users are read-only for this connector (write_users = false)"
        wanted = [{"connector": "gal", "record": f"users/{user.id}", "message": read_only}]
        assert dry.errors == wanted and "gal" not in dry.changes, dry.as_json()
        assert (real.errors, real.changes) == (dry.errors, dry.changes)
        assert tenant.users[user.id].props.get("jobTitle") != "Edited on a phone"
        dry, real = dry_then_real(engine)  # said once
        assert (dry.errors, dry.changes) == ([], {}) == (real.errors, real.changes)
