"""Names and emails as people type them, made one spelling: Unicode NFC, and nothing
invisible that changes how they read.

One name can be typed as two strings: ``José`` composed (NFC, what browsers and most
keyboards send) or decomposed (NFD, ``e`` and a combining accent, what some tools and
macOS file names give). Stored as typed, the two were two users, hubs or connectors that
print alike, and a user added in NFD could not sign in from a browser. So names and emails
are made NFC where they come in, and looked up by ``spellings``, which also finds one an
older contacthub stored in NFD. Characters that are not seen are refused: they make a name
read as another (``moc.elpmaxe`` shown as ``example.com``) or two names look the same
(``team`` and ``team`` with a word joiner were two hubs)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: invisible characters that are not format characters (``invisible`` refuses every one of
#: Unicode category Cf: bidi marks, embeddings, overrides and isolates, zero-width space,
#: non-joiner and joiner, word joiner, soft hyphen, the Arabic letter mark, the Mongolian
#: vowel separator, the byte order mark, tag characters...): the combining grapheme joiner
#: (U+034F, a mark that joins nothing visible) and the Hangul fillers, blank letters
#: (U+115F, U+1160, U+3164, U+FFA0). A list of the Cf ones missed six that the category
#: catches. A name needs none of them: the joiner of an emoji sequence (shown without it
#: as its emojis side by side) and the non-joiner of a Persian word were refused before too
INVISIBLE = frozenset(["\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"])


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def invisible(text: str) -> str | None:
    """The first character of ``text`` that is not seen (a format character, Unicode
    category Cf, or one of ``INVISIBLE``), as ``U+XXXX``, or None."""
    for ch in text:
        if ch in INVISIBLE or unicodedata.category(ch) == "Cf":
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


#: the accents of Latin, Greek and Cyrillic letters once decomposed (NFKD), as
#: ``model.without_accents`` leaves them out: not every combining mark, as a kana's voicing
#: mark or a Devanagari vowel sign makes another letter rather than an accented one
_ACCENTS = re.compile("[\u0300-\u036f]")
#: letters NFKD does not take apart, sorted as the letters people file them under
_LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)


def sort_key(name: str) -> str:
    """Where ``name`` goes in a list sorted as a person sorts names: case and accents aside
    (NFKD without its accents, case-folded, so ß is ss; ł, ø, đ, æ, œ, þ as l, o, d, ae, oe,
    th). By code point, Ángel, Émile and Łukasz came after Zoë. Names equal by this key
    need another to have an order (the name itself: ``service.by_name``)."""
    if name.isascii():
        return name.casefold()
    text = _ACCENTS.sub("", unicodedata.normalize("NFKD", name))
    return text.casefold().translate(_LETTERS)
