"""Unit tests for the store: migrations vs tables.py, opening databases, the bulk repository."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, String, UniqueConstraint, inspect, select, text

from contacthub import config
from contacthub.errors import ConfigError, NotFoundError
from contacthub.store import db
from contacthub.store import tables as t
from contacthub.store.db import HEAD_REVISION, current_revision, open_database, safe_url
from contacthub.store.repo import CHUNK, ContactRow, LinkRow, Store, now
from tests.conftest import _admin_connect, _fresh_postgres_database
from tests.memory_connector import register

# --- the schema ---------------------------------------------------------------------------


def test_migrations_create_exactly_the_tables_of_tables_py(database_url: str) -> None:
    engine = open_database(database_url)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(t.metadata.tables) | {"alembic_version"}
    for name, table in t.metadata.tables.items():
        reflected = {c["name"]: c for c in inspector.get_columns(name)}
        assert list(reflected) == [c.name for c in table.columns], name
        for column in table.columns:
            got = reflected[column.name]
            assert got["nullable"] == column.nullable, f"{name}.{column.name} nullable"
            if isinstance(column.type, String) and column.type.length:
                assert getattr(got["type"], "length", None) == column.type.length, f"{name}.{column.name}"
            assert column.type._type_affinity is got["type"]._type_affinity or (
                # SQLite and PostgreSQL reflect DateTime / Boolean with their own classes
                got["type"].python_type is column.type.python_type
            ), f"{name}.{column.name}: {got['type']!r} vs {column.type!r}"
        pk = inspector.get_pk_constraint(name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], name
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(name)}
        # PostgreSQL lists unique constraints as indexes too; SQLite does not
        uniques = {u["name"]: u["column_names"] for u in inspector.get_unique_constraints(name)}
        expected_indexes = {i.name: [c.name for c in i.columns] for i in table.indexes}
        assert {k: v for k, v in indexes.items() if k not in uniques} == expected_indexes, name
        expected_uniques = {
            tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)
        } | {(c.name,) for c in table.columns if c.unique}
        assert {tuple(v) for v in uniques.values()} == expected_uniques, name
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in inspector.get_foreign_keys(name)
        }
        expected_fks = {
            ((fk.parent.name,), fk.column.table.name, (fk.column.name,)) for fk in table.foreign_keys
        }
        assert fks == expected_fks, name


def test_migrations_match_tables_per_alembic(database_url: str) -> None:
    """Alembic's own autogenerate comparison finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = open_database(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, t.metadata) == []


