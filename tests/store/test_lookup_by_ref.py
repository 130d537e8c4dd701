"""``Store.contacts_by_ref`` and ``Store.links_by_native``, what inbound reads a page of
records' contacts and links by: what they return, and that on PostgreSQL a hub's first
sync looks each contact's ref up by index, whatever the statistics say of the hub
(``bench/two_hubs.py`` measures the time). ``links_by_native`` keeps its IN-list."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, insert, select

from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.store.repo import CHUNK, ContactRow, LinkRow, Store, now
from tests.conftest import _fresh_postgres_database
from tests.store.test_match_lookup import _custom_plan, _generic_plan, _hub, sent


def _connector(engine: Engine, hub_id: int, name: str) -> int:
    at = now()
    values = dict(
        hub_id=hub_id, name=name, position=0, type="vcard-dir", direction="both", operations="[]",
        on_delete="delete", created_at=at, updated_at=at,
    )  # fmt: skip
    with engine.begin() as conn:
        return int(
            conn.execute(insert(t.connectors).values(**values).returning(t.connectors.c.id)).scalar_one()
        )


def _people(store: Store, hub_id: int, ids: list[str], deleted: frozenset[str] = frozenset()) -> None:
    rows = [ContactRow(cid, {"display_name": cid}, {}, 2, cid in deleted, f"uid-{cid}") for cid in ids]
    store.insert_contacts(hub_id, rows)


def _links(store: Store, connector_id: int, ids: list[str]) -> None:
    rows = [LinkRow(0, connector_id, cid, f"n-{cid}", "v1", {"fn": cid}, 2, "active") for cid in ids]
    store.insert_links(rows)


def _second_hub(engine: Engine, analyzed: bool) -> tuple[int, int, int]:
    """A store holding a first hub of 2,000 linked people (analysed, or never), and a second
    hub with one connector, both empty, as a second hub's first sync finds them: the second
    hub, its connector and the count of people to give it."""
    first, second = _hub(engine, "first"), _hub(engine, "second")
    one, two = _connector(engine, first, "a"), _connector(engine, second, "a")
    count = 2000
    with engine.begin() as conn:
        _people(Store(conn), first, [f"a-{i:05d}" for i in range(count)])
        _links(Store(conn), one, [f"a-{i:05d}" for i in range(count)])
    if analyzed:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return second, two, count


def test_contacts_and_links_by_ref(database_url: str) -> None:
    engine = open_database(database_url)
    hub, other = _hub(engine, "h"), _hub(engine, "other")
    mine, theirs = _connector(engine, hub, "a"), _connector(engine, other, "a")
    ids = [f"c-{i:04d}" for i in range(CHUNK + 10)]  # two IN-lists
    with engine.begin() as conn:
        store = Store(conn)
        _people(store, hub, ids, deleted=frozenset({"c-0003"}))
        _people(store, other, ["o-1"])
        _links(store, mine, ids[:-1])
        _links(store, theirs, ["o-1"])
        refs = ["c-0001", "uid-c-0002", "c-0003", "uid-o-1", "o-1", "nobody", ids[-1], f"uid-{ids[-2]}"]
        by_both = store.contacts_by_ref(hub, refs)
        by_uid = store.contacts_by_ref(hub, refs, by_id=False)
        every = store.contacts_by_ref(hub, ids)
        links = store.links_by_native(mine, [f"n-{cid}" for cid in ids] + ["n-o-1", "nobody"])
        none = store.links_by_native(theirs, ["n-c-0001"])
    engine.dispose()
    assert {ref: (row.id, row.uid, row.deleted, row.rev, row.data) for ref, row in by_both.items()} == {
        "c-0001": ("c-0001", "uid-c-0001", False, 2, {"display_name": "c-0001"}),
        "uid-c-0002": ("c-0002", "uid-c-0002", False, 2, {"display_name": "c-0002"}),
        "c-0003": ("c-0003", "uid-c-0003", True, 2, {"display_name": "c-0003"}),  # deleted: found
        ids[-1]: (ids[-1], f"uid-{ids[-1]}", False, 2, {"display_name": ids[-1]}),
        f"uid-{ids[-2]}": (ids[-2], f"uid-{ids[-2]}", False, 2, {"display_name": ids[-2]}),
    }
    assert {ref: row.id for ref, row in by_uid.items()} == {"uid-c-0002": "c-0002", f"uid-{ids[-2]}": ids[-2]}
    assert sorted(every) == ids and all(every[cid].id == cid for cid in ids)
    assert sorted(links) == [f"n-{cid}" for cid in ids[:-1]]
    link = links["n-c-0001"]
    assert (link.connector_id, link.contact_id, link.version, link.baseline, link.synced_rev, link.state) == (
        mine, "c-0001", "v1", {"fn": "c-0001"}, 2, "active",
    )  # fmt: skip
    assert none == {}


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "first-hub-analyzed"])
def test_a_hubs_first_sync_looks_each_ref_up_by_index(postgres_url: str, analyzed: bool) -> None:
    """As ``match_lookup`` (``test_match_lookup``): on a hub's first sync its contacts are
    rows of the open transaction the statistics never saw; ``hub_id = :hub AND uid IN
    (...)`` could be planned as a walk over all of them per IN-list, the ref a filter.
    Each uid and id must be an index condition, never through the hub's rows, in the custom
    and the generic plan."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        second, two, count = _second_hub(engine, analyzed)

        ids = [f"b-{i:05d}" for i in range(count)]
        with engine.begin() as conn:
            store = Store(conn)
            _people(store, second, ids)
            _links(store, two, ids)
            asked = ids[::4]
            with sent(engine, r"FROM (contacts|links)\b") as statements:
                found = store.contacts_by_ref(second, [f"uid-{cid}" for cid in asked], by_id=False)
                by_id = store.contacts_by_ref(second, asked)
            plans = []
            for statement, parameters in statements:
                plans.append(_custom_plan(conn, statement, parameters))
                plans.append(_generic_plan(conn, statement, parameters))
                conn.exec_driver_sql("DEALLOCATE lookup")
        engine.dispose()
    assert {ref: row.id for ref, row in found.items()} == {f"uid-{cid}": cid for cid in asked}
    assert {ref: row.id for ref, row in by_id.items()} == {cid: cid for cid in asked}
    assert len(plans) == 6  # uid; id, uid
    for plan, column in zip(plans, ["uid", "uid", "id", "id", "uid", "uid"], strict=True):
        assert re.search(rf"Index Cond: .*\({column}\)::text = ", plan), plan
        assert "Seq Scan on contacts" not in plan, plan
        assert not re.search(rf"Filter: .*\({column}\)::text", plan), plan
        assert "ix_contacts_hub_live" not in plan, plan  # (the hub's, an id a condition on each)


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "first-hub-analyzed"])
def test_a_hubs_first_plan_asks_each_contact_for_its_link(postgres_url: str, analyzed: bool) -> None:
    """``unlinked_contacts`` on a hub's first sync: its connectors' links are rows of the
    open transaction, ``connector_id = :c`` taken for a row or so; whether a contact has a
    link must be asked through the contact's links (``ix_links_contact``), never by
    walking the connector's (``ix_links_plan``) once per contact (28 s of a 12,200-contact
    second hub's first sync). Same contacts either way."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        second, two, count = _second_hub(engine, analyzed)

        ids = [f"b-{i:05d}" for i in range(count)]
        with engine.begin() as conn:
            store = Store(conn)
            _people(store, second, ids)
            _links(store, two, ids[::2])  # every other contact linked
            with sent(engine, "FROM contacts") as statements:
                found = store.unlinked_contacts(second, two, "", 300)
            statement, parameters = statements[0]
            custom = _custom_plan(conn, statement, parameters)
            generic = _generic_plan(conn, statement, parameters)
        engine.dispose()
    assert [row.id for row in found] == ids[1::2][:300]
    for plan in (custom, generic):
        assert "ix_links_plan" not in plan, plan
        assert "ix_links_contact" in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "first-run-analyzed"])
def test_a_fold_finds_the_runs_rows_of_its_contact_by_the_contact(postgres_url: str, analyzed: bool) -> None:
    """``fold_contact`` in a first sync: the run's journal rows are rows of the open
    transaction, ``run_id = :run`` taken for a row or so; the rows of the folded contact
    must be found by the contact (``ix_changes_contact``), never by walking the run's
    rows (``ix_changes_run``) for each of the 200 twins folded. Same rows moved."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        first, second = _hub(engine, "first"), _hub(engine, "second")
        one, two = _connector(engine, first, "a"), _connector(engine, second, "a")
        count = 2000

        def journal(store: Store, run: int, connector: int, ids: list[str]) -> None:
            rows = [
                dict(run_id=run, connector_id=cid, connector_name=name, contact_id=contact,
                     native_id=None, op="create", status="done", at=now())
                for contact in ids
                for cid, name in ((None, "hub"), (connector, "a"))
            ]  # fmt: skip
            store.add_changes(rows, returning=False)

        with engine.begin() as conn:
            store = Store(conn)
            ids = [f"a-{i:05d}" for i in range(count)]
            _people(store, first, ids)
            journal(store, store.start_run(first, "sync"), one, ids)
        if analyzed:
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()

        ids = [f"b-{i:05d}" for i in range(count)]
        with engine.begin() as conn:
            store = Store(conn)
            _people(store, second, ids)
            run = store.start_run(second, "sync")
            journal(store, run, two, ids)
            with sent(engine, r"^(UPDATE|DELETE FROM) changes") as statements:
                store.fold_contact(run, "b-00007", "b-00003")
            plans = [_custom_plan(conn, s, p) for s, p in statements]
            c = t.changes.c
            left = conn.execute(
                select(c.contact_id, c.connector_name).where(
                    c.run_id == run, c.contact_id.in_(["b-00003", "b-00007"])
                )
            ).all()
        engine.dispose()
    assert sorted(left) == [("b-00003", "a"), ("b-00003", "a"), ("b-00003", "hub")]
    assert len(plans) == 2
    for plan in plans:
        assert "ix_changes_run" not in plan, plan
        assert "ix_changes_contact" in plan, plan
