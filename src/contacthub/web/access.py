"""Who may see what: a user sees their own hubs and everything in them; an admin sees all.

Every object reached by id goes through ``hub_of``: an object in someone else's hub answers
exactly like one that does not exist (404), so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from contacthub.errors import NotFoundError
from contacthub.store import tables as t
from contacthub.web.accounts import User

_TABLES: dict[str, Any] = {
    "connector": t.connectors,
    "run": t.runs,
    "conflict": t.conflicts,
    "contact": t.contacts,
}


def visible_hub_ids(engine: Engine, user: User) -> list[int]:
    query = select(t.hubs.c.id)
    if not user.is_admin:
        query = query.where(t.hubs.c.owner_id == user.id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def hub(engine: Engine, user: User, hub_id: int) -> str:
    """The name of hub ``hub_id`` if ``user`` may see it; ``NotFoundError`` otherwise."""
    with engine.connect() as conn:
        row = conn.execute(select(t.hubs.c.name, t.hubs.c.owner_id).where(t.hubs.c.id == hub_id)).first()
    if row is None or not (user.is_admin or row.owner_id == user.id):
        raise NotFoundError(f"no hub {hub_id}")
    return str(row.name)


def hub_of(engine: Engine, user: User, kind: str, object_id: int | str) -> tuple[int, str]:
    """(hub id, hub name) of the connector, run, conflict or contact ``object_id``, if
    ``user`` may see it; ``NotFoundError`` otherwise."""
    table = _TABLES[kind]
    with engine.connect() as conn:
        row = conn.execute(
            select(t.hubs.c.id, t.hubs.c.name, t.hubs.c.owner_id)
            .join(table, table.c.hub_id == t.hubs.c.id)
            .where(table.c.id == object_id)
        ).first()
    if row is None or not (user.is_admin or row.owner_id == user.id):
        raise NotFoundError(f"no {kind} {object_id}")
    return int(row.id), str(row.name)
