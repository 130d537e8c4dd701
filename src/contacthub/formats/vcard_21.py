"""A vCard 2.1 card written back as 2.1: what an update of a file an old phone, Outlook or
BlackBerry wrote gives, so that the program that reads only 2.1 still reads its file.

Every property the update did not change is copied from its original lines, byte for byte
(quoted-printable, CHARSET, bare params, folds and all: ``Property.raw``, kept for 2.1's
own syntax too, ``legacy``). A property the hub changed or added is written in 2.1 syntax:
TYPE values as bare params (``TEL;WORK;VOICE:``), only ``;`` escaped (2.1 has no ``\\n``
and no ``\\,``), and a value holding a line break or non-ASCII text in quoted-printable
(2.1's default encoding is 7-bit; ``=0D=0A`` for a line break), with a CHARSET: the one
every CHARSET of the card names, where there is one and it can hold the text, else UTF-8.
The reader (``vcard_props``) reads all of this back as it was written.

A card with no VERSION line is written the same way (its producers, Evolution and old
phones, write 2.1's syntax), and no VERSION is added to it.

Apart from ``vcard_card`` (3.0/4.0 writing) because only an in-place update of a 2.1 (or
versionless) card in a folder comes here: new cards and copies are built in the target's version, and a
CardDAV server may refuse 2.1 (there a 2.1 card is rewritten as 3.0).
"""

from __future__ import annotations

import codecs
import re

from contacthub.formats.vcard_card import Card, Property, split_unescaped, unescape
from contacthub.formats.vcard_props import _decode

#: a backslash the reader would take for the start of an escape: doubled (Android's 2.1
#: reader, like ours, reads ``\\`` as one); any other backslash is written as it is
_BACKSLASH = re.compile(r"\\(?=[nN\\,;:\"\r\n]|$)")
_BARE = re.compile(r"[A-Za-z0-9-]+")
_CHARSET = re.compile(r";[ \t]*CHARSET[ \t]*=[ \t]*([^;:]+)", re.I)
#: quoted-printable lines at most this long, the ``=`` of a soft break included (RFC 2045)
_QP_LINE = 76


def serialize_card_21(card: Card) -> bytes:
    """A 2.1 card as 2.1 bytes: unchanged properties as they were read, the others in 2.1."""
    # as read: an edit of the card's only lines that named it (N and FN) left none to say it
    charset = card_charset(card) if card.charset_21 is None else card.charset_21 or None
    # a card with no VERSION (Evolution writes them) keeps none: no version is added
    chunks = [b"BEGIN:VCARD\r\n"]
    for prop in card.properties:
        if prop.raw is not None:
            chunks.append("\r\n".join(prop.raw).encode("latin-1") + b"\r\n")
        elif prop.name == "VERSION":
            chunks.append(b"VERSION:2.1\r\n")
        else:
            chunks.append(format_property_21(prop, charset))
    chunks.append(b"END:VCARD\r\n")
    return b"".join(chunks)


def card_charset(card: Card) -> str | None:
    """The CHARSET every property of the card that names one names (as the card spells it),
    unless that is UTF-8; ``None`` when there is none, or more than one."""
    found: dict[str, str] = {}
    for prop in card.properties:
        if prop.raw is None:
            continue
        head = prop.raw[0].split(":", 1)[0]
        match = _CHARSET.search(head)
        if match is None:
            continue
        label = match.group(1).strip()
        try:
            found.setdefault(codecs.lookup(label).name, label)
        except LookupError:
            return None  # a charset we do not know: ours are UTF-8
    if len(found) != 1:
        return None
    name, label = next(iter(found.items()))
    return None if name == "utf-8" else label


def _escape_21(text: str) -> str:
    if "\\" in text:
        text = _BACKSLASH.sub(r"\\\\", text)
    return text.replace(";", "\\;")


def _encoded(text: str, charset: str | None) -> tuple[bytes, str]:
    """The text's bytes and their CHARSET: ``charset`` (the card's) when it holds the text
    and the reader (which tries UTF-8 first) reads the bytes back as it; else UTF-8."""
    if charset:
        try:
            data = text.encode(charset)
        except (UnicodeEncodeError, LookupError):
            pass
        else:
            if _decode(data, charset, charset)[0] == text:
                return data, charset
    return text.encode("utf-8"), "UTF-8"


def _quoted_printable(data: bytes, head: int) -> str:
    """``data`` quoted-printable, with soft breaks (``=`` CRLF) keeping each physical line,
    the first after a ``head`` characters long, within ``_QP_LINE``; CRLF-terminated."""
    out: list[str] = []
    width = head
    last = len(data) - 1
    for i, byte in enumerate(data):
        if 33 <= byte <= 126 and byte != 61:
            char = chr(byte)
        elif byte in (32, 9) and i < last and data[i + 1] not in (10, 13):
            char = chr(byte)  # a blank before a line break or at the end is encoded
        else:
            char = f"={byte:02X}"
        if width + len(char) > _QP_LINE - 1:
            out.append("=\r\n")
            width = 0
        out.append(char)
        width += len(char)
    out.append("\r\n")
    return "".join(out)


def format_property_21(prop: Property, charset: str | None = None) -> bytes:
    """One property in 2.1 syntax, CRLF-terminated; ``charset`` is the card's (``card_charset``)."""
    head = f"{prop.group}.{prop.name}" if prop.group else prop.name
    base64 = any(v.upper() in ("BASE64", "B") for v in prop.params.get("ENCODING", ()))
    for name, values in prop.params.items():
        if name in ("CHARSET", "ENCODING"):
            continue  # ours to say, for the value as written here
        for value in values:
            if name == "TYPE" and _BARE.fullmatch(value):
                head += ";" + value.upper()
            else:
                head += f";{name}={value}"
    if base64:  # never edited by the hub (a photo): its value as it is
        return f"{head};ENCODING=BASE64:{''.join(prop.value.split())}\r\n\r\n".encode()
    text = ";".join(_escape_21(unescape(part)) for part in split_unescaped(prop.value))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and "\n" not in text:
        return f"{head}:{text}\r\n".encode()
    if text.isascii():
        data = text.replace("\n", "\r\n").encode("ascii")
    else:
        data, used = _encoded(text.replace("\n", "\r\n"), charset)
        head += f";CHARSET={used}"
    head += ";ENCODING=QUOTED-PRINTABLE:"
    return (head + _quoted_printable(data, len(head))).encode()
