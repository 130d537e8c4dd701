"""Column dialects of contact CSV files: which header means which canonical field.

A dialect turns a file's header into *handlers* (``csv_rows.Handler``), each owning some
columns and one canonical field (or ``custom.*``); ``csv_rows`` reads and writes rows through
them and ``csv_cells`` spells single cells. This module holds the dialects: their header
tables, which handlers a header gets (``handlers_for``), which dialect a header is
(``detect``) and which columns to add so the fields fit (``missing_columns``). The names of
the other two that callers import from here are re-exported.

Dialects: ``outlook`` (English and Japanese headers), ``google`` (the legacy ``Name, Given
Name, ... E-mail 1 - Type`` and the current ``First Name, ... E-mail 1 - Label`` exports, whose
numbered slots grow when more values must fit), ``thunderbird`` and ``plain`` (our own format,
see ``contacthub.connectors.csv_file`` for how its multi-valued cells are spelled).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contacthub.formats.csv_cells import decode_items, encode_items, parse_date, protect, unprotect
from contacthub.formats.csv_rows import Handler, Row, read_row, render
from contacthub.model import (
    ADDRESS_PARTS,
    CUSTOM_PREFIX,
    MULTI_FIELDS,
    SCALAR_FIELDS,
    Fields,
)

__all__ = [
    "ALIASES",
    "DEFAULT_HEADERS",
    "FORMATS",
    "PLAIN_COLUMNS",
    "PLAIN_SPELLINGS",
    "Handler",
    "Row",
    "canonical_header",
    "decode_items",
    "detect",
    "encode_items",
    "handlers_for",
    "missing_columns",
    "parse_date",
    "protect",
    "read_row",
    "render",
    "spelled_field",
    "spelling",
    "unprotect",
]

# --- dialect specifications (English headers; localised ones are aliased below) --------------

_OUTLOOK_SCALARS = {
    "Title": "name_prefix",
    "First Name": "given_name",
    "Middle Name": "middle_name",
    "Last Name": "family_name",
    "Suffix": "name_suffix",
    "Company": "organization",
    "Department": "department",
    "Job Title": "job_title",
    "Notes": "notes",
    "Birthday": "birthday",
    **{f"User {n}": f"custom.user{n}" for n in range(1, 5)},
}
_OUTLOOK_PHONES = (
    ("Business Phone", "work"), ("Business Phone 2", "work"), ("Home Phone", "home"),
    ("Home Phone 2", "home"), ("Mobile Phone", "cell"), ("Business Fax", "fax"),
    ("Home Fax", "fax"), ("Other Fax", "fax"), ("Pager", "pager"), ("Car Phone", "car"),
    ("Company Main Phone", "main"), ("Other Phone", ""), ("Primary Phone", ""),
)  # fmt: skip
_OUTLOOK_ADDRESS = ("Street", "Street 2", "Street 3", "City", "State", "Postal Code",
                    "Country/Region")  # fmt: skip
_OUTLOOK_AREAS = (("Business", "work"), ("Home", "home"), ("Other", "other"))
_OUTLOOK_EMAILS = ("E-mail Address", "E-mail 2 Address", "E-mail 3 Address")

_JA_AREAS = {"会社": "Business", "自宅": "Home", "その他": "Other"}
_JA_PARTS = {"番地": "Street", "住所 2": "Street 2", "住所 3": "Street 3", "市町村": "City",
             "都道府県": "State", "郵便番号": "Postal Code"}  # fmt: skip
ALIASES: dict[str, str] = {
    "肩書き": "Title", "名": "First Name", "ミドル ネーム": "Middle Name", "姓": "Last Name",
    "敬称": "Suffix", "会社名": "Company", "部署": "Department", "役職": "Job Title",
    "メモ": "Notes", "誕生日": "Birthday", "Web ページ": "Web Page",
    "会社電話": "Business Phone", "会社電話 2": "Business Phone 2", "自宅電話": "Home Phone",
    "自宅電話 2": "Home Phone 2", "携帯電話": "Mobile Phone", "会社 FAX": "Business Fax",
    "自宅 FAX": "Home Fax", "その他の FAX": "Other Fax", "ポケットベル": "Pager",
    "自動車電話": "Car Phone", "会社代表電話": "Company Main Phone",
    "その他の電話": "Other Phone", "通常の電話": "Primary Phone",
    "電子メール アドレス": "E-mail Address", "電子メール 2 アドレス": "E-mail 2 Address",
    "電子メール 3 アドレス": "E-mail 3 Address",
    "Email Address": "E-mail Address", "Business Country": "Business Country/Region",
    "Home Country": "Home Country/Region", "Other Country": "Other Country/Region",
    **{f"ユーザー {n}": f"User {n}" for n in range(1, 5)},
    **{f"{p} ({a})": f"{e} {ep}" for a, e in _JA_AREAS.items() for p, ep in _JA_PARTS.items()},
    **{f"国 ({a})/地域": f"{e} Country/Region" for a, e in _JA_AREAS.items()},
}  # fmt: skip

_TB_SCALARS = {
    "First Name": "given_name", "Last Name": "family_name", "Display Name": "display_name",
    "Job Title": "job_title", "Department": "department", "Organization": "organization",
    "Notes": "notes", **{f"Custom {n}": f"custom.custom{n}" for n in range(1, 5)},
}  # fmt: skip
_TB_PHONES = (("Work Phone", "work"), ("Home Phone", "home"), ("Fax Number", "fax"),
              ("Pager Number", "pager"), ("Mobile Number", "cell"))  # fmt: skip

_GOOGLE_SCALARS = {
    "Name": "display_name", "Given Name": "given_name", "Additional Name": "middle_name",
    "Family Name": "family_name", "First Name": "given_name", "Middle Name": "middle_name",
    "Last Name": "family_name", "Name Prefix": "name_prefix", "Name Suffix": "name_suffix",
    "Organization 1 - Name": "organization", "Organization 1 - Title": "job_title",
    "Organization 1 - Department": "department", "Organization Name": "organization",
    "Organization Title": "job_title", "Organization Department": "department",
    "Birthday": "birthday", "Notes": "notes",
}  # fmt: skip
_GOOGLE_KINDS = {"E-mail": "emails", "Phone": "phones", "Website": "websites",
                 "Address": "addresses", "Custom Field": "custom.*"}  # fmt: skip
_GOOGLE_SLOT = re.compile(r"(E-mail|Phone|Website|Address|Custom Field) (\d+) - (\w[\w ]*)")
_GOOGLE_ADDRESS = {
    "Street": "street",
    "City": "city",
    "Region": "region",
    "Postal Code": "postal_code",
    "Country": "country",
    "Formatted": "formatted",
}

PLAIN_COLUMNS = ("id", *SCALAR_FIELDS[:10], *MULTI_FIELDS, *SCALAR_FIELDS[10:])

#: a plain file's header as people write it by hand: each spelling (matched without case,
#: ``_`` read as a space) is read and written as its field, in the column as the user named
#: it, while the file has no column of the field's own name. A header ``name`` went unread
#: (people got their organisation as their name, and the hub's names were never written
#: there). A list field so spelled is one value a cell, as typed by hand (the type said by
#: the column: ``mobile`` holds a cell phone), like Outlook's columns; the rest of the list
#: is not in the file. A scalar field's own name spelled otherwise (``Notes``, ``Birthday``,
#: ``Name Prefix``) is one too (``_FIELD_SPELLINGS``). Detection counts none of these for
#: an export (``detect``): ``Name`` or ``Title`` alone made a hand-made sheet Google's or
#: Outlook's, and its ``Email`` and ``Phone`` went unread
PLAIN_SPELLINGS: dict[str, tuple[str, str]] = {
    "name": ("display_name", ""), "full name": ("display_name", ""),
    "display name": ("display_name", ""),
    "first name": ("given_name", ""), "given name": ("given_name", ""),
    "middle name": ("middle_name", ""),
    "last name": ("family_name", ""), "surname": ("family_name", ""),
    "family name": ("family_name", ""),
    "company": ("organization", ""), "organisation": ("organization", ""),
    "title": ("job_title", ""), "job title": ("job_title", ""),
    "email": ("emails", ""), "e-mail": ("emails", ""), "mail": ("emails", ""),
    "email address": ("emails", ""), "e-mail address": ("emails", ""),
    "phone": ("phones", ""), "telephone": ("phones", ""), "tel": ("phones", ""),
    "phone number": ("phones", ""), "mobile": ("phones", "cell"),
    "mobile phone": ("phones", "cell"),
    "website": ("websites", ""), "url": ("websites", ""),
}  # fmt: skip
#: the scalar fields' own names as a header may spell them (``Notes``, ``Job_Title``): read
#: as those fields, as ``PLAIN_SPELLINGS`` are (a list field's own name is a list cell, and
#: only as written: ``emails``)
_FIELD_SPELLINGS: dict[str, tuple[str, str]] = {" ".join(f.split("_")): (f, "") for f in SCALAR_FIELDS}
_OUTLOOK_ORDER = (
    "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,"
    + ",".join(f"{a} {p}" for a, _ in _OUTLOOK_AREAS for p in _OUTLOOK_ADDRESS)
    + ",Business Fax,Business Phone,Business Phone 2,Car Phone,Company Main Phone,Home Fax,"
    "Home Phone,Home Phone 2,Mobile Phone,Other Fax,Other Phone,Pager,Primary Phone,Birthday,"
    "E-mail Address,E-mail 2 Address,E-mail 3 Address,Notes,User 1,User 2,User 3,User 4,Web Page"
)
_THUNDERBIRD_ORDER = (
    "First Name,Last Name,Display Name,Nickname,Primary Email,Secondary Email,Screen Name,"
    "Work Phone,Home Phone,Fax Number,Pager Number,Mobile Number,Home Address,Home Address 2,"
    "Home City,Home State,Home ZipCode,Home Country,Work Address,Work Address 2,Work City,"
    "Work State,Work ZipCode,Work Country,Job Title,Department,Organization,Web Page 1,"
    "Web Page 2,Birth Year,Birth Month,Birth Day,Custom 1,Custom 2,Custom 3,Custom 4,Notes"
)
_GOOGLE_ORDER = (
    "First Name,Middle Name,Last Name,Name Prefix,Name Suffix,Organization Name,"
    "Organization Title,Organization Department,Birthday,Notes,"
    "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value"
)
#: the header of a file this connector starts: each program's own columns in its own order
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "plain": PLAIN_COLUMNS,
    "outlook": tuple(_OUTLOOK_ORDER.split(",")),
    "google": tuple(_GOOGLE_ORDER.split(",")),
    "thunderbird": tuple(_THUNDERBIRD_ORDER.split(",")),
}
FORMATS = tuple(DEFAULT_HEADERS)


def canonical_header(name: str) -> str:
    return ALIASES.get(name.strip(), name.strip())


def _present(header: list[str]) -> dict[str, str]:
    """English spec name -> the file's own column name (first occurrence wins)."""
    out: dict[str, str] = {}
    for name in header:
        out.setdefault(canonical_header(name), name)
    return out


