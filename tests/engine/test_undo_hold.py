"""The delete hold and undo: an undo's own deletions are never held (a person asked for
them), but the deletions its sync finds, made meanwhile in a connector, are held by the
same rule as in a sync. They were carried out unheld, to the hub and every other
connector, because an undo skipped the whole hold check."""

from __future__ import annotations

from typing import Any

import pytest

from contacthub import service
from contacthub.engine.context import Report
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def edited_then_deleted(database_url: str) -> tuple[Hub, Report]:
    """Books a and b of 20 people; a run that edits Given0's title (the run to undo); then
    8 of the 20 deleted from a."""
    hub = Hub(database_url, ["a", "b"])
    a = hub.book("a")
    for i in range(20):
        a.put(f"a{i}", person(i, job_title="T0"))
    hub.sync()
    a.edit("a0", job_title="E1")
    edit = hub.sync()
    assert edit.status == "applied" and edit.changes["b"]["update"] == 1
    for i in range(1, 9):
        del a.items[f"a{i}"]
    return hub, edit


def titles(hub: Hub, name: str) -> list[Any]:
    items = hub.book(name).items.values()
    return [i.fields.get("job_title") for i in items if i.fields["given_name"] == "Given0"]


def test_an_undo_whose_sync_finds_a_mass_deletion_is_held_and_writes_nothing(database_url: str) -> None:
    hub, edit = edited_then_deleted(database_url)
    planned = service.undo(hub.engine, edit.run_id, dry_run=True)
    assert planned.status == "planned" and {h["connector"] for h in planned.held} == {"a", "b"}

    undo = service.undo(hub.engine, edit.run_id)
    assert undo.status == "held", undo
    assert {h["connector"]: h["deletes"] for h in undo.held} == {"a": 8, "b": 8}
    assert f"the undo of run {edit.run_id} was not done" in (undo.message or "")
    assert len(hub.book("b").items) == 20  # nothing deleted
    assert titles(hub, "a") == titles(hub, "b") == ["E1"]  # nothing undone either
    assert hub.sync().status == "held"  # a sync holds the same deletions


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_held_undo_is_decided_as_a_sync_and_the_undo_asked_again(database_url: str, decide: str) -> None:
    """Approve lets the found deletions happen, reject puts the records back; neither undoes
    the run (the person saw a hold of deletions, not the undo's plan): undo it again."""
    hub, edit = edited_then_deleted(database_url)
    held = service.undo(hub.engine, edit.run_id)
    assert held.status == "held"
    decided = getattr(service, decide)(hub.engine, held.run_id)
    assert decided.status == "applied", decided
    left = 12 if decide == "approve" else 20
    assert len(hub.book("a").items) == len(hub.book("b").items) == left
    assert titles(hub, "b") == ["E1"]
    undo = service.undo(hub.engine, edit.run_id)
    assert undo.status == "applied", undo
    assert titles(hub, "a") == titles(hub, "b") == ["T0"]
    assert hub.sync().changes == {}


def test_an_undo_of_a_first_copy_is_not_held_for_its_own_deletions(database_url: str) -> None:
    """It deletes every copy it made (20 of 20 in b), with a deletion made meanwhile under
    the threshold: applied, as before."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(20):
        a.put(f"a{i}", person(i))
    first = hub.sync()
    assert first.changes["b"]["create"] == 20
    del a.items["a0"]
    undo = service.undo(hub.engine, first.run_id)
    assert undo.status == "applied", undo
    assert not undo.held and b.items == {} and len(a.items) == 19


@pytest.mark.parametrize("on_delete", ["delete", "ignore"])
def test_an_undo_of_an_approved_mass_deletion_restores_them_unheld(database_url: str, on_delete: str) -> None:
    """Restoring 8 of 20 people is no deletion, whether their records elsewhere went with
    them or stayed, detached (``on_delete = ignore``), and rejoin them."""
    hub = Hub(database_url, ["a", "b"], b={"on_delete": on_delete})
    a, b = hub.book("a"), hub.book("b")
    for i in range(20):
        a.put(f"a{i}", person(i))
    hub.sync()
    for i in range(8):
        del a.items[f"a{i}"]
    held = hub.sync()
    assert held.status == "held"
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved
    assert len(b.items) == (12 if on_delete == "delete" else 20)
    undo = service.undo(hub.engine, approved.run_id)
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20
    assert hub.sync().changes == {}


def killed_undo_of_a_copy(database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Hub, int]:
    """Books a, b and c of 20 people; a run that copies 10 more from a (the run undone);
    its undo killed once its hub side is committed, as it began to write c: the copies
    in b are deleted, the 10 in c are left to the next run (its own, remaining)."""
    from tests.engine.test_scenarios import killed_in

    hub = Hub(database_url, ["a", "b", "c"])
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    for i in range(20):
        a.put(f"a{i}", person(i))
    hub.sync()
    for i in range(20, 30):
        a.put(f"a{i}", person(i))
    made = hub.sync()
    assert len(b.items) == len(c.items) == 30
    undo = lambda: service.undo(hub.engine, made.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "write", undo, c) == "applying"
    # (an undo of a copy leaves the records it was copied from: a keeps 30)
    assert len(a.items) == 30 and len(b.items) == 20 and len(c.items) == 30
    return hub, made.run_id


def eight_gone_after_a_killed_undo(database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Hub, Any]:
    """``killed_undo_of_a_copy``, then 8 of b's 20 records deleted and a sync: held."""
    hub, _ = killed_undo_of_a_copy(database_url, monkeypatch)
    b = hub.book("b")
    for nid in list(b.items)[:8]:
        del b.items[nid]
    held = hub.sync()
    assert held.status == "held", held
    return hub, held


