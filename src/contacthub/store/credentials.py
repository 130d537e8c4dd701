"""Where a connector keeps what it obtained by signing in: OAuth tokens, a partner tenant's id.

Refresh tokens of some systems (Procore) are single use: once a refresh answers, the old one
is dead, so the new pair must be on disk before it is used. ``save`` therefore writes an
encrypted side file first (atomic rename, fsync), then the ``credentials`` row, then removes
the side file. A crash at any point leaves the newest pair in one of the two places, and
``load`` prefers the side file. The side file also covers SQLite, where the run's own write
transaction may hold the database while a token is refreshed mid-run: the row is written
later, by ``flush`` when the run has committed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import OperationalError

from contacthub.store import secrets
from contacthub.store.db import data_dir, make_data_dir
from contacthub.store.tables import credentials


class StoredCredentials:
    """The ``Credentials`` of one connector, kept in the database (see the module docstring)."""

    def __init__(self, engine: Engine, connector_id: int, label: str) -> None:
        self.engine = engine
        self.connector_id = connector_id
        self.label = label
        key = f"{engine.url.render_as_string(hide_password=True)}#{connector_id}"
        self.side_file = (
            data_dir() / "credentials" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pending"
        )

    def load(self) -> dict[str, Any]:
        if self.side_file.exists():
            return secrets.decrypt(self.side_file.read_text(), self.label)
        with self.engine.connect() as conn:
            token = conn.execute(
                select(credentials.c.data).where(credentials.c.connector_id == self.connector_id)
            ).scalar()
        return secrets.decrypt(token, self.label)

    def save(self, values: dict[str, Any]) -> None:
        token = secrets.encrypt(values) or ""
        _write_atomic(self.side_file, token)
        self.flush()

    def flush(self) -> None:
        """Move a pending side file into the database; leave it for later if the database is
        busy (a run's transaction on SQLite)."""
        if not self.side_file.exists():
            return
        token = self.side_file.read_text()
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as conn:
            if sqlite:
                _busy_timeout(conn, 500)
            try:
                with conn.begin():
                    values = {"data": token, "updated_at": datetime.now(UTC)}
                    where = credentials.c.connector_id == self.connector_id
                    if not conn.execute(update(credentials).where(where).values(values)).rowcount:
                        conn.execute(insert(credentials).values(connector_id=self.connector_id, **values))
            except OperationalError:
                return
            finally:
                if sqlite:
                    _busy_timeout(conn, 30000)
        self.side_file.unlink(missing_ok=True)

    def clear(self) -> None:
        self.side_file.unlink(missing_ok=True)
        with self.engine.begin() as conn:
            conn.execute(delete(credentials).where(credentials.c.connector_id == self.connector_id))


def _write_atomic(path: Path, content: str) -> None:
    make_data_dir()  # owner only, when this is the first file in it
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _busy_timeout(conn: Connection, ms: int) -> None:
    """SQLite's wait for a locked database, set on the driver connection outside any
    transaction (a PRAGMA through SQLAlchemy would begin one)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"PRAGMA busy_timeout={int(ms)}")
    cursor.close()
