"""Records left behind for a deleted person and a person added again (``engine.leftovers``),
on memory books: what is not taken up."""

from __future__ import annotations

from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def test_a_deactivated_record_is_left_to_its_own_path(database_url: str) -> None:
    """A record ``on_delete = "deactivate"`` deactivated is no record left as it was: it
    comes back with its own person (``Store.deactivated_links``), and a person added again
    gets a record of their own there, as before."""
    hub = Hub(database_url, ["a", "d"], threshold="50", d={"on_delete": "deactivate"})
    a, d = hub.book("a"), hub.book("d")
    a.put("x", person(1))
    a.put("other", person(2))
    assert hub.sync().errors == []
    [old] = [n for n, i in d.items.items() if i.fields["emails"] == person(1)["emails"]]
    del a.items["x"]
    hub.sync()
    assert d.items[old].fields.get("custom.active") == "false"
    a.put("y", person(1, job_title="Foreman"))
    report = hub.sync()
    assert report.changes["d"]["create"] == 1 and report.changes["d"]["update"] == 0
    assert d.items[old].fields.get("custom.active") == "false"  # untouched, still inactive
    assert "job_title" not in d.items[old].fields
    assert hub.sync().changes == {}


def test_a_record_left_behind_in_a_connector_that_may_not_create_stays(database_url: str) -> None:
    """No create was coming (``operations`` without ``create``): nothing to take up, the
    record stays detached as it was."""
    hub = Hub(database_url, ["a", "b"], threshold="50", b={"on_delete": "ignore", "operations": ["update"]})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("other", person(2))
    b.put("mine", person(1))
    assert hub.sync().errors == []
    del a.items["x"]
    hub.sync()
    a.put("y", person(1, job_title="Foreman"))
    report = hub.sync()
    assert "b" not in report.changes
    assert "job_title" not in b.items["mine"].fields and len(b.items) == 1
    assert hub.sync().changes == {}