def test_a_sync_carrying_a_killed_undo_holds_a_mass_deletion_made_meanwhile(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync that carries a killed undo on ran with no hold at all: 8 of 20 cards
    removed from b were deleted in the hub, a and c, unheld. It is held for those 8 (c's
    10 the undo still has to delete are not counted), and the undo goes on with the
    approve that decides them."""
    hub, held = eight_gone_after_a_killed_undo(database_url, monkeypatch)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    assert {h["connector"]: h["deletes"] for h in held.held} == {"a": 8, "b": 8, "c": 8}
    assert len(a.items) == 30 and len(b.items) == 12 and len(c.items) == 30  # nothing written
    again = hub.sync()  # still carrying the undo: held alike, not for the undo's 10
    assert again.status == "held" and {h["deletes"] for h in again.held} == {8}
    approved = service.approve(hub.engine, again.run_id)
    assert approved.status == "applied", approved
    assert len(a.items) == 22 and len(b.items) == len(c.items) == 12
    assert hub.sync().changes == {}


def test_a_sync_carrying_a_killed_undo_rejected_puts_back_only_the_found_deletions(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, held = eight_gone_after_a_killed_undo(database_url, monkeypatch)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    rejected = service.reject(hub.engine, held.run_id)
    assert rejected.status == "applied", rejected
    assert len(a.items) == 30 and len(b.items) == len(c.items) == 20  # the undo's 10 gone from c
    assert hub.sync().changes == {}


@pytest.mark.parametrize("done", [3, 10])
def test_the_undos_own_deletions_made_before_it_was_killed_are_not_held(
    database_url: str, monkeypatch: pytest.MonkeyPatch, done: int
) -> None:
    """Some of its deletions in c made before the kill, not yet recorded: c lists fewer
    records, the undo's own, not a deletion to hold; with a deletion under the threshold
    made meanwhile the sync goes on."""
    hub, _ = killed_undo_of_a_copy(database_url, monkeypatch)
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    copies = [nid for nid, item in c.items.items() if int(item.fields["given_name"][5:]) >= 20]
    for nid in copies[:done]:
        del c.items[nid]
    del b.items[next(iter(b.items))]
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(a.items) == 29 and len(b.items) == len(c.items) == 19
    assert hub.sync().changes == {}


def test_a_killed_undo_that_emptied_a_connector_is_carried_on_unheld(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An undo of a first copy deletes every copy: killed after it deleted all of c's
    (not yet recorded), c lists nothing where it had 20 links, all the undo's own."""
    from tests.engine.test_scenarios import killed_in

    hub = Hub(database_url, ["a", "b", "c"])
    a, b, c = hub.book("a"), hub.book("b"), hub.book("c")
    for i in range(20):
        a.put(f"a{i}", person(i))
    first = hub.sync()
    undo = lambda: service.undo(hub.engine, first.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "write", undo, c) == "applying"
    assert b.items == {} and len(c.items) == 20
    c.items.clear()
    after = hub.sync()
    assert after.status == "applied", after.message
    assert b.items == c.items == {} and len(a.items) == 20


def test_an_old_carry_of_a_killed_undo_still_skips_the_hold(database_url: str) -> None:
    """A run killed while carrying an undo, recorded before carries named the undo run
    (``"no_hold": true``): the next run goes on as it did then, with no hold."""
    from sqlalchemy import insert

    from contacthub.store import tables as t
    from contacthub.store.rows import now

    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(20):
        a.put(f"a{i}", person(i))
    hub.sync()
    with hub.engine.begin() as conn:
        hub_id = conn.execute(t.hubs.select()).first().id
        carries = '{"carries": {"approved": {}, "rejected": [], "rejected_runs": [], "no_hold": true}}'
        conn.execute(
            insert(t.runs).values(
                hub_id=hub_id, kind="sync", status="running", started_at=now(), counts=carries, errors="[]"
            )
        )
    for i in range(8):
        del a.items[f"a{i}"]
    after = hub.sync()
    assert after.status == "applied", after.message
    assert len(b.items) == 12


def test_an_undos_own_record_gone_meanwhile_does_not_hide_a_deletion_from_the_hold(database_url: str) -> None:
    """c holds the people at c.org. A run adds 10 of them (the run to undo); then one of
    their copies is deleted in c, and 5 of c's other people are deleted in a (under the
    threshold in a and in the hub, 5 of c's 20 records: over it in c). The undo's own
    deletions were counted before its sync read c: the copy gone from c was still one of
    them, so only 4 of the others were counted against c's threshold, and the 5 went
    unheld. Counted after the pull, they hold the undo."""
    flt = {"filter": {"all": [{"field": "email", "op": "ends_with", "value": "@c.org"}]}}
    hub = Hub(database_url, ["a", "c"], c=flt)
    a, c = hub.book("a"), hub.book("c")

    def at_c(i: int) -> dict[str, Any]:
        return person(i, emails=[{"value": f"p{i}@c.org", "type": "work", "primary": True}])

    for i in range(40):
        a.put(f"x{i}", person(i))
    for i in range(40, 50):
        a.put(f"c{i}", at_c(i))
    assert hub.sync().errors == []
    for i in range(50, 60):
        a.put(f"c{i}", at_c(i))
    added = hub.sync()
    assert added.changes["c"]["create"] == 10 and len(c.items) == 20
    gone = next(k for k, v in c.items.items() if v.fields["emails"][0]["value"] == "p50@c.org")
    del c.items[gone]
    for i in range(40, 45):
        del a.items[f"c{i}"]
    undo = service.undo(hub.engine, added.run_id)
    assert undo.status == "held", undo
    assert {h["connector"]: h["deletes"] for h in undo.held} == {"c": 5}
    assert len(c.items) == 19  # nothing written