def _scalar(field: str, column: str, yearless: bool = True) -> Handler:
    """The handler of one column holding one field: a ``date`` one for the birthday."""
    if field == "birthday":
        return Handler("date", field, (("value", column),), yearless=yearless)
    return Handler("scalar", field, (("value", column),))


def _plain_handlers(cols: dict[str, str], spellings: bool = True) -> list[Handler]:
    out: list[Handler] = []
    for name, actual in cols.items():
        if name in MULTI_FIELDS:
            out.append(Handler("cell", name, (("value", actual),)))
        elif name in SCALAR_FIELDS or (name.startswith(CUSTOM_PREFIX) and name != CUSTOM_PREFIX):
            out.append(_scalar(name, actual))
    return out + _spelled(cols) if spellings else out


def spelling(name: str) -> str:
    """A header as ``PLAIN_SPELLINGS`` matches it: ``First_Name`` is ``first name``."""
    return " ".join(name.lower().replace("_", " ").split())


def _spelled_as(name: str) -> tuple[str, str]:
    """The field, and the type its values take, a column of this name holds in a plain
    file that has no column of the field's own name (``PLAIN_SPELLINGS``,
    ``_FIELD_SPELLINGS``); ("", "") for none."""
    key = spelling(name)
    return PLAIN_SPELLINGS.get(key) or _FIELD_SPELLINGS.get(key, ("", ""))


