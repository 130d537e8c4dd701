"""Single cells of contact CSV files: the spreadsheet formula-injection guard
(``protect``/``unprotect``, and ``read_cell``, a cell's text as the hub reads it), the plain
format's multi-valued cell (``type:value; type:value``, addresses as ``|``-separated parts)
and dates as programs write them (``parse_date``, ``date_style``, ``format_date``). Kept
apart from the dialects and the row handlers because these are about one cell's text and
know nothing about headers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from contacthub.model import ADDRESS_PARTS

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(value: str) -> bool:
    return value.startswith(_TRIGGERS) or (value[:1] == "'" and value[1:2].startswith(_TRIGGERS)
                                           and value[1:2] != "")  # fmt: skip


def protect(value: str) -> str:
    """OWASP CSV injection defence: a leading quote makes spreadsheets show text, not run a
    formula. A value that itself starts with a quote before a trigger gets one more, so
    ``unprotect`` gives back every value exactly (``+1 202 555 0100`` included)."""
    return "'" + value if value and _needs_quote(value) else value


def unprotect(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and _needs_quote(cell[1:]) else cell


def read_cell(cell: str) -> str:
    """A cell of the file as the hub reads it: without the formula guard, and with a lone CR
    (a line break as classic Mac programs and Excel for Mac write it) read as a line break.
    The hub's values break lines with LF only (``clean_text`` drops a CR as a control
    character), so "line 1\\rline 2" in a note became "line 1line 2": two lines glued into
    one, in every other system. A CRLF is one line break. The cell itself is left as it is
    in the file while its value does not change."""
    text = unprotect(cell)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


_TYPE_PREFIX = re.compile(r"((?!\d)\w[\w .-]{0,29}):(?!//)")
_NOT_TYPES = {"mailto", "tel", "http", "https", "sip", "xmpp"}


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace("|", "\\|")


def _split(text: str, sep: str, unescape: bool) -> list[str]:
    """Split on ``sep`` where no backslash escapes it; ``unescape`` drops the backslashes."""
    if "\\" not in text:
        return text.split(sep)
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i + 1] if unescape else text[i : i + 2])
            i += 2
            continue
        if text[i] == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    return [*parts, "".join(cur)]


def encode_items(field: str, items: list[dict[str, Any]]) -> str:
    """The plain format's multi-valued cell: ``type:value; type:value``, primary first."""
    out = []
    for item in items:
        if field == "addresses":
            body = "|".join(_esc(str(item.get(p, ""))) for p in ADDRESS_PARTS)
        else:
            body = _esc(str(item["value"]))
        kind = re.sub(r"[^\w .-]", "-", str(item.get("type", "")))
        if kind or _TYPE_PREFIX.match(body) or body.startswith(":"):
            body = f"{kind}:{body}"
        out.append(body)
    return "; ".join(out)


