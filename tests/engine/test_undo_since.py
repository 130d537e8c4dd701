"""Undo of a run after later runs changed the same people: what the later runs did stands
(QA found an old edit's undo writing over later edits, a later resolve, and a deletion),
on memory books and a real store, over SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from contacthub import service
from contacthub.errors import UserError
from contacthub.model import Contact, Email
from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.engine.test_scenarios import killed_in


def person(i: int, **extra: object) -> dict[str, Any]:
    fields = Contact(
        given_name=f"Given{i}",
        family_name=f"Family{i}",
        emails=[Email(f"p{i}@example.com", "work")],
    ).to_fields()
    fields.update(extra)
    return fields


def titles(hub: Hub, *names: str) -> list[Any]:
    """The job title of Given1 in each book."""
    out = []
    for name in names:
        [fields] = [i.fields for i in hub.book(name).items.values() if i.fields["given_name"] == "Given1"]
        out.append(fields.get("job_title"))
    return out


def native(hub: Hub, name: str) -> str:
    [nid] = [n for n, i in hub.book(name).items.items() if i.fields["given_name"] == "Given1"]
    return nid


def test_undoing_an_edit_keeps_later_edits_that_set_the_same_value_again(database_url: str) -> None:
    """Run 1 T0 -> E1 (in a), run 2 E1 -> E2 (in b), run 3 E2 -> E1 (in c): the hub holds
    run 1's value again, and the undo of run 1 took that for untouched and wrote T0 over
    the later edits."""
    hub = Hub(database_url, ["a", "b", "c"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="E1")
    first = hub.sync()
    hub.book("b").edit(native(hub, "b"), job_title="E2")
    hub.sync()
    hub.book("c").edit(native(hub, "c"), job_title="E1")
    hub.sync()
    assert titles(hub, "a", "b", "c") == ["E1", "E1", "E1"]
    undone = service.undo(hub.engine, first.run_id)
    assert undone.status == "applied", undone
    assert [e["message"] for e in undone.errors] == [
        f"job_title changed again since run {first.run_id}; kept"
    ]
    hub.sync()
    assert titles(hub, "a", "b", "c") == ["E1", "E1", "E1"]


def test_an_edit_set_and_taken_back_since_does_not_keep_the_field(database_url: str) -> None:
    """A later run and its own undo cancel out: the field holds what the undone run wrote,
    and nothing since stands, so the undo sets it back."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.sync()
    hub.book("a").edit("x", job_title="E1")
    first = hub.sync()
    hub.book("b").edit(native(hub, "b"), job_title="E2")
    later = hub.sync()
    assert service.undo(hub.engine, later.run_id).status == "applied"
    assert titles(hub, "a", "b") == ["E1", "E1"]
    undone = service.undo(hub.engine, first.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    assert titles(hub, "a", "b") == ["T0", "T0"]


def test_undoing_the_undo_of_a_resolve_keeps_a_later_resolve(database_url: str) -> None:
    """Resolved for b, that undone (the conflict open again, the hub back on a's value),
    then resolved for a: undoing the undo put b's value back over the person's last
    decision, while the conflict said a won. The later resolve set the field (to the value
    it already held): it stands, and the data and the conflict list agree."""
    hub = Hub(database_url, ["a", "b"], conflict="manual", threshold="50")
    hub.book("a").put("x", person(1))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="from a")
    hub.book("b").edit(native(hub, "b"), job_title="from b")
    hub.sync()
    [conflict] = [c for c in service.conflicts(hub.engine, "h") if c["source"] == "b"]  # (and a's)
    first = service.resolve(hub.engine, conflict["id"], "b")
    hub.sync()
    assert titles(hub, "a", "b") == ["from b", "from b"]
    reopened = service.undo(hub.engine, first["run"])
    assert conflict["id"] in [c["id"] for c in service.conflicts(hub.engine, "h")]
    service.resolve(hub.engine, conflict["id"], "a")  # the person's last decision
    hub.sync()
    assert titles(hub, "a", "b") == ["from a", "from a"]
    undone = service.undo(hub.engine, reopened.run_id)
    assert [e["message"] for e in undone.errors] == [
        f"job_title changed again since run {reopened.run_id}; kept"
    ]
    hub.sync()
    assert titles(hub, "a", "b") == ["from a", "from a"]
    [settled] = [
        c for c in service.conflicts(hub.engine, "h", include_settled=True) if c["id"] == conflict["id"]
    ]
    assert (settled["status"], settled["winner"]) == ("resolved", "a")
    assert hub.sync().changes == {}


