"""The CSV file itself: reading it into a table in memory and writing that table back.

Reading finds the encoding (``decode``: BOM, UTF-8, Shift_JIS, cp1252; undecodable bytes
kept as lone surrogates), the delimiter (``_sniff``), the line ending and the dialect of the
header, and marks rows that cannot be trusted (wrong number of cells, undecodable bytes, a
cell the csv module refuses, a quote never closed or a quoted cell that seems to hold whole
rows: such a row is kept as its raw text and written back unchanged).
Writing puts the table back in the same encoding, BOM, delimiter and line ending, in one
atomic replace (of a symbolic link's target, keeping the link), and refuses when the file
changed since it was read (the ``stamp``: mtime, size and inode).

Separate from ``csv_file.py`` (the connector: settings, ids and versions of rows, pull,
get, write ops) because this is the one place that knows about bytes, codecs, the csv
module and the file system. It is a mixin of the connector, as ``vcard_files`` is of the
vCard folder, so the connector's calls (``self._load``, ``self._save``) stay plain method
calls and tests can still patch them on ``CsvConnector``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contacthub.connectors.base import ConnectorConfig
from contacthub.errors import FatalConnectorError, RetriableError
from contacthub.formats.csv_columns import DEFAULT_HEADERS, detect, handlers_for
from contacthub.model import Fields

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes kept by surrogateescape
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_BREAK = re.compile(r"\r\n|\r|\n")  # a line break, as the csv module splits lines
_LINE = re.compile(r'(?:[^"\r\n]|"[^"]*(?:"|\Z))*')  # a line: quoted parts may span breaks

#: The longest cell the csv module reads, in characters. Its default (131,072) refused a
#: note our own write had put in the file, and with it the whole file, every run after.
#: The limit is process-wide, hence set once here, where every CSV of the process is read.
#: It stays bounded: a quote left open makes the rest of a file one cell, and a cell is
#: held in memory whole; 16 Mi characters is far beyond any note a person writes. A value
#: longer than the limit is refused on writing (``CsvConnector._fill``), so a file we write
#: can always be read back.
FIELD_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)


@dataclass(slots=True, eq=False)
class _Row:
    """Rows compare by identity: two rows with the same cells are still two rows."""

    line: int
    cells: list[str]
    problem: str = ""
    gone: bool = False
    #: the cells last mapped, what they mapped to and their version: a write maps each
    #: row once, and a run's later pages not again (``CsvStore._kept``)
    cache: tuple[list[str], Fields, str] | None = None
    #: the cells last read or written, as the text read or written and its number of line
    #: breaks: while the cells are these, the row is written back as this text (as read:
    #: its quoting and line ending, QA: a quoted cell the csv module would not quote lost
    #: its quotes in a write of other rows), and a run's pages spell each row out once
    text: tuple[list[str], str, int] | None = None
    #: the row's text as in the file, for a row with a problem (the csv module could not
    #: read it; it has more or fewer cells than the header, as when a quote left open took
    #: the rows after it in): written back as it was, never as cells, which would change it
    raw: str | None = None
    #: the line of a quote this row leaves open to the end of the file (0: none): the rest
    #: of the file is this row's text, and which rows it held cannot be told
    opened: int = 0
    #: the line of a quote whose cell seems to hold whole rows of the file (0: none):
    #: opened by mistake and closed by another stray quote rows later (``CsvConnector._judge_spanning``)
    holds: int = 0
    #: a good row spanning lines: those of its lines that, read alone, are rows of the file,
    #: each as (line its quoted cell opened on, line, cells), for the connector to judge by
    #: their ids (``CsvConnector._judge_spanning``); None once judged
    spans: list[tuple[int, int, list[str]]] | None = None
    #: the blank lines just before this row (empty, or only delimiters and whitespace), as in the file: a
    #: user's separators between groups of people, no rows, written back where they were
    lead: str = ""

    def as_read(self, newline: str) -> None:
        """A good row: written from its cells from now on, and while they are the cells
        read, as the text read (``text``; the last line of a file gets the file's line
        ending, a row may be written after it)."""
        raw = self.raw or ""
        if not raw.endswith(("\n", "\r")):
            raw += newline
        self.text, self.raw = (list(self.cells), raw, len(_BREAK.findall(raw))), None


@dataclass(slots=True)
class _Table:
    """The whole file in memory, with how it was spelled so it is written back the same."""

    header: list[str]
    rows: list[_Row]
    fmt: str
    codec: str = "utf-8"
    bom: bytes = b""
    newline: str = "\r\n"
    delimiter: str = ","
    stamp: str | None = None
    #: the hash of the file's bytes as read or written (``digest``): what a cursor keeps, so
    #: that a file only touched since (a backup tool, ``touch``) is known unchanged unparsed.
    #: Of a write, worked out only when asked (``hashed``): a run writes a big file a page
    #: at a time, and only the last page's bytes go into a cursor
    digest: str = ""
    #: the bytes last written, until ``hashed``
    written: bytes | None = None
    #: how its date cells are spelled (``csv_cells.date_style``), once a write has looked
    date_style: str | None = None
    #: the order its slashed dates are read in (``csv_cells.parse_date``), once looked at
    date_order: str | None = None
    #: the blank lines after the last row, as in the file (``_Row.lead``)
    tail: str = ""
    #: the header as read and its text (quoting and line ending): written so while unchanged
    head: tuple[list[str], str] | None = None

    def drop_gone(self) -> None:
        """Remove the deleted rows; the blank lines before one stay, before the next row.
        Dropped with it, the separator above a group of people went when its first went."""
        kept: list[_Row] = []
        lead = ""
        for row in self.rows:
            if row.gone:
                lead += row.lead
                continue
            row.lead, lead = lead + row.lead, ""
            kept.append(row)
        self.rows, self.tail = kept, lead + self.tail

    def hashed(self) -> str:
        """``digest``, worked out now if the table was written since."""
        if self.written is not None:
            self.digest, self.written = digest(self.written), None
        return self.digest

    def broken_line(self) -> int | None:
        """The line of the first row with a problem: while there is one, no column is added
        (kept as its text, a row of one cell too many then read as a good row)."""
        return next((row.line for row in self.rows if row.problem), None)

    def unclosed(self) -> int | None:
        """The line of a quote left open to the end of the file, if one is: the file was not
        read whole, and is not written (``CsvConnector.write``)."""
        return next((row.opened for row in self.rows if row.opened), None)

    def holding(self) -> int | None:
        """The line of a quote whose cell seems to hold whole rows of the file, if one
        does: the file was not read whole either, and is not written."""
        return next((row.holds for row in self.rows if row.holds), None)


def decode(data: bytes, setting: str = "auto") -> tuple[str, str, bytes]:
    """Text, codec and BOM. Bytes no codec accepts become lone surrogates (surrogateescape):
    their rows are reported as errors and written back byte for byte. A BOM says what the
    file is whatever the setting: no cp1252 or Latin-1 file starts with "ï»¿" or "ÿþ", and
    read with the setting, a UTF-8 file's header and every accented name came out garbled."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec), codec, bom
    if setting != "auto":
        strict = setting.lower().replace("_", "-").startswith("utf-16")
        return data.decode(setting, "strict" if strict else "surrogateescape"), setting, b""
    if len(data) >= 4 and data[0] and not data[1] and data[2] and not data[3]:
        return data.decode("utf-16-le"), "utf-16-le", b""
    if len(data) >= 4 and not data[0] and data[1] and not data[2] and data[3]:
        return data.decode("utf-16-be"), "utf-16-be", b""
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8"), "utf-8", b""
    with contextlib.suppress(UnicodeDecodeError):
        text = data.decode("cp932")
        if _JAPANESE.search(text) and not re.search(r"[\uff61-\uff9f]", text):
            return text, "cp932", b""
    # Legacy 8-bit text almost never forms a valid UTF-8 sequence by chance: one valid
    # non-ASCII character means a UTF-8 file with a few bad bytes.
    text = data.decode("utf-8", "surrogateescape")
    if any(ord(c) > 127 and not "\udc80" <= c <= "\udcff" for c in text):
        return text, "utf-8", b""
    return data.decode("cp1252", "surrogateescape"), "cp1252", b""


