"""The connection a ``Store`` works on, and its one bulk INSERT straight to the driver.

Separate because every part of the store (contacts, links, the journal) writes through
``_many`` and reads the dialect flags set up here; each part's mixin builds on this base.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime, insert


class StoreBase:
    """One connection inside the caller's transaction, and how to talk to its driver."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._native = conn.dialect.name in ("sqlite", "postgresql")
        self._mark = "?" if conn.dialect.name == "sqlite" else "%s"  # the driver's placeholder

    # --- bulk statements straight to the driver -------------------------------------------

    def _many(self, table: Any, rows: Sequence[dict[str, Any]]) -> None:
        """INSERT many rows. On SQLite and PostgreSQL the statement goes to the driver's
        executemany as is: SQLAlchemy's per-row parameter processing costs more than the
        database itself for the tens of thousands of rows of a first sync."""
        if not rows:
            return
        if not self._native:
            self.conn.execute(insert(table), list(rows))
            return
        cols = list(rows[0])
        quote = self.conn.dialect.identifier_preparer.quote
        sqlite = self.conn.dialect.name == "sqlite"
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join([self._mark] * len(cols))})"
        )
        get = itemgetter(*cols)
        params: list[Any] = [get(r) for r in rows] if len(cols) > 1 else [(r[cols[0]],) for r in rows]
        stamps = [i for i, c in enumerate(cols) if isinstance(table.c[c].type, DateTime)]
        if sqlite and stamps:  # SQLite keeps datetimes as text, in SQLAlchemy's format
            text: dict[datetime, str] = {}
            for n, values in enumerate(params):
                values = list(values)
                for i in stamps:
                    moment = values[i]
                    if moment is not None:
                        if moment not in text:
                            text[moment] = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
                        values[i] = text[moment]
                params[n] = tuple(values)
        self.conn.exec_driver_sql(sql, params)

    def _driver_rows(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of a SELECT (written with ``_mark`` placeholders) straight from the
        driver's cursor, in the caller's transaction: SQLAlchemy's processing of each row
        costs more than SQLite's reading of it for the ten thousand rows of a folder's
        versions, which every run reads. Only for columns the driver hands back as they are
        kept (text, numbers): no type processing happens here."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(params))
            while rows := cursor.fetchmany(2000):
                yield from rows
        finally:
            cursor.close()
