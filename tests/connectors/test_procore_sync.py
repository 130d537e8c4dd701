"""Procore <-> vCard folder through the real engine and store, against the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import Engine

from contacthub import config
from contacthub.engine.context import Options, Report
from contacthub.engine.run import run_hub
from contacthub.store.db import open_database
from tests.connectors.procore_helpers import Served, served


class Site:
    """A hub ``site``: one emulated Procore company and one vCard folder, both two-way."""

    def __init__(self, url: str, srv: Served, folder: Path, **procore: Any) -> None:
        self.srv = srv
        self.folder = folder
        self.engine: Engine = open_database(url)
        self.apply(**procore)

    def apply(self, **procore: Any) -> None:
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "site": {
                        "connectors": [
                            {"name": "procore", "type": "procore", **self.srv.settings(**procore)},
                            {"name": "cards", "type": "vcard-dir", "path": str(self.folder)},
                        ]
                    }
                }
            }
        )
        config.apply(self.engine, spec)

    def sync(self) -> Report:
        return run_hub(self.engine, "site")

    def cards(self) -> dict[str, str]:
        """email -> card text, read plainly."""
        out = {}
        for path in self.folder.glob("*.vcf"):
            text = path.read_text(encoding="utf-8").replace("\r\n ", "")
            for line in text.splitlines():
                if line.upper().startswith("EMAIL"):
                    out[line.split(":", 1)[1].lower()] = text
        return out

    def card_path(self, email: str) -> Path:
        for path in self.folder.glob("*.vcf"):
            if email in path.read_text(encoding="utf-8").replace("\r\n ", "").lower():
                return path
        raise KeyError(email)

    def list_queries(self, fragment: str = "/users") -> list[dict[str, list[str]]]:
        return [
            parse_qs(q) for method, path, q in self.srv.emu.log if method == "GET" and path.endswith(fragment)
        ]


def card(uid: str, given: str, family: str, email: str, **extra: str) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{given} {family}", f"N:{family};{given};;;"]
    lines += [f"EMAIL;TYPE=work:{email}", *(f"{k}:{v}" for k, v in extra.items()), "END:VCARD", ""]
    return "\r\n".join(lines)


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    with served(users=20, vendors=4, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        yield Site(sqlite_url, srv, folder)


def active_users(srv: Served) -> dict[str, dict[str, Any]]:
    return {u["email_address"].lower(): u for u in srv.state.users.values() if u["is_active"]}


def test_two_way_create_edit_deactivate(site: Site) -> None:
    state = site.srv.state
    first = site.sync()
    assert first.errors == []
    people = active_users(site.srv)
    assert set(site.cards()) == set(people)
    somebody = next(iter(people.values()))
    text = site.cards()[somebody["email_address"].lower()]
    assert f"N:{somebody['last_name']};{somebody['first_name']}" in text.replace("\\,", ",")

    # an edit in Procore reaches the card
    state.update_user(somebody["id"], {"job_title": "Chief Estimator"})
    site.sync()
    assert "TITLE:Chief Estimator" in site.cards()[somebody["email_address"].lower()]

    # an edit in the card reaches Procore, as a PATCH of that user
    other = list(people.values())[1]
    path = site.card_path(other["email_address"].lower())
    path.write_text(path.read_text(encoding="utf-8").replace("TITLE:", "TITLE:Night ", 1), encoding="utf-8")
    if "TITLE:Night" not in path.read_text(encoding="utf-8"):
        path.write_text(
            path.read_text(encoding="utf-8").replace("END:VCARD", "TITLE:Night Foreman\r\nEND:VCARD")
        )
    report = site.sync()
    assert report.errors == []
    assert state.users[other["id"]]["job_title"].startswith("Night")

    # a new card becomes a Procore user carrying our hub id as origin_id
    (site.folder / "new.vcf").write_text(
        card(
            "new-1", "Zoë", "Łukasiewicz", "zoe.l@example.com", TEL="+44 20 7946 0000", ORG="Summit Builders"
        )
    )
    site.sync()
    created = active_users(site.srv)["zoe.l@example.com"]
    assert created["first_name"] == "Zoë" and created["origin_id"] == "new-1"
    assert created["business_phone"] == "+442079460000"
    assert state.vendors[created["vendor_id"]]["name"] == "Summit Builders"  # the vendor was made

    # a new Procore user becomes a card
    state.create_user({"first_name": "Ngozi", "last_name": "Okafor", "email_address": "ngozi@example.com"})
    site.sync()
    assert "ngozi@example.com" in site.cards()

    # deleting the card deactivates the user (Procore deletes nothing)
    site.card_path("zoe.l@example.com").unlink()
    report = site.sync()
    assert report.errors == []
    assert state.users[created["id"]]["is_active"] is False

    # a user deactivated in Procore is seen by the next full listing: its card goes
    state.update_user(somebody["id"], {"is_active": False})
    site.apply(full_every="0s")
    site.sync()
    assert somebody["email_address"].lower() not in site.cards()
    assert "ngozi@example.com" in site.cards()


def test_incremental_runs_ask_for_updated_at_only(site: Site) -> None:
    site.sync()
    full = site.list_queries()
    assert full and all("filters[updated_at]" not in q for q in full)
    site.srv.emu.log.clear()
    report = site.sync()
    assert report.errors == []
    queries = site.list_queries()
    assert len(queries) == 1  # a run with nothing new: one list call
    [window] = queries[0]["filters[updated_at]"]
    since, _, until = window.partition("...")
    assert since < until and until.endswith("Z")
    changed = report.changes.get("cards", {})
    assert not any(changed.values())


def test_a_refused_record_leaves_the_others_synced(site: Site) -> None:
    site.sync()
    for i, email in enumerate(["ok.one@example.com", "broken@nowhere", "ok.two@example.com"]):
        (site.folder / f"n{i}.vcf").write_text(card(f"n{i}", "New", f"Person{i}", email))
    report = site.sync()
    emails = active_users(site.srv)
    assert "ok.one@example.com" in emails and "ok.two@example.com" in emails
    assert "broken@nowhere" not in emails
    [error] = [e for e in report.errors if e["connector"] == "procore"]
    assert "email_address is invalid" in error["message"]
    # the refused card is still there; refused as invalid (422), the user is still not in
    # Procore: the create is sent again, and its error said, on every run until it changes
    # (said once, the person stayed out of Procore without a word)
    again = site.sync()
    assert ["email_address is invalid" in e["message"] for e in again.errors] == [True], again.errors
    assert (site.folder / "n1.vcf").exists()
    (site.folder / "n1.vcf").write_text(card("n1", "New", "Person1", "fixed@example.com"))
    fixed = site.sync()
    assert fixed.errors == [] and "fixed@example.com" in active_users(site.srv)
    # one create alone goes the one-record path (POST, its 422): said on every run as well
    (site.folder / "n3.vcf").write_text(card("n3", "New", "Person3", "broken@again"))
    for _ in range(2):
        refused = site.sync()
        assert ["email_address is invalid" in e["message"] for e in refused.errors] == [True]
    (site.folder / "n3.vcf").write_text(card("n3", "New", "Person3", "fixed3@example.com"))
    assert site.sync().errors == [] and "fixed3@example.com" in active_users(site.srv)


def test_rate_limit_is_respected(sqlite_url: str, tmp_path: Path) -> None:
    """2,000 users read 25 a page (80 calls) under 60 calls per 10 s: the client slows down
    from the X-Rate-Limit headers and never runs into a 429."""
    with served(users=2000, vendors=10, rate_10s=60) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, per_page=25)
        report = site.sync()
        assert report.errors == []
        assert len(list(folder.glob("*.vcf"))) == 2000
        assert len(site.list_queries()) == 80
        assert srv.emu.throttled <= 1


def test_the_hub_file_and_command_line(tmp_path: Path) -> None:
    """The TOML block the emulator prints works as written, and the secret is never shown."""
    from typer.testing import CliRunner

    from contacthub.cli import app

    runner = CliRunner()
    with served(users=6, vendors=2) as srv:
        folder = tmp_path / "cards"
        hub = tmp_path / "hub.toml"
        hub.write_text(
            f"""[hubs.site]