def spelled_field(name: str) -> str:
    """The field of ``_spelled_as``; "" for none."""
    return _spelled_as(name)[0]


def _spelled(cols: dict[str, str]) -> list[Handler]:
    """The handlers of the columns ``PLAIN_SPELLINGS`` reads: for a field the file has no
    column of its own name for, the first column spelling it (each one, of a list field:
    ``phone`` and ``mobile`` are two phones)."""
    out: list[Handler] = []
    seen: set[str] = set()
    for name, actual in cols.items():
        field, kind = _spelled_as(name)
        if not field or field in cols or (field in seen and field not in MULTI_FIELDS):
            continue
        seen.add(field)
        if field in MULTI_FIELDS:
            out.append(Handler("slot", field, (("value", actual),), kind))
        else:
            out.append(_scalar(field, actual))
    return out


def _fixed_slots(cols: dict[str, str], field: str, spec: Any) -> list[Handler]:
    return [Handler("slot", field, (("value", cols[c]),), t) for c, t in spec if c in cols]


def _address_slots(cols: dict[str, str], areas: Any, parts: Mapping[str, str]) -> list[Handler]:
    out = []
    for prefix, kind in areas:
        found = tuple((role, cols[f"{prefix} {p}"]) for p, role in parts.items()
                      if f"{prefix} {p}" in cols)  # fmt: skip
        if found:
            out.append(Handler("slot", "addresses", found, kind))
    return out