def digest(data: bytes) -> str:
    """The hash of a file's bytes, as a CSV cursor keeps it (``CsvConnector.pull``)."""
    return hashlib.sha256(data).hexdigest()


def _sniff(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _first_line(text: str) -> tuple[str, str]:
    """The header line and the file's line ending (CRLF, LF or CR), from the first line break
    outside quotes. Decided from the text before the first LF, a CR-only file (Excel for
    Mac's "CSV (Macintosh)") read as one line ending in LF and came back with LF endings."""
    match = _LINE.match(text)
    end = match.end() if match else 0
    ending = text[end : end + 2]
    newline = "\r\n" if ending == "\r\n" else "\r" if ending[:1] == "\r" else "\n"
    return text[:end], newline


class _Sink:
    """A file for ``csv.writer`` that keeps each row it is given as one string."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


class _Lines:
    """The file's lines, as the csv module splits them (on CR, LF and CRLF), counted and kept
    since ``start``, so a row the reader gives up on can still be found and kept whole."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.count = 0
        self.taken: list[str] = []
        #: the csv module asked for a line after the last: it reads on past a line's end
        #: only inside quotes, so a row it then returns ran into the end of the file there
        self.ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._lines)
        except StopIteration:
            self.ended = True
            raise
        self.count += 1
        self.taken.append(line)
        return line

    def start(self) -> int:
        """The number of the line the next row starts on."""
        self.taken = []
        return self.count + 1


