"""The undo of an undo of a first copy costs a few queries a page of people, not a few a
person: QA measured it growing with the square of the run (2,000 people 16 s, 20,000 390 s),
each restored person asking the store three questions of its own, one of which read the
whole journal of the undone run. Counted, not timed: the statements one undo sends do not
grow with the number of people (``bench/undo.py`` times it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from contacthub import service
from tests.engine.harness import Hub
from tests.engine.test_undo_since import person


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent on ``engine`` meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def undo_of_undo_statements(hub: Hub, first: int, n: int) -> int:
    """Statements of the undo of the undo of a copy of ``n`` new people from a to b."""
    for i in range(first, first + n):
        hub.book("a").put(f"x{i}", person(i))
    copy = hub.sync()
    assert copy.status == "applied", copy.held
    undo = service.undo(hub.engine, copy.run_id)
    assert undo.status == "applied" and undo.changes["hub"]["delete"] == n
    with counting(hub.engine) as sent:
        again = service.undo(hub.engine, undo.run_id)
    assert again.status == "applied", again
    assert again.changes["hub"]["create"] == n
    assert len(hub.book("b").items) == first + n  # the copies are back
    return len(sent)


def test_undoing_an_undo_sends_as_many_statements_for_more_people(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"], threshold="1000000")
    small = undo_of_undo_statements(hub, 0, 10)
    large = undo_of_undo_statements(hub, 10, 60)
    # one page either way; before, each of the 50 more people added 5 statements or so
    assert large - small < 10, (small, large)