def _outlook_handlers(cols: dict[str, str]) -> list[Handler]:
    # Outlook keeps a birthday as a whole date: a cell without a year reads as none, or as a
    # year made up by whoever guesses it
    out = [_scalar(f, cols[c], yearless=False) for c, f in _OUTLOOK_SCALARS.items() if c in cols]
    out += _fixed_slots(cols, "emails", [(c, "") for c in _OUTLOOK_EMAILS])
    out += _fixed_slots(cols, "phones", _OUTLOOK_PHONES)
    out += _fixed_slots(cols, "websites", [("Web Page", "")])
    parts = dict(zip(_OUTLOOK_ADDRESS, ("street", "street2", "street3", *ADDRESS_PARTS[1:]),
                     strict=True))  # fmt: skip
    return out + _address_slots(cols, _OUTLOOK_AREAS, parts)


def _thunderbird_handlers(cols: dict[str, str]) -> list[Handler]:
    if "Home Country/Region" in cols:
        # Thunderbird's own "Home Country" is also an old Outlook spelling, which ALIASES
        # reads as "Home Country/Region": unmapped, every home country was dropped
        cols = {**cols, "Home Country": cols["Home Country/Region"]}
    out = [_scalar(f, cols[c]) for c, f in _TB_SCALARS.items() if c in cols]
    out += _fixed_slots(cols, "emails", [("Primary Email", ""), ("Secondary Email", "")])
    out += _fixed_slots(cols, "phones", _TB_PHONES)
    out += _fixed_slots(cols, "websites", [("Web Page 1", "work"), ("Web Page 2", "home")])
    parts = {"Address": "street", "Address 2": "street2", "City": "city", "State": "region",
             "ZipCode": "postal_code", "Country": "country"}  # fmt: skip
    out += _address_slots(cols, (("Work", "work"), ("Home", "home")), parts)
    birth = tuple((r, cols[f"Birth {r.title()}"]) for r in ("year", "month", "day")
                  if f"Birth {r.title()}" in cols)  # fmt: skip
    return out + ([Handler("parts", "birthday", birth)] if birth else [])


def _google_handlers(cols: dict[str, str]) -> list[Handler]:
    out = [_scalar(f, cols[c]) for c, f in _GOOGLE_SCALARS.items() if c in cols]
    slots: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for name, actual in cols.items():
        m = _GOOGLE_SLOT.fullmatch(name)
        if not m:
            continue
        kind, n, role = m.group(1), int(m.group(2)), m.group(3)
        if role in ("Type", "Label"):
            role = "label" if kind == "Custom Field" else "type"
        elif kind == "Address":
            role = _GOOGLE_ADDRESS.get(role, "")
        else:
            role = "value" if role == "Value" else ""
        if role:
            slots.setdefault((kind, n), []).append((role, actual))
    for (kind, _n), found in sorted(slots.items()):
        field = _GOOGLE_KINDS[kind]
        out.append(Handler("pair" if kind == "Custom Field" else "slot", field, tuple(found),
                           split=kind != "Address"))  # fmt: skip
    return out


def handlers_for(
    fmt: str, header: list[str], mapping: Mapping[str, str], spellings: bool = True
) -> list[Handler]:
    """The handlers of ``fmt`` for this header; the user's mapping replaces the handlers of
    the fields it names (a multi-valued field mapped to one column uses the plain spelling)
    and owns the columns it names: mapped onto Outlook's ``User 1``, a field is that
    column's only meaning (``_without``), else the column was also read as
    ``custom.user1`` and an edit to either field overwrote the other. ``spellings``: a
    plain file's ``PLAIN_SPELLINGS`` are read too (not when detecting the format)."""
    cols = _present(header)
    build = {"plain": lambda c: _plain_handlers(c, spellings), "outlook": _outlook_handlers,
             "google": _google_handlers, "thunderbird": _thunderbird_handlers}[fmt]  # fmt: skip
    taken = {column for column in mapping.values() if column in header}
    out = [h for h in _without(build(cols), taken) if h.field not in mapping]
    for field, column in mapping.items():
        if column in header:
            if field in MULTI_FIELDS:
                out.append(Handler("cell", field, (("value", column),)))
            else:
                out.append(_scalar(field, column))
    return out


