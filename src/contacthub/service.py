"""What a person can do with hubs, runs and conflicts: the operations the command line (and
later the web API) share. Each takes an engine and returns plain data, never prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update

from contacthub.engine.context import Options, Progress, Report
from contacthub.engine.run import held_figures, run_hub
from contacthub.engine.undo import undo_preparer
from contacthub.errors import NotFoundError, UserError
from contacthub.model import match_keys
from contacthub.store import tables as t
from contacthub.store.repo import Store, dumps, loads, now

if TYPE_CHECKING:
    from contacthub.connectors.base import ConnectUI


def sync(engine: Engine, hub: str, *, dry_run: bool = False, progress: Progress | None = None) -> Report:
    return run_hub(engine, hub, options=Options(dry_run=dry_run), progress=progress)


def _run_row(conn: Any, run_id: int) -> Any:
    row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no run {run_id}")
    return row


def _run_dict(row: Any, hub_name: str) -> dict[str, Any]:
    counts = loads(row.counts) or {}
    return {
        "id": row.id,
        "hub": hub_name,
        "kind": row.kind,
        "status": row.status,
        "parent": row.parent_id,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "changes": counts.get("changes", {}),
        "conflicts": counts.get("conflicts", 0),
        "held": counts.get("held", []),
        "api_calls": counts.get("api_calls", {}),
        "errors": loads(row.errors) or [],
        "message": row.message,
    }


def runs(engine: Engine, hub: str, limit: int = 50) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        rows = conn.execute(
            select(t.runs).where(t.runs.c.hub_id == hub_row.id).order_by(t.runs.c.id.desc()).limit(limit)
        ).all()
        return [_run_dict(r, hub) for r in rows]


def show_run(engine: Engine, run_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = _run_row(conn, run_id)
        hub = Store(conn).hub_by_id(row.hub_id)
        out = _run_dict(row, hub.name)
        changes = conn.execute(
            select(t.changes).where(t.changes.c.run_id == run_id).order_by(t.changes.c.id)
        ).all()
        out["journal"] = [
            {
                "id": c.id,
                "connector": c.connector_name,
                "contact": c.contact_id,
                "record": c.native_id,
                "op": c.op,
                "status": c.status,
                "before": loads(c.before),
                "after": loads(c.after),
                "error": c.error,
            }
            for c in changes
        ]
        return out


def conflicts(engine: Engine, hub: str, include_settled: bool = False) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        query = select(t.conflicts, t.contacts.c.data).join(
            t.contacts, t.contacts.c.id == t.conflicts.c.contact_id
        )
        query = query.where(t.conflicts.c.hub_id == hub_row.id)
        if not include_settled:
            query = query.where(t.conflicts.c.status == "open")
        out = []
        for r in conn.execute(query.order_by(t.conflicts.c.id)):
            data = loads(r.data) or {}
            out.append(
                {
                    "id": r.id,
                    "contact": r.contact_id,
                    "name": data.get("display_name", ""),
                    "field": r.field,
                    "status": r.status,
                    "values": {r.hub_source or "hub": loads(r.hub_value), r.source: loads(r.value)},
                    "hub": loads(r.hub_value),
                    "hub_source": r.hub_source,
                    "incoming": loads(r.value),
                    "source": r.source,
                    "winner": r.winner,
                    "run": r.run_id,
                }
            )
        return out


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
        if row.hub_source and row.hub_source != "hub":
            choices[row.hub_source] = loads(row.hub_value)
        if take not in choices:
            raise UserError(
                f"conflict {conflict_id} is between {', '.join(sorted(choices))}; --take one of them"
            )
        store = Store(conn)
        contact = store.contacts([row.contact_id])[row.contact_id]
        before = contact.data.get(row.field)
        if take != "hub":
            value = choices[take]
            if value in (None, "", []):
                contact.data.pop(row.field, None)
            else:
                contact.data[row.field] = value
            contact.sources[row.field] = [None, now().isoformat()]
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
                    "before": dumps({row.field: before}),
                    "after": dumps({row.field: contact.data.get(row.field)}),
                    "status": "done",
                    "error": None,
                    "at": now(),
                }
            ]
        )
        store.finish_run(run_id, "applied", {"changes": {"hub": {"create": 0, "update": 1, "delete": 0}}}, [])
        conn.execute(
            update(t.conflicts)
            .where(t.conflicts.c.id == conflict_id)
            .values(status="resolved", winner=take, resolved_at=now())
        )
        return {
            "conflict": conflict_id,
            "field": row.field,
            "value": contact.data.get(row.field),
            "run": run_id,
        }


def _held(engine: Engine, run_id: int, new_status: str) -> tuple[str, Any]:
    with engine.begin() as conn:
        row = _run_row(conn, run_id)
        if row.status != "held":
            raise UserError(
                f"run {run_id} is {row.status}, not held; only a held run can be approved or rejected"
            )
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(status=new_status))
        return Store(conn).hub_by_id(row.hub_id).name, row


def approve(engine: Engine, run_id: int, progress: Progress | None = None) -> Report:
    """Let a held run's deletions happen: a new run, allowed up to the figures that were held."""
    hub, row = _held(engine, run_id, "approved")
    options = Options(approved=held_figures(row.counts))
    return run_hub(engine, hub, kind="approve", options=options, parent_id=run_id, progress=progress)


