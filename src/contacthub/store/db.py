"""Opening the database: the URL, SQLite's settings, and migrating to the newest schema.

The URL comes from ``--database``, else ``CONTACTHUB_DATABASE_URL``, else a SQLite file in the
user's data directory (the embedded default). Migrations run through Alembic, but only when
the recorded revision differs from the newest one: importing Alembic costs start-up time that
a no-op sync should not pay.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from contacthub.errors import ConfigError

log = logging.getLogger("contacthub.store")

HEAD_REVISION = "0015"
MIGRATIONS = Path(__file__).parent / "migrations"


def data_dir() -> Path:
    """Where the embedded default keeps its files (``CONTACTHUB_HOME`` overrides it)."""
    home = os.environ.get("CONTACTHUB_HOME")
    if home:
        return Path(home)
    from platformdirs import user_data_dir

    return Path(user_data_dir("contacthub", appauthor=False))


def make_data_dir() -> Path:
    """The data directory, made readable by its owner only (0700, whatever the umask) when
    it is not there: it holds the store, the key and the connectors' trash, which every
    local user could read under the usual umask 022. One that is there keeps its mode."""
    folder = data_dir()
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)  # the umask may have taken more than group and others
    return folder


def _private_file(path: Path) -> None:
    """Create the SQLite file ``path`` empty (SQLite takes it for a new database) and
    readable by its owner only (0600, whatever the umask), before SQLite would create it
    0644: every local user could read every contact and the store's settings. SQLite gives
    its ``-wal`` and ``-shm`` files the database file's mode. A file that is there is
    ``_tighten``-ed instead."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


#: what SQLite keeps beside a database file, with the file's mode
_SIBLINGS = ("-wal", "-shm", "-journal")


def _tighten(path: Path) -> None:
    """Make a store that is there, and the files SQLite keeps beside it, owner-only (0600)
    when every local user can read or write them (any "other" permission) and the current
    user owns them. A store made before ``_private_file`` (0644 under the usual umask 022,
    0664 under 002) kept that mode through every upgrade: every local user could read
    every contact, the journal and the encrypted secrets. Said once, as a warning: the
    next start finds it owner-only. A mode giving the file's group access and others
    none (0640) is its owner's choice (no version made it) and is kept, as is a file of
    another user's (a root's command on a service's store), which is not ours to change."""
    if not hasattr(os, "geteuid"):  # (not a POSIX system: modes mean nothing there)
        return
    changed: list[str] = []
    for file in (path, *(path.with_name(path.name + tail) for tail in _SIBLINGS)):
        try:
            st = file.stat()
            mode = stat.S_IMODE(st.st_mode)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or not mode & 0o007:
                continue
            file.chmod(mode & 0o700)
        except OSError:  # gone meanwhile (a -wal at its checkpoint), or not changeable
            continue
        changed.append(f"{file.name} {mode:04o}")
    if changed:
        log.warning(
            "the store %s could be read by other users of this machine (%s; it holds every "
            "contact and the connectors' encrypted secrets): made readable by its owner only",
            path,
            ", ".join(changed),
        )


def sqlite_path(url: str | URL) -> Path | None:
    """The file a SQLite URL names (a ``file:`` URI's path, without its query); ``None``
    for another database, an in-memory one, or no URL at all (``open_database`` says why)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database.removeprefix("file:").split("?", 1)[0])


def default_url() -> str:
    return os.environ.get("CONTACTHUB_DATABASE_URL") or f"sqlite:///{data_dir() / 'contacthub.db'}"


def _utf8_only(dbapi_conn: object, _record: object) -> None:
    """Refuse a PostgreSQL database whose encoding is not UTF8. A cluster made by ``initdb``
    without ``--encoding`` under the C locale makes every database SQL_ASCII; the driver
    then hands text back as bytes, and every command ended in a traceback from SQLAlchemy's
    check of the server's version (QA)."""
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute("SHOW server_encoding")
        row = cursor.fetchone()
    finally:
        cursor.close()
    found = row[0] if row else None
    if isinstance(found, bytes):
        found = found.decode("ascii", "replace")
    if found != "UTF8":
        raise ConfigError(
            f"the database's encoding is {found}; contacthub needs UTF8: create it with"
            " 'createdb -E UTF8 -T template0 NAME' (or CREATE DATABASE ... ENCODING 'UTF8'"
            " TEMPLATE template0)"
        )