[[hubs.site.connectors]]
name = "procore"
type = "procore"
base_url = "{srv.url}"
login_url = "{srv.url}"
company_id = 1
client_id = "test-client"
client_secret = "test-secret-value"
objects = ["users", "vendors"]

[[hubs.site.connectors]]
name = "cards"
type = "vcard-dir"
path = "{folder}"
create = true
"""
        )
        db = f"sqlite:///{tmp_path / 'hub.db'}"
        applied = runner.invoke(app, ["--database", db, "apply", str(hub)])
        assert applied.exit_code == 0, applied.output
        synced = runner.invoke(app, ["--database", db, "sync", "site", "--json"])
        assert synced.exit_code == 0, synced.output
        assert json.loads(synced.output)["changes"]["cards"]["create"] == 8  # 6 users, 2 vendors
        listed = runner.invoke(app, ["--database", db, "hubs"])
        assert "procore" in listed.output and "test-secret-value" not in listed.output


def test_a_user_reactivated_in_procore_comes_back(site: Site) -> None:
    """With the default ``on_delete = "delete"`` (which deactivates in Procore); for
    ``"deactivate"`` see the next test."""
    state = site.srv.state
    site.sync()
    user = next(iter(active_users(site.srv).values()))
    email = user["email_address"].lower()
    site.card_path(email).unlink()
    site.sync()
    assert state.users[user["id"]]["is_active"] is False
    state.update_user(user["id"], {"is_active": True})  # reactivated by someone in Procore
    report = site.sync()
    assert report.errors == []
    assert email in site.cards()
    assert state.users[user["id"]]["is_active"] is True


def test_with_deactivate_a_user_reactivated_in_procore_restores_its_contact(site: Site) -> None:
    """``on_delete = "deactivate"`` detaches the link after deactivating; a reactivation seen
    by the next run (an incremental one: no full listing in between) restores the hub
    contact itself, with no duplicate, and its card comes back."""
    site.apply(on_delete="deactivate")
    state = site.srv.state
    site.sync()
    user = next(iter(active_users(site.srv).values()))
    email = user["email_address"].lower()
    site.card_path(email).unlink()
    report = site.sync()
    assert report.changes["procore"]["delete"] == 1
    assert state.users[user["id"]]["is_active"] is False
    assert email not in site.cards()
    before = hub_contacts(site, email)
    assert [deleted for _, deleted in before] == [True]
    state.update_user(user["id"], {"is_active": True, "job_title": "Back on site"})
    report = site.sync()
    assert report.errors == []
    assert hub_contacts(site, email) == [(before[0][0], False)]  # the same contact, live again
    assert "Back on site" in site.cards()[email]
    assert state.users[user["id"]]["is_active"] is True
    assert site.sync().changes.get("procore", {}).get("delete", 0) == 0  # and it stays active


def test_a_reactivation_after_full_listings_restores_the_same_contact(site: Site) -> None:
    """Full listings in between (``full_every = "0s"``: every run) no longer list the
    inactive user: its detached link was dropped as gone, and the reactivated user became a
    new person. A reactivation with nothing else changed, in the second the hub deactivated
    it, kept its version and was never read at all."""
    site.apply(on_delete="deactivate", full_every="0s")
    state = site.srv.state
    site.sync()
    user = next(iter(active_users(site.srv).values()))
    email = user["email_address"].lower()
    site.card_path(email).unlink()
    assert site.sync().changes["procore"]["delete"] == 1
    before = hub_contacts(site, email)
    site.sync()
    site.sync()
    state.update_user(user["id"], {"is_active": True})  # nothing else changed
    report = site.sync()
    assert report.errors == []
    assert hub_contacts(site, email) == [(before[0][0], False)]  # the same contact, live again
    assert email in site.cards()
    assert site.sync().changes == {}


def hub_contacts(site: Site, email: str) -> list[tuple[str, bool]]:
    """(id, deleted) of the hub contacts holding ``email``."""
    from sqlalchemy import select

    from contacthub.store import tables as t

    with site.engine.connect() as conn:
        rows = conn.execute(select(t.contacts.c.id, t.contacts.c.deleted, t.contacts.c.data)).all()
    return [(cid, bool(deleted)) for cid, deleted, data in rows if email in str(data).lower()]


@pytest.mark.parametrize("objects", [None, ["users", "vendors", "people"]])
def test_undoing_a_deletion_reactivates_the_user(site: Site, objects: list[str] | None) -> None:
    """The deletion deactivated the user; the undo's create found it (email taken) but left
    it inactive, and every run after failed on "deactivated in Procore". With people read
    too (whose inactive ones a create looks at first), the user is still the one brought
    back: a user's person is no person without a login."""
    from contacthub import service

    if objects:
        site.apply(objects=objects)
    state = site.srv.state
    site.sync()
    (site.folder / "solo.vcf").write_text(card("card-solo", "Solo", "Folder", "solo@folder.example"))
    site.sync()
    [solo] = [u for u in state.users.values() if u["email_address"] == "solo@folder.example"]
    site.card_path("solo@folder.example").unlink()
    deleted = site.sync()
    assert state.users[solo["id"]]["is_active"] is False
    undone = service.undo(site.engine, deleted.run_id)
    assert undone.errors == [] and undone.status == "applied"
    assert state.users[solo["id"]]["is_active"] is True
    assert "solo@folder.example" in site.cards()
    assert [u["id"] for u in state.users.values() if u["email_address"] == "solo@folder.example"] == [
        solo["id"]
    ]
    after = site.sync()
    assert after.errors == [] and after.changes == {}