def test_head_revision_is_the_newest_migration(sqlite_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    assert current_revision(open_database(sqlite_url)) == HEAD_REVISION


def test_open_database_twice_is_a_no_op(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = open_database(database_url)
    with first.begin() as conn:
        conn.execute(
            t.hubs.insert().values(
                name="keep", conflict="newest", delete_threshold="10%", created_at=now(), updated_at=now()
            )
        )
    first.dispose()
    import alembic.command

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("migrations ran again")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    second = open_database(database_url)
    with second.connect() as conn:
        assert [r.name for r in conn.execute(select(t.hubs))] == ["keep"]
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar_one() == 1
    assert current_revision(second) == HEAD_REVISION


def test_migrate_false_leaves_an_empty_database(sqlite_url: str) -> None:
    engine = open_database(sqlite_url, migrate=False)
    assert inspect(engine).get_table_names() == []
    assert current_revision(engine) is None


# --- which database -------------------------------------------------------------------------


def test_environment_url_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "from-env" / "env.db"
    path.parent.mkdir()  # named by the user: its folder is not made (the next test)
    monkeypatch.setenv("CONTACTHUB_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    engine = open_database()
    assert engine.url.database == str(path)
    assert path.exists()
    assert not (tmp_path / "home" / "contacthub.db").exists()


def test_explicit_url_beats_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONTACTHUB_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    engine = open_database(f"sqlite:///{tmp_path}/explicit.db")
    assert engine.url.database == f"{tmp_path}/explicit.db"
    assert not (tmp_path / "env.db").exists()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_named_sqlite_file_in_a_missing_folder_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    """QA: ``--database sqlite:////tmp/typo-dir/a/b/hub.db`` made the whole folder tree and
    an empty store in it. Only the data directory is made (the default store's)."""
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path}/typo-dir/a/b/hub.db"
    if how == "environment":
        monkeypatch.setenv("CONTACTHUB_DATABASE_URL", url)
    with pytest.raises(ConfigError, match=rf"folder {tmp_path}/typo-dir/a/b does not exist"):
        open_database(url if how == "argument" else None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_default_is_sqlite_in_the_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONTACTHUB_DATABASE_URL", raising=False)
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    engine = open_database()
    assert engine.dialect.name == "sqlite"
    assert (tmp_path / "home" / "contacthub.db").exists()
    # named, as ``demo`` does with the default URL: the data directory is still made
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "other" / "home"))
    open_database(db.default_url())
    assert (tmp_path / "other" / "home" / "contacthub.db").exists()


def test_the_store_its_folder_and_key_are_their_owners_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``contacthub.db`` was made -rw-r--r-- under the usual umask 022: every local user
    could read every contact and what the store keeps in clear. The store, its -wal and
    -shm files, the data directory and the key file contacthub makes are its owner's only,
    whatever the umask; a store file that is there keeps the mode its owner gave it."""
    import os
    import shutil
    import stat

    from contacthub.store import secrets

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    monkeypatch.delenv("CONTACTHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("CONTACTHUB_SECRET_KEY", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("CONTACTHUB_HOME", str(home))
    for umask in (0o022, 0o000):
        old = os.umask(umask)
        try:
            engine = open_database()
            with engine.connect() as conn:  # a connection open: the -wal and -shm files are there
                conn.execute(
                    text(
                        "insert into hubs (name, conflict, delete_threshold, settings, created_at,"
                        " updated_at) values ('h', 'newest', '10%', '{}', 0, 0)"
                    )
                )
                files = {p.name: mode(p) for p in home.iterdir() if p.name.startswith("contacthub.db")}
                conn.rollback()
            engine.dispose()
            secrets.encrypt({"password": "pw"})  # makes the key file
            named = tmp_path / f"named-{umask:o}.db"
            open_database(f"sqlite:///{named}").dispose()
        finally:
            os.umask(old)
        assert files == {"contacthub.db": 0o600, "contacthub.db-wal": 0o600, "contacthub.db-shm": 0o600}
        assert mode(home) == 0o700 and mode(home / "secret.key") == 0o600 and mode(named) == 0o600
        shutil.rmtree(home)
    # a store that is there keeps its owner's choice of a group (no version made it 0640)
    kept = tmp_path / "shared.db"
    kept.touch()
    kept.chmod(0o640)
    open_database(f"sqlite:///{kept}").dispose()
    assert mode(kept) == 0o640


def test_an_old_stores_mode_is_made_owner_only_once_with_a_warning(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A store an older version made 0644 (under umask 022, before stores were made 0600)
    kept that mode through its upgrade: every local user could read every contact and the
    encrypted secrets. Opening it makes it, its -wal and -shm owner-only, saying so once;
    a mode only the file's group shares (0640) stays, as the previous test says."""
    import os
    import sqlite3
    import stat

    path = db.sqlite_path(sqlite_url)
    assert path is not None
    assert old_store(sqlite_url, "0013") == 50  # at an older revision: the next open upgrades it
    path.chmod(0o644)
    held = sqlite3.connect(path)  # another process's connection: its -wal and -shm are there
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("create table scratch (x)")
    siblings = [path.with_name(path.name + tail) for tail in ("-wal", "-shm")]
    for sibling in siblings:
        os.chmod(sibling, 0o644)
    try:
        with caplog.at_level("WARNING", logger="contacthub.store"):
            open_database(sqlite_url).dispose()
        assert current_revision(open_database(sqlite_url, migrate=False)) == HEAD_REVISION
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (path, *siblings)}
        assert modes == {"hub.db": 0o600, "hub.db-wal": 0o600, "hub.db-shm": 0o600}
        [said] = [r.getMessage() for r in caplog.records if r.name == "contacthub.store"]
        assert str(path) in said and "hub.db 0644" in said and "hub.db-wal 0644" in said
        assert "owner only" in said
        caplog.clear()
        with caplog.at_level("WARNING", logger="contacthub.store"):
            open_database(sqlite_url).dispose()
        assert [r for r in caplog.records if r.name == "contacthub.store"] == []  # said once
    finally:
        held.close()


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"


def test_postgresql_url_uses_psycopg() -> None:
    engine = open_database("postgresql://u@127.0.0.1:1/x", migrate=False)
    assert engine.url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:s3cret@127.0.0.1:1/x",
        "postgresql+psycopg://user:s3cret@127.0.0.1:1/x",
        "nosuchdb://user:s3cret@127.0.0.1:1/x",
        "mysql+nosuchdriver://user:s3cret@127.0.0.1:1/x",
        "postgresql://user:s3cret@127.0.0.1:notaport/x",
        "not a url user:s3cret@",
        # libpq takes the password as a query parameter too (and the TLS key's passphrase)
        "postgresql+psycopg://user@127.0.0.1:1/x?password=s3cret",
        "postgresql://user@127.0.0.1:1/x?sslmode=disable&sslpassword=s3cret",
    ],
)
def test_passwords_never_appear_in_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_database(url)
    text = f"{info.value} {info.value.message} {info.value.where} {info.value!r}"
    assert "s3cret" not in text
    assert "cannot open database" in info.value.message