def _custom_plans(dbapi_conn: object, _record: object) -> None:
    """Plan every statement for its own values on PostgreSQL (``plan_cache_mode``).
    psycopg prepares a statement the sixth time it runs; the server's generic plan for an
    IN-list of parameters then tests each row of the index range against every value in
    turn, where a plan for the values hashes them: ``Store.links_by_native`` took 0.2-0.3 s
    an IN-list of 500 against a connector's 10,000 links of the open transaction, growing
    with every page of a first sync (``bench/two_hubs.py``), against 3-8 ms planned for its
    values. Planning each time costs well under a millisecond a statement."""
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    try:  # (a server before 12 has no such setting, and keeps its default)
        cursor.execute(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', false)"
            " WHERE current_setting('server_version_num')::int >= 120000"
        )
        dbapi_conn.commit()  # type: ignore[attr-defined]  # (a setting rolled back is undone)
    finally:
        cursor.close()


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # the wait first: switching a new file to WAL needs a lock another process may hold
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # a page cache of 512 KB, not SQLite's 2 MB: the cache filled up in every command, so
    # its 1.5 MB more was in the peak memory of each (a sync with nothing to do: 51.4 ->
    # 49.9 MB), while a first copy of 10,000 or 50,000 cards took as long (the pages it
    # reads again come from the operating system's cache; bench/README.md)
    cursor.execute("PRAGMA cache_size=-512")
    cursor.close()


#: the engines ``open_database`` made that are still in use, for ``close_databases``
_OPENED: weakref.WeakSet[Engine] = weakref.WeakSet()


def close_databases() -> None:
    """Close every engine ``open_database`` made that is still in use, before a process
    ends without its teardown (``cli._exit_now``): SQLite writes its WAL file back into the
    database as the last connection goes (left, a copy of the file alone held no hubs), and
    a PostgreSQL server sees a session end rather than a lost client."""
    for engine in list(_OPENED):
        engine.dispose()
    _OPENED.clear()


