"""Two-way sync between the Pipedrive emulator and a vCard folder through the real engine and
store: the first sync merges both sides, edits flow both ways, deletions follow, a 429 storm
converges, a refused record leaves the others synced, and a small daily budget spreads a
large first sync over runs without losing or doubling anyone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from contacthub import config
from contacthub.emulators.base import background
from contacthub.emulators.pipedrive import Settings, State, create_app
from contacthub.emulators.pipedrive_data import Company
from contacthub.engine.context import Options, Report
from contacthub.engine.run import run_hub
from contacthub.engine.undo import undo_preparer
from contacthub.store import tables as t
from contacthub.store.db import open_database

TOKEN = "sync-token"


@pytest.fixture
def emulator() -> Iterator[tuple[str, State]]:
    company = Company()
    company.seed(30)
    app = create_app(Settings(api_token=TOKEN, burst=400), company)
    with background(app) as url:
        yield url, app.state.pd


def card(uid: str, given: str, family: str, email: str, *extra: str) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{given} {family}", f"N:{family};{given};;;"]
    lines += [f"EMAIL;TYPE=work:{email}", *extra, "END:VCARD", ""]
    return "\r\n".join(lines)


class Hub:
    def __init__(self, url: str, sqlite_url: str, folder: Path, **pipedrive: Any) -> None:
        self.engine: Engine = open_database(sqlite_url)
        self.folder = folder
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "crm": {
                        "conflict": "newest",
                        "connectors": [
                            {
                                "name": "pipedrive",
                                "type": "pipedrive",
                                "base_url": url,
                                "api_token": TOKEN,
                                **pipedrive,
                            },
                            {"name": "cards", "type": "vcard-dir", "path": str(folder)},
                        ],
                    }
                }
            }
        )
        config.apply(self.engine, spec)

    def sync(self) -> Report:
        return run_hub(self.engine, "crm", options=Options())


def cards(folder: Path) -> dict[str, str]:
    """email -> the card's text, read plainly (not through contacthub's parser)."""
    out = {}
    for path in folder.glob("*.vcf"):
        text = path.read_text(encoding="utf-8").replace("\r\n ", "")
        for line in text.splitlines():
            if line.upper().startswith("EMAIL") or ".EMAIL" in line.upper().split(":")[0]:
                out.setdefault(line.split(":", 1)[1].lower(), text)
                break
    return out


def live(state: State) -> list[dict[str, Any]]:
    return [p for p in state.company.persons.values() if not p["is_deleted"]]


def primary_email(person: dict[str, Any]) -> str:
    return str(next(e["value"] for e in person["emails"] if e["primary"])).lower()


def test_two_way_sync_with_a_vcard_folder(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    shared = primary_email(state.company.persons[2])
    (folder / "a.vcf").write_text(
        card(
            "a",
            "Ines",
            "Brandão",
            "ines@obra.example",
            "ORG:Obras Brandão Lda",
            "TITLE:Architect",
            "TEL;TYPE=CELL:+351 912 345 678",
        ),
        encoding="utf-8",
    )
    (folder / "b.vcf").write_text(card("b", "Chloé", "Nowak", shared, "NOTE:met in Lisbon"), encoding="utf-8")
    hub = Hub(url, sqlite_url, folder, full_every_hours=0)
    first = hub.sync()
    assert first.status == "applied" and first.errors == [], first.errors
    assert first.api_calls["pipedrive"]["GET"] >= 3 and first.api_calls["pipedrive"]["POST"] >= 2
    persons = live(state)
    on_cards = cards(folder)
    assert len(persons) == 31 and len(on_cards) == 31  # 30 + Ines; the shared person merged
    assert {primary_email(p) for p in persons} == set(on_cards)
    ines = next(p for p in persons if primary_email(p) == "ines@obra.example")
    assert state.company.orgs[ines["org_id"]]["name"] == "Obras Brandão Lda"
    assert ines["phones"] == [{"value": "+351912345678", "primary": True, "label": "mobile"}]
    job = next(f["key"] for f in state.company.fields if f["name"] == "Job title" and f["edit_flag"])
    assert ines["custom_fields"][job] == "Architect"
    notes = next(f["key"] for f in state.company.fields if f["name"] == "Notes" and f["edit_flag"])
    assert state.company.persons[2]["custom_fields"][notes] == "met in Lisbon"
    seeded = state.company.persons[3]
    text = on_cards[primary_email(seeded)]
    assert f"TITLE:{seeded['custom_fields'][job]}" in text
    assert f"ORG:{state.company.orgs[seeded['org_id']]['name']}" in text.replace("\\", "")

    quiet = hub.sync()
    assert quiet.status == "applied" and quiet.errors == []
    assert all(sum(c.values()) == 0 for c in quiet.changes.values()), quiet.changes

    # an edit in Pipedrive reaches the card; an edit on a card reaches Pipedrive
    state.company.update_person(3, {"custom_fields": {job: "Chief estimator"}})
    (folder / "a.vcf").write_text(
        card("a", "Ines", "Brandão", "ines@obra.example", "ORG:Obras Brandão Lda", "TITLE:Partner"),
        encoding="utf-8",
    )
    edits = hub.sync()
    assert edits.errors == [], edits.errors
    assert "TITLE:Chief estimator" in cards(folder)[primary_email(seeded)]
    assert state.company.persons[ines["id"]]["custom_fields"][job] == "Partner"
    assert state.company.persons[ines["id"]]["phones"] == []

    # a person deleted in Pipedrive goes from the folder; a card deleted goes from Pipedrive
    state.company.delete_person(5)
    gone_email = primary_email(state.company.persons[5])
    (folder / "a.vcf").unlink()
    deletions = hub.sync()
    assert deletions.status == "applied" and deletions.errors == [], deletions.errors
    assert gone_email not in cards(folder)
    assert state.company.persons[ines["id"]]["is_deleted"] is True
    assert len(live(state)) == len(cards(folder)) == 29


@pytest.mark.parametrize("fault", ["429 storm", "server errors"])
def test_a_storm_of_refusals_converges(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path, fault: str
) -> None:
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    for i in range(12):
        (folder / f"c{i}.vcf").write_text(
            card(f"c{i}", f"Given{i}", "Storm", f"storm{i}@example.com"), encoding="utf-8"
        )
    if fault == "429 storm":
        state.settings.storm, state.settings.storm_wait = 0.5, 0
    else:
        state.settings.faults.error_rate = 0.15
    hub = Hub(url, sqlite_url, folder, page_size=5)
    reports = []
    for _ in range(8):
        reports.append(hub.sync())
        if reports[-1].status == "applied" and not reports[-1].errors:
            break
    if fault == "429 storm":
        assert state.rate_limited > 10
    assert reports[-1].status == "applied" and reports[-1].errors == []
    emails = sorted(primary_email(p) for p in live(state))
    assert len(emails) == len(set(emails)) == 42  # nobody twice
    assert len(cards(folder)) == 42


def test_a_refused_record_leaves_the_others_synced(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "long.vcf").write_text(card("long", "L" * 300, "Name", "long@example.com"), encoding="utf-8")
    (folder / "ok.vcf").write_text(card("ok", "Fine", "Person", "fine@example.com"), encoding="utf-8")
    hub = Hub(url, sqlite_url, folder)
    report = hub.sync()
    assert report.status == "applied"
    assert [e["connector"] for e in report.errors] == ["pipedrive"]
    assert "255" in report.errors[0]["message"]
    emails = {primary_email(p) for p in live(state)}
    assert "fine@example.com" in emails and "long@example.com" not in emails
    assert len(cards(folder)) == 32

    # refused as invalid (400): the person is not in Pipedrive, so every run tries the
    # create again and says why it failed (said once, the person stayed out for good)
    for _ in range(2):
        again = hub.sync()
        assert ["255" in e["message"] for e in again.errors] == [True], again.errors
        assert again.api_calls["pipedrive"].get("POST", 0) == 1, again
        assert "long@example.com" not in {primary_email(p) for p in live(state)}
    (folder / "long.vcf").write_text(card("long", "Lo", "Name", "long@example.com"), encoding="utf-8")
    fixed = hub.sync()
    assert fixed.errors == [] and fixed.changes["pipedrive"] == {"create": 1, "update": 0, "delete": 0}
    names = {primary_email(p): (p["first_name"], p["last_name"]) for p in live(state)}
    assert names["long@example.com"] == ("Lo", "Name")
    assert hub.sync().errors == []


def test_a_refused_update_is_tried_and_said_on_every_run_until_it_is_written(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """A job title over Pipedrive's 255 characters beside a new phone (QA): the update was
    refused with 400 once, then the link agreed on the person as they were, and every later
    run said "no changes" while Pipedrive kept the old phone and title for good. The person
    stays out of step: the update is sent, and its error said, on every run until it is
    written."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    hub = Hub(url, sqlite_url, folder)
    assert hub.sync().errors == []
    person = state.company.persons[4]
    email = primary_email(person)
    path = next(p for p in folder.glob("*.vcf") if email in p.read_text(encoding="utf-8").lower())
    job = next(f["key"] for f in state.company.fields if f["name"] == "Job title" and f["edit_flag"])
    old_title, old_phones = person["custom_fields"][job], person["phones"]
    given, family = person["first_name"], person["last_name"]
    long_title = "Senior " * 40 + "estimator"
    extra = (f"TITLE:{long_title}", "TEL;TYPE=work:+4930111222")
    path.write_text(card(path.stem, given, family, email, *extra), encoding="utf-8")

    for _ in range(3):
        refused = hub.sync()
        assert refused.status == "applied"
        assert ["longer than 255" in e["message"] for e in refused.errors] == [True], refused.errors
        assert refused.api_calls["pipedrive"].get("PATCH", 0) == 1, refused.api_calls
        kept = state.company.persons[4]
        assert (kept["custom_fields"][job], kept["phones"]) == (old_title, old_phones)

    path.write_text(card(path.stem, given, family, email, "TITLE:Estimator", extra[1]), encoding="utf-8")
    fixed = hub.sync()
    assert fixed.errors == [] and fixed.changes["pipedrive"]["update"] == 1, fixed
    written = state.company.persons[4]
    assert written["custom_fields"][job] == "Estimator"
    assert [p["value"] for p in written["phones"]] == ["+4930111222"]
    quiet = hub.sync()
    assert quiet.errors == [] and quiet.api_calls["pipedrive"].get("PATCH", 0) == 0


