"""The vCard card model and its writing: ``Property``, ``Card``, value escapes, folding,
``serialize_card``; nothing about meaning.

``Property.value`` is always in escaped form (backslash escapes as in the file, never a
literal line break); ``unescape``/``components`` give the text. A property keeps its original
physical lines (``raw``) while unchanged, and ``serialize_card`` copies those back byte for
byte, so that properties the hub does not model survive a rewrite.

Apart from the parser (``vcard_lines``, ``vcard_props``) because it is the other half of the
content-line layer: what a card is and how it is written, which the field reader (``vcard_map``)
and the in-place update (``vcard_apply``) need without any of the parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PRODID = "-//contacthub//contacthub//EN"
MAX_OCTETS = 75

#: only ASCII blanks: in the latin-1 view, 0x85 and 0xA0 are bytes of UTF-8 characters
_WS = " \t"


@dataclass(slots=True)
class Property:
    """One content line. ``params`` maps upper-case names to values (2.1 bare params such as
    ``TEL;WORK`` become ``TYPE``); ``raw`` holds the original physical lines while the
    property is unchanged (set it to ``None`` after changing anything). ``legacy``: those
    lines are in a syntax only vCard 2.1 has (quoted-printable, a CHARSET other than
    UTF-8), so they are copied back into a 2.1 card only; a 3.0/4.0 card gets the value."""

    name: str
    value: str
    params: dict[str, list[str]] = field(default_factory=dict)
    group: str = ""
    raw: list[str] | None = None
    legacy: bool = False

    def param(self, name: str) -> list[str]:
        return self.params.get(name, [])

    def types(self) -> list[str]:
        """TYPE values, lower-cased, one per item (``TYPE="WORK,VOICE"`` is two)."""
        out: list[str] = []
        for value in self.params.get("TYPE", ()):
            out.extend(t.strip().lower() for t in value.split(",") if t.strip())
        return out


#: one property as the reading hot path passes it on: (NAME, params, escaped value)
Item = tuple[str, dict[str, list[str]], str]


@dataclass(slots=True)
class Card:
    """A vCard: its properties in file order (BEGIN/END excluded, VERSION included)."""

    properties: list[Property] = field(default_factory=list)
    version: str | None = None
    #: a 2.1 card's CHARSET as read, before an update changed its properties (``vcard_21``;
    #: ``""`` for none, ``None`` when not looked at)
    charset_21: str | None = None

    def first(self, name: str) -> Property | None:
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None


# --- text values ------------------------------------------------------------------------

_UNESCAPE = re.compile(r"\\(.)", re.S)
#: the escapes RFC 6350 defines, and ``\:`` and ``\"`` that Gmail and macOS Address Book
#: write (kept as written, a note's backslashes went into every other system's copy)
_UNESCAPED = {"n": "\n", "N": "\n", "\\": "\\", ",": ",", ";": ";", ":": ":", '"': '"'}
#: what ``escape`` changes (``str.translate`` would cost ~1 µs even with nothing to do)
_TO_ESCAPE = re.compile(r"[\\;,\n\r]")


def _unescape_match(match: re.Match[str]) -> str:
    char = match.group(1)
    return _UNESCAPED.get(char, match.group(0))


def unescape(value: str) -> str:
    """Text of an escaped value. Other unknown escapes (``\\.``) are kept as written: dropping
    the backslash would guess at what a broken producer meant."""
    if "\\" not in value:
        return value
    return _UNESCAPE.sub(_unescape_match, value)


def escape(text: str) -> str:
    """The escaped form of a text value or component (RFC 6350 3.4)."""
    if _TO_ESCAPE.search(text) is None:
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return text.replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def split_unescaped(value: str, sep: str = ";") -> list[str]:
    """Split on ``sep`` where it is not backslash-escaped; parts stay escaped."""
    if "\\" not in value:
        return value.split(sep)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(value)
    while i < n:
        char = value[i]
        if char == "\\":
            i += 2
            continue
        if char == sep:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    parts.append(value[start:])
    return parts


def components(value: str) -> list[str]:
    """The unescaped components of a structured value (N, ADR, ORG)."""
    return [unescape(part) for part in split_unescaped(value, ";")]


# --- writing ----------------------------------------------------------------------------


def fold(line: str) -> bytes:
    """A content line as CRLF-terminated bytes folded at 75 octets, never inside a UTF-8
    character (the continuation's leading space counts toward its 75)."""
    return fold_bytes(line.encode("utf-8"))


def fold_bytes(data: bytes) -> bytes:
    """``fold`` of a content line already encoded as UTF-8."""
    if len(data) <= MAX_OCTETS:
        return data + b"\r\n"
    chunks: list[bytes] = []
    start = 0
    limit = MAX_OCTETS
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start = end
        limit = MAX_OCTETS - 1
    chunks.append(data[start:])
    return b"\r\n ".join(chunks) + b"\r\n"


_PARAM_SPECIAL = re.compile(r'[;:,"^\n\r]')


def _param_value(value: str) -> str:
    if not _PARAM_SPECIAL.search(value):
        return f'"{value}"' if value != value.strip(_WS) else value
    value = value.replace("^", "^^").replace('"', "^'")
    value = value.replace("\r\n", "^n").replace("\n", "^n").replace("\r", "^n")
    return f'"{value}"' if any(c in value for c in ";:,") else value


def format_property(prop: Property) -> str:
    """The unfolded content line of a property written from its parsed form."""
    head = f"{prop.group}.{prop.name}" if prop.group else prop.name
    value = prop.value
    params = prop.params
    for name, values in params.items():
        if name == "CHARSET" or not values:
            continue
        if name == "ENCODING":
            if values[0].upper() not in ("BASE64", "B"):
                continue
            values = ["b"]
            value = "".join(value.split())
        head += f";{name}=" + ",".join(_param_value(v) for v in values)
    if "\n" in value or "\r" in value:
        value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return f"{head}:{value}"


def serialize_card(card: Card, version: str | None = None) -> bytes:
    """A card as bytes in 3.0 or 4.0. ``version`` defaults to the card's own (3.0 for 2.1 or
    none; ``vcard_21`` writes a 2.1 card as 2.1). Unchanged properties are copied from their
    original lines when the version is kept."""
    out_version = version or ("4.0" if card.version == "4.0" else "3.0")
    reuse = card.version == out_version
    chunks = [b"BEGIN:VCARD\r\n"]
    version_line = f"VERSION:{out_version}\r\n".encode()
    if out_version == "4.0" or not any(p.name == "VERSION" for p in card.properties):
        chunks.append(version_line)
        version_line = b""
    for prop in card.properties:
        if prop.name == "VERSION":
            if version_line:
                chunks.append(version_line)
                version_line = b""
        elif reuse and prop.raw is not None and not prop.legacy:
            chunks.append("\r\n".join(prop.raw).encode("latin-1") + b"\r\n")
        else:
            chunks.append(fold(format_property(prop)))
    chunks.append(b"END:VCARD\r\n")
    return b"".join(chunks)
