"""Records left behind for a deleted person and a person added again (``engine.leftovers``),
on memory books: what is not taken up, and a deactivated record, which is."""

from __future__ import annotations

from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def _deactivated(database_url: str) -> tuple[Hub, str]:
    """A hub whose d deactivates (``on_delete = "deactivate"``) what a deletes, and the
    native id of person 1's record in d, deactivated since their card in a went."""
    hub = Hub(database_url, ["a", "d"], threshold="50", d={"on_delete": "deactivate"})
    a, d = hub.book("a"), hub.book("d")
    a.put("x", person(1))
    a.put("other", person(2))
    assert hub.sync().errors == []
    [old] = [n for n, i in d.items.items() if i.fields["emails"] == person(1)["emails"]]
    del a.items["x"]
    hub.sync()
    return hub, old


def test_a_deactivated_record_is_taken_up_and_reactivated(database_url: str) -> None:
    """A record ``on_delete = "deactivate"`` deactivated is taken up by a person added
    again (a new hub contact) as a record left as it was is, and written, which reactivates
    it: created beside it, the person had two records there, one of them inactive (in the
    GAL a create Exchange refuses on every run, the address being the hidden contact's)."""
    hub, old = _deactivated(database_url)
    a, d = hub.book("a"), hub.book("d")
    assert d.items[old].fields.get("custom.active") == "false"
    a.put("y", person(1, job_title="Foreman"))
    report = hub.sync()
    assert report.changes["d"] == {"create": 0, "update": 1, "delete": 0}
    assert report.taken_up == {"d": 1} and len(d.items) == 2
    assert "custom.active" not in d.items[old].fields  # written whole: active again
    assert d.items[old].fields["job_title"] == "Foreman"
    assert "custom.active" not in a.items["y"].fields  # its inactive mark is no edit
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


def test_a_record_left_behind_by_a_person_whose_restore_was_undone_is_taken_up(database_url: str) -> None:
    """A person deleted, restored by an undo, and that restore undone in turn is a deleted
    person like any other: their record left behind is taken up when they are added again,
    not a second one made beside it (only an undone import's records are never taken up)."""
    from contacthub import service

    hub = Hub(database_url, ["a", "b"], threshold="50", b={"on_delete": "ignore"})
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1))
    a.put("other", person(2))
    assert hub.sync().errors == []
    del a.items["x"]
    deletion = hub.sync()
    restore = service.undo(hub.engine, deletion.run_id)
    assert restore.status == "applied", restore
    undone = service.undo(hub.engine, restore.run_id)
    assert undone.status == "applied", undone
    assert len(b.items) == 2
    a.put("y", person(1, job_title="Foreman"))
    report = hub.sync()
    assert report.taken_up == {"b": 1}, report
    assert len(b.items) == 2
    assert hub.sync().changes == {}


def test_undoing_the_run_that_took_up_a_deactivated_record_deactivates_it_again(database_url: str) -> None:
    """The run in which a person added again took up a record contacthub had deactivated
    (and so showed it again) is undone: the record is deactivated again, as before that
    run, and detached; left detached as it was, it stayed visible (a GAL contact of no
    one's back in the address list). An undo of that undo takes it up again."""
    from contacthub import service

    hub, old = _deactivated(database_url)
    a, d = hub.book("a"), hub.book("d")
    a.put("y", person(1, job_title="Foreman"))
    taking = hub.sync()
    assert taking.taken_up == {"d": 1}
    assert "custom.active" not in d.items[old].fields
    undone = service.undo(hub.engine, taking.run_id)
    assert undone.status == "applied", undone
    assert d.items[old].fields.get("custom.active") == "false"  # hidden again
    assert "y" in a.items and len(d.items) == 2  # the card it was read from stays
    assert hub.sync().changes == {}
