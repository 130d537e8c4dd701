"""An in-memory connector: the test double for a system (vdirsyncer's ``MemoryStorage``).

Its books live in ``BOOKS`` under the ``book`` setting, so they outlive one run's connector
object the way a real system outlives a process. It passes the conformance suite like any
other connector, which is what makes it a fair stand-in in the engine tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from contacthub.connectors import registry
from contacthub.connectors.base import Capabilities, Connector, Pull, Record, WriteOp, WriteResult
from contacthub.errors import (
    FatalConnectorError,
    RecordNotFoundError,
    StaleVersionError,
    UndeletableRecordError,
)
from contacthub.model import fields_equal

_versions = itertools.count(1)
_clock = itertools.count(1)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def tick() -> datetime:
    """A strictly increasing modification time, so 'newest' is well defined in tests."""
    return EPOCH + timedelta(seconds=next(_clock))


@dataclass
class Item:
    fields: dict[str, Any]
    version: str
    modified: datetime
    hub_id: str | None = None


@dataclass
class Book:
    items: dict[str, Item] = field(default_factory=dict)
    fail_writes: bool = False
    #: its listing fails (the system is down): the run fails
    fail_pull: bool = False
    writes: int = 0
    #: ids the system never deletes nor deactivates (a GAL's directory users)
    undeletable: set[str] = field(default_factory=set)

    def put(self, native_id: str, fields: dict[str, Any], hub_id: str | None = None) -> None:
        self.items[native_id] = Item(dict(fields), f"v{next(_versions)}", tick(), hub_id)

    def edit(self, native_id: str, **changes: Any) -> None:
        item = self.items[native_id]
        new = dict(item.fields)
        for k, v in changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        self.put(native_id, new, item.hub_id)

    def by_hub(self) -> dict[str, dict[str, Any]]:
        return {nid: i.fields for nid, i in self.items.items()}


BOOKS: dict[str, Book] = {}


class MemoryConnector(Connector):
    type = "memory"
    #: ``hidden``: native ids the book does not list, as a GAL leaves out the users outside
    #: its ``member_of`` (a setting that narrows what a connector lists); ``split_names``:
    #: a name written without parts is held split at its first space, as Pipedrive does
    known_settings: ClassVar[frozenset[str]] = frozenset({"book", "fields", "hidden", "split_names"})
    scope_settings: ClassVar[frozenset[str]] = frozenset({"hidden"})
    capabilities: ClassVar[Capabilities] = Capabilities(deactivate=True, batch_size=7)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.book = BOOKS.setdefault(config.settings["book"], Book())
        held = config.settings.get("fields")
        self._fields = frozenset(held) if held else None
        self.hidden = frozenset(config.settings.get("hidden") or ())
        self.split_names = bool(config.settings.get("split_names"))
        self.calls = {"LIST": 0, "WRITE": 0}

    def api_calls(self) -> dict[str, int]:
        return {k: v for k, v in self.calls.items() if v}

    @property
    def fields(self) -> frozenset[str] | None:
        return self._fields

    def read_back(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """With ``split_names``, a display name without parts comes back split (Pipedrive's
        first and last name, ``pipedrive_map.as_held``)."""
        name = str(fields.get("display_name") or "")
        if not self.split_names or not name or fields.get("given_name") or fields.get("family_name"):
            return dict(fields)
        first, _, last = name.partition(" ")
        return {**fields, **{k: v for k, v in (("given_name", first), ("family_name", last)) if v}}

    def undeletable(self, native_id: str) -> str | None:
        return "this book never deletes it" if native_id in self.book.undeletable else None

    def _record(self, nid: str, item: Item) -> Record:
        from contacthub.model import project

        return Record(
            nid,
            item.version,
            project(item.fields, self._fields),
            item.modified,
            item.hub_id,
            f"memory:{nid}",
        )

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        self.calls["LIST"] += 1
        if self.book.fail_pull:
            raise FatalConnectorError("the book is down", self.name)
        items = {n: i for n, i in self.book.items.items() if n not in self.hidden}
        changed = [self._record(n, i) for n, i in items.items() if known.get(n) != i.version]
        return Pull(iter(changed), set(known) - set(items), True, len(items), None)

    def get(self, native_id: str) -> Record:
        if native_id not in self.book.items:
            raise RecordNotFoundError("no such record", native_id, self.name)
        return self._record(native_id, self.book.items[native_id])

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.calls["WRITE"] += 1
        out = []
        for op in ops:
            self.book.writes += 1
            nid = op.native_id or f"n{next(_versions)}"
            item = self.book.items.get(nid)
            if self.book.fail_writes:
                out.append(WriteResult(op, error=StaleVersionError("writes fail", nid, self.name)))
                continue
            if op.kind != "create" and item is None:
                out.append(WriteResult(op, error=RecordNotFoundError("no such record", nid, self.name)))
                continue
            if (
                op.kind != "create"
                and op.version is not None
                and item is not None
                and item.version != op.version
            ):
                out.append(WriteResult(op, error=StaleVersionError("changed since read", nid, self.name)))
                continue
            if op.kind in ("delete", "deactivate") and nid in self.book.undeletable:
                assert item is not None
                record = self._record(nid, item)
                refused = UndeletableRecordError("this book never deletes it", nid, self.name)
                out.append(WriteResult(op, nid, record.version, record.fields, error=refused))
                continue
            if op.kind == "delete":
                del self.book.items[nid]
                out.append(WriteResult(op, nid))
                continue
            if op.kind == "deactivate":
                self.book.edit(nid, **{"custom.active": "false"})
            else:
                from contacthub.model import Contact

                clean = self.read_back(Contact.from_fields(op.fields).to_fields())
                self.book.put(nid, clean, op.hub_id)
            record = self._record(nid, self.book.items[nid])
            out.append(WriteResult(op, nid, record.version, record.fields))
        return out


def register() -> None:
    registry.TYPES["memory"] = "tests.memory_connector:MemoryConnector"


def same_people(*books: Book) -> bool:
    """Every book holds the same set of people (compared on all fields)."""
    first = sorted(books[0].items.values(), key=lambda i: str(i.fields))
    for book in books[1:]:
        other = sorted(book.items.values(), key=lambda i: str(i.fields))
        if len(first) != len(other):
            return False
        for a in first:
            if not any(fields_equal(a.fields, b.fields) for b in other):
                return False
    return True
