"""What the dashboard's forms send, turned into the shapes the service takes: settings typed as
``key = value`` lines, the filter builder's rows and groups, the mapping editor's pairs."""

from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
from typing import Any

from starlette.datastructures import FormData

from contacthub.errors import UserError
from contacthub.filters import OPERATORS
from contacthub.model import ALL_FIELDS

FIELD_CHOICES = (*ALL_FIELDS, "email", "phone", "address.city", "address.country")
SETTING_HINTS = {
    "vcard-dir": "path = /srv/contacts/team",
    "csv": "path = /srv/contacts/people.csv",
}


def type_info() -> list[dict[str, Any]]:
    """Every connector type with what a person needs to set one up."""
    from contacthub.connectors.registry import TYPES, connector_class

    out = []
    for name in sorted(TYPES):
        cls = connector_class(name)
        caps = cls.capabilities
        out.append(
            {
                "type": name,
                "secret_settings": sorted(cls.secret_settings),
                "default_mapping": dict(cls.default_mapping),
                "can": [op for op in ("create", "update", "delete", "deactivate") if getattr(caps, op)],
                "signs_in": cls.connect.__func__ is not _base_connect(),  # type: ignore[attr-defined]
                "hint": SETTING_HINTS.get(name, "url = https://..."),
            }
        )
    return out


def _base_connect() -> Any:
    from contacthub.connectors.base import Connector

    return Connector.connect.__func__  # type: ignore[attr-defined]


