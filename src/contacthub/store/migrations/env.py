"""Alembic environment: runs on the connection ``store.db`` hands over, or on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from contacthub.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://", hide_parameters=True)
    with engine.connect() as conn:
        _run(conn)
