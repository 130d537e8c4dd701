"""``Store.sharing_keys``, the twins' query (``engine.twins``): what it groups, and that a
first sync of a hub in a store holding another hub gets it in seconds on PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import Engine, insert

from contacthub.model import NAME_ONLY, PHONE_NAME_PLAIN
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.store.repo import CHUNK, ContactRow, Store, now


def _hub(engine: Engine, name: str) -> int:
    at = now()
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(t.hubs).values(name=name, created_at=at, updated_at=at).returning(t.hubs.c.id)
            ).scalar_one()
        )


def _people(
    store: Store, hub_id: int, keys: dict[str, list[str]], deleted: frozenset[str] = frozenset()
) -> None:
    rows = [ContactRow(cid, {"display_name": cid}, {}, 1, cid in deleted) for cid in keys]
    store.insert_contacts(hub_id, rows)
    store.set_match_keys(hub_id, keys, new=frozenset(keys))


def test_groups_are_the_live_contacts_of_the_hub_sharing_a_key_of_ours(database_url: str) -> None:
    engine = open_database(database_url)
    hub, other = _hub(engine, "h"), _hub(engine, "other")
    filler = {f"f-{i:04d}": [f"email:f{i}@x.example"] for i in range(CHUNK + 10)}  # ours span two IN-lists
    keys = {
        "a-1": ["email:pair@x.example", "phone:+15550001"],
        "a-2": ["email:pair@x.example"],
        "b-1": ["email:gone@x.example"],
        "b-2": ["email:gone@x.example"],  # deleted
        "c-1": [PHONE_NAME_PLAIN + "+15550002|hung", NAME_ONLY + "ann lee"],
        "c-2": [PHONE_NAME_PLAIN + "+15550002|hung", NAME_ONLY + "ann lee"],
        "d-1": ["email:elsewhere@x.example"],
        "e-1": ["phone:+15550003"],
        "e-2": ["phone:+15550003"],  # not ours: found all the same
        "a-3": ["email:late@x.example"],
        "z-1": ["email:late@x.example"],  # ours too, in the second IN-list
        "n-1": ["email:not-ours@x.example"],
        "n-2": ["email:not-ours@x.example"],  # neither is ours
        **filler,
    }
    with engine.begin() as conn:
        store = Store(conn)
        _people(store, hub, keys, deleted=frozenset({"b-2"}))
        _people(store, other, {"o-1": ["email:elsewhere@x.example", "email:pair@x.example"]})
        ours = ["a-1", "a-2", "b-1", "b-2", "c-1", "c-2", "d-1", "e-1", "a-3", *filler, "z-1"]
        assert sorted(ours)[-1] == "z-1" and sorted(ours).index("a-3") < CHUNK
        groups = store.sharing_keys(hub, ours)
    assert sorted(groups) == [["a-1", "a-2"], ["a-3", "z-1"], ["e-1", "e-2"]]


def test_a_second_hubs_first_sync_finds_twins_in_seconds(database_url: str) -> None:
    """QA: on PostgreSQL a second hub's first sync of 12,000 contacts spent hours here. Its
    keys were rows of the run's open transaction, which the statistics never saw: the
    planner took ``hub_id = :hub`` for a few rows and scanned the whole hub once for each
    of its rows. Here 3,000 people of a hub the store holds (analyzed, as autovacuum does)
    are also the new hub's, inserted in one transaction as a first sync does."""
    engine = open_database(database_url)
    first, second = _hub(engine, "first"), _hub(engine, "second")
    count = 3000

    def keys(prefix: str) -> dict[str, list[str]]:
        return {
            f"{prefix}-{i:05d}": [f"email:p{i}@x.example", f"phone:+1{i:09d}", f"email:h{i // 2}@x.example"]
            for i in range(count)
        }

    with engine.begin() as conn:
        _people(Store(conn), first, keys("a"))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL statement_timeout = '30s'")
        store = Store(conn)
        theirs = keys("b")
        _people(store, second, theirs)
        started = time.perf_counter()
        groups = store.sharing_keys(second, theirs)
        took = time.perf_counter() - started
    assert len(groups) == count // 2 and all(len(g) == 2 for g in groups)
    assert took < 15, took