def deactivated_user(site: Site) -> tuple[dict[str, Any], str, Any]:
    """A Procore user synced to the folder, then deactivated by the deletion of its card:
    the user, its email and the deleting run's report."""
    site.sync()
    user = next(iter(active_users(site.srv).values()))
    email = str(user["email_address"]).lower()
    site.card_path(email).unlink()
    deleted = site.sync()
    assert site.srv.state.users[user["id"]]["is_active"] is False
    return user, email, deleted


def test_with_deactivate_undoing_a_deletion_reactivates_the_user(site: Site) -> None:
    """``on_delete = "deactivate"`` keeps the deactivated user's link detached; the undo
    rejoined it, but its baseline held the hub's fields, so nothing was written and the
    user stayed inactive, for good, with every run reporting nothing to do."""
    from contacthub import service

    site.apply(on_delete="deactivate")
    state = site.srv.state
    user, email, deleted = deactivated_user(site)
    undone = service.undo(site.engine, deleted.run_id)
    assert undone.errors == [] and undone.status == "applied", undone.as_json()
    assert state.users[user["id"]]["is_active"] is True
    assert email in site.cards()
    for _ in range(2):
        after = site.sync()
        assert after.errors == [] and after.changes == {}


@pytest.mark.parametrize("full_every", [None, "0s"])
def test_with_deactivate_a_person_without_a_login_added_again_takes_them_up(
    sqlite_url: str, tmp_path: Path, full_every: str | None
) -> None:
    """QA: a person without a login (one of Procore's, with an email) deactivated by their
    card's deletion, then typed again as a new card: read to be taken up, they were "no
    such person" (only the active people were looked at), so a second person was made
    beside the inactive one. Procore documents ``GET .../people/inactive``: they are found
    there, taken up and reactivated (the update sends ``active: true``)."""
    with served(users=0, vendors=0, people=4, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        more = {"full_every": full_every} if full_every else {}
        site = Site(sqlite_url, srv, folder, objects=["people"], on_delete="deactivate", **more)
        site.sync()
        state = srv.state
        person = next(p for p in state.people.values() if p.get("email_address"))
        email = str(person["email_address"]).lower()
        site.card_path(email).unlink()
        gone = site.sync()
        assert gone.status == "applied", gone.as_json()
        assert state.people[person["id"]]["active"] is False
        again = card("again-1", person["first_name"], person["last_name"], email, TITLE="Back on site")
        (folder / "again.vcf").write_text(again)
        back = site.sync()
        assert back.errors == [], back.as_json()
        assert back.changes["procore"] == {"create": 0, "update": 1, "delete": 0}, back.as_json()
        assert back.taken_up == {"procore": 1}
        same = [p["id"] for p in state.people.values() if str(p.get("email_address")).lower() == email]
        assert same == [person["id"]]
        assert state.people[person["id"]]["active"] is True
        assert state.people[person["id"]]["job_title"] == "Back on site"
        for _ in range(2):
            after = site.sync()
            assert after.errors == [] and after.changes == {}, after.as_json()


@pytest.mark.parametrize("full_every", [None, "0s"])
@pytest.mark.parametrize("made", [False, True])
def test_with_deactivate_a_person_added_again_takes_up_their_user(
    site: Site, made: bool, full_every: str | None
) -> None:
    """QA: a user deactivated by their card's deletion, then the person typed again as a
    new card (a new hub contact; the hub made the user from a card, or read it from
    Procore). Read to be taken up, the user was "not found" (deactivated), so the plan
    created one: Procore refused it (its email is the inactive user's), and the person
    stayed out of Procore for good. Their user is theirs now: reactivated, with the new
    card's values, one user for the email, and nothing moves after."""
    site.apply(on_delete="deactivate", **({"full_every": full_every} if full_every else {}))
    state = site.srv.state
    if made:
        site.sync()
        (site.folder / "solo.vcf").write_text(card("card-solo", "Solo", "Folder", "solo@folder.example"))
        site.sync()
        email = "solo@folder.example"
        [user] = [u for u in state.users.values() if u["email_address"] == email]
        site.card_path(email).unlink()
        site.sync()
        assert state.users[user["id"]]["is_active"] is False
    else:
        user, email, _ = deactivated_user(site)
    again = card("again-1", user["first_name"], user["last_name"], email, TITLE="Back on site")
    (site.folder / "again.vcf").write_text(again)
    back = site.sync()
    assert back.errors == [], back.as_json()
    assert back.changes["procore"] == {"create": 0, "update": 1, "delete": 0}
    assert back.taken_up == {"procore": 1}
    assert [u["id"] for u in state.users.values() if u["email_address"].lower() == email] == [user["id"]]
    assert state.users[user["id"]]["is_active"] is True
    assert state.users[user["id"]]["job_title"] == "Back on site"
    assert [deleted for _, deleted in hub_contacts(site, email)].count(False) == 1
    for _ in range(2):
        after = site.sync()
        assert after.errors == [] and after.changes == {}, after.as_json()
    assert state.users[user["id"]]["is_active"] is True
    assert email in site.cards()


def test_with_deactivate_an_organization_added_again_takes_up_its_vendor(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The same for a vendor: read as "not found", the organization typed again was made a
    second vendor beside the inactive one. Taken up, its update left it inactive (only
    Procore's reactivation call brings a vendor back), and the next full listing took it for
    deleted, and the contact with it. It is reactivated, and stays."""
    with served(users=0, vendors=3, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["vendors"], on_delete="deactivate")
        site.sync()
        state = srv.state
        vendor = next(v for v in state.vendors.values() if v["is_active"] and v.get("email_address"))
        email, name = vendor["email_address"].lower(), vendor["name"]
        site.card_path(email).unlink()
        assert site.sync().changes["procore"]["delete"] == 1
        assert state.vendors[vendor["id"]]["is_active"] is False
        lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:v-again", f"FN:{name}", "N:;;;;", f"ORG:{name}"]
        lines += [f"EMAIL;TYPE=work:{email}", "NOTE:back in business", "END:VCARD", ""]
        (folder / "again.vcf").write_text("\r\n".join(lines))
        back = site.sync()
        assert back.errors == [], back.as_json()
        assert back.changes["procore"] == {"create": 0, "update": 1, "delete": 0}
        assert back.taken_up == {"procore": 1}
        same = [v["id"] for v in state.vendors.values() if (v.get("email_address") or "").lower() == email]
        assert same == [vendor["id"]]
        assert state.vendors[vendor["id"]]["is_active"] is True
        assert state.vendors[vendor["id"]]["notes"] == "back in business"
        site.apply(objects=["vendors"], on_delete="deactivate", full_every="0s")  # a full listing
        for _ in range(2):
            after = site.sync()
            assert after.errors == [] and after.changes == {}, after.as_json()
        assert email in site.cards()


def test_with_deactivate_undoing_a_vendors_deletion_reactivates_it(sqlite_url: str, tmp_path: Path) -> None:
    """The undo's write of a vendor the deletion deactivated was an update, which left it
    inactive: only Procore's reactivation call brings a vendor back."""
    from contacthub import service

    with served(users=0, vendors=3, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["vendors"], on_delete="deactivate")
        site.sync()
        state = srv.state
        vendor = next(v for v in state.vendors.values() if v["is_active"] and v.get("email_address"))
        site.card_path(vendor["email_address"].lower()).unlink()
        deleted = site.sync()
        assert state.vendors[vendor["id"]]["is_active"] is False
        undone = service.undo(site.engine, deleted.run_id)
        assert undone.errors == [] and undone.status == "applied", undone.as_json()
        assert state.vendors[vendor["id"]]["is_active"] is True


@pytest.mark.parametrize("full_every", [None, "0s"])
def test_with_deactivate_undoing_a_persons_deletion_reactivates_them(
    sqlite_url: str, tmp_path: Path, full_every: str | None
) -> None:
    """QA: a person without a login the hub made, deactivated by their card's deletion; the
    undo's write was an update without ``active``, which left them inactive, and the next
    run, not listing them, deleted the card again. The update sends ``active: true``."""
    from contacthub import service

    with served(users=0, vendors=0, people=0, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        more = {"full_every": full_every} if full_every else {}
        site = Site(sqlite_url, srv, folder, objects=["people"], on_delete="deactivate", **more)
        site.sync()
        for uid, given, family in (("pat", "Pat", "Quinn"), ("kim", "Kim", "Okafor")):
            lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{given} {family}"]
            lines += [f"N:{family};{given};;;", "TEL;TYPE=cell:+14155550124", "END:VCARD", ""]
            (folder / f"{uid}.vcf").write_text("\r\n".join(lines))
        assert site.sync().changes["procore"]["create"] == 2
        state = srv.state
        person = next(p for p in state.people.values() if p.get("origin_id") == "pat")
        (folder / "pat.vcf").unlink()
        deleted = site.sync()
        assert deleted.status == "applied", deleted.as_json()
        assert state.people[person["id"]]["active"] is False
        undone = service.undo(site.engine, deleted.run_id)
        assert undone.errors == [] and undone.status == "applied", undone.as_json()
        assert state.people[person["id"]]["active"] is True
        for _ in range(2):
            after = site.sync()
            assert after.errors == [] and after.changes == {}, after.as_json()
        assert state.people[person["id"]]["active"] is True
        assert any("Quinn" in p.read_text(encoding="utf-8") for p in folder.glob("*.vcf"))


@pytest.mark.parametrize("full_every", [None, "0s"])
def test_a_reactivation_that_failed_is_written_by_the_next_run(site: Site, full_every: str | None) -> None:
    """``on_delete = "deactivate"``: the undo's write that reactivates the user fails (Procore
    answers 503 until the client gives up: the run fails after the hub's side committed).
    The next run reactivates them. The users to reactivate were the undo run's memory
    only: the next run found the link agreeing, and the user stayed inactive for good (with
    full listings, where an inactive user is missing, their person was deleted again)."""
    from contacthub import service

    site.apply(on_delete="deactivate", **({"full_every": full_every} if full_every else {}))
    state = site.srv.state
    user, email, deleted = deactivated_user(site)
    site.srv.emu.faults.fail["PATCH /users/inactive/"] = 503
    undone = service.undo(site.engine, deleted.run_id)
    assert undone.status == "failed" and "503" in str(undone.message), undone.as_json()
    assert state.users[user["id"]]["is_active"] is False
    site.srv.emu.faults.fail.clear()
    again = site.sync()
    assert again.errors == [] and again.changes["procore"]["update"] == 1, again.as_json()
    assert state.users[user["id"]]["is_active"] is True
    assert email in site.cards()
    assert hub_contacts(site, email) == [(hub_contacts(site, email)[0][0], False)]
    for _ in range(2):
        after = site.sync()
        assert after.errors == [] and after.changes == {}


def test_rejecting_deactivations_reactivates_our_users_only(site: Site) -> None:
    """Users the hub made, deactivated in Procore, hold the run; rejecting it writes them
    back, which for Procore is a reactivation: the writes found them (their emails taken)
    but left them inactive, and every later run failed on them. A user a Procore admin
    deactivated that the hub never made stays inactive, whatever card has their email."""
    from contacthub import service

    state = site.srv.state
    site.apply(full_every="0s")
    for i in range(6):
        (site.folder / f"n{i}.vcf").write_text(card(f"n{i}", f"New{i}", "Person", f"n{i}@example.com"))
    site.sync()
    ours = [u["id"] for u in state.users.values() if (u.get("origin_id") or "").startswith("n")]
    assert len(ours) == 6
    for uid in ours[:5]:
        state.update_user(uid, {"is_active": False})
    held = site.sync()
    assert held.status == "held"
    rejected = service.reject(site.engine, held.run_id)
    assert rejected.errors == [], rejected.errors
    assert all(state.users[uid]["is_active"] for uid in ours)
    after = site.sync()
    assert after.errors == [] and after.changes == {}
    # an admin's deactivation of a user we never made is not undone by a card of theirs
    theirs = next(u for u in state.users.values() if not u.get("origin_id") and u["is_active"])
    state.update_user(theirs["id"], {"is_active": False})
    site.sync()
    phone = state.users[theirs["id"]].get("mobile_phone")
    (site.folder / "same.vcf").write_text(
        card("same-1", "Same", "Email", theirs["email_address"], **{"TEL;TYPE=CELL": "+1 805 555 0000"})
    )
    report = site.sync()
    assert state.users[theirs["id"]]["is_active"] is False
    assert state.users[theirs["id"]].get("mobile_phone") == phone
    assert any("taken" in e["message"] and "deactivated in Procore" in e["message"] for e in report.errors)


@pytest.mark.parametrize("objects", [None, ["users", "vendors", "people"]])
def test_undoing_a_deletion_made_in_procore_leaves_the_admins_user_inactive(
    site: Site, objects: list[str] | None
) -> None:
    """A user a Procore admin deactivated (never made by the hub, no origin id of ours):
    the deletion spread to the hub, then was undone. The undo does not give the login back
    (as a ``reject`` of such deactivations does not): its create is refused once, with the
    reason, and not tried on every run after (it was, "email taken", each run); once the
    admin reactivates the user in Procore, the next run links them to the person, no
    second user made. So too with people read (a create looks at the inactive people
    without a login first: the user's person is none of them)."""
    from contacthub import service

    state = site.srv.state
    site.apply(full_every="0s", **({"objects": objects} if objects else {}))
    site.sync()
    user = next(u for u in state.users.values() if not u.get("origin_id") and u["is_active"])
    email = str(user["email_address"]).lower()
    state.update_user(user["id"], {"is_active": False})  # by an admin, in Procore
    deleted = site.sync()
    assert email not in site.cards()
    undone = service.undo(site.engine, deleted.run_id)
    assert email in site.cards()  # the person is back everywhere else
    assert state.users[user["id"]]["is_active"] is False
    [error] = undone.errors
    assert (
        f"Procore user {user['id']}" in error["message"] and "reactivate them in Procore" in error["message"]
    )
    again = site.sync()
    assert again.errors == [] and again.changes == {}, again.as_json()
    state.update_user(user["id"], {"is_active": True})  # the admin brings them back
    site.sync()
    assert [u["id"] for u in state.users.values() if u["email_address"].lower() == email] == [user["id"]]
    settled = site.sync()
    assert settled.errors == [] and settled.changes == {}, settled.as_json()
    assert email in site.cards()


@pytest.mark.parametrize("change", [{"full_every": "0s"}, {"per_page": 50}])
def test_a_user_deactivated_just_after_a_settings_change_stays_deactivated(
    site: Site, change: dict[str, Any]
) -> None:
    """A user we made (origin_id) that a Procore admin deactivates, seen by the full listing
    a settings change brings, is a deletion: its card goes and the user is not written back
    (the create, matched on origin_id, reactivated it)."""
    state = site.srv.state
    site.sync()
    (site.folder / "new.vcf").write_text(
        card(
            "new-1", "Zoë", "Łukasiewicz", "zoe.l@example.com", TEL="+44 20 7946 0000", ORG="Summit Builders"
        )
    )
    assert site.sync().errors == []
    made = active_users(site.srv)["zoe.l@example.com"]
    assert made["origin_id"] == "new-1"
    site.sync()
    state.update_user(made["id"], {"is_active": False})  # an admin deactivates it
    site.apply(**change)
    report = site.sync()
    assert report.errors == []
    assert state.users[made["id"]]["is_active"] is False
    assert "zoe.l@example.com" not in site.cards()
    site.sync()
    assert state.users[made["id"]]["is_active"] is False


def test_a_full_listing_after_settling_writes_nothing(site: Site) -> None:
    """Procore keeps one email and the country as its ISO code (``read_back``): a card with
    a second, untyped email and "United States" settles, and a full listing (daily, and
    after every settings change) reads its user as agreeing, instead of writing it again."""
    state = site.srv.state
    site.sync()
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:new-1", "FN:Zoë Łukasiewicz", "N:Łukasiewicz;Zoë;;;"]
    lines += ["EMAIL:zoe.l@example.com", "EMAIL;TYPE=home:zoe@home.example"]
    lines += ["ADR;TYPE=work:;;1 Main Street;Seattle;WA;98101;United States", "END:VCARD", ""]
    (site.folder / "new.vcf").write_text("\r\n".join(lines), encoding="utf-8")
    assert site.sync().errors == []
    made = active_users(site.srv)["zoe.l@example.com"]
    assert made["country_code"] == "US"
    site.sync()
    for change in ({"full_every": "0s"}, {"per_page": 50}):
        site.apply(**change)
        report = site.sync()
        assert report.errors == []
        assert report.changes.get("procore", {}).get("update", 0) == 0, report.changes
    assert state.users[made["id"]]["updated_at"] == made["updated_at"]


def test_a_vendor_made_for_a_users_company_is_not_read_back_as_a_contact(site: Site) -> None:
    """A new user's organization is found or made as their vendor (``create_vendors``);
    with vendors synced too, the next run read a vendor made so as a new company-only
    contact and wrote it everywhere: a card, a CSV row, a CRM "person" named "Newco Ltd"
    (QA). A vendor the hub made for a company (its ``origin_code`` says so) and that holds
    nothing but its name is no contact; filled in since in Procore, it is one."""
    site.apply(objects=["users", "vendors"])
    site.sync()
    before = set(site.folder.glob("*.vcf"))
    (site.folder / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@newco.example", ORG="Newco Ltd"))
    first = site.sync()
    assert first.errors == [] and first.changes["procore"]["create"] == 1
    [vendor] = [v for v in site.srv.state.vendors.values() if v.get("name") == "Newco Ltd"]
    assert vendor.get("origin_code") == "contacthub-company"
    second = site.sync()
    assert second.changes == {}, second.changes
    assert set(site.folder.glob("*.vcf")) == before | {site.folder / "ann.vcf"}
    state = site.srv.state
    state.vendors[vendor["id"]].update(business_phone="+1 202 555 0188", updated_at=state.now())  # filled in
    third = site.sync()
    assert third.changes.get("cards", {}).get("create") == 1, third.changes


@pytest.mark.parametrize("full", [False, True])
def test_a_vendor_deactivated_in_procore_is_deleted_when_the_list_shows_inactive_vendors(
    sqlite_url: str, tmp_path: Path, full: bool
) -> None:
    """Procore documents the vendors list as "all Vendors associated with a Company"; if
    that takes in the inactive ones, a vendor deactivated there was still listed, so never
    missing from a full listing: its contact lived on and was copied everywhere (QA of the
    emulator). A listed vendor that is not active is gone, from an incremental listing
    (the deactivation updated it) as from a full one, and is matched to no one."""
    with served(users=0, vendors=3, projects=0, vendors_list_inactive=True) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["vendors"], **({"full_every": 0} if full else {}))
        site.sync()
        state = srv.state
        named = [v for v in state.vendors.values() if v["is_active"] and v.get("email_address")]
        assert len(named) >= 2
        gone, kept = named[0], named[1]
        assert gone["email_address"].lower() in site.cards()
        state.vendors[gone["id"]].update(is_active=False, updated_at=state.now())
        report = site.sync()
        assert report.errors == []
        cards = site.cards()
        assert gone["email_address"].lower() not in cards
        assert kept["email_address"].lower() in cards
        # the person typed again as a new card is no match for the inactive vendor
        (folder / "again.vcf").write_text(
            card("again", "Again", "Vendor", gone["email_address"], ORG=gone["name"]), encoding="utf-8"
        )
        site.sync()
        assert state.vendors[gone["id"]]["is_active"] is False


def test_a_vendor_renamed_in_procore_reaches_a_hub_whose_values_came_from_a_folder(tmp_path: Path) -> None:
    """QA: a vendor renamed in Procore changes its users' organization, but not their
    ``updated_at``. With the contacts made from a folder listed first (their values timed
    now), the users, 30 days older, were taken for an older version put back (the rule for
    a folder restored from a backup): the rename was undone, written back, and a vendor of
    the old name made again. A Procore user's time does not cover every field it holds
    (``Capabilities.dated_whole``), so that rule is not for it."""
    with served(users=3, vendors=2, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        export = Site(f"sqlite:///{tmp_path / 'export.db'}", srv, folder, objects=["users"])
        export.sync()  # the folder: an export of the company's users
        engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "site": {
                        "connectors": [
                            {"name": "cards", "type": "vcard-dir", "path": str(folder)},
                            {
                                "name": "procore",
                                "type": "procore",
                                **srv.settings(objects=["users"], full_every="1s"),
                            },
                        ]
                    }
                }
            }
        )
        config.apply(engine, spec)
        run_hub(engine, "site")
        state = srv.state
        user = next(u for u in state.users.values() if u["is_active"] and u.get("vendor_id"))
        vendor_id = user["vendor_id"]
        vendors_before = set(state.vendors)
        state.vendors[vendor_id].update(name="Renamed Builders Pty", updated_at=state.now())
        time.sleep(1.1)  # (full_every = 1 s: the next run lists every user)
        report = run_hub(engine, "site")
        assert report.errors == []
        assert set(state.vendors) == vendors_before  # no vendor made again
        assert state.vendors[vendor_id]["name"] == "Renamed Builders Pty"
        card = next(p for p in folder.glob("*.vcf") if user["email_address"].lower() in p.read_text().lower())
        assert "ORG:Renamed Builders Pty" in card.read_text()


def test_a_page_skipped_on_the_way_deletes_no_one(sqlite_url: str, tmp_path: Path) -> None:
    """Procore answers ``page=3`` with page 4 (``Total: 40`` still): 2 of 40 users missing
    from a full listing, under the 10 % deletion threshold, were deleted from the hub and
    the folder, and made again by the next run. A listing short of its ``Total`` is
    incomplete: the run fails as a retriable one and deletes nothing."""
    with served(users=40) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, per_page=2, full_every="0s")
        assert site.sync().status == "applied"
        assert len(site.cards()) == 40
        srv.emu.faults.skip_page = 3
        report = site.sync()
        assert report.status == "failed", report.as_json()
        assert "connector 'procore'" in str(report.message)
        assert "came up short: 38 of Total 40" in str(report.message), report.message
        assert len(site.cards()) == 40 and len(active_users(srv)) == 40
        assert sum(deleted for _, deleted in hub_contacts(site, "@")) == 0
        again = site.sync()
        assert again.status == "applied" and again.errors == []
        assert not any(n for counts in again.changes.values() for n in counts.values()), again.changes
        assert len(site.cards()) == 40


def test_a_vendor_renamed_in_procore_then_a_users_card_edited_makes_no_vendor(
    sqlite_url: str, tmp_path: Path
) -> None:
    """QA: a vendor renamed in Procore; its users kept the old organization (the users'
    ``filters[updated_at]`` listing did not show them), and a job title edited on one's
    card was written with it: no vendor of that name, so one was made and the user moved
    onto it. The rename reaches the cards, and the edit leaves the user where it is."""
    with served(users=8, vendors=3, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["users", "vendors"])
        site.sync()
        state = srv.state
        user = next(u for u in state.users.values() if u["vendor_id"])
        vid, email = user["vendor_id"], user["email_address"].lower()
        state.update_vendor(vid, {"name": "Muller Plumbing GmbH"})
        assert site.sync().errors == []
        path = site.card_path(email)
        assert "ORG:Muller Plumbing GmbH" in path.read_text(encoding="utf-8")
        lines = [
            line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("TITLE")
        ]
        lines.insert(-1, "TITLE:Chief Estimator")
        path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
        vendors_before = set(state.vendors)
        report = site.sync()
        assert report.errors == [], report.as_json()
        assert state.users[user["id"]]["job_title"] == "Chief Estimator"
        assert state.users[user["id"]]["vendor_id"] == vid and set(state.vendors) == vendors_before


@pytest.mark.parametrize("objects", [["users"], ["users", "vendors"]])
def test_a_card_moving_a_user_to_another_vendor_beats_that_vendors_rename(
    sqlite_url: str, tmp_path: Path, objects: list[str]
) -> None:
    """QA, ``conflict = "newest"``: a card moves a user to another existing vendor, then
    the user's old vendor is renamed in Procore, both seen by one run. The rename changed
    the company's name, not where the person works: the move stands (the user on the other
    vendor, the card as edited). With the vendor's time given to its users (reverted), the
    rename won and the move was gone without a word."""
    import os

    with served(users=8, vendors=3, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=objects)
        site.sync()
        state = srv.state
        user = next(u for u in state.users.values() if u["vendor_id"])
        vid, email = user["vendor_id"], user["email_address"].lower()
        other = next(v for v in state.vendors if v != vid and state.vendors[v]["is_active"])
        path = site.card_path(email)
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("ORG")]
        lines.insert(-1, f"ORG:{state.vendors[other]['name']}")
        path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
        edited = time.time() - 10  # the card's edit, ten seconds before the rename
        os.utime(path, (edited, edited))
        time.sleep(1.1)  # Procore's times have whole seconds
        vendors_before = set(state.vendors)
        state.update_vendor(vid, {"name": "Renamed Holdings"})
        report = site.sync()
        assert report.errors == [], report.as_json()
        assert state.users[user["id"]]["vendor_id"] == other and set(state.vendors) == vendors_before
        assert f"ORG:{state.vendors[other]['name']}" in path.read_text(encoding="utf-8")
        assert site.sync().changes == {}


