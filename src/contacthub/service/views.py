"""The reads: hubs with their connectors, runs and one run's journal, the conflicts of a hub,
its contacts and one contact's provenance and history. Each returns plain data and changes
nothing; what changes the hubs is in ``actions.py`` and ``editing.py``."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from contacthub.errors import NotFoundError
from contacthub.model_normalize import DEFAULT_REGION, dialled, normalize_phone, phone_key
from contacthub.names import nfc, sort_key
from contacthub.store import tables as t
from contacthub.store.holds import Superseder, superseders
from contacthub.store.repo import Store, loads
from contacthub.times import iso


def _run_row(conn: Any, run_id: int) -> Any:
    row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no run {run_id}")
    return row


def superseded(conn: Any, hub_id: int, held: Collection[int]) -> dict[int, Superseder]:
    """Which of the hub's held runs ``held`` are out of date, each with the run that
    superseded it (``store.holds``: the first run after it that was held, applied, approved
    or rejected). ``actions`` refuses a decision by this rule and every listing shows it by
    this rule, so they cannot disagree; ``prune`` lets such a run go by the same rule."""
    return superseders(conn, hub_id, held)


def out_of_date(run_id: int, later: Superseder) -> str:
    """Why held run ``run_id`` can no longer be approved or rejected, ``later`` being the
    run that superseded it (``superseded``): the refusal, and the dashboard's note. It
    speaks of that run as it is now: still the hold to decide, out of date in turn,
    decided, or applied."""
    if later.status == "held" and later.live:
        return f"run {run_id} is out of date: run {later.id} is the held run to approve or reject"
    if later.status == "held":
        return f"run {run_id} is out of date: run {later.id} was held after it, and is out of date in turn"
    if later.status in ("approved", "rejected"):
        return f"run {run_id} is out of date: run {later.id}, held after it, was {later.status}"
    return (
        f"run {run_id} is out of date: run {later.id} was applied after it and nothing is held "
        "now (a sync holds again any deletions still over the threshold)"
    )


def _run_dict(row: Any, hub_name: str, later: Superseder | None = None) -> dict[str, Any]:
    """A run as the listings show it. A held run that a later run superseded keeps
    ``status: held`` (what it ended as; scripts match on it) and names that run in
    ``superseded_by``, with ``superseded_reason`` saying why it cannot be decided."""
    counts = loads(row.counts) or {}
    return {
        "id": row.id,
        "hub": hub_name,
        "kind": row.kind,
        "status": row.status,
        "parent": row.parent_id,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "changes": counts.get("changes", {}),
        "conflicts": counts.get("conflicts", 0),
        "held": counts.get("held", []),
        "api_calls": counts.get("api_calls", {}),
        "errors": loads(row.errors) or [],
        "message": row.message,
        # when ``contacthub prune`` deleted its journal (``store.history``); None: never
        "pruned": counts.get("pruned"),
        "superseded_by": None if later is None else later.id,
        "superseded_reason": None if later is None else out_of_date(row.id, later),
    }


def runs(engine: Engine, hub: str, limit: int | None = 50, before: int | None = None) -> list[dict[str, Any]]:
    """The hub's ``limit`` newest runs (``None``: all of them), newest first; ``before``:
    those older than that run (the API's next page: keyset paging on the run id, which the
    ``ix_runs_hub`` index serves however many runs a hub has had)."""
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        query = select(t.runs).where(t.runs.c.hub_id == hub_row.id)
        if before is not None:
            query = query.where(t.runs.c.id < before)
        rows = conn.execute(query.order_by(t.runs.c.id.desc()).limit(limit)).all()
        # (``superseded`` looks at every later run, listed on this page or not: one rule)
        held = superseded(conn, hub_row.id, [r.id for r in rows if r.status == "held"])
        return [_run_dict(r, hub, held.get(r.id)) for r in rows]


def run_count(engine: Engine, hub: str) -> int:
    """How many runs the hub has had (kept in the store): what a cut listing says it shows
    a part of (the ``ix_runs_hub`` index counts them)."""
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        query = select(func.count()).select_from(t.runs).where(t.runs.c.hub_id == hub_row.id)
        return int(conn.execute(query).scalar_one())


#: journal rows ``journal_chunks`` reads at a time: a first sync journals tens of thousands,
#: and ``show`` held them all (and their values) in memory before printing the first
JOURNAL_CHUNK = 1000


def show_run(
    engine: Engine,
    run_id: int,
    limit: int | None = None,
    after: int | None = None,
    before: int | None = None,
) -> dict[str, Any]:
    """One run with its journal in change order: all of it, or ``limit`` changes after the
    change ``after`` (the API's pages: a first sync journals tens of thousands), or the
    ``limit`` changes just before the change ``before`` (the dashboard's previous page).
    ``journal_total`` counts the whole journal, and the run's counts (``changes``) are
    those of the whole run whatever the page. ``limit=0``: the run without its journal,
    what ``show`` prints first before it reads the journal in chunks (``journal_chunks``)."""
    with engine.connect() as conn:
        row = _run_row(conn, run_id)
        hub = Store(conn).hub_by_id(row.hub_id)
        later = superseded(conn, row.hub_id, [row.id]).get(row.id) if row.status == "held" else None
        out = _run_dict(row, hub.name, later)
        out["journal_total"] = conn.execute(
            select(func.count()).select_from(t.changes).where(t.changes.c.run_id == run_id)
        ).scalar_one()
        if limit == 0:
            out["journal"] = []
            return out
        c = t.changes.c
        query = select(t.changes).where(c.run_id == run_id)
        if before is not None:
            query = query.where(c.id < before).order_by(c.id.desc()).limit(limit)
            changes = list(reversed(conn.execute(query).all()))
        else:
            if after is not None:
                query = query.where(c.id > after)
            changes = list(conn.execute(query.order_by(c.id).limit(limit)).all())
        out["journal"] = [_change_dict(change) for change in changes]
        return out


def journal_chunks(
    engine: Engine, run_id: int, after: int | None = None, limit: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """A run's journal (``limit`` changes at most, after the change ``after``) in change
    order, ``JOURNAL_CHUNK`` at a time, each read by its own keyset query (the run index
    ``ix_changes_run`` serves it) on a connection held only for that query: ``show`` of a
    40,000-change run held it all, and printing to a slow pipe kept a read open."""
    left = limit
    c = t.changes.c
    while left is None or left > 0:
        size = JOURNAL_CHUNK if left is None else min(JOURNAL_CHUNK, left)
        query = select(t.changes).where(c.run_id == run_id)
        if after is not None:
            query = query.where(c.id > after)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id).limit(size)).all()
        if not rows:
            return
        yield [_change_dict(row) for row in rows]
        if len(rows) < size:
            return
        after = rows[-1].id
        if left is not None:
            left -= len(rows)


def journal_position(engine: Engine, run_id: int, change_id: int) -> int:
    """How many of the run's changes come before the change ``change_id``: where a page of
    its journal starts ("changes 501-1000 of 40,005"), counted on the run index."""
    c = t.changes.c
    with engine.connect() as conn:
        query = select(func.count()).select_from(t.changes).where(c.run_id == run_id, c.id < change_id)
        return int(conn.execute(query).scalar_one())


def _change_dict(c: Any) -> dict[str, Any]:
    """A journal row as ``show``, the API and the dashboard give it."""
    return {
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


def hub_side(hub_source: str | None, source: str) -> str:
    """The name a conflict's hub value is offered under (``conflicts``' values, what
    ``resolve --take`` takes): the connector it came from, or "hub" when it came from none
    or from the conflict's own connector (its older value against its newer one, as after
    an undo brought an old value back). Under that one name, the dashboard offered only
    the newer value, and ``--take NAME`` took the older one."""
    return hub_source if hub_source and hub_source != source else "hub"


def conflicts(
    engine: Engine, hub: str, include_settled: bool = False, *, settled_only: int | None = None
) -> list[dict[str, Any]]:
    """The hub's open conflicts, oldest first (``include_settled``: every conflict).
    ``settled_only=N``: the N most recently settled, newest first, what the dashboard shows
    under the open ones: with ``newest`` or ``priority`` every differing edit is settled
    at once, so a busy hub has many and the page needs only the last."""
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        query = select(t.conflicts, t.contacts.c.data).join(
            t.contacts, t.contacts.c.id == t.conflicts.c.contact_id
        )
        query = query.where(t.conflicts.c.hub_id == hub_row.id)
        if settled_only is not None:
            query = query.where(t.conflicts.c.status != "open")
            query = query.order_by(t.conflicts.c.id.desc()).limit(settled_only)
        elif not include_settled:
            query = query.where(t.conflicts.c.status == "open")
        out = []
        for r in conn.execute(query if settled_only is not None else query.order_by(t.conflicts.c.id)):
            data = loads(r.data) or {}
            out.append(
                {
                    "id": r.id,
                    "contact": r.contact_id,
                    "name": data.get("display_name", ""),
                    "field": r.field,
                    "status": r.status,
                    "values": {
                        hub_side(r.hub_source, r.source): loads(r.hub_value),
                        r.source: loads(r.value),
                    },
                    "hub": loads(r.hub_value),
                    "hub_source": r.hub_source,
                    "incoming": loads(r.value),
                    "source": r.source,
                    # an open conflict keeps the winner of a resolve an undo took back
                    # (``undo._reopen_resolved``), for an undo of that undo; not its winner
                    "winner": None if r.status == "open" else r.winner,
                    "run": r.run_id,
                }
            )
        return out


def hubs(engine: Engine, only: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Every hub (or those whose id is in ``only``) with its connectors and their settings;
    credentials are never included, only the names of the settings that hold one, nor a
    URL's password or query values named like a secret (``hide_url_secrets``)."""
    from contacthub.connectors.registry import TYPES
    from contacthub.store.secrets import REDACTED, hide_url_secrets

    out = []
    with engine.connect() as conn:
        store = Store(conn)
        for hub in store.hubs():
            if only is not None and hub.id not in only:
                continue
            connectors = []
            for row in store.connectors(hub.id):
                settings = {k: hide_url_secrets(v) for k, v in row.settings.items()}
                if row.secrets and row.type in TYPES:
                    settings.update({k: REDACTED for k in _stored_secrets(row)})
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
                    else {"id": last.id, "status": last.status, "started_at": iso(last.started_at)},
                }
            )
    return out