def test_undoing_an_edit_of_a_person_deleted_since_says_to_restore_them_first(database_url: str) -> None:
    """The undo set the title back on the deleted person and said so; undoing the deletion
    then brought them back with the edit (the deletion's row holds them as they were). It
    is skipped, saying which run to undo first, and can be done after the restore."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="E1")
    edit = hub.sync()
    del hub.book("b").items[native(hub, "b")]
    deleted = hub.sync()
    assert len(hub.book("a").items) == 1
    undone = service.undo(hub.engine, edit.run_id)
    assert undone.status == "applied", undone
    assert [e["message"] for e in undone.errors] == [
        f"Given1 Family1 was deleted since run {edit.run_id}; restore it first (undo run {deleted.run_id})"
    ]
    assert service.undo(hub.engine, deleted.run_id).status == "applied"
    assert titles(hub, "a", "b") == ["E1", "E1"]  # back as the deletion left them
    again = service.undo(hub.engine, edit.run_id)  # the skip did not stand in its way
    assert again.status == "applied" and again.errors == [], again.errors
    assert titles(hub, "a", "b") == ["T0", "T0"]
    assert hub.sync().changes == {}


def _two_edited_one_deleted_since(hub: Hub) -> tuple[Any, Any]:
    """Three people synced; a run that edits two of them (Given1, Given2), then one that
    deletes Given2 (its card in b gone): those two runs' reports."""
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2, job_title="T0"))
    hub.book("a").put("z", person(3))
    hub.sync()
    hub.book("a").edit("x", job_title="E1")
    hub.book("a").edit("y", job_title="E1")
    edit = hub.sync()
    [gone] = [n for n, i in hub.book("b").items.items() if i.fields["given_name"] == "Given2"]
    del hub.book("b").items[gone]
    return edit, hub.sync()


def test_an_undo_that_skipped_a_person_deleted_since_takes_them_up_after_the_restore(
    database_url: str,
) -> None:
    """Two people edited, one deleted since: the undo set the other back and said to undo
    the deletion first; done, the undo of the edit was refused as "already undone" by the
    first undo, and the restored person kept the edit for good (QA). The undo again takes up
    only what was skipped, as a new run: the other person, set back already and edited
    since, is not touched (not even said kept); with nothing left skipped, a third is refused."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    edit, deleted = _two_edited_one_deleted_since(hub)
    first = service.undo(hub.engine, edit.run_id)
    assert [e["message"] for e in first.errors] == [
        f"Given2 Family2 was deleted since run {edit.run_id}; restore it first (undo run {deleted.run_id})"
    ]
    assert titles(hub, "a", "b") == ["T0", "T0"]
    hub.book("a").edit("x", job_title="later")  # an edit of the person set back: it stays
    hub.sync()
    assert service.undo(hub.engine, deleted.run_id).status == "applied"
    assert [
        i.fields.get("job_title") for i in hub.book("a").items.values() if i.fields["given_name"] == "Given2"
    ] == ["E1"]
    again = service.undo(hub.engine, edit.run_id)
    assert again.status == "applied" and again.errors == [], again.errors
    assert again.changes["hub"]["update"] == 1  # only the one skipped
    assert again.run_id > first.run_id
    hub.sync()
    for name in ("a", "b"):
        got = {i.fields["given_name"]: i.fields.get("job_title") for i in hub.book(name).items.values()}
        assert got == {"Given1": "later", "Given2": "T0", "Given3": None}, (name, got)
    with pytest.raises(UserError, match=f"already undone \\(by runs {first.run_id} and {again.run_id}\\)"):
        service.undo(hub.engine, edit.run_id)
    # the second undo undone, what it set back is to undo again: only that, once more
    assert service.undo(hub.engine, again.run_id).status == "applied"
    third = service.undo(hub.engine, edit.run_id)
    assert third.status == "applied" and third.errors == [] and third.changes["hub"]["update"] == 1
    assert hub.sync().changes == {}


def test_prune_keeps_a_run_an_undo_left_people_of_to_undo_later(database_url: str) -> None:
    """Pruned between "restore it first" and the undo again, the run's journal was gone,
    that undo was refused as pruned, and the person restored as told kept the edit for
    good (QA). Kept, with the runs after it, until an undo took up what was left."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    edit, deleted = _two_edited_one_deleted_since(hub)
    first = service.undo(hub.engine, edit.run_id)
    assert len(first.errors) == 1  # "restore it first"
    assert service.undo(hub.engine, deleted.run_id).status == "applied"
    newest = hub.sync().run_id
    pruned = service.prune(hub.engine, "h", before=newest)
    assert pruned["runs"] and edit.run_id not in pruned["runs"], pruned
    again = service.undo(hub.engine, edit.run_id)
    assert again.status == "applied" and again.errors == [] and again.changes["hub"]["update"] == 1
    # taken up whole, the run is prunable again
    later = hub.sync().run_id
    assert edit.run_id in service.prune(hub.engine, "h", before=later)["runs"]