def test_a_person_deleted_in_pipedrive_and_edited_on_a_card_comes_back(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """Pipedrive's incremental listing (``updated_since``) leaves deletions out: the update
    found the person deleted, failed, and failed again on every run until the daily full
    listing. It is taken as the deletion: the person is created again in the same run."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "x1.vcf").write_text(
        card("x1", "Del", "Me", "delme@example.org", "TEL:+14155550100"), encoding="utf-8"
    )
    hub = Hub(url, sqlite_url, folder)  # a full listing once a day: the runs below are incremental
    assert hub.sync().errors == []
    old = next(p for p in live(state) if primary_email(p) == "delme@example.org")
    state.company.delete_person(old["id"])
    (folder / "x1.vcf").write_text(
        card("x1", "Del", "Me", "delme@example.org", "TEL:+14155550199"), encoding="utf-8"
    )
    report = hub.sync()
    assert report.status == "applied" and report.errors == [], report.errors
    back = [p for p in live(state) if primary_email(p) == "delme@example.org"]
    assert len(back) == 1 and back[0]["id"] != old["id"]
    assert [ph["value"] for ph in back[0]["phones"]] == ["+14155550199"]
    with hub.engine.connect() as conn:
        journal = {
            (r.op, r.status, r.native_id)
            for r in conn.execute(
                select(t.changes).where(
                    t.changes.c.run_id == report.run_id, t.changes.c.connector_name == "pipedrive"
                )
            )
        }
    assert journal == {
        ("update", "failed", str(old["id"])),  # it did not happen
        ("unlink", "done", str(old["id"])),
        ("create", "done", str(back[0]["id"])),
    }
    for _ in range(2):
        quiet = hub.sync()
        assert quiet.errors == [] and all(sum(c.values()) == 0 for c in quiet.changes.values())
    # an undo of that run takes back the card's edit everywhere; the person stays
    undo = run_hub(hub.engine, "crm", kind="undo", options=Options(), prepare=undo_preparer(report.run_id))
    assert undo.status == "applied" and undo.errors == [], undo.errors
    back = [p for p in live(state) if primary_email(p) == "delme@example.org"]
    assert [[ph["value"] for ph in p["phones"]] for p in back] == [["+14155550100"]]


def test_a_small_daily_budget_spreads_the_first_sync_over_runs(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    for i in range(40):
        (folder / f"c{i}.vcf").write_text(
            card(f"c{i}", f"Given{i}", "Budget", f"budget{i}@example.com"), encoding="utf-8"
        )
    state.settings.daily_tokens = 200
    hub = Hub(url, sqlite_url, folder, daily_reserve=20, create_organizations=False)
    day = hub.sync()
    assert day.status == "applied"
    deferred = [e for e in day.errors if "deferred" in e["message"]]
    assert deferred and len(deferred) == len(day.errors)
    written = len(live(state)) - 30
    assert 0 < written < 40 and written + len(deferred) == 40
    assert len(cards(folder)) == 70  # the other direction was not held back
    for _ in range(3):  # midnight, run again
        state.spent = 0
        report = hub.sync()
        if not report.errors:
            break
    assert report.errors == []
    emails = sorted(primary_email(p) for p in live(state))
    assert len(emails) == len(set(emails)) == 70


def test_oauth_sign_in_through_the_store_then_sync(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    from contacthub import service
    from tests.connectors.test_pipedrive import FollowingUI
    from tests.net import free_port

    url, state = emulator
    state.settings.client_id, state.settings.client_secret = "cid", "csecret"
    folder = tmp_path / "cards"
    folder.mkdir()
    engine = open_database(sqlite_url)
    settings = {
        "name": "pipedrive",
        "type": "pipedrive",
        "oauth_url": url,
        "client_id": "cid",
        "client_secret": "csecret",
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
    }
    spec = {
        "hubs": {
            "crm": {"connectors": [settings, {"name": "cards", "type": "vcard-dir", "path": str(folder)}]}
        }
    }
    config.apply(engine, config.HubFile.model_validate(spec))
    before = run_hub(engine, "crm", options=Options())
    assert before.status == "failed" and "contacthub connect" in (before.message or "")
    service.connect(engine, "crm", "pipedrive", FollowingUI())
    report = run_hub(engine, "crm", options=Options())
    assert report.status == "applied" and report.errors == [], report.message
    assert len(cards(folder)) == 30
    state.access.clear()  # the access token expires: the stored refresh token renews it
    (folder / "new.vcf").write_text(card("new", "Nova", "Pessoa", "nova@example.pt"), encoding="utf-8")
    again = run_hub(engine, "crm", options=Options())
    assert again.status == "applied" and again.errors == [], again.message
    assert "nova@example.pt" in {primary_email(p) for p in live(state)}


def test_the_token_never_shows_in_output(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from contacthub.cli import app

    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    Hub(url, sqlite_url, folder)
    runner = CliRunner()
    synced = runner.invoke(app, ["--database", sqlite_url, "sync", "crm", "--json"])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output)["status"] == "applied"
    listed = runner.invoke(app, ["--database", sqlite_url, "hubs", "--json"])
    assert listed.exit_code == 0 and "pipedrive" in listed.output
    state.settings.api_token = "rotated"  # the stored token is now refused
    failed = runner.invoke(app, ["--database", sqlite_url, "sync", "crm", "--json"])
    assert failed.exit_code != 0 and "refused the credentials" in failed.output
    for output in (synced.output, listed.output, failed.output):
        assert TOKEN not in output


def test_renaming_the_connector_keeps_its_links(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """A rename was a removal and a new connector: its records were linked again by email,
    and a person deleted in Pipedrive but not yet seen (until the next full listing) was
    written back there, a record an undo had left detached taken in again."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    hub = Hub(url, sqlite_url, folder)
    hub.sync()

    def named(name: str, base_url: str, token: str) -> config.HubFile:
        crm = {"name": name, "type": "pipedrive", "base_url": base_url, "api_token": token}
        cards = {"name": "cards", "type": "vcard-dir", "path": str(folder)}
        return config.HubFile.model_validate({"hubs": {"crm": {"connectors": [crm, cards]}}})

    # another token on the same URL is another company: a new connector, not a rename
    other = config.apply(hub.engine, named("other", url, "another-company-token"))
    assert any("other: created" in line for line in other) and any("removed" in line for line in other)
    config.apply(hub.engine, named("pipedrive", url, TOKEN))  # back (a new connector again)
    hub.sync()
    printed = config.apply(hub.engine, named("sales", url + "/", TOKEN))  # its last slash aside
    assert any("renamed from 'pipedrive'" in line for line in printed), printed
    report = hub.sync()
    assert report.changes == {} and report.errors == []
    assert len(live(state)) == len(cards(folder))


def test_a_full_read_after_settling_writes_nothing(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """What Pipedrive cannot hold as the hub has it (``read_back``): a display name other
    than its name parts (Pipedrive names a person "first last"), an untyped email (read
    as "work"), a pager (held as "other"), an organization spelled in another case. Once
    settled, the full read a settings save brings finds the person agreeing and writes
    nothing."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    org = next(o["name"] for o in state.company.orgs.values() if not o["is_deleted"])
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:e", "FN:Emma Stone (Supplier 0)", "N:Stone;Emma;;;"]
    lines += ["EMAIL:emma@stone.example", "TEL;TYPE=PAGER:+1 206 555 0100", f"ORG:{org.upper()}"]
    (folder / "e.vcf").write_text("\r\n".join([*lines, "END:VCARD", ""]), encoding="utf-8")
    hub = Hub(url, sqlite_url, folder, full_every_hours=0)
    assert hub.sync().errors == []
    made = next(p for p in live(state) if primary_email(p) == "emma@stone.example")
    assert made["name"] == "Emma Stone" and made["phones"][0]["label"] == "other"
    assert made["org_id"] is not None and state.company.orgs[made["org_id"]]["name"] == org
    hub.sync()
    for size in (100, 200):  # a settings save: every person is read again
        report = Hub(url, sqlite_url, folder, full_every_hours=0, page_size=size).sync()
        assert report.errors == []
        assert report.changes.get("pipedrive", {}).get("update", 0) == 0, report.changes
        assert report.api_calls["pipedrive"].get("PATCH", 0) == 0


def test_a_field_moved_to_another_custom_field_leaves_no_copy_under_the_old_name(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """The trade moved from Pipedrive's "Trade" to "Job": "Trade" still held it, read
    (unmapped now) as a new custom field ``custom.Trade`` and written everywhere (a new
    column of a plain CSV file), one value under two names. It is a leftover: emptied."""
    url, state = emulator
    trade, job = (state.company.add_field(name, "varchar", [])["key"] for name in ("Trade", "Job"))
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.vcf").write_text(card("a", "Ann", "Lee", "ann@lee.example", "X-TRADE:Electrician"))
    sheet = tmp_path / "plain.csv"
    engine = open_database(sqlite_url)

    def apply(place: str) -> None:
        crm = {"name": "pipedrive", "type": "pipedrive", "base_url": url, "api_token": TOKEN}
        cards_map = {"custom.trade": "X-TRADE"}
        connectors = [
            {**crm, "mapping": {"custom.trade": place}},
            {"name": "cards", "type": "vcard-dir", "path": str(folder), "mapping": cards_map},
            {"name": "plain", "type": "csv", "format": "plain", "path": str(sheet), "create": True},
        ]
        config.apply(engine, config.HubFile.model_validate({"hubs": {"crm": {"connectors": connectors}}}))

    apply("Trade")
    assert run_hub(engine, "crm", options=Options()).errors == []
    assert run_hub(engine, "crm", options=Options()).changes == {}
    [ann] = [p for p in live(state) if primary_email(p) == "ann@lee.example"]
    assert ann["custom_fields"][trade] == "Electrician"
    apply("Job")
    report = run_hub(engine, "crm", options=Options())
    assert report.errors == [] and report.conflicts == 0, report
    assert run_hub(engine, "crm", options=Options()).changes == {}
    assert ann["custom_fields"][job] == "Electrician" and not ann["custom_fields"].get(trade)
    header = sheet.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "custom.trade" in header and "custom.Trade" not in header


def test_a_birthday_without_a_year_leaves_the_date_field_empty_and_the_rest_written(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """Pipedrive's date field holds no date without a year (``BDAY:--0412``, as phones
    write it). Refused whole, such a person never reached Pipedrive, and a person whose
    birthday lost its year took no later edit. The field is emptied (an older date there
    removed, never given a made-up year), the rest written, and the hub keeps the
    birthday: the empty field is no deletion, and the runs after are quiet."""
    url, state = emulator
    birthday = next(f["key"] for f in state.company.fields if f["name"] == "Birthday" and f["edit_flag"])
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.vcf").write_text(
        card("a", "Ann", "Lee", "ann@lee.example", "TEL:+1 202 555 0100", "BDAY:--0412")
    )
    (folder / "b.vcf").write_text(
        card("b", "Bo", "Ek", "bo@ek.example", "TEL:+1 202 555 0111", "BDAY:1980-05-06")
    )
    hub = Hub(url, sqlite_url, folder)
    first = hub.sync()
    assert first.errors == [], first.errors
    by_email = {primary_email(p): p for p in live(state)}
    ann, bo = by_email["ann@lee.example"], by_email["bo@ek.example"]
    assert (ann["name"], ann["phones"][0]["value"]) == ("Ann Lee", "+12025550100")
    assert not ann["custom_fields"].get(birthday)
    assert bo["custom_fields"][birthday] == "1980-05-06"
    for _ in range(2):
        quiet = hub.sync()
        assert quiet.errors == [] and quiet.changes == {}, quiet
    assert "BDAY:--0412" in cards(folder)["ann@lee.example"]

    # the year leaves a card, with a new phone: the phone arrives, the old date goes
    (folder / "b.vcf").write_text(
        card("b", "Bo", "Ek", "bo@ek.example", "TEL:+1 202 555 0199", "BDAY:--0506")
    )
    edit = hub.sync()
    assert edit.errors == [], edit.errors
    assert edit.changes["pipedrive"]["update"] == 1
    assert bo["phones"] == [{"value": "+12025550199", "primary": True, "label": "work"}]
    assert not bo["custom_fields"].get(birthday)
    for _ in range(2):
        quiet = hub.sync()
        assert quiet.errors == [] and quiet.changes == {}, quiet
    assert "BDAY:--0506" in cards(folder)["bo@ek.example"]

    # a full date typed in Pipedrive later differs from the hub's birthday, which Pipedrive
    # never held: a conflict, settled by the policy (``newest``: the date typed, two
    # seconds on, past update_time's one-second resolution)
    state.company._last_time = time.time() + 2
    state.company.update_person(ann["id"], {"custom_fields": {birthday: "1990-04-12"}})
    taken = hub.sync()
    assert taken.errors == [] and taken.conflicts == 1, taken
    assert "BDAY:1990-04-12" in cards(folder)["ann@lee.example"]
    assert ann["custom_fields"][birthday] == "1990-04-12"
    assert hub.sync().changes == {}


def test_a_phone_with_an_extension_re_punctuated_in_pipedrive_is_no_edit(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """A phone with an extension stays as written in the hub (E.164 has no extension).
    Re-punctuated in Pipedrive, same number and extension, it was taken for an edit: the
    hub's value replaced and the card rewritten. Another extension is an edit."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.vcf").write_text(
        card("a", "Ann", "Lee", "ann@lee.example", "TEL;TYPE=WORK:+1 202 555 0147 ext. 12")
    )
    hub = Hub(url, sqlite_url, folder)
    assert hub.sync().errors == []
    assert hub.sync().changes == {}
    before = (folder / "a.vcf").read_bytes()
    [ann] = [p for p in live(state) if primary_email(p) == "ann@lee.example"]
    phone = {"value": "+1 (202) 555-0147 ext. 12", "primary": True, "label": "work"}
    state.company.update_person(ann["id"], {"phones": [phone]})
    for _ in range(2):
        quiet = hub.sync()
        assert quiet.errors == [] and quiet.changes == {}, quiet
    assert (folder / "a.vcf").read_bytes() == before
    assert ann["phones"] == [phone]  # Pipedrive keeps its spelling

    state.company.update_person(ann["id"], {"phones": [{**phone, "value": "+1 (202) 555-0147 ext. 13"}]})
    edit = hub.sync()
    assert edit.errors == [] and edit.changes["cards"]["update"] == 1, edit
    assert "555-0147 ext. 13" in (folder / "a.vcf").read_text()


