"""``Store.match_lookup``, the keys inbound matching finds hub contacts by: what it
returns, and that on PostgreSQL a hub's first sync looks its keys up by key, whatever the
statistics say of the hub (``bench/two_hubs.py`` measures the time)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import psycopg.sql
import pytest
from sqlalchemy import Engine, event

from contacthub.store.db import open_database
from contacthub.store.repo import CHUNK, Store
from tests.conftest import _fresh_postgres_database
from tests.store.test_sharing_keys import _hub, _people


def test_every_live_contact_of_the_hub_holding_a_key_by_id(database_url: str) -> None:
    engine = open_database(database_url)
    hub, other = _hub(engine, "h"), _hub(engine, "other")
    filler = {f"f-{i:04d}": [f"email:f{i}@x.example"] for i in range(CHUNK + 10)}  # two IN-lists
    with engine.begin() as conn:
        store = Store(conn)
        _people(
            store,
            hub,
            {
                "b-2": ["email:pair@x.example"],
                "a-1": ["email:pair@x.example", "phone:+15550001"],
                "c-1": ["email:gone@x.example"],  # deleted
                "d-1": ["email:z-last@x.example"],
                **filler,
            },
            deleted=frozenset({"c-1"}),
        )
        _people(store, other, {"o-1": ["email:pair@x.example", "email:elsewhere@x.example"]})
        asked = {
            "email:pair@x.example",
            "phone:+15550001",
            "email:gone@x.example",
            "email:elsewhere@x.example",  # only another hub's
            "email:nobody@x.example",
            "email:z-last@x.example",
            *(k for ks in filler.values() for k in ks),
        }
        found = store.match_lookup(hub, asked)
    assert sorted(asked)[-1] == "phone:+15550001" and len(asked) > CHUNK  # in the second IN-list
    assert found == {
        "email:pair@x.example": ["a-1", "b-2"],
        "phone:+15550001": ["a-1"],
        "email:z-last@x.example": ["d-1"],
        **{ks[0]: [cid] for cid, ks in filler.items()},
    }


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "first-hub-analyzed"])
def test_a_hubs_first_sync_looks_each_key_up_by_the_key(postgres_url: str, analyzed: bool) -> None:
    """QA: on a hub's first sync its keys are rows of the open transaction, which
    PostgreSQL's statistics never saw: ``hub_id = :hub`` was taken for a few rows, the
    index was used for the hub alone and every key of the hub went through the IN-list as
    a filter (once the statement was prepared, a search of the 500 values per row: over
    1 s an IN-list at 12,000 contacts). In a store whose statistics know nothing yet, or
    only the hub there before, each key must be found through the index by the key, in
    the plan of the first runs and in the one the server switches to once prepared."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        first, second = _hub(engine, "first"), _hub(engine, "second")
        count = 2000

        def keys(prefix: str) -> dict[str, list[str]]:
            return {f"{prefix}-{i:05d}": [f"email:p{i}@x.example", f"phone:+1{i:09d}"] for i in range(count)}

        with engine.begin() as conn:
            _people(Store(conn), first, keys("a"))
        if analyzed:
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")  # as autovacuum does once the first hub committed
                conn.commit()
        with engine.begin() as conn:
            store = Store(conn)
            _people(store, second, keys("b"))
            asked = [f"email:p{i}@x.example" for i in range(0, count, 4)]
            with sent(engine, "FROM match_keys") as statements:
                found = store.match_lookup(second, asked)
            statement, parameters = statements[0]
            custom = _custom_plan(conn, statement, parameters)
            generic = _generic_plan(conn, statement, parameters)
        engine.dispose()
    assert found == {key: [f"b-{int(key[7:-10]):05d}"] for key in asked}
    for plan in (custom, generic):
        assert re.search(r"Index Cond: .*\(key\)::text = ", plan), plan
        assert "Seq Scan on match_keys" not in plan, plan
        assert not re.search(r"Filter: .*\(key\)::text", plan), plan


@contextlib.contextmanager
def sent(engine: Engine, pattern: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements ``engine`` sends while the block runs whose text ``pattern`` (a
    regular expression) is found in, each with its parameters, to ``EXPLAIN`` after it."""
    found: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if re.search(pattern, statement) and "EXPLAIN" not in statement:
            found.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def _custom_plan(conn: Any, statement: str, parameters: dict[str, Any]) -> str:
    """The plan PostgreSQL runs ``statement`` with for these values (``EXPLAIN``)."""
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def _generic_plan(conn: Any, statement: str, parameters: dict[str, Any]) -> str:
    """The plan PostgreSQL runs ``statement`` with once the driver has prepared it (psycopg
    does from its fifth run): the generic one, where an IN-list is values to search one by
    one, not a hashed constant as ``EXPLAIN`` of the statement would show."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    body = re.sub(r"%\((\w+)\)s", number, statement)
    raw = conn.connection.dbapi_connection
    values = ", ".join(psycopg.sql.Literal(parameters[name]).as_string(raw) for name in names)
    conn.exec_driver_sql(f"PREPARE lookup AS {body}")
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE lookup({values})"))
