"""A dry run's plan is dropped when the hub's next run starts (QA: each ``undo --dry-run``
of a 20,000-person run kept 40,000 planned rows, 35 MB, for good). Its run stays, counts
and all, and says its plan was discarded; a held run's plan stays until it is decided."""

from __future__ import annotations

from sqlalchemy import func, select

from contacthub import service
from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.engine.test_undo_since import person


def journal_rows(hub: Hub, run_id: int) -> int:
    with hub.engine.connect() as conn:
        query = select(func.count()).select_from(t.changes).where(t.changes.c.run_id == run_id)
        return int(conn.execute(query).scalar_one())


def test_a_dry_runs_plan_goes_when_the_next_run_starts(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="1000000")
    for i in range(5):
        hub.book("a").put(f"x{i}", person(i))
    first = hub.sync()
    preview = service.undo(hub.engine, first.run_id, dry_run=True)
    assert preview.status == "planned"
    assert journal_rows(hub, preview.run_id) == 10  # 5 in the hub, 5 copies in b
    second = service.undo(hub.engine, first.run_id, dry_run=True)
    assert journal_rows(hub, preview.run_id) == 0
    assert journal_rows(hub, second.run_id) == 10  # the newest plan is there to read
    shown = service.show_run(hub.engine, preview.run_id)
    assert shown["journal"] == [] and shown["status"] == "planned"
    assert f"plan was discarded when run {second.run_id} started" in (shown["message"] or "")
    assert shown["changes"]["hub"]["delete"] == 5  # the counts stay
    hub.sync()
    assert journal_rows(hub, second.run_id) == 0
    assert journal_rows(hub, first.run_id) == 10  # applied runs keep theirs


def test_a_held_runs_plan_stays_until_decided(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="10%")
    for i in range(10):
        hub.book("a").put(f"x{i}", person(i))
    hub.sync()
    for i in range(5):
        del hub.book("a").items[f"x{i}"]
    held = hub.sync()
    assert held.status == "held"
    rows = journal_rows(hub, held.run_id)
    assert rows > 0
    hub.sync(dry_run=True)
    hub.sync(dry_run=True)
    assert journal_rows(hub, held.run_id) == rows
    approved = service.approve(hub.engine, held.run_id)
    assert approved.status == "applied", approved
    assert len(hub.book("b").items) == 5
    assert journal_rows(hub, held.run_id) == rows


def test_an_undo_says_how_many_of_the_people_it_deletes_were_edited_since(database_url: str) -> None:
    """QA: a preview of undoing a first copy planned to delete 4,000 people edited since
    without a word; the report (and ``--json``) counts them."""
    hub = Hub(database_url, ["a", "b"], threshold="1000000")
    for i in range(5):
        hub.book("a").put(f"x{i}", person(i))
    first = hub.sync()
    hub.book("a").edit("x1", job_title="edited")
    hub.book("a").edit("x3", job_title="edited")
    assert hub.sync().status == "applied"
    preview = service.undo(hub.engine, first.run_id, dry_run=True)
    assert preview.edited_since == 2 and preview.as_json()["edited_since"] == 2
    undone = service.undo(hub.engine, first.run_id)
    assert undone.status == "applied" and undone.changes["hub"]["delete"] == 5
    assert undone.as_json()["edited_since"] == 2
    assert "edited_since" not in hub.sync().as_json()  # a sync's report has no such key
