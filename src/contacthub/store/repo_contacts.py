"""Hubs, connectors, contacts, their match keys and their links to connector records.

Separate from the plan's queries and the journal: these are the reads and writes of what
the hub holds (inbound merges into contacts and links; the service reads hubs and
connectors), each on many rows at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update

from contacthub import names
from contacthub.errors import NotFoundError
from contacthub.model import NAME_ONLY, PHONE_NAME_PLAIN
from contacthub.store import tables as t
from contacthub.store.repo_base import StoreBase
from contacthub.store.rows import (
    ConnectorRow,
    ContactRow,
    HubRow,
    LinkRow,
    _connector,
    _contact,
    _link,
    baseline_text,
    chunks,
    dumps,
    loads,
    now,
)


def _by_each(source: str, columns: str, where: str, ref: str) -> Any:
    """A PostgreSQL query finding rows of ``source`` by each value of the array ``:refs``
    by itself (``WHERE <where> AND <ref> = the value``), in a subquery the planner may not
    merge into a join (``OFFSET 0``): a plan no estimate of a hub's or a connector's rows
    can turn into a walk over all of them per IN-list (on a hub's first sync they are rows
    of the open transaction, which the statistics never saw). The value comes back first
    in each row, as ``ref``."""
    return text(
        f"SELECT r.ref, x.* FROM unnest(CAST(:refs AS VARCHAR[])) AS r(ref)"
        f" CROSS JOIN LATERAL (SELECT {columns} FROM {source}"
        f" WHERE {where} AND {ref} = r.ref OFFSET 0) AS x"
    )


#: ``ContactsMixin.match_lookup`` on PostgreSQL: each key looked up by itself with the hub
#: (``ix_match_keys_hub_key``)
_BY_EACH_KEY = _by_each(
    "match_keys JOIN contacts ON contacts.id = match_keys.contact_id",
    "match_keys.contact_id",
    "match_keys.hub_id = :hub AND contacts.deleted IS FALSE",
    "match_keys.key",
)
#: ``ContactsMixin.sharing_keys`` on PostgreSQL: each contact's own keys by the contact
#: (``ix_match_keys_contact``), no hub named (its rows are dropped after)
_KEYS_OF_EACH = _by_each(
    "match_keys",
    "match_keys.hub_id, match_keys.key",
    "match_keys.key NOT LIKE :plain AND match_keys.key NOT LIKE :name_only",
    "match_keys.contact_id",
)
#: the keys two people can share (``sharing_keys``), as ``LIKE`` patterns
_NOT_TWIN_KEYS = {"plain": PHONE_NAME_PLAIN + "%", "name_only": NAME_ONLY + "%"}
_CONTACT_COLUMNS = ", ".join(f"contacts.{col.name}" for col in t.CONTACT_ROW)
#: ``ContactsMixin.contacts_by_ref`` on PostgreSQL, by id and by uid. By id, the hub is
#: no index condition (``+ 0``): only the primary key can find the id, never an index led
#: by the hub (``ix_contacts_hub_live``) with the id one more condition on each of its rows
_CONTACTS_BY = {
    "id": _by_each("contacts", _CONTACT_COLUMNS, "contacts.hub_id + 0 = :hub", "contacts.id"),
    "uid": _by_each("contacts", _CONTACT_COLUMNS, "contacts.hub_id = :hub", "contacts.uid"),
}


class ContactsMixin(StoreBase):
    """Hubs, connectors, contacts, match keys and links of a ``Store``."""

    # --- hubs and connectors ------------------------------------------------------------

    def hub_row(self, name: str) -> Any | None:
        """The ``hubs`` row named ``name`` in any Unicode form (``names.spellings``): typed
        in NFD, or stored so by an older contacthub, it is the same name; None if none."""
        query = select(t.hubs).where(t.hubs.c.name.in_(names.spellings(name)))
        rows = {r.name: r for r in self.conn.execute(query)}
        found = names.pick(rows, name)
        return None if found is None else rows[found]

    def hub(self, name: str) -> HubRow:
        """The hub named ``name`` (``hub_row``); ``NotFoundError`` naming the hubs there are."""
        row = self.hub_row(name)
        if row is None:
            every = self.conn.execute(select(t.hubs.c.name).order_by(t.hubs.c.name)).scalars().all()
            known = ", ".join(every) or "none yet: create one with 'contacthub apply FILE'"
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
            for row in self.conn.execute(select(*t.CONTACT_ROW).where(t.contacts.c.id.in_(part))):
                out[row.id] = _contact(row)
        return out

    def contacts_by_ref(self, hub_id: int, refs: Iterable[str], by_id: bool = True) -> dict[str, ContactRow]:
        """The hub's contacts whose id or uid is one of ``refs``, by that ref. Two indexed
        lookups: an OR of both would make the database scan the whole hub.

        On PostgreSQL each ref is looked up by itself (``_CONTACTS_BY``), as
        ``match_lookup``'s keys are: on a hub's first sync its contacts are rows of the
        open transaction the statistics never saw, and ``hub_id = :hub AND uid IN (...)``
        could be planned as a walk over the hub's contacts per IN-list. SQLite, without
        such statistics, keeps its IN-lists."""
        out: dict[str, ContactRow] = {}
        c = t.contacts
        if self.conn.dialect.name == "postgresql":
            for part in chunks(list(set(refs))):
                for name in ("id", "uid") if by_id else ("uid",):
                    rows = self.conn.execute(_CONTACTS_BY[name], {"refs": part, "hub": hub_id})
                    for row in rows:
                        out[row.ref] = _contact(row)
            return out
        for part in chunks(list(set(refs))):
            for column in (c.c.id, c.c.uid) if by_id else (c.c.uid,):
                query = select(*t.CONTACT_ROW).where(c.c.hub_id == hub_id, column.in_(part))
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

    def match_lookup(self, hub_id: int, keys: Iterable[str]) -> dict[str, list[str]]:
        """Match key -> every live hub contact with that key (by id), for these keys. Not
        just one: two people of the hub can share every key (one folder's two cards of one
        person are two people), and a record that found only the one its twin took was
        made a new person (see ``Matching._match``).

        On PostgreSQL each key is looked up by itself (``_BY_EACH_KEY``). On a hub's first
        sync its keys are rows of the open transaction, which the statistics never saw:
        asked ``hub_id = :hub AND key IN (...)``, the planner took the hub for a few rows,
        used ``ix_match_keys_hub_key`` for the hub alone and searched each of the hub's
        keys in the IN-list (once the statement was prepared, one by one through the 500
        values): over 1 s an IN-list at 12,000 contacts, 109 s of a first sync
        (``bench/two_hubs.py``). One key and the hub have no plan but the index's two
        columns. SQLite, whose planner has no such statistics, keeps the IN-list."""
        index: dict[str, list[str]] = {}
        if self.conn.dialect.name == "postgresql":
            found: list[tuple[str, str]] = []
            for part in chunks(sorted(set(keys))):
                rows = self.conn.execute(_BY_EACH_KEY, {"refs": list(part), "hub": hub_id})
                found += [(key, contact_id) for key, contact_id in rows]
            for key, contact_id in sorted(found, key=lambda row: row[1]):
                index.setdefault(key, []).append(contact_id)
            return index
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
                index.setdefault(key, []).append(contact_id)
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

    def sharing_keys(self, hub_id: int, contact_ids: Iterable[str]) -> list[list[str]]:
        """For each match key of these contacts that another live contact of the hub holds
        too, the contacts holding it (``engine.twins``). Not the accent-free phone+name keys
        (``model.PHONE_NAME_PLAIN``): two accented names share one when their accents differ
        (Hùng, Hưng), and are two people.

        Driven by the contacts' ids alone: each of their keys is looked up by the hub and
        key it carries, through ``ix_match_keys_hub_key``. The query names no hub: on a
        first sync the hub's keys are rows of the open transaction, which PostgreSQL's
        statistics never saw, so ``hub_id = :hub`` looked like a few rows; the planner
        scanned the whole hub once per key of ours, and a second hub's first sync of
        12,000 contacts ran for hours (bench/README.md). Ours of another hub are dropped
        here, as the query's ``hub_id`` once did."""
        if self.conn.dialect.name == "postgresql":
            return self._sharing_keys_each(hub_id, contact_ids)
        ours = t.match_keys.alias("mine")
        mk, mine, c = t.match_keys.c, ours.c, t.contacts.c
        groups: dict[str, set[str]] = {}
        for part in chunks(sorted(contact_ids)):
            query = (
                select(mine.hub_id, mk.key, mk.contact_id)
                .select_from(ours)
                .join(t.match_keys, (mk.hub_id == mine.hub_id) & (mk.key == mine.key))
                .join(t.contacts, c.id == mk.contact_id)
                .where(
                    mine.contact_id.in_(part),
                    mine.key.not_like(PHONE_NAME_PLAIN + "%"),
                    mine.key.not_like(NAME_ONLY + "%"),  # (namesakes are no twins)
                    c.deleted.is_(False),
                )
            )
            for hub, key, cid in self.conn.execute(query):
                if hub == hub_id:
                    groups.setdefault(key, set()).add(cid)
        return [sorted(group) for group in groups.values() if len(group) > 1]

    def _sharing_keys_each(self, hub_id: int, contact_ids: Iterable[str]) -> list[list[str]]:
        """``sharing_keys`` on PostgreSQL in two steps that each look up one value at a
        time: the contacts' keys by contact (``_KEYS_OF_EACH``), then those keys' holders
        by ``match_lookup``. As one join of a chunk of ids, the planner took the second
        hub's keys for few and sorted every key of the store once per chunk: 25-35 s of a
        second hub's first sync at 12,200 contacts (``bench/two_hubs.py``)."""
        keys: set[str] = set()
        for part in chunks(sorted(set(contact_ids))):
            for _ref, hub, key in self.conn.execute(_KEYS_OF_EACH, {"refs": list(part), **_NOT_TWIN_KEYS}):
                if hub == hub_id:
                    keys.add(key)
        groups = (sorted(set(group)) for group in self.match_lookup(hub_id, keys).values())
        return [group for group in groups if len(group) > 1]

    def has_unconfirmed_creates(self, connector_id: int) -> bool:
        """Whether a failed (or killed, then marked failed) run left a create in this
        connector unconfirmed. Through the failed runs, whose rows the run index finds: the
        journal has no index by connector, and a long-lived hub's is large."""
        c, runs = t.changes.c, t.runs.c
        failed = select(runs.id).where(
            runs.hub_id
            == select(t.connectors.c.hub_id).where(t.connectors.c.id == connector_id).scalar_subquery(),
            runs.status == "failed",
        )
        query = select(c.id).where(
            c.run_id.in_(failed),
            c.connector_id == connector_id,
            c.op == "create",
            c.status.in_(("interrupted", "pending")),
        )
        return self.conn.execute(query.limit(1)).first() is not None

    def unconfirmed_create(self, contact_id: str, connector_id: int) -> dict[str, Any] | None:
        """What the latest create of this contact in this connector that a failed or killed
        run never heard back about sent (its journal row's ``after``), if there is one."""
        c = t.changes.c
        query = (
            select(c.after)
            .where(
                c.contact_id == contact_id,
                c.connector_id == connector_id,
                c.op == "create",
                c.status.in_(("interrupted", "pending")),
            )
            .order_by(c.id.desc())
            .limit(1)
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None
        sent = loads(row.after)
        return sent if isinstance(sent, dict) else {}

    def made_in_run(self, run_id: int, contact_ids: Iterable[str]) -> set[str]:
        """Which of these contacts run ``run_id`` made (its journal's hub creates)."""
        c = t.changes.c
        out: set[str] = set()
        for part in chunks(sorted(contact_ids)):
            query = select(c.contact_id).where(
                c.run_id == run_id, c.connector_id.is_(None), c.op == "create", c.contact_id.in_(part)
            )
            out.update(self.conn.execute(query).scalars())
        return out

    def links_of_contacts(self, contact_ids: Iterable[str]) -> dict[str, list[LinkRow]]:
        out: dict[str, list[LinkRow]] = {}
        for part in chunks(sorted(contact_ids)):
            for row in self.conn.execute(select(t.links).where(t.links.c.contact_id.in_(part))):
                out.setdefault(row.contact_id, []).append(_link(row))
        return out

    def fold_contact(self, run_id: int, fold: str, keep: str) -> int:
        """Make ``fold``, a contact made in run ``run_id``, never have been: its links and
        the run's journal rows of its records go to ``keep``, the run's rows of its making
        go, and so do its conflicts (merging its records into ``keep`` raises those that
        still stand), its keys and itself. Returns how many conflicts went.

        The run is no index condition (``run_id + 0``): in a first sync the run's journal
        rows are rows of the open transaction PostgreSQL's statistics never saw, the run
        was taken for a row or so, and each fold walked all of them (``ix_changes_run``)
        instead of the contact's few (``ix_changes_contact``); SQLite, without statistics,
        chose the run's index too (``bench/two_hubs.py``: 2.7-4.1 s of 200 folds at 5,000)."""
        changes, links = t.changes.c, t.links.c
        self.conn.execute(update(t.links).where(links.contact_id == fold).values(contact_id=keep))
        gone = self.conn.execute(delete(t.conflicts).where(t.conflicts.c.contact_id == fold)).rowcount
        run = changes.run_id + 0
        ours = (run == run_id, changes.contact_id == fold)
        self.conn.execute(
            update(t.changes).where(*ours, changes.connector_id.is_not(None)).values(contact_id=keep)
        )
        self.conn.execute(delete(t.changes).where(*ours, changes.connector_id.is_(None)))
        self.conn.execute(delete(t.match_keys).where(t.match_keys.c.contact_id == fold))
        self.conn.execute(delete(t.contacts).where(t.contacts.c.id == fold))
        return int(gone or 0)

    # --- links --------------------------------------------------------------------------

    def link_versions(self, connector_id: int) -> dict[str, str]:
        """native id -> version of every record of the connector. Rows without a native id
        are dropped here, not in SQL: asked for ``native_id IS NOT NULL``, SQLite walks the
        (connector, native id) index and looks up each row in native-id order, twice as
        slow as ``ix_links_plan``'s rows in id order (a no-op run's largest query)."""
        rows: Iterable[Any]
        if self._native:
            sql = f"SELECT native_id, version FROM links WHERE connector_id = {self._mark}"
            rows = self._driver_rows(sql, (connector_id,))
        else:
            rows = self.conn.execute(
                select(t.links.c.native_id, t.links.c.version).where(t.links.c.connector_id == connector_id)
            )
        return {nid: version or "" for nid, version in rows if nid is not None}

    def links_by_native(self, connector_id: int, native_ids: Iterable[str]) -> dict[str, LinkRow]:
        out: dict[str, LinkRow] = {}
        for part in chunks(list(native_ids)):
            query = select(t.links).where(
                t.links.c.connector_id == connector_id, t.links.c.native_id.in_(part)
            )
            for row in self.conn.execute(query):
                out[row.native_id] = _link(row)
        return out

    def active_versions(self, connector_id: int, native_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """native id -> (link id, version) of those of ``native_ids`` whose links are active:
        the few columns ``Inbound._unchanged`` needs, without a baseline to load."""
        links = t.links.c
        out: dict[str, tuple[int, str]] = {}
        for part in chunks(list(native_ids)):
            query = select(links.native_id, links.id, links.version).where(
                links.connector_id == connector_id, links.native_id.in_(part), links.state == "active"
            )
            for nid, link_id, version in self.conn.execute(query):
                out[nid] = (link_id, version or "")
        return out

    def move_versions(self, moves: Sequence[tuple[int, str]]) -> None:
        """Set the version of each link id of ``moves``; nothing else of them changes."""
        if moves:
            by_id = update(t.links).where(t.links.c.id == bindparam("b_id"))
            self.conn.execute(
                by_id.values(version=bindparam("b_version")),
                [{"b_id": link_id, "b_version": version} for link_id, version in moves],
            )

    def links_by_contact(self, connector_id: int, contact_ids: Iterable[str]) -> dict[str, LinkRow]:
        out: dict[str, LinkRow] = {}
        for part in chunks(list(set(contact_ids))):
            # by the contact's index, never the connector's (``PlanMixin.record_links``)
            query = select(t.links).where(
                t.links.c.connector_id + 0 == connector_id, t.links.c.contact_id.in_(part)
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
                        "baseline": baseline_text(r.baseline, r.remapped, r.vacated),
                        "synced_rev": r.synced_rev,
                        "state": r.state,
                        "updated_at": at,
                        "made": r.made,
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
                        "b_baseline": baseline_text(r.baseline, r.remapped, r.vacated),
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