def test_the_name_is_set_back_whole_or_kept_whole(database_url: str) -> None:
    """Renamed (given, family and display name), then only the given name changed: the
    undo set the family name back alone, and every book showed "Xena Mlent" over the
    parts Xena Family1 (QA). The name is one value: changed in part since, it is kept."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, display_name="Given1 Family1"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", given_name="Xavier", family_name="Mlent", display_name="Xavier Mlent")
    renamed = hub.sync()
    [nid] = [n for n, i in hub.book("b").items.items() if i.fields["given_name"] == "Xavier"]
    hub.book("b").edit(nid, given_name="Xena", display_name="Xena Mlent")
    hub.sync()
    undone = service.undo(hub.engine, renamed.run_id)
    assert undone.status == "applied", undone
    assert sorted(e["message"] for e in undone.errors) == [
        f"display_name changed again since run {renamed.run_id}; kept",
        f"family_name kept with the name, changed again since run {renamed.run_id}",
        f"given_name changed again since run {renamed.run_id}; kept",
    ]
    hub.sync()
    for name in ("a", "b"):
        [fields] = [i.fields for i in hub.book(name).items.values() if i.fields.get("given_name") == "Xena"]
        assert (fields["family_name"], fields["display_name"]) == ("Mlent", "Xena Mlent")
    assert hub.sync().changes == {}


def test_an_undo_that_set_nothing_back_does_not_stand_for_what_its_sync_carried(database_url: str) -> None:
    """The undo kept the title (changed since) and set nothing back, but its sync carried
    someone's unrelated edit: it stood as "the undo" of the run, which could then never be
    undone, and the hint ("undo" the undo) took that person's edit back (QA)."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="T1")
    first = hub.sync()
    hub.book("a").edit("x", job_title="T2")
    second = hub.sync()
    hub.book("a").edit("y", notes="unrelated edit")
    empty = service.undo(hub.engine, first.run_id)
    assert [e["message"] for e in empty.errors] == [f"job_title changed again since run {first.run_id}; kept"]
    assert empty.changes.get("hub", {}).get("update") == 1  # the note, carried by its sync
    assert service.undo(hub.engine, second.run_id).status == "applied"
    assert titles(hub, "a", "b") == ["T1", "T1"]
    undone = service.undo(hub.engine, first.run_id)
    assert undone.status == "applied" and undone.errors == [], undone.errors
    assert titles(hub, "a", "b") == ["T0", "T0"]
    with pytest.raises(UserError, match=f"already undone \\(by run {undone.run_id}\\)"):
        service.undo(hub.engine, first.run_id)


