"""Acceptance scenarios for the engine (after vdirsyncer's test_sync.py), on memory books and
a real store, over SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from contacthub import service
from contacthub.engine import inbound
from contacthub.engine import run as run_module
from contacthub.errors import UserError
from contacthub.model import Contact, Email, Phone
from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.memory_connector import same_people


def person(i: int, **extra: object) -> dict:
    fields = Contact(
        given_name=f"Given{i}",
        family_name=f"Family{i}",
        emails=[Email(f"p{i}@example.com", "work")],
    ).to_fields()
    fields.update(extra)
    return fields


def _plain(fields: dict, like: dict) -> dict:
    """The values of ``fields`` in the fields of ``like``, an element by its value or street."""
    return {
        k: [e.get("value") or e.get("street") for e in fields.get(k) or ()]
        if isinstance(like[k], list)
        else fields.get(k)
        for k in like
    }


def only(book) -> dict:
    [item] = book.items.values()
    return item.fields


def test_upload_and_update(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    assert hub.sync().status == "applied"
    [bid] = b.items
    b.edit(bid, job_title="Foreman")
    hub.sync()
    assert only(a)["job_title"] == "Foreman"
    b.put("y", person(2))
    hub.sync()
    assert len(a.items) == 2
    a.edit("x", notes="updated in a")
    hub.sync()
    assert b.items[bid].fields["notes"] == "updated in a"


def test_already_synced_writes_nothing(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(5):
        a.put(f"a{i}", person(i))
    hub.sync()
    writes = (a.writes, b.writes)
    report = hub.sync()
    assert report.changes == {}
    assert (a.writes, b.writes) == writes


def test_runs_report_the_api_calls_of_each_connector(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    hub.book("a").put("x", person(1))
    report = hub.sync()
    assert report.api_calls == {"a": {"LIST": 1}, "b": {"LIST": 1, "WRITE": 1}}
    assert report.as_json()["api_calls"] == report.api_calls
    [shown] = [r for r in service.runs(hub.engine, "h") if r["id"] == report.run_id]
    assert shown["api_calls"]["b"]["WRITE"] == 1
    dry = hub.sync(dry_run=True)
    assert dry.api_calls == {"a": {"LIST": 1}, "b": {"LIST": 1}}


def test_matching_links_instead_of_duplicating(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b", "c"])
    hub.book("a").put("a1", person(1, job_title="Engineer"))
    hub.book("b").put(
        "b1",
        {
            **person(1, organization="ACME"),
            "emails": [{"value": "p1@example.com", "type": "", "primary": True}],
        },
    )
    phone = {"value": "+12025550100", "type": "cell", "primary": True}
    hub.book("c").put(
        "c1",
        {
            "given_name": "Given1",
            "family_name": "Family1",
            "display_name": "Given1 Family1",
            "phones": [phone],
        },
    )
    hub.book("a").edit("a1", phones=[phone])
    report = hub.sync()
    assert report.changes["hub"]["create"] == 1
    for name in "abc":
        assert len(hub.book(name).items) == 1, name
    merged = only(hub.book("c"))
    assert merged["organization"] == "ACME" and merged["job_title"] == "Engineer"
    assert merged["emails"][0]["value"] == "p1@example.com"


def test_field_edits_on_both_sides_merge(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    a.edit("x", job_title="Site manager")
    b.edit(bid, organization="Builders Inc")
    report = hub.sync()
    assert report.conflicts == 0
    for book in (a, b):
        fields = only(book)
        assert fields["job_title"] == "Site manager" and fields["organization"] == "Builders Inc"


def test_emails_added_on_both_sides_both_survive(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    a.edit(
        "x",
        emails=[*only(a)["emails"], {"value": "home@a.example", "type": "home", "primary": False}],
    )
    b.edit(bid, emails=[*only(b)["emails"], {"value": "other@b.example", "type": "", "primary": False}])
    hub.sync()
    for book in (a, b):
        values = {e["value"] for e in only(book)["emails"]}
        assert values == {"p1@example.com", "home@a.example", "other@b.example"}
    # a removal on one side removes it everywhere
    a.edit("x", emails=[e for e in only(a)["emails"] if e["value"] != "other@b.example"])
    hub.sync()
    assert {e["value"] for e in only(b)["emails"]} == {"p1@example.com", "home@a.example"}


@pytest.mark.parametrize("policy,expect", [("newest", "from b"), ("priority", "from a")])
def test_conflict_policies(database_url: str, policy: str, expect: str) -> None:
    hub = Hub(database_url, ["a", "b"], conflict=policy)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    a.edit("x", job_title="from a")
    b.edit(bid, job_title="from b")  # later, so newer
    report = hub.sync()
    assert report.conflicts == 1
    assert only(a)["job_title"] == only(b)["job_title"] == expect
    settled = service.conflicts(hub.engine, "h", include_settled=True)
    assert settled[0]["status"] == "auto"
    assert {settled[0]["hub"], settled[0]["incoming"]} == {"from a", "from b"}  # the loser is kept


def test_resolving_one_part_of_a_name_decides_the_whole_name(database_url: str) -> None:
    """A family name edited on two sides opens a conflict on it and one on the display
    name: resolving one left the other open, and the books showed the chosen family name
    under another full name until a second decision."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, display_name="Given1 Family1"))
    hub.sync()
    [bid] = b.items
    a.edit("x", family_name="Rossi", display_name="Given1 Rossi")
    b.edit(bid, family_name="Lee", display_name="Given1 Lee")
    hub.sync()
    open_ = service.conflicts(hub.engine, "h")
    assert sorted((x["field"], x["source"]) for x in open_) == [
        ("display_name", "a"),
        ("display_name", "b"),
        ("family_name", "a"),
        ("family_name", "b"),
    ]
    [family] = [x for x in open_ if x["field"] == "family_name" and x["source"] == "b"]
    service.resolve(hub.engine, family["id"], "b")
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    for book in (a, b, c):
        assert (only(book)["family_name"], only(book)["display_name"]) == ("Lee", "Given1 Lee")
    assert hub.sync().changes == {}


def test_resolving_a_name_takes_the_parts_the_chosen_side_left_as_they_were(database_url: str) -> None:
    """b changed only the family name; a and c changed the given name too. Taking b's
    name left the given-name conflict (a against c) open, and cards read "Jones;Alicia"."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, given_name="Alice", family_name="Smith", display_name="Alice Smith"))
    hub.sync()
    [bid], [cid] = b.items, c.items
    a.edit("x", given_name="Alicia", display_name="Alicia Smith")
    b.edit(bid, family_name="Jones", display_name="Alice Jones")
    c.edit(cid, given_name="Ali", family_name="Smyth", display_name="Ali Smyth")
    hub.sync()
    open_ = service.conflicts(hub.engine, "h")
    assert {x["field"] for x in open_} == {"display_name", "given_name", "family_name"}
    [display] = [x for x in open_ if x["field"] == "display_name" and "b" in x["values"]]
    service.resolve(hub.engine, display["id"], "b")
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    for book in (a, b, c):
        name = only(book)
        assert (name["given_name"], name["family_name"], name["display_name"]) == (
            "Alice",
            "Jones",
            "Alice Jones",
        )
    assert hub.sync().changes == {}


@pytest.mark.parametrize("take", ["a", "b"])
def test_a_name_is_decided_whole(database_url: str, take: str) -> None:
    """b's rename also dropped the accent of the given name, which a did not change: it
    merged at once, on its own, and taking a's name left "Chloe" under "Chloé Nowak-Smith"
    everywhere. A part only one side changed is part of that side's rival name."""
    hub = Hub(database_url, ["a", "b"], conflict="manual")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, given_name="Chloé", family_name="Nowak", display_name="Chloé Nowak"))
    hub.sync()
    [bid] = b.items
    a.edit("x", family_name="Nowak-Smith", display_name="Chloé Nowak-Smith")
    b.edit(bid, given_name="Chloe", family_name="Nowakowska", display_name="Chloe Nowakowska")
    hub.sync()
    assert only(a)["given_name"] == "Chloé" and only(b)["given_name"] == "Chloe"  # each keeps its name
    [family] = [
        x for x in service.conflicts(hub.engine, "h") if x["field"] == "family_name" and x["source"] == "b"
    ]
    service.resolve(hub.engine, family["id"], take)
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    want = {"a": ("Chloé", "Nowak-Smith"), "b": ("Chloe", "Nowakowska")}[take]
    for book in (a, b):
        name = only(book)
        assert (name["given_name"], name["family_name"]) == want
        assert name["display_name"] == " ".join(want)
    assert hub.sync().changes == {}


@pytest.mark.parametrize("take", ["a", "b", None])
def test_two_sides_renaming_different_parts_make_no_mixed_name(database_url: str, take: str | None) -> None:
    """a changed the given name, b the family name, in one run: the hub's new given name
    went into b's card under b's new family name, "Alicia Smith", a name nobody typed,
    and stayed after b's name was chosen. Under ``newest`` (None) b, edited last, wins."""
    hub = Hub(database_url, ["a", "b"], conflict="newest" if take is None else "manual")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, given_name="Alice", family_name="Jones", display_name="Alice Jones"))
    hub.sync()
    [bid] = b.items
    a.edit("x", given_name="Alicia", display_name="Alicia Jones")
    b.edit(bid, family_name="Smith", display_name="Alice Smith")
    hub.sync()
    if take is not None:
        assert (only(a)["display_name"], only(b)["display_name"]) == ("Alicia Jones", "Alice Smith")
        assert (only(b)["given_name"], only(b)["family_name"]) == ("Alice", "Smith")  # b's name, whole
        [display] = [
            x
            for x in service.conflicts(hub.engine, "h")
            if x["field"] == "display_name" and x["source"] == "b"
        ]
        service.resolve(hub.engine, display["id"], take)
        assert service.conflicts(hub.engine, "h") == []
        hub.sync()
    want = {"a": ("Alicia", "Jones"), "b": ("Alice", "Smith"), None: ("Alice", "Smith")}[take]
    for book in (a, b):
        name = only(book)
        assert (name["given_name"], name["family_name"], name["display_name"]) == (*want, " ".join(want))
    assert hub.sync().changes == {}


def test_taking_the_name_of_a_file_without_display_names_renames_the_person(database_url: str) -> None:
    """c (an Outlook file) holds no display name: taking its given name left the display
    name made from the old parts, every card reading "Alicia Jones" over given name Ally."""
    held = ["given_name", "family_name", "emails"]
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual", c={"fields": held})
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, given_name="Alice", family_name="Jones", display_name="Alice Jones"))
    hub.sync()
    [cid] = c.items
    a.edit("x", given_name="Alicia", display_name="Alicia Jones")
    c.edit(cid, given_name="Ally")
    hub.sync()
    [given] = [
        x for x in service.conflicts(hub.engine, "h") if x["field"] == "given_name" and x["source"] == "c"
    ]
    service.resolve(hub.engine, given["id"], "c")
    hub.sync()
    for book in (a, b):
        assert (only(book)["given_name"], only(book)["display_name"]) == ("Ally", "Ally Jones")
    assert only(c)["given_name"] == "Ally"
    assert hub.sync().changes == {}


def test_priority_decides_a_name_whole(database_url: str) -> None:
    """The given name was held by c, the family and display names by a: b (to-hub, so it
    never agreed since) renaming the whole person won the given name only, against c's
    lower priority, and every card read "Alicia Jones" over given name Bob."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="priority", b={"direction": "to-hub"})
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, given_name="Alice", family_name="Smith", display_name="Alice Smith"))
    b.put("y", person(1, given_name="Alice", family_name="Smith", display_name="Alice Smith"))
    hub.sync()
    [cid] = c.items
    c.edit(cid, given_name="Alicia", display_name="Alicia Smith")
    hub.sync()
    a.edit("x", family_name="Jones", display_name="Alicia Jones")
    hub.sync()
    b.edit("y", given_name="Bob", family_name="Brown", display_name="Bob Brown")
    hub.sync()
    names = {
        (only(book)["given_name"], only(book)["family_name"], only(book)["display_name"]) for book in (a, c)
    }
    assert len(names) == 1
    [(given, family, shown)] = names
    assert shown == f"{given} {family}" and (given, family) in {("Alicia", "Jones"), ("Bob", "Brown")}
    assert hub.sync().changes == {}


def test_a_file_without_display_names_renaming_another_part_opens_a_conflict(database_url: str) -> None:
    """c holds no display name, so no display-name conflict showed the rival names: a's new
    family name and c's new given name merged into "Ally Jones" with no conflict at all."""
    held = ["given_name", "family_name", "emails"]
    hub = Hub(database_url, ["a", "c"], conflict="manual", c={"fields": held})
    a, c = hub.book("a"), hub.book("c")
    a.put("x", person(1, given_name="Alice", family_name="Smith", display_name="Alice Smith"))
    hub.sync()
    [cid] = c.items
    a.edit("x", family_name="Jones", display_name="Alice Jones")
    c.edit(cid, given_name="Ally")
    hub.sync()
    # each side's name against the hub's of before, c's as the hub would show it
    rivals = {(x["source"], x["field"], x["hub"], x["incoming"]) for x in service.conflicts(hub.engine, "h")}
    assert rivals == {
        ("a", "family_name", "Smith", "Jones"),
        ("a", "display_name", "Alice Smith", "Alice Jones"),
        ("c", "given_name", "Alice", "Ally"),
        ("c", "display_name", "Alice Smith", "Ally Smith"),
    }
    assert (only(a)["given_name"], only(a)["family_name"]) == ("Alice", "Jones")  # each keeps its name
    assert (only(c)["given_name"], only(c)["family_name"]) == ("Ally", "Smith")
    assert hub.sync().changes == {}


@pytest.mark.parametrize("policy", ["newest", "priority", "manual"])
def test_a_new_display_name_and_a_new_family_name_elsewhere_make_no_mixed_name(
    database_url: str, policy: str
) -> None:
    """a changed only the display name, "Ally Smith"; b (a file with no display name) the
    family name, "Jones", in the same run. b's new family name went into a's display name,
    "Ally Jones", a name nobody typed. One side's name wins whole: b under ``newest`` (edited
    last), its display name made from its parts as it holds none; a under ``priority``
    (first in the hub); under ``manual`` a conflict, each side keeping its own name."""
    held = ["given_name", "family_name", "emails"]
    hub = Hub(database_url, ["a", "b"], conflict=policy, b={"fields": held})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, given_name="Alicia", family_name="Smith", display_name="Alicia Smith"))
    hub.sync()
    [bid] = b.items
    a.edit("x", display_name="Ally Smith")
    b.edit(bid, family_name="Jones")
    hub.sync()
    names = {
        book: (
            only(hub.book(book))["display_name"] if book == "a" else None,
            only(hub.book(book))["family_name"],
        )
        for book in "ab"
    }
    if policy == "newest":
        assert names == {"a": ("Alicia Jones", "Jones"), "b": (None, "Jones")}
    elif policy == "priority":
        assert names == {"a": ("Ally Smith", "Smith"), "b": (None, "Smith")}
    else:
        assert names == {"a": ("Ally Smith", "Smith"), "b": (None, "Jones")}
        hub.sync()  # open until a person decides: b's rival name shown as it would read
        rival = {(x["source"], x["field"], x["incoming"]) for x in service.conflicts(hub.engine, "h")}
        assert rival == {
            ("a", "display_name", "Ally Smith"),
            ("b", "family_name", "Jones"),
            ("b", "display_name", "Alicia Jones"),
        }
        [family] = [x for x in service.conflicts(hub.engine, "h") if x["field"] == "family_name"]
        service.resolve(hub.engine, family["id"], "b")
        hub.sync()
        assert (only(a)["display_name"], only(a)["family_name"], only(b)["family_name"]) == (
            "Alicia Jones",
            "Jones",
            "Jones",
        )
    assert hub.sync().changes == {}


