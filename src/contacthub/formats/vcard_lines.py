"""The vCard content-line parser: bytes -> cards of properties, nothing about meaning.

vobject costs ~0.65 ms a card, more than a whole vdirsyncer run spends per contact, so this is
a small parser of our own tuned for the common case (ASCII or UTF-8, few quotes, few escapes)
and tolerant of what real producers write (see the corpus in ``../shared/corpus``).

Bytes are decoded as latin-1 first: that maps every byte to one character, so line endings,
folds and quoted-printable soft breaks are undone at the byte level (a fold may split a UTF-8
character) with fast ``str`` operations. Each logical line is then re-decoded as UTF-8, or
its CHARSET, or the fallback encoding. The physical lines of a property are kept (``raw``)
when they were valid UTF-8 and not quoted-printable, so that properties the hub does not
model are written back byte for byte.

``Property.value`` is always in escaped form (backslash escapes as in the file, never a
literal line break); ``unescape``/``components`` give the text.

This module is the parsing only. The card model (``Property``, ``Card``), the escapes and
the writing are in ``vcard_card``, so that a reader of either finds one job in each; they
stay importable from here, where they were first.
"""

from __future__ import annotations

import binascii
import re

from contacthub.errors import RecordError
from contacthub.formats.vcard_card import (
    _WS,
    Card,
    Item,
    Property,
)

# the card model, the escapes and the writing, importable from here as they always were
from contacthub.formats.vcard_card import MAX_OCTETS as MAX_OCTETS
from contacthub.formats.vcard_card import PRODID as PRODID
from contacthub.formats.vcard_card import components as components
from contacthub.formats.vcard_card import escape as escape
from contacthub.formats.vcard_card import fold as fold
from contacthub.formats.vcard_card import fold_bytes as fold_bytes
from contacthub.formats.vcard_card import format_property as format_property
from contacthub.formats.vcard_card import serialize_card as serialize_card
from contacthub.formats.vcard_card import split_unescaped as split_unescaped
from contacthub.formats.vcard_card import unescape as unescape

_BARE_ENCODINGS = frozenset({"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"})


