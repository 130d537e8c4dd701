"""One CSV file as an address book: Outlook, Google and Thunderbird exports, or our own format.

Settings: ``path`` (required); ``format`` = ``auto`` (default: chosen from the header) |
``plain`` | ``outlook`` | ``google`` | ``thunderbird``; ``encoding`` = ``auto`` (BOM, then
UTF-8, then Shift_JIS when the bytes read as Japanese, then cp1252) or a codec name;
``delimiter`` (default: whichever of comma, semicolon or tab the header uses most);
``create = true`` to start an empty file when there is none (in the ``encoding`` set, else
UTF-8); ``date_order`` = ``auto`` (default) | ``mdy`` | ``dmy`` | ``ymd``: how a slashed
date with the year last (``3/4/1980``) is read, and written. The file is written back in
the encoding, BOM, delimiter and line ending it was read with; a BOM says what a file is
whatever ``encoding`` says.

Dates: ISO, ``yyyy/m/d`` and the dotted ``d.m.yyyy`` say their own order. A slashed
``3/4/1980`` does not: Outlook writes it month first in the US, day first in the UK and
most of Europe. ``auto`` reads the order off the file's date cells (``csv_cells.date_order``):
one that is a date only day first (``25/12/1980``) makes the file day first, one only month
first (``12/25/1980``) month first; with neither the file is read month first, Outlook's
default, as it always was. A file with both (edited in two locales) is not guessed at: each
cell that is a date one way only is read that way, and a row whose date reads both ways is
an error naming the setting to set. A cell the set order cannot read is an error for its row
too, never a text birthday. New and changed dates are written in the order read
(``date_style``), so a UK file gets UK dates.

The plain format's header is canonical field names (``id, display_name, given_name, ...,
emails, phones, addresses, websites, notes, birthday, custom.<name>``). A multi-valued cell
holds ``type:value`` items separated by ``;``, the first being the primary one, e.g.
``work:ann@example.com; home:ann@home.example``. A backslash escapes ``;``, ``|`` and
itself; an item without a type is the bare value (written ``:value`` when the value itself
looks like ``word:...``); an address is ``type:street|city|region|postal code|country``.
A header people write by hand (``name``, ``E-mail``, ``Mobile``) is read as its field while
the file has no column of that field's own name (``csv_columns.PLAIN_SPELLINGS``); a
column still unread is warned of once a run (``check``).

Native ids: the plain format's ``id`` column (the hub id for rows this connector creates; a
row with an empty id gets one the next time the file is written). Outlook, Google and
Thunderbird files have no id column and must stay importable by those programs, so their
id is derived: the primary email when no earlier row already claimed it, else ``name-`` and a
hash of the name (``-2``, ``-3``... for repeats, in file order). A row unchanged since the
hub last saw it keeps the id the hub knows it by, so deleting the earlier of two rows
sharing an email moves no id to the other. The trade-off left: editing a row's primary
email or name changes its id, which the engine recognises as a moved record when it still
matches (by another key, or by enough of its values: ``engine/matching``).

A row's version is a hash of its non-empty cells, so an edit changes that row's version only.
Every cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is written after a single
quote so spreadsheets never run it as a formula; reading removes that quote again, and reads
a CR alone inside a cell as a line break (``read_cell``).

How the file is read into a table and written back (codecs, delimiter, atomic replace) is in
``csv_store.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from contacthub.connectors.base import (
    Capabilities,
    Connector,
    ConnectorConfig,
    Pull,
    Record,
    WriteOp,
    WriteResult,
    encoding_setting,
    flag_setting,
    path_setting,
)
from contacthub.connectors.csv_store import FIELD_LIMIT, CsvStore, _Row, _Table
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    PartlyWrittenError,
    RecordError,
    RecordNotFoundError,
    RejectedRecordError,
    RetriableError,
    StaleVersionError,
)
from contacthub.formats.csv_cells import DATE_ORDERS, FORMULA_TRIGGERS, date_order, date_style, read_cell
from contacthub.formats.csv_columns import (
    DEFAULT_HEADERS,
    FORMATS,
    Handler,
    canonical_header,
    handlers_for,
    missing_columns,
    protect,
    read_row,
    render,
    spelled_field,
)
from contacthub.model import MULTI_FIELDS, Fields, display_name_of, email_key, name_key, project

log = logging.getLogger(__name__)


def _custom_name(column: str) -> str:
    """The custom field a warning suggests mapping onto ``column``: ``Nick Name`` is
    ``custom.nick_name``."""
    return "custom." + (re.sub(r"\W+", "_", column.lower()).strip("_") or "field")


@dataclass(slots=True)
class _Entry:
    row: _Row
    native_id: str = ""
    version: str = ""
    fields: Fields = field(default_factory=dict)
    hub_id: str | None = None
    error: str = ""


@dataclass(slots=True)
class _Index:
    """The good rows of a table by id, as its last write left them. ``own``: every row
    that is not an error carries its id in the plain format's ``id`` column (a file the hub
    wrote), so a write changes the entries of its own rows only and the next page need
    not index the whole file again; derived ids (the other formats) can move when any row
    changes, and are worked out again over the whole file."""

    table: _Table
    entries: dict[str, _Entry]
    own: bool
    #: the rows that could not be read, each as its line, the id its ``id`` cell holds
    #: ("": none, or no cell to trust) and its cells' text (case-folded): any of them may
    #: be a row of an id ``entries`` lacks, unless its cell names another, or the row of a
    #: new person whose email its text holds (``_apply``)
    unread: tuple[tuple[int, str, str], ...] = ()


#: the most row errors a cursor keeps (``_Cursor.errors``): a file with more is read again
#: every run, as before, rather than carry a cursor of megabytes
KEPT_ERRORS = 500


def _not_read_whole(table: _Table) -> str | None:
    """Why nothing is written into a file that could not be read whole, if it could not:
    a quote never closed (the rest of the file is one row's text, a row added went inside
    it) or a quoted cell that seems to hold whole rows. Either way the rows the hub knows
    there cannot be found, so the file is left as it is, every write an error saying why,
    until the quotes are put right."""
    opened = table.unclosed()
    if opened is not None:
        return (
            f"not written: the quote opened on line {opened} is never closed, so the file "
            "could not be read whole; the hub writes nothing into it until the quote is closed"
        )
    holding = table.holding()
    if holding is not None:
        return (
            f"not written: the quoted cell opened on line {holding} seems to hold whole rows "
            "of the file, so the file could not be read whole; the hub writes nothing into "
            "it until the quotes are fixed"
        )
    return None


@dataclass(frozen=True, slots=True)
class _Cursor:
    """What a pull saw: the file's stat key, its header, whether the run left a field out
    (``held_fields``), and the order its slashed dates told (``dates``: ``dmy`` or ``mdy``,
    ``""`` when no cell ever told). Saved by the hub only when it applies the run, it is what the hub last
    agreed with the file, so it travels in the cursor rather than in a side file, which
    another spelling of the database's URL, or a removed data directory, lost. An old cursor
    (a plain stat key) knows no header.

    ``digest`` is the hash of the file's bytes, and ``errors`` its rows that could not be
    read, as (line, message): a file whose bytes are those (whatever its stat key says:
    touched, copied back by a backup) is unchanged, and a run that finds
    it so reads no row, yet reports each bad row again, until it is fixed (said once, on the
    run that first read it, a bad row was then forgotten). ``errors`` is ``None`` when the
    file had more than ``KEPT_ERRORS``: it is then read every run. A cursor from before
    these were kept has no digest (a touch reads the file once) and no errors."""

    key: str | None
    header: list[str] | None
    left_out: bool
    dates: str = ""
    digest: str = ""
    errors: tuple[tuple[int, str], ...] | None = ()

    @classmethod
    def parse(cls, cursor: str | None) -> _Cursor:
        if cursor is None or not cursor.startswith("{"):
            return cls(cursor, None, False)
        try:
            data = json.loads(cursor)
            header = [str(c) for c in data["header"]]
            dates = str(data.get("dates") or "")
            dates = dates if dates in ("dmy", "mdy") else ""
            kept = data.get("errors", [])
            errors = None if kept is None else tuple((int(line), str(msg)) for line, msg in kept)
            digest = str(data.get("digest") or "")
            return cls(str(data["key"]), header, bool(data.get("left_out")), dates, digest, errors)
        except (ValueError, KeyError, TypeError):
            return cls(None, None, False)  # unreadable: the file is read again, as at first

    def dump(self) -> str:
        data: dict[str, object] = {"key": self.key, "header": self.header, "left_out": self.left_out}
        if self.dates:
            data["dates"] = self.dates
        if self.digest:
            data["digest"] = self.digest
        if self.errors is None or self.errors:
            data["errors"] = None if self.errors is None else [list(e) for e in self.errors]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def row_version(header: Sequence[str], cells: Sequence[str], id_col: int = -1) -> str:
    """Empty cells are left out so that a column added to the file changes no version, and
    so is the plain format's ``id`` (``id_col``): it is the row's name, not its content,
    and a write fills in the ids of every row without one. Counted, the first page of a
    run's updates changed the version of every row after it, and each of those was refused
    as "changed since it was read" (a first sync of 2,000 rows: 1,500 errors)."""
    pairs = "\x1e".join(
        f"{h}\x1f{c}" for i, (h, c) in enumerate(zip(header, cells, strict=False)) if c and i != id_col
    )
    return hashlib.sha1(pairs.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _labels(unwritten: Mapping[str, str]) -> str:
    """``{"notes": "é"}`` as "the note ('é')": the fields an error names, in words."""
    words = {"notes": "note", "emails": "emails", "phones": "phone numbers", "websites": "web pages"}
    named = []
    for name, char in unwritten.items():
        if name.startswith("custom."):
            word = f"custom field {name[len('custom.') :]!r}"
        else:
            word = words.get(name, name.replace("_", " "))
        named.append(f"the {word} ({char!r})")
    return " and ".join(named)


def _id_col(table: _Table) -> int:
    """The place of the plain format's ``id`` column (-1: none)."""
    return table.header.index("id") if table.fmt == "plain" and "id" in table.header else -1