def test_a_side_outside_a_name_conflict_keeps_its_whole_name_until_it_is_decided(
    database_url: str,
) -> None:
    """o's new given name and g's new family name wait for a person; v, which edited
    nothing, got the display name made from o's given name over its own parts: "Alicia
    Smith" over "Smith;Alice"."""
    held = {"fields": ["given_name", "family_name", "emails"]}
    hub = Hub(database_url, ["v", "o", "g"], conflict="manual", o=held, g=held)
    v, o, g = hub.book("v"), hub.book("o"), hub.book("g")
    v.put("x", person(1, given_name="Alice", family_name="Smith", display_name="Alice Smith"))
    hub.sync()
    [oid], [gid] = o.items, g.items
    o.edit(oid, given_name="Alicia")
    g.edit(gid, family_name="Jones")
    hub.sync()
    assert service.conflicts(hub.engine, "h")
    card = only(v)
    assert (card["given_name"], card["family_name"], card["display_name"]) == (
        "Alice",
        "Smith",
        "Alice Smith",
    )
    assert hub.sync().changes == {}
    [family] = [x for x in service.conflicts(hub.engine, "h") if x["field"] == "family_name"]
    service.resolve(hub.engine, family["id"], "g")
    hub.sync()
    card = only(v)
    assert (card["given_name"], card["family_name"], card["display_name"]) == (
        "Alice",
        "Jones",
        "Alice Jones",
    )
    assert hub.sync().changes == {}


def test_manual_conflict_waits_then_resolves(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], conflict="manual")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    a.edit("x", job_title="from a")
    b.edit(bid, job_title="from b")
    hub.sync()
    hub.sync()
    conflict = of_side(service.conflicts(hub.engine, "h"), "b")
    # until a person decides, each side keeps its own value: nothing is overwritten
    assert only(a)["job_title"] == "from a" and only(b)["job_title"] == "from b"
    service.resolve(hub.engine, conflict["id"], conflict["source"])
    hub.sync()
    assert only(a)["job_title"] == only(b)["job_title"] == conflict["incoming"]
    assert service.conflicts(hub.engine, "h") == []