def _split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes (only called when there is a quote)."""
    parts: list[str] = []
    start = 0
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _colon_outside_quotes(line: str) -> int:
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return i
    return -1


def _caret_decode(value: str) -> str:
    """RFC 6868: ``^n`` newline, ``^'`` double quote, ``^^`` caret."""
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        char = value[i]
        if char == "^" and i + 1 < n and value[i + 1] in "n'^":
            out.append({"n": "\n", "'": '"', "^": "^"}[value[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _parse_params(parts: list[str], quoted: bool) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for part in parts:
        if not part.strip(_WS):
            continue
        eq = part.find("=")
        if eq < 0:
            bare = part.strip(_WS)
            name = "ENCODING" if bare.upper() in _BARE_ENCODINGS else "TYPE"
            values = [bare]
        else:
            name = part[:eq].strip(_WS).upper()
            text = part[eq + 1 :]
            pieces = _split_quoted(text, ",") if quoted and '"' in text else text.split(",")
            values = []
            for piece in pieces:
                if len(piece) >= 2 and piece[0] == '"' and piece[-1] == '"':
                    piece = piece[1:-1]
                    if name == "TYPE" and "," in piece:
                        values.extend(p.strip(_WS) for p in piece.split(",") if p.strip(_WS))
                        continue
                if "^" in piece:
                    piece = _caret_decode(piece)
                if piece:
                    values.append(piece)
            if not name or not values:
                continue
        params.setdefault(name, []).extend(values)
    return params


def _decode(data: bytes, charset: str | None, fallback: str) -> tuple[str, bool]:
    """Text of a value's bytes and whether they were UTF-8. UTF-8 is tried first even when a
    CHARSET says otherwise: producers mislabel, and valid multi-byte UTF-8 by accident is rare."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    for encoding in (charset, fallback, "windows-1252"):
        if encoding:
            try:
                return data.decode(encoding), False
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("latin-1"), False


def _is_qp_head(line: str) -> bool:
    colon = line.find(":")
    return "QUOTED-PRINTABLE" in line[: colon if colon >= 0 else len(line)].upper()


def _logical_lines(text: str) -> list[list[str]]:
    """Group physical lines into logical ones: folds (leading space or tab) and 2.1
    quoted-printable soft breaks (``=`` at the end of a line)."""
    if "\n " not in text and "\n\t" not in text and "=\n" not in text:
        return [[line] for line in text.split("\n") if line]  # nothing folded: the usual case
    groups: list[list[str]] = []
    current: list[str] | None = None
    qp: bool | None = None  # whether the current line is quoted-printable, once looked at
    for line in text.split("\n"):
        if not line:
            current = None
            continue
        first = line[0]
        if first == " " or first == "\t":
            if current is not None:
                current.append(line)
            continue
        if current is not None and current[-1][-1:] == "=":
            if qp is None:
                qp = _is_qp_head(current[0])
            if qp:
                current.append(line)
                continue
        current = [line]
        qp = None
        groups.append(current)
    return groups


def _unfold(parts: list[str]) -> str:
    """The logical line: a fold drops the line break and one space or tab; a QP soft break
    (``=`` at the end of a line of a quoted-printable property) drops the ``=`` and the break."""
    if len(parts) == 1:
        return parts[0]
    qp = any(part.endswith("=") for part in parts[:-1]) and _is_qp_head(parts[0])
    out = [parts[0]]
    for part in parts[1:]:
        if qp and out[-1].endswith("="):
            out[-1] = out[-1][:-1]
            out.append(part)
        elif part[0] == " " or part[0] == "\t":
            out.append(part[1:])
        else:
            out.append(part)
    return "".join(out)


#: Small memo tables for what repeats across thousands of cards (property names, param
#: strings). Bounded, so hostile input with endless distinct names cannot grow them.
_MEMO_LIMIT = 4096
_NAME_MEMO: dict[str, tuple[str, str] | None] = {}
_PARAM_MEMO: dict[str, dict[str, list[str]]] = {}


def _name_of(raw: str) -> tuple[str, str] | None:
    """(group, NAME) of a property name as written, or None when it is not a name."""
    group = ""
    name = raw
    if "." in name:
        group, _, name = name.rpartition(".")
    name = name.strip(_WS).upper()
    if not name or not name.isascii() or not name.replace("-", "").isalnum():
        return None
    return group, name


def _params_of(text: str, quoted: bool) -> dict[str, list[str]]:
    """Params of the text after the name; a fresh dict (its lists are shared: replace a
    list rather than mutate it)."""
    params = _PARAM_MEMO.get(text)
    if params is None:
        parts = _split_quoted(text, ";") if quoted else text.split(";")
        params = _parse_params(parts, quoted)
        if len(_PARAM_MEMO) < _MEMO_LIMIT:
            _PARAM_MEMO[text] = params
    return dict(params)


def parse_line(parts: list[str], fallback: str = "windows-1252") -> Property | None:
    """One property from its physical lines (latin-1 text); ``None`` for junk lines."""
    line = parts[0] if len(parts) == 1 else _unfold(parts)
    colon = line.find(":")
    if colon < 0:
        return None
    quoted = '"' in line and line.find('"', 0, colon) >= 0
    if quoted:
        colon = _colon_outside_quotes(line)
        if colon < 0:
            return None
    head = line[:colon]
    semi = head.find(";")
    if semi >= 0:
        raw_name = head[:semi]
        params = _params_of(head[semi + 1 :], quoted)
    else:
        raw_name = head
        params = {}
    try:
        names = _NAME_MEMO[raw_name]
    except KeyError:
        names = _name_of(raw_name)
        if len(_NAME_MEMO) < _MEMO_LIMIT:
            _NAME_MEMO[raw_name] = names
    if names is None:
        return None
    prop = Property(names[1], line[colon + 1 :], params, names[0], parts)
    if (params and ("ENCODING" in params or "CHARSET" in params)) or not line.isascii():
        _decode_property(prop, fallback)
    return prop


def _decode_property(prop: Property, fallback: str) -> None:
    """Undo quoted-printable and non-UTF-8 charsets; such a property loses its raw lines
    (they would not be valid in the UTF-8, QP-free 3.0/4.0 we write)."""
    params = prop.params
    charset = params.get("CHARSET")
    encoding = params.get("ENCODING")
    if encoding and encoding[0].upper() == "QUOTED-PRINTABLE":
        data = binascii.a2b_qp(prop.value.encode("latin-1"))
        value, _ = _decode(data, charset[0] if charset else None, fallback)
        if "\n" in value or "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
        prop.value = value
        del params["ENCODING"]
        params.pop("CHARSET", None)
        prop.raw = None
    elif not prop.value.isascii():
        value, utf8 = _decode(prop.value.encode("latin-1"), charset[0] if charset else None, fallback)
        prop.value = value
        if not utf8:
            prop.raw = None
            params.pop("CHARSET", None)
    if any(not p.isascii() for values in params.values() for p in values):
        prop.params = {
            k: [_decode(p.encode("latin-1"), None, fallback)[0] for p in values]
            for k, values in params.items()
        }
    if prop.group and not prop.group.isascii():
        prop.group = _decode(prop.group.encode("latin-1"), None, fallback)[0]


def _to_text(data: bytes) -> str:
    """Bytes as latin-1 text with ``\\n`` line ends; UTF-16 (BOM or not) becomes UTF-8 first."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        data = data.decode("utf-16", errors="replace").encode("utf-8")
    elif len(data) >= 2 and (data[0] == 0) != (data[1] == 0):
        codec = "utf-16-be" if data[0] == 0 else "utf-16-le"
        data = data.decode(codec, errors="replace").encode("utf-8")
    text = data.decode("latin-1")
    if "\r" in text:
        text = text.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n")
    return text


#: one content line in the simple case (unfolded, no quotes before the colon): the whole
#: line, group, name, ";params" and value. Lines it does not match are junk.
_SIMPLE_LINE = re.compile(r"^(([A-Za-z0-9_-]+\.)?([A-Za-z0-9-]+)(;[^:\n]*)?:(.*))$", re.M)


def _fast_cards(text: str, fallback: str) -> tuple[list[Card], bool]:
    """``parse_cards`` for text without folds or soft breaks, the common case: one regex
    pass in C finds every line's parts, so the Python loop only builds properties."""
    cards: list[Card] = []
    stack: list[Card] = []
    current: Card | None = None
    props: list[Property] = []
    saw_begin = False
    names = _NAME_MEMO
    for line, group, raw_name, head, value in _SIMPLE_LINE.findall(text):
        try:
            found = names[raw_name]
        except KeyError:
            found = _name_of(raw_name)
            if len(names) < _MEMO_LIMIT:
                names[raw_name] = found
        if found is None:
            continue
        name = found[1]
        if (name == "BEGIN" or name == "END") and value.strip(_WS).upper() == "VCARD":
            if name == "BEGIN":
                saw_begin = True
                if current is not None:
                    stack.append(current)
                current = Card()
                props = current.properties
                cards.append(current)
            else:
                current = stack.pop() if stack else None
                if current is not None:
                    props = current.properties
            continue
        if current is None:
            continue
        if head and '"' in head:
            prop = parse_line([line], fallback)  # quoted params may hold ':' or ';'
            if prop is None:
                continue
        else:
            params = _params_of(head[1:], False) if head else {}
            prop = Property(name, value, params, group[:-1], [line])
            if (params and ("ENCODING" in params or "CHARSET" in params)) or not line.isascii():
                _decode_property(prop, fallback)
        if name == "VERSION":
            current.version = prop.value.strip()
        props.append(prop)
    return cards, saw_begin


def parse_cards(data: bytes, where: str = "", fallback: str = "windows-1252") -> list[Card]:
    """Every card in ``data``, nested cards after their parent. A card without END runs to
    the end of the data; junk lines are skipped. ``RecordError`` (with ``where``) only when
    no card with at least one property can be found."""
    text = _to_text(data)
    if "\n " not in text and "\n\t" not in text and "=\n" not in text:
        cards, saw_begin = _fast_cards(text, fallback)
    else:
        cards, saw_begin = _slow_cards(text, fallback)
    found = [c for c in cards if any(p.name != "VERSION" for p in c.properties)]
    if not found:
        if not saw_begin:
            raise RecordError("not a vCard: no BEGIN:VCARD line", where)
        raise RecordError("no vCard with any property could be read", where)
    return found


#: what comes before a line's first colon, when the line is one ``_SIMPLE_LINE`` matches
_HEAD = re.compile(r"(?:([A-Za-z0-9_-]+)\.)?([A-Za-z0-9-]+)(;[^:\n]*)?")
#: a BEGIN or END line followed by a continuation line (searched in "\n" + text)
_FOLDED_EDGE = re.compile(r"\n(?:[^\n:;]*\.)?(?:BEGIN|END)\b[^\n]*\n[ \t]", re.I)
_EMPTY_PARAMS: dict[str, list[str]] = {}
#: head -> (group, NAME, params or None when quoted), or None for a junk line
_Head = tuple[str, str, "dict[str, list[str]] | None"] | None
_HEAD_MEMO: dict[str, _Head] = {}


def _head_of(head: str) -> _Head:
    match = _HEAD.fullmatch(head)
    if match is None:
        return None
    group, raw_name, params_text = match.groups()
    found = _name_of(raw_name)
    if found is None:
        return None
    if params_text is None:
        params: dict[str, list[str]] | None = _EMPTY_PARAMS
    elif '"' in params_text:
        params = None  # quoted params may hold ':' or ';': parse_line reads the whole line
    else:
        params = _params_of(params_text[1:], False)
    return group or "", found[1], params


def first_card_items(data: bytes, names: frozenset[str], fallback: str = "windows-1252") -> list[Item] | None:
    """The properties named in ``names`` (upper case) of ``parse_cards(data)[0]``, in order,
    as (NAME, params, escaped value), without building the cards: the reading hot path.

    ``None`` when the data is not the simple case, where a caller uses ``parse_cards``: a
    nested card, a first card with none of ``names``, quoted-printable soft breaks, and,
    in folded data (which ``parse_cards`` reads line by line, with its own rules for odd
    lines), any line that the two readers could take differently. The params dicts may be
    shared: do not change them."""
    text = _to_text(data)
    if "=\n" in text:
        return None
    folded = "\n " in text or "\n\t" in text
    if folded:
        if text[:1] in (" ", "\t") or "\n\n " in text or "\n\n\t" in text or _FOLDED_EDGE.search("\n" + text):
            return None
        text = text.replace("\n ", "").replace("\n\t", "")
    items: list[Item] = []
    inside = False
    memo = _HEAD_MEMO
    for line in text.split("\n"):
        colon = line.find(":")
        if colon < 0:
            if folded and line:
                return None  # a junk line: the line-by-line reader has its own rules
            continue
        head = line[:colon]
        try:
            info = memo[head]
        except KeyError:
            info = _head_of(head)
            if len(memo) < _MEMO_LIMIT:
                memo[head] = info
        if info is None:
            if folded:
                return None
            continue
        group, name, params = info
        if name == "BEGIN" or name == "END":
            value = line[colon + 1 :]
            if value.strip(_WS).upper() == "VCARD":
                if folded and (head.upper() != name or len(line) >= 24):
                    return None  # the line-by-line reader would not take it as BEGIN/END
                if name == "END":
                    if inside:
                        break
                    continue
                if inside:
                    return None  # a nested card
                inside = True
                continue
            if folded and "VCARD" in value.upper():
                return None
            continue  # a BEGIN or END property: not one a caller reads (they are reserved)
        if not inside or name not in names:
            continue
        if params is None:
            prop = parse_line([line], fallback)
            if prop is not None:
                items.append((prop.name, prop.params, prop.value))
        elif (params and ("ENCODING" in params or "CHARSET" in params)) or not line.isascii():
            prop = Property(name, line[colon + 1 :], dict(params), group, [line])
            _decode_property(prop, fallback)
            items.append((name, prop.params, prop.value))
        else:
            items.append((name, params, line[colon + 1 :]))
    return items or None


def _slow_cards(text: str, fallback: str) -> tuple[list[Card], bool]:
    """``parse_cards`` for text with folds or quoted-printable soft breaks."""
    cards: list[Card] = []
    stack: list[Card] = []
    current: Card | None = None
    props: list[Property] = []
    saw_begin = False
    for parts in _logical_lines(text):
        first = parts[0]
        if first[0] in "BbEe" and len(first) < 24 and len(parts) == 1:
            upper = first.strip().upper()
            if upper == "BEGIN:VCARD":
                saw_begin = True
                if current is not None:
                    stack.append(current)
                current = Card()
                props = current.properties
                cards.append(current)
                continue
            if upper == "END:VCARD":
                current = stack.pop() if stack else None
                if current is not None:
                    props = current.properties
                continue
        if current is None:
            continue
        prop = parse_line(parts, fallback)
        if prop is None:
            continue
        if prop.name == "VERSION":
            current.version = prop.value.strip()
        props.append(prop)
    return cards, saw_begin