def test_an_undo_killed_after_it_set_things_back_stands(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an applied undo stood: one killed (or failed) after its hub changes were
    committed had set the run back all the same, and a second undo of the run made an
    empty run blaming "changed again since" (QA)."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="T1")
    edit = hub.sync()
    undo = lambda: service.undo(hub.engine, edit.run_id)  # noqa: E731
    assert killed_in(monkeypatch, hub, "write", undo, hub.book("b")) == "applying"
    assert hub.sync().status == "applied"  # carries the undo's writes on
    killed = service.runs(hub.engine, "h")[1]
    assert (killed["kind"], killed["status"]) == ("undo", "failed")
    assert titles(hub, "a", "b") == ["T0", "T0"]
    with pytest.raises(UserError, match=f"already undone \\(by run {killed['id']}\\)"):
        service.undo(hub.engine, edit.run_id)
    assert service.undo(hub.engine, killed["id"]).status == "applied"
    assert titles(hub, "a", "b") == ["T1", "T1"]


def test_undoing_the_undo_of_a_resolve_settles_the_conflict_again(database_url: str) -> None:
    """Resolved for b, that undone (the conflict open again), then the undo undone: the
    value came back, but the conflict stayed open for good, waiting for a decision that
    was in effect (QA). It is settled again as the resolve left it; undoing that once more
    opens it again."""
    hub = Hub(database_url, ["a", "b"], conflict="manual", threshold="50")
    hub.book("a").put("x", person(1))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="from a")
    hub.book("b").edit(native(hub, "b"), job_title="from b")
    hub.sync()
    [conflict] = [c for c in service.conflicts(hub.engine, "h") if c["source"] == "b"]  # (and a's)
    resolved = service.resolve(hub.engine, conflict["id"], "b")
    hub.sync()
    assert titles(hub, "a", "b") == ["from b", "from b"]
    reopened = service.undo(hub.engine, resolved["run"])
    [again] = [c for c in service.conflicts(hub.engine, "h") if c["source"] == "b"]
    assert (again["id"], again["winner"]) == (conflict["id"], None)
    back = service.undo(hub.engine, reopened.run_id)
    assert back.status == "applied" and back.errors == [], back.errors
    assert service.conflicts(hub.engine, "h") == []
    settled = service.conflicts(hub.engine, "h", include_settled=True)
    assert {(c["status"], c["winner"], c["run"]) for c in settled} == {("resolved", "b", resolved["run"])}
    hub.sync()
    assert titles(hub, "a", "b") == ["from b", "from b"]
    assert hub.sync().changes == {}
    service.undo(hub.engine, back.run_id)  # the resolve taken back once more
    assert conflict["id"] in [c["id"] for c in service.conflicts(hub.engine, "h")]


def notes(hub: Hub, name: str, given: str) -> Any:
    [fields] = [i.fields for i in hub.book(name).items.values() if i.fields["given_name"] == given]
    return fields.get("notes")


