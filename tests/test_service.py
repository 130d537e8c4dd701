"""Unit tests for service.py: listing and deciding runs and conflicts, and their error paths,
on hubs of memory connectors over a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from contacthub import service
from contacthub.errors import NotFoundError, UserError
from contacthub.model import Contact, Email
from contacthub.store import tables as t
from tests.engine.harness import Hub


def person(i: int, **extra: Any) -> dict[str, Any]:
    fields = Contact(
        given_name=f"Given{i}", family_name=f"Family{i}", emails=[Email(f"p{i}@example.com", "work")]
    ).to_fields()
    fields.update(extra)
    return fields


def only(hub: Hub, name: str) -> dict[str, Any]:
    [item] = hub.book(name).items.values()
    return item.fields


def manual_conflict(url: str) -> tuple[Hub, dict[str, Any]]:
    hub = Hub(url, ["a", "b"], conflict="manual")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    a.edit("x", job_title="from a")
    b.edit(bid, job_title="from b")
    hub.sync()
    # one conflict per side, the hub keeping its value from before (none): b's
    conflicts = service.conflicts(hub.engine, "h")
    assert sorted((c["source"], c["incoming"]) for c in conflicts) == [("a", "from a"), ("b", "from b")]
    [conflict] = [c for c in conflicts if c["source"] == "b"]
    return hub, conflict


def held_run(url: str) -> tuple[Hub, int]:
    hub = Hub(url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(10):
        a.put(f"a{i}", person(i))
    hub.sync()
    for nid in list(b.items)[:5]:
        del b.items[nid]
    report = hub.sync()
    assert report.status == "held"
    return hub, report.run_id


def status_of(hub: Hub, run_id: int) -> str:
    with hub.engine.connect() as conn:
        return str(conn.execute(select(t.runs.c.status).where(t.runs.c.id == run_id)).scalar_one())


# --- unknown things ---------------------------------------------------------------------------


def test_unknown_hub(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a"])
    for call in (
        lambda: service.runs(hub.engine, "nope"),
        lambda: service.conflicts(hub.engine, "nope"),
        lambda: service.contacts_of(hub.engine, "nope"),
        lambda: service.sync(hub.engine, "nope"),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert "'nope'" in info.value.message and "hubs: h" in info.value.message


def test_unknown_run(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a"])
    for call in (service.show_run, service.approve, service.reject, service.undo):
        with pytest.raises(NotFoundError) as info:
            call(hub.engine, 999)
        assert info.value.message == "no run 999"


def test_unknown_conflict(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a"])
    with pytest.raises(NotFoundError, match="no conflict 42"):
        service.resolve(hub.engine, 42, "a")


# --- runs and show_run --------------------------------------------------------------------------


def test_runs_newest_first_and_show_run(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    first = hub.sync()
    second = hub.sync()
    listed = service.runs(hub.engine, "h")
    assert [r["id"] for r in listed] == [second.run_id, first.run_id]
    assert listed[1]["status"] == "applied" and listed[1]["hub"] == "h" and listed[1]["kind"] == "sync"
    assert listed[1]["changes"]["b"]["create"] == 1
    assert listed[0]["changes"] == {}
    assert service.runs(hub.engine, "h", limit=1) == listed[:1]
    shown = service.show_run(hub.engine, first.run_id)
    ops = {(c["connector"], c["op"]) for c in shown["journal"]}
    assert ops == {("hub", "create"), ("b", "create")}
    [created] = [c for c in shown["journal"] if c["connector"] == "b"]
    assert created["status"] == "done" and created["after"]["given_name"] == "Given1"
    assert created["record"] in hub.book("b").items
    assert service.show_run(hub.engine, second.run_id)["journal"] == []


# --- conflicts and resolve ----------------------------------------------------------------------


def test_resolve_with_a_name_that_is_not_a_side(database_url: str) -> None:
    hub, conflict = manual_conflict(database_url)
    with pytest.raises(UserError) as info:
        service.resolve(hub.engine, conflict["id"], "c")
    message = info.value.message
    assert not isinstance(info.value, NotFoundError)
    assert f"conflict {conflict['id']} is between" in message
    assert "a" in message.split("between")[1] and "b, hub" in message
    # nothing changed: the conflict is still open
    assert len(service.conflicts(hub.engine, "h")) == 2


def test_resolve_twice(database_url: str) -> None:
    hub, conflict = manual_conflict(database_url)
    result = service.resolve(hub.engine, conflict["id"], conflict["source"])
    assert result["value"] == conflict["incoming"] and result["field"] == "job_title"
    with pytest.raises(UserError) as info:
        service.resolve(hub.engine, conflict["id"], "hub")
    assert "already settled" in info.value.message and conflict["source"] in info.value.message
    settled = service.conflicts(hub.engine, "h", include_settled=True)
    assert {(c["status"], c["winner"]) for c in settled} == {("resolved", conflict["source"])}


def test_resolve_keeping_the_hub_value(database_url: str) -> None:
    hub, conflict = manual_conflict(database_url)
    kept = conflict["hub"]
    result = service.resolve(hub.engine, conflict["id"], "hub")
    assert result["value"] == kept
    runs = service.runs(hub.engine, "h")
    assert runs[0]["id"] == result["run"] and runs[0]["kind"] == "resolve"
    journal = service.show_run(hub.engine, result["run"])["journal"]
    assert journal[0]["before"] == {"job_title": kept} and journal[0]["after"] == {"job_title": kept}
    hub.sync()
    assert only(hub, "a").get("job_title") == only(hub, "b").get("job_title") == kept


def test_conflict_listing(database_url: str) -> None:
    _, conflict = manual_conflict(database_url)
    assert conflict["field"] == "job_title" and conflict["status"] == "open"
    assert conflict["name"] == "Given1 Family1"
    assert conflict["values"] == {"hub": None, "b": "from b"}
    assert conflict["winner"] is None


# --- held runs: approve and reject --------------------------------------------------------------


@pytest.mark.parametrize("decide", [service.approve, service.reject])
def test_only_a_held_run_can_be_decided(sqlite_url: str, decide: Any) -> None:
    hub = Hub(sqlite_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    applied = hub.sync()
    with pytest.raises(UserError) as info:
        decide(hub.engine, applied.run_id)
    assert f"run {applied.run_id} is applied, not held" in info.value.message
    assert status_of(hub, applied.run_id) == "applied"
    planned = hub.sync(dry_run=True)
    with pytest.raises(UserError, match="is planned, not held"):
        decide(hub.engine, planned.run_id)


def test_approve_then_approve_again(database_url: str) -> None:
    hub, run_id = held_run(database_url)
    report = service.approve(hub.engine, run_id)
    assert report.status == "applied"
    assert status_of(hub, run_id) == "approved"
    assert len(hub.book("a").items) == 5
    with pytest.raises(UserError, match="is approved, not held"):
        service.approve(hub.engine, run_id)
    with pytest.raises(UserError, match="is approved, not held"):
        service.reject(hub.engine, run_id)
    [latest, *_] = service.runs(hub.engine, "h")
    assert latest["kind"] == "approve" and latest["parent"] == run_id


def test_reject_then_approve(database_url: str) -> None:
    hub, run_id = held_run(database_url)
    assert service.reject(hub.engine, run_id).status == "applied"
    assert status_of(hub, run_id) == "rejected"
    assert len(hub.book("a").items) == len(hub.book("b").items) == 10
    with pytest.raises(UserError, match="is rejected, not held"):
        service.approve(hub.engine, run_id)


# --- undo -----------------------------------------------------------------------------------------


def test_only_an_applied_run_can_be_undone(sqlite_url: str, tmp_path: Path) -> None:
    hub, run_id = held_run(sqlite_url)
    with pytest.raises(UserError, match=f"run {run_id} is held; only an applied or failed run"):
        service.undo(hub.engine, run_id)
    other = Hub(f"sqlite:///{tmp_path}/other.db", ["a", "b"])
    other.book("a").put("x", person(1))
    planned = other.sync(dry_run=True)
    assert planned.status == "planned"
    with pytest.raises(UserError, match="is planned; only an applied or failed run"):
        service.undo(other.engine, planned.run_id)


def test_undo_is_a_new_run(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a", "b"])
    hub.book("a").put("x", person(1, job_title="Old"))
    hub.sync()
    hub.book("a").edit("x", job_title="New")
    run = hub.sync()
    undone = service.undo(hub.engine, run.run_id)
    assert undone.status == "applied" and undone.run_id != run.run_id
    [latest, *_] = service.runs(hub.engine, "h")
    assert latest["kind"] == "undo" and latest["parent"] == run.run_id
    assert only(hub, "b")["job_title"] == "Old"


def test_a_run_that_changed_nothing_has_nothing_to_undo(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    hub.sync()
    quiet = hub.sync()
    with pytest.raises(UserError, match=f"run {quiet.run_id} changed nothing: there is nothing to undo"):
        service.undo(hub.engine, quiet.run_id)
    assert service.runs(hub.engine, "h")[0]["id"] == quiet.run_id  # no new run


def test_a_run_that_only_found_records_again_has_nothing_to_undo(sqlite_url: str) -> None:
    """A record moved to a new id is journalled as a link, which no undo takes back: the
    undo was an empty run that then stood as "the undo" of it."""
    hub = Hub(sqlite_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    hub.sync()
    book = hub.book("a")
    book.items["y"] = book.items.pop("x")  # renamed, as a file is
    moved = hub.sync()
    assert moved.changes == {}
    rows = service.show_run(hub.engine, moved.run_id)["journal"]
    assert rows and {r["op"] for r in rows} <= {"link", "unlink"}
    with pytest.raises(UserError, match="changed nothing: there is nothing to undo"):
        service.undo(hub.engine, moved.run_id)


def test_a_run_undone_is_not_undone_twice_until_its_undo_is(database_url: str) -> None:
    """A second undo of a run found every change "changed again since" (by the first
    undo) and made an empty run whose error blamed the user's edits."""
    hub = Hub(database_url, ["a", "b"])
    hub.book("a").put("x", person(1, job_title="Old"))
    hub.sync()
    hub.book("a").edit("x", job_title="New")
    run = hub.sync()
    first = service.undo(hub.engine, run.run_id)
    with pytest.raises(UserError, match=f"run {run.run_id} is already undone \\(by run {first.run_id}\\)"):
        service.undo(hub.engine, run.run_id)
    redo = service.undo(hub.engine, first.run_id)  # the undo taken back: the run stands again
    assert redo.status == "applied" and only(hub, "b")["job_title"] == "New"
    again = service.undo(hub.engine, run.run_id)
    assert again.status == "applied" and not again.errors
    assert only(hub, "b")["job_title"] == "Old"