def test_undoing_a_deletion_reactivates_the_vendor_and_the_person(sqlite_url: str, tmp_path: Path) -> None:
    """QA: a vendor and a person without a login made from cards, deleted (deactivated),
    then the deletion undone: the undo creates them again (the deletion took their links),
    and Procore refuses an origin id taken (409). A user's create finds the inactive user
    by it and reactivates it; a vendor's or person's create made a second one beside the
    inactive one (the emulator did not refuse), or failed on every run (Procore does). They
    are found by origin id, updated and reactivated, as a user is."""
    from contacthub import service

    with served(users=2, vendors=1, people=1, projects=0) as srv:
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["users", "vendors", "people"])
        site.sync()
        lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:v1", "FN:Beta Concrete LLC", "ORG:Beta Concrete LLC"]
        (folder / "v1.vcf").write_text("\r\n".join([*lines, "EMAIL:info@beta.example", "END:VCARD", ""]))
        lines = [
            "BEGIN:VCARD",
            "VERSION:3.0",
            "UID:p1",
            "FN:Bjork Gudmundsdottir",
            "N:Gudmundsdottir;Bjork;;;",
        ]
        (folder / "p1.vcf").write_text("\r\n".join([*lines, "TEL:(805) 555-0177", "END:VCARD", ""]))
        assert site.sync().errors == []
        state = srv.state
        [vendor] = [v for v in state.vendors.values() if v["name"] == "Beta Concrete LLC"]
        [person] = [p for p in state.people.values() if p["last_name"] == "Gudmundsdottir"]
        (folder / "v1.vcf").unlink()
        (folder / "p1.vcf").unlink()
        deleted = site.sync()
        assert deleted.changes["procore"]["delete"] == 2, deleted.as_json()
        assert (
            state.vendors[vendor["id"]]["is_active"] is False
            and state.people[person["id"]]["active"] is False
        )
        undone = service.undo(site.engine, deleted.run_id)
        assert undone.errors == [] and undone.status == "applied", undone.as_json()
        assert [v["id"] for v in state.vendors.values() if v["name"] == "Beta Concrete LLC"] == [vendor["id"]]
        assert [p["id"] for p in state.people.values() if p["last_name"] == "Gudmundsdottir"] == [
            person["id"]
        ]
        assert (
            state.vendors[vendor["id"]]["is_active"] is True and state.people[person["id"]]["active"] is True
        )
        for _ in range(2):
            after = site.sync()
            assert after.errors == [] and after.changes == {}, after.as_json()


