"""What a person does to a hub's contacts: sync it, settle a conflict, approve or reject a held
run, undo a run, sign a connector in. Every one but ``resolve`` and ``connect`` is a run of
the engine (``engine/run.py``) with the options that say what kind of run it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, update

from contacthub import names
from contacthub.engine.context import Options, Progress, Report
from contacthub.engine.run import held_figures, run_hub, run_locked
from contacthub.engine.undo import Remaining, undo_preparer
from contacthub.errors import NotFoundError, UserError
from contacthub.model import NAME_FIELDS, NAME_GROUP, made_name, match_keys, parts_renamed
from contacthub.service.views import _run_row, hub_side, out_of_date, superseded
from contacthub.store import tables as t
from contacthub.store.history import standing_undos
from contacthub.store.holds import live_hold
from contacthub.store.repo import Store, dumps, loads, now
from contacthub.store.rows import split_baseline

if TYPE_CHECKING:
    from contacthub.connectors.base import ConnectUI


def sync(
    engine: Engine,
    hub: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    lock_wait: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Report:
    """One run of ``hub``; ``lock_wait``: seconds to wait for a run of it in progress
    elsewhere (``None``: until it ends; ``0``: raise ``HubBusy`` at once); ``on_wait`` is
    called once if it waits."""
    return run_hub(
        engine,
        hub,
        options=Options(dry_run=dry_run),
        progress=progress,
        lock_wait=lock_wait,
        on_wait=on_wait,
    )


def resolve(engine: Engine, conflict_id: int, take: str) -> dict[str, Any]:
    """Settle an open conflict with the value of connector ``take`` (or ``hub``: keep it).
    The hub contact changes now; the next sync carries the value everywhere."""
    with engine.begin() as conn:
        row = conn.execute(select(t.conflicts).where(t.conflicts.c.id == conflict_id)).first()
        if row is None:
            raise NotFoundError(f"no conflict {conflict_id}")
        if row.status != "open":
            raise UserError(f"conflict {conflict_id} is already settled ({row.status}, took {row.winner})")
        choices = {row.source: loads(row.value), "hub": None}
        side = hub_side(row.hub_source, row.source)  # ("hub" keeps the hub's value)
        if side != "hub":
            choices[side] = loads(row.hub_value)
        if take not in choices and row.status == "open":
            # the field's other sides, each with a row of its own (two sides renaming
            # someone in one run under ``manual``): any of their values decides it
            c = t.conflicts.c
            query = select(c.source, c.value).where(
                c.contact_id == row.contact_id, c.field == row.field, c.status == "open", c.id != row.id
            )
            for source, value in conn.execute(query):
                choices.setdefault(source, loads(value))
        take = names.pick(choices, take) or take  # (typed in another Unicode form)
        if take not in choices:
            raise UserError(
                f"conflict {conflict_id} is between {', '.join(sorted(choices))}: take one of them"
            )
        store = Store(conn)
        contact = store.contacts([row.contact_id])[row.contact_id]
        if contact.deleted:
            raise UserError(f"conflict {conflict_id} is on a person deleted since; the next sync closes it")
        chosen = {row.field: choices.get(take)}
        if row.field in NAME_GROUP:
            chosen.update(_name_companions(conn, row, take))
        before = {name: contact.data.get(name) for name in chosen}
        if take != "hub":
            old = dict(contact.data)
            for name, value in chosen.items():
                if value in (None, "", []):
                    contact.data.pop(name, None)
                else:
                    contact.data[name] = value
                contact.sources[name] = [None, now().isoformat()]
            shown = old.get("display_name") or ""
            if "display_name" not in chosen and set(chosen) & set(NAME_FIELDS) and shown == made_name(old):
                # a display name made from the name parts follows the parts chosen (taken
                # from a file with no display name, they went under the old one: "Alicia
                # Jones" over given name Ally), as it does when such a file renames someone
                before["display_name"] = shown
                contact.data["display_name"] = made_name(contact.data)
                chosen["display_name"] = contact.data["display_name"]
            elif "display_name" in chosen and not any(chosen.get(n) for n in NAME_FIELDS):
                # (parts chosen empty: those of a record that holds none, ``_name_companions``)
                _parts_follow(conn, row, take, old, contact.data, chosen, before)
        contact.rev += 1
        store.update_contacts([contact])
        store.set_match_keys(row.hub_id, {contact.id: match_keys(contact.data)})
        run_id = store.start_run(row.hub_id, "resolve")
        store.add_changes(
            [
                {
                    "run_id": run_id,
                    "connector_id": None,
                    "connector_name": "hub",
                    "contact_id": contact.id,
                    "native_id": None,
                    "op": "update",
                    "before": dumps(before),
                    "after": dumps({name: contact.data.get(name) for name in chosen}),
                    "status": "done",
                    "error": None,
                    "at": now(),
                }
            ]
        )
        store.finish_run(run_id, "applied", {"changes": {"hub": {"create": 0, "update": 1, "delete": 0}}}, [])
        # the field is decided: its other open conflicts (other sides' values) with it; each
        # names this run, so undoing the run opens them again (``engine.undo``)
        c = t.conflicts.c
        conn.execute(
            update(t.conflicts)
            .where(
                c.contact_id == row.contact_id,
                c.field.in_(list(chosen)),
                (c.id == conflict_id) | (c.status == "open"),
            )
            .values(status="resolved", winner=take, resolved_at=now(), run_id=run_id)
        )
        return {
            "conflict": conflict_id,
            "field": row.field,
            "value": contact.data.get(row.field),
            "run": run_id,
        }


def _name_companions(conn: Any, row: Any, take: str) -> dict[str, Any]:
    """The other open name conflicts of the person, decided the same way: a family name
    edited on two sides opened one on ``family_name`` and one on ``display_name``, and
    resolving one left the other open, the books showing the chosen family name under
    another full name. A field whose conflicts ``take`` is no side of (that side left it as
    it was, the others changed it) gets what ``take``'s record holds of it."""
    c = t.conflicts.c
    query = select(c.field, c.source, c.value, c.hub_source, c.hub_value).where(
        c.contact_id == row.contact_id,
        c.status == "open",
        c.field.in_(sorted(NAME_GROUP - {row.field})),
    )
    out: dict[str, Any] = {}
    fields = set()
    for field, source, value, hub_source, hub_value in conn.execute(query):
        fields.add(field)
        if take == "hub":
            out[field] = None
        elif source == take:
            out[field] = loads(value)
        elif hub_source == take and field not in out:
            out[field] = loads(hub_value)
    if fields - set(out):
        held = _record_of(conn, row.contact_id, row.hub_id, take)
        if held is not None:
            out.update({field: held.get(field) for field in fields - set(out)})
    return out


