"""What a person can do with hubs, runs and conflicts: the operations the command line (and
later the web API) share. Each takes an engine and returns plain data, never prints."""

from __future__ import annotations

from collections.abc import Collection
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


def sync(
    engine: Engine,
    hub: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    lock_wait: float | None = None,
) -> Report:
    """One run of ``hub``; ``lock_wait``: seconds to wait for a run of it in progress
    elsewhere (``None``: until it ends; ``0``: raise ``HubBusy`` at once)."""
    return run_hub(engine, hub, options=Options(dry_run=dry_run), progress=progress, lock_wait=lock_wait)


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


def hubs(engine: Engine, only: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Every hub (or those whose id is in ``only``) with its connectors and their settings;
    credentials are never included, only the names of the settings that hold one."""
    from contacthub.connectors.registry import TYPES, connector_class
    from contacthub.store.secrets import REDACTED

    out = []
    with engine.connect() as conn:
        store = Store(conn)
        for hub in store.hubs():
            if only is not None and hub.id not in only:
                continue
            connectors = []
            for row in store.connectors(hub.id):
                settings = dict(row.settings)
                if row.secrets and row.type in TYPES:
                    settings.update({k: REDACTED for k in connector_class(row.type).secret_settings})
                connectors.append(
                    {
                        "id": row.id,
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
                    "id": hub.id,
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


# --- hubs and connectors changed one at a time (the web API; hub files use config.apply) ------

CONNECTOR_KEYS = frozenset({"name", "type", "direction", "operations", "on_delete", "filter", "mapping"})


def create_hub(
    engine: Engine,
    name: str,
    *,
    conflict: str = "newest",
    delete_threshold: str = "10%",
    phone_region: str = "US",
    owner_id: int | None = None,
) -> int:
    """A new empty hub; its id. Hub names are unique across the store (the CLI names hubs)."""
    from sqlalchemy import insert

    from contacthub.config import HubSpec

    spec = _hub_spec(HubSpec, conflict=conflict, delete_threshold=delete_threshold, phone_region=phone_region)
    name = name.strip()
    if not name or len(name) > 200:
        raise UserError("a hub needs a name of 1 to 200 characters")
    with engine.begin() as conn:
        if conn.execute(select(t.hubs.c.id).where(t.hubs.c.name == name)).first() is not None:
            raise UserError(f"a hub named {name!r} exists already: choose another name")
        hub_id = conn.execute(
            insert(t.hubs).values(
                name=name,
                conflict=spec.conflict,
                delete_threshold=str(spec.delete_threshold),
                settings=dumps({"phone_region": spec.phone_region}),
                owner_id=owner_id,
                created_at=now(),
                updated_at=now(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(hub_id)


def update_hub(engine: Engine, hub: str, changes: dict[str, Any]) -> None:
    """Change a hub's conflict policy, deletion threshold or phone region."""
    from contacthub.config import HubSpec

    with engine.begin() as conn:
        row = Store(conn).hub(hub)
        current = {
            "conflict": row.conflict,
            "delete_threshold": row.delete_threshold,
            "phone_region": row.settings.get("phone_region", "US"),
        }
        spec = _hub_spec(HubSpec, **{**current, **{k: v for k, v in changes.items() if v is not None}})
        conn.execute(
            update(t.hubs)
            .where(t.hubs.c.id == row.id)
            .values(
                conflict=spec.conflict,
                delete_threshold=str(spec.delete_threshold),
                settings=dumps({**row.settings, "phone_region": spec.phone_region}),
                updated_at=now(),
            )
        )


def _hub_spec(cls: Any, **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def _connector_spec(values: dict[str, Any], where: str) -> Any:
    """A validated ``config.ConnectorSpec`` (type, filter and mapping checked as a hub file's)."""
    from contacthub.config import ConnectorSpec, connector_class_or_error
    from contacthub.filters import compile_filter
    from contacthub.model import is_known_field

    spec = _hub_spec(ConnectorSpec, **values)
    cls = connector_class_or_error(spec.type, where)
    compile_filter(spec.filter, f"{where} filter")
    for field in spec.mapping:
        if not is_known_field(field):
            raise UserError(f"mapping names unknown field {field!r}", where)
    if spec.on_delete == "deactivate" and not cls.capabilities.deactivate:
        raise UserError(f"{spec.type} connectors cannot deactivate records; use delete or ignore", where)
    return spec


def add_connector(engine: Engine, hub: str, values: dict[str, Any], settings: dict[str, Any]) -> int:
    """A new connector at the end of the hub (lowest priority); its id. ``settings`` are the
    type's settings; those the type declares secret are stored encrypted."""
    from sqlalchemy import func, insert

    from contacthub.connectors.registry import connector_class
    from contacthub.store import secrets

    clash = CONNECTOR_KEYS & set(settings)
    if clash:
        raise UserError(f"{', '.join(sorted(clash))} is not a setting; give it beside the settings")
    spec = _connector_spec({**values, **settings}, f"connector {values.get('name')!r}")
    cls = connector_class(spec.type)
    secret = {k: v for k, v in spec.settings.items() if k in cls.secret_settings}
    plain = {k: v for k, v in spec.settings.items() if k not in cls.secret_settings}
    with engine.begin() as conn:
        row = Store(conn).hub(hub)
        query = select(t.connectors.c.name).where(t.connectors.c.hub_id == row.id)
        names = set(conn.execute(query).scalars())
        if spec.name in names:
            raise UserError(f"hub {hub!r} has a connector named {spec.name!r} already: choose another name")
        position = conn.execute(
            select(func.coalesce(func.max(t.connectors.c.position) + 1, 0)).where(
                t.connectors.c.hub_id == row.id
            )
        ).scalar_one()
        connector_id = conn.execute(
            insert(t.connectors).values(
                hub_id=row.id,
                name=spec.name,
                position=position,
                type=spec.type,
                direction=spec.direction,
                operations=dumps(spec.operations),
                on_delete=spec.on_delete,
                filter=dumps(spec.filter),
                mapping=dumps(spec.mapping),
                settings=dumps(plain),
                secrets=secrets.encrypt(secret),
                created_at=now(),
                updated_at=now(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(connector_id)


def update_connector(
    engine: Engine, connector_id: int, values: dict[str, Any], settings: dict[str, Any] | None = None
) -> None:
    """Change how a connector syncs (direction, operations, on_delete, filter, mapping) and,
    with ``settings``, its settings: keys given replace the old values, a secret left out
    keeps its stored value (secrets are never sent back to be edited). Its type stays."""
    from contacthub.config import _reconsider
    from contacthub.connectors.registry import connector_class
    from contacthub.store import secrets

    with engine.begin() as conn:
        row = conn.execute(select(t.connectors).where(t.connectors.c.id == connector_id)).first()
        if row is None:
            raise NotFoundError(f"no connector {connector_id}")
        cls = connector_class(row.type)
        label = f"connector {row.name!r}"
        old_plain = loads(row.settings) or {}
        old_secret = secrets.decrypt(row.secrets, label) if row.secrets else {}
        current = {
            "name": row.name,
            "type": row.type,
            "direction": row.direction,
            "operations": loads(row.operations),
            "on_delete": row.on_delete,
            "filter": loads(row.filter),
            "mapping": loads(row.mapping),
        }
        new_settings = {**old_plain, **old_secret, **(settings or {})}
        clash = CONNECTOR_KEYS & set(settings or {})
        if clash:
            raise UserError(f"{', '.join(sorted(clash))} is not a setting; give it beside the settings")
        if "type" in values and values["type"] != row.type:
            raise UserError("the type of a connector cannot change: add a new connector instead")
        if "name" in values and values["name"] != row.name:
            taken = conn.execute(
                select(t.connectors.c.id).where(
                    t.connectors.c.hub_id == row.hub_id, t.connectors.c.name == values["name"]
                )
            ).first()
            if taken is not None:
                raise UserError(f"this hub has a connector named {values['name']!r} already")
        spec = _connector_spec({**current, **values, **new_settings}, label)
        secret = {k: v for k, v in spec.settings.items() if k in cls.secret_settings}
        plain = {k: v for k, v in spec.settings.items() if k not in cls.secret_settings}
        conn.execute(
            update(t.connectors)
            .where(t.connectors.c.id == connector_id)
            .values(
                name=spec.name,
                direction=spec.direction,
                operations=dumps(spec.operations),
                on_delete=spec.on_delete,
                filter=dumps(spec.filter),
                mapping=dumps(spec.mapping),
                settings=dumps(plain),
                secrets=secrets.encrypt(secret) if secret != old_secret else row.secrets,
                updated_at=now(),
            )
        )
        _reconsider(conn, connector_id)


def remove_connector(engine: Engine, connector_id: int) -> None:
    """Forget a connector and its links; the records stay in the system."""
    from sqlalchemy import delete

    with engine.begin() as conn:
        conn.execute(delete(t.connectors).where(t.connectors.c.id == connector_id))


def test_connector(engine: Engine, connector_id: int) -> dict[str, Any]:
    """Reach the connector's system (sign-in, folder, server) and read one record: what a
    person wants to know before the first sync. Never raises for the system's answer."""
    from contacthub.connectors.base import Record
    from contacthub.engine.run import connector_for
    from contacthub.errors import ContacthubError

    with engine.connect() as conn:
        store = Store(conn)
        row = conn.execute(select(t.connectors.c.hub_id).where(t.connectors.c.id == connector_id)).first()
        if row is None:
            raise NotFoundError(f"no connector {connector_id}")
        hub = store.hub_by_id(row.hub_id)
        [crow] = [c for c in store.connectors(hub.id) if c.id == connector_id]
    try:
        connector = connector_for(crow, hub, engine)
    except ContacthubError as exc:
        return {"ok": False, "message": str(exc)}
    try:
        connector.check()
        pull = connector.pull(None, {})
        first = next((r for r in pull.records if isinstance(r, Record)), None)
        listed = pull.listed
    except ContacthubError as exc:
        return {"ok": False, "message": str(exc)}
    finally:
        connector.close()
    if first is None:
        return {"ok": True, "message": "connected; no contacts there yet", "listed": listed}
    name = str(first.fields.get("display_name") or first.native_id)
    return {"ok": True, "message": f"connected; {listed} record(s), e.g. {name}", "listed": listed}


# --- contacts ---------------------------------------------------------------------------------


def contact(engine: Engine, contact_id: str) -> dict[str, Any]:
    """One hub contact: its fields, which connector supplied each field and when
    (``sources``), the records linked to it, and its history of changes, newest first."""
    with engine.connect() as conn:
        row = conn.execute(select(t.contacts).where(t.contacts.c.id == contact_id)).first()
        if row is None:
            raise NotFoundError(f"no contact {contact_id}")
        names = dict(
            conn.execute(
                select(t.connectors.c.id, t.connectors.c.name).where(t.connectors.c.hub_id == row.hub_id)
            ).all()
        )
        links = conn.execute(
            select(t.links.c.connector_id, t.links.c.native_id, t.links.c.state).where(
                t.links.c.contact_id == contact_id
            )
        ).all()
        history = conn.execute(
            select(t.changes, t.runs.c.kind, t.runs.c.status.label("run_status"))
            .join(t.runs, t.runs.c.id == t.changes.c.run_id)
            .where(t.changes.c.contact_id == contact_id)
            .order_by(t.changes.c.id.desc())
            .limit(200)
        ).all()
    data = loads(row.data) or {}
    sources: dict[str, list[Any]] = loads(row.sources) or {}
    everywhere = sources.get("*")  # a new contact's compact provenance: every field from one source
    provenance = {}
    for field in data:
        source = sources.get(field) or everywhere or [None, None]
        by = source[0]
        provenance[field] = {
            "connector": "hub" if by is None else names.get(by, f"removed connector {by}"),
            "at": source[1] if len(source) > 1 else None,
        }
    return {
        "id": row.id,
        "hub_id": row.hub_id,
        "deleted": bool(row.deleted),
        "fields": data,
        "provenance": provenance,
        "records": [
            {"connector": names.get(link.connector_id, "?"), "record": link.native_id, "state": link.state}
            for link in links
        ],
        "history": [
            {
                "run": h.run_id,
                "run_kind": h.kind,
                "run_status": h.run_status,
                "at": h.at.isoformat(),
                "connector": h.connector_name,
                "op": h.op,
                "status": h.status,
                "before": loads(h.before),
                "after": loads(h.after),
            }
            for h in history
        ],
    }
