"""The rows the store hands out, and the JSON and batching helpers every part of it uses.

Separate from the ``Store`` because the engine, the service and the config code pass these
rows and helpers around without touching the database: they need the shapes and the
encoding (orjson into TEXT columns, see ``tables``), not a connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

CHUNK = 500  # rows per IN-list: well under SQLite's and PostgreSQL's parameter limits

#: journal ops as a run counts them in its ``changes``: a deactivation is a deletion there,
#: and the hub's ``restore`` (a deleted person back: an undo of a deletion, modification
#: beats deletion) a creation, as the engine counts it when it makes one. One table, read
#: also where a killed run's changes are counted from its journal: without ``restore``
#: there, a killed undo that had brought 900 people back said +0
OP_COUNT = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "deactivate": "delete",
    "restore": "create",
}


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
    #: its settings changed since its last applied run (``tables.connectors``)
    settings_changed: bool = False


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
    #: contacthub wrote the record (True), found it (False), or it is not known (None)
    made: bool | None = None
    #: fields whose place in the connector changed (a mapping added, changed or restored:
    #: ``config._reconsider``) since the record was last read; the first read after takes
    #: the hub's value of them where it has one (``Inbound._merge``), then they are cleared
    remapped: frozenset[str] = frozenset()
    #: deactivated for a deleted person who is back: written once though it agrees, which
    #: reactivates it (``outbound.reactivate``); set and cleared by ``Store.rejoin_links``
    #: and ``Store.reactivated`` only (``update_links`` leaves the column as it is)
    reactivate: bool = False
    #: of the remapped fields, those read from a place another field's mapping left (field
    #: -> the field that moved away: Outlook's ``custom.user1`` -> ``custom.trade`` moved
    #: from "User 1" to "User 2"): what the place still holds of that field is a leftover
    #: (``inbound._remapped_base``). Only meaningful for fields still in ``remapped``
    vacated: Mapping[str, str] | None = None


#: the key under which a link's stored baseline keeps ``LinkRow.remapped`` (no field's name)
REMAPPED = "~remapped"
#: and the key of ``LinkRow.vacated`` (written only beside ``REMAPPED``)
VACATED = "~vacated"


def split_baseline(
    text: str | None,
) -> tuple[dict[str, Any] | None, frozenset[str], dict[str, str] | None]:
    """A stored baseline as the record's fields, the fields remapped since it was read and,
    of those, the ones read from a place another field's mapping left (``LinkRow.vacated``)."""
    baseline = loads(text)
    if baseline is None or REMAPPED not in baseline:
        return baseline, frozenset(), None
    remapped = frozenset(baseline.pop(REMAPPED))
    return baseline, remapped, baseline.pop(VACATED, None)


def baseline_text(
    baseline: dict[str, Any] | None,
    remapped: frozenset[str] = frozenset(),
    vacated: Mapping[str, str] | None = None,
) -> str | None:
    """``split_baseline`` undone: what the links table stores (a link with no baseline
    has no remapped field to mark: it has nothing to compare with anyway). A vacated mark
    goes with its field's remapped mark: a link read or written since keeps neither."""
    if baseline is None:
        return None
    if not remapped:
        return dumps(baseline)
    marked: dict[str, Any] = {**baseline, REMAPPED: sorted(remapped)}
    left = {k: v for k, v in (vacated or {}).items() if k in remapped}
    if left:
        marked[VACATED] = left
    return dumps(marked)


def _contact(row: Any) -> ContactRow:
    return ContactRow(row.id, loads(row.data), loads(row.sources), row.rev, row.deleted, row.uid)


def _link(row: Any) -> LinkRow:
    baseline, remapped, vacated = split_baseline(row.baseline)
    return LinkRow(
        row.id,
        row.connector_id,
        row.contact_id,
        row.native_id,
        row.version,
        baseline,
        row.synced_rev,
        row.state,
        row.made,
        remapped,
        bool(row.reactivate),
        vacated,
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
        bool(row.settings_changed),
    )