def _parse(text: str, delimiter: str, path: str, connector: str) -> tuple[list[str], list[_Row], str]:
    """The header, the non-blank rows and the blank lines after the last. A blank line
    (empty, or only delimiters and spaces or tabs) is no row: it is kept as text before the next row
    (``_Row.lead``), so a write puts the user's separators back where they were (dropped,
    they went at the first write). A row the csv module refuses (a cell over
    ``FIELD_LIMIT``) becomes a row with a problem, reported for its line, and reading goes
    on after it: the reader drops the rest of the line it failed on, and the lines after it
    that are still inside a quoted cell (an odd number of quotes so far) are that row's too,
    not rows of their own. Only a header that cannot be read fails the file.

    A quote never closed makes the rest of the file one cell, which the csv module gives
    as the row's last without a word: the rows after it were read as a note, and every
    person in them deleted everywhere. Such a row is a problem naming the line the quote
    opened on, kept as its text (the rest of the file), and marked (``opened``): the file
    was not read whole. In the header, it fails the file."""
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise FatalConnectorError(f"{path}:1: {exc}", connector) from exc
    if header and lines.ended:
        opened = _opened_on("".join(lines.taken), 1, header[-1])
        raise FatalConnectorError(
            f"{path}:{opened}: a quote opened in the header is never closed (the rest of the file "
            "reads as one column name); close it",
            connector,
        )
    rows: list[_Row] = []
    blank = ""  # the blank lines read since the last row
    while True:
        line = lines.start()
        try:
            cells = next(reader)
        except StopIteration:
            return header, rows, blank
        except csv.Error as exc:
            raw = "".join(lines.taken)
            opened = 0
            while raw.count('"') % 2:
                more = next(lines, None)
                if more is None:
                    opened = line  # (where in the row it opened is not worth a second parse)
                    break
                raw += more
            rows.append(_Row(line, [], problem=f"cannot be read: {exc}", raw=raw, opened=opened, lead=blank))
            blank = ""
            continue
        if lines.ended:
            raw = "".join(lines.taken)
            opened = _opened_on(raw, line, cells[-1])
            problem = (
                f"the quote opened on line {opened} is never closed: the rest of the file reads "
                "as one cell, so this row and the lines after it are not read (close the quote)"
            )
            rows.append(_Row(line, [], problem=problem, raw=raw, opened=opened, lead=blank))
            blank = ""
            continue
        if any(c.strip() for c in cells):  # a line of spaces or a tab is blank too (QA)
            rows.append(_Row(line, cells, raw="".join(lines.taken), lead=blank))  # kept if it is wrong
            blank = ""
        else:
            blank += "".join(lines.taken)


