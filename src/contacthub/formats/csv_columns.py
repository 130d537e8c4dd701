"""Column dialects of contact CSV files: which header means which canonical field.

A dialect turns a file's header into *handlers*, each owning some columns and one canonical
field (or ``custom.*``). Reading asks every handler for its part of a ``Contact``; writing asks
every handler whose field changed to fill its columns, so a cell whose meaning did not change
keeps its original spelling (a phone stays ``(800) 000-0000`` instead of becoming E.164) and
columns no handler owns are never touched.

Dialects: ``outlook`` (English and Japanese headers), ``google`` (the legacy ``Name, Given
Name, ... E-mail 1 - Type`` and the current ``First Name, ... E-mail 1 - Label`` exports, whose
numbered slots grow when more values must fit), ``thunderbird`` and ``plain`` (our own format,
see ``contacthub.connectors.csv_file`` for how its multi-valued cells are spelled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contacthub.model import (
    ADDRESS_PARTS,
    CUSTOM_PREFIX,
    MULTI_FIELDS,
    SCALAR_FIELDS,
    Address,
    Contact,
    Email,
    Fields,
    Phone,
    Website,
    field_equal,
)

Row = Mapping[str, str]

# --- cells ----------------------------------------------------------------------------------

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


def parse_date(text: str) -> str:
    """ISO ``YYYY-MM-DD`` from Outlook's ``m/d/yyyy`` and European ``d.m.yyyy``; Outlook's
    ``0/0/00`` means no date; anything else is kept as written."""
    m = re.fullmatch(r"(\d{1,2})([/.])(\d{1,2})\2(\d{2,4})", text.strip())
    if not m:
        return text
    a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
    month, day = (a, b) if m.group(2) == "/" else (b, a)
    if not (1 <= month <= 12 and 1 <= day <= 31) or len(year) != 4:
        return "" if a == b == 0 else text
    return f"{year}-{month:02d}-{day:02d}"


@dataclass(frozen=True, slots=True)
class Handler:
    """Columns (``role -> header``) that together hold one canonical field.

    kinds: ``scalar`` (one cell, one field), ``cell`` (a plain-format multi-valued cell),
    ``slot`` (one element of a multi-valued field), ``parts`` (Thunderbird's birthday in three
    columns), ``pair`` (Google's ``Custom Field n`` label + value)."""

    kind: str
    field: str
    cols: tuple[tuple[str, str], ...]
    fixed_type: str = ""
    split: bool = False

    def col(self, role: str) -> str | None:
        return next((c for r, c in self.cols if r == role), None)


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


def _plain_handlers(cols: dict[str, str]) -> list[Handler]:
    out: list[Handler] = []
    for name, actual in cols.items():
        if name in MULTI_FIELDS:
            out.append(Handler("cell", name, (("value", actual),)))
        elif name in SCALAR_FIELDS or (name.startswith(CUSTOM_PREFIX) and name != CUSTOM_PREFIX):
            out.append(Handler("scalar", name, (("value", actual),)))
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
    out = [Handler("scalar", f, (("value", cols[c]),)) for c, f in _OUTLOOK_SCALARS.items()
           if c in cols]  # fmt: skip
    out += _fixed_slots(cols, "emails", [(c, "") for c in _OUTLOOK_EMAILS])
    out += _fixed_slots(cols, "phones", _OUTLOOK_PHONES)
    out += _fixed_slots(cols, "websites", [("Web Page", "")])
    parts = dict(zip(_OUTLOOK_ADDRESS, ("street", "street2", "street3", *ADDRESS_PARTS[1:]),
                     strict=True))  # fmt: skip
    return out + _address_slots(cols, _OUTLOOK_AREAS, parts)


def _thunderbird_handlers(cols: dict[str, str]) -> list[Handler]:
    out = [Handler("scalar", f, (("value", cols[c]),)) for c, f in _TB_SCALARS.items()
           if c in cols]  # fmt: skip
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
    out = [Handler("scalar", f, (("value", cols[c]),)) for c, f in _GOOGLE_SCALARS.items()
           if c in cols]  # fmt: skip
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


def handlers_for(fmt: str, header: list[str], mapping: Mapping[str, str]) -> list[Handler]:
    """The handlers of ``fmt`` for this header; the user's mapping replaces the handlers of
    the fields it names (a multi-valued field mapped to one column uses the plain spelling)."""
    cols = _present(header)
    build = {"plain": _plain_handlers, "outlook": _outlook_handlers,
             "google": _google_handlers, "thunderbird": _thunderbird_handlers}[fmt]  # fmt: skip
    out = [h for h in build(cols) if h.field not in mapping]
    for field, column in mapping.items():
        if column in header:
            kind = "cell" if field in MULTI_FIELDS else "scalar"
            out.append(Handler(kind, field, (("value", column),)))
    return out


def detect(header: list[str]) -> tuple[str, int]:
    """The format whose known columns the header matches most, and how many matched."""
    cols = _present(header)
    scores = {fmt: sum(len(h.cols) for h in handlers_for(fmt, header, {})) for fmt in FORMATS}
    scores["plain"] += 2 * ("id" in cols)
    best = max(FORMATS, key=lambda f: scores[f])
    return best, scores[best]


# --- reading --------------------------------------------------------------------------------

_GOOGLE_TYPES = {"mobile": "cell"}
_TYPE_LABELS = {"cell": "Mobile"}


def _label_type(label: str) -> tuple[str, bool]:
    """Google marks the primary element with ``* `` before its label (``* Home``)."""
    primary = label.startswith("* ")
    text = label[2:] if primary else label
    text = text.strip().lower()
    return _GOOGLE_TYPES.get(text, text), primary


def read_row(handlers: list[Handler], row: Row) -> Contact:
    """The contact these columns hold (not yet normalised: call ``to_fields``). Empty slots
    add nothing: an Outlook row has a dozen phone columns and usually one number."""
    c = Contact()
    for h in handlers:
        cells = {role: row.get(column, "") for role, column in h.cols}
        if not any(cells.values()):
            continue
        get = cells.get
        if h.kind == "scalar":
            value = cells["value"]
            if h.field.startswith(CUSTOM_PREFIX):
                c.custom[h.field[len(CUSTOM_PREFIX) :]] = value
            elif not getattr(c, h.field):
                setattr(c, h.field, parse_date(value) if h.field == "birthday" else value)
        elif h.kind == "cell":
            for item in decode_items(h.field, cells["value"]):
                _add(c, h.field, item)
        elif h.kind == "slot":
            kind, primary = (
                _label_type(get("type", "")) if "type" in cells else (h.fixed_type, False)
            )
            if h.field == "addresses":
                street = "\n".join(filter(None, (get(f"street{n}", "") for n in ("", "2", "3"))))
                parts = {p: get(p, "") for p in ADDRESS_PARTS[1:]}
                _add(c, h.field, {"street": street, **parts, "type": kind})
                continue
            value = get("value", "")
            for i, text in enumerate(value.split(" ::: ") if h.split else [value]):
                _add(c, h.field, {"value": text, "type": kind, "primary": primary and not i})
        elif h.kind == "parts":
            date = _join_birthday(get("year", ""), get("month", ""), get("day", ""))
            c.birthday = c.birthday or date
        elif h.kind == "pair" and get("label"):
            c.custom[cells["label"]] = get("value", "")
    return c


def _add(c: Contact, field: str, item: dict[str, Any]) -> None:
    if field == "emails":
        c.emails.append(Email(item["value"], item.get("type", ""), item.get("primary", False)))
    elif field == "phones":
        c.phones.append(Phone(item["value"], item.get("type", ""), item.get("primary", False)))
    elif field == "websites":
        c.websites.append(Website(item["value"], item.get("type", "")))
    else:
        c.addresses.append(Address(**{k: item.get(k, "") for k in (*ADDRESS_PARTS, "type")}))


def _join_birthday(year: str, month: str, day: str) -> str:
    if not (month.isdigit() and day.isdigit()):
        return year.strip()
    return f"{year.strip() or '-'}-{int(month):02d}-{int(day):02d}"


# --- writing --------------------------------------------------------------------------------


def render(handlers: list[Handler], fields: Fields, old: Row, region: str) -> dict[str, str]:
    """New values of the columns whose field changed, given the row's current cells."""
    before = read_row(handlers, old).to_fields(region)
    out: dict[str, str] = {}
    groups: dict[str, list[Handler]] = {}
    for h in handlers:
        groups.setdefault(h.field, []).append(h)
    for field, group in groups.items():
        if field == "custom.*":
            new = {k: v for k, v in fields.items() if k.startswith(CUSTOM_PREFIX)}
            if new != {k: v for k, v in before.items() if k.startswith(CUSTOM_PREFIX)}:
                _write_pairs(group, new, out)
        elif not field_equal(field, fields.get(field), before.get(field)):
            _write_group(group, fields.get(field), out)
    return out


def _write_group(group: list[Handler], value: Any, out: dict[str, str]) -> None:
    first = group[0]
    if first.kind == "scalar":
        for h in group:
            out[h.cols[0][1]] = str(value or "")
    elif first.kind == "cell":
        out[first.cols[0][1]] = encode_items(first.field, value or [])
    elif first.kind == "parts":
        m = re.fullmatch(r"(\d{4}|-)?-?(\d{2})-(\d{2})", str(value or ""))
        parts = {"year": "", "month": "", "day": ""}
        if m:
            parts = {"year": (m.group(1) or "").strip("-"), "month": m.group(2), "day": m.group(3)}
        elif value:
            parts["year"] = str(value)
        for role, column in first.cols:
            out[column] = parts[role]
    else:
        _write_slots(group, list(value or []), out)


def _write_slots(slots: list[Handler], items: list[dict[str, Any]], out: dict[str, str]) -> None:
    """Typed slots take elements of their type; then untyped or labelled slots take the rest
    in order. Elements with no room left are dropped: the read-back shows what the file kept."""
    chosen: dict[int, dict[str, Any]] = {}
    rest: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "")
        typed = (i for i, s in enumerate(slots) if s.fixed_type == kind and not s.col("type"))
        i = next((i for i in typed if kind and i not in chosen), None)
        if i is None:
            rest.append(item)
        else:
            chosen[i] = item
    free = [
        i for i, s in enumerate(slots) if i not in chosen and (s.col("type") or not s.fixed_type)
    ]
    chosen.update(zip(free, rest, strict=False))
    for i, slot in enumerate(slots):
        item = chosen.get(i, {})
        for role, column in slot.cols:
            out[column] = _slot_cell(role, item)
        if "street" in item and slot.col("street2"):
            out[slot.col("street") or ""] = item["street"]  # whole street in the first column


