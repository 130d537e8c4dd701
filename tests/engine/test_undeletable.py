"""A connector that never deletes some records (a GAL's directory users) keeps the person in
the hub: decided when the deletion is read, before any connector writes, so that no other
connector's copy is deleted and made again (rebuilt from the hub's fields, without what
only that copy held)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def three_books(url: str, **gal: Any) -> tuple[Hub, str, str, str]:
    """Books a, b and a GAL-like g (last in hub order) holding one person; returns the
    hub and the person's ids in each book, g's made one it never deletes."""
    hub = Hub(url, ["a", "b", "g"], threshold="50", **({"g": gal} if gal else {}))
    hub.book("a").put("x", person(1))
    hub.book("a").put("other", person(2))  # (a book emptied would hold the run)
    hub.book("g").put("users/1", person(1))
    assert hub.sync().errors == []
    [bid] = [n for n, i in hub.book("b").items.items() if i.fields == person(1)]
    gid = "users/1"
    hub.book("g").undeletable.add(gid)
    assert hub.sync().changes == {}
    return hub, "x", bid, gid


@pytest.mark.parametrize("on_delete", ["delete", "deactivate"])
def test_a_record_another_connector_never_deletes_keeps_the_person_everywhere(
    database_url: str, on_delete: str
) -> None:
    hub, _, bid, gid = three_books(database_url, on_delete=on_delete)
    a, b, g = hub.book("a"), hub.book("b"), hub.book("g")
    b.edit(bid, **{"custom.only_in_b": "kept"})  # what a copy made again would not hold
    hub.sync()
    b_version, b_writes, g_version = b.items[bid].version, b.writes, g.items[gid].version

    del a.items["x"]
    report = hub.sync()
    assert report.status == "applied"
    # said once, by the connector that keeps the person; no hub delete, no restore
    assert [(e["connector"], e["record"]) for e in report.errors] == [("g", gid)]
    assert report.changes == {"a": {"create": 1, "update": 0, "delete": 0}}
    [back] = [
        i for n, i in a.items.items() if n != "other"
    ]  # the card deleted in a comes back in the same run
    assert back.fields["emails"][0]["value"] == "p1@example.com"
    # b's copy was never touched: not deleted, not made again
    assert len(b.items) == 2 and b.items[bid].version == b_version and b.writes == b_writes
    assert b.items[bid].fields["custom.only_in_b"] == "kept"
    assert g.items[gid].version == g_version and "custom.active" not in g.items[gid].fields

    again = hub.sync()
    assert again.errors == [] and again.changes == {}


def test_a_connector_that_gets_no_deletions_keeps_no_one(database_url: str) -> None:
    """A ``to-hub`` GAL is never sent the deletion: the person is deleted as anywhere else."""
    hub, _, _, gid = three_books(database_url, direction="to-hub")
    del hub.book("a").items["x"]
    report = hub.sync()
    assert report.errors == []
    assert report.changes["hub"]["delete"] == 1 and [i.fields for i in hub.book("b").items.values()] == [
        person(2)
    ]
    assert gid in hub.book("g").items  # (never written: it only feeds the hub)