@pytest.mark.parametrize("policy", ["manual", "newest"])
def test_a_first_name_edited_in_pipedrive_under_a_display_name_it_cannot_hold_is_no_conflict(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path, policy: str
) -> None:
    """Pipedrive makes a person's name of the first and last name it is sent: the plain
    CSV's "Zoë Ł. Müller" (Zoë, Müller) is "Zoë Müller" there. Her first name edited there
    alone (API v2 PATCH) is a rename only Pipedrive made: compared with that baseline as it
    was, the hub's unchanged name seemed changed too, and the rename was two name conflicts
    naming the CSV file as a side (held open under ``manual``). It applies, and the hub's
    name takes the new first name where it stands in it."""
    url, state = emulator
    sheet = tmp_path / "plain.csv"
    sheet.write_text(
        "display_name,given_name,family_name,emails\nZoë Ł. Müller,Zoë,Müller,work:zoe@acme.test\n",
        encoding="utf-8",
    )
    engine = open_database(sqlite_url)
    crm = {"name": "pipedrive", "type": "pipedrive", "base_url": url, "api_token": TOKEN}
    plain = {"name": "plain", "type": "csv", "format": "plain", "path": str(sheet)}
    hub = {"conflict": policy, "connectors": [plain, crm]}
    config.apply(engine, config.HubFile.model_validate({"hubs": {"crm": hub}}))
    assert run_hub(engine, "crm", options=Options()).errors == []
    assert run_hub(engine, "crm", options=Options()).changes == {}
    [zoe] = [p for p in live(state) if primary_email(p) == "zoe@acme.test"]
    assert (zoe["name"], zoe["first_name"], zoe["last_name"]) == ("Zoë Müller", "Zoë", "Müller")
    answer = httpx.patch(
        f"{url}/api/v2/persons/{zoe['id']}",
        params={"api_token": TOKEN},
        json={"first_name": "Zara", "last_name": "Müller"},
    )
    answer.raise_for_status()
    report = run_hub(engine, "crm", options=Options())
    assert report.errors == [] and report.conflicts == 0, report
    with engine.connect() as conn:
        assert conn.execute(select(t.conflicts)).all() == []
    assert "Zara Ł. Müller,Zara,Müller," in sheet.read_text(encoding="utf-8")
    assert (zoe["name"], zoe["first_name"]) == ("Zara Müller", "Zara")
    assert run_hub(engine, "crm", options=Options()).changes == {}


