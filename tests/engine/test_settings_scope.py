"""A change of a connector's own settings that narrows what it lists (a GAL's ``member_of``,
here the memory book's ``hidden``): the records its next complete read leaves out are let
go, not deleted in the hub nor anywhere else, and not held; later runs take a record gone
for a deletion again. Before, the run after the change was held for deleting them, and one
approve deleted those people in every other connector."""

from __future__ import annotations

from sqlalchemy import select

from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def synced(url: str, people: int) -> Hub:
    """Hub of books a and b, ``people`` people read from a into b, in step."""
    hub = Hub(url, ["a", "b"])
    for i in range(people):
        hub.book("a").put(f"x{i}", person(i))
    assert hub.sync().status == "applied"
    assert hub.sync().changes == {}
    assert len(hub.book("b").items) == people
    return hub


def marked(hub: Hub, name: str) -> bool:
    with hub.engine.connect() as conn:
        query = select(t.connectors.c.settings_changed).where(t.connectors.c.name == name)
        return bool(conn.execute(query).scalar_one())


def test_records_a_changed_setting_leaves_out_are_let_go_not_deleted(database_url: str) -> None:
    hub = synced(database_url, 10)
    a, b = hub.book("a"), hub.book("b")
    hub.apply(a={"hidden": [f"x{i}" for i in range(6)]})

    report = hub.sync()
    assert report.status == "applied" and report.held == [], report.as_json()
    assert report.changes == {}
    assert report.unlinked == {"a": 6}
    assert len(a.items) == 10 and len(b.items) == 10

    # let go for good: not written into a again (a record its settings leave out, gone
    # the next run: a deletion), nor given b's edits
    a_versions = {n: i.version for n, i in a.items.items()}
    [b0] = [n for n, i in b.items.items() if i.fields["emails"][0]["value"] == "p0@example.com"]
    b.edit(b0, job_title="Boss")
    report = hub.sync()
    assert report.status == "applied" and report.changes == {"hub": {"create": 0, "update": 1, "delete": 0}}
    assert report.unlinked == {}
    assert {n: i.version for n, i in a.items.items()} == a_versions
    assert hub.sync().changes == {}

    # later, the settings unchanged: a record gone from a is a deletion again
    del a.items["x7"]
    report = hub.sync()
    assert report.changes["hub"]["delete"] == 1 and report.changes["b"]["delete"] == 1
    assert len(b.items) == 9

    # listed again: linked as before, no second person, and edits flow again
    hub.apply(a={"hidden": []})
    report = hub.sync()
    assert report.status == "applied" and report.changes.get("b", {}).get("create", 0) == 0
    assert len(b.items) == 9 and len(a.items) == 9
    a.edit("x1", job_title="Foreman")
    hub.sync()
    assert [i.fields.get("job_title") for i in b.items.values()].count("Foreman") == 1


def test_the_let_go_waits_for_an_applied_run(database_url: str) -> None:
    """A run that fails or is held leaves the mark; the run applied after lets go."""
    hub = synced(database_url, 12)
    a, b = hub.book("a"), hub.book("b")
    hub.apply(a={"hidden": [f"x{i}" for i in range(6)]})

    b.fail_pull = True
    assert hub.sync().status == "failed"
    b.fail_pull = False
    assert marked(hub, "a")

    kept = dict(b.items)
    for nid in [n for n, i in b.items.items() if int(i.fields["emails"][0]["value"][1:-12]) >= 7]:
        del b.items[nid]  # five people deleted in b: held for those, not for a's six
    report = hub.sync()
    assert report.status == "held", report.as_json()
    assert {h["deletes"] for h in report.held} == {5}, report.held
    assert marked(hub, "a")

    b.items = kept
    report = hub.sync()
    assert report.status == "applied" and report.changes == {}, report.as_json()
    assert report.unlinked == {"a": 6}
    assert not marked(hub, "a")
    assert len(a.items) == 12 and len(b.items) == 12


def test_only_a_change_of_settings_lets_go(database_url: str) -> None:
    """A filter's change re-plans too, but a record gone then is still a deletion."""
    hub = synced(database_url, 10)
    a, b = hub.book("a"), hub.book("b")
    hub.apply(a={"filter": {"field": "job_title", "op": "not_equals", "value": "Nobody"}})
    assert not marked(hub, "a")
    del a.items["x3"]
    report = hub.sync()
    assert report.changes["hub"]["delete"] == 1 and report.unlinked == {}
    assert len(b.items) == 9


def test_undoing_the_run_that_let_records_go_says_how_to_link_them_again(database_url: str) -> None:
    """The run that let records go after a settings change changed nothing in the hub, and
    its undo was refused as of any run that changed nothing, with no word of the six
    records: the undo cannot link them again (linked while the settings leave them out,
    the next complete read took them for deletions, the people gone everywhere). The
    refusal says so and how: the settings changed back, they are linked again."""
    import pytest

    from contacthub import service
    from contacthub.errors import UserError

    hub = synced(database_url, 10)
    a, b = hub.book("a"), hub.book("b")
    hub.apply(a={"hidden": [f"x{i}" for i in range(6)]})
    report = hub.sync()
    assert report.unlinked == {"a": 6}
    said = r"nothing to undo \(the 6 in a record\(s\) it let go after a settings change are linked again"
    with pytest.raises(UserError, match=said):
        service.undo(hub.engine, report.run_id)
    hub.apply(a={"hidden": []})
    hub.sync()
    a.edit("x1", job_title="Foreman")
    hub.sync()
    assert [i.fields.get("job_title") for i in b.items.values()].count("Foreman") == 1
