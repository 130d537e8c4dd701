"""Runs, the journal of changes, and conflicts: the record of what each run did.

Separate from the contacts and links: these rows describe runs rather than the hub's data,
and the journal is written first and then its statuses set as each change is applied, so
that an interrupted run can be recovered and a finished one undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from contacthub.store import tables as t
from contacthub.store.repo_base import StoreBase
from contacthub.store.rows import OP_COUNT, chunks, dumps, loads, now


@dataclass(frozen=True, slots=True)
class HubChange:
    """One journal row of a change a run made to a hub contact: for an update, the fields
    it set."""

    run_id: int
    run_kind: str
    parent_id: int | None
    contact_id: str
    op: str
    fields: frozenset[str]
    #: a row an undo run's sync carried (someone's edit elsewhere), not one it set back
    carried: bool = False


#: what an undo notes in its counts as it sets things back (``mark_reverted``), kept at its end
UNDO_MARKS = ("reverted", "deferred", "continues")

#: a held run's statuses: held, and decided by a person
HELD = ("held", "approved", "rejected")


class JournalMixin(StoreBase):
    """Runs, changes and conflicts of a ``Store``."""

    # --- runs and the journal -----------------------------------------------------------

    def start_run(
        self, hub_id: int, kind: str, parent_id: int | None = None, carries: dict[str, Any] | None = None
    ) -> int:
        """A new run, ``running``; ``carries``: the decisions of killed runs it carries on,
        kept in its counts until it finishes, so that ``killed_decisions`` finds them again
        if it is killed too."""
        result = self.conn.execute(
            insert(t.runs).values(
                hub_id=hub_id,
                kind=kind,
                status="running",
                parent_id=parent_id,
                started_at=now(),
                counts=dumps({"carries": carries}) if carries else "{}",
                errors="[]",
            )
        )
        run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        self.drop_stale_plans(hub_id, run_id)
        return run_id

    def drop_stale_plans(self, hub_id: int, run_id: int) -> None:
        """The journals of the hub's dry runs before ``run_id`` go: a plan is stale once
        another run of the hub starts, and each dry run kept its whole plan for good (one
        preview of undoing a 20,000-person run added 40,000 rows and 35 MB). The run rows
        and their counts stay, their message saying the plan was discarded. A held run's
        plan (status ``held``, its rows ``planned`` too) stays until a person decides it:
        ``approve`` and ``reject`` read it."""
        runs, c = t.runs.c, t.changes.c
        has_plan = select(c.id).where(c.run_id == runs.id).exists()
        stale = self.conn.execute(
            select(runs.id, runs.message).where(
                runs.hub_id == hub_id, runs.status == "planned", runs.id < run_id, has_plan
            )
        ).all()
        for old, message in stale:
            self.conn.execute(delete(t.changes).where(c.run_id == old))
            note = f"its plan was discarded when run {run_id} started"
            self.conn.execute(
                update(t.runs)
                .where(runs.id == old)
                .values(message=f"{message}; {note}" if message else note.capitalize())
            )

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: dict[str, Any],
        errors: list[Any],
        message: str | None = None,
    ) -> None:
        """End the run. An undo's marks (``mark_reverted``) stay in its counts as its
        transaction committed them (an undo failed before that set nothing back). The held
        runs whose killed approve it carried out stay as ``carried_approvals`` (its
        ``carries`` go, ``killed_decisions`` looks for them): an undo of it is an undo of
        that approve (``engine.undo``)."""
        stored = loads(self.conn.execute(select(t.runs.c.counts).where(t.runs.c.id == run_id)).scalar()) or {}
        counts = {**counts, **{key: stored[key] for key in UNDO_MARKS if key in stored}}
        approved = (stored.get("carries") or {}).get("approved_runs")
        if approved and "carried_approvals" not in counts:
            counts["carried_approvals"] = approved
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

    def mark_reverted(
        self, run_id: int, count: int, deferred: Sequence[int] = (), continues: int | None = None
    ) -> None:
        """Note in an undo run's counts how many hub changes it set back itself, in the
        transaction that writes them: what makes the undo stand (``history.standing_undos``),
        whether it ends applied, failed or killed. Its journal cannot tell: the changes its
        sync picked up (an edit made elsewhere) are hub rows of the run too.

        ``deferred``: the undone run's journal rows it skipped until another run is undone
        (a person deleted since, or added again since), which an undo of the run again
        takes up; ``continues``: the undo whose deferred rows this one took up (it undid
        only those)."""
        stored = self.conn.execute(select(t.runs.c.counts).where(t.runs.c.id == run_id)).scalar()
        counts = {**(loads(stored) or {}), "reverted": count}
        if deferred:
            counts["deferred"] = sorted(deferred)
        if continues is not None:
            counts["continues"] = continues
        self.conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(counts=dumps(counts)))

    def set_run_status(self, run_id: int, status: str, message: str | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if message is not None:
            values["message"] = message
        self.conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))

    def killed_decisions(
        self, hub_id: int
    ) -> list[tuple[int, str, str, int | None, str | None, dict[str, Any]]]:
        """(run, kind, status, its parent run, the parent's stored counts, the decisions it
        carried on) of each run of the hub a dead process left 'applying' (its hub side
        committed, its writes maybe not all done), of each approve or reject it left
        'running' (nothing of it committed, but its held run was marked decided before it
        started, and could not be decided again), and of each run it left 'running' that
        carried on such a decision (``start_run``'s ``carries``): the carrying run killed
        too lost the decision, and the next sync held the deletions a person had approved.

        Also each held run (decided or not) since the hub's last applied one that carried a
        killed undo on (``run._record_plan`` keeps its carries): a run carrying an undo is
        held for other deletions, and the undo's own remaining ones are still its own in
        the run that decides them (or the next sync)."""
        runs, parents = t.runs, t.runs.alias("parent")
        last_applied = (
            select(func.coalesce(func.max(runs.c.id), 0))
            .where(runs.c.hub_id == hub_id, runs.c.status == "applied")
            .scalar_subquery()
        )
        carrying = runs.c.counts.contains('"carries"')
        query = (
            select(runs.c.id, runs.c.kind, runs.c.status, runs.c.parent_id, parents.c.counts, runs.c.counts)
            .select_from(runs.outerjoin(parents, parents.c.id == runs.c.parent_id))
            .where(
                runs.c.hub_id == hub_id,
                (runs.c.status == "applying")
                | ((runs.c.status == "running") & (runs.c.kind.in_(("approve", "reject")) | carrying))
                | (runs.c.status.in_(HELD) & carrying & (runs.c.id > last_applied)),
            )
            .order_by(runs.c.id)
        )
        return [
            (int(run_id), str(kind), str(status), parent_id, parent, (loads(own) or {}).get("carries") or {})
            for run_id, kind, status, parent_id, parent, own in self.conn.execute(query)
        ]

    def interrupted_runs(self, hub_id: int) -> list[int]:
        """Runs of the hub left 'running' by a process that died: marked failed here, with
        the changes they kept counted from their journal (a killed first sync had created
        hundreds of people and said +0; and ``undo`` takes a failed run's kept changes back)."""
        runs = self.conn.execute(
            select(t.runs.c.id, t.runs.c.counts).where(
                t.runs.c.hub_id == hub_id, t.runs.c.status.in_(("running", "applying"))
            )
        ).all()
        ids = [int(r.id) for r in runs]
        if not ids:
            return ids
        kept: dict[int, dict[str, dict[str, int]]] = {i: {} for i in ids}
        query = (
            select(t.changes.c.run_id, t.changes.c.connector_name, t.changes.c.op, func.count())
            .where(t.changes.c.run_id.in_(ids), t.changes.c.status == "done")
            .group_by(t.changes.c.run_id, t.changes.c.connector_name, t.changes.c.op)
        )
        for run_id, name, op, n in self.conn.execute(query):
            kind = OP_COUNT.get(op)
            if kind:
                counts = kept[run_id].setdefault(name, {"create": 0, "update": 0, "delete": 0})
                counts[kind] += n
        for run in runs:
            counts = loads(run.counts) or {}
            self.conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run.id)
                .values(
                    status="failed",
                    finished_at=now(),
                    message="interrupted; recovered by the next run",
                    counts=dumps({**counts, "changes": kept[run.id]}),
                )
            )
        self.mark_interrupted(ids)
        return ids

    def mark_interrupted(self, run_ids: Sequence[int]) -> None:
        """The writes these runs journalled and never heard back about are ``interrupted``:
        made or not, they may be there (an undo takes such a create's copy back, a record
        found by the hub id it carries is not taken for the system's own)."""
        self.conn.execute(
            update(t.changes)
            .where(t.changes.c.run_id.in_(list(run_ids)), t.changes.c.status == "pending")
            .values(status="interrupted")
        )

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

    def journal_pages(self, run_id: int, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """A run's journal rows in the order they were written, ``size`` at a time, as
        ``add_changes`` takes them (without their ids). Read by id ranges, so no cursor stays
        open between pages and a large run is never held in memory whole."""
        columns = [c for c in t.changes.c if c.name != "id"]
        names = [str(c.name) for c in columns]  # plain str: a column's name is a subclass
        last = 0
        while True:
            query = (
                select(t.changes.c.id, *columns)
                .where(t.changes.c.run_id == run_id, t.changes.c.id > last)
                .order_by(t.changes.c.id)
                .limit(size)
            )
            rows = self.conn.execute(query).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [dict(zip(names, row[1:], strict=True)) for row in rows]

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

    def approvals_held(self, run_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]:
        """Of these (held) runs, the approves, each -> the held run it approved and that
        run's stored counts. An approve's own run is held for deletions its held run did
        not show; rejecting that refuses those alone, and the approval it carried stands
        (``run._carried``)."""
        approved = t.runs.alias("approved")
        runs, parent = t.runs.c, approved.c
        query = (
            select(runs.id, parent.id, parent.counts)
            .join_from(t.runs, approved, parent.id == runs.parent_id)
            .where(runs.id.in_(sorted(set(run_ids))), runs.kind == "approve")
        )
        return {int(run_id): (int(held), counts) for run_id, held, counts in self.conn.execute(query).all()}

    def deleted_in_runs(self, run_ids: Sequence[int]) -> frozenset[str]:
        """The contacts these (held) runs' journals delete or deactivate, in the hub or in a
        connector: the deletions a person saw and rejected."""
        c = t.changes.c
        query = select(c.contact_id).where(
            c.run_id.in_(list(run_ids)), c.op.in_(("delete", "deactivate")), c.contact_id.is_not(None)
        )
        return frozenset(str(r) for r in self.conn.execute(query.distinct()).scalars())

    def lives(
        self, contact_ids: Iterable[str], live: frozenset[str] = frozenset()
    ) -> dict[str, list[tuple[int, int | None]]]:
        """For each of these hub contacts, the stretches of the journal it was alive in:
        (the hub change that created or restored it, the one that deleted it, or None while
        it lives), in order. ``undo`` asks it to tell a person added again since a deletion
        (never alive beside the deleted person) from one who shares their email and was
        there beside them (alive together at some time). History pruned away: a contact
        whose journal begins with its deletion lived from the start (0), one with no journal
        lives from the start; a life before a first restore is not known, and not counted.
        One of ``live`` (alive now) whose journal ends with a deletion was restored by a run
        pruned since (prune keeps an undo's deletions, which later runs still read): it
        lives from that deletion on. Taken as dead, a person deleted beside them later was
        kept deleted as them "added again" (QA)."""
        c = t.changes.c
        lives: dict[str, list[tuple[int, int | None]]] = {}
        since: dict[str, int | None] = {}  # alive since that change; None: deleted
        ended: dict[str, int] = {}  # the last deletion
        for part in chunks(sorted(set(contact_ids))):
            query = (
                select(c.contact_id, c.id, c.op)
                .where(
                    c.contact_id.in_(part),
                    c.connector_id.is_(None),
                    c.connector_name == "hub",
                    c.status == "done",
                    c.op.in_(("create", "restore", "delete")),
                )
                .order_by(c.id)
            )
            for contact_id, change_id, op in self.conn.execute(query):
                first = contact_id not in since
                alive = 0 if first and op == "delete" else since.get(contact_id)
                if op == "delete":
                    if alive is not None:
                        lives.setdefault(contact_id, []).append((alive, change_id))
                    since[contact_id] = None
                    ended[contact_id] = change_id
                elif alive is None:
                    since[contact_id] = change_id
        for contact_id in set(contact_ids):
            alive = since.get(contact_id, 0)
            if alive is None and contact_id in live:
                alive = ended[contact_id]
            found = lives.setdefault(contact_id, [])
            if alive is not None:
                found.append((alive, None))
        return lives

    def hub_changes_after(
        self, run_id: int, contact_ids: Sequence[str], own_end: int | None = None
    ) -> list[HubChange]:
        """The hub's own changes to these contacts made by runs after ``run_id`` (of any
        kind: syncs, resolves, undos), oldest first, each with its run's kind and parent:
        what ``undo`` needs to tell a field changed again since from one left alone (the
        value alone could not: a title set back to the undone run's value by later edits
        was taken for untouched, and the old value written over them). With ``own_end``
        (``undo_own_ends``), ``run_id`` is an undo and its rows after that one, what its
        sync carried, are changes since too. Rows an undo's sync carried say so
        (``HubChange.carried``): they take nothing back."""
        c, runs = t.changes.c, t.runs.c
        out: list[tuple[int, HubChange]] = []
        after = c.run_id > run_id
        if own_end is not None:
            after = or_(after, and_(c.run_id == run_id, c.id > own_end))
        for part in chunks(sorted(set(contact_ids))):
            query = (
                select(c.id, c.run_id, runs.kind, runs.parent_id, c.contact_id, c.op, c.after)
                .select_from(t.changes.join(t.runs, runs.id == c.run_id))
                .where(
                    after,
                    c.contact_id.in_(part),
                    c.connector_id.is_(None),
                    c.connector_name == "hub",
                    c.status == "done",
                    c.op.in_(("update", "delete")),
                )
                .order_by(c.id)
            )
            for r in self.conn.execute(query):
                fields = frozenset(loads(r.after) or ()) if r.op == "update" else frozenset()
                parent = None if r.parent_id is None else int(r.parent_id)
                out.append(
                    (
                        int(r.id),
                        HubChange(int(r.run_id), str(r.kind), parent, str(r.contact_id), str(r.op), fields),
                    )
                )
        ends = self.undo_own_ends({h.run_id for _, h in out if h.run_kind == "undo"})
        # an undo's rows past its own (``run_id``'s here are all past ``own_end``): carried
        changes = [
            replace(h, carried=True) if row_id > ends.get(h.run_id, row_id) else h for row_id, h in out
        ]
        changes.sort(key=lambda h: h.run_id)
        return changes

    def undo_own_ends(self, run_ids: Iterable[int]) -> dict[int, int]:
        """For each of these undo runs that noted how many hub changes it set back itself
        (``mark_reverted``), the id of its last such row (0: none). An undo's own rows come
        first, written before its sync pulls anything; its hub rows after that one are
        what the sync carried (someone's edit elsewhere), no part of the undo: undoing the
        undo took them back too."""
        c, runs = t.changes.c, t.runs.c
        out: dict[int, int] = {}
        for part in chunks(sorted(set(run_ids))):
            query = select(runs.id, runs.counts).where(runs.id.in_(part), runs.kind == "undo")
            for run_id, counts in self.conn.execute(query).all():
                own = (loads(counts) or {}).get("reverted")
                if not isinstance(own, int):
                    continue  # (an undo older than the mark: all its rows are its own)
                last = 0
                if own > 0:
                    last = (
                        self.conn.execute(
                            select(c.id)
                            .where(
                                c.run_id == run_id,
                                c.connector_id.is_(None),
                                c.connector_name == "hub",
                                c.status == "done",
                            )
                            .order_by(c.id)
                            .offset(own - 1)
                            .limit(1)
                        ).scalar()
                        or 0
                    )
                out[int(run_id)] = int(last)
        return out

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

    def close_conflicts(self, hub_id: int, of_deleted: bool = False) -> None:
        """Close the hub's open conflicts (``of_deleted``: only those of deleted people),
        the hub's value kept: status ``closed``, no person decided. The live people's revs
        move on, so the next plan writes the hub's value where a side kept its own."""
        c = t.conflicts.c
        where = [c.hub_id == hub_id, c.status == "open"]
        if of_deleted:
            gone = select(t.contacts.c.id).where(t.contacts.c.hub_id == hub_id, t.contacts.c.deleted)
            where.append(c.contact_id.in_(gone))
        else:
            people = select(c.contact_id).where(*where)
            contacts = t.contacts.c
            self.conn.execute(
                update(t.contacts)
                .where(contacts.id.in_(people))
                .values(rev=contacts.rev + 1, updated_at=now())
            )
        self.conn.execute(
            update(t.conflicts).where(*where).values(status="closed", winner="hub", resolved_at=now())
        )

    def add_conflicts(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.conflicts), list(rows))

    def open_conflict_from(self, contact_id: str, field: str, source: str) -> int | None:
        """The open conflict on a contact's field that holds ``source``'s value, if any."""
        c = t.conflicts.c
        query = select(c.id).where(
            c.contact_id == contact_id, c.field == field, c.source == source, c.status == "open"
        )
        found = self.conn.execute(query.order_by(c.id.desc()).limit(1)).scalar_one_or_none()
        return None if found is None else int(found)

    def update_conflict_hub_value(self, contact_id: str, field: str, source: str, value: Any) -> None:
        """The open conflicts on a contact's field whose hub side is ``source``: its new value."""
        c = t.conflicts.c
        self.conn.execute(
            update(t.conflicts)
            .where(c.contact_id == contact_id, c.field == field, c.hub_source == source, c.status == "open")
            .values(hub_value=dumps(value))
        )

    def update_open_conflict(self, conflict_id: int, value: Any, hub_value: Any, run_id: int) -> None:
        self.conn.execute(
            update(t.conflicts)
            .where(and_(t.conflicts.c.id == conflict_id, t.conflicts.c.status == "open"))
            .values(value=dumps(value), hub_value=dumps(hub_value), run_id=run_id)
        )

    def open_conflict_values(self, contact_id: str, field: str) -> list[tuple[int, Any]]:
        """(id, the side's value) of each open conflict on a contact's field."""
        c = t.conflicts.c
        query = select(c.id, c.value).where(c.contact_id == contact_id, c.field == field, c.status == "open")
        return [(int(i), loads(v)) for i, v in self.conn.execute(query)]

    def close_conflict_ids(self, ids: Sequence[int]) -> None:
        """Close open conflicts nobody needs to decide any more (their side came round to the
        hub's value): ``closed``, the hub's value kept, as ``close_conflicts`` leaves them."""
        if ids:
            c = t.conflicts.c
            self.conn.execute(
                update(t.conflicts)
                .where(c.id.in_(list(ids)), c.status == "open")
                .values(status="closed", winner="hub", resolved_at=now())
            )

    def rename_in_conflicts(self, hub_id: int, old: str, new: str) -> None:
        """A renamed connector's conflicts name it by its new name: their sides are names,
        and a conflict kept offering the old one (``resolve`` refused the new name, and a
        connector given the old name later seemed to be a side)."""
        if old == new:
            return
        c = t.conflicts.c
        for column in ("source", "hub_source", "winner"):
            self.conn.execute(
                update(t.conflicts).where(c.hub_id == hub_id, c[column] == old).values({column: new})
            )