def card_of(folder: Path, person: dict[str, Any]) -> Path:
    """The one card of a Procore person, by the full name it was written with."""
    [path] = [
        p
        for p in folder.glob("*.vcf")
        if f"FN:{person['first_name']} {person['last_name']}" in p.read_text(encoding="utf-8")
    ]
    return path


@pytest.mark.parametrize("known_by", ["email", "phone"])
def test_undoing_the_deletion_of_a_person_without_a_login_reactivates_them(
    sqlite_url: str, tmp_path: Path, known_by: str
) -> None:
    """QA: a person without a login read from Procore (no origin id of ours), their card
    deleted: with the default ``on_delete = "delete"`` the run deactivated them and took the
    link, so the undo's restore was a create. One with an email and a last name went to the
    users: a new user with a login was made beside the inactive person; one known by a phone
    only was made again as a second person (field staff often have no email). The create
    finds them in Procore's inactive people by the email their record holds under their
    name, or, neither holding an email, by the phone and the name, and reactivates them with
    the hub's values: nothing made, no login given."""
    from contacthub import service

    with served(users=2, vendors=1, people=3, projects=0) as srv:
        state = srv.state
        person = next(p for p in state.people.values() if p.get("email_address") and p.get("mobile_phone"))
        email = str(person["email_address"]).lower()
        if known_by == "phone":
            person["email_address"] = None
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["users", "vendors", "people"])
        assert site.sync().errors == []
        users, people = set(state.users), set(state.people)
        card_of(folder, person).unlink()
        deleted = site.sync()
        assert deleted.changes["procore"]["delete"] == 1, deleted.as_json()
        assert state.people[person["id"]]["active"] is False
        undone = service.undo(site.engine, deleted.run_id)
        assert undone.errors == [] and undone.status == "applied", undone.as_json()
        assert state.people[person["id"]]["active"] is True
        assert (set(state.users), set(state.people)) == (users, people)  # no user, no second person
        assert not any(str(u.get("email_address")).lower() == email for u in state.users.values())
        assert card_of(folder, person).exists()
        for _ in range(2):
            after = site.sync()
            assert after.errors == [] and after.changes == {}, after.as_json()
        assert state.people[person["id"]]["active"] is True


