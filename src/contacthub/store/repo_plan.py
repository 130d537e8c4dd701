"""What the outbound plan reads, and the marks a run leaves per connector.

Separate because these queries join contacts to links to find the work of one connector
(dirty links, unlinked contacts; the counts behind matching and the deletion hold), and
the plan mark and pull cursor say where a connector stood when a run ended, so that the
next run can skip its plan or resume its pull.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Select, delete, exists, func, insert, or_, select, update

from contacthub.store import tables as t
from contacthub.store.repo_base import StoreBase
from contacthub.store.rows import CHUNK, ContactRow, LinkRow, _contact, _link, chunks, loads, now


class PlanMixin(StoreBase):
    """The plan's queries, plan marks and cursors of a ``Store``."""

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
                lk.c.state.in_(("active", "filtered", "left")),
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
        """Live hub contacts the connector has no record of (or excluded before a change).

        On PostgreSQL the connector is no index condition of the link asked for (``+ 0``):
        on a hub's first sync its links are rows of the open transaction the statistics
        never saw, ``connector_id = :c`` was taken for a row or so, and the anti join
        walked the connector's links (``ix_links_plan``) once per contact of the page:
        28 s of a 12,200-contact second hub's first sync (``bench/two_hubs.py``). Each
        contact's few links are found by ``ix_links_contact``. SQLite's query is as before."""
        c, lk = t.contacts, t.links
        connector = lk.c.connector_id + 0 if self.conn.dialect.name == "postgresql" else lk.c.connector_id
        has_link = exists().where(
            lk.c.contact_id == c.c.id,
            connector == connector_id,
            or_(lk.c.state != "excluded", lk.c.synced_rev >= c.c.rev),
        )
        query = (
            select(*t.CONTACT_ROW)
            .where(c.c.hub_id == hub_id, c.c.deleted.is_(False), c.c.id > after, ~has_link)
            .order_by(c.c.id)
            .limit(limit)
        )
        return [_contact(r) for r in self.conn.execute(query)]

    def record_links(
        self, connector_ids: list[int], contact_ids: list[str]
    ) -> dict[str, list[tuple[int, str, str, int, bool | None]]]:
        """The active records the connectors hold of these contacts, per contact: (connector
        id, native id, version, synced rev, made: whether the hub wrote the record); for a
        new card to start from the same person's card elsewhere (``connectors.card_source``),
        one found there before a copy."""
        lk = t.links
        out: dict[str, list[tuple[int, str, str, int, bool | None]]] = {}
        if not connector_ids or not contact_ids:
            return out
        for part in chunks(contact_ids):
            query = select(
                lk.c.contact_id, lk.c.connector_id, lk.c.native_id, lk.c.version, lk.c.synced_rev, lk.c.made
            ).where(
                # ``+ 0``: never by the connector's index (ix_links_plan), which walked every
                # link of the connector for each page of 500 contacts: a 50,000 first copy
                # took 20 s instead of 11 whenever SQLite, without statistics, chose it
                (lk.c.connector_id + 0).in_(connector_ids),
                lk.c.contact_id.in_(part),
                lk.c.state == "active",
                lk.c.native_id.is_not(None),
                lk.c.version.is_not(None),
            )
            for contact_id, connector_id, native_id, version, synced_rev, made in self.conn.execute(query):
                out.setdefault(contact_id, []).append((connector_id, native_id, version, synced_rev, made))
        return out

    def deactivated_links(self, contact_ids: list[str]) -> list[int]:
        """The detached links of these contacts whose record contacthub's last write
        deactivated (``on_delete = "deactivate"``: a hidden GAL contact, an inactive
        Procore user), as opposed to one detached and left as it was (``on_delete =
        "ignore"``, a deletion a person rejected or the system refused, no person). A
        person back to life gets those written again, which reactivates them."""
        lk, c = t.links.c, t.changes.c
        out: list[int] = []
        for part in chunks(contact_ids):
            links = self.conn.execute(
                select(lk.id, lk.contact_id, lk.connector_id, lk.native_id).where(
                    lk.contact_id.in_(part), lk.state == "detached"
                )
            ).all()
            if not links:
                continue
            last: dict[tuple[str, int], tuple[str, str | None]] = {}
            for row in self.conn.execute(
                select(c.contact_id, c.connector_id, c.op, c.native_id)
                .where(
                    c.contact_id.in_(part),
                    c.connector_id.is_not(None),
                    c.op.in_(("create", "update", "deactivate")),
                    c.status == "done",
                )
                .order_by(c.id)
            ):
                last[(row.contact_id, row.connector_id)] = (row.op, row.native_id)
            for link in links:
                if last.get((link.contact_id, link.connector_id)) == ("deactivate", link.native_id):
                    out.append(link.id)
        return out

    def has_left_behind(self, hub_id: int, connector_id: int) -> bool:
        """Whether the connector keeps a record of a deleted hub contact (a detached link:
        ``on_delete = "ignore"``, a deletion it may not make or a person rejected). Asked
        from the hub's deleted contacts, as ``count_deleted_linked`` is: once per run,
        before ``left_behind`` is asked anything (``engine.leftovers``)."""
        c, lk = t.contacts, t.links
        query = select(
            exists().where(
                c.c.hub_id == hub_id,
                c.c.deleted.is_(True),
                lk.c.contact_id == c.c.id,
                lk.c.connector_id == connector_id,
                lk.c.state == "detached",
            )
        )
        return bool(self.conn.execute(query).scalar())

    def left_behind(self, hub_id: int, connector_id: int, keys: list[str]) -> dict[int, LinkRow]:
        """The connector's detached links of deleted hub contacts that held one of these
        match keys (a deleted contact keeps its keys), by link id, in one query: the records
        a person added again may be (``engine.leftovers``). Only those whose record is known
        (native id and baseline)."""
        c, lk, mk, ch = t.contacts, t.links, t.match_keys, t.changes
        out: dict[int, LinkRow] = {}
        if not keys:
            return out
        # not the records of a person an undo took back (an import undone): those were
        # never the hub's copies, and are left so that no run takes them in again (QA: a
        # later card with the same email took one up and erased what its owner typed)
        # (an undo of a restore is no such undo: the person lived before it, and their
        # records left behind are taken up as any deleted person's; they got a second row)
        restored = t.changes.alias("restored")
        undid_restore = (
            select(restored.c.id)
            .where(
                restored.c.run_id == t.runs.c.parent_id,
                restored.c.contact_id == c.c.id,
                restored.c.connector_id.is_(None),
                restored.c.op == "restore",
                restored.c.status == "done",
            )
            .exists()
        )
        undone = (
            select(ch.c.id)
            .join(t.runs, t.runs.c.id == ch.c.run_id)
            .where(
                ch.c.contact_id == c.c.id,
                ch.c.connector_id.is_(None),
                ch.c.op == "delete",
                ch.c.status == "done",
                t.runs.c.kind == "undo",
                ~undid_restore,
            )
            .exists()
        )
        # one IN-list for a page of contacts (a few keys each): well under both limits;
        # a link found by two keys comes twice, kept once
        for part in chunks(sorted(set(keys)), 4 * CHUNK):
            query = (
                select(lk)
                .join(c, c.c.id == lk.c.contact_id)
                .join(mk, mk.c.contact_id == c.c.id)
                .where(
                    mk.c.hub_id == hub_id,
                    mk.c.key.in_(part),
                    c.c.deleted.is_(True),
                    lk.c.connector_id == connector_id,
                    lk.c.state == "detached",
                    lk.c.native_id.is_not(None),
                    lk.c.baseline.is_not(None),
                    ~undone,
                )
            )
            for row in self.conn.execute(query):
                out[row.id] = _link(row)
        return dict(sorted(out.items()))

    def has_detached(self, connector_id: int) -> bool:
        """Whether the connector keeps any detached link (asked once a run, where links are
        inserted: ``drop_detached`` is needed only then)."""
        lk = t.links.c
        query = select(exists().where(lk.connector_id == connector_id, lk.state == "detached"))
        return bool(self.conn.execute(query).scalar())

    def drop_detached(self, connector_id: int, native_ids: list[str]) -> None:
        """Forget the detached links of these records: a new link names each of them now."""
        lk = t.links.c
        for part in chunks(native_ids):
            self.conn.execute(
                delete(t.links).where(
                    lk.connector_id == connector_id, lk.native_id.in_(part), lk.state == "detached"
                )
            )

    def take_up(self, moves: list[tuple[int, str]], reactivate: Sequence[int] = ()) -> None:
        """Move these (link id, contact id) links to a live contact: a record left behind
        for a deleted person is the record of the person added again (``engine.leftovers``).
        Found there, not made for them: an undo of their creation keeps it. The links in
        ``reactivate`` (records contacthub deactivated) are marked to be written until a
        write succeeds, as ``rejoin_links`` marks a restored person's (``reactivated``)."""
        again = set(reactivate)
        for link_id, contact_id in moves:
            self.conn.execute(
                update(t.links)
                .where(t.links.c.id == link_id)
                .values(contact_id=contact_id, made=False, reactivate=link_id in again)
            )

    def take_back_left_behind(self, run_id: int, contact_ids: Sequence[str]) -> None:
        """The records run ``run_id``'s deletion of these contacts left behind that another
        person took up since (``take_up``) and let go again (detached on a deleted contact:
        the taker's creation undone, or the taker deleted) are their contact's again,
        detached, so that the restore rejoins them with its own (``engine.undo``). Left
        where they were, the restored person was created beside them: a second card, or
        in a plain CSV file a create with the id of its own old row, refused on every run.
        Only in a connector where the contact has no link; ``made`` unknown again (the
        journal says whether contacthub wrote the record for it). A record one of these
        contacts holds itself stays with it.

        A few queries per page of contacts, whatever the run's size: asked once per
        contact, SQLite (no statistics) read the run's journal by ``ix_changes_run`` each
        time, and an undo of an undo of 20,000 people took 390 s. ``run_id + 0`` keeps
        it on ``ix_changes_contact``: the few rows of each contact, in any run."""
        c, lk, ch = t.contacts.c, t.links.c, t.changes.c
        ids = sorted(set(contact_ids))
        restored = set(ids)
        for part in chunks(ids):
            named = self.conn.execute(
                select(ch.contact_id, ch.connector_id, ch.native_id)
                .where(
                    (ch.run_id + 0) == run_id,
                    ch.contact_id.in_(part),
                    ch.connector_id.is_not(None),
                    ch.native_id.is_not(None),
                )
                .distinct()
            ).all()
            if not named:
                continue
            own: dict[str, set[int]] = {}
            for contact_id, connector_id in self.conn.execute(
                select(lk.contact_id, lk.connector_id).where(lk.contact_id.in_(part))
            ):
                own.setdefault(contact_id, set()).add(connector_id)
            wanted: dict[tuple[int, str], str] = {}  # (connector, native id) -> contact
            for contact_id, connector_id, native_id in sorted(named):
                mine = own.setdefault(contact_id, set())
                if connector_id in mine:
                    continue
                mine.add(connector_id)  # (one record a connector, as the links' key wants)
                wanted.setdefault((connector_id, native_id), contact_id)
            by_connector: dict[int, list[str]] = {}
            for connector_id, native_id in wanted:
                by_connector.setdefault(connector_id, []).append(native_id)
            moves: list[tuple[int, str]] = []
            for connector_id, natives in sorted(by_connector.items()):
                for names in chunks(natives):
                    query = (
                        select(lk.id, lk.native_id, lk.contact_id)
                        .join(t.contacts, c.id == lk.contact_id)
                        .where(
                            lk.connector_id == connector_id,
                            lk.native_id.in_(names),
                            lk.state == "detached",
                            c.deleted.is_(True),
                        )
                    )
                    for link_id, native_id, holder in self.conn.execute(query):
                        target = wanted[(connector_id, native_id)]
                        if holder != target and holder not in restored:
                            moves.append((int(link_id), target))
            for link_id, target in moves:  # a few, as a rule none
                self.conn.execute(
                    update(t.links).where(lk.id == link_id).values(contact_id=target, made=None)
                )

    def rejoin_links(self, link_ids: list[int]) -> None:
        """These detached links of deactivated records (``deactivated_links``) are active
        again, to be read again and planned (their version forgotten: nothing is taken as
        unchanged since), and marked to be written until a write succeeds (``reactivated``),
        which reactivates their records: marked in the store, not in the run, so a held run
        or a failed write leaves it to the next run."""
        for part in chunks(link_ids):
            self.conn.execute(
                update(t.links)
                .where(t.links.c.id.in_(part))
                .values(state="active", synced_rev=0, version=None, reactivate=True)
            )

    def reactivated(self, link_ids: list[int]) -> None:
        """A write of these links' records succeeded: their reactivation is done."""
        for part in chunks(link_ids):
            self.conn.execute(update(t.links).where(t.links.c.id.in_(part)).values(reactivate=False))

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

    def count_deleted_linked(
        self,
        hub_id: int,
        connector_id: int,
        undone: Iterable[int] = (),
        unshown_by: Iterable[int] = (),
        up_to: int | None = None,
    ) -> int:
        """Active links to deleted contacts: what the plan would delete. Asked from the
        hub's deleted contacts (its ``hub_id`` lets the index find them), a few as a rule,
        rather than from each of the connector's links (10,000 lookups a run, where
        nothing is deleted). With ``undone``, only those to contacts these (undo) runs
        deleted (``count_undone_linked``), in their journal rows up to id ``up_to`` where
        given (``count_prepared_linked``). With ``unshown_by``, only those whose deletion
        in this connector the journals of these (held, approved) runs did not show: an
        approve lets through what its held run showed, not a count (``run._holds``)."""
        c, lk = t.contacts, t.links
        query = (
            select(func.count())
            .select_from(c.join(lk, c.c.id == lk.c.contact_id))
            .where(
                c.c.hub_id == hub_id,
                c.c.deleted.is_(True),
                lk.c.connector_id == connector_id,
                lk.c.state == "active",
            )
        )
        if undone:
            deleting = _undone_query(undone)
            if up_to is not None:
                deleting = deleting.where(t.changes.c.id <= up_to)
            query = query.where(c.c.id.in_(deleting))
        shown_runs = sorted(set(unshown_by))
        if shown_runs:
            query = query.where(c.c.id.not_in(_shown_query(shown_runs, connector_id)))
        return int(self.conn.execute(query).scalar_one())

    def count_live(self, hub_id: int) -> int:
        """The hub's contacts not deleted: what a run's deletions are a share of, for the
        hub's own hold (``run._holds``)."""
        c = t.contacts.c
        query = select(func.count()).where(c.hub_id == hub_id, c.deleted.is_(False))
        return int(self.conn.execute(query).scalar_one())

    def shown_deleted(self, run_ids: Iterable[int]) -> frozenset[str]:
        """The contacts these (held) runs' journals delete in the hub: the hub-side
        deletions a person saw and approved (``run._holds``)."""
        query = _shown_query(sorted(set(run_ids)), None).distinct()
        return frozenset(str(r) for r in self.conn.execute(query).scalars())

    def count_undone_linked(self, hub_id: int, connector_id: int, run_ids: Iterable[int]) -> int:
        """Active links of the connector to contacts these (undo) runs deleted in the hub and
        still deleted: the deletions a killed undo left for the runs that carry it on,
        its own (``Options.undo_runs``), not held. Before the inbound step, also those the
        undo made before it was killed and did not record (the connector lists fewer)."""
        runs = list(run_ids)
        return self.count_deleted_linked(hub_id, connector_id, runs) if runs else 0

    def last_change(self, run_id: int) -> int:
        """The id of the run's last journal row so far (0: none)."""
        ch = t.changes.c
        return int(
            self.conn.execute(
                select(func.coalesce(func.max(ch.id), 0)).where(ch.run_id == run_id)
            ).scalar_one()
        )

    def count_prepared_linked(self, hub_id: int, connector_id: int, run_id: int, last: int) -> int:
        """Active links of the connector to contacts run ``run_id``'s own hub rows (up to
        row ``last``: what its ``prepare`` wrote, an undo's) deleted and still deleted:
        its own deletions, not held (``run._holds``). Asked after the inbound step: a
        record of theirs gone from the connector meanwhile is no deletion left to make
        (counted before the pull, it was taken off the other deletions there)."""
        return self.count_deleted_linked(hub_id, connector_id, [run_id], up_to=last)

    def undone_contacts(self, run_ids: Iterable[int]) -> frozenset[str]:
        """The contacts these runs deleted in the hub: a reject carried with a killed undo
        does not refuse the undo's own deletions (``run._carried``); a sync that carried a
        killed approve out holds the approved ones or not (``actions._refuse_split_approve``)."""
        return frozenset(str(r) for r in self.conn.execute(_undone_query(run_ids).distinct()).scalars())

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
        return self.cursor_saved(connector_id)[0]

    def cursor_saved(self, connector_id: int) -> tuple[str | None, str | None]:
        """The cursor, and when it was last saved (the end of the connector's last applied
        run) as ISO text in UTC; (None, None) before its first."""
        query = select(t.cursors.c.value, t.cursors.c.updated_at).where(
            t.cursors.c.connector_id == connector_id
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None, None
        value, saved = row
        if saved.tzinfo is None:  # SQLite gives back naive datetimes
            saved = saved.replace(tzinfo=UTC)
        return (None if value is None else str(value)), str(saved.astimezone(UTC).isoformat())

    def set_cursor(self, connector_id: int, value: str | None) -> None:
        self.conn.execute(delete(t.cursors).where(t.cursors.c.connector_id == connector_id))
        self.conn.execute(insert(t.cursors).values(connector_id=connector_id, value=value, updated_at=now()))

    def settings_applied(self, connector_id: int) -> None:
        """A run read the connector under its new settings and was applied: the next one
        takes records gone from it for deletions again (``tables.connectors``)."""
        self.conn.execute(
            update(t.connectors).where(t.connectors.c.id == connector_id).values(settings_changed=False)
        )


def _shown_query(run_ids: list[int], connector_id: int | None) -> Select[Any]:
    """The contact ids these (held) runs' journals delete or deactivate in the connector
    (``None``: in the hub). Never a NULL id: ``NOT IN`` a list holding one is never true."""
    ch = t.changes.c
    where = ch.connector_id.is_(None) if connector_id is None else ch.connector_id == connector_id
    return select(ch.contact_id).where(
        ch.run_id.in_(run_ids), where, ch.op.in_(("delete", "deactivate")), ch.contact_id.is_not(None)
    )


def _undone_query(run_ids: Iterable[int]) -> Select[Any]:
    """The contact ids of the hub-side deletions these runs made (done)."""
    ch = t.changes.c
    return select(ch.contact_id).where(
        ch.run_id.in_(sorted(set(run_ids))),
        ch.connector_id.is_(None),
        ch.connector_name == "hub",
        ch.op == "delete",
        ch.status == "done",
    )