def _id_cell(row: _Row, id_col: int) -> str:
    """The id a row's ``id`` cell holds, as ``_index`` reads it; "" without one, and for a
    row with a problem, whose cells (if any) may not be under their columns."""
    if id_col < 0 or row.problem or id_col >= len(row.cells):
        return ""
    return row.cells[id_col].strip()


def _maybe_theirs(op: WriteOp, lines: Sequence[int]) -> str:
    """Why a write for a row no readable row is waits for unreadable ``lines``, naming the
    person by the write's fields (a derived id such as ``name-26ad60e9b7f1`` tells a user
    nothing), or by the id when they hold no name or email."""
    who = display_name_of(op.fields) or op.native_id or op.hub_id
    listed = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
    some = f"line {listed} could not be read (it may be theirs): fix it"
    if len(lines) > 1:
        some = f"lines {listed} could not be read (one may be theirs): fix them"
    return f"{who}: no readable row is theirs, and {some} and this change is written on the next sync"


def _fit_delimiter(value: object) -> bool:
    """Whether ``value`` can separate a file's cells: one character, and not one the file
    needs otherwise. ``"`` quotes cells and a line break ends rows: a file written with
    either read back as other rows and cells, or not at all (QA); a letter or digit is a
    typo (``delimiter = "t"``) that quotes every cell holding it. A space is allowed (a file
    so written reads back: cells holding one are quoted)."""
    if not isinstance(value, str) or len(value) != 1:
        return False
    breaks = len(f"a{value}b".splitlines()) > 1  # \n, \r and the others Python splits at
    return value not in '"\0' and not breaks and not value.isalnum()


