"""Hubs and connectors changed one at a time, as the web API does (hub files use
``config.apply``): create and change hubs, add, change, remove and test connectors. Every
value is checked as a hub file's would be (``config.HubSpec``, ``config.ConnectorSpec``), and
secret settings are stored encrypted. Separate because it edits configuration, not contacts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from contacthub import names
from contacthub.errors import NotFoundError, UserError
from contacthub.store import tables as t
from contacthub.store.repo import Store, dumps, loads, now

CONNECTOR_KEYS = frozenset({"name", "type", "direction", "operations", "on_delete", "filter", "mapping"})
#: settings naming a file, folder or address that the server itself opens: an admin's to
#: set (a user pointed a CSV connector at /etc/passwd, a folder at another user's cards,
#: or an API connector at an internal address, and the server read and wrote them)
SERVER_SIDE = frozenset(
    {
        "path", "url", "base_url", "login_url", "oauth_url", "api_domain", "authority_url",
        "graph_url", "exchange_url", "ca_file", "certificate_key_file", "notify_url",
        "redirect_uri", "verify",
    }
)  # fmt: skip


def _admin_only(
    settings: dict[str, Any], old: dict[str, Any], admin: bool, where: str, sent: dict[str, Any] | None = None
) -> None:
    """Refuse a non-admin's change of a ``SERVER_SIDE`` setting (unchanged ones may be sent
    back, as the dashboard's settings box does). ``sent``: the values as the request gave
    them, before masked query values were filled in from the stored URL. A URL sent back
    unchanged comes as it is shown, its query values masked; one that spells a value out
    is a change even when the value is the stored one: taken as unchanged, the answer told
    the hub's owner whether a guess of the admin's token was right (200 against 400), as
    often as they liked (QA)."""
    if admin:
        return
    from contacthub.redact import hide_url_secrets as hide_query

    spelt = {
        k
        for k, v in (sent or {}).items()
        if k in SERVER_SIDE and isinstance(v, str) and "://" in v and hide_query(v) != v
    }
    changed = sorted(k for k in SERVER_SIDE & set(settings) if k in spelt or settings[k] != old.get(k))
    if changed:
        raise UserError(
            f"only an admin may set {', '.join(changed)}: they name files or addresses the server opens",
            where,
        )


def _settings_in(
    cls: Any, settings: dict[str, Any], old_secret: dict[str, Any], where: str
) -> dict[str, Any]:
    """Settings as stored: a password written into a URL taken out of it (kept encrypted,
    as ``apply`` does), and a masked one (the dashboard shows ``user:********@``) read as
    "unchanged"."""
    from contacthub.store import secrets

    out = secrets.settings_credentials(settings, cls.secret_settings, where)
    if out.get("password") == secrets.REDACTED:
        out.pop("password")
        if "password" in old_secret:
            out["password"] = old_secret["password"]
    return out


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

    from contacthub.config import HubSpec, hub_name

    spec = _hub_spec(HubSpec, conflict=conflict, delete_threshold=delete_threshold, phone_region=phone_region)
    try:
        name = hub_name(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        with engine.begin() as conn:
            taken = conn.execute(  # (one stored in NFD before looks the same)
                select(t.hubs.c.owner_id).where(t.hubs.c.name.in_(names.spellings(name)))
            ).first()
            if taken is not None:
                raise UserError(_name_taken(name, mine=owner_id is not None and taken.owner_id == owner_id))
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
    except IntegrityError:  # the same name created at the same moment?
        with engine.connect() as conn:
            if conn.execute(select(t.hubs.c.id).where(t.hubs.c.name == name)).first() is None:
                raise
        raise UserError(_name_taken(name, mine=False)) from None
    return int(hub_id)


def _name_taken(name: str, *, mine: bool) -> str:
    """Hub names are unique across every user of the service (the command line names hubs),
    so a name can be taken by someone else's hub. That is all the answer says: "exists
    already" told a user that another's hub of that name was there (an admin's dashboard
    and the command line show it; a user's own list never does)."""
    if mine:
        return f"you have a hub named {name!r} already: choose another name"
    return f"the hub name {name!r} is not available: choose another name"


def update_hub(engine: Engine, hub: str, changes: dict[str, Any]) -> None:
    """Change a hub's conflict policy, deletion threshold or phone region (another region
    has each record read again: ``config.reread_for_region``)."""
    from contacthub.config import HubSpec, reread_for_region

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
        reread_for_region(conn, row.id, row.settings, {"phone_region": spec.phone_region})