def of_side(conflicts: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Of two sides' conflicts on a field (one per side, the hub keeping its value), the
    one holding ``source``'s value."""
    [mine] = [x for x in conflicts if x["source"] == source]
    return mine


def open_manual_conflict(database_url: str) -> tuple[Hub, Any]:
    hub = Hub(database_url, ["a", "b"], conflict="manual", threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    [bid] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    a.edit("x", job_title="from a")
    b.edit(bid, job_title="from b")
    hub.sync()
    conflicts = service.conflicts(hub.engine, "h")
    assert {(x["source"], x["hub"], x["incoming"]) for x in conflicts} == {
        ("a", None, "from a"),
        ("b", None, "from b"),
    }
    return hub, of_side(conflicts, "b")


def test_a_conflict_closes_when_its_person_is_deleted(database_url: str) -> None:
    """It stayed listed as open for good, and resolving it said the next sync carried it."""
    hub, conflict = open_manual_conflict(database_url)
    del hub.book("a").items["x"]
    hub.sync()
    assert service.conflicts(hub.engine, "h") == []
    with pytest.raises(UserError, match="already settled"):
        service.resolve(hub.engine, conflict["id"], conflict["source"])


def test_undoing_the_deletion_that_closed_a_conflict_opens_it_again(database_url: str) -> None:
    """The person came back with the hub's value everywhere, and the other side's value
    was gone with nothing left to resolve: the conflict offers it again."""
    hub, conflict = open_manual_conflict(database_url)
    a, b = hub.book("a"), hub.book("b")
    del a.items["x"]
    deleted = hub.sync()
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied", undone
    again = of_side(service.conflicts(hub.engine, "h"), "b")
    assert again["id"] == conflict["id"] and again["incoming"] == "from b"
    service.resolve(hub.engine, again["id"], again["source"])  # b's value is still there to take
    hub.sync()
    assert only_given(a, "Given1")["job_title"] == only_given(b, "Given1")["job_title"] == "from b"
    assert hub.sync().changes == {}


def test_conflicts_left_open_close_when_the_policy_is_no_longer_manual(database_url: str) -> None:
    """Switched to "newest", the open conflict kept the field waiting for a person, and a
    later edit on one side never arrived on the other."""
    hub, _ = open_manual_conflict(database_url)
    a, b = hub.book("a"), hub.book("b")
    hub.conflict = "newest"
    hub.apply()
    hub.sync()
    assert service.conflicts(hub.engine, "h") == []
    # closed, the hub's value kept: the one from before the conflict, both edits undone
    assert only_given(a, "Given1").get("job_title") is only_given(b, "Given1").get("job_title") is None
    a.edit("x", job_title="newest in a")
    hub.sync()
    assert only_given(b, "Given1")["job_title"] == "newest in a"
    assert hub.sync().changes == {}


@pytest.mark.parametrize("synced", [False, True])
def test_undoing_a_resolve_opens_its_conflict_again(database_url: str, synced: bool) -> None:
    """Undone, the resolve stayed resolved and the hub's old value went to every side, over
    the value of the side that had been chosen: the decision is taken back instead."""
    hub, conflict = open_manual_conflict(database_url)
    a, b = hub.book("a"), hub.book("b")
    done = service.resolve(hub.engine, conflict["id"], conflict["source"])
    if synced:
        hub.sync()
    assert service.undo(hub.engine, done["run"]).status == "applied"
    hub.sync()
    again = of_side(service.conflicts(hub.engine, "h"), "b")
    assert again["id"] == conflict["id"] and (again["hub"], again["incoming"]) == (None, "from b")
    assert only_given(b, "Given1")["job_title"] == "from b"  # the chosen side keeps its value
    if not synced:  # nothing was carried yet: every side still holds its own
        assert only_given(a, "Given1")["job_title"] == "from a"
    service.resolve(hub.engine, again["id"], "a")  # a person decides again (b's row offers a's value)
    hub.sync()
    assert only_given(a, "Given1")["job_title"] == only_given(b, "Given1")["job_title"] == "from a"
    assert hub.sync().changes == {}


def three_sides_in_conflict(database_url: str) -> tuple[Hub, Any, Any, Any]:
    """a says "from a", b "from b" (one conflict each), the hub and c still the old
    "Engineer"."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, job_title="Engineer"))
    hub.sync()
    a.edit("x", job_title="from a")
    b.edit(next(iter(b.items)), job_title="from b")
    hub.sync()
    conflicts = service.conflicts(hub.engine, "h")
    assert {(x["source"], x["hub"], x["incoming"]) for x in conflicts} == {
        ("a", "Engineer", "from a"),
        ("b", "Engineer", "from b"),
    }
    assert only(c)["job_title"] == "Engineer"
    return hub, a, b, c


def test_a_side_that_comes_round_to_the_other_sides_value_closes_the_conflict(database_url: str) -> None:
    """b's user typed a's value back: the conflict kept offering b's abandoned "from b", and
    resolving it for b wrote that everywhere, over what the person had just typed. Its
    sides agreeing, the value is the hub's, and reaches c."""
    hub, a, b, c = three_sides_in_conflict(database_url)
    b.edit(next(iter(b.items)), job_title="from a")
    hub.sync()
    assert service.conflicts(hub.engine, "h") == []
    assert only(a)["job_title"] == only(b)["job_title"] == only(c)["job_title"] == "from a"
    assert hub.sync().changes == {}


def test_the_first_side_taking_the_other_value_closes_the_conflict(database_url: str) -> None:
    """a took b's: the conflict stayed open as "from b" against "from b", and c kept its
    old value until someone resolved it."""
    hub, a, b, c = three_sides_in_conflict(database_url)
    a.edit("x", job_title="from b")
    hub.sync()
    assert service.conflicts(hub.engine, "h") == []
    assert only(a)["job_title"] == only(b)["job_title"] == only(c)["job_title"] == "from b"
    assert hub.sync().changes == {}


def only_given(book: Any, given: str) -> dict:
    [fields] = [i.fields for i in book.items.values() if i.fields["given_name"] == given]
    return fields


def test_deletion_propagates(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    [bx] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    del b.items[bx]
    hub.sync()
    assert [i.fields["given_name"] for i in a.items.values()] == ["Given2"]


def test_modification_beats_deletion(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    [bid] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    a.edit("x", notes="edited")
    del b.items[bid]
    assert hub.sync().status == "applied"
    assert a.items["x"].fields["notes"] == "edited"
    assert len(b.items) == 2
    assert [i.fields.get("notes") for i in b.items.values() if i.fields["given_name"] == "Given1"] == [
        "edited"
    ]


@pytest.mark.parametrize("when", ["runs before", "same run"])
def test_a_deletion_in_a_to_hub_connector_after_an_edit_elsewhere(database_url: str, when: str) -> None:
    """A to-hub connector never gets the hub's edits, so it never agrees with the hub once
    someone edits elsewhere: its later deletions were all taken for "modification beats
    deletion" and never arrived. Only an edit seen in the same run still wins."""
    hub = Hub(database_url, ["dst", "src"], src={"direction": "to-hub"}, threshold="50")
    src, dst = hub.book("src"), hub.book("dst")
    for i in range(3):
        src.put(f"s{i}", person(i))
    hub.sync()
    [pid] = [n for n, i in dst.items.items() if i.fields["given_name"] == "Given0"]
    dst.edit(pid, job_title="edited in dst")
    if when == "runs before":
        hub.sync()
        hub.sync()
    del src.items["s0"], src.items["s1"]
    hub.sync()
    left = sorted(i.fields["given_name"] for i in dst.items.values())
    assert left == (["Given2"] if when == "runs before" else ["Given0", "Given2"])
    assert hub.sync().changes == {}


def twenty_synced(database_url: str, **settings: Any) -> tuple[Hub, Any, Any]:
    """Books a and b holding the same 20 people after one run: deleting 6 of them (30 %)
    crosses the default delete threshold (over 10 % and at least 5)."""
    hub = Hub(database_url, ["a", "b"], **settings)
    a, b = hub.book("a"), hub.book("b")
    for i in range(20):
        a.put(f"a{i}", person(i))
    hub.sync()
    return hub, a, b


def delete_six(book: Any, keep: str | None = None) -> None:
    """Delete six records of ``book`` (never the one whose given name is ``keep``)."""
    for nid in [n for n, i in book.items.items() if i.fields["given_name"] != keep][:6]:
        del book.items[nid]


def test_delete_hold_approve_and_reject(database_url: str) -> None:
    hub, a, b = twenty_synced(database_url)
    delete_six(b)  # 30 % > 10 % and >= 5
    held = hub.sync()
    assert held.status == "held" and held.held
    assert len(a.items) == 20  # nothing written
    rejected = service.reject(hub.engine, held.run_id)
    assert rejected.status == "applied"
    assert len(a.items) == 20 and len(b.items) == 20  # put back
    delete_six(b)
    held = hub.sync()
    assert held.status == "held"
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved
    assert len(a.items) == 14 and len(b.items) == 14


def test_an_approve_lets_through_only_the_deletions_its_held_run_showed(database_url: str) -> None:
    """Six deleted from b, held; before the approve the person edits those six in a (the
    edit beats the deletion: they stay) and deletes six others from b. The approve let
    through "up to the held figures", a count, and deleted the six others everywhere
    though nobody saw them deleted (QA). Those are judged as in a sync: held again."""
    hub, a, b = twenty_synced(database_url)
    shown = [nid for nid in b.items][:6]
    names = {b.items[nid].fields["given_name"] for nid in shown}
    for nid in shown:
        del b.items[nid]
    held = hub.sync()
    assert held.status == "held"
    for nid, item in a.items.items():
        if item.fields["given_name"] in names:
            a.edit(nid, job_title="Kept")
    others = [nid for nid in b.items][:6]
    for nid in others:
        del b.items[nid]
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "held", approved.message
    said = f"6 of 20 records deleted in b that held run {held.run_id} did not show"
    assert said in (approved.message or "")
    assert len(a.items) == 20 and len(b.items) == 8  # nothing written: the edited six not back yet
    again = service.approve(hub.engine, approved.run_id)
    assert again.status == "applied", again.message
    assert len(a.items) == len(b.items) == 14
    assert {i.fields["given_name"] for i in a.items.values()} >= names
    assert hub.sync().changes == {}


def approve_held_again(database_url: str) -> tuple[Hub, Any, Any, Any, set[str], set[str]]:
    """Six deleted from b and held; six others deleted, then the held run approved: the
    approve's own run is held for the six its held run did not show. Returns the hub, the
    books, the held approve and the given names of the six approved and of the six later."""
    hub, a, b = twenty_synced(database_url)
    first = [nid for nid in b.items][:6]
    approved_names = {b.items[nid].fields["given_name"] for nid in first}
    for nid in first:
        del b.items[nid]
    held = hub.sync()
    assert held.status == "held"
    later = [nid for nid in b.items][:6]
    later_names = {b.items[nid].fields["given_name"] for nid in later}
    for nid in later:
        del b.items[nid]
    approve = service.approve(hub.engine, held.run_id)
    assert approve.status == "held", approve.message
    assert f"6 of 20 records deleted in b that held run {held.run_id} did not show" in (approve.message or "")
    return hub, a, b, approve, approved_names, later_names


def given_names(book: Any) -> set[str]:
    return {i.fields["given_name"] for i in book.items.values()}


def test_rejecting_an_approves_hold_refuses_only_what_that_hold_showed(database_url: str) -> None:
    """Rejecting the approve's own hold put back all twelve, the six the person had
    approved too, while the history still said the first hold was approved (QA). The
    reject refuses the six its hold named (put back) and carries out the approval: the six
    approved go everywhere, and both held runs say what happened."""
    hub, a, b, approve, approved_names, later_names = approve_held_again(database_url)
    rejected = service.reject(hub.engine, approve.run_id)
    assert rejected.status == "applied", rejected.message
    for book in (a, b):
        assert not given_names(book) & approved_names  # deleted, as approved
        assert given_names(book) >= later_names  # put back, as rejected
        assert len(book.items) == 14
    statuses = {r["id"]: r["status"] for r in service.runs(hub.engine, "h")}
    assert statuses[approve.run_id] == "rejected"
    assert statuses[approve.run_id - 1] == "approved"  # (the held run it approved)
    assert hub.sync().changes == {}
    assert len(a.items) == len(b.items) == 14


def test_a_killed_reject_of_an_approves_hold_carries_the_approval_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same reject killed before it committed anything: the sync carrying it on
    decides as the reject would have."""
    hub, a, b, approve, approved_names, later_names = approve_held_again(database_url)
    reject = lambda: service.reject(hub.engine, approve.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "pull", reject) == "running"
    after = hub.sync()
    assert after.status == "applied", after.message
    for book in (a, b):
        assert not given_names(book) & approved_names and given_names(book) >= later_names
    assert hub.sync().changes == {}


def test_approving_an_approves_hold_deletes_both(database_url: str) -> None:
    """The other way round: approving the approve's hold lets all twelve go."""
    hub, a, b, approve, approved_names, later_names = approve_held_again(database_url)
    again = service.approve(hub.engine, approve.run_id)
    assert again.status == "applied", again.message
    for book in (a, b):
        assert len(book.items) == 8 and not given_names(book) & (approved_names | later_names)
    assert hub.sync().changes == {}


def test_an_approve_lets_through_a_few_deletions_made_after_its_hold(database_url: str) -> None:
    """One deletion made after the hold is under the threshold, as in a sync: it goes
    with the approved ones, not held again."""
    hub, a, b = twenty_synced(database_url)
    delete_six(b)
    held = hub.sync()
    del b.items[next(iter(b.items))]
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved.message
    assert len(a.items) == len(b.items) == 13


def test_deletions_spread_over_connectors_are_held_by_the_hubs_share(database_url: str) -> None:
    """4 people deleted in a and 4 others in b, of 50: each connector's count stayed under
    "at least 5", and 16 % of the hub went from everywhere unheld (QA). The hub's own loss
    is held by the same threshold; reject keeps them all, approve lets them go."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(50):
        a.put(f"a{i}", person(i))
    hub.sync()

    def spread() -> None:
        for book, names in ((a, range(4)), (b, range(46, 50))):
            gone = {f"Given{i}" for i in names}
            for nid in [n for n, item in book.items.items() if item.fields["given_name"] in gone]:
                del book.items[nid]

    spread()
    held = hub.sync()
    assert held.status == "held", held.changes
    assert held.message == "8 of 50 hub contacts deleted (4 in a, 4 in b; threshold 10%)"
    assert [h["connector"] for h in held.as_json()["held"]] == ["hub"]
    assert len(a.items) == len(b.items) == 46  # nothing written
    rejected = service.reject(hub.engine, held.run_id)
    assert rejected.status == "applied", rejected.message
    assert len(a.items) == len(b.items) == 50
    spread()
    held = hub.sync()
    assert held.status == "held"
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved.message
    assert len(a.items) == len(b.items) == 42
    assert hub.sync().changes == {}


def test_deletions_under_the_hubs_share_in_two_connectors_go_through(database_url: str) -> None:
    """2 in a and 2 in b of 50: under every threshold, not held."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(50):
        a.put(f"a{i}", person(i))
    hub.sync()
    del a.items["a0"], a.items["a1"]
    for nid in [n for n, item in b.items.items() if item.fields["given_name"] in ("Given48", "Given49")]:
        del b.items[nid]
    assert hub.sync().status == "applied"
    assert len(a.items) == len(b.items) == 46


def test_emptied_connector_is_held_not_wiped_and_rejecting_writes_it_back(database_url: str) -> None:
    """The reject run is not held again for the same empty listing (it was, forever)."""
    hub = Hub(database_url, ["a", "b"], threshold="1000")
    a, b = hub.book("a"), hub.book("b")
    for i in range(3):
        a.put(f"a{i}", person(i))
    hub.sync()
    b.items.clear()
    held = hub.sync()
    assert held.status == "held" and "listed no records" in (held.message or "")
    assert len(a.items) == 3
    rejected = service.reject(hub.engine, held.run_id)
    assert rejected.status == "applied", rejected.message
    assert len(b.items) == 3 and len(a.items) == 3
    assert hub.sync().changes == {}


def test_a_held_run_a_later_run_superseded_cannot_be_approved_or_rejected(database_url: str) -> None:
    """An old held run stayed approvable: approving or rejecting it after a later run was
    held or applied made a run that said "applied" and did nothing of what it showed (QA:
    "reject 5" after "approve 6"). It is refused, naming the run that is current."""
    hub, a, b = twenty_synced(database_url)
    delete_six(b)
    old, current = hub.sync(), hub.sync()
    assert old.status == current.status == "held"
    for decide in (service.approve, service.reject):
        with pytest.raises(UserError, match=f"run {current.run_id} is the held run to approve or reject"):
            decide(hub.engine, old.run_id)
    assert len(a.items) == 20  # nothing was written
    assert service.approve(hub.engine, current.run_id).status == "applied"
    assert len(a.items) == 14
    # (the run that superseded it stays the one named: the hold after it, now approved)
    with pytest.raises(
        UserError, match=f"run {old.run_id} is out of date: run {current.run_id}, held after it, was approved"
    ):
        service.reject(hub.engine, old.run_id)
    assert len(a.items) == 14 and len(b.items) == 14
    with hub.engine.connect() as conn:
        assert conn.execute(select(t.runs.c.status).where(t.runs.c.id == old.run_id)).scalar() == "held"


def held_deletions(database_url: str) -> tuple[Hub, Any]:
    """Books a, b, c of 10 people, of whom 6 were then deleted from a: the run that held it."""
    hub = Hub(database_url, ["a", "b", "c"])
    a = hub.book("a")
    for i in range(10):
        a.put(f"a{i}", person(i))
    hub.sync()
    for nid in list(a.items)[:6]:
        del a.items[nid]
    held = hub.sync()
    assert held.status == "held"
    return hub, held


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_hold_a_sync_put_out_of_date_while_its_decision_waited_is_refused(
    database_url: str, decide: str
) -> None:
    """A decision waiting for the hub's lock behind a sync (the scheduler's, another
    shell's) that held a newer count: checked before the wait, the decision went ahead on
    the older hold when the lock came (QA). Checked under the lock, it is refused, naming
    the newer run, and nothing is written."""
    import threading

    from contacthub.engine.context import Options
    from contacthub.scheduler.lock import hub_lock

    hub, old = held_deletions(database_url)
    a, b = hub.book("a"), hub.book("b")
    del a.items[next(iter(a.items))]  # one more deletion: the next sync holds a newer count
    waiting, outcome = threading.Event(), []

    def decision() -> None:
        try:
            getattr(service, decide)(hub.engine, old.run_id, on_wait=waiting.set)
            outcome.append("went ahead")
        except UserError as exc:
            outcome.append(str(exc))

    with hub_lock(hub.engine, "h"):
        thread = threading.Thread(target=decision)
        thread.start()
        assert waiting.wait(10), "the decision never waited for the lock"
        # the sync that holds the lock (run_hub's body: the lock is this thread's already)
        newer = run_module._run_hub(hub.engine, "h", "sync", Options(), None, None, None)
        assert newer.status == "held"
    thread.join(30)
    assert outcome == [
        f"run {old.run_id} is out of date: run {newer.run_id} is the held run to approve or reject"
    ]
    assert len(b.items) == 10  # nothing deleted, nothing put back


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_hold_superseded_by_one_whose_decision_was_killed_cannot_be_decided(
    database_url: str, monkeypatch: pytest.MonkeyPatch, decide: str
) -> None:
    """Held twice, the newer hold approved by a process killed half way: the newer run is
    ``approved`` and its approve run never ended ``applied``, so a reject of the older hold
    was accepted and put back half of what the approve had deleted (QA). Refused, naming
    the newer run; the next sync finishes the approval."""
    hub, old = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    current = hub.sync()
    assert current.status == "held"
    approve = lambda: service.approve(hub.engine, current.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "write", approve, c) == "applying"
    assert len(b.items) == 4 and len(c.items) == 10
    with pytest.raises(UserError, match=f"run {old.run_id} is out of date: run {current.run_id}, held"):
        getattr(service, decide)(hub.engine, old.run_id)
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(a.items) == len(b.items) == len(c.items) == 4
    assert hub.sync().changes == {}


def test_rejecting_deletions_left_over_from_an_approved_run_is_not_held_again(database_url: str) -> None:
    """An approved run whose deletions in c did not all happen (failed, or the run was
    killed) leaves them for the next run, which holds them: rejecting that hold (keep c's
    records) was itself held, because the hold counted c's deletions that the reject turns
    into detaches; every run after it was held too."""
    hub, held = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    c.fail_writes = True
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied" and len(b.items) == 4 and len(c.items) == 10
    c.fail_writes = False
    again = hub.sync()
    assert again.status == "held" and [h["connector"] for h in again.held] == ["c"]
    rejected = service.reject(hub.engine, again.run_id)
    assert rejected.status == "applied", rejected.message
    assert len(c.items) == 10 and len(a.items) == 4 and len(b.items) == 4  # c keeps its records
    assert hub.sync().status == "applied" and hub.sync().changes == {}


class Killed(BaseException):
    """What a SIGKILL is to a run: nothing of it runs after, not even its error handling."""


def test_an_approve_killed_halfway_goes_on_in_the_next_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the hub's side was committed and b's deletions made, before c's: the
    next sync held c's deletions again, asking a person to approve what they approved."""
    from tests.memory_connector import MemoryConnector

    hub, held = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    write = MemoryConnector.write

    def dies_in_c(self: MemoryConnector, ops: Any) -> Any:
        if self.book is c:
            raise Killed
        return write(self, ops)

    monkeypatch.setattr(MemoryConnector, "write", dies_in_c)
    with pytest.raises(Killed):
        service.approve(hub.engine, held.run_id)
    monkeypatch.setattr(MemoryConnector, "write", write)
    assert len(b.items) == 4 and len(c.items) == 10
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(c.items) == 4 and len(a.items) == 4 and len(b.items) == 4
    assert hub.sync().changes == {}


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_killed_before_it_wrote_anything_goes_on_in_the_next_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    """Killed while still reading (the run left 'running', nothing of it committed), the
    held run was marked decided already: the next sync held the same deletions again, and
    the held run could no longer be approved or rejected."""
    from tests.memory_connector import MemoryConnector

    hub, held = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    pull = MemoryConnector.pull

    def dies(self: MemoryConnector, cursor: Any, known: Any) -> Any:
        raise Killed

    monkeypatch.setattr(MemoryConnector, "pull", dies)
    with pytest.raises(Killed):
        getattr(service, decision)(hub.engine, held.run_id)
    monkeypatch.setattr(MemoryConnector, "pull", pull)
    assert len(b.items) == 10 and len(c.items) == 10
    # a look first changes nothing, and shows what will happen: the decision goes on
    planned = hub.sync(dry_run=True)
    assert planned.status == "planned", planned.message
    assert len(b.items) == 10 and len(c.items) == 10
    after = hub.sync()
    assert after.status == "applied", after.message
    expected = 4 if decision == "approve" else 10
    assert len(a.items) == len(b.items) == len(c.items) == expected
    assert hub.sync().changes == {}


def killed_in(monkeypatch: pytest.MonkeyPatch, hub: Hub, step: str, action: Any, book: Any = None) -> str:
    """Do ``action`` as a process SIGKILLed at its first ``step`` ("pull" or "write"; with
    ``book``, that book's): the status its run was left in, as the next run finds it."""
    from tests.memory_connector import MemoryConnector

    original = getattr(MemoryConnector, step)

    def dies(self: MemoryConnector, *args: Any) -> Any:
        if book is None or self.book is book:
            raise Killed
        return original(self, *args)

    monkeypatch.setattr(MemoryConnector, step, dies)
    with pytest.raises(Killed):
        action()
    monkeypatch.setattr(MemoryConnector, step, original)
    with hub.engine.connect() as conn:
        return str(conn.execute(select(t.runs.c.status).order_by(t.runs.c.id.desc()).limit(1)).scalar())


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_goes_on_however_many_runs_carrying_it_are_killed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    """The sync that carried a killed decision on was recorded as a plain sync: killed
    too, the decision was lost and the next sync held the same deletions again (QA)."""
    hub, held = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    if decision == "approve":  # b's deletions made, c's not yet
        assert (
            killed_in(monkeypatch, hub, "write", lambda: service.approve(hub.engine, held.run_id), c)
            == "applying"
        )
        assert len(b.items) == 4 and len(c.items) == 10
    else:  # killed before it committed anything
        assert (
            killed_in(monkeypatch, hub, "pull", lambda: service.reject(hub.engine, held.run_id)) == "running"
        )
    assert killed_in(monkeypatch, hub, "pull", hub.sync) == "running"
    assert killed_in(monkeypatch, hub, "write", hub.sync) == "applying"
    assert killed_in(monkeypatch, hub, "pull", hub.sync) == "running"
    after = hub.sync()
    assert after.status == "applied", after.message
    expected = 4 if decision == "approve" else 10
    assert len(a.items) == len(b.items) == len(c.items) == expected
    assert hub.sync().changes == {}


@pytest.mark.parametrize("step", ["pull", "write"])
def test_a_killed_reject_carried_on_does_not_refuse_a_deletion_made_after_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The sync carrying on a killed reject refused every deletion in the rejected
    connector: a person deleted one more card after the reject, under the threshold, and
    it was written back with the six they had refused to lose (QA). Only the deletions the
    held run showed are refused."""
    hub, held = held_deletions(database_url)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    reject = lambda: service.reject(hub.engine, held.run_id)  # noqa: E731
    status = killed_in(monkeypatch, hub, step, reject, a if step == "write" else None)
    assert status == ("running" if step == "pull" else "applying")
    [later] = [nid for nid in a.items][:1]
    del a.items[later]  # one more, after the reject: the person's own, not refused
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(a.items) == len(b.items) == len(c.items) == 9
    assert hub.sync().changes == {}


def test_an_undo_goes_on_when_the_run_carrying_it_is_killed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An undo killed once it had begun writing is not held by the syncs that finish it,
    however many of them are killed too (the second one held the undo's deletions)."""
    hub = Hub(database_url, ["a", "b", "c"])
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    for i in range(10):
        a.put(f"a{i}", person(i))
    hub.sync()
    for i in range(10, 16):
        a.put(f"a{i}", person(i))
    made = hub.sync()
    assert len(b.items) == len(c.items) == 16
    undo = lambda: service.undo(hub.engine, made.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "write", undo, c) == "applying"
    assert len(b.items) == 10 and len(c.items) == 16
    assert killed_in(monkeypatch, hub, "pull", hub.sync) == "running"
    assert killed_in(monkeypatch, hub, "pull", hub.sync) == "running"
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(b.items) == len(c.items) == 10
    assert hub.sync().changes == {}


def test_dry_run_writes_nothing(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    report = hub.sync(dry_run=True)
    assert report.status == "planned"
    assert report.changes["b"]["create"] == 1
    assert b.items == {}
    shown = service.show_run(hub.engine, report.run_id)
    assert [c["op"] for c in shown["journal"] if c["connector"] == "b"] == ["create"]
    assert all(c["status"] == "planned" for c in shown["journal"])
    # the pull's rows (read back before the rollback) come first, then the plan's
    assert [(c["connector"], c["op"]) for c in shown["journal"]] == [("hub", "create"), ("b", "create")]
    assert shown["journal"][0]["after"]["emails"] == person(1)["emails"]
    with hub.engine.connect() as conn:
        assert conn.execute(select(t.contacts)).first() is None
    assert hub.sync().changes["b"]["create"] == 1


def test_a_held_run_keeps_its_whole_journal_in_order(database_url: str) -> None:
    """More journal rows than one page of ``journal_pages``: all recorded, in order."""
    hub = Hub(database_url, ["a", "b"])
    a = hub.book("a")
    for i in range(1203):
        a.put(f"x{i}", person(i))
    report = hub.sync(dry_run=True)
    shown = service.show_run(hub.engine, report.run_id)
    hub_rows = [c for c in shown["journal"] if c["connector"] == "hub"]
    assert len(hub_rows) == 1203 and len(shown["journal"]) == 2 * 1203
    assert [c["after"]["emails"] for c in hub_rows] == [person(i)["emails"] for i in range(1203)]


def test_undo_reverts_a_run(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Old"))
    hub.sync()
    a.edit("x", job_title="New")
    a.put("y", person(2))
    run = hub.sync()
    assert len(b.items) == 2
    undone = service.undo(hub.engine, run.run_id)
    assert undone.status == "applied", undone
    assert [i.fields.get("job_title") for i in b.items.values()] == ["Old"]
    # the run made y's copy in b, not y itself: a person put y in a, and it stays there,
    # detached (it was deleted from a too, destroying what the person had made)
    assert sorted((k, i.fields.get("job_title")) for k, i in a.items.items()) == [("x", "Old"), ("y", None)]
    assert hub.sync().changes == {} and len(b.items) == 1  # not taken in again
    again = service.undo(hub.engine, undone.run_id)  # undoing the undo brings y back
    assert again.status == "applied" and len(b.items) == 2 and len(a.items) == 2


def test_undoing_a_run_that_merged_two_records_gives_each_back_what_it_held(database_url: str) -> None:
    """The run found the same person in both books and wrote b's phone and title into a's
    record; its undo detached both records but left a's with b's values."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    cell = {"value": "+12125550111", "type": "cell", "primary": True}
    b.put("y", person(1, job_title="Chef", phones=[cell]))
    before_a, before_b = dict(a.items["x"].fields), dict(b.items["y"].fields)
    run = hub.sync()
    assert a.items["x"].fields.get("job_title") == "Chef"
    undone = service.undo(hub.engine, run.run_id)
    assert undone.status == "applied", undone
    assert a.items["x"].fields == before_a
    assert b.items["y"].fields == before_b
    assert hub.sync().changes == {}
    again = service.undo(hub.engine, undone.run_id)  # the undo of the undo merges them again
    assert again.status == "applied" and a.items["x"].fields.get("job_title") == "Chef"


def test_undoing_a_merge_keeps_an_edit_made_since(database_url: str) -> None:
    """The revert wrote a's record back as it was before the run, over an email added to
    it since: the edit brings the person back (modification beats deletion) and stands."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    b.put("y", person(1, job_title="Chef"))
    before_b = dict(b.items["y"].fields)
    run = hub.sync()
    home = {"value": "home@example.com", "type": "home", "primary": False}
    a.edit("x", emails=[*a.items["x"].fields["emails"], home])
    undone = service.undo(hub.engine, run.run_id)
    assert undone.status == "applied", undone
    assert "home@example.com" in {e["value"] for e in a.items["x"].fields["emails"]}
    assert b.items["y"].fields == before_b
    assert hub.sync().changes == {}
    assert "home@example.com" in {e["value"] for e in a.items["x"].fields["emails"]}


def y_deleted(database_url: str) -> tuple[Hub, Any]:
    """Books a and b of x and y, then y deleted from a: the run that deleted y."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a = hub.book("a")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    del a.items["y"]
    return hub, hub.sync()


def test_undo_of_an_undo_deletes_again(database_url: str) -> None:
    """Undoing a deletion restores the person; undoing that undo deletes them again."""
    hub, deleted = y_deleted(database_url)
    a, b = hub.book("a"), hub.book("b")
    assert len(b.items) == 1
    restored = service.undo(hub.engine, deleted.run_id)
    assert restored.status == "applied" and len(b.items) == 2 and len(a.items) == 2
    again = service.undo(hub.engine, restored.run_id)
    assert again.status == "applied", again
    assert [i.fields["given_name"] for i in b.items.values()] == ["Given1"]
    assert [i.fields["given_name"] for i in a.items.values()] == ["Given1"]


def test_undoing_a_deletion_after_the_person_came_back_makes_no_duplicate(database_url: str) -> None:
    """Deleted, then added again as a new record (same email), then the deletion undone:
    the restore made the person twice everywhere, for good. It is reported and skipped."""
    hub, deleted = y_deleted(database_url)
    a, b = hub.book("a"), hub.book("b")
    b.put("y2", person(2, job_title="Back"))
    hub.sync()
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied"
    assert any("added again" in e["message"] for e in undone.errors)
    assert len(a.items) == 2 and len(b.items) == 2
    assert sorted(i.fields.get("job_title", "") for i in a.items.values()) == ["", "Back"]
    assert hub.sync().changes == {}


def test_undoing_a_run_that_deleted_and_took_a_person_in_again_restores_them(database_url: str) -> None:
    """Run 2 deleted Ann (gone from a) and took her in again from a new record in c: its
    undo deleted the new Ann, then skipped the old one as "added again since" (the new
    one, which it had just deleted): no Ann anywhere, for good."""
    hub = Hub(database_url, ["a", "b", "c"], threshold="50")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("ann", person(1))
    a.put("bob", person(2))
    hub.sync()
    del a.items["ann"]
    c.put("ann-new", person(1, job_title="New"))
    run = hub.sync()
    assert run.status == "applied" and run.changes["hub"]["delete"] == 1
    undone = service.undo(hub.engine, run.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    anns = [i.fields for i in b.items.values() if i.fields["given_name"] == "Given1"]
    assert len(anns) == 1 and "job_title" not in anns[0]  # the old Ann, back, once
    assert hub.sync().changes == {}


def _john_does(database_url: str, *, folders: list[str] | None = None) -> tuple[Hub, Any]:
    """a holds two John Does with one email (two people: one folder's cards), copied to b;
    then b's copy of the iPhone one deleted: the hub and the run that deleted him."""
    hub = Hub(database_url, folders or ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    for uid, label, tel in (("iphone", "iPhone", "+14155551111"), ("work", "work", "+14155552222")):
        phones = [{"value": tel, "type": "", "primary": True}]
        a.put(uid, person(1, given_name="John", family_name=f"Doe ({label})", phones=phones))
    hub.sync()
    assert len(b.items) == 2
    [copy] = [n for n, i in b.items.items() if i.fields["family_name"] == "Doe (iPhone)"]
    del b.items[copy]
    deleted = hub.sync()
    assert deleted.changes["hub"]["delete"] == 1 and sorted(a.items) == ["work"]
    return hub, deleted


def test_undoing_a_deletion_restores_a_person_who_shares_an_email_with_one_there_all_along(
    database_url: str,
) -> None:
    """QA: one folder's two John Does share an email; one was deleted, and the undo of that
    kept him deleted, "added again since", for the other John Doe, who had been there all
    along (the rule is for a new card of the person added after the deletion)."""
    hub, deleted = _john_does(database_url)
    a, b = hub.book("a"), hub.book("b")
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    assert undone.changes["hub"]["create"] == 1
    for book in (a, b):
        assert sorted(i.fields["family_name"] for i in book.items.values()) == ["Doe (iPhone)", "Doe (work)"]
    assert hub.sync().changes == {}


def test_undoing_both_twins_deletions_one_after_the_other_brings_both_back(database_url: str) -> None:
    """QA: the other John Doe was deleted too, in a later run, and that run undone first:
    restored since, he counted as the iPhone one "added again", and the first deletion's
    undo kept the iPhone one deleted. A restore brings back a person of their own; only a
    new contact made since is someone added again."""
    hub, deleted = _john_does(database_url)
    a, b = hub.book("a"), hub.book("b")
    [work] = [n for n, i in b.items.items() if i.fields["family_name"] == "Doe (work)"]
    del b.items[work]
    later = hub.sync()
    assert later.status == "held"  # (b emptied)
    later = service.approve(hub.engine, later.run_id)
    assert later.changes["hub"]["delete"] == 1 and a.items == {}
    assert service.undo(hub.engine, later.run_id).status == "applied"
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    for book in (a, b):
        assert sorted(i.fields["family_name"] for i in book.items.values()) == ["Doe (iPhone)", "Doe (work)"]
    assert hub.sync().changes == {}


def test_undoing_a_deletion_and_then_that_of_the_person_added_again_keeps_one_of_them(
    database_url: str,
) -> None:
    """QA: a person deleted (run R0), added again as a new card, and that card deleted too
    (run R1); R0 undone, then R1: with only creates since counted as "added again", the
    second undo restored the new card's contact beside the one the first had brought back,
    two copies in every book. The two contacts were never alive at one time: the second is
    the person added again, and the deletion stays, said."""
    hub = Hub(database_url, ["a", "b"], threshold="90%")
    a, b = hub.book("a"), hub.book("b")
    for i in (1, 2, 3):
        a.put(f"p{i}", person(i))
    hub.sync()
    del a.items["p1"]
    first = hub.sync()
    a.put("p1-again", person(1, job_title="Back"))
    hub.sync()
    del a.items["p1-again"]
    second = hub.sync()
    assert (first.changes["hub"]["delete"], second.changes["hub"]["delete"]) == (1, 1)
    assert service.undo(hub.engine, first.run_id).status == "applied"
    undone = service.undo(hub.engine, second.run_id)
    assert undone.status == "applied" and undone.changes == {}
    assert [e["message"] for e in undone.errors] == [
        f"Given1 Family1 was added again since run {second.run_id}; kept"
    ]
    for book in (a, b):
        assert [i.fields["family_name"] for i in book.items.values()].count("Family1") == 1
    assert hub.sync().changes == {}


def test_a_twin_whose_restore_was_pruned_is_still_alive_beside_the_person_deleted_later(
    database_url: str,
) -> None:
    """QA: Anna's deletion by an undo, and its undo, then the history pruned: prune keeps
    the undo's deletion (later runs read it) but not the restore. Read from the journal
    alone Anna was dead since, so Bob, a card of the same folder with her email, deleted
    and his deletion undone, was kept deleted as her "added again"."""

    def card(given: str, email: str = "shared@example.com") -> dict[str, Any]:
        return Contact(given_name=given, family_name="Smith", emails=[Email(email, "home")]).to_fields()

    hub = Hub(database_url, ["a", "b"], threshold="100%")
    a, b = hub.book("a"), hub.book("b")
    a.put("anna", card("Anna"))
    first = hub.sync()
    gone = service.undo(hub.engine, first.run_id)
    assert service.undo(hub.engine, gone.run_id).changes["hub"]["create"] == 1  # Anna back
    a.put("x", card("Other", "x@example.com"))
    later = hub.sync()
    service.prune(hub.engine, "h", before=later.run_id)
    a.put("bob", card("Bob"))
    hub.sync()
    del a.items["bob"]
    deleted = hub.sync()
    assert deleted.changes["hub"]["delete"] == 1
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    for book in (a, b):
        assert sorted(i.fields["given_name"] for i in book.items.values()) == ["Anna", "Bob", "Other"]


def test_a_person_added_again_beside_one_who_shares_their_email_still_keeps_the_deletion(
    database_url: str,
) -> None:
    """The John Doe there all along does not hide a John Doe (iPhone) added again since in c
    (a new card, same email): the deletion's undo is still kept, not made him twice. (The
    lookup took the first contact a key found, the older John Doe, and missed the new one.)"""
    hub, deleted = _john_does(database_url, folders=["a", "b", "c"])
    a, c = hub.book("a"), hub.book("c")
    c.put("back", person(1, given_name="John", family_name="Doe (iPhone)", job_title="Back"))  # (no phone)
    hub.sync()
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied"
    assert any("added again" in e["message"] for e in undone.errors), undone.errors
    iphones = [i.fields for i in a.items.values() if i.fields["family_name"] == "Doe (iPhone)"]
    assert len(iphones) == 1 and iphones[0].get("job_title") == "Back"
    assert hub.sync().changes == {}


def test_filters_unlink_never_delete(database_url: str) -> None:
    flt = {"filter": {"all": [{"field": "email", "op": "ends_with", "value": "@example.com"}]}}
    hub = Hub(database_url, ["a", "b"], b=flt)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", {**person(2), "emails": [{"value": "p2@other.org", "type": "", "primary": True}]})
    hub.sync()
    assert [i.fields["given_name"] for i in b.items.values()] == ["Given1"]
    a.edit("x", emails=[{"value": "p1@other.org", "type": "", "primary": True}])
    hub.sync()
    assert len(b.items) == 1  # left the filter: unlinked, not deleted
    assert only(b)["emails"][0]["value"] == "p1@example.com"


def _edited_out_of_bs_filter(database_url: str, people: int = 1, **b: Any) -> tuple[Hub, Any, Any, str]:
    """a and b (filter: emails at example.com, and ``b``'s other settings) synced with
    ``people`` people (a's ids x, y...), then b's record of person 1 edited out of b's
    filter, not yet synced: the hub, its books a and b, and that record's id in b."""
    flt = {"filter": {"all": [{"field": "email", "op": "ends_with", "value": "@example.com"}]}}
    hub = Hub(database_url, ["a", "b"], b={**flt, **b})
    a, b_book = hub.book("a"), hub.book("b")
    for i in range(1, people + 1):
        a.put("xyz"[i - 1], person(i))
    hub.sync()
    [nid] = [n for n, i in b_book.items.items() if i.fields["given_name"] == "Given1"]
    b_book.edit(nid, emails=[{"value": "p1@other.org", "type": "", "primary": True}])
    return hub, a, b_book, nid


def test_a_record_whose_own_edit_left_the_filter_is_not_written_until_it_comes_back(
    database_url: str,
) -> None:
    """b's record of a person was edited out of b's filter (its email): the person's next
    edit in a was written into it, putting the email back, the edit that took it out lost
    everywhere and in no journal (QA). It is left as it is until an edit of it brings it
    back into the filter; then it takes the person's edits made meanwhile."""
    hub, a, b, nid = _edited_out_of_bs_filter(database_url)
    assert hub.sync().changes == {}  # let go
    phone = [{"value": "+14155550100", "type": "", "primary": False}]
    a.edit("x", phones=phone)
    hub.sync()
    assert only(b)["emails"][0]["value"] == "p1@other.org" and not only(b).get("phones")
    assert hub.sync().changes == {}
    b.edit(nid, emails=[{"value": "p1@example.com", "type": "", "primary": True}], job_title="Back")
    hub.sync()
    assert [p["value"] for p in only(b)["phones"]] == ["+14155550100"]
    assert only(a)["job_title"] == "Back" and only(a)["emails"][0]["value"] == "p1@example.com"
    assert hub.sync().changes == {}


def test_a_from_hub_record_edited_out_of_its_filter_gets_the_hubs_values_back(database_url: str) -> None:
    """A from-hub connector takes no edits of its own: its record edited out of the filter
    is put back, and later edits reach it (taken for "left", it was never written again)."""
    hub, a, b, _ = _edited_out_of_bs_filter(database_url, direction="from-hub")
    hub.sync()
    a.edit("x", job_title="Foreman")
    hub.sync()
    assert only(b)["emails"][0]["value"] == "p1@example.com" and only(b)["job_title"] == "Foreman"
    assert hub.sync().changes == {}


def test_a_record_the_hubs_value_took_out_of_its_filter_is_written_once_back_in(database_url: str) -> None:
    """b cannot hold the trade its filter asks for (read from the hub): the person left b's
    filter by a's edit, not by b's; once a puts the trade back, a's new phone reaches b
    (taken for "left", b's record was stranded for good)."""
    flt = {"filter": {"all": [{"field": "custom.trade", "op": "equals", "value": "electric"}]}}
    held = ["given_name", "family_name", "display_name", "emails", "phones", "job_title"]
    hub = Hub(database_url, ["a", "b"], b={**flt, "fields": held})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", {**person(1), "custom.trade": "electric"})
    hub.sync()
    [nid] = b.items
    a.edit("x", **{"custom.trade": "plumbing"})
    hub.sync()
    b.edit(nid, job_title="Edited while out")
    hub.sync()
    phone = [{"value": "+14155550100", "type": "", "primary": True}]
    a.edit("x", phones=phone, **{"custom.trade": "electric"})
    hub.sync()
    assert [p["value"] for p in only(b)["phones"]] == ["+14155550100"]
    assert hub.sync().changes == {}


def test_a_person_deleted_while_their_record_is_out_of_the_filter_stays_deleted(database_url: str) -> None:
    """b's record left b's filter by its own edit, then the person was deleted in a: the
    record stays in b, detached; an edit bringing it back into the filter later brought
    the person back everywhere."""
    hub, a, b, nid = _edited_out_of_bs_filter(database_url, people=2)
    hub.sync()
    del a.items["x"]
    assert hub.sync().status == "applied"
    assert nid in b.items  # (outside the filter: not b's to delete)
    b.edit(nid, emails=[{"value": "p1@example.com", "type": "", "primary": True}], job_title="Back")
    hub.sync()
    assert list(a.items) == ["y"]
    assert hub.sync().changes == {}


def test_a_filter_on_a_field_the_connector_cannot_hold_reads_the_hubs(database_url: str) -> None:
    """b holds no custom fields but its filter asks for the trade: each record b edited
    left the filter (no trade in it), and its edit never reached the hub."""
    flt = {"filter": {"all": [{"field": "custom.trade", "op": "equals", "value": "plumber"}]}}
    held = ["given_name", "family_name", "display_name", "emails", "job_title"]
    hub = Hub(database_url, ["a", "b"], b={**flt, "fields": held})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", {**person(1), "custom.trade": "plumber"})
    a.put("y", {**person(2), "custom.trade": "welder"})
    hub.sync()
    [nid] = b.items
    b.edit(nid, job_title="Foreman")
    hub.sync()
    assert a.items["x"].fields["job_title"] == "Foreman"
    assert hub.sync().changes == {}


def test_undoing_a_deletion_merges_an_edit_made_to_a_record_it_left_in_place(database_url: str) -> None:
    """b keeps its records of deleted people (on_delete = ignore); one edited since went
    back to the restored person's old values, its edit gone without a trace."""
    hub = Hub(database_url, ["a", "b"], b={"on_delete": "ignore"})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Old"))
    a.put("y", person(2))
    hub.sync()
    del a.items["x"]
    deleted = hub.sync()
    [nid] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    b.edit(nid, job_title="Edited while detached")
    assert hub.sync().changes == {}  # detached: its edit is b's own business
    undone = service.undo(hub.engine, deleted.run_id)
    assert undone.status == "applied", undone.message
    assert b.items[nid].fields["job_title"] == "Edited while detached"
    assert a.items and [
        i.fields["job_title"] for i in a.items.values() if i.fields["given_name"] == "Given1"
    ] == ["Edited while detached"]
    assert hub.sync().changes == {}


def test_a_record_outside_the_filter_of_a_deleted_person_stays_unlinked(database_url: str) -> None:
    """Its link was dropped when the person was deleted: the record was then a stranger,
    and the next edit of it brought the deleted person back everywhere."""
    flt = {"filter": {"all": [{"field": "email", "op": "ends_with", "value": "@example.com"}]}}
    hub = Hub(database_url, ["a", "b"], b=flt)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    a.edit("x", emails=[{"value": "p1@other.org", "type": "", "primary": True}])
    hub.sync()  # x left b's filter: b's record stays, unlinked
    del a.items["x"]
    assert hub.sync().status == "applied"
    assert list(a.items) == ["y"] and len(b.items) == 2  # b's record is not b's to delete
    [nid] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    b.edit(nid, job_title="Edited later")
    again = hub.sync()
    assert again.status == "applied" and list(a.items) == ["y"], again.changes
    assert hub.sync().changes == {}


def test_directions(database_url: str) -> None:
    hub = Hub(database_url, ["src", "dst"], src={"direction": "to-hub"}, dst={"direction": "from-hub"})
    src, dst = hub.book("src"), hub.book("dst")
    src.put("s", person(1))
    hub.sync()
    [did] = dst.items
    dst.edit(did, job_title="drift")  # the target's edits are put back
    hub.sync()
    assert "job_title" not in dst.items[did].fields
    assert "job_title" not in only(src)
    dst.put("own", person(9))  # a target's own record is left alone
    hub.sync()
    assert len(src.items) == 1 and "own" in dst.items


def _source_times(hub: Hub) -> list[str]:
    """Every time the hub keeps for when a contact's values were set."""
    with hub.engine.connect() as conn:
        rows = conn.execute(select(t.contacts.c.sources)).scalars().all()
    return [at for row in rows for _, at in json.loads(row).values()]


def _shifted(by: timedelta) -> type[datetime]:
    class Shifted(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + by

    return Shifted


def _runs_start_later(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """The hub's next runs start, and read, ``by`` later than now: a test's way to let
    time pass."""
    monkeypatch.setattr(run_module, "datetime", _shifted(by))
    monkeypatch.setattr(inbound, "datetime", _shifted(by))


def test_a_clock_running_ahead_does_not_win_every_later_conflict(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card whose REV says 2100 (a to-hub folder b holding the same card): the hub kept
    2100 as the time a's edit set the title, and every later real edit of it in b lost
    silently, for good. A time past the time it was read (by more than a clock's slack)
    counts as at most a second past that slack: b's edit made after it wins."""
    hub = Hub(database_url, ["a", "b"], b={"direction": "to-hub"})
    a, b = hub.book("a"), hub.book("b")
    ahead = datetime(2100, 1, 1, tzinfo=UTC)
    a.put("x", person(1, job_title="Start"))
    b.put("y", person(1, job_title="Start"))
    a.items["x"].modified = ahead
    hub.sync()
    a.edit("x", job_title="From a")  # its program keeps the REV of 2100
    a.items["x"].modified = ahead
    hub.sync()
    limit = datetime.now(UTC) + inbound.CLOCK_SKEW + timedelta(seconds=1)
    assert all(datetime.fromisoformat(at) < limit for at in _source_times(hub))
    _runs_start_later(monkeypatch, timedelta(minutes=10))
    b.edit("y", job_title="From b")
    b.items["y"].modified = datetime.now(UTC) + timedelta(minutes=6)  # a real edit, after it
    report = hub.sync()
    assert report.conflicts == 1
    assert only(a)["job_title"] == "From b"
    settled = service.conflicts(hub.engine, "h", include_settled=True)
    assert [(c["values"], c["winner"]) for c in settled] == [({"a": "From a", "b": "From b"}, "b")]


def test_a_time_an_older_version_stored_ahead_does_not_win_every_later_conflict(database_url: str) -> None:
    """An older version kept a REV of 2100 as the time a's value was set: after the upgrade
    it still beat every real edit elsewhere (b's title never arrived). A stored time past
    any the hub stores now counts as none: b's edit, with its own time, wins."""
    hub = Hub(database_url, ["a", "b"], b={"direction": "to-hub"})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Start"))
    b.put("y", person(1, job_title="Start"))
    hub.sync()
    a.edit("x", job_title="From a")
    hub.sync()
    with hub.engine.begin() as conn:  # as the older version stored a's edit
        for row in conn.execute(select(t.contacts.c.id, t.contacts.c.sources)).all():
            ahead = {k: [by, "2100-01-01T00:00:00+00:00"] for k, (by, _) in json.loads(row.sources).items()}
            conn.execute(
                t.contacts.update().where(t.contacts.c.id == row.id).values(sources=json.dumps(ahead))
            )
    b.edit("y", job_title="From b")
    b.items["y"].modified = datetime.now(UTC)
    report = hub.sync()
    assert report.conflicts == 1
    assert only(a)["job_title"] == "From b"


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_clocks_running_ahead_keep_the_order_of_their_edits(database_url: str, order: list[str]) -> None:
    """Two books whose clocks both run ten minutes ahead: a edits, b a minute later, one
    run reads both. Both times counted as the run's start, a tie the side read first won,
    and b's later edit was lost when a came first. Bounded in their order, b's wins."""
    hub = Hub(database_url, order)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Start"))
    b.put("y", person(1, job_title="Start"))
    hub.sync()
    now = datetime.now(UTC)
    a.edit("x", job_title="From a")
    a.items["x"].modified = now + timedelta(minutes=10)
    b.edit("y", job_title="From b")
    b.items["y"].modified = now + timedelta(minutes=11)
    report = hub.sync()
    assert report.conflicts == 1
    assert only(a)["job_title"] == only(b)["job_title"] == "From b"


@pytest.mark.parametrize("b_read", ["by the next run", "later in the run"])
def test_an_edit_read_late_in_a_long_run_keeps_its_time(
    database_url: str, monkeypatch: pytest.MonkeyPatch, b_read: str
) -> None:
    """Every clock right, in a run that started 12 minutes before it read a (a big CRM read
    first): a's edit made 2 minutes ago was bounded to that run's start + ``CLOCK_SKEW``
    (as a clock running ahead), so b's edit, made 2 minutes before a's, beat it when read
    by the next run; and read later in the same run, b beat the time a's read had stored
    (past the run's start + ``CLOCK_SKEW`` + 1 s: counted as none). A record's time is
    bounded by the time it was read, a stored time by the time of the merge (QA)."""
    hub = Hub(database_url, ["a", "b"], b={"direction": "to-hub"})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Start"))
    b.put("y", person(1, job_title="Start"))
    hub.sync()
    now = datetime.now(UTC).replace(microsecond=0)
    a.edit("x", job_title="From a")
    a.items["x"].modified = now - timedelta(minutes=2)
    if b_read == "later in the run":
        b.edit("y", job_title="From b")
        b.items["y"].modified = now - timedelta(minutes=4)
    with monkeypatch.context() as patched:  # the run started 12 minutes ago
        patched.setattr(run_module, "datetime", _shifted(-timedelta(minutes=12)))
        hub.sync()
    assert (now - timedelta(minutes=2)).isoformat() in _source_times(hub)
    if b_read == "by the next run":
        b.edit("y", job_title="From b")
        b.items["y"].modified = now - timedelta(minutes=4)
        hub.sync()
    assert only(a)["job_title"] == "From a"
    settled = service.conflicts(hub.engine, "h", include_settled=True)
    assert [(c["values"], c["winner"]) for c in settled] == [({"a": "From a", "b": "From b"}, "hub")]


def test_a_time_ahead_is_bounded_in_its_order() -> None:
    """Past ``CLOCK_SKEW`` a time keeps its order, never more than a second past the slack."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    skew = inbound.CLOCK_SKEW
    assert inbound.ahead(start + skew, start) == start + skew  # a clock a little fast: as it is
    past = [skew + timedelta(seconds=1), timedelta(minutes=10), timedelta(minutes=11), timedelta(hours=9)]
    times = [start + d for d in [*past, timedelta(days=1)]]
    bounded = [inbound.ahead(moment, start) for moment in times]
    assert bounded == sorted(set(bounded))
    assert all(start + skew < at < start + skew + timedelta(seconds=1) for at in bounded)
    far = inbound.ahead(datetime(2100, 1, 1, tzinfo=UTC), start)
    assert bounded[-1] < far <= start + skew + timedelta(seconds=1)


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_two_clocks_ahead_keep_the_order_of_their_edits_whichever_is_read_first(
    database_url: str, order: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two books whose clocks both run ten minutes fast, b edited a minute after a, read a
    moment apart (a big folder, a CRM page): each time bounded from its own read, the book
    read last won, and with b read first a's earlier edit was written over b's (QA)."""
    import time

    from tests.memory_connector import MemoryConnector

    hub = Hub(database_url, order)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1, job_title="Start"))
    b.put("y", person(1, job_title="Start"))
    hub.sync()
    plain = MemoryConnector.pull

    def slow(self: MemoryConnector, cursor: str | None, known: Any) -> Any:
        pulled = plain(self, cursor, known)
        time.sleep(0.15)  # the next connector is read a moment later
        return pulled

    monkeypatch.setattr(MemoryConnector, "pull", slow)
    now = datetime.now(UTC)
    a.edit("x", job_title="From a, earlier")
    a.items["x"].modified = now + timedelta(minutes=10)
    b.edit("y", job_title="From b, later")
    b.items["y"].modified = now + timedelta(minutes=11)
    hub.sync()
    assert only(a)["job_title"] == only(b)["job_title"] == "From b, later"


def test_a_clock_a_little_fast_keeps_its_time(database_url: str) -> None:
    """Within ``CLOCK_SKEW`` of its read a record's time is its own: a system's
    clock a minute fast is no clock running ahead."""
    hub = Hub(database_url, ["a"])
    fast = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    hub.book("a").put("x", person(1))
    hub.book("a").items["x"].modified = fast
    hub.sync()
    assert _source_times(hub) == [fast.isoformat()]


def test_operations_limit_writes(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], b={"operations": ["create"]}, threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    a.edit("x", job_title="changed")
    hub.sync()
    assert "job_title" not in only(b)
    del a.items["x"]
    hub.sync()
    assert len(b.items) == 1


def test_on_delete_ignore_keeps_record(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], b={"on_delete": "ignore"}, threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    del a.items["x"]
    hub.sync()
    assert len(b.items) == 1
    hub.sync()
    assert len(a.items) == 0  # and it does not come back either


def test_bad_write_is_reported_and_run_goes_on(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b", "c"])
    hub.book("a").put("x", person(1))
    hub.book("c").fail_writes = True
    report = hub.sync()
    assert report.status == "applied"
    assert len(hub.book("b").items) == 1
    assert report.errors and report.errors[0]["connector"] == "c"
    hub.book("c").fail_writes = False
    hub.sync()
    assert len(hub.book("c").items) == 1


def test_fields_a_connector_cannot_hold_are_not_deleted(database_url: str) -> None:
    hub = Hub(
        database_url,
        ["a", "b"],
        b={"fields": ["given_name", "family_name", "display_name", "emails"]},
    )
    a, b = hub.book("a"), hub.book("b")
    a.put(
        "x",
        person(1, job_title="Kept", phones=[{"value": "+12025550100", "type": "", "primary": True}]),
    )
    hub.sync()
    assert "job_title" not in only(b)
    [bid] = b.items
    b.edit(bid, given_name="Renamed")
    hub.sync()
    assert only(a)["given_name"] == "Renamed" and only(a)["job_title"] == "Kept"
    assert same_people(a, a)


def test_a_contact_with_nothing_a_connector_holds_is_not_written_there(database_url: str) -> None:
    """No empty record is made (a CSV file reads a blank row back as no row, so the contact
    came back deleted and the deletion reached its source); once the contact has something
    the connector holds, it is created there."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["given_name", "family_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("photo-only", {"job_title": "Site lead"})  # nothing b holds
    a.put("nothing", {})
    a.put("x", person(1))
    report = hub.sync()
    assert report.changes["b"]["create"] == 1 and len(b.items) == 1
    assert hub.sync().changes == {} and len(a.items) == 3
    a.edit("photo-only", given_name="Ada")
    assert hub.sync().changes["b"]["create"] == 1
    assert sorted(f.get("given_name", "") for f in b.by_hub().values()) == ["Ada", "Given1"]
    assert hub.sync().changes == {} and len(a.items) == 3


def test_a_record_moved_to_a_new_id_stays_the_same_contact(database_url: str) -> None:
    """A renamed card file: the link follows it, and no other connector sees a deletion."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    [bid] = b.items
    b_item = b.items[bid]
    a.items["renamed"] = a.items.pop("x")
    report = hub.sync()
    assert report.changes == {} and report.errors == []
    assert list(b.items) == [bid] and b.items[bid] is b_item  # never deleted and made again
    # the new id is the linked one: an edit there flows on
    a.edit("renamed", job_title="Moved")
    assert hub.sync().changes["b"]["update"] == 1 and only(b)["job_title"] == "Moved"


def test_an_id_that_now_holds_another_person_is_not_an_edit_of_the_first(database_url: str) -> None:
    """An exporter naming files by position writes them again once a person is gone:
    1=Bob, 2=Cy where 1=Ann, 2=Bob, 3=Cy were. Each id holds another person (another
    UID, one the hub knows): Ann is deleted, Bob and Cy stay who they were everywhere."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    for i, uid in enumerate(("uid-ann", "uid-bob", "uid-cy"), 1):
        a.put(str(i), person(i), uid)
    hub.sync()
    held = {item.hub_id: (nid, item) for nid, item in b.items.items()}
    a.items = {"1": a.items["2"], "2": a.items["3"]}
    a.items["1"].version, a.items["2"].version = "w1", "w2"  # rewritten files
    report = hub.sync()
    assert report.changes == {
        "hub": {"create": 0, "update": 0, "delete": 1},
        "b": {"create": 0, "update": 0, "delete": 1},
    }, report.changes
    assert {item.hub_id: nid for nid, item in b.items.items()} == {
        "uid-bob": held["uid-bob"][0],
        "uid-cy": held["uid-cy"][0],
    }
    assert b.items[held["uid-bob"][0]] is held["uid-bob"][1]  # never deleted and made again
    assert b.items[held["uid-cy"][0]].fields["given_name"] == "Given3"
    assert hub.sync().changes == {}
    # the id now linked to Bob is Bob's: an edit there flows on
    a.edit("1", job_title="Moved")
    assert hub.sync().changes["b"]["update"] == 1
    assert b.items[held["uid-bob"][0]].fields["job_title"] == "Moved"


def test_two_records_swapping_ids_keep_who_they_are(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1), "uid-ann")
    a.put("y", person(2), "uid-bob")
    hub.sync()
    before = {nid: dict(item.fields) for nid, item in b.items.items()}
    a.items = {"x": a.items["y"], "y": a.items["x"]}
    a.items["x"].version, a.items["y"].version = "w1", "w2"
    report = hub.sync()
    assert report.changes == {} and report.errors == []
    assert {nid: item.fields for nid, item in b.items.items()} == before
    a.edit("y", job_title="Ann's")  # y is Ann's now
    hub.sync()
    assert {i.hub_id: i.fields.get("job_title") for i in b.items.values()} == {
        "uid-ann": "Ann's",
        "uid-bob": None,
    }


def test_a_uid_changed_in_place_is_still_the_same_person(database_url: str) -> None:
    """A new UID no other contact has is an edit of the record, not another person."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1), "uid-old")
    hub.sync()
    [bid] = b.items
    b_item = b.items[bid]
    a.put("x", person(1), "uid-new")
    report = hub.sync()
    assert report.changes == {} and report.errors == []
    assert list(a.items) == ["x"] and b.items == {bid: b_item}


def test_a_record_moved_and_edited_matches_by_its_other_keys(database_url: str) -> None:
    """A CSV row's id is its email: editing the email moves the row to a new id. The row
    is still found by phone and name, so the edit reaches the others as an update."""
    phone = [{"value": "+12025550100", "type": "cell", "primary": True}]
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("card", person(1, phones=phone))
    hub.sync()
    [bid] = b.items
    new_email = [{"value": "new@example.com", "type": "", "primary": True}]
    b.put("new@example.com", {**b.items.pop(bid).fields, "emails": new_email})
    report = hub.sync()
    assert report.changes == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "a": {"create": 0, "update": 1, "delete": 0},
    }
    assert list(a.items) == ["card"] and only(a)["emails"][0]["value"] == "new@example.com"
    assert list(b.items) == ["new@example.com"]


def test_a_record_moved_with_its_name_edited_is_found_by_its_values(database_url: str) -> None:
    """A CSV row without an email has an id made from its name: fixing a typo in the name
    moves it, and no key matches any more. It still shares its phone and family name with
    the record gone, so it is that record: the other side is updated, not remade."""
    phone = [{"value": "+12025550111", "type": "cell", "primary": True}]
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("card", {"given_name": "Fay", "family_name": "Nomail", "phones": phone})
    hub.sync()
    [bid] = b.items
    b.put("name-faye", {**b.items.pop(bid).fields, "given_name": "Faye", "display_name": "Faye Nomail"})
    report = hub.sync()
    assert report.changes["a"] == {"create": 0, "update": 1, "delete": 0}, report.changes
    assert list(a.items) == ["card"] and only(a)["given_name"] == "Faye"
    assert hub.sync().changes == {}


def test_a_new_record_like_a_gone_one_in_one_value_only_is_a_new_person(database_url: str) -> None:
    """Sharing the office phone is not enough to be the same person; nor is being as like
    a gone record as another new record is (a tie is no pair)."""
    office = [{"value": "+12025550199", "type": "work", "primary": True}]
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("ann", {"given_name": "Ann", "family_name": "Lee", "phones": office})
    hub.sync()
    [bid] = b.items
    del b.items[bid]
    b.put("bob", {"given_name": "Bob", "family_name": "Ray", "phones": office})
    hub.sync()
    assert sorted(i.fields["given_name"] for i in a.items.values()) == ["Bob"]
    a.put("cy", {"given_name": "Cy", "family_name": "Lee", "phones": office})
    hub.sync()
    [cy_b] = [nid for nid, i in b.items.items() if i.fields["given_name"] == "Cy"]
    del b.items[cy_b]
    for nid in ("cy1", "cy2"):  # two new records, each as like the gone one
        b.put(nid, {"given_name": "Cyd", "family_name": "Lee", "phones": office})
    hub.sync()
    assert "cy" not in a.items  # deleted as it was, not taken over by a guess
    assert sorted(i.fields["given_name"] for i in a.items.values()) == ["Bob", "Cyd", "Cyd"]
    # a household: the same phone and family name, but Mary is not John's record renamed
    a.put("john", {"given_name": "John", "family_name": "Miller", "phones": office, "job_title": "Chef"})
    hub.sync()
    [john_b] = [nid for nid, i in b.items.items() if i.fields["given_name"] == "John"]
    del b.items[john_b]
    b.put("mary", {"given_name": "Mary", "family_name": "Miller", "phones": office})
    hub.sync()
    assert "john" not in a.items
    assert "Mary" in [i.fields["given_name"] for i in a.items.values()]


_HOME = [{"street": "1 Main St", "type": "home"}]


def test_two_rows_renamed_with_added_words_are_still_their_records(database_url: str) -> None:
    """Rows without an email are known by their names: "Ann Lee" married, "Ann Lee-Smith",
    moved to a new id, and "Lee-Smith" against "Lee" was too far for a name (no word
    prefix, 0.7 alike): her card was deleted and made again. Two renamed in one run (so
    only the phone and name can pair them), and Smith -> Lee-Smith too."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    people = (("ann", "Ann", "Lee", "+12025550121"), ("bo", "Bo", "Smith", "+12025550122"))
    for nid, given, family, phone in people:
        a.put(nid, {"given_name": given, "family_name": family, "phones": [{"value": phone, "type": "cell"}]})
    hub.sync()
    made = dict(b.items)
    for nid, item in made.items():
        del b.items[nid]
        b.put(f"{nid}-renamed", {**item.fields, "family_name": "Lee-Smith"})
    report = hub.sync()
    assert report.changes["a"] == {"create": 0, "update": 2, "delete": 0}, report.changes
    assert sorted(a.items) == ["ann", "bo"]
    assert {i.fields["given_name"]: i.fields["family_name"] for i in a.items.values()} == {
        "Ann": "Lee-Smith",
        "Bo": "Lee-Smith",
    }
    assert hub.sync().changes == {}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (  # a name and an address, no email or phone: the row's id is its name
            {"given_name": "Ann", "family_name": "Lee", "addresses": _HOME},
            {"family_name": "Lee-Smith"},
        ),
        ({"job_title": "Chief Executive Officer", "notes": "Hello"}, {"job_title": "Managing Director"}),
        ({"given_name": "Ann", "family_name": "Lee"}, {"emails": [{"value": "ann@example.com", "type": ""}]}),
    ],
    ids=["renamed", "nameless-edited", "email-added"],
)
def test_the_one_record_gone_and_the_one_new_one_edit_apart_are_one_record(
    database_url: str, before: dict, after: dict
) -> None:
    """A row with no email or phone has nothing ``_pairs`` compares: renamed, or, with no
    name either (its id a hash of every value), with any value edited, it moved to a new
    id and was a deletion plus a new person. When it is the only record gone and the
    only new one in the run, one edit apart, it is the same record."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("card", before)
    hub.sync()
    [(bid, item)] = b.items.items()
    del b.items[bid]
    b.put("moved", {**item.fields, **after})
    report = hub.sync()
    assert report.changes["a"] == {"create": 0, "update": 1, "delete": 0}, report.changes
    assert list(a.items) == ["card"]
    assert _plain(a.items["card"].fields, after) == _plain(after, after)
    assert hub.sync().changes == {}


@pytest.mark.parametrize(
    ("gone", "new"),
    [
        (  # an unrelated person: another name, nothing in common
            {"given_name": "Ann", "family_name": "Lee", "addresses": _HOME},
            {"given_name": "Cy", "family_name": "Ray", "job_title": "Plumber"},
        ),
        (  # a household: the same address and family name, another person
            {"given_name": "Ann", "family_name": "Lee", "addresses": _HOME},
            {"given_name": "Bob", "family_name": "Lee", "addresses": _HOME},
        ),
        (  # the family's row is not one of its members
            {"family_name": "Lee", "addresses": _HOME},
            {"given_name": "Ann", "family_name": "Lee", "addresses": _HOME},
        ),
        (  # nameless, two values edited
            {"job_title": "Chief Executive Officer", "notes": "Hello", "department": "Board"},
            {"job_title": "Managing Director", "notes": "Hi", "department": "Board"},
        ),
        (  # nameless, nothing in common
            {"job_title": "Chief Executive Officer"},
            {"job_title": "Managing Director"},
        ),
    ],
    ids=["unrelated", "household", "family-row", "two-edits", "nothing-shared"],
)
def test_a_record_gone_and_another_person_new_in_one_run_stay_two(
    database_url: str, gone: dict, new: dict
) -> None:
    """A row removed and a row added in the same run are no move unless one edit apart."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("gone", gone)
    hub.sync()
    [bid] = b.items
    del b.items[bid]
    b.put("new", new)
    report = hub.sync()
    assert report.changes["a"] == {"create": 1, "update": 0, "delete": 1}, report.changes
    [kept] = a.items.values()
    assert _plain(kept.fields, new) == _plain(new, new)


_MARK = {"given_name": "Mark", "family_name": "Lee", "organization": "Acme", "addresses": _HOME}
_NO_NAME = {"given_name": None, "family_name": None, "display_name": None}


@pytest.mark.parametrize(
    ("gone", "change"),
    [
        (_MARK, _NO_NAME),  # the company's own row (no name) for a person's at it
        ({"organization": "Acme", "addresses": _HOME}, {"given_name": "Mark", "family_name": "Lee"}),
        (_MARK, {"given_name": "Mary", "display_name": "Mary Lee"}),  # a colleague
        ({**_MARK, "given_name": "Ann"}, {"family_name": "Smith", "display_name": "Ann Smith"}),
    ],
    ids=["name-taken-away", "name-given", "name-typo-away", "family-name-replaced"],
)
def test_a_row_with_another_name_or_none_is_not_the_one_gone(
    database_url: str, gone: dict, change: dict
) -> None:
    """With no email or phone to back it, the only row gone and the only one new are one
    record renamed only when the name adds words (Lee, Lee-Smith): Mark Lee's row removed
    and the company's own row, or his colleague Mary Lee's, added in one run were paired,
    and the new row took Mark's card (its UID, categories, X- properties) everywhere. A
    name given or taken away, a typo's worth of letters or a family name replaced, sharing
    every other value, stays a deletion and a new person."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("gone", gone)
    hub.sync()
    [(bid, item)] = b.items.items()
    del b.items[bid]
    new = {k: v for k, v in {**item.fields, **change}.items() if v is not None}
    b.put("new", new)
    report = hub.sync()
    assert report.changes["a"] == {"create": 1, "update": 0, "delete": 1}, report.changes
    [kept] = a.items.values()
    assert [kept.fields.get(k) for k in ("given_name", "family_name")] == [
        new.get("given_name"),
        new.get("family_name"),
    ]


def test_two_records_gone_and_two_new_are_not_paired_by_a_guess(database_url: str) -> None:
    """Each new nameless row is one edit from each gone one: which is which is a guess,
    and a guess could join two people, so none is paired (as before: deleted and new)."""
    hub = Hub(database_url, ["a", "b"], threshold="100")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", {"job_title": "Foreman", "notes": "site"})
    a.put("y", {"job_title": "Clerk", "notes": "site"})
    hub.sync()
    for nid, item in list(b.items.items()):
        del b.items[nid]
        b.put(f"{nid}-2", {**item.fields, "notes": "office"})
    report = hub.sync()
    assert report.changes["a"] == {"create": 2, "update": 0, "delete": 2}, report.changes


def test_a_second_record_of_the_same_person_is_not_taken_for_a_move(database_url: str) -> None:
    """Two records sharing an email in one connector, both still there: two contacts, as
    before moves were recognised (the one set aside is placed once the pull has ended)."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    hub.sync()
    a.put("y", person(1, job_title="Twin"))
    hub.sync()
    assert sorted(i.fields.get("job_title", "") for i in b.items.values()) == ["", "Twin"]
    assert len(a.items) == 2 and hub.sync().changes == {}


def test_a_display_name_made_from_the_name_follows_a_rename(database_url: str) -> None:
    """A connector without a display name (an Outlook file) renames someone: the display
    name made from the old name parts follows; one someone chose is kept."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["given_name", "family_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("ann", {**person(1), "given_name": "Ann", "family_name": "Smith", "display_name": "Ann Smith"})
    a.put("bob", {**person(2), "given_name": "Bob", "family_name": "Ray", "display_name": "Bobby (site)"})
    hub.sync()
    for nid, item in list(b.items.items()):
        b.edit(nid, family_name="Jones" if item.fields["given_name"] == "Ann" else "Ray-Lee")
    hub.sync()
    assert a.items["ann"].fields["display_name"] == "Ann Jones"
    assert a.items["bob"].fields["display_name"] == "Bobby (site)"
    assert a.items["bob"].fields["family_name"] == "Ray-Lee"
    assert hub.sync().changes == {}


@pytest.mark.parametrize(
    ("renamed", "parts"),
    [
        ("Ann Lee-Smith", {"given_name": "Ann", "family_name": "Lee-Smith"}),
        ("Annie Lee", {"given_name": "Annie", "family_name": "Lee"}),
        ("Ann Marie Lee", {}),  # a new given name or a new family name? cleared
        ("Bob Jones", {}),
    ],
)
def test_name_parts_follow_a_rename_where_there_are_none(
    database_url: str, renamed: str, parts: dict
) -> None:
    """A connector with a display name but no name parts (a plain CSV) renames someone:
    the parts that spelled the old name follow (the card showed "Ann Lee-Smith" over
    N:Lee;Ann), kept where they still stand in their place, cleared when no one split of
    the new name says which part changed."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["display_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("ann", person(1, given_name="Ann", family_name="Lee", display_name="Ann Lee"))
    hub.sync()
    (nid,) = b.items
    b.edit(nid, display_name=renamed)
    hub.sync()
    names = {k: v for k, v in a.items["ann"].fields.items() if k.endswith("_name") and v}
    assert names == {"display_name": renamed, **parts}
    assert hub.sync().changes == {}


def test_a_rename_winning_a_first_link_takes_the_name_parts_along(database_url: str) -> None:
    """The same on a first link, where the rename is a conflict the newer side wins: the
    parts are decided with it, and the conflicts list them."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["display_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("ann", person(1, given_name="Ann", family_name="Lee", display_name="Ann Lee"))
    b.put("ann", {"display_name": "Ann Lee-Smith", "emails": person(1)["emails"]})  # newer
    hub.sync()
    fields = a.items["ann"].fields
    assert (fields["display_name"], fields["given_name"], fields["family_name"]) == (
        "Ann Lee-Smith",
        "Ann",
        "Lee-Smith",
    )
    settled = {c["field"]: c for c in service.conflicts(hub.engine, "h", include_settled=True)}
    assert set(settled) == {"display_name", "family_name"}
    assert settled["family_name"]["hub"] == "Lee" and settled["family_name"]["incoming"] == "Lee-Smith"
    assert {c["status"] for c in settled.values()} == {"auto"}
    assert hub.sync().changes == {}


def test_resolving_for_a_rename_where_there_are_no_name_parts_takes_them_along(database_url: str) -> None:
    """Under ``manual`` the rename waits; taking it takes the parts along, as a sync does:
    the hub kept "Ann Lee" (a's "Ann Marie Lee" is a conflict too), so "Ann Lee-Smith"
    makes the family name Lee-Smith, and a's middle name, part of a's name, goes."""
    hub = Hub(database_url, ["a", "b"], conflict="manual", b={"fields": ["display_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("ann", person(1, given_name="Ann", family_name="Lee", display_name="Ann Lee"))
    hub.sync()
    (nid,) = b.items
    a.edit("ann", middle_name="Marie", display_name="Ann Marie Lee")
    b.edit(nid, display_name="Ann Lee-Smith")
    hub.sync()
    [rename] = [x for x in service.conflicts(hub.engine, "h") if x["source"] == "b"]
    service.resolve(hub.engine, rename["id"], "b")
    hub.sync()
    names = {k: v for k, v in a.items["ann"].fields.items() if k.endswith("_name") and v}
    assert names == {"display_name": "Ann Lee-Smith", "given_name": "Ann", "family_name": "Lee-Smith"}
    assert hub.sync().changes == {}


@pytest.mark.parametrize(
    ("shown", "renamed"),
    [
        ("Smith, Cy", "Jones, Cy"),  # family first, as KAddressBook and Outlook file them
        ("Dr. Cy Smith Jr.", "Dr. Cy Jones Jr."),  # a suffix without a comma
        ("Cy Smith (Acme)", "Cy Jones (Acme)"),
        ("Smith Smith", "Smith Smith"),  # the old part twice: which one? kept
        ("Boss", "Boss"),  # a name someone chose: kept
    ],
)
def test_a_display_name_written_another_way_follows_a_rename(
    database_url: str, shown: str, renamed: str
) -> None:
    """It followed only when it was exactly the hub's own composition of the parts: the
    card went on showing "Smith, Cy" after the family name became Jones in an Outlook file."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["given_name", "family_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("cy", {**person(1), "given_name": "Cy", "family_name": "Smith", "display_name": shown})
    hub.sync()
    (nid,) = b.items
    b.edit(nid, family_name="Jones")
    hub.sync()
    assert a.items["cy"].fields["display_name"] == renamed
    assert a.items["cy"].fields["family_name"] == "Jones"
    assert hub.sync().changes == {}


@pytest.mark.parametrize("policy", ["newest", "priority", "manual"])
def test_a_person_known_only_by_a_display_name_keeps_it_where_there_is_none(
    database_url: str, policy: str
) -> None:
    """A connector with name parts but no display name (an Outlook or Google file) got a
    row with no name at all for "Cher" or "Front Desk"; it gets the display name as the
    given name now, without giving the card a given name, and a rename there follows under
    every policy (it was a conflict with the hub's "no given name", which priority and
    manual kept). A company's own contact is shown by its organization, which that
    connector holds; an email standing in for a name stays out of the name."""
    fields = ["given_name", "family_name", "organization", "emails"]
    hub = Hub(database_url, ["a", "b"], conflict=policy, b={"fields": fields})
    a, b = hub.book("a"), hub.book("b")
    mail = lambda who: [{"value": f"{who}@x.example", "type": "", "primary": True}]  # noqa: E731
    a.put("cher", {"display_name": "Cher", "emails": mail("cher")})
    a.put("desk", {"display_name": "Front Desk", "emails": mail("desk")})
    a.put("globex", {"display_name": "Globex", "organization": "Globex", "emails": mail("info")})
    a.put("zed", {"display_name": "zed@x.example", "emails": mail("zed")})
    hub.sync()
    by_mail = {i.fields["emails"][0]["value"]: (nid, i.fields) for nid, i in b.items.items()}
    assert by_mail["cher@x.example"][1].get("given_name") == "Cher"
    assert by_mail["desk@x.example"][1].get("given_name") == "Front Desk"
    assert not by_mail["info@x.example"][1].get("given_name")
    assert not by_mail["zed@x.example"][1].get("given_name")
    assert hub.sync().changes == {}
    assert "given_name" not in a.items["cher"].fields and "given_name" not in a.items["desk"].fields
    b.edit(by_mail["desk@x.example"][0], given_name="Help Desk")
    hub.sync()
    assert a.items["desk"].fields["display_name"] == "Help Desk"
    assert a.items["cher"].fields["display_name"] == "Cher"
    assert b.items[by_mail["desk@x.example"][0]].fields["given_name"] == "Help Desk"
    assert service.conflicts(hub.engine, "h") == []
    assert hub.sync().changes == {}
    b.edit(by_mail["cher@x.example"][0], family_name="Bono")  # the first name is one now
    hub.sync()
    cher = a.items["cher"].fields
    assert (cher["given_name"], cher["family_name"], cher["display_name"]) == ("Cher", "Bono", "Cher Bono")
    assert hub.sync().changes == {}


def test_one_person_in_three_books_each_knowing_part_of_them_is_one_contact(database_url: str) -> None:
    """a knows only the email, b only the phone and name, c both: b matched nothing when
    it was read, and c then linked to a's contact: two contacts, copied everywhere for
    good. Folded into one once every connector is read (``engine.twins``)."""
    hub = Hub(database_url, ["a", "b", "c"])
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    email = [{"value": "zed@nu.example", "type": "", "primary": True}]
    phone = [{"value": "+16465550199", "type": "cell", "primary": True}]
    a.put("za", {"display_name": "Zed Nu", "emails": email})
    zed = {"given_name": "Zed", "family_name": "Nu", "display_name": "Zed Nu"}
    b.put("zb", {**zed, "phones": phone})
    c.put("zc", {**zed, "emails": email, "phones": phone})
    a.put("other", person(7))  # unrelated: untouched
    report = hub.sync()
    assert report.changes["hub"]["create"] == 2
    assert [len(book.items) for book in (a, b, c)] == [2, 2, 2]
    for book, nid in ((a, "za"), (b, "zb"), (c, "zc")):
        assert book.items[nid].fields["emails"][0]["value"] == "zed@nu.example"
        assert book.items[nid].fields["phones"][0]["value"] == "+16465550199"
    assert hub.sync().changes == {}
    with hub.engine.connect() as conn:
        assert conn.execute(select(t.contacts.c.id)).all().__len__() == 2


def test_a_household_email_does_not_fold_one_person_into_another(database_url: str) -> None:
    """John and Jane share a household email in x; Jane's phone, from z, makes her card's
    contact Jane's row of y too. Folding along the chain made John's card Jane's."""
    hub = Hub(database_url, ["y", "x", "z"])
    y, x, z = hub.book("y"), hub.book("x"), hub.book("z")
    family = [{"value": "family@smith.example", "type": "", "primary": True}]
    phone = [{"value": "+15550000333", "type": "cell", "primary": True}]
    jane = {"given_name": "Jane", "family_name": "Smith", "display_name": "Jane Smith"}
    john = {"given_name": "John", "family_name": "Smith", "display_name": "John Smith"}
    y.put("jane-row", {**jane, "phones": phone})
    x.put("a-john", {**john, "emails": family}, hub_id="john-uid")
    x.put("b-jane", {**jane, "emails": family}, hub_id="jane-uid")
    z.put("jane", {**jane, "emails": family, "phones": phone}, hub_id="jane-uid")
    hub.sync()
    assert x.items["a-john"].fields["given_name"] == "John"
    assert "phones" not in x.items["a-john"].fields
    for book in (y, x, z):
        assert sorted(i.fields["given_name"] for i in book.items.values()) == ["Jane", "John"]
    assert hub.sync().changes == {}


def test_two_records_of_one_book_are_never_folded_into_one_contact(database_url: str) -> None:
    """Twins in one connector are two people there (or a duplicate a person keeps)."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    email = [{"value": "zed@nu.example", "type": "", "primary": True}]
    phone = [{"value": "+16465550199", "type": "cell", "primary": True}]
    a.put("z1", {"display_name": "Zed Nu", "emails": email})
    zed = {"given_name": "Zed", "family_name": "Nu", "display_name": "Zed Nu"}
    a.put("z2", {**zed, "phones": phone})
    b.put("z3", {**zed, "emails": email, "phones": phone})
    hub.sync()
    assert len(a.items) == 2
    assert hub.sync().changes == {}


def test_name_parts_a_system_split_out_of_a_display_name_are_not_the_hubs(database_url: str) -> None:
    """Pipedrive splits "Loading Dock" into first and last name. Under manual, its rename
    to "Dock Office" opened two name conflicts the card never made; the split alone
    gave the card name parts. (The book holds a name written without parts split, as
    Pipedrive does: a record that held its name unsplit and renames it with parts had them
    typed, ``test_name_parts_typed_with_a_new_display_name_are_kept``.)"""
    hub = Hub(database_url, ["a", "b"], conflict="manual", b={"split_names": True})
    a, b = hub.book("a"), hub.book("b")
    a.put(
        "dock",
        {
            "display_name": "Loading Dock",
            "emails": [{"value": "dock@x.example", "type": "", "primary": True}],
        },
    )
    hub.sync()
    [nid] = b.items
    assert (b.items[nid].fields["given_name"], b.items[nid].fields["family_name"]) == ("Loading", "Dock")
    assert hub.sync().changes == {}
    assert "given_name" not in a.items["dock"].fields and "family_name" not in a.items["dock"].fields
    b.edit(nid, display_name="Dock Office", given_name="Dock", family_name="Office")
    hub.sync()
    assert a.items["dock"].fields["display_name"] == "Dock Office"
    assert "given_name" not in a.items["dock"].fields
    assert service.conflicts(hub.engine, "h") == []


@pytest.mark.parametrize("policy", ["manual", "newest", "priority"])
def test_name_parts_typed_with_a_new_display_name_are_kept(database_url: str, policy: str) -> None:
    """QA: a card the hub made from a plain CSV row has a display name and an empty N; its
    owner fills in N (Lee;Anna) and changes FN to "Anna Lee" in one edit. The parts spelled
    the new display name, so they were dropped as a system's split of it (Pipedrive's,
    above): the hub took the display name alone and wrote the card back with N emptied,
    erasing what was just typed. The record held the old name unsplit, so no system split
    the new one: the parts are taken with it, and spread."""
    hub = Hub(database_url, ["a", "b", "c"], conflict=policy, a={"fields": ["display_name", "emails"]})
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    email = [{"value": "ann@x.example", "type": "", "primary": True}]
    a.put("ann", {"display_name": "Ann Lee", "emails": email})
    hub.sync()
    [nid] = b.items
    assert not b.items[nid].fields.get("given_name") and not b.items[nid].fields.get("family_name")
    b.edit(nid, display_name="Anna Lee", given_name="Anna", family_name="Lee")
    hub.sync()
    want = {"display_name": "Anna Lee", "given_name": "Anna", "family_name": "Lee"}
    for book in (b, c):
        assert {k: v for k, v in only(book).items() if k.endswith("_name") and v} == want
    assert only(a)["display_name"] == "Anna Lee"
    assert service.conflicts(hub.engine, "h") == []
    assert hub.sync().changes == {}


def test_name_parts_typed_to_spell_the_unchanged_display_name_are_kept(database_url: str) -> None:
    """QA: the same card, its owner filling in N (Lee;Ann) to spell the FN as it is. Only a
    system that splits a display name it is sent (Pipedrive, ``Spoke.splits_names``) makes
    such parts; guessed from the data alone, they were dropped and the card written back
    with N emptied, erasing what was just typed. A system that does split still has its
    split dropped (``test_name_parts_a_system_split_out_of_a_display_name_are_not_the_hubs``)."""
    hub = Hub(database_url, ["a", "b", "c"], a={"fields": ["display_name", "emails"]})
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put(
        "ann",
        {"display_name": "Ann Lee", "emails": [{"value": "ann@x.example", "type": "", "primary": True}]},
    )
    hub.sync()
    [nid] = b.items
    b.edit(nid, given_name="Ann", family_name="Lee")
    hub.sync()
    want = {"display_name": "Ann Lee", "given_name": "Ann", "family_name": "Lee"}
    for book in (b, c):
        assert {k: v for k, v in only(book).items() if k.endswith("_name") and v} == want
    assert hub.sync().changes == {}


def test_name_parts_typed_for_someone_named_by_an_email_are_taken(database_url: str) -> None:
    """QA: a person without a name, shown by their email, named "Zed Alpha" with its given
    and family name in a plain CSV: the parts spelled the display name, so they were
    dropped as a system's split of it (Pipedrive's, above); the card got no N, and the
    row was written back without them. Typed with the first name the hub had for them,
    they are taken with it."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["display_name", "given_name", "family_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("zed", {"emails": [{"value": "zed@x.example", "type": "", "primary": True}]})
    hub.sync()
    [nid] = b.items
    assert b.items[nid].fields["display_name"] == "zed@x.example"
    b.edit(nid, display_name="Zed Alpha", given_name="Zed", family_name="Alpha")
    hub.sync()
    names = {k: v for k, v in a.items["zed"].fields.items() if k.endswith("_name") and v}
    assert names == {"display_name": "Zed Alpha", "given_name": "Zed", "family_name": "Alpha"}
    row = b.items[nid].fields
    typed = ("display_name", "given_name", "family_name")
    assert [row.get(k) for k in typed] == ["Zed Alpha", "Zed", "Alpha"]
    assert service.conflicts(hub.engine, "h") == []
    assert hub.sync().changes == {}


def test_name_parts_given_with_the_email_left_as_the_name_make_the_name(database_url: str) -> None:
    """The parts filled in, the display name left as the email that stood in for a name:
    the hub kept the email as the name to show, and the card's FN stayed the address."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["display_name", "given_name", "family_name", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("zed", {"emails": [{"value": "zed@x.example", "type": "", "primary": True}]})
    hub.sync()
    [nid] = b.items
    b.edit(nid, given_name="Zed", family_name="Alpha")  # display name still zed@x.example
    hub.sync()
    names = {k: v for k, v in a.items["zed"].fields.items() if k.endswith("_name") and v}
    assert names == {"display_name": "Zed Alpha", "given_name": "Zed", "family_name": "Alpha"}
    assert b.items[nid].fields["display_name"] == "Zed Alpha"
    assert hub.sync().changes == {}
    # an email typed as the name of someone with a name is left alone: only a stand-in goes
    b.edit(nid, display_name="zed.alpha@x.example")
    hub.sync()
    assert a.items["zed"].fields["display_name"] == "zed.alpha@x.example"


def test_a_record_first_seen_keeps_its_name_parts_and_types(database_url: str) -> None:
    """QA: a file listed first that holds a display name and untyped emails and phones (a
    CSV) made the person; the card of the same person, linked on the first sync, lost its
    N parts (they spelt out its display name, read as a system's split) and its TYPE=home
    labels (the hub's untyped elements won), and was written back so."""
    hub = Hub(database_url, ["a", "b"], a={"fields": ["display_name", "emails", "phones"]})
    a, b = hub.book("a"), hub.book("b")
    mail, phone = {"value": "jane@example.com", "primary": True}, {"value": "+15551234567", "primary": True}
    a.put(
        "row",
        {"display_name": "Jane Doe", "emails": [{**mail, "type": ""}], "phones": [{**phone, "type": ""}]},
    )
    card = {
        "display_name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "emails": [{**mail, "type": "home"}],
        "phones": [{**phone, "type": "home"}],
    }
    b.put("card", card)
    report = hub.sync()
    assert "b" not in report.changes, report.changes
    assert b.items["card"].fields == card
    assert hub.sync().changes == {}


def test_a_company_renamed_where_there_is_no_display_name_is_shown_by_its_new_name(
    database_url: str,
) -> None:
    """A Procore vendor renamed: the card kept FN:Acme Plumbing beside the new ORG."""
    hub = Hub(database_url, ["a", "b"], b={"fields": ["organization", "emails"]})
    a, b = hub.book("a"), hub.book("b")
    mail = [{"value": "office@acme.example", "type": "", "primary": True}]
    a.put("acme", {"display_name": "Acme Plumbing", "organization": "Acme Plumbing", "emails": mail})
    hub.sync()
    [nid] = b.items
    b.edit(nid, organization="Acme Plumbing & Heating")
    hub.sync()
    assert a.items["acme"].fields["display_name"] == "Acme Plumbing & Heating"
    assert a.items["acme"].fields["organization"] == "Acme Plumbing & Heating"
    assert hub.sync().changes == {}


def test_phone_normalised_match(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a_fields = Contact(given_name="Ann", family_name="Lee", phones=[Phone("(202) 555-0100")]).to_fields()
    b_fields = Contact(given_name="ann", family_name="LEE", phones=[Phone("+1 202 555 0100")]).to_fields()
    hub.book("a").put("x", a_fields)
    hub.book("b").put("y", b_fields)
    hub.sync()
    assert len(hub.book("a").items) == 1 and len(hub.book("b").items) == 1


def test_changing_a_filter_reconsiders_everyone(database_url: str) -> None:
    only_example = {"filter": {"all": [{"field": "email", "op": "ends_with", "value": "@example.com"}]}}
    hub = Hub(database_url, ["a", "b"], b=only_example)
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", {**person(2), "emails": [{"value": "p2@other.org", "type": "", "primary": True}]})
    hub.sync()
    assert len(b.items) == 1
    hub.apply(b={"filter": {"all": [{"field": "email", "op": "ends_with", "value": ".org"}]}})
    hub.sync()
    # the newly admitted person is created; the one who left the filter is unlinked, not deleted
    assert {i.fields["given_name"] for i in b.items.values()} == {"Given1", "Given2"}
    a.edit("x", job_title="only in a")
    hub.sync()
    assert all("job_title" not in i.fields for i in b.items.values())


def test_a_dry_run_is_never_held(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(10):
        a.put(f"a{i}", person(i))
    hub.sync()
    delete_six(b)
    report = hub.sync(dry_run=True)
    assert report.status == "planned" and "would be held" in (report.message or "")
    assert report.changes["a"]["delete"] == 6 and len(a.items) == 10  # planned, not done
    assert hub.sync().status == "held"


def test_an_edit_to_a_record_of_a_deleted_person_restores_them(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="50")
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("y", person(2))
    hub.sync()
    [bx] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    del a.items["x"]
    b.fail_writes = True  # the deletion cannot reach b this time
    report = hub.sync()
    assert report.errors and bx in b.items
    b.fail_writes = False
    b.edit(bx, notes="still here")
    hub.sync()
    assert [i.fields.get("notes") for i in a.items.values() if i.fields["given_name"] == "Given1"] == [
        "still here"
    ]
    assert hub.sync().changes == {}


def test_an_undo_reverts_a_value_the_system_read_back_with_another_label() -> None:
    """Pipedrive labels an email it was sent untyped "work": the undo took the labelled
    email for an edit made since, and left the merged email in the CRM for good."""
    from contacthub.engine.undo import _same_values

    sent = [{"value": "dana@example.com", "type": "", "primary": True}]
    read_back = [{"value": "dana@example.com", "type": "work", "primary": True}]
    assert _same_values("emails", read_back, sent)
    assert not _same_values("emails", read_back, [{**sent[0], "value": "other@example.com"}])
    assert _same_values("job_title", "Chef", "Chef") and not _same_values("job_title", "Chef", "Cook")


def test_a_name_written_without_its_accents_is_the_same_person_by_phone(database_url: str) -> None:
    """ "José Pérez" in one book and "Jose Perez" with the same phone in another were two
    hub contacts: the phone+name key compares names without their accents. Only the key:
    each side keeps the name as it wrote it."""
    hub = Hub(database_url, ["a", "b"])
    hub.book("b").put(
        "y", Contact(given_name="Jose", family_name="Perez", phones=[Phone("(202) 555-0147")]).to_fields()
    )
    hub.book("a").put(  # the newer: its name is the person's
        "x", Contact(given_name="José", family_name="Pérez", phones=[Phone("+1 202 555 0147")]).to_fields()
    )
    hub.sync()
    assert len(hub.book("a").items) == 1 and len(hub.book("b").items) == 1
    assert only(hub.book("a"))["family_name"] == only(hub.book("b"))["family_name"] == "Pérez"
    with hub.engine.connect() as conn:
        assert (
            conn.execute(select(t.contacts.c.id).where(t.contacts.c.deleted.is_(False))).all().__len__() == 1
        )


def test_two_names_whose_accents_differ_stay_two_people_on_one_phone(database_url: str) -> None:
    """Vietnamese "Lê Hùng" and "Lê Hưng" (and "Nguyễn Hà", "Nguyễn Hạ") sharing a landline
    are four people: with one accent-free key for all of them, each pair was merged and one
    name written over the other's."""
    hub = Hub(database_url, ["a", "b"])

    def person(given: str, family: str) -> dict[str, Any]:
        return Contact(given_name=given, family_name=family, phones=[Phone("+84 24 3825 1234")]).to_fields()

    hub.book("a").put("hung", person("Hùng", "Lê"))
    hub.book("a").put("ha", person("Hà", "Nguyễn"))
    hub.book("b").put("hung2", person("Hưng", "Lê"))
    hub.book("b").put("ha2", person("Hạ", "Nguyễn"))
    hub.sync()
    for name in ("a", "b"):
        given = sorted(i.fields["given_name"] for i in hub.book(name).items.values())
        assert given == ["Hà", "Hùng", "Hưng", "Hạ"]
    assert hub.sync().changes == {}


def test_a_hub_with_phone_name_keys_made_the_old_way_still_finds_its_people(database_url: str) -> None:
    """A hub made before accent-free phone+name keys holds the exact one ("josé pérez")
    only: migration 0009 adds the accent-free one, so "Jose Perez" synced after the upgrade
    in a connector added after the upgrade is found, not made a second person. Email keys
    are left as they were."""
    from alembic import command
    from alembic.config import Config

    from contacthub.store import db

    hub = Hub(database_url, ["a"])
    fields = Contact(given_name="José", family_name="Pérez", phones=[Phone("+1 202 555 0147")]).to_fields()
    fields["emails"] = [{"value": "josé@example.com", "type": ""}]
    hub.book("a").put("x", fields)
    hub.sync()
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with hub.engine.begin() as conn:
        [(contact_id, hub_id)] = conn.execute(select(t.contacts.c.id, t.contacts.c.hub_id)).all()
        new_keys = sorted(k for (k,) in conn.execute(select(t.match_keys.c.key)))
        # the keys as the code before 0009 made them, and the schema back at 0008
        conn.execute(t.match_keys.delete())
        old = ["email:josé@example.com", "phone+name:12025550147|josé pérez"]
        conn.execute(
            t.match_keys.insert(), [{"hub_id": hub_id, "key": k, "contact_id": contact_id} for k in old]
        )
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")  # the columns added since go
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0008'")
    assert new_keys == [
        "email:josé@example.com",
        "phone+name:12025550147|josé pérez",
        "phone+name~:12025550147|jose perez",
    ]
    with hub.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with hub.engine.connect() as conn:
        assert sorted(k for (k,) in conn.execute(select(t.match_keys.c.key))) == new_keys
    hub.names.append("b")
    hub.apply()
    hub.book("b").put(
        "y", Contact(given_name="Jose", family_name="Perez", phones=[Phone("202 555 0147")]).to_fields()
    )
    hub.sync()
    assert len(hub.book("a").items) == 1 and len(hub.book("b").items) == 1


def test_a_hub_made_before_name_keys_finds_its_people_with_no_email_or_phone(database_url: str) -> None:
    """A hub made before ``name:`` keys holds no key at all for a person with no email or
    phone, and a contact nobody edits keeps its keys: migration 0010 adds them, so such a
    person is found again by a connector added after the upgrade (QA: an upgraded hub still
    made them twice). A contact with other keys gets none."""
    from alembic import command
    from alembic.config import Config

    from contacthub.store import db

    hub = Hub(database_url, ["a"])
    hub.book("a").put("x", {"display_name": "Bo Ek", "given_name": "Bo", "family_name": "Ek", "notes": "n"})
    hub.book("a").put("y", person(2))
    hub.sync()
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with hub.engine.begin() as conn:
        new_keys = sorted(k for (k,) in conn.execute(select(t.match_keys.c.key)))
        # the keys as the code before 0010 made them, and the schema back at 0009
        conn.execute(t.match_keys.delete().where(t.match_keys.c.key.like("name:%")))
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")  # the columns added since go
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0009'")
    assert "name:bo ek" in new_keys and not any(k.startswith("name:given2") for k in new_keys)
    with hub.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with hub.engine.connect() as conn:
        assert sorted(k for (k,) in conn.execute(select(t.match_keys.c.key))) == new_keys
    hub.names.append("b")
    hub.apply()
    hub.book("b").put("z", {"display_name": "Bo Ek", "given_name": "Bo", "family_name": "Ek", "notes": "n"})
    hub.sync()
    assert len(hub.book("a").items) == 2 and len(hub.book("b").items) == 2


def test_a_resolve_after_a_hold_leaves_the_hold_to_decide(database_url: str) -> None:
    """A resolve changes one hub value and syncs nothing: it neither counts the held
    deletions again nor decides them. Taken for a run applied after the hold, it made the
    hold out of date, and approving it was refused for a conflict settled meanwhile."""
    hub, a, b = twenty_synced(database_url, conflict="manual")
    [bid] = [n for n, i in b.items.items() if i.fields["given_name"] == "Given1"]
    a.edit("a1", job_title="from a")
    b.edit(bid, job_title="from b")
    hub.sync()
    conflict = of_side(service.conflicts(hub.engine, "h"), "b")
    delete_six(b, keep="Given1")
    held = hub.sync()
    assert held.status == "held"
    service.resolve(hub.engine, conflict["id"], "a")
    assert [r["superseded_by"] for r in service.runs(hub.engine, "h") if r["id"] == held.run_id] == [None]
    assert service.approve(hub.engine, held.run_id).status == "applied"
    assert len(a.items) == 14 and only_title(a, "Given1") == only_title(b, "Given1") == "from a"


def only_title(book: Any, given: str) -> Any:
    [fields] = [i.fields for i in book.items.values() if i.fields["given_name"] == given]
    return fields.get("job_title")


def test_an_approve_and_a_reject_of_one_run_sent_at_once_decide_it_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read "held" on PostgreSQL and both went ahead: the reject put the records back,
    the approve ran after it, and the run said "approved" (QA). The second is refused now,
    whichever comes first, and the run says what was done."""
    import threading
    import time

    from contacthub.service import actions

    hub, a, b = twenty_synced(database_url)
    delete_six(b)
    held = hub.sync()
    assert held.status == "held"
    read = actions._run_row
    first = threading.Event()

    def slow_read(conn: Any, run_id: int) -> Any:
        row = read(conn, run_id)
        if not first.is_set():  # the first decision holds its transaction open a while
            first.set()
            time.sleep(0.5)
        return row

    monkeypatch.setattr(actions, "_run_row", slow_read)
    outcomes: dict[str, object] = {}

    def decide(name: str) -> None:
        try:
            outcomes[name] = getattr(service, name)(hub.engine, held.run_id).status
        except UserError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=decide, args=(name,)) for name in ("approve", "reject")]
    threads[0].start()
    first.wait(5)
    threads[1].start()
    for thread in threads:
        thread.join(60)
    assert outcomes["approve"] == "applied", outcomes
    assert isinstance(outcomes["reject"], UserError) and "not held" in str(outcomes["reject"])
    with hub.engine.connect() as conn:
        status = conn.execute(select(t.runs.c.status).where(t.runs.c.id == held.run_id)).scalar_one()
    assert status == "approved" and len(b.items) == 14 and len(a.items) == 14


def test_two_undos_of_one_run_sent_at_once_undo_it_once(database_url: str) -> None:
    """Both passed the "already undone" check before either ran; the second then found
    every change "changed again since" and said so of each person. It asks again under the
    hub's lock now, and fails saying which undo stands."""
    import threading

    from contacthub.scheduler.lock import hub_lock

    hub = Hub(database_url, ["a", "b"])
    a = hub.book("a")
    for i in range(5):
        a.put(f"a{i}", person(i))
    hub.sync()
    for i in range(5):
        a.edit(f"a{i}", job_title="edited")
    edited = hub.sync()
    outcomes: list[Any] = []
    waiting = threading.Semaphore(0)

    def undo() -> None:
        outcomes.append(service.undo(hub.engine, edited.run_id, on_wait=waiting.release))

    with hub_lock(hub.engine, "h"):  # as a run of the hub does: both undos wait behind it
        threads = [threading.Thread(target=undo) for _ in range(2)]
        for thread in threads:
            thread.start()
        for _ in threads:  # both past their first check, waiting for the lock
            assert waiting.acquire(timeout=60)
    for thread in threads:
        thread.join(60)
    statuses = sorted(r.status for r in outcomes)
    assert statuses == ["applied", "failed"], [r.as_json() for r in outcomes]
    [failed] = [r for r in outcomes if r.status == "failed"]
    assert "already undone" in (failed.message or "") and len(failed.errors) == 1
    assert all(item.fields.get("job_title") is None for item in a.items.values())
