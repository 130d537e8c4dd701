"""Names and emails as people type them, made one spelling: Unicode NFC, and nothing
invisible that changes how they read.

One name can be typed as two strings: ``José`` composed (NFC, what browsers and most
keyboards send) or decomposed (NFD, ``e`` and a combining accent, what some tools and
macOS file names give). Stored as typed, the two were two users, hubs or connectors that
print alike, and a user added in NFD could not sign in from a browser. So names and emails
are made NFC where they come in, and looked up by ``spellings``, which also finds one an
older contacthub stored in NFD. Bidi overrides and zero-width characters are refused: they
make a name read as another (``moc.elpmaxe`` shown as ``example.com``) or two names look
the same."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

#: bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), zero-width
#: space, non-joiner and joiner (U+200B-U+200D), and the byte order mark / zero-width
#: no-break space (U+FEFF)
INVISIBLE = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + [chr(c) for c in range(0x200B, 0x200E)]
    + ["\ufeff"]
)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def invisible(text: str) -> str | None:
    """The first bidi control or zero-width character of ``text``, as ``U+XXXX``, or None."""
    for ch in text:
        if ch in INVISIBLE:
            return f"U+{ord(ch):04X}"
    return None


def spellings(name: str) -> list[str]:
    """The strings a stored ``name`` may be: as given first, then NFC, then NFD (stored by
    an older contacthub as typed). For ``WHERE name IN (...)``; ``pick`` chooses."""
    out: list[str] = []
    for form in (name, nfc(name), unicodedata.normalize("NFD", name)):
        if form not in out:
            out.append(form)
    return out


def pick(found: Iterable[str], name: str) -> str | None:
    """Of the stored names ``found`` (by ``spellings(name)``), the one ``name`` means: the
    same string, else the NFC one, else any (an NFD one stored before)."""
    stored = list(found)
    for form in spellings(name):
        if form in stored:
            return form
    return None
