"""Under ``manual``, sides that change a field differently in one run: nobody wins before a
person decides. Connectors are pulled one after another, and the first side's value went
into the hub before the second's conflicted with it: the hub, every page and the journal
showed a's value as if someone had picked it, and a third side got it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from contacthub import service
from contacthub.store import tables as t
from contacthub.store.repo import loads
from tests.engine.harness import Hub
from tests.engine.test_scenarios import only, person

OLD = "Given1 Family1"


def hub_contact(hub: Hub) -> dict[str, Any]:
    with hub.engine.connect() as conn:
        [data] = conn.execute(select(t.contacts.c.data)).scalars()
    return loads(data)


def open_rows(hub: Hub) -> set[tuple[str, str, Any, Any]]:
    return {(x["source"], x["field"], x["hub"], x["incoming"]) for x in service.conflicts(hub.engine, "h")}


def renamed(hub: Hub, **names: str) -> None:
    """Rename the person in each book named, all in one run's window, and sync."""
    for book, name in names.items():
        items = hub.book(book).items
        hub.book(book).edit(next(iter(items)), display_name=name)
    hub.sync()


def row_of(hub: Hub, source: str) -> dict[str, Any]:
    [row] = [x for x in service.conflicts(hub.engine, "h") if x["source"] == source]
    return row


@pytest.mark.parametrize("take", ["a", "b"])
def test_two_sides_renaming_in_one_run_leave_the_hub_as_it_was(database_url: str, take: str) -> None:
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, display_name=OLD))
    hub.sync()
    renamed(hub, a="Name From A", b="Name From B")
    assert hub_contact(hub)["display_name"] == OLD
    assert open_rows(hub) == {
        ("a", "display_name", OLD, "Name From A"),
        ("b", "display_name", OLD, "Name From B"),
    }
    assert (only(a)["display_name"], only(b)["display_name"], only(c)["display_name"]) == (
        "Name From A",
        "Name From B",
        OLD,  # c, which changed nothing, never got a's value
    )
    # the journal shows no hub update that stands: a's value, taken first, is put back
    with hub.engine.connect() as conn:
        rows = conn.execute(
            select(t.changes.c.before, t.changes.c.after)
            .where(t.changes.c.op == "update", t.changes.c.connector_name == "hub")
            .order_by(t.changes.c.id)
        ).all()
    assert [(loads(x)["display_name"], loads(y)["display_name"]) for x, y in rows] == [
        (OLD, "Name From A"),
        ("Name From A", OLD),
    ]
    assert hub.sync().changes == {}
    # b's row offers a's value too: either side decides the field, whichever row is used
    service.resolve(hub.engine, row_of(hub, "b")["id"], take)
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    want = f"Name From {take.upper()}"
    assert only(a)["display_name"] == only(b)["display_name"] == only(c)["display_name"] == want
    assert hub.sync().changes == {}