def test_an_edit_leaves_a_person_in_its_own_organization_of_a_shared_name(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """Two organizations named alike: an edit of the job title does not move the person to
    the other (older) one; a move to that name joins the oldest of them."""
    url, state = emulator
    company = state.company
    older, newer = company.add_org("Twin Corp")["id"], company.add_org("Twin Corp")["id"]
    person = company.persons[5]
    company.update_person(5, {"org_id": newer})
    folder = tmp_path / "cards"
    folder.mkdir()
    hub = Hub(url, sqlite_url, folder, full_every_hours=0)
    assert hub.sync().errors == []
    path = next(p for p in folder.glob("*.vcf") if "Twin Corp" in p.read_text(encoding="utf-8"))
    job = next(f["key"] for f in company.fields if f["name"] == "Job title" and f["edit_flag"])
    retitle(path, "TITLE", "TITLE:Chief estimator")
    assert hub.sync().errors == []
    assert person["custom_fields"][job] == "Chief estimator"
    assert person["org_id"] == newer
    other = next(p for p in company.persons.values() if p["id"] != 5 and not p["is_deleted"])
    other_path = next(
        p for p in folder.glob("*.vcf") if primary_email(other) in p.read_text(encoding="utf-8").lower()
    )
    retitle(other_path, "ORG", "ORG:twin  corp")
    assert hub.sync().errors == []
    assert other["org_id"] == older and person["org_id"] == newer


def retitle(path: Path, prop: str, line: str) -> None:
    """The card at ``path`` with its ``prop`` lines replaced by ``line``."""
    lines = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln and not ln.upper().startswith((prop + ":", prop + ";"))
    ]
    lines.insert(len(lines) - 1, line)
    path.write_text("\r\n".join([*lines, ""]), encoding="utf-8")