class CsvConnector(CsvStore, Connector):
    type = "csv"
    path_settings: ClassVar[frozenset[str]] = frozenset({"path"})
    setting_types: ClassVar[Mapping[str, Any]] = {
        "path": str, "format": str, "encoding": str, "delimiter": str, "create": bool,
        "date_order": str,
    }  # fmt: skip
    capabilities = Capabilities(batch_size=10_000, dated_whole=True)  # (a row's time: the file's)

    @classmethod
    def native_fields(cls, settings: Mapping[str, Any], places: frozenset[str]) -> frozenset[str]:
        """The fields the format's own handlers read from those columns (Outlook's "Notes"
        is ``notes``, "User 1" is ``custom.user1``); every format's when it is detected."""
        fmt = str(settings.get("format", "auto"))
        out: set[str] = set()
        for each in FORMATS if fmt not in FORMATS else (fmt,):
            # the places first: the file's own spelling of a column wins (``_present``)
            header = [*places, *(c for c in DEFAULT_HEADERS[each] if c not in places)]
            out.update(h.field for h in handlers_for(each, header, {}) if {c for _, c in h.cols} & places)
        return frozenset(out)

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        settings = config.settings
        self.path = Path(path_setting(config, "the CSV file")).expanduser()
        self._mtime: datetime | None = None
        self.format = str(settings.get("format", "auto"))
        if self.format not in ("auto", *FORMATS):
            known = ", ".join(("auto", *FORMATS))
            raise ConfigError(f"unknown csv format {self.format!r} (known: {known})", config.name)
        self.encoding = encoding_setting(config, "auto")
        delimiter = settings.get("delimiter")
        self.delimiter = {"tab": "\t", "\\t": "\t"}.get(str(delimiter), delimiter)
        if self.delimiter is not None and not _fit_delimiter(self.delimiter):
            raise ConfigError(
                "the delimiter must be one character (or 'tab') other than a quote, a line "
                f"break, a letter or a digit, not {delimiter!r}",
                config.name,
            )
        self.create = flag_setting(config, "create", False)
        self.date_order: str = settings.get("date_order", "auto")
        if self.date_order not in DATE_ORDERS:
            known = ", ".join(DATE_ORDERS)
            raise ConfigError(f"unknown csv date_order {self.date_order!r} (known: {known})", config.name)
        # a column holds one field: two fields mapped onto it were both read from it, and the
        # write of either overwrote the other (a column the format itself reads, like
        # Outlook's ``User 1``, is the mapped field's alone: ``handlers_for``)
        owner: dict[str, str] = {}
        for canonical, column in config.mapping.items():
            if not column.strip():
                # a column with no name is one readers skip: the field was written and never read
                raise ConfigError(f"the mapping puts {canonical!r} in a column with no name", config.name)
            if column.startswith(FORMULA_TRIGGERS):
                # a header cell is a cell: ``=cmd|' /C calc'!A1`` as a new column's name was
                # written as it is (values get the ``'`` guard) and run by the spreadsheet
                # program that opened the file; guarded, it would read back as another name
                raise ConfigError(
                    f"the mapping puts {canonical!r} in the CSV column {column!r}, whose name "
                    "starts like a spreadsheet formula (=, +, -, @, a tab or a line break): "
                    "choose a name that does not",
                    config.name,
                )
            if column == "id":
                # a plain file's ``id`` column holds the record ids: a field written there
                # changed every row's id (and detection takes an ``id`` column for plain)
                raise ConfigError(
                    f"the mapping puts {canonical!r} in the column 'id', which holds the "
                    "records' ids; choose another column name",
                    config.name,
                )
            if column in owner:
                raise ConfigError(
                    f"the mapping puts {owner[column]!r} and {canonical!r} in the same CSV "
                    f"column {column!r}; a column holds one field",
                    config.name,
                )
            owner[column] = canonical
        self._header_cache: tuple[str, str, list[str]] | None = None
        self._kept = None
        self._handler_cache: tuple[tuple[str, tuple[str, ...]], list[Handler]] | None = None
        #: the rows of ``_kept`` by id as its last write left them, and whether each
        #: page's write can update them for its own rows alone (``_Index``)
        self._ids: _Index | None = None
        #: native id -> row version, as the hub knows them (from ``pull``, kept up by ``write``)
        self._known: dict[str, str] = {}
        #: the fields this run holds (``held_fields``; ``fields`` when it was not asked)
        self._held: frozenset[str] | None = None
        #: the header ``held_fields`` judged
        self._judged: list[str] | None = None
        #: the fields held when ``write`` began
        self._writing: frozenset[str] | None = None
        #: the order of slashed dates the file told before (the saved cursor's ``dates``) and
        #: the one it tells now, or still told when no cell tells any more (``_date_order``)
        self._learned = ""
        self._told = ""
        #: rows a write left a field out of, by ``id``: the error each one's write reports
        self._unwritten: dict[int, RecordError] = {}
        self._digested = None
        #: the cursor this run was given (``held_fields``, ``pull``): while the file is the
        #: one it describes (``_unchanged``), its header is the file's, read from no file
        self._given: _Cursor | None = None
        #: the cursor of the file as the hub will agree with it once the run is applied: the
        #: pull's, then, after each page written over exactly that file, the one of the file
        #: written (``applied_cursor``). None when no write may move it: the pull saw a bad
        #: row (the next full read reports it), or the file a write started from was not
        #: the one the pull saw (another program's edit since, which the next run must read)
        self._agreed: _Cursor | None = None
        #: the table this run's last page wrote, if any
        self._wrote: _Table | None = None
        #: the pull found no file on a first use (``create``): the run once applied starts
        #: it if no write did (``applied_cursor``)
        self._start_at_apply = False

    # --- reading ----------------------------------------------------------------------------

    def _index(self, table: _Table) -> list[_Entry]:
        """Map every row and give it its id; explicit ids are claimed before derived ones so
        a derived id never takes an id a row carries."""
        handlers = self._handlers(table)
        self._date_order(table, handlers)
        id_col = _id_col(table)
        entries, used = [], set()
        for row in table.rows:
            entry = _Entry(row, error=row.problem)
            entries.append(entry)
            if entry.error:
                continue
            try:
                entry.fields, entry.version = self._read(table, handlers, row, id_col)
            except Exception as exc:  # one bad row must not stop the file
                entry.error = f"cannot map row: {exc}"
                continue
            if id_col >= 0 and row.cells[id_col].strip():
                entry.native_id = entry.hub_id = row.cells[id_col].strip()
                if entry.native_id in used:
                    entry.error = f"duplicate id {entry.native_id!r}"
                used.add(entry.native_id)
        # a row unchanged since the hub last saw it keeps the id it was known by: the
        # derived ids of rows sharing an email shift when the first of them is deleted or
        # edited, and the hub took the next row for the one that changed
        by_version: dict[str, str | None] = {}
        for nid, version in self._known.items():
            by_version[version] = None if version in by_version else nid  # None: ambiguous
        for entry in entries:
            if not entry.error and not entry.native_id:
                claimed = by_version.get(entry.version)
                if claimed is not None and claimed not in used:
                    entry.native_id = claimed
                    used.add(claimed)
        for entry in entries:
            if not entry.error and not entry.native_id:
                entry.native_id = self._derive_id(entry.fields, used)
                used.add(entry.native_id)
        return entries

    def _judge_spanning(self, table: _Table, spanning: list[_Row]) -> None:
        """A row spanning lines is a problem row when one of its lines, read alone as a row
        of this file (``csv_store._lines_as_rows``), has the id of a row the hub knows that
        no other row of the file has: that row is inside the quoted cell, swallowed by a
        quote opened by mistake and closed by a stray one further on. Read as it is, the
        swallowed people were deleted everywhere, and the row took the last one's cells.

        It looks at exactly what is at risk: the hub's rows (``_known``) that this read would
        report deleted. A line's id is found as ``_index`` finds a row's: its ``id`` cell in
        a plain file that has one, else derived (the known id of a row of the same version,
        its primary email, its name's ``name-`` id and repeats). A note line with commas that
        names no such row is no row, whatever the header (a shopping list in a 4-column
        file is a note). Before the hub knows any row of the file (a first read), nothing is
        flagged: nothing can be deleted then, and the rows the cell holds were never the
        hub's. A row flagged is kept as its text, so the pull is incomplete and deletes no
        one, and ``write`` refuses every op until the quotes are fixed."""
        if not spanning:
            return
        flagged: dict[int, tuple[int, int, str]] = {}
        if self._known:
            handlers = self._handlers(table)
            id_col = _id_col(table)
            ids = {id(e.row): e.native_id for e in self._index(table) if not e.error}
            for row in spanning:
                present = {nid for key, nid in ids.items() if key != id(row)}
                for opened, line, cells in row.spans or []:
                    gone = sorted(self._line_ids(table, handlers, cells, id_col) - present)
                    if gone:
                        flagged[id(row)] = (opened, line, gone[0])
                        break
        for row in spanning:
            row.spans = None
            if id(row) not in flagged:
                row.as_read(table.newline)  # a good row is written from its cells
                continue
            row.holds, line, nid = flagged[id(row)]
            row.problem = (
                f"the quoted cell opened on line {row.holds} seems to hold whole rows of the file "
                f"(line {line} reads as the row {nid!r}, found nowhere else in the file): a quote "
                "left open there and a stray one further on? This row and the rows in it are not "
                "read (fix the quotes)"
            )
        if flagged:  # read without them from now on, as every problem row is
            table.date_order = table.date_style = None

    def _line_ids(self, table: _Table, handlers: list[Handler], cells: list[str], id_col: int) -> set[str]:
        """The ids of the hub's rows that a line read as a row (``cells``) would have: its
        ``id`` cell, else every id ``_index`` could derive for it."""
        if id_col >= 0 and cells[id_col].strip():
            nid = cells[id_col].strip()
            return {nid} if nid in self._known else set()
        try:
            fields, version = self._read(table, handlers, _Row(0, cells), id_col)
        except Exception:  # (as ``_index``: a row that cannot be mapped has no id)
            return set()
        out = {nid for nid, known in self._known.items() if known == version}
        email = self._email_id(fields)
        if email in self._known:
            out.add(email)
        base = self._name_id(fields)
        out.update(nid for nid in self._known if nid == base or self._repeat_of(nid, base))
        return out

    @staticmethod
    def _repeat_of(nid: str, base: str) -> bool:
        """Whether ``nid`` is ``base`` with a repeat's number (``-2``, ``-3``...)."""
        return nid.startswith(f"{base}-") and nid[len(base) + 1 :].isdigit()

    def _handlers(self, table: _Table) -> list[Handler]:
        """``handlers_for`` the table's header, worked out again only when it changes (each
        write of a row needs them, and working them out cost more than the write)."""
        key = (table.fmt, tuple(table.header))
        if self._handler_cache is None or self._handler_cache[0] != key:
            self._handler_cache = (key, handlers_for(table.fmt, table.header, self.config.mapping))
        return self._handler_cache[1]

    def _read(self, table: _Table, handlers: list[Handler], row: _Row, id_col: int) -> tuple[Fields, str]:
        """The row's fields and version, worked out once for its cells (``_Row.cache``)."""
        if row.cache is None or row.cache[0] != row.cells:
            view = {h: read_cell(c) for h, c in zip(table.header, row.cells, strict=True) if c}
            contact = read_row(handlers, view, table.date_order or "mdy", self._strict_dates)
            version = row_version(table.header, row.cells, id_col)
            row.cache = (list(row.cells), contact.to_fields(self.config.region), version)
        return dict(row.cache[1]), row.cache[2]

    @staticmethod
    def _email_id(fields: Fields) -> str:
        """The id a row is derived first: its primary email, lower-cased (``email_key``), as
        the ids of rows read before emails kept their case; "" when it has none."""
        emails = fields.get("emails") or []
        return email_key(str(emails[0]["value"])) if emails else ""

    @staticmethod
    def _name_id(fields: Fields) -> str:
        """The id a row is derived when its email is taken or missing: ``name-`` and a hash
        of its name (``-2``, ``-3``... added for repeats)."""
        key = name_key(fields) or fields.get("organization", "") or repr(sorted(fields.items()))
        return "name-" + hashlib.sha1(str(key).encode()).hexdigest()[:12]

    @classmethod
    def _derive_id(cls, fields: Fields, used: set[str]) -> str:
        first = cls._email_id(fields)
        if first and first not in used:
            return first
        base = cls._name_id(fields)
        n, candidate = 1, base
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _record(self, entry: _Entry) -> Record:
        where = f"{self.path}:{entry.row.line}"
        return Record(
            entry.native_id, entry.version, entry.fields, self._mtime, hub_id=entry.hub_id, where=where
        )

    def _error(self, entry: _Entry) -> RecordError:
        return RecordError(entry.error, f"{self.path}:{entry.row.line}", self.name)

    @property
    def fields(self) -> frozenset[str] | None:
        """What the file's columns can hold (Google's numbered slots grow, so it holds every
        multi-valued field and custom fields; a plain file gains a column for each new
        custom field; a mapped column is added when missing). A column removed from a plain
        file is a field it no longer holds: read as "every value removed", it emptied that
        field in every other connector. A run holds less: ``held_fields``."""
        fmt, header = self._header()
        held = {h.field for h in handlers_for(fmt, header, self.config.mapping)}
        held |= set(self.config.mapping)
        if fmt == "google":
            held |= {*MULTI_FIELDS, "custom.*"}
        if fmt == "plain":
            held.add("custom.*")
        return frozenset(held)

    def held_fields(self, cursor: str | None) -> frozenset[str] | None:
        """``fields`` but those a column of which the header of the last applied run (in its
        ``cursor``: ``_Cursor``) has and the file lost since: Outlook's ``E-mail 2 Address``
        deleted or renamed, a mapped ``Trade`` renamed ``trade``, a Google slot deleted.
        Held, the rows that had a value there read as that value removed, and the hub
        removed it everywhere (the emails of the other columns too, and the whole field of a
        mapped column). Left out of the run that first sees the new header, those rows'
        baselines lose the field; the cursor it saves says so, and the next run reads every
        row again (``pull``), holding the field: what they hold is merged as a first sighting
        (united with the hub's, nothing removed), as in a file that never had the column.
        The write of this run keeps the cells of a field left out (``_fill``)."""
        self._given = _Cursor.parse(cursor)
        held = self.fields or frozenset()
        applied = self._given.header
        fmt, header = self._header()
        self._judged = header
        removed = self._removed_fields(fmt, header, applied)
        if any(name.startswith("custom.") for name in removed):
            held -= {"custom.*"}  # a custom field cannot be left out of the wildcard
        self._held = held - removed
        return self._held

    def read_back(self, fields: Fields) -> Fields:
        """A new row of ``fields`` (with the columns a write would add), read: what this file
        can hold of them. Outlook's email columns have no types, a fourth phone of a kind
        lands in "Other Phone"."""
        fmt, header = self._header()
        mapping = self.config.mapping
        header += missing_columns(fmt, header, fields, mapping)
        handlers = handlers_for(fmt, header, mapping)
        cells = render(handlers, fields, {}, self.config.region, strict_dates=self._strict_dates)
        view = {c: read_cell(protect(v)) for c, v in cells.items() if v}  # as written, then read
        return read_row(handlers, view).to_fields(self.config.region)

    def _header(self) -> tuple[str, list[str]]:
        """The file's format and header (read again only when the file changed): the
        header of the cursor the run was given when the file is the one it describes, so
        a run over an unchanged file parses it nowhere (a 50,000-row file was read whole
        three times over by a run with nothing to do)."""
        key = self._stat_key()
        if self._header_cache is None or self._header_cache[0] != str(key):
            given = self._given
            if (
                key is not None
                and given is not None
                and given.header is not None
                and self._unchanged(given, key)
            ):
                self._header_cache = (key, self._format_of(given.header), list(given.header))
            else:
                table = self._load() or self._new_table()
                self._header_cache = (str(key), table.fmt, table.header)
        return self._header_cache[1], list(self._header_cache[2])

    def _unchanged(self, saved: _Cursor, key: str) -> bool:
        """Whether the file (of stat key ``key``) is byte for byte the one ``saved`` describes:
        the hash of its bytes (read, never parsed), whatever its stat key says (a touch, a
        copy put back). The stat key alone missed an edit of the same length that left the
        mtime as it was (a restored mtime, or mtimes ticking in seconds on FAT or SMB) for
        as long as the file stayed so (QA); reading and hashing 50,000 rows is some 20 ms.
        A cursor of an older version, which has no hash, goes by its stat key."""
        if saved.digest:
            return self._file_digest(key) == saved.digest
        return saved.key == key

    def _removed_fields(self, fmt: str, header: list[str], applied: list[str] | None) -> set[str]:
        """The fields a column of which the ``applied`` header has and ``header`` lacks (none
        when the file is missing: it has no header to lose columns from)."""
        if applied is None or not self.path.exists():
            return set()
        lost = set(applied) - set(header)
        if not lost:
            return set()
        return {
            h.field
            for h in handlers_for(fmt, applied, self.config.mapping)
            if any(c in lost for _, c in h.cols)
        }

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        """The rows new or changed since ``known``; nothing, without parsing a row, when the
        file is byte for byte the one of ``cursor`` (the hash of its bytes: ``_unchanged``),
        which the hub's own writes move too (``applied_cursor``).
        Such a pull still reports the file's bad rows, kept in the cursor
        (``_Cursor.errors``), and is not complete: absence proves nothing unread."""
        self._known = dict(known)
        # read afresh: reading tells the order of the file's dates for the cursor (``_told``),
        # and the ids derived from now on go by the hub's ``known``
        self._kept, self._ids = None, None
        self._agreed, self._wrote = None, None
        self._start_at_apply = False
        key = self._stat_key()
        saved = self._given = _Cursor.parse(cursor)
        self._learned = self._told = saved.dates
        if key is None:
            if known:
                # ``create`` starts a file on first use only: a file that held rows the hub
                # knows and is gone is an unmounted disk or a moved file, not an emptied one
                # (read as empty, every person was deleted everywhere once approved)
                raise FatalConnectorError(
                    f"the CSV file {self.path} is gone, though it held rows the hub knows"
                    " (an unmounted disk, a moved file?): bring it back or fix the 'path'"
                    " setting; create = true only starts the file on first use",
                    self.name,
                )
            self._agreed = _Cursor(None, None, False)  # (a write starts the file)
            self._start_at_apply = True  # (or else the run, once applied)
            return Pull(iter(()), complete=True, listed=0, cursor="missing")
        if not saved.left_out and saved.errors is not None and self._unchanged(saved, key):
            if saved.header is None:  # an old cursor: the header goes into it from now on
                now = _Cursor(key, self._header()[1], False, saved.dates)
            else:  # (the same bytes under a new stat key: the key follows)
                now = replace(saved, key=key)
            self._agreed = None if now.errors else now
            bad = (RecordError(msg, f"{self.path}:{line}", self.name) for line, msg in now.errors or ())
            return Pull(bad, complete=False, cursor=now.dump())
        table = self._load()
        header = table.header if table else []
        if self._judged is not None and set(self._judged) - set(header):
            # a column went since ``held_fields`` judged the header: what the run holds was
            # not judged for it, and its rows would read as values removed; the next run does
            return Pull(iter(()), complete=False, cursor=cursor)
        fmt = table.fmt if table else self._new_table().fmt
        left_out = bool(self._removed_fields(fmt, header, saved.header))
        # after a run that left a field out, every row's baseline may lack it; and a column
        # added (back) may hold a field the baselines lack: read every row (else a column
        # re-added empty stayed empty, its rows unread and taken as agreed)
        read_all = saved.left_out or (saved.header is not None and bool(set(header) - set(saved.header)))
        entries = self._index(table) if table else []
        items: list[Record | RecordError] = []
        seen: set[str] = set()
        for entry in entries:
            if entry.error:
                items.append(self._error(entry))
                continue
            seen.add(entry.native_id)
            if read_all or known.get(entry.native_id) != entry.version:
                items.append(self._record(entry))
        # A row that cannot be read may be a known record: absence then proves nothing.
        complete = not any(e.error for e in entries)
        deleted = set(known) - seen if complete else set()
        errors = tuple((e.row.line, e.error) for e in entries if e.error)
        stamp, digest = (table.stamp, table.digest) if table else (key, "")
        now = _Cursor(
            stamp, header, left_out, self._told, digest, errors if len(errors) <= KEPT_ERRORS else None
        )
        self._agreed = None if errors else now
        return Pull(iter(items), deleted, complete, len(seen), now.dump())

    def applied_cursor(self, cursor: str | None) -> str | None:
        """The cursor of the file as this run's writes left it, when every page was written
        over exactly the file the pull agreed with (``_agreed``): the next run then finds the
        file unchanged instead of reading back, row by row, what the hub wrote. Otherwise
        the pull's: a file another program edited since the pull, or one with a bad row,
        is read again next run. A run killed after a write saves no cursor at all, so the
        next run, given the one before, reads the file as it now is.

        Also starts the file ``create`` is for, when the pull found none and no write
        started it (asked only of a run applied, never of a dry run or a held one): with
        nothing to write (an empty hub, everyone filtered out) the first sync left no file
        for the user to find, fill or import."""
        if self._start_at_apply and self._wrote is None:
            self._start()
        agreed, wrote = self._agreed, self._wrote
        if wrote is None or agreed is None:
            return cursor
        return replace(agreed, digest=wrote.hashed() if wrote.stamp == agreed.key else "").dump()

    def _start(self) -> None:
        """Write the file as a first write of no row would: the format's whole header (as
        an empty file is read), and what the run agrees with it is that file
        (``applied_cursor``), so the next run finds it unchanged. A file there by now
        (made by someone else since the pull) is left alone: the next run reads it."""
        if self._stat_key() is not None:
            return
        table = self._new_table()
        try:
            self._save(table)
        except RetriableError:  # made meanwhile: as above
            return
        self._agreed = replace(
            self._agreed or _Cursor(None, None, False), key=table.stamp, header=list(table.header)
        )
        self._wrote = table

    def get(self, native_id: str) -> Record:
        table = self._load()
        for entry in self._index(table) if table else []:
            if entry.native_id == native_id and not entry.error:
                return self._record(entry)
        raise RecordNotFoundError(f"no row with id {native_id!r}", str(self.path), self.name)

    def check(self) -> None:
        """The file can be read: its header, as ``_header`` has it (from the run's cursor
        while the file is unchanged, else the file read whole, which fails as it would).
        Each run checks its connectors once: the columns of a plain file it leaves unread
        are said here (``_say_unread``)."""
        self._say_unread(*self._header())

    def _say_unread(self, fmt: str, header: list[str]) -> None:
        """A warning naming the plain file's columns the hub does not read, and the mapping
        that would: a column named by hand (``nickname``, or ``name`` before the plain
        format read it) was left alone without a word, its values synced nowhere. Only the
        plain format's, and in an export's only those spelling a field (``_say_unspelled``):
        an Outlook or Google export has dozens of columns no contact field needs
        (``Categories``, ``Priority``), that program's own. Empty names are a spreadsheet's
        spare columns, left alone."""
        read = {c for h in handlers_for(fmt, header, self.config.mapping) for _, c in h.cols}
        unread = [c for c in dict.fromkeys(header) if c.strip() and c.strip() != "id" and c not in read]
        if fmt != "plain":
            self._say_unspelled(fmt, [c for c in unread if spelled_field(c)])
            return
        own = {canonical_header(c) for c in header}
        spelled = {c: spelled_field(c) for c in unread}
        shadowed = {c: name for c, name in spelled.items() if name and name in own}
        for c, name in shadowed.items():
            # a spelling of a field whose own column the file has too ("email" beside
            # "emails"): said as such, not as a name no field has
            log.warning(
                "%s: %s: column %r is not read: the file's %r column holds that field; "
                "move its values there, or map a custom field onto it",
                self.name,
                self.path,
                c,
                name,
            )
        unread = [c for c in unread if c not in shadowed]
        if not unread:
            return
        hint = ", ".join(f"{json.dumps(_custom_name(c))} = {json.dumps(c)}" for c in unread[:2])
        log.warning(
            "%s: %s: %s not read (no field of the plain format has that name); "
            "to sync it, map a field onto it, e.g. mapping = { %s }",
            self.name,
            self.path,
            f"column {unread[0]!r} is" if len(unread) == 1 else f"columns {', '.join(map(repr, unread))} are",
            hint,
        )

    def _say_unspelled(self, fmt: str, unread: list[str]) -> None:
        """A warning naming an export's columns that spell a field (``Email``, ``Phone``)
        and that its format does not read: a sheet taken for an export lost them without a
        word (``Name, Email, Phone`` read as Google's legacy export)."""
        if not unread:
            return
        log.warning(
            "%s: %s: %s not read: the file reads as a %s export, which has no such column; "
            'set format = "plain" to read it as a plain sheet, or map a field onto it',
            self.name,
            self.path,
            f"column {unread[0]!r} is" if len(unread) == 1 else f"columns {', '.join(map(repr, unread))} are",
            fmt,
        )

    def check_location(self) -> None:
        try:
            self.path.stat()
        except FileNotFoundError:
            pass  # (below: wanted unless ``create``)
        except OSError as exc:  # a symlink loop: refused by apply, not found by every run
            raise ConfigError(
                f"cannot read {self.path}: {(exc.strerror or str(exc)).lower()}", self.name
            ) from None
        if self.path.is_dir():
            raise ConfigError(f"{self.path} is a folder: 'path' names the CSV file", self.name)
        if not self.create and not self.path.exists():
            raise ConfigError(
                f"the CSV file {self.path} does not exist: fix the 'path' setting, or set create = true",
                self.name,
            )

    # --- writing ----------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        table = self._load() or self._new_table()
        if self._agreed is not None and table.stamp != self._agreed.key:
            self._agreed = None  # not the file the pull saw (nor the last page wrote)
        if table.stamp is not None:  # the header as read, for ``fields`` (else read again)
            self._header_cache = (table.stamp, table.fmt, list(table.header))
        self._writing = self._held if self._held is not None else self.fields
        unread = _not_read_whole(table)
        if unread is not None:
            return [self._refused(op, unread) for op in ops]
        # changed below: kept again once saved (``_save``), else read again next time
        self._kept, index, self._ids = None, self._ids, None
        if table.fmt == "plain" and "id" not in table.header and table.broken_line() is None:
            table.header.append("id")  # a plain file we write always has ids
            for old in table.rows:
                if not old.problem:
                    old.cells.append("")
        if index is None or index.table is not table:
            index = self._indexed(table)
        entries = dict(index.entries)
        done: list[tuple[WriteOp, _Row | None, RecordError | None]] = []
        for op in ops:
            try:
                row = self._apply(table, entries, op, index.unread)
            except RecordError as exc:
                done.append((op, None, exc))
                continue
            unwritten = self._unwritten.pop(id(row), None) if row is not None else None
            done.append((op, row, unwritten))
        if any(op.kind == "delete" and err is None for op, _, err in done):
            table.drop_gone()
        if not any(err is None or row is not None for _, row, err in done):
            return [WriteResult(op, op.native_id, None, None, err) for op, _, err in done]
        if table.fmt == "plain" and "id" in table.header and not index.own:
            self._fill_ids(table)
        self._save(table)
        self._header_cache = (str(table.stamp), table.fmt, list(table.header))  # (the file's now)
        final = self._after(table, index, [row for _, row, _ in done if row is not None])
        if self._agreed is not None:
            header = list(table.header)
            dates = self._told or self._agreed.dates
            # (its digest once the run asks: ``applied_cursor``)
            self._agreed = replace(self._agreed, key=table.stamp, header=header, dates=dates, digest="")
            self._wrote = table
        results = []
        for op, row, err in done:
            entry = final.get(id(row)) if row else None
            if (err is None or row is not None) and op.native_id:
                self._known.pop(op.native_id, None)
            if op.kind == "delete" or entry is None:
                results.append(WriteResult(op, op.native_id, None, None, err))
            else:
                # a row written without a field its encoding cannot hold (``_fill``) is an
                # error that still says what the row holds now: the hub's baseline is the
                # file's, so its old cell is no edit to take back to the hub next run
                self._known[entry.native_id] = entry.version
                results.append(WriteResult(op, entry.native_id, entry.version, entry.fields, err))
        return results

    def _indexed(self, table: _Table, entries: list[_Entry] | None = None) -> _Index:
        """``_index`` of the whole table (unless given), as an ``_Index``."""
        entries = self._index(table) if entries is None else entries
        col = _id_col(table)
        own = col >= 0 and all(e.row.problem or (not e.error and e.row.cells[col].strip()) for e in entries)
        if own:
            # each row is read again only when written (``_after``): what it mapped to is
            # not needed again, and held for the run it cost a big file's memory twice
            for entry in entries:
                entry.row.cache, entry.fields = None, {}
        unread = tuple(
            (e.row.line, _id_cell(e.row, col), "\n".join(e.row.cells).casefold()) for e in entries if e.error
        )
        return _Index(table, {e.native_id: e for e in entries if not e.error}, own, unread)

    def _after(self, table: _Table, before: _Index, written: list[_Row]) -> dict[int, _Entry]:
        """The entries of the ``written`` rows as saved, by ``id`` of the row; and the index
        the next page starts from (``_ids``). Where every row carries its id (``_Index.own``)
        only the written rows are read again; else the whole table is indexed again."""
        col = _id_col(table)
        if before.own and col >= 0:
            entries = {nid: e for nid, e in before.entries.items() if not e.row.gone}
            handlers = self._handlers(table)
            self._date_order(table, handlers)
            out: dict[int, _Entry] = {}
            for row in written:
                nid = row.cells[col].strip()
                entry = _Entry(row, nid, hub_id=nid)
                try:
                    entry.fields, entry.version = self._read(table, handlers, row, col)
                except Exception:  # an error of its own now: worked out over the whole file
                    out.clear()
                    break
                if not nid or entries.get(nid, entry).row is not row:
                    out.clear()  # (cannot happen: a create's id was checked free)
                    break
                out[id(row)] = entry
                entries[nid] = _Entry(row, nid, entry.version, hub_id=nid)  # (held for the run)
            else:
                self._ids = _Index(table, entries, True, before.unread)
                return out
        every = self._index(table)
        if any(e.error for e in every):
            self._agreed = None  # (a row the next full read reports: it is read)
        mine = {id(row) for row in written}
        out = {id(e.row): replace(e) for e in every if id(e.row) in mine}  # (``_indexed`` slims them)
        self._ids = self._indexed(table, every)
        return out

    def _refused(self, op: WriteOp, msg: str) -> WriteResult:
        error = RecordError(msg, f"{self.path}:{op.native_id}", self.name)
        return WriteResult(op, op.native_id, None, None, error)

    def _apply(
        self,
        table: _Table,
        entries: dict[str, _Entry],
        op: WriteOp,
        unread: tuple[tuple[int, str, str], ...] = (),
    ) -> _Row | None:
        """Apply one write to the table. A row the file no longer shows while some row
        cannot be read (a typo in a date cell) may be that row: not "not found", which
        unlinked it and wrote the person into the file again (QA: two rows of one email, and
        two people everywhere once the cell was fixed), but an error until it is fixed. An
        unreadable row whose ``id`` cell names another id is not that row: with no other,
        the row is not there (``RecordNotFoundError``), as with no unreadable row at all.
        A new person waits too while an unreadable row holds one of their emails: it may be
        their row, which a fix makes readable, and a row written beside it was a second
        person everywhere once it was (QA)."""
        where = f"{self.path}:{op.native_id}" if op.native_id else str(self.path)
        if op.kind == "create":
            emails = [str(e.get("value", "")).casefold() for e in op.fields.get("emails") or ()]
            holding = [line for line, _, text in unread if any(m and m in text for m in emails)]
            if holding:
                raise RecordError(_maybe_theirs(op, holding), where, self.name)
            row = _Row(0, [""] * len(table.header))
            if table.fmt == "plain" and "id" in table.header:
                if op.hub_id in entries:
                    raise RecordError(f"id {op.hub_id!r} is already in the file", where, self.name)
                row.cells[table.header.index("id")] = op.hub_id
                entries[op.hub_id] = _Entry(row, op.hub_id)
            self._fill(table, row, op.fields, new=True)
            table.rows.append(row)
            row.line = len(table.rows) + 1
            return row
        entry = entries.get(op.native_id or "")
        maybe = [line for line, nid, _ in unread if nid in ("", op.native_id)] if entry is None else []
        if maybe:
            raise RecordError(_maybe_theirs(op, maybe), where, self.name)
        if entry is None or entry.row.gone:
            raise RecordNotFoundError(f"no row with id {op.native_id!r}", where, self.name)
        current = row_version(table.header, entry.row.cells, _id_col(table))
        if op.version is not None and op.version != current:
            raise StaleVersionError("the row changed since it was read", where, self.name)
        if op.kind == "delete":
            entry.row.gone = True
            return None
        if op.kind != "update":
            raise RecordError(f"csv files cannot {op.kind} a row", where, self.name)
        self._fill(table, entry.row, op.fields)
        return entry.row

    def _fill(self, table: _Table, row: _Row, fields: Fields, new: bool = False) -> None:
        """Write ``fields`` into the columns that hold them; every other cell stays as is."""
        # a new row has no line yet ("o.csv:0" named none): the file is where it goes
        where = str(self.path) if new else f"{self.path}:{row.line}"
        for column in missing_columns(table.fmt, table.header, fields, self.config.mapping):
            broken = table.broken_line()
            if broken is not None:
                msg = f"needs a new column {column!r}, which waits until line {broken} can be read"
                raise RecordError(msg, where, self.name)
            table.header.append(column)
            for other in table.rows:
                if not other.problem:
                    other.cells.append("")
            if new:
                row.cells.append("")
        handlers = self._handlers(table)
        order = self._date_order(table, handlers)
        view = {h: read_cell(c) for h, c in zip(table.header, row.cells, strict=True)}
        # a field the file does not hold now (a column of it was removed: ``fields``) keeps
        # what the row has; rendered from ``fields``, which lack it, it was emptied
        if any(not project({h.field: 1}, self._writing) for h in handlers):
            filled = {h: c for h, c in view.items() if c}
            current = read_row(handlers, filled, order, self._strict_dates).to_fields(self.config.region)
            held = project(current, self._writing)
            fields = {**{k: v for k, v in current.items() if k not in held}, **fields}
        cells = list(row.cells)
        place = {column: i for i, column in reversed(list(enumerate(table.header)))}  # (the first)
        style = self._date_style(table, handlers)
        changed = render(handlers, fields, view, self.config.region, style, order, self._strict_dates)
        for column, value in changed.items():
            # a cell whose value does not change stays as typed: guarded anew, a number the
            # user typed "+1 555 201 0002" beside a changed phone became "'+1 555 ..." (QA)
            at = place[column]
            if read_cell(row.cells[at]) != value:
                cells[at] = protect(value)
        if not any(cells):
            # a row with no values is a blank line, which reading skips: the record would
            # come back as deleted on the next run
            msg = "nothing to write: none of the contact's values has a column in this file"
            raise RecordError(msg, where, self.name)
        if max(map(len, cells), default=0) > FIELD_LIMIT:
            # a longer cell is one no reader of this file would read back
            msg = f"a value is longer than the {FIELD_LIMIT} characters a CSV cell may hold"
            raise RecordError(msg, where, self.name)
        unwritten = self._unencodable(table, handlers, row.cells, cells)
        if unwritten:
            msg = f"{_labels(unwritten)} cannot be written in the file's encoding {table.codec}"
            if new:
                raise RecordError(msg, where, self.name)
            if cells == row.cells:
                raise RejectedRecordError(msg, where, self.name)
            self._unwritten[id(row)] = PartlyWrittenError(
                f"{msg}; its other fields were written", where, self.name
            )
        row.cells = cells

    @staticmethod
    def _unencodable(
        table: _Table, handlers: list[Handler], old: list[str], cells: list[str]
    ) -> dict[str, str]:
        """The fields a changed cell of which the file's encoding cannot hold (a note
        ``Café`` into a Shift_JIS file), each with the first character it lacks; their
        cells in ``cells`` go back to ``old``, field by field (every column of the field:
        an address or a list of emails is not written in part). The rest of the row is
        written: refused whole, one character blocked every other edit of the row, on
        every run."""
        codec = table.codec
        out: dict[str, str] = {}
        columns: dict[str, list[int]] = {}
        place = {column: i for i, column in reversed(list(enumerate(table.header)))}
        for h in handlers:
            columns.setdefault(h.field, []).extend(place[c] for _, c in h.cols)
        for name, where in columns.items():
            for i in where:
                if i >= len(old) or cells[i] == old[i]:
                    continue
                try:
                    cells[i].encode(codec)
                except UnicodeEncodeError as exc:
                    out[name] = exc.object[exc.start : exc.end]
                    break
            if name in out:
                for i in where:
                    cells[i] = old[i] if i < len(old) else ""
        return out

    @staticmethod
    def _date_cells(table: _Table, handlers: list[Handler]) -> Iterator[str]:
        where = [table.header.index(c) for h in handlers if h.kind == "date" for _, c in h.cols]
        return (read_cell(row.cells[i]) for row in table.rows if not row.problem for i in where)

    def _date_order(self, table: _Table, handlers: list[Handler]) -> str:
        """The order the file's slashed dates are read in (once a table): the setting, else
        what the cells of its date columns show (``csv_cells.date_order``), else what they
        showed before (the cursor's ``dates``), else month first. Read off the whole file,
        not row by row: ``3/4/1980`` is 3 April in a file that also holds ``25/12/1980``;
        and it is remembered: when that row went, the file's ``3/4/1980`` stayed 3 April
        (read month first again, it became 4 March everywhere)."""
        if table.date_order is None:
            order = self.date_order
            if order == "auto":
                told = date_order(self._date_cells(table, handlers))
                if told in ("dmy", "mdy"):
                    self._told = told
                order = told or self._learned or "mdy"
            table.date_order = order
        return table.date_order

    @property
    def _strict_dates(self) -> bool:
        """Whether a date cell that is no date is an error of its row (``csv_cells.parse_date``):
        when ``date_order`` is set, which says what the file's dates are. With ``auto`` such
        text is kept as written, as it always was (a file of ``circa 1980``s stays readable)."""
        return self.date_order != "auto"

    def _date_style(self, table: _Table, handlers: list[Handler]) -> str:
        """How the file spells its dates, from the cells of its date columns (once a table):
        new and changed dates are written the same way, in the file's order
        (``csv_cells.date_style``)."""
        if table.date_style is None:
            order = self._date_order(table, handlers)
            table.date_style = date_style(self._date_cells(table, handlers), order)
        return table.date_style

    def _fill_ids(self, table: _Table) -> None:
        """Rows added by hand without an id keep the derived one from now on."""
        col = table.header.index("id")
        for entry in self._index(table):
            if not entry.error and not entry.row.cells[col].strip():
                entry.row.cells[col] = entry.native_id