def _parts_follow(
    conn: Any,
    row: Any,
    take: str,
    old: dict[str, Any],
    data: dict[str, Any],
    chosen: dict[str, Any],
    before: dict[str, Any],
) -> None:
    """A display name taken from a record with no name parts (a plain CSV's) takes the
    parts that spelled the old one along, as a sync does (``inbound._parts_follow``): else
    the card showed the chosen "Ann Lee-Smith" over N:Lee;Ann."""
    moved = parts_renamed(old, str(data.get("display_name") or ""))
    if not moved:
        return
    record = _record_of(conn, row.contact_id, row.hub_id, take)
    if record is None or any(record.get(n) for n in NAME_FIELDS):
        return
    for n, (was, new) in moved.items():
        before[n] = was
        if new:
            data[n] = new
        else:
            data.pop(n, None)
        chosen[n] = new


def _record_of(conn: Any, contact_id: str, hub_id: int, connector: str) -> dict[str, Any] | None:
    """What connector ``connector``'s record of the contact held when last read."""
    lk, cn = t.links.c, t.connectors.c
    query = (
        select(lk.baseline)
        .join(t.connectors, cn.id == lk.connector_id)
        .where(lk.contact_id == contact_id, cn.hub_id == hub_id, cn.name == connector, lk.state == "active")
    )
    found = conn.execute(query).first()
    return None if found is None else (split_baseline(found.baseline)[0] or {})