def _hub_spec(cls: Any, **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def _connector_spec(values: dict[str, Any], where: str, stored_filter: Any = None) -> Any:
    """A validated ``config.ConnectorSpec`` (type, filter and mapping checked as a hub file's).
    A filter as it is stored (``stored_filter``) is checked as runs read it: one an older
    version took (``in [""]``) must not keep the connector from any other edit (QA)."""
    from contacthub.config import ConnectorSpec, connector_class_or_error
    from contacthub.filters import compile_filter
    from contacthub.model import is_known_field

    spec = _hub_spec(ConnectorSpec, **values)
    cls = connector_class_or_error(spec.type, where)
    compile_filter(spec.filter, f"{where} filter", strict=spec.filter != stored_filter)
    for field in spec.mapping:
        if not is_known_field(field):
            raise UserError(f"mapping names unknown field {field!r}", where)
    if spec.on_delete == "deactivate" and not cls.capabilities.deactivate:
        raise UserError(f"{spec.type} connectors cannot deactivate records; use delete or ignore", where)
    return spec


def add_connector(
    engine: Engine, hub: str, values: dict[str, Any], settings: dict[str, Any], *, admin: bool = True
) -> int:
    """A new connector at the end of the hub (lowest priority); its id. ``settings`` are the
    type's settings; those the type declares secret are stored encrypted. Settings naming
    files or addresses the server opens are an ``admin``'s to give."""
    from sqlalchemy import func, insert

    from contacthub.config import _check_settings, absolute_paths
    from contacthub.connectors.registry import connector_class
    from contacthub.store import secrets

    clash = CONNECTOR_KEYS & set(settings)
    if clash:
        raise UserError(f"{', '.join(sorted(clash))} is not a setting; give it beside the settings")
    where = f"connector {values.get('name')!r}"
    _admin_only(settings, {}, admin, where)
    spec = _connector_spec({**values, **settings}, where)
    cls = connector_class(spec.type)
    stored = _settings_in(cls, spec.settings, {}, where)
    absolute_paths(cls, stored, None, where)  # no hub file: no folder to start from
    _check_settings(cls, spec, hub, where, stored)
    plain, secret = secrets.split_settings(stored, cls.secret_settings)
    with engine.begin() as conn:
        row = Store(conn).hub(hub)
        query = select(t.connectors.c.name).where(t.connectors.c.hub_id == row.id)
        taken = set(conn.execute(query).scalars())
        if names.pick(taken, spec.name) is not None:  # (one stored in NFD looks the same)
            raise UserError(f"hub {hub!r} has a connector named {spec.name!r} already: choose another name")
        _same_place(conn, row.id, hub, None, spec.name, plain, where)
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
    engine: Engine,
    connector_id: int,
    values: dict[str, Any],
    settings: dict[str, Any] | None = None,
    *,
    admin: bool = True,
) -> None:
    """Change how a connector syncs (direction, operations, on_delete, filter, mapping) and,
    with ``settings``, its settings: keys given replace the old values, a secret left out
    keeps its stored value (secrets are never sent back to be edited), and so does a URL's
    query value sent back masked as it is shown. Its type stays. A change of location
    (path, URL...) forgets its links, as in ``apply``."""
    from contacthub.config import _check_settings, _reconsider_change, absolute_paths
    from contacthub.connectors.registry import connector_class
    from contacthub.store import secrets

    with _between_runs(engine, connector_id), engine.begin() as conn:
        row = conn.execute(select(t.connectors).where(t.connectors.c.id == connector_id)).first()
        if row is None:
            raise NotFoundError(f"no connector {connector_id}")
        cls = connector_class(row.type)
        label = f"connector {row.name!r}"
        old_secret = secrets.decrypt(row.secrets, label) if row.secrets else {}
        # as the connector gets them: a URL with a query is whole in the secrets
        old_plain = {**(loads(row.settings) or {}), **old_secret}
        old_plain = {k: v for k, v in old_plain.items() if k not in cls.secret_settings}
        current = {
            "name": row.name,
            "type": row.type,
            "direction": row.direction,
            "operations": loads(row.operations),
            "on_delete": row.on_delete,
            "filter": loads(row.filter),
            "mapping": loads(row.mapping),
        }
        clash = CONNECTOR_KEYS & set(settings or {})
        if clash:
            raise UserError(f"{', '.join(sorted(clash))} is not a setting; give it beside the settings")
        # a key stored before types declared their settings (a misspelt ``fliter``) was
        # never read: it is dropped, not refused, or the connector could not be edited here;
        # also when sent back as it is shown (the dashboard's form, a client that PATCHes
        # what it GETs); given another value, it is refused like any unknown key
        keys = cls.known_settings | cls.secret_settings
        sent = {k: v for k, v in (settings or {}).items() if k in keys or old_plain.get(k, object()) != v}
        raw = sent
        sent = {k: secrets.unhide_url_secrets(v, old_plain.get(k)) for k, v in sent.items()}
        given = _settings_in(cls, sent, old_secret, label)
        _admin_only(given, old_plain, admin, label, raw)
        # a stored null (``trash_days = inf`` by an older version) is dropped, not refused:
        # refused, no other change of the connector could be made (``run.connector_for``)
        kept = {**old_plain, **old_secret}.items()
        new_settings = {k: v for k, v in kept if k in keys and v is not None} | given
        if "type" in values and values["type"] != row.type:
            raise UserError("the type of a connector cannot change: add a new connector instead")
        if isinstance(values.get("name"), str):  # compared and stored as NFC (``names``)
            values = {**values, "name": names.nfc(values["name"])}
        if "name" in values and values["name"] != row.name:
            others = conn.execute(
                select(t.connectors.c.name).where(
                    t.connectors.c.hub_id == row.hub_id, t.connectors.c.id != connector_id
                )
            ).scalars()
            if names.pick(others, values["name"]) is not None:
                raise UserError(f"this hub has a connector named {values['name']!r} already")
        spec = _connector_spec({**current, **values, **new_settings}, label, current["filter"])
        absolute_paths(cls, spec.model_extra or {}, None, label)
        hub_name = conn.execute(select(t.hubs.c.name).where(t.hubs.c.id == row.hub_id)).scalar_one()
        _check_settings(cls, spec, hub_name, label)
        plain, secret = secrets.split_settings(spec.settings, cls.secret_settings)
        _same_place(conn, row.hub_id, hub_name, connector_id, spec.name, plain, label)
        Store(conn).rename_in_conflicts(row.hub_id, row.name, spec.name)
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
        stored = {"settings": dumps(plain), "mapping": dumps(spec.mapping)}
        _reconsider_change(conn, row, stored)