def contacts_of(engine: Engine, hub: str, search: str | None = None) -> list[dict[str, Any]]:
    """The live hub contacts (``search``: a text anywhere in them, as ``search_terms``
    reads it), by name."""
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        rows = conn.execute(
            select(t.contacts.c.id, t.contacts.c.data).where(
                t.contacts.c.hub_id == hub_row.id, t.contacts.c.deleted.is_(False)
            )
        ).all()
    terms = search_terms(search, _region(hub_row.settings))
    out = [found for contact_id, data in rows if (found := _found(contact_id, data, terms)) is not None]
    return sorted(out, key=by_name)


def by_name(contact: dict[str, Any]) -> tuple[str, str, str]:
    """Where a contact (``contacts_of``'s) is in a list by name: as a person sorts names
    (``names.sort_key``: Émile among the E's, Łukasz among the L's; by code point they came
    after Z), then by the name as written and by id, so that every two have one order (the
    dashboard pages by this key: a tie would repeat or skip a contact at a page's edge)."""
    return name_place(str(contact.get("display_name") or ""), str(contact["id"]))


def name_place(name: str, contact_id: str) -> tuple[str, str, str]:
    """``by_name``'s key of a contact named ``name`` with id ``contact_id``."""
    return sort_key(name), name, contact_id