def _held(engine: Engine, run_id: int, new_status: str) -> tuple[str, Any]:
    """The held run, marked decided. The mark comes first, one conditional update
    (``status = 'held'``), and the checks after it (a refusal rolls it back): an approve and
    a reject of one run sent at once both read "held" on PostgreSQL, both went ahead, and
    the run said "approved" after a reject had put the records back. Now the second waits
    for the first's transaction and is refused; on SQLite a write first also takes the
    lock first, where a read then a write could fail on a snapshot another wrote since."""
    with engine.begin() as conn:
        still = (t.runs.c.id == run_id, t.runs.c.status == "held")
        decided = conn.execute(update(t.runs).where(*still).values(status=new_status)).rowcount
        row = _run_row(conn, run_id)
        if decided != 1:
            raise UserError(
                f"run {run_id} is {row.status}, not held; only a held run can be approved or rejected"
            )
        _refuse_superseded(conn, row)
        return Store(conn).hub_by_id(row.hub_id).name, row


def _refuse_superseded(conn: Connection, row: Any) -> None:
    """A held run that a later run of its hub held or applied is out of date: the deletions
    it showed were counted again by that run. Approving or rejecting it made a run that
    said "applied" and did none of what the person saw (a reject of an old hold after an
    approve of the newer one), and it stayed ``held`` for good; it is refused, naming the
    run that is current. A later run that failed or was a dry run does not count. A later
    hold that was approved or rejected counts whatever its decision run's fate: that
    decision was made on the newer count, and a killed one goes on with the next sync
    (``run._carried``); a reject of the old hold accepted then put back half of what the
    approve had deleted, and the data stayed half-deleted for good. The rule is
    ``views.superseded``, by which the listings show such a run as superseded."""
    later = superseded(conn, row.hub_id, [row.id]).get(row.id)
    if later is not None:
        raise UserError(out_of_date(row.id, later))


def approve(
    engine: Engine, run_id: int, progress: Progress | None = None, on_wait: Callable[[], None] | None = None
) -> Report:
    """Let a held run's deletions happen: a new run, in which the deletions that run showed
    go through (``run._holds``); any other is held as in a sync."""

    def options(row: Any) -> Options:
        return Options(approved=held_figures(row.counts), approved_runs=frozenset({run_id}))

    return _decide(engine, run_id, "approved", options, progress, on_wait)


def reject(
    engine: Engine, run_id: int, progress: Progress | None = None, on_wait: Callable[[], None] | None = None
) -> Report:
    """Refuse a held run's deletions: records that vanished are put back from the hub, and
    the connectors it would have deleted in keep their records (unlinked)."""

    def options(row: Any) -> Options:
        return Options(rejected=frozenset(held_figures(row.counts)))

    return _decide(engine, run_id, "rejected", options, progress, on_wait)


def _decide(
    engine: Engine,
    run_id: int,
    decided: str,
    options: Callable[[Any], Options],
    progress: Progress | None,
    on_wait: Callable[[], None] | None,
) -> Report:
    """The run of an approve or a reject, the held run checked and marked under the hub's
    lock: checked before it, a sync that ran while the decision waited for the lock (the
    scheduler's, another shell's) held a newer count, and the decision still went ahead on
    the older one, which it should have refused as out of date (QA)."""
    from contacthub.scheduler.lock import hub_lock

    with engine.connect() as conn:
        hub_id = conn.execute(select(t.runs.c.hub_id).where(t.runs.c.id == run_id)).scalar()
        if hub_id is None:
            raise NotFoundError(f"no run {run_id}")
        hub = Store(conn).hub_by_id(hub_id).name
    with hub_lock(engine, hub, on_wait=on_wait):
        hub, row = _held(engine, run_id, decided)
        kind = "approve" if decided == "approved" else "reject"
        report = run_locked(engine, hub, kind=kind, options=options(row), parent_id=run_id, progress=progress)
    return _held_again_if_failed(engine, run_id, decided, report)


def _held_again_if_failed(engine: Engine, run_id: int, decided: str, report: Report) -> Report:
    """A decision whose run failed (a folder not there, a system down) leaves the held run
    held, to be decided again: marked "approved" though nothing was done, the history said
    deletions were approved, and the run could no longer be approved or rejected (QA). A
    run killed mid-way is not this: its decision is carried on by the next sync."""
    if report.status != "failed":
        return report
    with engine.begin() as conn:
        still = (t.runs.c.id == run_id, t.runs.c.status == decided)
        conn.execute(update(t.runs).where(*still).values(status="held"))
    again = f"run {run_id} is held again: decide it once the run can go through"
    report.message = f"{report.message}; {again}" if report.message else again
    return report


