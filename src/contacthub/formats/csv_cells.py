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

from contacthub.model import ADDRESS_PARTS, normalize_phone

#: what a spreadsheet program runs a cell starting with as a formula (OWASP's list)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(value: str) -> bool:
    return value.startswith(FORMULA_TRIGGERS) or (value[:1] == "'" and value[1:2].startswith(FORMULA_TRIGGERS)
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


_ADDRESS = r'[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+'
#: one address of several typed into one cell: bare, or with a name ("Dan Ng <dan@ng.test>")
_ONE_EMAIL = re.compile(rf'{_ADDRESS}|[^<>,;"]*<\s*{_ADDRESS}\s*>')


def split_emails(text: str) -> list[str]:
    """The addresses of an email cell holding several, as Outlook and Thunderbird users type
    them (``a@x.test; b@x.test``, ``a@x.test, b@x.test``), when every part is an address;
    else the cell as one value, as before. Read as one, it was one invalid email that took
    the place of the valid one on every card. (Google's own `` ::: `` is split first.)"""
    if ";" not in text and "," not in text:
        return [text]
    parts = [part.strip() for part in re.split(r"[;,]", text)]
    parts = [part for part in parts if part]
    if len(parts) < 2 or not all(_ONE_EMAIL.fullmatch(part) for part in parts):
        return [text]
    return parts


#: a phone number as dialled within its country: digits and punctuation, no ``+``
_NATIONAL = re.compile(r"[0-9 ().-]*[0-9][0-9 ().-]*")


def spell_phone(value: str, templates: Iterable[str], region: str) -> str:
    """A phone number the hub holds (E.164) spelled as the file spells its numbers: in
    national notation, like the first of ``templates`` (the cell it replaces, then the
    row's other phone cells) that is a national number of ``region``, digit for digit
    where it has as many digits (``(555) 201-0004`` makes ``+15552019999`` into
    ``(555) 201-9999``), else in the usual national notation. A number of another
    country, a row with no national number, or a spelling that would not read back as
    ``value`` gets ``value`` itself (which the formula guard then writes after a quote:
    a leading ``+`` is a formula in spreadsheets; a national number needs no guard)."""
    if not value.startswith("+") or not region:
        return value
    import phonenumbers

    code = f"+{phonenumbers.country_code_for_region(region)}"
    if code == "+0" or not value.startswith(code):
        return value
    template = next(
        (
            t.strip()
            for t in templates
            if _NATIONAL.fullmatch(t.strip()) and normalize_phone(t, region).startswith(code)
        ),
        None,
    )
    if template is None:
        return value
    try:
        national = phonenumbers.format_number(
            phonenumbers.parse(value, None), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return value
    digits = re.sub(r"[^0-9]", "", national)
    if sum(c.isdigit() for c in template) == len(digits):
        given = iter(digits)
        national = "".join(next(given) if c.isdigit() else c for c in template)
    return national if normalize_phone(national, region) == value else value


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
#: year first, as Japanese and Chinese Windows write a date: ``1980/12/25``
_YEAR_FIRST = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")

#: the csv connector's ``date_order`` setting: how a slashed date with the year last
#: (``3/4/1980``) is read; ``auto`` is the order the file's own dates show (``date_order``)
DATE_ORDERS = ("auto", "mdy", "dmy", "ymd")


class DateOrderError(ValueError):
    """A slashed date the file's order cannot read: one that reads both ways in a file whose
    dates show both orders, or one that reads only in the order ``date_order`` says it is
    not. Guessed, it would be a birthday moved to another month in every other system."""


def _iso(year: str, month: int, day: int) -> str | None:
    try:
        date(int(year), month, day)
    except ValueError:
        return None
    return f"{year}-{month:02d}-{day:02d}"


def _readings(text: str) -> tuple[str | None, str | None] | None:
    """A slashed date with a four-digit year last read month first and day first (None for
    the order it is no date in); None when ``text`` is no such date."""
    m = _NUMERIC_DATE.fullmatch(text.strip())
    if not m or m.group(2) != "/" or len(m.group(4)) != 4:
        return None
    a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
    return _iso(year, a, b), _iso(year, b, a)


def says_no_date(cell: str) -> bool:
    """An empty cell, or Outlook's ``0/0/00`` ("no date")."""
    m = _NUMERIC_DATE.fullmatch(cell.strip())
    return not cell.strip() or bool(m and int(m.group(1)) == int(m.group(3)) == 0)


def is_date(value: str) -> bool:
    """Whether ``value`` is a date as the hub holds one: an ISO day that exists, or a
    ``--MM-DD`` of a month and a day that can be."""
    iso = _ISO_DATE.fullmatch(value.strip())
    if iso:
        return _exists(*iso.groups())
    yearless = _YEARLESS.fullmatch(value.strip())
    return yearless is not None and _exists("2000", *yearless.groups())  # (2000: a leap year)


def parse_date(text: str, order: str = "mdy", strict: bool = False) -> str:
    """ISO ``YYYY-MM-DD`` from Outlook's ``m/d/yyyy``, the UK's ``d/m/yyyy``, the
    European ``d.m.yyyy`` (always day first) and ``yyyy/m/d`` (always year first);
    Outlook's ``0/0/00`` means no date; a date without a year is ``--MM-DD`` (Google
    writes `` --MM-DD``); anything else, a day that does not exist (2/29/2001) or a
    two-digit year included, is kept as written, unless ``strict``.

    ``order`` says how a slashed date with the year last is read: ``mdy`` (Outlook's US
    default), ``dmy``, ``mixed`` (the file has dates of both orders: each read the one way
    it can be a date) or ``ymd`` (the file's dates are year first). One that reads the
    same both ways (``5/5/1980``) is that date whatever the order; one that reads only in
    an order ``order`` excludes, or both ways in a ``mixed`` file, raises
    ``DateOrderError``.

    ``strict`` (the connector's ``date_order`` is set, not ``auto``): a cell that is no
    date at all (``31/31/1980``, ``tomorrow``) raises ``DateOrderError`` too. Kept as
    written, it was a birthday of text in every other system, ``BDAY:tomorrow`` in a
    card, though the setting says what the file's dates are."""
    value = _read_date(text, order)
    if strict and value and not is_date(value):
        raise DateOrderError(
            f"{text.strip()!r} is no date (with date_order = {order!r} set, a date cell holds a "
            "date or nothing): fix the cell"
        )
    return value


def _read_date(text: str, order: str) -> str:
    """``parse_date`` but for ``strict``: the text itself when it is no date."""
    yearless = _YEARLESS.fullmatch(text.strip())
    if yearless and 1 <= int(yearless.group(1)) <= 12 and 1 <= int(yearless.group(2)) <= 31:
        return yearless.group(0)
    first = _YEAR_FIRST.fullmatch(text.strip())
    if first:
        return _iso(first.group(1), int(first.group(2)), int(first.group(3))) or text
    m = _NUMERIC_DATE.fullmatch(text.strip())
    if not m:
        return text
    if says_no_date(text):
        return ""
    readings = _readings(text)
    if readings is None:  # dotted: day first; or a two-digit year
        dotted = m.group(2) == "." and len(m.group(4)) == 4
        return (dotted and _iso(m.group(4), int(m.group(3)), int(m.group(1)))) or text
    month_first, day_first = readings
    if month_first == day_first or (order == "mixed" and not (month_first and day_first)):
        return month_first or day_first or text
    if order == "mdy" and month_first:
        return month_first
    if order == "dmy" and day_first:
        return day_first
    if order == "mixed":
        raise DateOrderError(
            f"{text.strip()!r} reads as a date day first and month first, and this file has "
            'dates of both orders: set the csv setting date_order ("dmy" or "mdy")'
        )
    raise DateOrderError(
        f"{text.strip()!r} is no date in the order date_order = {order!r} says the file's "
        "dates have: fix the cell, or the setting"
    )


def date_order(cells: Iterable[str]) -> str:
    """The order a file's slashed dates show (``parse_date``): ``dmy`` when some read only
    day first (``25/12/1980``), ``mdy`` when some read only month first (``12/25/1980``),
    ``mixed`` when there are both, ``""`` when no cell tells (``3/4/1980`` reads both ways)."""
    seen = set()
    for cell in cells:
        readings = _readings(cell)
        if readings and bool(readings[0]) != bool(readings[1]):
            seen.add("mdy" if readings[0] else "dmy")
    return "mixed" if len(seen) == 2 else next(iter(seen), "")


def _exists(year: str, month: str, day: str) -> bool:
    return _iso(year, int(month), int(day)) is not None


#: how a file spells its dates (``date_style``): ISO, Outlook's (US), the UK's, European,
#: year first (Japanese and Chinese Windows)
DATE_STYLES = (
    "", "m/d/yyyy", "mm/dd/yyyy", "d/m/yyyy", "dd/mm/yyyy", "d.m.yyyy", "dd.mm.yyyy", "yyyy/m/d",
    "yyyy/mm/dd",
)  # fmt: skip


def date_style(cells: Iterable[str], order: str = "mdy") -> str:
    """The spelling most of ``cells`` (a file's date cells) have, one of ``DATE_STYLES``:
    ``""`` (ISO, what the hub writes when it cannot tell) with no date, or as many of one
    spelling as of another. Cells that are no full date (empty, Outlook's ``0/0/00``, a
    yearless or a free-text date) say nothing. A slashed date with the year last is
    spelled in the file's ``order`` (``parse_date``); in a file of both orders (``mixed``)
    or of year-first dates (``ymd``) it is written as ISO, which reads back the same
    whatever the order. Zero-padding is what the padded and unpadded cells say
    (``01.02.1980`` against ``1.2.1980``); cells that cannot tell (``12/25/1980``) leave
    it to the usual habit: Outlook's US ``1/2/1980``, the UK's ``02/01/1980``, the
    European ``01.02.1980``, the Japanese ``1980/01/02``."""
    votes: Counter[str] = Counter()
    padding: Counter[tuple[str, bool]] = Counter()
    for cell in cells:
        text = cell.strip()
        iso = _ISO_DATE.fullmatch(text)
        if iso and _exists(*iso.groups()):
            votes[""] += 1
            continue
        first = _YEAR_FIRST.fullmatch(text)
        m = _NUMERIC_DATE.fullmatch(text)
        if first:
            sep, a, b = "y", first.group(2), first.group(3)
        elif m and len(m.group(4)) == 4:
            sep, a, b = m.group(2), m.group(1), m.group(3)
        else:
            continue  # a two-digit year, or no date
        try:
            if parse_date(text, order) in (text, ""):
                continue  # not a date this reads (2/29/2001)
        except DateOrderError:
            continue
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
    pad = padded > unpadded if padded != unpadded else sep != "/" or order == "dmy"
    if sep == "y":
        return "yyyy/mm/dd" if pad else "yyyy/m/d"
    if sep == ".":
        return "dd.mm.yyyy" if pad else "d.m.yyyy"
    if order == "mdy":
        return "mm/dd/yyyy" if pad else "m/d/yyyy"
    if order == "dmy":
        return "dd/mm/yyyy" if pad else "d/m/yyyy"
    return ""


def format_date(value: str, style: str = "", yearless: bool = True, strict: bool = False) -> str | None:
    """A hub date as a date column of ``style`` (``date_style``) spells it, read back by
    ``parse_date`` as the same value: a new row of an Outlook file gets ``1/2/1980`` like
    the rows Outlook wrote, not ``1980-01-02``. A date without a year is Google's
    `` --MM-DD`` (its own export's spelling): the space keeps spreadsheets from taking
    ``--12-25`` for arithmetic (Excel shows -13) and the formula guard from writing
    ``'--12-25``, which no program reads as a date (the value cannot run anything, but a
    guard that made exceptions would be one more thing to get wrong). A column with no
    spelling for it (``yearless`` false: Outlook's ``Birthday``) gets ``None``, never a
    made-up year. A day that does not exist (1980-02-30) and free text are written as they
    are: respelled, they would read back as another value; with ``strict`` (the file's
    ``date_order`` is set, so reading such a cell is an error: ``parse_date``) they get
    ``None`` instead, as a date the column cannot spell."""
    if strict and not is_date(value):
        return None
    iso = _ISO_DATE.fullmatch(value)
    if iso and style and _exists(*iso.groups()):
        year, month, day = iso.groups()
        if "mm" not in style:
            month, day = str(int(month)), str(int(day))
        if style.startswith("y"):
            return f"{year}/{month}/{day}"
        if "/" in style:
            return f"{day}/{month}/{year}" if style.startswith("d") else f"{month}/{day}/{year}"
        return f"{day}.{month}.{year}"
    if _YEARLESS.fullmatch(value):
        return " " + value if yearless else None
    return value
