"""Reading and writing the store in bulk, on one connection inside the caller's transaction.

Every method works on many rows at once (``IN`` lists, executemany), because a run over
50,000 contacts must cost a handful of queries, not one per contact; the transaction is the
caller's, so the engine decides what commits together (see ``engine.run``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    DateTime,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from contacthub.errors import NotFoundError
from contacthub.store import tables as t

CHUNK = 500  # rows per IN-list: well under SQLite's and PostgreSQL's parameter limits


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def now() -> datetime:
    return datetime.now(UTC)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(slots=True)
class HubRow:
    id: int
    name: str
    conflict: str
    delete_threshold: str
    settings: dict[str, Any]


@dataclass(slots=True)
class ConnectorRow:
    id: int
    hub_id: int
    name: str
    position: int
    type: str
    direction: str
    operations: list[str]
    on_delete: str
    filter: dict[str, Any] | None
    mapping: dict[str, str]
    settings: dict[str, Any]
    secrets: str | None


@dataclass(slots=True)
class ContactRow:
    id: str
    data: dict[str, Any]
    sources: dict[str, list[Any]]
    rev: int
    deleted: bool
    uid: str | None = None

    @property
    def ref(self) -> str:
        """The id records of this contact carry (``WriteOp.hub_id``)."""
        return self.uid or self.id


@dataclass(slots=True)
class LinkRow:
    id: int
    connector_id: int
    contact_id: str
    native_id: str | None
    version: str | None
    baseline: dict[str, Any] | None
    synced_rev: int
    state: str


def _contact(row: Any) -> ContactRow:
    return ContactRow(row.id, loads(row.data), loads(row.sources), row.rev, row.deleted, row.uid)


def _link(row: Any) -> LinkRow:
    return LinkRow(
        row.id,
        row.connector_id,
        row.contact_id,
        row.native_id,
        row.version,
        loads(row.baseline),
        row.synced_rev,
        row.state,
    )


def _connector(row: Any) -> ConnectorRow:
    return ConnectorRow(
        row.id,
        row.hub_id,
        row.name,
        row.position,
        row.type,
        row.direction,
        loads(row.operations),
        row.on_delete,
        loads(row.filter),
        loads(row.mapping),
        loads(row.settings),
        row.secrets,
    )


class Store:
    """Bulk repository over one connection; see the module docstring."""

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

    # --- hubs and connectors ------------------------------------------------------------

    def hub(self, name: str) -> HubRow:
        row = self.conn.execute(select(t.hubs).where(t.hubs.c.name == name)).first()
        if row is None:
            names = self.conn.execute(select(t.hubs.c.name).order_by(t.hubs.c.name)).scalars().all()
            known = ", ".join(names) or "none yet: create one with 'contacthub apply FILE'"
            raise NotFoundError(f"no hub named {name!r} (hubs: {known})")
        return HubRow(row.id, row.name, row.conflict, row.delete_threshold, loads(row.settings))

    def hub_by_id(self, hub_id: int) -> HubRow:
        name = self.conn.execute(select(t.hubs.c.name).where(t.hubs.c.id == hub_id)).scalar_one()
        return self.hub(name)

    def hubs(self) -> list[HubRow]:
        rows = self.conn.execute(select(t.hubs).order_by(t.hubs.c.name)).all()
        return [HubRow(r.id, r.name, r.conflict, r.delete_threshold, loads(r.settings)) for r in rows]

    def connectors(self, hub_id: int) -> list[ConnectorRow]:
        rows = self.conn.execute(
            select(t.connectors).where(t.connectors.c.hub_id == hub_id).order_by(t.connectors.c.position)
        ).all()
        return [_connector(r) for r in rows]

    # --- contacts -----------------------------------------------------------------------

    def contacts(self, ids: Iterable[str]) -> dict[str, ContactRow]:
        out: dict[str, ContactRow] = {}
        for part in chunks(list(set(ids))):
            for row in self.conn.execute(select(t.contacts).where(t.contacts.c.id.in_(part))):
                out[row.id] = _contact(row)
        return out

    def contacts_by_ref(self, hub_id: int, refs: Iterable[str], by_id: bool = True) -> dict[str, ContactRow]:
        """The hub's contacts whose id or uid is one of ``refs``, by that ref. Two indexed
        lookups: an OR of both would make the database scan the whole hub."""
        out: dict[str, ContactRow] = {}
        c = t.contacts
        for part in chunks(list(set(refs))):
            for column in (c.c.id, c.c.uid) if by_id else (c.c.uid,):
                query = select(c).where(c.c.hub_id == hub_id, column.in_(part))
                for row in self.conn.execute(query):
                    out[row.uid if column is c.c.uid else row.id] = _contact(row)
        return out

    def insert_contacts(self, hub_id: int, rows: Sequence[ContactRow]) -> None:
        if not rows:
            return
        at = now()
        self._many(
            t.contacts,
            [
                {
                    "id": c.id,
                    "hub_id": hub_id,
                    "data": dumps(c.data),
                    "sources": dumps(c.sources),
                    "rev": c.rev,
                    "deleted": c.deleted,
                    "uid": c.uid,
                    "created_at": at,
                    "updated_at": at,
                }
                for c in rows
            ],
        )

    def update_contacts(self, rows: Sequence[ContactRow]) -> None:
        if not rows:
            return
        self.conn.execute(
            update(t.contacts)
            .where(t.contacts.c.id == bindparam("b_id"))
            .values(
                data=bindparam("b_data"),
                sources=bindparam("b_sources"),
                rev=bindparam("b_rev"),
                deleted=bindparam("b_deleted"),
                updated_at=bindparam("b_at"),
            ),
            [
                {
                    "b_id": c.id,
                    "b_data": dumps(c.data),
                    "b_sources": dumps(c.sources),
                    "b_rev": c.rev,
                    "b_deleted": c.deleted,
                    "b_at": now(),
                }
                for c in rows
            ],
        )

    def match_lookup(self, hub_id: int, keys: Iterable[str]) -> dict[str, str]:
        """Match key -> a live hub contact with that key, for these keys."""
        index: dict[str, str] = {}
        for part in chunks(sorted(keys)):
            query = (
                select(t.match_keys.c.key, t.match_keys.c.contact_id)
                .join(t.contacts, t.contacts.c.id == t.match_keys.c.contact_id)
                .where(
                    t.match_keys.c.hub_id == hub_id,
                    t.match_keys.c.key.in_(part),
                    t.contacts.c.deleted.is_(False),
                )
                .order_by(t.match_keys.c.contact_id)
            )
            for key, contact_id in self.conn.execute(query):
                index.setdefault(key, contact_id)
        return index

    def set_match_keys(
        self, hub_id: int, keys: dict[str, list[str]], new: frozenset[str] = frozenset()
    ) -> None:
        """Replace the match keys of these contacts (``new`` ones have none to delete)."""
        if not keys:
            return
        for part in chunks([cid for cid in keys if cid not in new]):
            self.conn.execute(delete(t.match_keys).where(t.match_keys.c.contact_id.in_(part)))
        rows = [
            {"hub_id": hub_id, "key": k[:600], "contact_id": cid}
            for cid, ks in keys.items()
            for k in dict.fromkeys(ks)
        ]
        self._many(t.match_keys, rows)

    # --- links --------------------------------------------------------------------------

    def link_versions(self, connector_id: int) -> dict[str, str]:
        query = select(t.links.c.native_id, t.links.c.version).where(
            t.links.c.connector_id == connector_id, t.links.c.native_id.is_not(None)
        )
        return {nid: version or "" for nid, version in self.conn.execute(query)}

    def links_by_native(self, connector_id: int, native_ids: Iterable[str]) -> dict[str, LinkRow]:
        out: dict[str, LinkRow] = {}
        for part in chunks(list(native_ids)):
            query = select(t.links).where(
                t.links.c.connector_id == connector_id, t.links.c.native_id.in_(part)
            )
            for row in self.conn.execute(query):
                out[row.native_id] = _link(row)
        return out

    def links_by_contact(self, connector_id: int, contact_ids: Iterable[str]) -> dict[str, LinkRow]:
        out: dict[str, LinkRow] = {}
        for part in chunks(list(set(contact_ids))):
            query = select(t.links).where(
                t.links.c.connector_id == connector_id, t.links.c.contact_id.in_(part)
            )
            for row in self.conn.execute(query):
                out[row.contact_id] = _link(row)
        return out

    def links_of_contact(self, contact_id: str) -> list[LinkRow]:
        rows = self.conn.execute(select(t.links).where(t.links.c.contact_id == contact_id)).all()
        return [_link(r) for r in rows]

    def count_links(self, connector_id: int, state: str = "active") -> int:
        query = select(func.count()).where(t.links.c.connector_id == connector_id, t.links.c.state == state)
        return int(self.conn.execute(query.select_from(t.links)).scalar_one())

    def insert_links(self, rows: Sequence[LinkRow]) -> None:
        if rows:
            at = now()
            self._many(
                t.links,
                [
                    {
                        "connector_id": r.connector_id,
                        "contact_id": r.contact_id,
                        "native_id": r.native_id,
                        "version": r.version,
                        "baseline": None if r.baseline is None else dumps(r.baseline),
                        "synced_rev": r.synced_rev,
                        "state": r.state,
                        "updated_at": at,
                    }
                    for r in rows
                ],
            )

    def update_links(self, rows: Sequence[LinkRow]) -> None:
        if rows:
            self.conn.execute(
                update(t.links)
                .where(t.links.c.id == bindparam("b_id"))
                .values(
                    native_id=bindparam("b_native"),
                    version=bindparam("b_version"),
                    baseline=bindparam("b_baseline"),
                    synced_rev=bindparam("b_rev"),
                    state=bindparam("b_state"),
                    updated_at=bindparam("b_at"),
                ),
                [
                    {
                        "b_id": r.id,
                        "b_native": r.native_id,
                        "b_version": r.version,
                        "b_baseline": None if r.baseline is None else dumps(r.baseline),
                        "b_rev": r.synced_rev,
                        "b_state": r.state,
                        "b_at": now(),
                    }
                    for r in rows
                ],
            )

    def delete_links(self, ids: Sequence[int]) -> None:
        for part in chunks(list(ids)):
            self.conn.execute(delete(t.links).where(t.links.c.id.in_(part)))

    # --- what the plan looks at ----------------------------------------------------------

    def dirty_links(self, connector_id: int, after: int, limit: int) -> list[tuple[LinkRow, ContactRow]]:
        """Links whose hub contact moved on since they were last agreed, or was deleted."""
        c, lk = t.contacts, t.links
        query = (
            select(lk, c.c.data, c.c.sources, c.c.rev, c.c.deleted, c.c.uid)
            .join(c, c.c.id == lk.c.contact_id)
            .where(
                lk.c.connector_id == connector_id,
                lk.c.id > after,
                lk.c.state.in_(("active", "filtered")),
                or_(lk.c.synced_rev < c.c.rev, c.c.deleted.is_(True)),
            )
            .order_by(lk.c.id)
            .limit(limit)
        )
        out = []
        for row in self.conn.execute(query):
            contact = ContactRow(
                row.contact_id, loads(row.data), loads(row.sources), row.rev, row.deleted, row.uid
            )
            out.append((_link(row), contact))
        return out

    def unlinked_contacts(self, hub_id: int, connector_id: int, after: str, limit: int) -> list[ContactRow]:
        """Live hub contacts the connector has no record of (or excluded before a change)."""
        c, lk = t.contacts, t.links
        has_link = exists().where(
            lk.c.contact_id == c.c.id,
            lk.c.connector_id == connector_id,
            or_(lk.c.state != "excluded", lk.c.synced_rev >= c.c.rev),
        )
        query = (
            select(c)
            .where(c.c.hub_id == hub_id, c.c.deleted.is_(False), c.c.id > after, ~has_link)
            .order_by(c.c.id)
            .limit(limit)
        )
        return [_contact(r) for r in self.conn.execute(query)]

    def count_matchable(self, hub_id: int, connector_id: int) -> int:
        """Live contacts of the hub that have no record in the connector (or only an
        'excluded' marker): the only ones a record of that connector may be matched to."""
        c, lk = t.contacts, t.links
        has_record = exists().where(
            lk.c.contact_id == c.c.id, lk.c.connector_id == connector_id, lk.c.state != "excluded"
        )
        query = (
            select(func.count())
            .select_from(c)
            .where(c.c.hub_id == hub_id, c.c.deleted.is_(False), ~has_record)
        )
        return int(self.conn.execute(query).scalar_one())

    def count_deleted_linked(self, connector_id: int) -> int:
        c, lk = t.contacts, t.links
        query = (
            select(func.count())
            .select_from(lk.join(c, c.c.id == lk.c.contact_id))
            .where(lk.c.connector_id == connector_id, lk.c.state == "active", c.c.deleted.is_(True))
        )
        return int(self.conn.execute(query).scalar_one())

    # --- plan marks ---------------------------------------------------------------------

    def plan_mark(self, hub_id: int, connector_id: int) -> str:
        """A fingerprint of everything the plan of a connector depends on: its hub's contacts
        (count, sum of revisions, deletions), its links (count, sum of synced revisions,
        states) and its own settings (updated_at). Any change to a contact raises its rev,
        so an unchanged mark means the plan would find nothing to do."""
        c, lk, cn = t.contacts, t.links, t.connectors
        contacts = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(c.c.rev), 0)).where(c.c.hub_id == hub_id)
        ).one()
        deleted = self.conn.execute(
            select(func.count()).where(c.c.hub_id == hub_id, c.c.deleted.is_(True)).select_from(c)
        ).scalar_one()
        links = self.conn.execute(
            select(lk.c.state, func.count(), func.coalesce(func.sum(lk.c.synced_rev), 0))
            .where(lk.c.connector_id == connector_id)
            .group_by(lk.c.state)
            .order_by(lk.c.state)
        ).all()
        updated = self.conn.execute(select(cn.c.updated_at).where(cn.c.id == connector_id)).scalar_one()
        parts = [str(contacts[0]), str(contacts[1]), str(deleted), str(updated)]
        parts += [f"{state}:{n}:{total}" for state, n, total in links]
        return "|".join(parts)

    def stored_plan_mark(self, connector_id: int) -> str | None:
        query = select(t.plan_marks.c.mark).where(t.plan_marks.c.connector_id == connector_id)
        value = self.conn.execute(query).scalar_one_or_none()
        return None if value is None else str(value)

    def set_plan_mark(self, connector_id: int, mark: str | None) -> None:
        self.conn.execute(delete(t.plan_marks).where(t.plan_marks.c.connector_id == connector_id))
        if mark is not None:
            self.conn.execute(insert(t.plan_marks).values(connector_id=connector_id, mark=mark))

    # --- cursors ------------------------------------------------------------------------

    def cursor(self, connector_id: int) -> str | None:
        query = select(t.cursors.c.value).where(t.cursors.c.connector_id == connector_id)
        value = self.conn.execute(query).scalar_one_or_none()
        return None if value is None else str(value)

    def set_cursor(self, connector_id: int, value: str | None) -> None:
        self.conn.execute(delete(t.cursors).where(t.cursors.c.connector_id == connector_id))
        self.conn.execute(insert(t.cursors).values(connector_id=connector_id, value=value, updated_at=now()))

    # --- runs and the journal -----------------------------------------------------------

    def start_run(self, hub_id: int, kind: str, parent_id: int | None = None) -> int:
        result = self.conn.execute(
            insert(t.runs).values(
                hub_id=hub_id,
                kind=kind,
                status="running",
                parent_id=parent_id,
                started_at=now(),
                counts="{}",
                errors="[]",
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: dict[str, Any],
        errors: list[Any],
        message: str | None = None,
    ) -> None:
        self.conn.execute(
            update(t.runs)
            .where(t.runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now(),
                counts=dumps(counts),
                errors=dumps(errors),
                message=message,
            )
        )

    def set_run_status(self, run_id: int, status: str, message: str | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if message is not None:
            values["message"] = message
        self.conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))

    def interrupted_runs(self, hub_id: int) -> list[int]:
        """Runs of the hub left 'running' by a process that died: marked failed here."""
        ids = list(
            self.conn.execute(
                select(t.runs.c.id).where(
                    t.runs.c.hub_id == hub_id, t.runs.c.status.in_(("running", "applying"))
                )
            ).scalars()
        )
        if ids:
            self.conn.execute(
                update(t.runs)
                .where(t.runs.c.id.in_(ids))
                .values(
                    status="failed",
                    finished_at=now(),
                    message="interrupted; recovered by the next run",
                )
            )
            self.conn.execute(
                update(t.changes)
                .where(t.changes.c.run_id.in_(ids), t.changes.c.status == "pending")
                .values(status="interrupted")
            )
        return ids

    def add_changes(self, rows: Sequence[dict[str, Any]], returning: bool = True) -> list[int]:
        """Journal rows; their ids in order when ``returning`` (the apply step needs them)."""
        if not rows:
            return []
        if not returning:
            self._many(t.changes, rows)
            return []
        run_ids = {r["run_id"] for r in rows}
        if self.conn.dialect.name == "sqlite" and len(run_ids) == 1:
            # SQLite answers RETURNING for executemany one row at a time; instead insert in
            # bulk and read the ids back: the transaction holds the database's write lock
            # from the insert on, so the newest ids of this run are exactly these rows
            self._many(t.changes, rows)
            query = (
                select(t.changes.c.id)
                .where(t.changes.c.run_id == run_ids.pop())
                .order_by(t.changes.c.id.desc())
                .limit(len(rows))
            )
            return sorted(int(i) for i in self.conn.execute(query).scalars())
        result = self.conn.execute(
            insert(t.changes).returning(t.changes.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(r[0]) for r in result]

    def set_change_status(self, updates: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        """(change id, status, error, native id) for each change."""
        if not updates:
            return
        if self._native:
            mark = self._mark
            sql = f"UPDATE changes SET status = {mark}, error = {mark}, native_id = {mark} WHERE id = {mark}"
            self.conn.exec_driver_sql(sql, [(s, e, n, i) for i, s, e, n in updates])
            return
        self.conn.execute(
            update(t.changes)
            .where(t.changes.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"), error=bindparam("b_error"), native_id=bindparam("b_native")
            ),
            [{"b_id": i, "b_status": s, "b_error": e, "b_native": n} for i, s, e, n in updates],
        )

    # --- conflicts ----------------------------------------------------------------------

    def open_conflicts(self, hub_id: int) -> dict[str, dict[str, int]]:
        """contact id -> field -> open conflict id."""
        query = select(t.conflicts.c.id, t.conflicts.c.contact_id, t.conflicts.c.field).where(
            t.conflicts.c.hub_id == hub_id, t.conflicts.c.status == "open"
        )
        out: dict[str, dict[str, int]] = {}
        for cid, contact_id, field in self.conn.execute(query):
            out.setdefault(contact_id, {})[field] = cid
        return out

    def add_conflicts(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.conflicts), list(rows))

    def update_open_conflict(self, conflict_id: int, value: Any, hub_value: Any, run_id: int) -> None:
        self.conn.execute(
            update(t.conflicts)
            .where(and_(t.conflicts.c.id == conflict_id, t.conflicts.c.status == "open"))
            .values(value=dumps(value), hub_value=dumps(hub_value), run_id=run_id)
        )