def test_safe_url_masks_a_password_given_as_a_query_parameter() -> None:
    shown = safe_url("postgresql+psycopg://u:pw1@db.example:5432/hub?password=s3cret&sslmode=require")
    assert "s3cret" not in shown and "pw1" not in shown
    assert shown.startswith("postgresql+psycopg://u:***@db.example:5432/hub?")
    assert "password=***" in shown and "sslmode=require" in shown  # the rest stays readable
    assert "brokerpw" not in safe_url("redis://:brokerpw@127.0.0.1:6379/0")


def test_unreachable_server_error_says_which() -> None:
    with pytest.raises(ConfigError) as info:
        open_database("postgresql://user:s3cret@127.0.0.1:1/x")
    assert "127.0.0.1" in info.value.message and "***" in info.value.message


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_not_failed(postgres_url: str) -> None:
    """As after a PostgreSQL restart: the pooled connection is dead (AdminShutdown); the
    next use of the engine must get a fresh one instead of failing."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        try:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with _admin_connect(url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        finally:
            engine.dispose()


# --- the repository -----------------------------------------------------------------------------


@pytest.fixture
def hub_engine(database_url: str) -> tuple[Engine, int, list[int]]:
    """A store with hub 'h' and memory connectors a and b: (engine, hub id, connector ids)."""
    register()
    engine = open_database(database_url)
    prefix = uuid.uuid4().hex[:8]
    spec = config.HubFile.model_validate(
        {
            "hubs": {
                "h": {
                    "connectors": [
                        {"name": "a", "type": "memory", "book": f"{prefix}-a"},
                        {"name": "b", "type": "memory", "book": f"{prefix}-b"},
                    ]
                }
            }
        }
    )
    config.apply(engine, spec)
    with engine.connect() as conn:
        store = Store(conn)
        hub = store.hub("h")
        return engine, hub.id, [c.id for c in store.connectors(hub.id)]


def contact(i: int, **data: Any) -> ContactRow:
    return ContactRow(f"c-{i:05d}", {"display_name": f"Person {i}", **data}, {}, 1, False)


def test_hub_lookup(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, _ = hub_engine
    with engine.connect() as conn:
        store = Store(conn)
        hub = store.hub("h")
        assert (hub.id, hub.conflict, hub.delete_threshold) == (hub_id, "newest", "10%")
        assert hub.settings == {"phone_region": "US"}
        assert store.hub_by_id(hub_id).name == "h"
        assert [h.name for h in store.hubs()] == ["h"]
        assert [(c.name, c.position) for c in store.connectors(hub_id)] == [("a", 0), ("b", 1)]
        with pytest.raises(NotFoundError) as info:
            store.hub("nope")
        assert "'nope'" in info.value.message and "hubs: h" in info.value.message


def test_contacts_round_trip_in_bulk(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, _ = hub_engine
    count = CHUNK * 2 + 17  # more than one IN-list
    rows = [contact(i, emails=[{"value": f"p{i}@x.org", "type": "", "primary": True}]) for i in range(count)]
    rows[3].sources = {"display_name": [1, "2026-01-01T00:00:00+00:00"]}
    rows[4].deleted = True
    with engine.begin() as conn:
        Store(conn).insert_contacts(hub_id, rows)
    with engine.connect() as conn:
        got = Store(conn).contacts([r.id for r in rows] + ["missing"])
    assert len(got) == count
    assert got[rows[3].id] == rows[3]
    assert got[rows[4].id].deleted is True
    assert got[rows[10].id].data["emails"][0]["value"] == "p10@x.org"

    changed = [
        ContactRow(r.id, {**r.data, "notes": 'é ✓ "quoted"'}, {"notes": [2, "t"]}, 2, True)
        for r in rows[:600]
    ]
    with engine.begin() as conn:
        Store(conn).update_contacts(changed)
    with engine.connect() as conn:
        got = Store(conn).contacts(r.id for r in rows)
    assert got[rows[0].id] == changed[0] and got[rows[599].id] == changed[599]
    assert got[rows[600].id] == rows[600]  # untouched


def test_empty_bulk_calls_do_nothing(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, _ = hub_engine
    with engine.begin() as conn:
        store = Store(conn)
        store.insert_contacts(hub_id, [])
        store.update_contacts([])
        store.insert_links([])
        store.update_links([])
        store.delete_links([])
        assert store.add_changes([]) == []
        store.set_change_status([])
        store.add_conflicts([])
        store.set_match_keys(hub_id, {})
        assert store.contacts([]) == {}


def test_match_lookup_skips_deleted_contacts(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, _ = hub_engine
    live, gone = contact(1), contact(2)
    gone.deleted = True
    with engine.begin() as conn:
        store = Store(conn)
        store.insert_contacts(hub_id, [live, gone])
        store.set_match_keys(
            hub_id, {live.id: ["email:a@x.org", "email:a@x.org"], gone.id: ["email:b@x.org"]}
        )
        keys = {"email:a@x.org", "email:b@x.org", "email:new@x.org"}
        assert store.match_lookup(hub_id, keys) == {"email:a@x.org": [live.id]}
        store.set_match_keys(hub_id, {live.id: ["email:new@x.org"]})  # replaces
        assert store.match_lookup(hub_id, keys) == {"email:new@x.org": [live.id]}


def link(connector_id: int, contact_id: str, native: str | None, **kw: Any) -> LinkRow:
    values: dict[str, Any] = {
        "version": "v1",
        "baseline": {"display_name": "x"},
        "synced_rev": 1,
        "state": "active",
    }
    values.update(kw)
    return LinkRow(0, connector_id, contact_id, native, **values)


def test_links_round_trip(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, (a, b) = hub_engine
    people = [contact(i) for i in range(CHUNK + 5)]
    with engine.begin() as conn:
        store = Store(conn)
        store.insert_contacts(hub_id, people)
        store.insert_links([link(a, p.id, f"n{i}") for i, p in enumerate(people)])
        store.insert_links([link(b, people[0].id, None, baseline=None, state="excluded")])
    with engine.connect() as conn:
        store = Store(conn)
        by_native = store.links_by_native(a, [f"n{i}" for i in range(len(people))])
        assert len(by_native) == len(people)
        first = by_native["n0"]
        assert (first.contact_id, first.version, first.baseline, first.state) == (
            people[0].id,
            "v1",
            {"display_name": "x"},
            "active",
        )
        assert set(store.links_by_contact(a, [p.id for p in people])) == {p.id for p in people}
        assert store.link_versions(a) == {f"n{i}": "v1" for i in range(len(people))}
        assert store.link_versions(b) == {}  # no native id
        assert store.count_links(a) == len(people) and store.count_links(b) == 0
        assert store.count_links(b, "excluded") == 1
        assert {lk.connector_id for lk in store.links_of_contact(people[0].id)} == {a, b}
        assert store.links_by_native(b, ["n0"]) == {}

    first.version, first.baseline, first.synced_rev, first.state = "v2", None, 7, "filtered"
    with engine.begin() as conn:
        Store(conn).update_links([first])
    with engine.connect() as conn:
        again = Store(conn).links_by_native(a, ["n0"])["n0"]
    assert again == first

    with engine.begin() as conn:
        Store(conn).delete_links([lk.id for lk in by_native.values()])
    with engine.connect() as conn:
        assert Store(conn).count_links(a) == 0


def test_unique_native_id_per_connector(hub_engine: tuple[Engine, int, list[int]]) -> None:
    from sqlalchemy.exc import IntegrityError

    engine, hub_id, (a, b) = hub_engine
    with engine.begin() as conn:
        Store(conn).insert_contacts(hub_id, [contact(1), contact(2)])
        Store(conn).insert_links([link(a, "c-00001", "same"), link(b, "c-00002", "same")])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        Store(conn).insert_links([link(a, "c-00002", "same")])


def test_what_the_plan_reads(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, (a, b) = hub_engine
    synced, moved, deleted, unlinked = contact(1), contact(2), contact(3), contact(4)
    moved.rev, deleted.deleted = 2, True
    with engine.begin() as conn:
        store = Store(conn)
        store.insert_contacts(hub_id, [synced, moved, deleted, unlinked])
        store.insert_links([link(a, c.id, f"n{c.id}") for c in (synced, moved, deleted)])
        dirty = store.dirty_links(a, 0, 100)
        assert sorted(c.id for _, c in dirty) == sorted([moved.id, deleted.id])
        assert [c.id for c in store.unlinked_contacts(hub_id, a, "", 100)] == [unlinked.id]
        assert len(store.unlinked_contacts(hub_id, b, "", 100)) == 3  # deleted one excluded
        assert [c.id for c in store.unlinked_contacts(hub_id, b, synced.id, 1)] == [moved.id]
        assert store.count_deleted_linked(hub_id, a) == 1 and store.count_deleted_linked(hub_id, b) == 0


def test_cursors(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, _, (a, b) = hub_engine
    with engine.begin() as conn:
        store = Store(conn)
        assert store.cursor(a) is None
        store.set_cursor(a, "token-1")
        store.set_cursor(a, "token-2")
        store.set_cursor(b, None)
    with engine.connect() as conn:
        store = Store(conn)
        assert store.cursor(a) == "token-2" and store.cursor(b) is None
        assert len(conn.execute(select(t.cursors)).all()) == 2


def change(run_id: int, connector_id: int | None, i: int, status: str = "pending") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "connector_id": connector_id,
        "connector_name": "a" if connector_id else "hub",
        "contact_id": f"c-{i:05d}",
        "native_id": f"n{i}",
        "op": "update",
        "before": '{"notes": "old"}',
        "after": '{"notes": "new"}',
        "status": status,
        "error": None,
        "at": now(),
    }


def test_changes_return_their_ids_in_order(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, (a, _) = hub_engine
    with engine.begin() as conn:
        store = Store(conn)
        run_id = store.start_run(hub_id, "sync")
        ids = store.add_changes([change(run_id, a if i % 2 else None, i) for i in range(1200)])
        assert len(ids) == 1200 and len(set(ids)) == 1200
        natives = dict(conn.execute(select(t.changes.c.id, t.changes.c.native_id)).all())
        assert [natives[i] for i in ids] == [f"n{i}" for i in range(1200)]
        store.set_change_status([(ids[0], "failed", "refused", None), (ids[1], "done", None, "native-9")])
        got = {r.id: r for r in conn.execute(select(t.changes).where(t.changes.c.id.in_(ids[:3])))}
    assert (got[ids[0]].status, got[ids[0]].error, got[ids[0]].native_id) == ("failed", "refused", None)
    assert (got[ids[1]].status, got[ids[1]].native_id) == ("done", "native-9")
    assert got[ids[2]].status == "pending"


def test_runs_and_interrupted_runs(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, (a, _) = hub_engine
    with engine.begin() as conn:
        store = Store(conn)
        done = store.start_run(hub_id, "sync")
        store.add_changes([change(done, a, 1, "done")])
        store.finish_run(done, "applied", {"changes": {"a": {"create": 1}}}, [{"connector": "a"}], "ok")
        running = store.start_run(hub_id, "sync")
        applying = store.start_run(hub_id, "approve", parent_id=done)
        store.set_run_status(applying, "applying")
        store.add_changes([change(running, a, 2), change(running, a, 3, "done"), change(applying, a, 4)])
    with engine.begin() as conn:
        assert sorted(Store(conn).interrupted_runs(hub_id)) == sorted([running, applying])
    with engine.connect() as conn:
        runs = {r.id: r for r in conn.execute(select(t.runs))}
        changes = {r.native_id: r.status for r in conn.execute(select(t.changes))}
        assert Store(conn).interrupted_runs(hub_id) == []
    assert runs[done].status == "applied" and runs[done].message == "ok"
    assert runs[done].counts == '{"changes":{"a":{"create":1}}}'
    assert runs[done].finished_at is not None
    assert runs[running].status == runs[applying].status == "failed"
    assert "interrupted" in (runs[running].message or "")
    assert runs[applying].parent_id == done
    assert changes == {"n1": "done", "n2": "interrupted", "n3": "done", "n4": "interrupted"}


def test_conflicts(hub_engine: tuple[Engine, int, list[int]]) -> None:
    engine, hub_id, _ = hub_engine
    person = contact(1)
    with engine.begin() as conn:
        store = Store(conn)
        store.insert_contacts(hub_id, [person])
        run_id = store.start_run(hub_id, "sync")
        row = {
            "hub_id": hub_id,
            "contact_id": person.id,
            "run_id": run_id,
            "hub_value": '"A"',
            "hub_source": "a",
            "value": '"B"',
            "source": "b",
            "policy": "manual",
            "created_at": now(),
        }
        store.add_conflicts(
            [{**row, "field": "job_title", "status": "open"}, {**row, "field": "notes", "status": "auto"}]
        )
        open_ = store.open_conflicts(hub_id)
        assert list(open_) == [person.id] and list(open_[person.id]) == ["job_title"]
        store.update_open_conflict(open_[person.id]["job_title"], "C", "A", run_id)
        value = conn.execute(
            select(t.conflicts.c.value).where(t.conflicts.c.field == "job_title")
        ).scalar_one()
        assert value == '"C"'


def test_a_database_a_newer_version_migrated_is_refused_with_one_message(sqlite_url: str) -> None:
    """Going back to an older contacthub after an upgrade failed on every command with
    Alembic's traceback ("Can't locate revision identified by '0011'"), QA."""
    engine = db.open_database(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(ConfigError, match=r"upgraded by a newer contacthub \(schema 0099\);.* up to 00"):
        db.open_database(sqlite_url)


def test_a_database_with_another_programs_schema_version_is_not_called_newer(sqlite_url: str) -> None:
    """Another program's Alembic revision (``ae1027a6acf``) was reported as "upgraded by a
    newer contacthub", sending the person after a version that never existed (QA)."""
    import sqlite3

    with sqlite3.connect(str(db.sqlite_path(sqlite_url))) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    foreign = r"is not a contacthub store: its schema version \(ae1027a6acf\)"
    with pytest.raises(ConfigError, match=foreign) as err:
        db.open_database(sqlite_url)
    assert "newer" not in str(err.value)
    with sqlite3.connect(str(db.sqlite_path(sqlite_url))) as conn:  # left untouched
        assert {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
            "alembic_version",
            "invoices",
        }


# --- upgrading an old store -----------------------------------------------------------------


def old_store(url: str, revision: str) -> int:
    """A store at schema ``revision`` holding a hub with linked contacts: its number of links."""
    from alembic import command
    from alembic.config import Config

    register()
    engine = open_database(url)
    spec = config.HubFile.model_validate(
        {"hubs": {"h": {"connectors": [{"name": "a", "type": "memory", "book": uuid.uuid4().hex}]}}}
    )
    config.apply(engine, spec)
    people = [contact(i) for i in range(50)]
    with engine.begin() as conn:
        store = Store(conn)
        hub = store.hub("h")
        [connector] = store.connectors(hub.id)
        store.insert_contacts(hub.id, people)
        store.insert_links([link(connector.id, p.id, f"n{i}") for i, p in enumerate(people)])
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # off: 0007's downgrade rebuilds hubs, and dropping it would cascade to everything
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        cfg = Config()
        cfg.set_main_option("script_location", str(db.MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()
    engine.dispose()
    return len(people)


def sqlite_tables(url: str) -> set[str]:
    import sqlite3

    with sqlite3.connect(str(db.sqlite_path(url))) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def fail_at(statement: str) -> Any:
    """A listener for every engine failing the first SQL statement that starts with
    ``statement`` as SQLite does when the disk is full."""
    import sqlite3

    def before(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith(statement.upper()):
            raise sqlite3.OperationalError("database or disk is full")

    return before


@pytest.mark.parametrize(
    ("revision", "statement"),
    [
        ("0010", "DROP TABLE links"),  # 0011's batch copy: _alembic_tmp_links made, filled
        ("0005", "UPDATE alembic_version"),  # after 0006 (credentials) is done
        ("0005", "ALTER TABLE _alembic_tmp_links RENAME"),  # in 0008, six steps along
    ],
)
def test_an_upgrade_interrupted_midway_leaves_the_store_as_it_was(
    sqlite_url: str, revision: str, statement: str
) -> None:
    """QA: a Ctrl-C or kill during an upgrade left the DDL done so far (pysqlite runs DDL
    outside its transaction): ``_alembic_tmp_links`` or ``credentials`` at the old revision,
    and every later start failed with "table ... already exists". Now the whole upgrade is
    one transaction: failed midway (here: a full disk), the store is exactly as before and
    upgrades next time. (A real kill: the next test.)"""
    from sqlalchemy import Engine as EngineClass
    from sqlalchemy import event

    count = old_store(sqlite_url, revision)
    before_tables = sqlite_tables(sqlite_url)
    listener = fail_at(statement)
    event.listen(EngineClass, "before_cursor_execute", listener)
    try:
        with pytest.raises(ConfigError, match="disk is full"):
            open_database(sqlite_url)
    finally:
        event.remove(EngineClass, "before_cursor_execute", listener)
    assert sqlite_tables(sqlite_url) == before_tables
    engine = open_database(sqlite_url, migrate=False)
    assert current_revision(engine) == revision
    engine.dispose()
    engine = open_database(sqlite_url)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert len(conn.execute(select(t.links)).all()) == count


def test_an_upgrade_killed_midway_leaves_the_store_as_it_was(sqlite_url: str) -> None:
    """As QA's kill during ``contacthub runs``: the process dies (SIGKILL) in 0011's batch
    copy of links, after ``_alembic_tmp_links`` was made and filled; nothing of it stays."""
    import subprocess
    import sys

    count = old_store(sqlite_url, "0010")
    before_tables = sqlite_tables(sqlite_url)
    child = (
        "import os, signal, sys\n"
        "from sqlalchemy import Engine, event\n"
        "from contacthub.store.db import open_database\n"
        "def before(conn, cursor, sql, *_):\n"
        "    if sql.lstrip().upper().startswith('DROP TABLE LINKS'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "event.listen(Engine, 'before_cursor_execute', before)\n"
        "open_database(sys.argv[1])\n"
    )
    proc = subprocess.run([sys.executable, "-c", child, sqlite_url], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert sqlite_tables(sqlite_url) == before_tables
    engine = open_database(sqlite_url)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert len(conn.execute(select(t.links)).all()) == count


def test_processes_upgrading_one_old_store_at_once_all_succeed(database_url: str) -> None:
    """QA: six commands started together on an old store ran the same migrations at once;
    some failed with "table ... already exists" (or SQLite's "database is locked"), one
    with Alembic's CommandError traceback. One upgrades now, the others wait for it and
    find the store upgraded."""
    import subprocess
    import sys
    import time

    count = old_store(database_url, "0005")
    child = (
        "import sys, time\n"
        "import alembic.command\n"
        "from contacthub.store.db import open_database\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "open_database(sys.argv[1]).dispose()\n"
        "print('opened')\n"
    )
    start = str(time.time() + 2.0)  # after every child's imports: they start together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", child, database_url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [proc.communicate(timeout=180) for proc in procs]
    assert [out for out, _ in results] == ["opened\n"] * 6, [err[-300:] for _, err in results]
    engine = open_database(database_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(HEAD_REVISION,)]
        assert len(conn.execute(select(t.links)).all()) == count
    engine.dispose()


def test_an_alembic_error_is_one_message_not_a_traceback(sqlite_url: str) -> None:
    """Alembic's own errors (CommandError) are no SQLAlchemyError: one ended a command of
    QA's race in a traceback. Here a version table two racing upgrades left with two rows."""
    old_store(sqlite_url, "0008")
    engine = open_database(sqlite_url, migrate=False)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0006')")
    engine.dispose()
    with pytest.raises(ConfigError, match=r"cannot upgrade database sqlite:///.*: .*0006"):
        open_database(sqlite_url)


@pytest.mark.parametrize("table", ["cards", "users"])  # users: a name contacthub uses too
def test_another_programs_database_is_refused_untouched(database_url: str, table: str) -> None:
    """QA: ``--database`` naming another program's SQLite file wrote contacthub's tables
    into it, even for ``hubs``; one with a table name contacthub uses too was left with
    half a schema. Tables and no ``alembic_version``: refused, nothing written."""
    from sqlalchemy import create_engine

    plain = create_engine(database_url)
    with plain.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, fn VARCHAR(50))")
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1, 'Ann')")
    plain.dispose()
    path = db.sqlite_path(database_url)
    before = path.read_bytes() if path else b""
    with pytest.raises(ConfigError, match=rf"is not a contacthub store: it holds other tables \({table}\)"):
        open_database(database_url)
    if path:
        assert path.read_bytes() == before  # not even switched to WAL
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    plain = create_engine(database_url)
    assert inspect(plain).get_table_names() == [table]
    plain.dispose()


def test_an_empty_database_file_is_made_a_store(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    engine = open_database(f"sqlite:///{tmp_path}/empty.db")
    assert current_revision(engine) == HEAD_REVISION


def test_a_path_given_for_the_database_url_says_how_to_write_it(tmp_path: Path) -> None:
    """``--database /path/x.db`` said "cannot open database <unparseable URL>" (QA)."""
    with pytest.raises(ConfigError, match=r"must be given as a URL, not a path: .*sqlite:////absolute/path"):
        db.open_database(str(tmp_path / "x.db"))
    assert not (tmp_path / "x.db").exists()


def test_a_contacts_conflicts_are_found_by_an_index(sqlite_url: str) -> None:
    """The inbound looks up a person's conflicts on a field for each of their records; the
    only index was by hub and status, so each lookup read every conflict of the hub."""
    from sqlalchemy import event

    engine = open_database(sqlite_url)
    seen: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "FROM conflicts" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", remember)
    with engine.connect() as conn:
        Store(conn).open_conflict_values("someone", "notes")
        Store(conn).open_conflict_from("someone", "notes", "phones")
    event.remove(engine, "before_cursor_execute", remember)
    assert len(seen) == 2
    with engine.connect() as conn:
        for statement, params in seen:
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            assert "USING INDEX ix_conflicts_contact" in plan, plan


def test_migration_0014_adds_and_drops_the_token_expiry(database_url: str) -> None:
    """0014 adds ``api_tokens.expires_at`` (nullable: the tokens already made never expire)
    and its downgrade takes it away again, the tokens kept both ways."""
    from alembic import command
    from alembic.config import Config

    from contacthub.web import accounts

    engine = open_database(database_url)
    ann = accounts.add_user(engine, "ann@example.com", "a long password")
    token = accounts.create_token(engine, ann, "ci")
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))

    def columns() -> list[str]:
        return [c["name"] for c in inspect(engine).get_columns("api_tokens")]

    assert "expires_at" in columns()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013")
    assert current_revision(engine) == "0013" and "expires_at" not in columns()
    with engine.begin() as conn:  # a token made by the version before
        conn.exec_driver_sql(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at)"
            f" VALUES ({ann.id}, 'old', '{'0' * 64}', CURRENT_TIMESTAMP)"
        )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert current_revision(engine) == HEAD_REVISION and "expires_at" in columns()
    listed = accounts.tokens(engine)
    assert [(r["name"], r["expires_at"], r["expired"]) for r in listed] == [
        ("ci", None, False),
        ("old", None, False),
    ]
    assert accounts.token_user(engine, token) == ann
    engine.dispose()


def test_a_url_sent_back_masked_takes_the_stored_values_and_refuses_a_mask_of_nothing() -> None:
    """A dashboard form or a client sends a URL back as it was shown (``?token=********``):
    each mask is the stored value of that field. A mask of a field the stored URL has no
    value of was kept as given, and ``********`` was then sent to the server as the value
    (QA): refused, and said."""
    from contacthub.store import secrets

    stored = "https://dav.example/book1/?token=TOK1"
    assert secrets.unhide_url_secrets("https://dav.example/book1/?token=********", stored) == stored
    sent = "https://dav.example/book1/?token=********&share=********"
    with pytest.raises(ConfigError, match=r"says \*\*\*\*\*\*\*\* for a query value it never had"):
        secrets.unhide_url_secrets(sent, stored)


def test_a_store_error_never_carries_the_statements_values(database_url: str) -> None:
    """SQLAlchemy writes a failed statement's values into its error's text (``[parameters:
    ...]``), and so into every traceback and log line showing it: a database restarted
    mid-sync printed hundreds of people's emails (QA). The store's engines hide them; the
    driver's words and the statement stay, to say what failed."""
    from sqlalchemy.exc import DBAPIError

    engine = open_database(database_url)
    with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "ann.private@example.com"})
    said = str(raised.value)
    assert "ann.private@example.com" not in said and "no_such_table" in said
    engine.dispose()