def test_undoing_an_undo_keeps_the_edits_its_sync_carried(database_url: str) -> None:
    """An undo is a run: its sync carries what changed elsewhere meanwhile, as hub rows of
    the undo run. Undoing the undo took those back with it: a note someone had typed into
    another person's card, and into the same person's, was gone everywhere (QA)."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2))
    hub.sync()
    hub.book("a").edit("x", job_title="T1")
    edit = hub.sync()
    hub.book("b").edit(native(hub, "b"), notes="typed meanwhile")  # the same person
    [other] = [n for n, i in hub.book("b").items.items() if i.fields["given_name"] == "Given2"]
    hub.book("b").edit(other, notes="also meanwhile")  # someone else
    undo = service.undo(hub.engine, edit.run_id)
    assert undo.status == "applied" and undo.errors == [], undo.errors
    assert titles(hub, "a", "b") == ["T0", "T0"]
    assert [notes(hub, "a", g) for g in ("Given1", "Given2")] == ["typed meanwhile", "also meanwhile"]
    again = service.undo(hub.engine, undo.run_id)
    assert again.status == "applied" and again.errors == [], again.errors
    assert titles(hub, "a", "b") == ["T1", "T1"]
    for name in ("a", "b"):
        assert [notes(hub, name, g) for g in ("Given1", "Given2")] == ["typed meanwhile", "also meanwhile"]
    assert hub.sync().changes == {}


def test_a_deletion_an_undo_carried_is_not_said_to_be_restored_by_undoing_it(database_url: str) -> None:
    """A person deleted by what an undo's sync carried cannot be brought back by undoing
    that undo (it takes back only what it set back itself): an older run's undo, finding
    them deleted, said "restore it first (undo run N)" all the same."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1, job_title="T0"))
    hub.book("a").put("y", person(2, job_title="B0"))
    hub.book("a").put("z", person(3))
    hub.sync()
    hub.book("a").edit("x", job_title="T1")
    edit = hub.sync()
    hub.book("a").edit("y", job_title="B1")
    other = hub.sync()
    del hub.book("b").items[native(hub, "b")]  # Given1's card, deleted meanwhile
    undo = service.undo(hub.engine, other.run_id)  # its sync carries the deletion
    assert undo.status == "applied" and undo.changes["hub"]["delete"] == 1, undo.changes
    undone = service.undo(hub.engine, edit.run_id)
    assert [e["message"] for e in undone.errors] == [
        f"Given1 Family1 was deleted since run {edit.run_id};"
        f" its deletion came in with undo run {undo.run_id}'s sync; kept"
    ]
    again = service.undo(hub.engine, undo.run_id)  # takes back the title only
    assert again.status == "applied" and again.errors == [], again.errors
    assert [i.fields["given_name"] for i in hub.book("a").items.values()] == ["Given2", "Given3"]


