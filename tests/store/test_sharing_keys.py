"""``Store.sharing_keys``, the twins' query (``engine.twins``): what it groups, also on a
second hub's first sync in a store holding another hub. How long it takes there is
measured by ``bench/two_hubs.py``, not here."""

from __future__ import annotations

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


def test_a_second_hubs_first_sync_finds_its_twins(database_url: str) -> None:
    """The shape QA met on PostgreSQL (where the query once ran for hours: see
    ``bench/two_hubs.py``): the people of a hub the store holds (analyzed, as autovacuum
    does) are also the new hub's, whose keys are inserted in the transaction that asks, as
    a first sync does. Only the new hub's pairs come back, over more than one IN-list."""
    engine = open_database(database_url)
    first, second = _hub(engine, "first"), _hub(engine, "second")
    count = CHUNK + 100

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
        store = Store(conn)
        theirs = keys("b")
        _people(store, second, theirs)
        groups = store.sharing_keys(second, theirs)
    assert sorted(groups) == [[f"b-{i:05d}", f"b-{i + 1:05d}"] for i in range(0, count, 2)]