@pytest.mark.postgres
def test_a_database_not_in_utf8_is_refused_with_one_clear_message(postgres_url: str) -> None:
    """A cluster made by ``initdb`` without ``--encoding`` under the C locale makes every
    database SQL_ASCII; the driver then hands text back as bytes, and every command ended
    in an 80-line traceback from SQLAlchemy's version check (QA). It is refused, saying how
    to make a UTF8 one."""
    name = f"contacthub_ascii_{uuid.uuid4().hex[:12]}"
    with _admin_connect(postgres_url) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    try:
        from sqlalchemy.engine import make_url

        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with pytest.raises(ConfigError) as info:
            open_database(url)
        assert "SQL_ASCII" in info.value.message and "UTF8" in info.value.message, info.value.message
    finally:
        with _admin_connect(postgres_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_postgresql_plans_each_statement_for_its_own_values(postgres_url: str) -> None:
    """psycopg prepares a statement the sixth time it runs, and the server's generic plan
    of an IN-list of parameters tests each row against every value in turn: a first sync's
    ``links_by_native`` grew to 0.2-0.3 s an IN-list (``bench/two_hubs.py``). Every
    connection of the store's engine plans for the values, also after a rollback and on
    a prepared statement."""
    with _fresh_postgres_database(postgres_url) as url:
        engine = open_database(url)
        try:
            with engine.connect() as conn:
                conn.rollback()
                assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
                query = text("SELECT count(*) FROM links WHERE connector_id = :c AND native_id IN (:a, :b)")
                for _ in range(10):  # prepared from the sixth on
                    conn.execute(query, {"c": 1, "a": "x", "b": "y"})
                plans = conn.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE statement LIKE :s"
                    ),
                    {"s": "SELECT count(*) FROM links%"},
                ).all()
                assert plans and all(generic == 0 and custom > 0 for generic, custom in plans), plans
        finally:
            engine.dispose()


def test_a_sqlite_file_that_cannot_be_opened_says_what_to_check(tmp_path: Path) -> None:
    """QA: a store on a read-only folder said only "unable to open database file" (a full
    disk, "disk I/O error"): SQLite's words name no cause. The message says what to check:
    the file, the folder its journal goes in, the disk. (A folder given as the file is the
    case a test run as root can make.)"""
    where = tmp_path / "store"
    where.mkdir()
    with pytest.raises(ConfigError) as info:
        open_database(f"sqlite:///{where}")
    message = info.value.message
    assert "unable to open database file" in message
    assert f"check that {where} is a file" in message and f"its folder {tmp_path}" in message