def test_a_run_that_failed_while_writing_can_be_undone_whole(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server gone in the middle of a first copy fails the run; the creates it had sent
    stayed "pending" for good (QA: a CardDAV book's 151 written cards among 500 pending),
    so an undo of that run took them for records of the book's own, and kept them there.
    A failed run's unconfirmed writes are "interrupted", as a killed run's are."""
    from contacthub.errors import RetriableError
    from tests.memory_connector import MemoryConnector

    hub = Hub(database_url, ["a", "b"], threshold="50")
    for i in range(10):
        hub.book("a").put(f"x{i}", person(i))
    write = MemoryConnector.write
    calls = {"n": 0}

    def then_gone(self: MemoryConnector, ops: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RetriableError("the server cannot be reached", self.name)
        return write(self, ops)

    monkeypatch.setattr(MemoryConnector, "write", then_gone)
    failed = hub.sync()
    assert failed.status == "failed" and 0 < len(hub.book("b").items) < 10
    monkeypatch.setattr(MemoryConnector, "write", write)
    journal = service.show_run(hub.engine, failed.run_id)["journal"]
    assert {c["status"] for c in journal if c["connector"] == "b"} == {"interrupted"}
    b = hub.book("b")
    edited = sorted(b.items)[0]
    b.edit(edited, job_title="typed into the copy")  # a person's edit: it stays
    written = {i.hub_id for i in b.items.values()}
    [never] = [c["contact"] for c in journal if c["connector"] == "b"][-1:]
    with hub.engine.connect() as conn:
        ref = conn.execute(select(t.contacts.c.uid, t.contacts.c.id).where(t.contacts.c.id == never)).one()
    assert (ref.uid or ref.id) not in written
    undone = service.undo(hub.engine, failed.run_id)
    assert undone.status == "applied", undone
    assert list(b.items) == [edited]  # the other copies went back, the edited one stands
    assert b.items[edited].fields["job_title"] == "typed into the copy"
    assert len(hub.book("a").items) == 10  # detached: no second card of the person in a
    # someone's own card carrying the id of an undone person whose copy was never written
    own = {"display_name": "Someone Else", "emails": [{"value": "else@example.com"}]}
    b.put("own", own, ref.uid or ref.id)
    hub.sync()
    assert "own" in b.items and edited in b.items
    assert hub.sync().changes == {}


def test_an_undo_waits_for_a_hold_to_be_decided(database_url: str) -> None:
    """An undo is never held (its own deletions are what a person asked for), so one made
    while a hold waited (6 of 10 cards gone from a folder, a disk not mounted say) carried
    the held deletions out everywhere with its sync, and superseded the hold (QA). It is
    refused until the hold is decided."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(10):
        a.put(f"x{i}", person(i, job_title="T0"))
    hub.sync()
    a.edit("x1", job_title="T1")
    edit = hub.sync()
    for nid in ["x2", "x3", "x4", "x5", "x6", "x7"]:
        del a.items[nid]
    held = hub.sync()
    assert held.status == "held"
    with pytest.raises(UserError, match=f"run {held.run_id} is held.*then undo run {edit.run_id}"):
        service.undo(hub.engine, edit.run_id)
    assert len(b.items) == 10 and titles(hub, "a", "b") == ["T1", "T1"]
    assert service.reject(hub.engine, held.run_id).status == "applied"
    assert service.undo(hub.engine, edit.run_id).status == "applied"
    assert titles(hub, "a", "b") == ["T0", "T0"] and len(a.items) == len(b.items) == 10


def test_undoing_a_killed_run_before_it_is_recovered_says_how(database_url: str) -> None:
    """A run killed while it wrote stays 'applying' until the hub's next run marks it
    failed; undo refused it as "only an applied or failed run can be undone", which
    left a person who had just killed it with no way forward (QA)."""
    hub = Hub(database_url, ["a", "b"], threshold="50")
    hub.book("a").put("x", person(1))
    run = hub.sync()
    with hub.engine.begin() as conn:
        conn.execute(t.runs.update().where(t.runs.c.id == run.run_id).values(status="applying"))
    said = r"run \d+ is applying: if its process was killed, run 'contacthub sync h'"
    with pytest.raises(UserError, match=said):
        service.undo(hub.engine, run.run_id)
    hub.sync()  # recovers it: failed, with what it kept
    assert service.undo(hub.engine, run.run_id).status == "applied"
    assert hub.book("b").items == {}


@pytest.mark.parametrize("conflict", ["priority", "manual"])
def test_an_edit_to_a_copy_a_killed_run_wrote_is_that_sides_edit(
    database_url: str, monkeypatch: pytest.MonkeyPatch, conflict: str
) -> None:
    """QA: a first copy killed just after writing a page, a copy it wrote edited in its
    folder, then the next run: found by the hub id it carries, the copy was linked with no
    baseline, so its edited title was a conflict with the hub's. Under ``priority`` the
    first folder won and the edit went back everywhere; under ``manual`` every copy
    written was an open conflict. What the unconfirmed create sent is the common
    ancestor: the edit is the copy's side's, and nothing else conflicts."""
    from tests.engine.test_scenarios import Killed
    from tests.memory_connector import MemoryConnector

    hub = Hub(database_url, ["a", "b"], conflict=conflict, threshold="50")
    for i in range(10):
        hub.book("a").put(f"x{i}", person(i, job_title="Engineer"))
    write = MemoryConnector.write

    def writes_then_dies(self: MemoryConnector, ops: Any) -> Any:
        write(self, ops)
        raise Killed

    monkeypatch.setattr(MemoryConnector, "write", writes_then_dies)
    with pytest.raises(Killed):
        hub.sync()
    monkeypatch.setattr(MemoryConnector, "write", write)
    b = hub.book("b")
    assert b.items  # (written, never recorded)
    edited = sorted(b.items)[0]
    b.edit(edited, job_title="typed into the copy")
    email = b.items[edited].fields["emails"][0]["value"]
    report = hub.sync()
    assert report.status == "applied" and report.conflicts == 0, report
    assert b.items[edited].fields["job_title"] == "typed into the copy"
    [there] = [i for i in hub.book("a").items.values() if i.fields["emails"][0]["value"] == email]
    assert there.fields["job_title"] == "typed into the copy"
    assert len(b.items) == 10 and len(hub.book("a").items) == 10