def open_database(url: str | None = None, *, migrate: bool = True) -> Engine:
    """An engine on ``url`` (default: see module docstring), migrated to the newest schema."""
    url = url or default_url()
    if "://" not in url:  # a file's path, most likely: not echoed (it might hold a password)
        raise ConfigError(
            "cannot open database: it must be given as a URL, not a path: for a SQLite file"
            " sqlite:////absolute/path/contacthub.db (or sqlite:///relative/path.db)"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        path = sqlite_path(url)
        if path is not None and not path.parent.exists():
            _make_folder(path.parent, url)
        if path is not None and not path.exists() and "mode=ro" not in url:
            _private_file(path)
        elif path is not None:
            _tighten(path)
        # pre-ping: a pooled connection the server dropped (a restart, a failover, an idle
        # timeout) is replaced at checkout instead of failing the next query of a long-lived
        # process (serve, a worker); SQLite has no server to lose. ``hide_parameters``: an
        # error's text (a traceback, a log line, a message) otherwise ends with the
        # statement's values, people's emails and names (QA: a database restart mid-sync
        # printed hundreds of them); the statement and the driver's words are kept
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True)
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        raise ConfigError(f"cannot open database {safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        # before SQLAlchemy's own first look at the server (``insert``), which fails on it
        event.listen(engine.pool, "first_connect", _utf8_only, insert=True)
        event.listen(engine, "connect", _custom_plans)
    _OPENED.add(engine)
    if migrate:
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            said = f"{getattr(exc, 'orig', None) or exc}"
            raise ConfigError(
                f"cannot open database {safe_url(url)}: {said}{_sqlite_hint(url, said)}"
            ) from None
    return engine


#: what SQLite says when it cannot open or write its file, for whatever reason
_SQLITE_CANNOT = ("unable to open database file", "disk i/o error", "readonly database")


def _sqlite_hint(url: str, said: str) -> str:
    """What to check when SQLite cannot open or write its file: its words name no cause
    (QA: a store on a read-only folder said only "unable to open database file", a full
    disk "disk I/O error")."""
    path = sqlite_path(url)
    if path is None or not any(words in said.casefold() for words in _SQLITE_CANNOT):
        return ""
    return (
        f" (check that {path} is a file, that this user can write it and its folder"
        f" {path.parent}, where SQLite keeps its journal, and that the disk has room)"
    )


def _make_folder(folder: Path, url: str) -> None:
    """Create the data directory for the default store; any other missing folder is a
    mistake to report (QA: ``--database sqlite:////tmp/typo-dir/a/b/hub.db`` silently made
    the whole tree and a new empty store in it)."""
    if os.path.abspath(folder) != os.path.abspath(data_dir()):
        raise ConfigError(
            f"cannot open database {safe_url(url)}: folder {folder} does not exist"
            " (mistyped? create it first)"
        )
    make_data_dir()


# query parameters that carry a secret: libpq (and psycopg) take ``password`` and
# ``sslpassword`` in the query as well as in ``user:password@``; redis-py takes ``password``
_SECRET_PARAMS = ("password", "passwd", "secret", "token")


def safe_url(url: str | URL) -> str:
    """The URL without its password, for messages (a database's or the broker's).

    ``render_as_string(hide_password=True)`` hides only ``user:password@``: a password given
    as ``?password=...`` would be printed in clear, so secret query parameters are masked too.
    """
    try:
        parsed = make_url(url)
        hidden = "MASKED0SECRET"  # rendered unquoted, then shown as ``***`` like the password
        query = {
            key: hidden if any(word in key.lower() for word in _SECRET_PARAMS) else value
            for key, value in parsed.query.items()
        }
        return parsed.set(query=query).render_as_string(hide_password=True).replace(hidden, "***")
    except Exception:
        return "<unparseable URL>"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return _revision_in(conn)
        except SQLAlchemyError:
            return None


def upgrade(engine: Engine) -> None:
    """Bring the schema to ``HEAD_REVISION`` with Alembic (a no-op check when it is there).

    All the steps from the recorded revision to the newest run in one transaction, on
    SQLite too: an upgrade interrupted anywhere (Ctrl-C, a kill, a full disk) leaves the
    store exactly as it was, at its old revision, and the next start upgrades it again.

    One process upgrades at a time: several starting on an old store at once (a scheduler,
    workers, a command) ran the same steps together and failed with "table ... already
    exists". The transaction takes the write lock first (SQLite's ``BEGIN IMMEDIATE``, a
    PostgreSQL transaction advisory lock) and reads the revision again under it: a process
    that waited finds the store upgraded and does nothing."""
    probe = _probe_engine(engine)
    try:
        with probe.connect() as conn:
            if _at_head(conn, _revision_in(conn), engine.url):
                return
    finally:
        if probe is not engine:
            probe.dispose()
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    migrating = _migration_engine(engine)
    try:
        with migrating.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            if _at_head(conn, _revision_in(conn), engine.url):
                return
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except CommandError as exc:  # not a SQLAlchemyError: it would end in a traceback
        raise ConfigError(f"cannot upgrade database {safe_url(engine.url)}: {exc}") from None
    finally:
        if migrating is not engine:
            migrating.dispose()


#: the PostgreSQL advisory lock key of an upgrade (hub runs use keys from ``lock_key``)
_UPGRADE_LOCK = int.from_bytes(
    hashlib.blake2b(b"contacthub:schema-upgrade", digest_size=8).digest(), "big", signed=True
)

#: how long an upgrade waits for SQLite's write lock: another process's upgrade of a large
#: store takes longer than the 30 s a normal connection waits
_UPGRADE_WAIT_MS = 600_000


def _at_head(conn: Connection, current: str | None, url: Any) -> bool:
    """Whether the store is at ``HEAD_REVISION`` (nothing to do); else, before an upgrade,
    a revision this version does not know, or another program's tables, are refused."""
    if current == HEAD_REVISION:
        return True
    _check_known(current, url)
    if current is None:
        _refuse_foreign(conn, url)
    return False


def _check_known(current: str | None, url: Any) -> None:
    known = {path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("*_*.py")}
    if current is not None and current not in known:
        if not (len(current) == 4 and current.isdigit() and current > HEAD_REVISION):
            # our revisions are numbered "0001", "0002"...: anything else was written by
            # another program's Alembic (QA: it was called "upgraded by a newer contacthub",
            # and the person went looking for a version that never existed)
            raise ConfigError(
                f"{safe_url(url)} is not a contacthub store: its schema version ({current}) is"
                " another program's; name an empty database or a contacthub store"
            )
        # a store a newer contacthub migrated: Alembic would fail with a traceback
        raise ConfigError(
            f"this database was upgraded by a newer contacthub (schema {current}); this version"
            f" knows schemas up to {HEAD_REVISION}: install that newer version again"
        )


def _probe_engine(engine: Engine) -> Engine:
    """The engine that looks at the database before anything is written: on SQLite one
    without the store's pragmas, so that another program's file is refused untouched (not
    switched to WAL first)."""
    if engine.dialect.name != "sqlite" or _in_memory(engine):
        return engine
    return create_engine(engine.url, poolclass=NullPool, hide_parameters=True)


def _in_memory(engine: Engine) -> bool:
    """An in-memory SQLite database (``sqlite://``): one per connection, so the upgrade and
    the look before it must use the engine's own (another engine saw an empty database, and
    the store's tables were made where nobody would read them). Nothing to interrupt either."""
    database = engine.url.database or ""
    return database in ("", ":memory:") or engine.url.query.get("mode") == "memory"


def _refuse_foreign(conn: Connection, url: URL) -> None:
    """A database with tables but no schema version is another program's: contacthub's
    tables written among them (QA: a read-only ``hubs`` did so) would mix two programs'
    data, and a table name both use made the upgrade fail halfway. An empty one is fine."""
    tables = sorted(inspect(conn).get_table_names())
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise ConfigError(
            f"{safe_url(url)} is not a contacthub store: it holds other tables ({shown}) and no"
            " contacthub schema version; name an empty database or a contacthub store"
        )


def _revision_in(conn: Connection) -> str | None:
    """The recorded revision; ``None`` without an ``alembic_version`` table (looked for
    first: a failed SELECT of a missing table would abort a PostgreSQL transaction, the
    upgrade's). A file that is no database fails here, as a ``SQLAlchemyError``."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def _migration_engine(engine: Engine) -> Engine:
    """The engine the upgrade runs on: ``engine`` itself, except on SQLite.

    pysqlite opens a transaction only before INSERT/UPDATE/DELETE and runs DDL outside one
    (autocommitted): a batch table copy (``_alembic_tmp_links``, the old table dropped, the
    new one renamed) interrupted halfway stayed half done, and every later start failed
    with "table _alembic_tmp_links already exists". Here pysqlite's own transaction
    handling is off (``isolation_level = None``) and SQLAlchemy's begin emits ``BEGIN
    IMMEDIATE`` itself, so DDL and data changes share one transaction (SQLAlchemy's documented recipe
    for SQLite; Alembic's ``transaction_per_migration`` stays off: one transaction for all
    steps). A separate engine, so that the store's normal connections keep pysqlite's
    defaults."""
    migrating = _probe_engine(engine)
    if migrating is engine:
        return engine

    def connect(dbapi_conn: Any, record: object) -> None:
        _sqlite_pragmas(dbapi_conn, record)
        dbapi_conn.execute(f"PRAGMA busy_timeout={_UPGRADE_WAIT_MS}")
        dbapi_conn.isolation_level = None

    def begin(conn: Connection) -> None:
        # IMMEDIATE: the write lock now, not at the first write; a deferred transaction
        # that read first cannot wait for a writer in WAL mode (SQLITE_BUSY at once)
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(migrating, "connect", connect)
    event.listen(migrating, "begin", begin)
    return migrating