def undo(
    engine: Engine,
    run_id: int,
    progress: Progress | None = None,
    on_wait: Callable[[], None] | None = None,
    dry_run: bool = False,
) -> Report:
    """Apply the inverse of ``run_id``'s changes as a new run. Its own deletions are never
    held (they are what a person asked for); those its sync finds made meanwhile are, as
    in a sync, and then the whole undo is held, nothing written, the undo not done: the
    person decides those deletions (approve or reject), then asks for the undo again.
    ``dry_run``: the whole plan, with what the undo would delete in each connector, and
    nothing written (an undo of a first copy deletes every copy it made, in every
    connector: worth seeing first)."""
    with engine.connect() as conn:
        row = _run_row(conn, run_id)
        if row.status in ("running", "applying"):
            # a run whose process was killed is told from a live one under the hub's lock,
            # by the next run of the hub, which marks it failed (``Store.interrupted_runs``)
            hub_name = Store(conn).hub_by_id(row.hub_id).name
            raise UserError(
                f"run {run_id} is {row.status}: if its process was killed, run 'contacthub sync "
                f"{hub_name}' first (it marks the run failed), then undo it"
            )
        if row.status not in ("applied", "failed"):
            # a failed run may have kept part of its changes (pages are committed as they
            # go); undo takes back exactly those. Held and planned runs changed nothing.
            raise UserError(f"run {run_id} is {row.status}; only an applied or failed run can be undone")
        pruned = (loads(row.counts) or {}).get("pruned")
        if pruned:
            # its journal, what an undo puts back, is gone: an undo would set nothing back
            # (or, from the rows a prune keeps, half of it)
            raise UserError(
                f"run {run_id} can no longer be undone: its changes were pruned on {pruned[:10]}"
                " ('contacthub prune'); only its counts are kept"
            )
        kept = conn.execute(
            select(t.changes.c.id)
            .where(
                t.changes.c.run_id == run_id,
                t.changes.c.status == "done",
                t.changes.c.op.not_in(("link", "unlink")),  # records found or let go: no change
            )
            .limit(1)
        ).first()
        if kept is None:  # an undo would only have been one more sync
            raise UserError(f"run {run_id} changed nothing: there is nothing to undo{_let_go(conn, run_id)}")
        _refuse_undone(conn, run_id)
        carried = (loads(row.counts) or {}).get("carried_approvals")
        if carried:
            _refuse_split_approve(conn, run_id, [int(i) for i in carried])
        waiting = _waiting_hold(conn, row.hub_id)
        if waiting is not None:
            # its sync would count the held deletions again, and hold the undo for them in
            # turn (or, when undos were never held, carried them out: the hold superseded)
            raise UserError(
                f"run {waiting} is held, waiting for a decision on its deletions: approve or "
                f"reject it first, then undo run {run_id}"
            )
        hub = Store(conn).hub_by_id(row.hub_id).name
    return run_hub(
        engine,
        hub,
        kind="undo",
        options=Options(dry_run=dry_run),
        parent_id=run_id,
        prepare=undo_preparer(run_id, recheck=lambda conn: _refuse_undone(conn, run_id)),
        progress=progress,
        on_wait=on_wait,
    )


def _refuse_split_approve(conn: Any, run_id: int, held_ids: list[int]) -> None:
    """A sync that carried out an approve killed part way is undone as that approve is: the
    people it deleted come back, the edits it carried stay (``engine.undo``). Where the
    killed approve had made the approved deletions in the hub itself, this run holds none
    of them, and its undo brought none back while it said "applied" (QA): while that
    approve's run stands (not undone), the person is sent to it first. Once it is undone,
    this run's undo takes back its own deletions (one made meanwhile that went along)."""
    store = Store(conn)
    if store.shown_deleted(held_ids) & store.undone_contacts([run_id]):
        return
    killed = conn.execute(
        select(t.runs.c.id)
        .where(t.runs.c.kind == "approve", t.runs.c.parent_id.in_(held_ids), t.runs.c.id < run_id)
        .order_by(t.runs.c.id.desc())
    ).first()
    if killed is None or standing_undos(conn, killed[0]) is not None:
        return
    held = ", ".join(str(i) for i in held_ids)
    raise UserError(
        f"run {run_id} finished the approve of held run {held}, which was killed part way: the "
        f"deletions it let through were made by run {killed[0]}; undo run {killed[0]} to bring "
        f"them back, then run {run_id} for any it made of its own (the edits run {run_id} "
        "carried stay either way)"
    )