# --- contacts -----------------------------------------------------------------------------------


def test_contacts_of_with_search(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a"])
    hub.book("a").put("x", person(2, organization="ACME"))
    hub.book("a").put("y", person(1))
    hub.sync()
    everyone = service.contacts_of(hub.engine, "h")
    assert [c["display_name"] for c in everyone] == ["Given1 Family1", "Given2 Family2"]
    assert all(c["id"] for c in everyone)
    assert [c["given_name"] for c in service.contacts_of(hub.engine, "h", "acme")] == ["Given2"]
    assert service.contacts_of(hub.engine, "h", "nobody") == []
    # the names of the fields are not the contact's text: "value" or "primary" found everyone
    for word in ("value", "primary", "given_name", "true"):
        assert service.contacts_of(hub.engine, "h", word) == [], word


def test_names_sort_as_people_file_them() -> None:
    """The letters NFKD does not take apart go with the ones people file them under; case
    and accents aside (the list sorted them by code point, after Z)."""
    from contacthub.names import sort_key

    assert sort_key("Łukasz Øster") == "lukasz oster" == sort_key("LUKASZ OSTER")
    assert [sort_key(n) for n in ("Ærø", "Œuvre", "Þór", "Đorđe", "Straße", "Émile", "Ｋｅｎ")] == [
        "aero", "oeuvre", "thor", "dorde", "strasse", "emile", "ken",
    ]  # fmt: skip
    names = ["Zoë", "Émile", "Ángel", "Łukasz", "Eve", "Adam", "Lars"]
    assert sorted(names, key=sort_key) == ["Adam", "Ángel", "Émile", "Eve", "Lars", "Łukasz", "Zoë"]


def test_a_connectors_path_from_the_web_is_absolute(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard and the API have no hub file to take a relative path from: one is
    refused (the server's own folder is nobody's guess), and ``~`` is stored expanded."""
    from contacthub.errors import ConfigError
    from contacthub.store.db import open_database
    from contacthub.store.repo import Store

    engine = open_database(sqlite_url)
    service.create_hub(engine, "team")
    (tmp_path / "cards").mkdir()
    monkeypatch.chdir(tmp_path)  # where "cards" would be found
    with pytest.raises(ConfigError, match=r"path must be an absolute path \(or start with ~/\), not 'cards'"):
        service.add_connector(engine, "team", {"name": "a", "type": "vcard-dir"}, {"path": "cards"})
    monkeypatch.setenv("HOME", str(tmp_path))
    made = service.add_connector(engine, "team", {"name": "a", "type": "vcard-dir"}, {"path": "~/cards"})
    with pytest.raises(ConfigError, match="path must be an absolute path"):
        service.update_connector(engine, made, {}, {"path": "./cards"})
    with engine.connect() as conn:
        [row] = Store(conn).connectors(Store(conn).hub("team").id)
    assert row.settings["path"] == str(tmp_path / "cards")


def test_every_time_given_is_utc_with_its_zone(database_url: str) -> None:
    """SQLite hands stored times back without a zone: ``runs --json``, ``show --json``, the
    API's runs and a contact's history said ``2026-11-27T03:51:05.889782`` there, and
    ``+00:00`` on PostgreSQL. Each is UTC, and says so, on both."""
    from datetime import UTC, datetime, timedelta

    from contacthub.web import accounts

    hub = Hub(database_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    run = hub.sync().run_id
    [listed] = service.runs(hub.engine, "h")
    shown = service.show_run(hub.engine, run)
    [last] = [h["last_run"] for h in service.hubs(hub.engine) if h["name"] == "h"]
    [contact] = service.contacts_page(hub.engine, "h")
    history = service.contact(hub.engine, contact["id"])["history"]
    user = accounts.add_user(hub.engine, "ann@example.com", "correct horse battery")
    accounts.create_token(hub.engine, user, "ci")
    [token] = [t for t in accounts.tokens(hub.engine) if t["email"] == "ann@example.com"]
    given = [
        listed["started_at"],
        listed["finished_at"],
        shown["started_at"],
        shown["finished_at"],
        last["started_at"],
        *(h["at"] for h in history),
    ]
    assert len(given) == 7 and token["last_used_at"] is None
    # the tokens' listing keeps datetimes (``token list`` formats them), aware and UTC
    assert token["created_at"].utcoffset() == timedelta(0)
    for text in given:
        assert text.endswith("+00:00"), text
        assert abs(datetime.fromisoformat(text) - datetime.now(UTC)) < timedelta(minutes=5)