def _lines_as_rows(raw: str, first: int, width: int, delimiter: str) -> list[tuple[int, int, list[str]]]:
    """The lines of a good row (``raw``, from line ``first``) after its first that, read
    alone, are rows of a file of ``width`` columns: each as the line its quoted cell opened
    on, the line, and its cells.

    A note edited to ``"note 0 edited`` (opened) and one three rows down to ``note 1
    edited"`` (closed) is, by the rules of CSV, one cell spanning four lines, and the row it
    makes has just the header's number of cells: read without a word, the rows between were
    missing, their people deleted everywhere, and the first row took the last one's email.
    Every line of a row after its first starts inside a quoted cell (the csv module reads on
    only there), so a line that reads alone as a row (the header's number of cells, as
    ``_load`` counts them) is where such rows would be. Whether one is (its id that of a row
    the hub knows and finds nowhere else) only the connector can tell: it derives the ids."""
    lines = list(io.StringIO(raw, newline=""))
    out = []
    for k in range(1, len(lines)):
        try:
            cells = next(csv.reader([lines[k]], delimiter=delimiter), [])
        except csv.Error:
            continue
        while len(cells) > width and not cells[-1]:
            cells.pop()
        if len(cells) != width:
            continue
        opened = k - 1
        # back over the lines the cell runs through whole: a lone quote (not a doubled
        # one) in a line that starts inside quotes closes a cell, so the one holding
        # line ``k`` opened there
        while opened > 0 and '"' not in lines[opened].replace('""', ""):
            opened -= 1
        out.append((first + opened, first + k, cells))
    return out


def _opened_on(raw: str, line: int, last: str) -> int:
    """The line on which the quote left open at the end of ``raw`` (a row from ``line``)
    opened: the one before its last cell ``last``, which inside quotes holds every quote
    doubled and nothing else of the csv syntax (a lone quote would have closed it)."""
    start = len(raw) - len(last.replace('"', '""')) - 1
    if start < 0 or raw[start] != '"':
        return line  # (cannot happen; the row's first line is near enough)
    return line + len(_BREAK.findall(raw, 0, start))