def parse_settings(text: str, text_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``key = value`` per line; a value is TOML when it parses as TOML (``true``, ``3``,
    ``"quoted"``), else the text as typed (so a path needs no quotes). A key of
    ``text_keys`` (the type declares it text: ``text_settings``) takes what was typed as
    text unless it is quoted: a client id of digits typed bare is not refused as a number."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UserError(f"Settings, line {number}: write it as 'name = value'")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
        if key in text_keys and not isinstance(out[key], str):
            out[key] = value
    return out


def text_settings(type_name: str) -> frozenset[str]:
    """The settings a connector type declares as text only (``Connector.setting_types``)."""
    from contacthub.connectors.registry import TYPES, connector_class

    if type_name not in TYPES:
        return frozenset()
    return frozenset(k for k, v in connector_class(type_name).setting_types.items() if v is str)


def settings_text(settings: dict[str, Any]) -> str:
    """The settings as ``parse_settings`` reads them back: a text as typed where it reads
    back the same (a path), quoted where it would not (a tab delimiter, a leading space,
    "inf"), other values as TOML, so that saving the page unchanged changes nothing. A value
    holding a none (sent through the API) has no TOML spelling: its line is left out, which
    keeps it as it is (a save replaces only the keys it is given)."""
    return "\n".join(f"{k} = {_shown(v)}" for k, v in settings.items() if not _holds_none(v))


def _holds_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_none(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_none(v) for v in value)
    return value is None


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return _toml(value)
    try:
        back = parse_settings(f"v = {value}").get("v")
    except UserError:
        back = None
    return value if back == value else _toml(value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# what ``str.splitlines`` breaks a line at, besides the control characters JSON escapes: left
# raw in a quoted value, the settings box would be read as two lines
_LINE_BREAKS = {"\x7f": "\\u007f", "\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _toml(value: Any) -> str:
    """``value`` as a TOML value on one line. It was ``repr(value).lower()``, meant for
    booleans: a list of user types ``["Member", "Guest"]`` came back ``['member', 'guest']``,
    and a save of the page unchanged made every user of an m365 connector out of scope."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
        for char, escaped in _LINE_BREAKS.items():
            text = text.replace(char, escaped)
        return text
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (
            f"{k if _BARE_KEY.fullmatch(str(k)) else _toml(str(k))} = {_toml(v)}" for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, datetime.date | datetime.time):  # read from a hub file
        return value.isoformat()
    raise UserError(f"a setting of type {type(value).__name__} cannot be shown")


def parse_filter(form: FormData) -> dict[str, Any] | None:
    """The filter builder: rows (group number, field, operator, value) and each group's
    mode (all / any); groups are combined by the top mode. Empty rows are ignored."""
    fields = form.getlist("f_field")
    ops = form.getlist("f_op")
    values = form.getlist("f_value")
    groups = form.getlist("f_group")
    rows = []
    for i, field in enumerate(fields):
        try:
            group = int(str(groups[i])) if i < len(groups) else 0
        except ValueError:
            group = 0
        op = str(ops[i]) if i < len(ops) else "equals"
        rows.append((group, str(field), op, str(values[i]) if i < len(values) else ""))
    modes = [str(m) for m in form.getlist("g_mode")]
    return _build_filter(str(form.get("filter_mode") or "all"), modes, rows)


def _form_rows(form: FormData) -> list[tuple[int, str, str, str]]:
    """The builder's rows as sent: (group, field, operator, value), blank ones left out."""
    fields, ops, values, groups = (form.getlist(k) for k in ("f_field", "f_op", "f_value", "f_group"))
    rows = []
    for i, field in enumerate(fields):
        try:
            group = int(str(groups[i])) if i < len(groups) else 0
        except ValueError:
            group = 0
        op = str(ops[i]) if i < len(ops) else "equals"
        value = str(values[i]) if i < len(values) else ""
        if str(field).strip() or value.strip():
            rows.append((max(0, min(group, 50)), str(field), op, value))
    return rows


def form_filter_rows(form: FormData) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The builder as the person left it (``filter_rows``' shape), for a refused form shown
    again: a row's text is what was typed, even where the filter could not be built."""
    rows = [{"group": g, "field": f, "op": op, "text": text} for g, f, op, text in _form_rows(form)]
    modes = [str(m) for m in form.getlist("g_mode")] or ["all"]
    return str(form.get("filter_mode") or "all"), modes, rows


def check_filter_rows(form: FormData) -> None:
    """Each row of the builder on its own, so that a refusal says which row (the filter as a
    whole was refused as ``filter.all[0]``, which no row of the page is called)."""
    from contacthub.filters import compile_filter

    for number, (_group, field, op, raw) in enumerate(_form_rows(form), 1):
        if not field.strip():
            raise UserError(f"Filter, row {number}: give a field for the value {raw!r}")
        try:
            built = _build_filter("all", [], [(0, field, op, raw)])
            compile_filter(built, "filter")
        except UserError as exc:
            raise UserError(
                f"Filter, row {number} ({field.strip()} {op.replace('_', ' ')}): {exc.message}"
            ) from None


def _build_filter(top: str, modes: list[str], rows: list[tuple[int, str, str, str]]) -> dict[str, Any] | None:
    """A filter from the builder's rows (group, field, operator, value as typed)."""
    if top not in ("all", "any"):
        raise UserError("the filter combines its groups with 'all' or 'any'")
    by_group: dict[int, list[dict[str, Any]]] = {}
    for group, field, op, raw in rows:
        field = field.strip()
        if not field:
            continue
        if op not in OPERATORS:
            raise UserError(f"unknown filter operator {op!r}")
        condition: dict[str, Any] = {"field": field, "op": op}
        if op == "in":
            condition["value"] = [v.strip() for v in raw.split(",") if v.strip()]
        elif op not in ("is_empty", "is_not_empty"):
            condition["value"] = raw
        by_group.setdefault(group, []).append(condition)
    if not by_group:
        return None
    parts: list[dict[str, Any]] = []
    for number in sorted(by_group):
        mode = modes[number] if number < len(modes) else "all"
        mode = mode if mode in ("all", "any") else "all"
        items = by_group[number]
        parts.append(items[0] if len(items) == 1 else {mode: items})
    return {top: parts}


def filter_rows(tree: dict[str, Any] | None) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The builder's view of a stored filter: (top mode, group modes, rows with group numbers).
    Filters written by hand deeper than two levels are shown flattened to their leaves
    (``shown_filter`` says whether the rows say the same as the filter)."""
    if not tree:
        return "all", ["all"], []
    if "field" in tree:  # one condition, not in a group (the API and hub files allow it)
        tree = {"all": [tree]}
    top = "any" if "any" in tree else "all"
    modes: list[str] = []
    rows: list[dict[str, Any]] = []
    for item in tree.get(top, []):
        group = len(modes)
        if "field" in item:
            modes.append("all")
            rows.append({**item, "group": group})
            continue
        mode = "any" if "any" in item else "all"
        modes.append(mode)
        for leaf in _leaves(item):
            rows.append({**leaf, "group": group})
    for row in rows:
        value = row.get("value", "")
        row["text"] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return top, modes or ["all"], rows


def shown_filter(tree: dict[str, Any] | None) -> dict[str, Any] | None:
    """What saving the builder's rows of ``tree`` unchanged would store. Where it is not
    ``tree`` (nested deeper than the builder shows, a list value holding a comma), a save
    that leaves the rows as they are keeps ``tree``: a Save of the page for another
    setting flattened such a filter, or dropped a single condition, unasked."""
    top, modes, rows = filter_rows(tree)
    return _build_filter(top, modes, [(r["group"], r["field"], r["op"], r["text"]) for r in rows])


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "field" in node:
        return [node]
    out: list[dict[str, Any]] = []
    for child in node.get("all", node.get("any", [])):
        out += _leaves(child)
    return out


def parse_mapping(form: FormData) -> dict[str, str]:
    """The mapping editor: pairs of canonical field (``custom.x`` for a custom field) and
    the connector's own field name."""
    out: dict[str, str] = {}
    for canonical, native in zip(form.getlist("m_field"), form.getlist("m_native"), strict=False):
        canonical, native = str(canonical).strip(), str(native).strip()
        if canonical and native:
            out[canonical] = native
        elif canonical or native:
            raise UserError("each mapping row needs both a hub field and the connector's field")
    return out
