"""Opening the database: the URL, SQLite's settings, and migrating to the newest schema.

The URL comes from ``--database``, else ``CONTACTHUB_DATABASE_URL``, else a SQLite file in the
user's data directory (the embedded default). Migrations run through Alembic, but only when
the recorded revision differs from the newest one: importing Alembic costs start-up time that
a no-op sync should not pay.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from contacthub.errors import ConfigError

HEAD_REVISION = "0012"
MIGRATIONS = Path(__file__).parent / "migrations"


def data_dir() -> Path:
    """Where the embedded default keeps its files (``CONTACTHUB_HOME`` overrides it)."""
    home = os.environ.get("CONTACTHUB_HOME")
    if home:
        return Path(home)
    from platformdirs import user_data_dir

    return Path(user_data_dir("contacthub", appauthor=False))


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


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def open_database(url: str | None = None, *, migrate: bool = True) -> Engine:
    """An engine on ``url`` (default: see module docstring), migrated to the newest schema."""
    url = url or default_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # pre-ping: a pooled connection the server dropped (a restart, a failover, an idle
        # timeout) is replaced at checkout instead of failing the next query of a long-lived
        # process (serve, a worker); SQLite has no server to lose
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        raise ConfigError(f"cannot open database {safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot open database {safe_url(url)}: {getattr(exc, 'orig', None) or exc}"
            ) from None
    return engine


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
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except SQLAlchemyError:
            return None
        return str(row[0]) if row else None


def upgrade(engine: Engine) -> None:
    """Bring the schema to ``HEAD_REVISION`` with Alembic (a no-op check when it is there).

    All the steps from the recorded revision to the newest run in one transaction, on
    SQLite too: an upgrade interrupted anywhere (Ctrl-C, a kill, a full disk) leaves the
    store exactly as it was, at its old revision, and the next start upgrades it again."""
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    known = {path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("*_*.py")}
    if current is not None and current not in known:
        # a store a newer contacthub migrated: Alembic would fail with a traceback
        raise ConfigError(
            f"this database was upgraded by a newer contacthub (schema {current}); this version"
            f" knows schemas up to {HEAD_REVISION}: install that newer version again"
        )
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    migrating = _migration_engine(engine)
    try:
        with migrating.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        if migrating is not engine:
            migrating.dispose()


def _migration_engine(engine: Engine) -> Engine:
    """The engine the upgrade runs on: ``engine`` itself, except on SQLite.

    pysqlite opens a transaction only before INSERT/UPDATE/DELETE and runs DDL outside one
    (autocommitted): a batch table copy (``_alembic_tmp_links``, the old table dropped, the
    new one renamed) interrupted halfway stayed half done, and every later start failed
    with "table _alembic_tmp_links already exists". Here pysqlite's own transaction
    handling is off (``isolation_level = None``) and SQLAlchemy's begin emits ``BEGIN``
    itself, so DDL and data changes share one transaction (SQLAlchemy's documented recipe
    for SQLite; Alembic's ``transaction_per_migration`` stays off: one transaction for all
    steps). A separate engine, so that the store's normal connections keep pysqlite's
    defaults."""
    if engine.dialect.name != "sqlite":
        return engine
    migrating = create_engine(engine.url, poolclass=NullPool)

    def connect(dbapi_conn: Any, record: object) -> None:
        _sqlite_pragmas(dbapi_conn, record)
        dbapi_conn.isolation_level = None

    def begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    event.listen(migrating, "connect", connect)
    event.listen(migrating, "begin", begin)
    return migrating