def _cells(text: str, delimiter: str) -> list[str] | None:
    """The cells of ``text`` read as the one row it must be (None: it is not one)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _spellings(text: str, delimiter: str) -> list[str]:
    """How each cell of a row's ``text`` is spelled, as the csv module splits it: a quoted
    cell (quotes doubled inside; what follows its closing quote up to the delimiter is
    still its own) or a plain one. Only a guess, which ``_respelled`` checks."""
    d = re.escape(delimiter)
    cell = re.compile(f'"(?:[^"]|"")*"[^{d}\r\n]*|[^{d}\r\n]*')
    body = text[: len(text) - len(m.group())] if (m := re.search(r"(?:\r\n|\r|\n)\Z", text)) else text
    out: list[str] = []
    at = 0
    while True:
        found = cell.match(body, at)
        assert found is not None  # (the plain alternative matches the empty string)
        out.append(found.group())
        at = found.end()
        if at >= len(body) or body[at] != delimiter:
            return out if at >= len(body) else []
        at += 1


def _respelled(row: _Row, writer: Any, spelled: list[str], delimiter: str, newline: str) -> str:
    """The text of a changed row: each cell the write did not change spelled as in the
    text it was read or last written as (``_Row.text``: its quotes, though the csv module
    would not put them), the others as the csv module spells them, then the file's line
    ending. Only when that reads back as the row's cells (it always should: each cell's
    own spelling read as that cell in the file); else the csv module spells it all."""
    cells = row.cells
    writer.writerow(cells)
    plain = spelled.pop()[:-2] + newline
    if row.text is None:
        return plain
    before, old = row.text[0], _spellings(row.text[1], delimiter)
    if len(old) < len(before):
        return plain
    parts = []
    for i, value in enumerate(cells):
        if i < len(before) and before[i] == value:
            parts.append(old[i])
        elif value:
            writer.writerow([value])
            parts.append(spelled.pop()[:-2])
        else:
            parts.append("")
    text = delimiter.join(parts) + newline
    return text if text == plain or _cells(text, delimiter) == cells else plain


class CsvStore:
    """The file operations of ``CsvConnector`` (its mixin): what they need of it is set by
    its ``__init__``: the path and the settings that say how to read the file, and the
    connector's name and mapping (the mapping can make an unknown header readable)."""

    name: str
    config: ConnectorConfig
    path: Path
    format: str
    encoding: str
    delimiter: str | None
    create: bool
    #: the file's modification time as of the last stat
    _mtime: datetime | None
    #: the table as this process last wrote the file (``_save``), its ``stamp`` the file's
    #: stat key then: while the file's key is that, it is the file, and is not read again.
    #: A run writes a big file a page (500 ops) at a time, and each page read and parsed
    #: it whole, and mapped every row: a first copy of 10,000 rows took 13 s, 50,000
    #: minutes. ``write`` takes it, and it is kept again only once saved (a write that
    #: failed changed it). A table only read is not kept: held for the run, a big file
    #: that is only read cost its memory for nothing
    _kept: _Table | None
    #: the stat key and ``digest`` of the file's bytes last hashed (``_file_digest``)
    _digested: tuple[str, str] | None

    def _read_bytes(self) -> bytes:
        """The one place the file's contents are read (tests patch it to prove a no-op pull
        reads nothing)."""
        return self.path.read_bytes()

    def _file_digest(self, stamp: str) -> str:
        """``digest`` of the file's bytes, whose stat key is ``stamp``: read once a stat key
        (a run may ask in ``held_fields``, ``check`` and ``pull``), never parsed."""
        if self._digested is None or self._digested[0] != stamp:
            try:
                data = self._read_bytes()
            except OSError as exc:
                raise FatalConnectorError(f"{self.path}: cannot read: {exc}", self.name) from exc
            self._digested = (stamp, digest(data))
        return self._digested[1]

    def _stat_key(self) -> str | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if not self.create:
                raise FatalConnectorError(f"{self.path}: no such file", self.name) from None
            return None
        except OSError as exc:  # a symlink loop, no permission on its folder: a traceback
            reason = (exc.strerror or str(exc)).lower()
            raise FatalConnectorError(f"cannot read {self.path}: {reason}", self.name) from None
        # a row has no time of its own: the file's is the best "modified" there is (for the
        # newest conflict policy), and never later than the edit it stands for
        self._mtime = datetime.fromtimestamp(st.st_mtime, UTC)
        return _key(st)

    def _load(self) -> _Table | None:
        """The table, or None for a missing file that ``create`` allows: ``_kept`` while the
        file is as this process left it, else read."""
        stamp = self._stat_key()
        if stamp is None:
            return None
        if self._kept is not None and self._kept.stamp == stamp:
            return self._kept
        try:
            data = self._read_bytes()
            text, codec, bom = decode(data, self.encoding)
        except (OSError, UnicodeError, LookupError) as exc:
            raise FatalConnectorError(f"{self.path}: cannot read: {exc}", self.name) from exc
        if not text.strip():
            # an empty file (``touch people.csv``) is started as a missing one is: the
            # configured format's whole header (read as a header of no column, only ``id``
            # and custom columns were added, and no name, email or phone was ever written)
            table = self._new_table()
            table.stamp, table.digest = stamp, digest(data)
            self._digested = (stamp, table.digest)
            return table
        first, newline = _first_line(text)
        delimiter = self.delimiter or _sniff(first)
        header, rows, tail = _parse(text, delimiter, f"{self.path}", self.name)
        if self.delimiter and len(header) == 1 and _sniff(first) in first.replace(self.delimiter, ""):
            # a delimiter set to one the file does not use reads every row as one cell:
            # every person would look deleted and come back as a junk contact
            raise FatalConnectorError(
                f"{self.path}: the header is one column with delimiter {self.delimiter!r}, but the "
                f"file looks {_sniff(first)!r}-separated: check the connector's delimiter setting",
                self.name,
            )
        table = _Table(header, rows, self._format_of(header), codec, bom, newline, delimiter)
        table.tail = tail
        if _cells(first + newline, delimiter) == header:  # (the line it was read from)
            table.head = (list(header), first + newline)
        self._refuse_duplicates(table)
        table.stamp, table.digest = stamp, digest(data)
        self._digested = (stamp, table.digest)
        undecodable = _UNDECODED.search(text) is not None
        for row in rows:
            if row.problem:
                continue
            while len(row.cells) > len(header) and not row.cells[-1]:
                row.cells.pop()
            if len(row.cells) != len(header):
                row.problem = f"{len(row.cells)} cells where the header has {len(header)}"
            elif undecodable and _UNDECODED.search("".join(row.cells)):
                row.problem = f"bytes that are not {codec}"
            elif (
                row.raw
                and '"' in row.raw  # (a row of one line: nothing to look at)
                and _BREAK.search(row.raw.rstrip("\r\n"))
                and (spans := _lines_as_rows(row.raw, row.line, len(header), delimiter))
            ):
                row.spans = spans  # its text kept until judged: it may be a problem row
            else:
                row.as_read(newline)  # a good row is written from its cells
        self._judge_spanning(table, [row for row in rows if row.spans is not None])
        return table

    def _judge_spanning(self, table: _Table, spanning: list[_Row]) -> None:
        """The connector's: which of the ``spanning`` rows (``_Row.spans``) hold rows the hub
        knows, each made a problem row naming the line its quote opened on (``holds``) and
        kept as its text; the others are good rows, written from their cells. By ids, which
        only the connector derives."""
        raise NotImplementedError

    def _format_of(self, header: list[str]) -> str:
        if not header:
            return "plain" if self.format == "auto" else self.format
        fmt, score = detect(header)
        if self.format != "auto":
            if score and not any(handlers_for(self.format, header, {})):
                # read as that format, every row would be a person of no known column: junk
                # people spread everywhere (a plain file set to format = "outlook", say)
                raise FatalConnectorError(
                    f"{self.path}: the header has no {self.format} column (it reads as {fmt}); "
                    f"set format = '{fmt}' or 'auto'",
                    self.name,
                )
            return self.format
        if not score and not set(self.config.mapping.values()) & set(header):
            raise FatalConnectorError(
                f"{self.path}: no known column in the header; set 'format' or a mapping",
                self.name,
            )
        return fmt

    def _refuse_duplicates(self, table: _Table) -> None:
        """A header naming a column the hub reads twice fails the file: a row was read from
        the last of the two and written into the first, so a value in the first was lost
        without a word, and an edit written there never read back. Names the hub does not
        read (an extra column of a spreadsheet, Thunderbird's empty last one) may repeat:
        their cells are never looked at and are written back as they were."""
        header = table.header
        if len(set(header)) == len(header):
            return
        read = {c for h in handlers_for(table.fmt, header, self.config.mapping) for _, c in h.cols}
        if table.fmt == "plain":
            read.add("id")
        where: dict[str, list[int]] = {}
        for number, name in enumerate(header, 1):
            if name in read:
                where.setdefault(name, []).append(number)
        twice = [
            f"{name!r} (columns {', '.join(map(str, numbers))})"
            for name, numbers in where.items()
            if len(numbers) > 1
        ]
        if twice:
            raise FatalConnectorError(
                f"{self.path}: the header names {' and '.join(twice)} more than once: which of "
                "the columns holds the value cannot be told, and a write would fill one and "
                "read back the other; rename or remove the extra columns",
                self.name,
            )

    def _new_table(self) -> _Table:
        """A file to start, in the ``encoding`` set (``utf-8-sig`` writes a BOM), else UTF-8,
        with a BOM for Outlook (which reads a file without one in the system's code page).
        Started in UTF-8 whatever the setting, a cp1252 file was read back as cp1252."""
        fmt = "plain" if self.format == "auto" else self.format
        if self.encoding != "auto":
            codec = codecs.lookup(self.encoding).name
        else:
            codec = "utf-8-sig" if fmt == "outlook" else "utf-8"
        # the mapped columns too: a file started empty is filled in by hand (a column the
        # first row written added was not there to fill, QA)
        header = list(DEFAULT_HEADERS[fmt])
        header += [c for c in dict.fromkeys(self.config.mapping.values()) if c not in header]
        return _Table(header, [], fmt, codec, b"", "\r\n", self.delimiter or ",")

    def _save(self, table: _Table) -> None:
        """Replace the file in one step: readers see the old file or the new, never half.
        An edit made by someone else since the file was read is never overwritten. The
        table is then what the file holds (``_kept``), its rows numbered by the lines they
        now start on."""
        if self._stat_key() != table.stamp:
            raise RetriableError(f"{self.path} changed while it was being written", self.name)
        # The csv module quotes a cell holding a character of its line terminator, and no
        # other line break: written with CR alone, a note's LF went out bare and read back as
        # the end of the row. So rows are spelled with CRLF, which quotes both, and then end
        # in the file's own line ending (the writer calls ``write`` once per row).
        spelled: list[str] = []
        writer = csv.writer(_Sink(spelled), delimiter=table.delimiter, lineterminator="\r\n")
        if table.head is not None and table.head[0] == table.header:
            lines = [table.head[1]]
        else:
            writer.writerow(table.header)
            lines = [spelled.pop()[:-2] + table.newline]
        number = 1 + len(_BREAK.findall(lines[0]))
        for row in table.rows:
            if row.lead:  # (blank lines before it, as read: one ends in a line break)
                lines.append(row.lead)
                number += len(_BREAK.findall(row.lead))
            row.line = number
            if row.raw is not None:  # as it was read; the last line of a file may have had no line ending
                text = row.raw if row.raw.endswith(("\n", "\r")) else row.raw + table.newline
                number += len(_BREAK.findall(text))
            elif row.text is not None and row.text[0] == row.cells:
                text = row.text[1]
                number += row.text[2]
            else:
                text = _respelled(row, writer, spelled, table.delimiter, table.newline)
                row.text = (list(row.cells), text, len(_BREAK.findall(text)))
                number += row.text[2]
            lines.append(text)
        lines.append(table.tail)
        strict = table.codec.startswith("utf-16")
        data = table.bom + "".join(lines).encode(table.codec, "strict" if strict else "surrogateescape")
        try:
            table.stamp, table.digest, table.written = self._replace(data), "", data
        except OSError as exc:
            # a folder made read-only (a share), an immutable file, a full disk: one clear
            # error that fails the run, which let through left it "applying" with a traceback
            reason = (exc.strerror or str(exc)).lower()
            raise FatalConnectorError(f"cannot write {self.path}: {reason}", self.name) from exc
        self._kept = table

    def _replace(self, data: bytes) -> str:
        """Write ``data`` to a temporary file beside the file, then rename it over the file;
        the new file's stat key (taken before the rename, so an edit made just after it is
        never taken for ours).

        A ``path`` that is a symbolic link (``contacts.csv -> shared-drive/contacts.csv``) is
        written through: the file replaced is the link's target, resolved at each write (the
        link may be pointed elsewhere between runs), with the temporary file beside it, so
        the rename stays on one file system. Renamed over the link itself, the link became a
        file of its own, and the hub went on alone while everyone else used the target. A
        link whose target's folder is gone (an unmounted share) fails the write; its folder
        is not made, which would start a file nobody else sees."""
        target = Path(os.path.realpath(self.path)) if self.path.is_symlink() else self.path
        if target == self.path:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
                key = _key(os.fstat(out.fileno()))  # a rename and a chmod change no mtime
            try:
                mode = target.stat().st_mode & 0o7777  # the file's own, kept
            except FileNotFoundError:
                # a new file gets what any program's new file gets (0644 under umask 022),
                # not mkstemp's 0600: an export for another account or program was unreadable
                mode = 0o666 & ~_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return key


def _key(st: os.stat_result) -> str:
    """A file's stat key: the inode too, as mtimes tick coarsely, and every write of ours is
    a new inode."""
    return f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}"


def _umask() -> int:
    """The process's umask, read from ``/proc`` where there is one: reading it with
    ``os.umask`` means setting it for a moment, when another thread (the web server's)
    could make a file open to everyone."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)  # (no /proc) the strictest for the moment it is changed
    os.umask(mask)
    return mask
