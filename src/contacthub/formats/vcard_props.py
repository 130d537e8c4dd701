"""One vCard content line into a ``Property``: which physical lines make it up (folds and
quoted-printable soft breaks), its group, name and params, and its value's charset.

Apart from the card-level readers in ``vcard_lines`` (BEGIN/END, nesting, collecting
properties) because all of them share it: the rules for one line live here once. The input is
latin-1 text, one character a byte (see ``vcard_lines``); each logical line is re-decoded here
as UTF-8, or its CHARSET, or the fallback encoding. The physical lines of a property are kept
(``raw``), so that properties the hub does not model are written back byte for byte; those
in quoted-printable or a charset other than UTF-8 only into a 2.1 card (``legacy``).

``_fast_cards`` reads ``_NAME_MEMO`` directly in its loop (no call per line), so the memo
tables are shared module state: clear them in place, never rebind them.
"""

from __future__ import annotations

import binascii
import codecs
import re
import string

from contacthub.formats.vcard_card import _WS, Property

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
                elif piece[:1] == '"' and piece.count('"') == 1:
                    piece = piece[1:]  # a quote left open (``parse_line``): TYPE="work is work
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
    """One property from its physical lines (latin-1 text); ``None`` for junk lines: no
    ':' at all, or no property name before it. A quote left open in the params (no ':'
    outside quotes) is read leniently: the params end at the first ':', and the open quote
    runs to their end."""
    line = parts[0] if len(parts) == 1 else _unfold(parts)
    colon = line.find(":")
    if colon < 0:
        return None
    quoted = '"' in line and line.find('"', 0, colon) >= 0
    if quoted:
        # no ':' outside quotes: a quote is left open, and the first ':' ends the params
        # (dropping the line lost a name or an email without a word)
        colon = _colon_outside_quotes(line)
        if colon < 0:
            colon = line.find(":")
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


#: an ``=`` before a hex pair of mixed case (``=0D=0A=Baytown``): no encoder writes ``=Ba``
#: for a byte (RFC 2045 says upper case; a lower-case one writes ``=ba``), so it is a soft
#: break whose line end was lost, dropped. The last resort of a value that is not UTF-8
#: (``_qp_text``); one that is has the broader rule of ``_utf8_without_lost_breaks``
_LOST_SOFT_BREAK = re.compile(r"=(?=[A-F][a-f]|[a-f][A-F])")

_HEX = frozenset(string.hexdigits)


def _utf8_without_lost_breaks(raw: str, data: bytes) -> tuple[bytes, bool] | None:
    """``data`` (``raw`` decoded) again, with each ``=XY`` whose byte breaks the UTF-8 (a
    continuation byte without its lead, a lead without its continuations) read as a soft
    break that lost its line end: the ``=`` dropped, ``XY`` kept as text (``=0D=0A=ABERDEEN``,
    ``Stra=C3=9Fe=0D=0A=bad news``). Without it one such ``=`` made the whole value invalid
    UTF-8, read as Latin-1 (``cafÃ©``). With whether the value holds a multi-byte character.
    None when ``raw`` is not plain escapes and bytes (its reading would differ from ``data``)."""
    tokens: list[tuple[int, str]] = []  # (byte, the escape's hex pair or "")
    i = 0
    n = len(raw)
    while i < n:
        char = raw[i]
        pair = raw[i + 1 : i + 3]
        if char == "=" and len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
            tokens.append((int(pair, 16), pair))
            i += 3
        else:
            tokens.append((ord(char), ""))
            i += 1
    if bytes(byte for byte, _ in tokens) != data:
        return None  # a soft break or something a2b_qp reads otherwise: not ours to guess
    out = bytearray()
    multibyte = False
    at = 0
    while True:  # each stretch UTF-8's own decoder takes, then the byte it stops at
        try:
            data[at:].decode("utf-8")
            bad = len(data)
        except UnicodeDecodeError as exc:
            bad = at + exc.start
        multibyte = multibyte or any(byte >= 0x80 for byte in data[at:bad])
        out += data[at:bad]
        if bad == len(data):
            return bytes(out), multibyte
        pair = tokens[bad][1]
        out += pair.encode("ascii") if pair else data[bad : bad + 1]
        at = bad + 1


def _is_utf8(charset: str | None) -> bool:
    try:
        return charset is not None and codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def _qp_text(raw: str, charset: str | None, fallback: str) -> str:
    """A quoted-printable value's text. UTF-8 first; when it is not, and UTF-8 is meant (a
    CHARSET of UTF-8, or none with the value's other characters in UTF-8 or a UTF-8
    ``encoding``), escapes that break it are lost soft breaks (``_utf8_without_lost_breaks``);
    only a value still not UTF-8 is read in its charset or the fallback, as before. The
    repair needs the value's other characters in UTF-8 (or, without a CHARSET, a UTF-8
    ``encoding``): ``Iksi=F1ski`` without a CHARSET (The Bat!) is windows-1252, and
    ``caf=E9`` under a CHARSET=UTF-8 that a phone wrote over Latin-1 bytes is ``café``; read
    as lost breaks they said ``IksiF1ski`` and ``cafE9``. A lost break in an otherwise ASCII
    value is then read as the byte it spells, as before (``=ABERDEEN``: ``«ERDEEN``)."""
    data = binascii.a2b_qp(raw.encode("latin-1"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset is None or _is_utf8(charset):
        repaired = _utf8_without_lost_breaks(raw, data)
        if repaired is not None and (repaired[1] or (charset is None and _is_utf8(fallback))):
            try:
                return repaired[0].decode("utf-8")
            except UnicodeDecodeError:
                pass
    if _LOST_SOFT_BREAK.search(raw):
        data = binascii.a2b_qp(_LOST_SOFT_BREAK.sub("", raw).encode("latin-1"))
    return _decode(data, charset, fallback)[0]


def _decode_property(prop: Property, fallback: str) -> None:
    """Undo quoted-printable and non-UTF-8 charsets; such a property keeps its raw lines
    marked ``legacy``: they are not valid in the UTF-8, QP-free 3.0/4.0 we write, but a 2.1
    card written back as 2.1 keeps them byte for byte (``vcard_21``)."""
    params = prop.params
    charset = params.get("CHARSET")
    encoding = params.get("ENCODING")
    if encoding and encoding[0].upper() == "QUOTED-PRINTABLE":
        value = _qp_text(prop.value, charset[0] if charset else None, fallback)
        if "\n" in value or "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
        prop.value = value
        del params["ENCODING"]
        params.pop("CHARSET", None)
        prop.legacy = True
    elif not prop.value.isascii():
        value, utf8 = _decode(prop.value.encode("latin-1"), charset[0] if charset else None, fallback)
        prop.value = value
        if not utf8:
            prop.legacy = True
            params.pop("CHARSET", None)
    if any(not p.isascii() for values in params.values() for p in values):
        prop.params = {
            k: [_decode(p.encode("latin-1"), None, fallback)[0] for p in values]
            for k, values in params.items()
        }
    if prop.group and not prop.group.isascii():
        prop.group = _decode(prop.group.encode("latin-1"), None, fallback)[0]