def test_an_inactive_person_comes_back_only_by_their_own_email_and_name(
    sqlite_url: str, tmp_path: Path
) -> None:
    """QA: two inactive people without a login sharing a crew email (Chris and Dana Park):
    a card for Dana took over Chris's record (the first by id), renamed it, kept Chris's
    phone. A new hire given a departed person's email took over their record too. Only the
    one person holding the email under the card's own name comes back; otherwise the card
    is created as before (a user here), and the inactive people stay as they are."""
    with served(users=2, vendors=1, people=3, projects=0) as srv:
        state = srv.state
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["users", "vendors", "people"])
        chris, dana, left = list(state.people.values())[:3]
        for p, first, last, email in (
            (chris, "Chris", "Park", "crew@parkbros.example"),
            (dana, "Dana", "Park", "crew@parkbros.example"),
            (left, "Lou", "Gone", "lou@gone.example"),
        ):
            p.update(first_name=first, last_name=last, email_address=email, active=False, user_id=None)
        assert site.sync().errors == []
        users, people = set(state.users), set(state.people)
        (folder / "dana.vcf").write_text(card("dana", "Dana", "Park", "crew@parkbros.example"))
        (folder / "hire.vcf").write_text(card("hire", "Nia", "New", "lou@gone.example"))
        # Lou's phone and name, but a new email: not Lou's record under the old address
        left["mobile_phone"] = "+12125550140"
        (folder / "lou.vcf").write_text(card("lou", "Lou", "Gone", "lou@newsub.example", TEL="+12125550140"))
        report = site.sync()
        assert report.errors == [], report.as_json()
        assert state.people[dana["id"]]["active"] is True and state.people[dana["id"]]["first_name"] == "Dana"
        assert (
            state.people[chris["id"]]["active"] is False
            and state.people[chris["id"]]["first_name"] == "Chris"
        )
        assert state.people[left["id"]]["active"] is False and state.people[left["id"]]["first_name"] == "Lou"
        made = {u["email_address"].lower() for i, u in state.users.items() if i not in users}
        assert made == {"lou@gone.example", "lou@newsub.example"} and set(state.people) - people <= {
            p["id"] for p in state.people.values() if p.get("user_id") in set(state.users) - users
        }