def _same_place(
    conn: Any, hub_id: int, hub: str, connector_id: int | None, name: str, plain: dict[str, Any], where: str
) -> None:
    """Refuse a connector on the folder, file or address book of another of its hub
    (``config.check_locations``, as ``apply`` does)."""
    from contacthub.config import check_locations

    query = select(t.connectors.c.name, t.connectors.c.settings).where(
        t.connectors.c.hub_id == hub_id, t.connectors.c.id != (connector_id or -1)
    )
    others = [(other, loads(text) or {}) for other, text in conn.execute(query)]
    check_locations(hub, [*others, (name, plain)], where)


def remove_connector(engine: Engine, connector_id: int) -> None:
    """Forget a connector and its links; the records stay in the system."""
    from sqlalchemy import delete

    with _between_runs(engine, connector_id), engine.begin() as conn:
        conn.execute(delete(t.connectors).where(t.connectors.c.id == connector_id))


EDIT_WAIT = 30.0  # seconds a change of a connector waits for a run of its hub to end


@contextlib.contextmanager
def _between_runs(engine: Engine, connector_id: int) -> Iterator[None]:
    """Hold the lock of the connector's hub: a connector changed or removed under a running
    run failed it half-way (a foreign-key error) and left it "applying". A request waits
    ``EDIT_WAIT`` seconds, then is refused as busy (409): a page should not hang on a long
    run (``HubBusy``: 409). (A connector that does not exist is the body's to say.)"""
    from contacthub.scheduler.lock import HubBusy, hub_lock

    with engine.connect() as conn:
        hub = conn.execute(
            select(t.hubs.c.name)
            .join(t.connectors, t.connectors.c.hub_id == t.hubs.c.id)
            .where(t.connectors.c.id == connector_id)
        ).scalar()
    if hub is None:
        yield
        return
    try:
        with hub_lock(engine, hub, wait=EDIT_WAIT):
            yield
    except HubBusy as exc:
        raise HubBusy(f"hub {hub!r} is being synced; change its connectors when the run ends") from exc


TEST_READ_LIMIT = 1000  # records a connection test counts before it stops reading


def test_connector(engine: Engine, connector_id: int) -> dict[str, Any]:
    """Reach the connector's system (sign-in, folder, server) and read its records: what a
    person wants to know before the first sync. Never raises for the system's answer.

    The records are counted as they are read: ``Pull.listed`` is only known once they all
    have been, and for a hosted system (read page by page) it was still 0 after the first
    ("0 record(s), e.g. Hannah Nowak"). The count stops at ``TEST_READ_LIMIT``: a test is
    not a sync, and a large directory would cost minutes and API budget."""
    from contacthub.connectors.base import Record
    from contacthub.engine.run import connector_for
    from contacthub.errors import ContacthubError
    from contacthub.redact import redact, scrub

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
        return {"ok": False, "message": redact(str(exc))}
    first: Record | None = None
    listed = unreadable = 0
    more = False
    try:
        connector.check()
        for item in connector.pull(None, {}).records:
            if listed + unreadable >= TEST_READ_LIMIT:
                more = True
                break
            if isinstance(item, Record):
                listed += 1
                first = first or item
            else:
                unreadable += 1
    except ContacthubError as exc:
        return {"ok": False, "message": scrub(str(exc), connector.secret_values())}
    finally:
        connector.close()
    count = f"{'at least ' if more else ''}{listed} record(s)" + (
        f", {unreadable} unreadable" if unreadable else ""
    )
    if first is None:
        message = f"connected; {count}" if unreadable else "connected; no contacts there yet"
        return {"ok": True, "message": message, "listed": listed}
    name = str(first.fields.get("display_name") or first.native_id)
    return {"ok": True, "message": f"connected; {count}, e.g. {name}", "listed": listed}
