"""Migration 0015: a record an older version agreed on after the system refused its write
(a value refused as invalid was then taken for refused for good) is written again by the
next run; before, it stayed out of step, with no error said, until its contact changed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import update

from contacthub.store import db
from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def test_a_record_agreed_on_after_a_refused_write_is_written_again(sqlite_url: str) -> None:
    hub = Hub(sqlite_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("a0", person(0, job_title="T0"))
    a.put("a1", person(1, job_title="T0"))
    hub.sync()
    a.edit("a0", job_title="new title")
    b.fail_writes = True
    refused = hub.sync()
    assert refused.errors, refused
    b.fail_writes = False
    # what the older version did on a refusal: the link agrees on the record as it is
    with hub.engine.begin() as conn:
        conn.execute(
            update(t.links)
            .where(t.links.c.state == "active")
            .values(synced_rev=t.contacts.c.rev)
            .where(t.contacts.c.id == t.links.c.contact_id)
        )
    assert hub.sync().changes == {}  # stuck: b keeps T0, and no run says so

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    for target in ("0014", "head"):
        with hub.engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if target == "0014" else command.upgrade)(config, target)

    again = hub.sync()
    assert again.changes == {"b": {"create": 0, "update": 1, "delete": 0}}, again
    assert {i.fields["job_title"] for i in b.items.values()} == {"new title", "T0"}
    assert hub.sync().changes == {}