def _without(handlers: list[Handler], taken: set[str]) -> list[Handler]:
    """The handlers minus the columns in ``taken``: a handler keeps the rest of its columns
    (an address mapped away from its city still has its street), and goes when nothing it
    needs is left (a slot or pair without its value column)."""
    out = []
    for h in handlers:
        kept = tuple((role, c) for role, c in h.cols if c not in taken)
        if kept == h.cols:
            out.append(h)
        elif kept and (h.col("value") is None or any(role == "value" for role, _ in kept)):
            out.append(replace(h, cols=kept))
    return out


def detect(header: list[str]) -> tuple[str, int]:
    """The format whose known columns the header matches most, and how many matched. An
    export that would leave a column spelling a field (case aside: ``spelled_field``)
    unread, or read it as another field, counts only when it has a column of its own, one
    no plain spelling names (``E-mail 2 Address``, ``Phone 1 - Value``, ``Primary Email``):
    Google's legacy ``Name`` or Outlook's ``Title`` alone made a hand-made ``Name, Email,
    Phone`` sheet an export, whose ``Email`` and ``Phone`` were never read (the person was
    made twice, Google's columns added to the sheet). One that reads every such column as
    the plain format would still counts (``First Name, Last Name, Company`` stays
    Outlook's: read alike, and a file detected so before keeps its ids). Columns spelling
    one scalar field twice (Outlook's ``Title`` beside its ``Job Title``) have no plain
    reading, so an export reading them otherwise loses neither: an Outlook export trimmed
    to ``Title, First Name, Last Name, Job Title, E-mail Address`` was read as plain, its
    name prefix ("Dr.") as the job title and ``Job Title`` left unread. The spellings
    count only where nothing else does: a sheet headed ``name, email, phone`` is plain."""
    cols = _present(header)
    spelled = {c: spelled_field(c) for c in header if c.strip()}
    twice = Counter(f for f in spelled.values() if f and f not in MULTI_FIELDS)
    plain_read = {c: f for c, f in spelled.items() if f and twice[f] < 2}
    scores: dict[str, int] = {}
    for fmt in FORMATS:
        read = {c: h.field for h in handlers_for(fmt, header, {}, False) for _, c in h.cols}
        own = any(not spelled.get(c) for c in read)
        lost = fmt != "plain" and any(read.get(c) != f for c, f in plain_read.items())
        scores[fmt] = len(read) if own or not lost else 0
    if not any(scores.values()):
        scores["plain"] = len(_spelled(cols))
    scores["plain"] += 2 * ("id" in cols)
    best = max(FORMATS, key=lambda f: scores[f])
    return best, scores[best]


def missing_columns(fmt: str, header: list[str], fields: Fields, mapping: Mapping[str, str]) -> list[str]:
    """Columns to add so ``fields`` fit: mapped and plain columns, more Google slots."""
    want = [c for f, c in mapping.items() if f in fields and c not in header]
    if fmt == "plain":
        # a field a column spells (``name``) has its column: one of its own name beside it
        # took the field from it
        taken = set(mapping.values())
        cols = {k: v for k, v in _present(header).items() if v not in taken}
        placed = {*mapping, *(h.field for h in _spelled(cols))}
        want += [f for f in (*PLAIN_COLUMNS, *fields) if f in fields and f not in placed]
    elif fmt == "google":
        style = "Label" if any(h.endswith(" - Label") for h in header) else "Type"
        handlers = _google_handlers(_present(header))
        for kind, field in _GOOGLE_KINDS.items():
            have = sum(h.field == field for h in handlers)
            need = len(fields.get(field) or []) if field != "custom.*" else sum(
                k.startswith(CUSTOM_PREFIX) and k not in mapping for k in fields)  # fmt: skip
            roles = ["Label" if kind == "Custom Field" else style, "Value"]
            if kind == "Address":
                roles = [style, "Formatted", *(r for r in _GOOGLE_ADDRESS if r != "Formatted")]
            want += [f"{kind} {n} - {r}" for n in range(have + 1, need + 1) for r in roles]
    # sets, not the lists: a file of 100,000 columns made this quadratic, for every write
    present = set(header)
    return [c for c in dict.fromkeys(want) if c not in present]