def test_a_new_contact_like_no_inactive_person_still_becomes_a_user(sqlite_url: str, tmp_path: Path) -> None:
    """A create looks at Procore's inactive people without a login first; one matching none
    of them (another email, another phone) with an email and a last name is a new user, as
    before, and the inactive person stays inactive."""
    with served(users=2, vendors=1, people=3, projects=0) as srv:
        state = srv.state
        folder = tmp_path / "cards"
        folder.mkdir()
        site = Site(sqlite_url, srv, folder, objects=["users", "vendors", "people"])
        site.sync()
        person = next(p for p in state.people.values() if p.get("email_address"))
        card_of(folder, person).unlink()
        site.sync()
        assert state.people[person["id"]]["active"] is False
        (folder / "new.vcf").write_text(
            card("new-1", person["first_name"], person["last_name"], "someone.else@new.example")
        )
        made = site.sync()
        assert made.errors == [] and made.changes["procore"]["create"] == 1, made.as_json()
        assert "someone.else@new.example" in active_users(srv)
        assert state.people[person["id"]]["active"] is False
        assert site.sync().changes == {}


def test_a_dry_run_says_procore_refuses_a_user_without_an_email_or_last_name(site: Site) -> None:
    """A Procore user needs an email address and a last name, which the connector says
    before sending anything for the user: a dry run counted such a person as a Procore
    create, and said nothing. It says the real run's error instead, on every run the real
    one says it (refused as invalid: tried again until the person changes)."""
    site.sync()
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:desk", "FN:Front Desk", "N:;Front;;;", "ORG:Desk Works"]
    (site.folder / "desk.vcf").write_text("\r\n".join([*lines, "TEL:+12065550100", "END:VCARD", ""]))
    (site.folder / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@lee.example"))
    message = "Procore users need an email address and a last name"
    wanted = [{"connector": "procore", "record": "new Procore user for desk", "message": message}]
    for creates in (1, 0):
        dry = run_hub(site.engine, "site", options=Options(dry_run=True))
        real = site.sync()
        assert (dry.status, real.status) == ("planned", "applied")
        assert dry.errors == wanted, dry.as_json()
        assert dry.changes.get("procore", {}).get("create", 0) == creates, dry.as_json()  # Ann only
        assert (real.errors, real.changes) == (dry.errors, dry.changes), (dry.as_json(), real.as_json())
    assert "ann@lee.example" in active_users(site.srv)
    # its company was never made as a vendor for a user it refuses (it was, before the
    # refusal, on every run that tried the user again)
    assert "Desk Works" not in {v["name"] for v in site.srv.state.vendors.values()}


def test_an_address_edited_in_procore_replaces_the_one_it_held(site: Site) -> None:
    """QA: a card's address "Springfield, IL ... United States" is "US" in Procore (one
    address, ISO codes: ``read_back``); the admin then moved the user to another city in
    Procore. Merged against what Procore held, the hub's address (not that one as spelt)
    stayed beside the new one: two ADR lines in the card, both sent back to Procore. The
    address Procore held is the hub's, as the system keeps it: the new one replaces it."""
    state = site.srv.state
    site.sync()
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:new-1", "FN:Zoë Ångström", "N:Ångström;Zoë;;;"]
    lines += ["EMAIL:zoe.a@example.com", "ADR;TYPE=WORK:;;1 Main St;Springfield;IL;62701;United States"]
    (site.folder / "zoe.vcf").write_text("\r\n".join([*lines, "END:VCARD", ""]), encoding="utf-8")
    assert site.sync().errors == []
    made = active_users(site.srv)["zoe.a@example.com"]
    assert (made["city"], made["state_code"], made["country_code"]) == ("Springfield", "IL", "US")
    state.update_user(made["id"], {"city": "Chicago", "zip": "60601"})
    report = site.sync()
    assert report.errors == []
    text = (site.folder / "zoe.vcf").read_text(encoding="utf-8")
    adr = [line for line in text.splitlines() if line.upper().startswith("ADR")]
    assert len(adr) == 1 and "Chicago" in adr[0] and "60601" in adr[0], adr
    assert report.changes.get("procore", {}).get("update", 0) == 0, report.changes
    after = site.sync()
    assert after.changes == {} or not any(any(c.values()) for c in after.changes.values()), after.changes