#: contacts ``contacts_page`` reads at a time (a search reads on until enough match)
CONTACTS_CHUNK = 500


def contacts_page(
    engine: Engine, hub: str, search: str | None = None, limit: int = 100, after: str | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` live hub contacts matching ``search``, in contact id order, after the
    contact ``after``: the API's pages. The database reads them in id order from ``after``
    (the ``ix_contacts_hub_live`` index) a chunk at a time and stops once ``limit`` match:
    the API loaded every contact of the hub and sorted them by name to send the first 100."""
    c = t.contacts.c
    out: list[dict[str, Any]] = []
    chunk = max(limit, CONTACTS_CHUNK)
    with engine.connect() as conn:
        hub_row = Store(conn).hub(hub)
        terms = search_terms(search, _region(hub_row.settings))
        while True:
            query = select(c.id, c.data).where(c.hub_id == hub_row.id, c.deleted.is_(False))
            if after is not None:
                query = query.where(c.id > after)
            rows = conn.execute(query.order_by(c.id).limit(chunk)).all()
            for contact_id, data in rows:
                found = _found(contact_id, data, terms)
                if found is not None:
                    out.append(found)
                    if len(out) == limit:
                        return out
            if len(rows) < chunk:
                return out
            after = rows[-1].id


def search_terms(search: str | None, region: str = DEFAULT_REGION) -> tuple[str, ...]:
    """What a search for ``search`` looks for, case-folded (none: every contact): the text
    in the Unicode form every stored value is in (NFC, ``clean_text``), so a name typed
    decomposed, ``e`` and a combining accent as macOS and some keyboards give it, finds the
    composed one the hub holds (it found nothing). A number as dialled, "(415) 555-0005",
    is also looked for in the form the hub stores phones in (E.164 by ``normalize_phone``,
    with the hub's ``phone_region``) and without its punctuation, so that a part of one,
    "415 555", finds "+14155550005" too. Spaces are kept: " x" looks for a word that
    starts with x."""
    text = nfc(search or "")
    if not text:
        return ()
    terms = [text.casefold()]
    compact = dialled(text)
    if compact is not None and len(phone_key(text)) >= 3:
        for form in (normalize_phone(text, region), compact):
            if form.casefold() not in terms:
                terms.append(form.casefold())
    return tuple(terms)


def _region(settings: dict[str, Any] | None) -> str:
    return str((settings or {}).get("phone_region") or DEFAULT_REGION)


def _found(contact_id: str, data: str, terms: tuple[str, ...]) -> dict[str, Any] | None:
    """The contact as the listings show it, or None when it holds none of ``terms``."""
    if terms:
        folded = data.casefold()
        # a quick no on the stored JSON, for the terms it holds as they are (JSON writes a
        # quote, a backslash or a control character escaped: a search for O"Brien found none)
        if not any(term in folded or not _as_in_json(term) for term in terms):
            return None
    fields = loads(data) or {}
    if terms:
        texts = "\n".join(_texts(fields)).casefold()
        if not any(term in texts for term in terms):
            return None  # only in a field's name ("work", "primary"): every contact matched
    return {"id": contact_id, **fields}


def _as_in_json(term: str) -> bool:
    """Whether ``term`` is written in a JSON document as it is (no escapes)."""
    return term.isprintable() and '"' not in term and "\\" not in term


def _texts(value: Any) -> Iterator[str]:
    """Every text a contact's fields hold, without their names (types included: a search
    for "fax" finds fax numbers)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str):
        yield value


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
                "at": iso(h.at),
                "connector": h.connector_name,
                "op": h.op,
                "status": h.status,
                "before": loads(h.before),
                "after": loads(h.after),
            }
            for h in history
        ],
    }


def _stored_secrets(row: Any) -> list[str]:
    """The names of the secret settings the connector holds a value for (never the values):
    every secret of its type was listed as stored, and the page offered to keep a
    ``client_secret`` that was never given. Undecryptable (another key): all of them."""
    from contacthub.connectors.registry import connector_class
    from contacthub.errors import ConfigError
    from contacthub.store.secrets import decrypt

    names = connector_class(row.type).secret_settings
    try:
        held = decrypt(row.secrets, f"connector {row.name!r}")
    except ConfigError:
        return sorted(names)
    return sorted(k for k in names if held.get(k) not in (None, ""))