def _slot_cell(role: str, item: Mapping[str, Any]) -> str:
    if not item:
        return ""
    if role == "type":
        label = _TYPE_LABELS.get(item.get("type", ""), str(item.get("type", "")).title())
        return f"* {label}" if item.get("primary") else label
    if role == "formatted":
        lines = [item.get("street", ""), " ".join(item.get(p, "") for p in ADDRESS_PARTS[1:4])]
        return "\n".join(x.strip() for x in [*lines, item.get("country", "")] if x.strip())
    if role in ("street2", "street3"):
        return ""
    return str(item.get(role, ""))


def _write_pairs(pairs: list[Handler], custom: Mapping[str, str], out: dict[str, str]) -> None:
    items = sorted(custom.items())
    for i, h in enumerate(pairs):
        label, value = items[i] if i < len(items) else ("", "")
        out[h.col("label") or ""] = label[len(CUSTOM_PREFIX) :]
        out[h.col("value") or ""] = value
    out.pop("", None)


def missing_columns(
    fmt: str, header: list[str], fields: Fields, mapping: Mapping[str, str]
) -> list[str]:
    """Columns to add so ``fields`` fit: mapped and plain columns, more Google slots."""
    want = [c for f, c in mapping.items() if f in fields and c not in header]
    if fmt == "plain":
        want += [f for f in (*PLAIN_COLUMNS, *fields) if f in fields and f not in mapping]
    elif fmt == "google":
        style = "Label" if any(h.endswith(" - Label") for h in header) else "Type"
        handlers = _google_handlers(_present(header))
        for kind, field in _GOOGLE_KINDS.items():
            have = sum(h.field == field for h in handlers)
            need = len(fields.get(field) or []) if field != "custom.*" else sum(
                k.startswith(CUSTOM_PREFIX) for k in fields)  # fmt: skip
            roles = ["Label" if kind == "Custom Field" else style, "Value"]
            if kind == "Address":
                roles = [style, "Formatted", *(r for r in _GOOGLE_ADDRESS if r != "Formatted")]
            want += [f"{kind} {n} - {r}" for n in range(have + 1, need + 1) for r in roles]
    return [c for i, c in enumerate(want) if c not in header and c not in want[:i]]
