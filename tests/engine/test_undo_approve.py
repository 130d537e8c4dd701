"""Undoing an approve: the approve's own change is the deletions its held run showed and
the person let through; the edits its sync carried (made before the hold, which a reject
carries as well, or made meanwhile) are someone's edits, no part of the decision. Undone
with it, they were taken back everywhere, the edit lost."""

from __future__ import annotations

from typing import Any

import pytest

from contacthub import service
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def native_of(hub: Hub, book: str, given: str) -> str:
    return next(k for k, v in hub.book(book).items.items() if v.fields["given_name"] == given)


def title(hub: Hub, book: str, given: str) -> Any:
    return hub.book(book).items[native_of(hub, book, given)].fields.get("job_title")


def test_undoing_an_approve_restores_its_deletions_and_keeps_the_edits_it_carried(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(20):
        a.put(f"a{i}", person(i, job_title="T0"))
    hub.sync()
    b.edit(native_of(hub, "b", "Given11"), job_title="before the hold")
    for i in range(8):
        del a.items[f"a{i}"]
    held = hub.sync()
    assert held.status == "held"
    b.edit(native_of(hub, "b", "Given10"), job_title="meanwhile")  # someone else's update
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved
    assert len(a.items) == len(b.items) == 12
    assert title(hub, "a", "Given10") == "meanwhile" and title(hub, "a", "Given11") == "before the hold"

    undo = service.undo(hub.engine, approved.run_id)
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20  # the approved deletions are taken back
    for book in ("a", "b"):
        assert title(hub, book, "Given10") == "meanwhile"
        assert title(hub, book, "Given11") == "before the hold"
    assert hub.sync().changes == {}

    # undoing the undo deletes them again, and still leaves the edits alone
    again = service.undo(hub.engine, undo.run_id)
    assert again.status == "applied", again
    assert len(a.items) == len(b.items) == 12
    assert title(hub, "b", "Given10") == "meanwhile" and title(hub, "a", "Given11") == "before the hold"


def _held(database_url: str) -> tuple[Hub, Any]:
    """A hub of two books, 20 people, 8 of them deleted in a: its held run."""
    hub = Hub(database_url, ["a", "b"])
    a = hub.book("a")
    for i in range(20):
        a.put(f"a{i}", person(i, job_title="T0"))
    hub.sync()
    for i in range(8):
        del a.items[f"a{i}"]
    held = hub.sync()
    assert held.status == "held"
    return hub, held


def _held_approve_killed_in(database_url: str, monkeypatch: pytest.MonkeyPatch, step: str) -> Hub:
    """``_held``'s hub, and the approve of its hold killed in the memory connectors'
    ``step`` (``pull``: before it committed anything; ``write``: its hub deletions
    committed, no book written)."""
    from tests.engine.test_scenarios import Killed
    from tests.memory_connector import MemoryConnector

    hub, held = _held(database_url)

    def dies(*_: Any) -> Any:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(MemoryConnector, step, dies)
        with pytest.raises(Killed):
            service.approve(hub.engine, held.run_id)
    return hub


def test_undoing_the_sync_that_carried_a_killed_approve_on_is_undoing_the_approve(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approve killed before it committed anything is carried out by the next sync (a
    run of kind ``sync``). Undoing that run took back the whole run, the edit it carried
    too (made meanwhile, someone's), where undoing the approve itself takes back only the
    deletions its held run showed. The two agree: the carrying run's undo is the approve's
    (and says so in its counts), the edit stays everywhere."""
    hub = _held_approve_killed_in(database_url, monkeypatch, "pull")
    a, b = hub.book("a"), hub.book("b")
    b.edit(native_of(hub, "b", "Given10"), job_title="meanwhile")
    carrying = hub.sync()
    assert carrying.status == "applied", carrying
    assert len(a.items) == len(b.items) == 12
    assert title(hub, "a", "Given10") == "meanwhile"

    undo = service.undo(hub.engine, carrying.run_id)
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20  # the approved deletions are taken back
    for book in ("a", "b"):
        assert title(hub, book, "Given10") == "meanwhile"  # the edit it carried stays
    assert hub.sync().changes == {}


def test_undoing_the_sync_after_an_approve_killed_mid_write_points_to_the_approve(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: an approve killed while writing, its hub deletions committed, then carried out by
    the next sync (which deleted the rest in the folders). That sync holds none of the
    approved deletions, so its undo brought nobody back and said "applied". It is refused,
    naming the approve's run, whose undo brings them back with the edit made meanwhile kept."""
    from contacthub.errors import UserError

    hub = _held_approve_killed_in(database_url, monkeypatch, "write")
    a, b = hub.book("a"), hub.book("b")
    b.edit(native_of(hub, "b", "Given10"), job_title="meanwhile")
    carrying = hub.sync()
    assert carrying.status == "applied", carrying
    assert len(a.items) == len(b.items) == 12
    approve_run = max(r["id"] for r in service.runs(hub.engine, "h") if r["kind"] == "approve")

    with pytest.raises(UserError) as refused:
        service.undo(hub.engine, carrying.run_id)
    assert f"undo run {approve_run}" in str(refused.value)
    undo = service.undo(hub.engine, approve_run)
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20
    for book in ("a", "b"):
        assert title(hub, book, "Given10") == "meanwhile"
    assert hub.sync().changes == {}


def test_a_deletion_made_meanwhile_that_went_along_comes_back_with_the_undo(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: a person deleted in b while a killed approve waited went along with the sync that
    carried the approve out; that sync's undo was refused (the approve's deletions are the
    approve run's), the approve run's undo left them out (not shown by the hold), and no
    undo could bring them back. Undone after the approve's run, the sync restores its own
    deletion; the edit made meanwhile stays throughout."""
    from contacthub.errors import UserError

    hub = _held_approve_killed_in(database_url, monkeypatch, "write")
    a, b = hub.book("a"), hub.book("b")
    b.edit(native_of(hub, "b", "Given10"), job_title="meanwhile")
    del b.items[native_of(hub, "b", "Given15")]
    carrying = hub.sync()
    assert carrying.status == "applied", carrying
    assert len(a.items) == len(b.items) == 11
    approve_run = max(r["id"] for r in service.runs(hub.engine, "h") if r["kind"] == "approve")
    with pytest.raises(UserError, match=f"undo run {approve_run}"):
        service.undo(hub.engine, carrying.run_id)
    assert service.undo(hub.engine, approve_run).status == "applied"
    assert len(a.items) == len(b.items) == 19
    undo = service.undo(hub.engine, carrying.run_id)  # now its own deletion
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20
    assert title(hub, "a", "Given15") == "T0"
    for book in ("a", "b"):
        assert title(hub, book, "Given10") == "meanwhile"
    assert hub.sync().changes == {}


def test_undoing_an_approve_brings_back_a_deletion_that_went_along(database_url: str) -> None:
    """A person deleted after the hold went along with the approve, under the threshold:
    kept by the approve's undo (an earlier rule), no undo could ever bring them back."""
    hub, held = _held(database_url)
    a, b = hub.book("a"), hub.book("b")
    del b.items[native_of(hub, "b", "Given15")]  # meanwhile
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied" and len(a.items) == len(b.items) == 11, approved
    undo = service.undo(hub.engine, approved.run_id)
    assert undo.status == "applied", undo
    assert len(a.items) == len(b.items) == 20
    assert hub.sync().changes == {}