def test_a_dry_run_says_an_option_pipedrive_lacks_as_the_real_run_does(
    emulator: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    """A value Pipedrive cannot hold (no such option) is refused before anything is sent
    (``Unwritable``), on every run until it changes: a dry run counted it as a create or
    an update, and said nothing. It says the real run's error instead, and counts what the
    real run counts."""
    url, state = emulator
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.vcf").write_text(card("a", "Ann", "Lee", "ann@lee.example", "X-KIND:Alien"))
    engine = open_database(sqlite_url)
    crm = {"name": "pipedrive", "type": "pipedrive", "base_url": url, "api_token": TOKEN}
    cards_map = {"custom.Customer type": "X-KIND"}
    connectors = [crm, {"name": "cards", "type": "vcard-dir", "path": str(folder), "mapping": cards_map}]
    config.apply(engine, config.HubFile.model_validate({"hubs": {"crm": {"connectors": connectors}}}))
    refused = "'Customer type' has no option 'Alien'"

    def dry_then_real() -> tuple[Report, Report]:
        dry = run_hub(engine, "crm", options=Options(dry_run=True))
        real = run_hub(engine, "crm", options=Options())
        assert (dry.status, real.status) == ("planned", "applied"), (dry, real)
        assert (real.errors, real.changes) == (dry.errors, dry.changes), (dry.as_json(), real.as_json())
        return dry, real

    for _ in range(2):  # refused as invalid: tried, and said, on every run
        dry, _real = dry_then_real()
        wanted = [{"connector": "pipedrive", "record": "new pipedrive person for a", "message": refused}]
        assert dry.errors == wanted and "pipedrive" not in dry.changes, dry.as_json()
    assert "ann@lee.example" not in {primary_email(p) for p in live(state)}

    person = state.company.persons[4]
    email = primary_email(person)
    path = next(p for p in folder.glob("*.vcf") if email in p.read_text(encoding="utf-8").lower())
    path.write_text(card(path.stem, person["first_name"], person["last_name"], email, "X-KIND:Alien"))
    dry, _real = dry_then_real()
    wanted = [
        {"connector": "pipedrive", "record": "new pipedrive person for a", "message": refused},
        {"connector": "pipedrive", "record": f"pipedrive person {person['id']}", "message": refused},
    ]
    assert sorted(dry.errors, key=str) == sorted(wanted, key=str), dry.as_json()
    assert dry.changes.get("pipedrive", {}).get("update", 0) == 0, dry.as_json()