def _let_go(conn: Any, run_id: int) -> str:
    """What a run that changed nothing let go after a settings change, said with the
    refusal to undo it: those records are linked again when their connector lists them
    again (its settings changed back), which an undo cannot do. Linked by the undo while
    the settings still leave them out, the next complete read took them for deletions,
    and the people went from every connector."""
    ch, lk, cn = t.changes.c, t.links.c, t.connectors.c
    rows = conn.execute(
        select(cn.name, func.count())
        .select_from(
            t.changes.join(
                t.links, (lk.connector_id == ch.connector_id) & (lk.native_id == ch.native_id)
            ).join(t.connectors, cn.id == ch.connector_id)
        )
        .where(ch.run_id == run_id, ch.op == "unlink", ch.status == "done", lk.state == "unlisted")
        .group_by(cn.name)
        .order_by(cn.name)
    ).all()
    if not rows:
        return ""
    where = ", ".join(f"{n} in {name}" for name, n in rows)
    return (
        f" (the {where} record(s) it let go after a settings change are linked again when"
        " the connector lists them again: change its settings back)"
    )


def _refuse_undone(conn: Connection, run_id: int) -> Remaining | None:
    """Refuse an undo of a run that is undone already; returns what the undo that stands
    left of it (``None``: none stands, all of it is to undo). An undo that stands but
    deferred some of the run (a person deleted since: "restore it first") leaves those
    to a new undo of the run, which takes up only them: refused, the person who followed
    its advice and restored them could never have the run's edit of them undone."""
    standing = standing_undos(conn, run_id)
    if standing is None:
        return None
    chain, left = standing
    if left:
        return Remaining(chain[-1], frozenset(left))
    if len(chain) == 1:
        raise UserError(
            f"run {run_id} is already undone (by run {chain[0]}); "
            f"'contacthub undo {chain[0]}' brings its changes back"
        )
    by = ", ".join(map(str, chain[:-1])) + f" and {chain[-1]}"
    back = ", then ".join(f"'contacthub undo {i}'" for i in reversed(chain))
    raise UserError(f"run {run_id} is already undone (by runs {by}); {back} bring its changes back")


def _waiting_hold(conn: Connection, hub_id: int) -> int | None:
    """The hub's held run still to be decided, if any: its latest held run, unless a later
    run superseded it (``store.holds``, the rule of ``views.superseded``)."""
    return live_hold(conn, hub_id)


def connect(
    engine: Engine, hub_name: str, connector_name: str, ui: ConnectUI, *, invite: bool = False
) -> None:
    """Sign a connector in interactively; its tokens go to the store, encrypted."""
    from contacthub.connectors.registry import connector_class
    from contacthub.engine.run import connector_for

    with engine.connect() as conn:
        store = Store(conn)
        hub = store.hub(hub_name)
        rows = {row.name: row for row in store.connectors(hub.id)}
    found = names.pick(rows, connector_name)  # (typed in another Unicode form)
    if found is None:
        raise NotFoundError(f"hub {hub_name!r} has no connector {connector_name!r}")
    row = rows[found]
    cls = connector_class(row.type)
    config = connector_for(row, hub, engine).config
    cls.connect(config, ui, invite=invite)
    _drop_replaced_secrets(engine, row.id, cls.connect_replaces, f"connector {row.name!r}")


def _drop_replaced_secrets(engine: Engine, connector_id: int, names: frozenset[str], label: str) -> None:
    """Forget the stored hub-file secrets that a successful sign-in replaced: a password
    the hub file once held is kept when the file later leaves it out (``config``), and the
    connector prefers it to the one saved by ``connect``, so a corrected password given
    with ``connect`` was never used. The word given last wins: a later ``apply`` of a file
    that holds the password again stores it again."""
    if not names:
        return
    from contacthub.store import secrets

    with engine.begin() as conn:
        query = select(t.connectors.c.secrets).where(t.connectors.c.id == connector_id)
        stored = secrets.decrypt(conn.execute(query).scalar(), label)
        if not names & set(stored):
            return
        kept = {k: v for k, v in stored.items() if k not in names}
        conn.execute(
            update(t.connectors)
            .where(t.connectors.c.id == connector_id)
            .values(secrets=secrets.encrypt(kept), updated_at=now())
        )