def decode_items(field: str, text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for raw in _split(text, ";", unescape=False):
        raw = raw.strip()
        kind = ""
        m = _TYPE_PREFIX.match(raw)
        if raw.startswith(":"):
            raw = raw[1:]
        elif m and m.group(1).lower() not in _NOT_TYPES:
            kind, raw = m.group(1), raw[m.end() :]
        if not raw:
            continue
        if field == "addresses":
            parts = [*_split(raw, "|", unescape=True), "", "", "", "", ""][: len(ADDRESS_PARTS)]
            items.append({**dict(zip(ADDRESS_PARTS, parts, strict=True)), "type": kind})
        else:
            value = _split(raw, ";", unescape=True)[0]
            items.append({"value": value, "type": kind, "primary": not items})
    return items


_ISO_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
#: a date without a year: vCard's ``--MM-DD``, which Google's CSV export writes after a space
_YEARLESS = re.compile(r"--(\d\d)-(\d\d)")
_NUMERIC_DATE = re.compile(r"(\d{1,2})([/.])(\d{1,2})\2(\d{2,4})")


def parse_date(text: str) -> str:
    """ISO ``YYYY-MM-DD`` from Outlook's ``m/d/yyyy`` and European ``d.m.yyyy``; Outlook's
    ``0/0/00`` means no date; a date without a year is ``--MM-DD`` (Google writes
    `` --MM-DD``); anything else, a day that does not exist (2/29/2001) included, is kept
    as written."""
    yearless = _YEARLESS.fullmatch(text.strip())
    if yearless and 1 <= int(yearless.group(1)) <= 12 and 1 <= int(yearless.group(2)) <= 31:
        return yearless.group(0)
    m = _NUMERIC_DATE.fullmatch(text.strip())
    if not m:
        return text
    a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
    month, day = (a, b) if m.group(2) == "/" else (b, a)
    if not (1 <= month <= 12 and 1 <= day <= 31) or len(year) != 4:
        return "" if a == b == 0 else text
    try:
        date(int(year), month, day)
    except ValueError:
        return text
    return f"{year}-{month:02d}-{day:02d}"


def _exists(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


#: how a file spells its dates (``date_style``): ISO, Outlook's (US), European
DATE_STYLES = ("", "m/d/yyyy", "mm/dd/yyyy", "d.m.yyyy", "dd.mm.yyyy")


def date_style(cells: Iterable[str]) -> str:
    """The spelling most of ``cells`` (a file's date cells) have, one of ``DATE_STYLES``:
    ``""`` (ISO, what the hub writes when it cannot tell) with no date, or as many of one
    spelling as of another. Cells that are no full date (empty, Outlook's ``0/0/00``, a
    yearless or a free-text date) say nothing. Zero-padding is what the padded and unpadded
    cells say (``01.02.1980`` against ``1.2.1980``); cells that cannot tell (``12/25/1980``)
    leave it to the separator's usual habit: Outlook's ``1/2/1980``, the European
    ``01.02.1980``."""
    votes: Counter[str] = Counter()
    padding: Counter[tuple[str, bool]] = Counter()
    for cell in cells:
        text = cell.strip()
        iso = _ISO_DATE.fullmatch(text)
        if iso and _exists(*iso.groups()):
            votes[""] += 1
            continue
        m = _NUMERIC_DATE.fullmatch(text)
        if not m or len(m.group(4)) != 4 or parse_date(text) == text:
            continue  # not a date this reads (2/29/2001), or a two-digit year
        sep, a, b = m.group(2), m.group(1), m.group(3)
        votes[sep] += 1
        if len(a) == 1 or len(b) == 1:
            padding[sep, False] += 1
        elif "0" in (a[0], b[0]):
            padding[sep, True] += 1
    ranked = votes.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]) or not ranked[0][0]:
        return ""
    sep = ranked[0][0]
    padded, unpadded = padding[sep, True], padding[sep, False]
    pad = padded > unpadded if padded != unpadded else sep == "."
    if sep == "/":
        return "mm/dd/yyyy" if pad else "m/d/yyyy"
    return "dd.mm.yyyy" if pad else "d.m.yyyy"


def format_date(value: str, style: str = "", yearless: bool = True) -> str | None:
    """A hub date as a date column of ``style`` (``date_style``) spells it, read back by
    ``parse_date`` as the same value: a new row of an Outlook file gets ``1/2/1980`` like
    the rows Outlook wrote, not ``1980-01-02``. A date without a year is Google's
    `` --MM-DD`` (its own export's spelling): the space keeps spreadsheets from taking
    ``--12-25`` for arithmetic (Excel shows -13) and the formula guard from writing
    ``'--12-25``, which no program reads as a date (the value cannot run anything, but a
    guard that made exceptions would be one more thing to get wrong). A column with no
    spelling for it (``yearless`` false: Outlook's ``Birthday``) gets ``None``, never a
    made-up year. A day that does not exist (1980-02-30) and free text are written as they
    are: respelled, they would read back as another value."""
    iso = _ISO_DATE.fullmatch(value)
    if iso and style and _exists(*iso.groups()):
        year, month, day = iso.groups()
        if not style.startswith(("mm", "dd")):
            month, day = str(int(month)), str(int(day))
        return f"{month}/{day}/{year}" if "/" in style else f"{day}.{month}.{year}"
    if _YEARLESS.fullmatch(value):
        return " " + value if yearless else None
    return value