def test_three_sides_renaming_in_one_run_each_get_a_conflict(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b", "c", "d"], conflict="manual")
    a, b, c, d = (hub.book(n) for n in "abcd")
    a.put("x", person(1, display_name=OLD))
    hub.sync()
    renamed(hub, a="Name From A", b="Name From B", c="Name From C")
    assert hub_contact(hub)["display_name"] == OLD
    assert open_rows(hub) == {(n, "display_name", OLD, f"Name From {n.upper()}") for n in "abc"}
    assert [only(book)["display_name"] for book in (a, b, c, d)] == [
        "Name From A",
        "Name From B",
        "Name From C",
        OLD,
    ]
    assert hub.sync().changes == {}
    service.resolve(hub.engine, row_of(hub, "a")["id"], "c")
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    assert {only(book)["display_name"] for book in (a, b, c, d)} == {"Name From C"}
    assert hub.sync().changes == {}


def test_renames_by_name_parts_in_one_run_leave_the_hub_as_it_was(database_url: str) -> None:
    """The same with the given name (a card's N): a name is decided whole."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, display_name=OLD))
    hub.sync()
    a.edit("x", given_name="Alicia")
    b.edit(next(iter(b.items)), given_name="Bella")
    hub.sync()
    shown = hub_contact(hub)
    assert (shown["given_name"], shown["display_name"]) == ("Given1", OLD)
    assert open_rows(hub) == {("a", "given_name", "Given1", "Alicia"), ("b", "given_name", "Given1", "Bella")}
    assert [only(book)["given_name"] for book in (a, b, c)] == ["Alicia", "Bella", "Given1"]
    assert hub.sync().changes == {}
    service.resolve(hub.engine, row_of(hub, "a")["id"], "b")
    hub.sync()
    for book in (a, b, c):
        assert (only(book)["given_name"], only(book)["display_name"]) == ("Bella", "Bella Family1")
    assert hub.sync().changes == {}


@pytest.mark.parametrize(("policy", "want"), [("newest", "Name From B"), ("priority", "Name From A")])
def test_other_policies_still_pick_a_winner(database_url: str, policy: str, want: str) -> None:
    hub = Hub(database_url, ["a", "b", "c"], conflict=policy)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, display_name=OLD))
    hub.sync()
    renamed(hub, a="Name From A", b="Name From B")
    assert hub_contact(hub)["display_name"] == want
    assert {only(book)["display_name"] for book in (a, b, c)} == {want}


def titled(hub: Hub, **titles: str) -> None:
    """Set the job title in each book named, all in one run's window, and sync."""
    for book, title in titles.items():
        hub.book(book).edit(next(iter(hub.book(book).items)), job_title=title)
    hub.sync()


@pytest.mark.parametrize("same", ["ab", "ac", "bc"])
def test_a_side_changing_a_field_to_the_value_another_gave_is_a_side_of_its_own(
    database_url: str, same: str
) -> None:
    """Two sides give the same new value, a third another, in one run. The second of the
    two found the hub already holding it (the first's, not yet agreed): nothing to merge,
    so it had no row when the third put the hub back; later, when the first came round to
    the third's value, the sides seemed to agree and the second's card was overwritten,
    though it still said "Boss" and nobody had chosen."""
    hub = Hub(database_url, ["a", "b", "c", "d"], conflict="manual")
    books = {n: hub.book(n) for n in "abcd"}
    books["a"].put("x", person(1, job_title="Eng"))
    hub.sync()
    [rival] = set("abc") - set(same)
    titled(hub, **{n: "Boss" for n in same}, **{rival: "Chief"})
    assert hub_contact(hub)["job_title"] == "Eng"
    assert open_rows(hub) == {
        *((n, "job_title", "Eng", "Boss") for n in same),
        (rival, "job_title", "Eng", "Chief"),
    }
    assert hub.sync().changes == {}
    # one of the two comes round to the rival's value: the other still says "Boss"
    first, second = same
    titled(hub, **{first: "Chief"})
    assert hub_contact(hub)["job_title"] == "Eng"
    assert only(books[second])["job_title"] == "Boss"
    assert (second, "job_title", "Eng", "Boss") in open_rows(hub)
    # the other too: now every side holds one value, and the hub takes it
    titled(hub, **{second: "Chief"})
    assert service.conflicts(hub.engine, "h") == []
    hub.sync()
    assert {only(book)["job_title"] for book in books.values()} == {"Chief"}
    assert hub.sync().changes == {}


def test_a_side_giving_the_name_another_gave_is_a_side_of_its_own(database_url: str) -> None:
    """The same with a name part: a and b give the same new given name, c another."""
    hub = Hub(database_url, ["a", "b", "c"], conflict="manual")
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    a.put("x", person(1, display_name=OLD))
    hub.sync()
    for book, given in ((a, "Alicia"), (b, "Alicia"), (c, "Bella")):
        book.edit(next(iter(book.items)), given_name=given)
    hub.sync()
    assert hub_contact(hub)["given_name"] == "Given1"
    assert {r for r in open_rows(hub) if r[1] == "given_name"} == {
        ("a", "given_name", "Given1", "Alicia"),
        ("b", "given_name", "Given1", "Alicia"),
        ("c", "given_name", "Given1", "Bella"),
    }
    a.edit("x", given_name="Bella")
    hub.sync()
    assert hub_contact(hub)["given_name"] == "Given1"
    assert only(b)["given_name"] == "Alicia"