def reject(engine: Engine, run_id: int, progress: Progress | None = None) -> Report:
    """Refuse a held run's deletions: records that vanished are put back from the hub, and
    the connectors it would have deleted in keep their records (unlinked)."""
    hub, row = _held(engine, run_id, "rejected")
    ids = frozenset(held_figures(row.counts))
    return run_hub(
        engine,
        hub,
        kind="reject",
        options=Options(rejected=ids),
        parent_id=run_id,
        progress=progress,
    )


def undo(engine: Engine, run_id: int, progress: Progress | None = None) -> Report:
    with engine.connect() as conn:
        row = _run_row(conn, run_id)
        if row.status != "applied":
            raise UserError(f"run {run_id} is {row.status}; only an applied run can be undone")
        hub = Store(conn).hub_by_id(row.hub_id).name
    return run_hub(
        engine,
        hub,
        kind="undo",
        options=Options(no_hold=True),
        parent_id=run_id,
        prepare=undo_preparer(run_id),
        progress=progress,
    )


def hubs(engine: Engine) -> list[dict[str, Any]]:
    """Every hub with its connectors and their settings; credentials are never included,
    only the names of the settings that hold one."""
    from contacthub.connectors.registry import TYPES, connector_class
    from contacthub.store.secrets import REDACTED

    out = []
    with engine.connect() as conn:
        store = Store(conn)
        for hub in store.hubs():
            connectors = []
            for row in store.connectors(hub.id):
                settings = dict(row.settings)
                if row.secrets and row.type in TYPES:
                    settings.update({k: REDACTED for k in connector_class(row.type).secret_settings})
                connectors.append(
                    {
                        "name": row.name,
                        "type": row.type,
                        "direction": row.direction,
                        "operations": row.operations,
                        "on_delete": row.on_delete,
                        "filter": row.filter,
                        "mapping": row.mapping,
                        "settings": settings,
                    }
                )
            last = conn.execute(
                select(t.runs.c.id, t.runs.c.status, t.runs.c.started_at)
                .where(t.runs.c.hub_id == hub.id)
                .order_by(t.runs.c.id.desc())
                .limit(1)
            ).first()
            out.append(
                {
                    "name": hub.name,
                    "conflict": hub.conflict,
                    "delete_threshold": hub.delete_threshold,
                    "settings": hub.settings,
                    "connectors": connectors,
                    "last_run": None
                    if last is None
                    else {"id": last.id, "status": last.status, "started_at": last.started_at.isoformat()},
                }
            )
    return out


def contacts_of(engine: Engine, hub: str, search: str | None = None) -> list[dict[str, Any]]:
    """The live hub contacts (``search``: a case-insensitive text anywhere in them)."""
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        rows = conn.execute(
            select(t.contacts.c.id, t.contacts.c.data).where(
                t.contacts.c.hub_id == hub_row.id, t.contacts.c.deleted.is_(False)
            )
        ).all()
    out = []
    needle = (search or "").casefold()
    for contact_id, data in rows:
        if needle and needle not in data.casefold():
            continue
        out.append({"id": contact_id, **(loads(data) or {})})
    return sorted(out, key=lambda c: str(c.get("display_name", "")).casefold())


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
    if connector_name not in rows:
        raise NotFoundError(f"hub {hub_name!r} has no connector {connector_name!r}")
    row = rows[connector_name]
    cls = connector_class(row.type)
    config = connector_for(row, hub, engine).config
    cls.connect(config, ui, invite=invite)
