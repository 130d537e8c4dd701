"""Normalising one value, and the match key of a phone and of a name.

Every value a connector hands the hub passes through here once (``model.flat_fields`` calls
these per email, phone, address and type), so this is where text is trimmed, emails
unwrapped (``mailto:``, a name around them), phones put in E.164 and types folded;
``email_key``, ``phone_key`` and ``name_key`` are the pieces of ``model.match_keys``.
Separate from ``model.py`` (the fields, the typed view, the
flat form and equality of whole contacts) because this is the per-value code of a first
sync, with its own shortcuts around phonenumbers; ``model`` re-exports every public name here, so
callers keep importing them from ``contacthub.model``.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

DEFAULT_REGION = "US"

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE_PUNCT = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
#: the trunk prefix written in brackets after a country code ("+44 (0)7700 900123"): part
#: of no number, which phonenumbers leaves out and the ``+digits`` shortcut kept
_TRUNK = re.compile(r"\(\s*0\s*\)")
#: an address written with a name or in angle brackets: "Bob Roe <bob@example.com>"
_ANGLED = re.compile(r"[^<>]*<\s*([^<>\s]+@[^<>\s]+)\s*>")
#: a US number without country code, in the notations people write it in
_NANP_NATIONAL = re.compile(r"\(?[2-9][0-9]{2}\)?[ .-]?[ ]?[0-9]{3}[ .-]?[0-9]{4}")
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")
_NANP_EXTENSION = re.compile(r"(\+1[ (]*[2-9][0-9 ().-]*?) *(?:ext\.?|x) *[0-9]{1,6}", re.I)
_DIALLED = re.compile(r"[0-9 ().-]+")
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]+")


def clean_text(value: object) -> str:
    """Trim a value and drop control characters other than newlines and tabs."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        # "é" as one code point or as e + accent (macOS tools write the second) is one
        # value: unequal, the same name or email made two people
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def normalize_email(value: str) -> str:
    """An email as the person wrote it, without surrounding space, ``mailto:``, or a name
    around it ("Bob Roe <bob@example.com>", which Outlook cells hold), and with a domain
    written in punycode (``xn--mnchen-3ya.de``) read as the name it encodes
    (``münchen.de``), so both spellings of one address are one. Its case is kept: the hub
    stores and writes "Bo.Ek@Example.ORG" as it was typed; emails compare by ``email_key``
    (``email_fold`` for the set identity), never by this value."""
    text = clean_text(value)
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    if text.endswith(">"):
        angled = _ANGLED.fullmatch(text)
        if angled is not None:
            text = angled.group(1)
    if "-" in text and "xn--" in text.lower():
        return _unicode_domain(text)
    return text


def email_key(value: str) -> str:
    """What an email (``normalize_email``'s) is compared and matched by: lower-cased, a
    Turkish dotted capital I as a plain i (``str.lower`` adds a combining dot no address
    has). The match key ``email:<this>`` is what earlier versions stored as the email
    itself, so the keys a hub already holds keep matching."""
    text = value.lower()
    if not text.isascii():
        text = text.replace("i\u0307", "i")
    return text


def email_fold(value: str) -> str:
    """An email's set identity (``model.element_key``): ``email_key`` case-folded, so
    that "STRASSE@x.de" and "straße@x.de" stay one element as they were."""
    text = value.casefold()
    if not text.isascii():
        text = text.replace("i\u0307", "i")
    return text


def _unicode_domain(address: str) -> str:
    """The address with each punycode label of its domain read as the name it encodes, by
    IDNA 2008 (the ``idna`` package: Python's own codec is IDNA 2003, which cannot read
    ``straße.de``), else by IDNA 2003 (which reads the emoji and symbol domains 2008
    refuses: ``xn--ls8h.la``); a label neither reads is kept as written."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    import idna

    labels = []
    for label in domain.split("."):
        if label[:4].lower() == "xn--":
            try:
                label = idna.decode(label.lower())
            except (idna.IDNAError, UnicodeError, ValueError):
                with contextlib.suppress(UnicodeError):
                    label = label.lower().encode("ascii").decode("idna")
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"


def normalize_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164 where the number parses (``region`` for numbers without a country code); the
    original text, trimmed, where it does not.

    Numbers already written as ``+<digits>`` skip phonenumbers: it costs ~27 µs a call and the
    result would be the same digits, which matters at 50,000 contacts. So do US national
    numbers in their usual notations (``(202) 555-0147``, ``202.555.0147``): ten digits not
    starting with 0 or 1 are always a possible NANP number, ``+1`` and the digits; a NANP
    number with an extension stays as written (below); and, with region US, digits starting
    with a 0 (no 011 prefix) stay as written: no North American number starts with 0, where
    phonenumbers calls any ten digits possible. The tests check these shortcuts against
    phonenumbers.

    Two kinds of numbers that parse stay as written too, because E.164 would lose what
    they say: a number with an extension (E.164 has none: ``ext. 12`` was dropped), and a
    number that is possible only locally (``555-0100`` without its area code became
    ``+15550100``, a number that does not exist).
    """
    text = clean_text(value)
    if text[:4].lower() == "tel:":
        text = text[4:]
    if not text:
        return ""
    compact = _PHONE_PUNCT.sub("", text)
    if _E164.fullmatch(compact) and not _TRUNK.search(text):
        return compact
    if region == "US":
        if _NANP_NATIONAL.fullmatch(text):
            return "+1" + compact
        if text[0] == "0" and _DIALLED.fullmatch(text) and compact[:3] != "011":
            return text  # a foreign national number: no US number starts with 0
        ext = _NANP_EXTENSION.fullmatch(text)
        if ext is not None and _NANP_E164.fullmatch(_PHONE_PUNCT.sub("", ext.group(1))):
            return text  # a NANP number with an extension: kept as written (see above)
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return text
    if number.extension or phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
        return text
    if number.country_code == 1 and number.italian_leading_zero:
        return text  # no NANP number starts with 0: 0351 223344 was made +10351223344
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_POSSIBLE = 0  # phonenumbers.ValidationResult.IS_POSSIBLE (imported lazily: 0.1 s)


def normalize_type(value: str | None) -> str:
    """Types (work, home, cell...) are lower-case single words; empty means unspecified."""
    if value is None or value == "":
        return ""
    found = _TYPE_MEMO.get(value) if type(value) is str else None
    if found is None:
        found = _SPACES.sub(" ", clean_text(value)).lower()
        if type(value) is str and len(_TYPE_MEMO) < 4096:
            _TYPE_MEMO[value] = found
    return found


#: a few dozen type strings cover whole address books; bounded against hostile input
_TYPE_MEMO: dict[str, str] = {}


def phone_key(value: str) -> str:
    """A match key for a phone: its digits (an E.164 value already is one)."""
    if value.isascii():
        return _NOT_ASCII_DIGIT.sub("", value)
    return "".join(c for c in value if c.isdigit())  # str.isdigit: Unicode digits too


#: a number followed by its extension, in the markers phonenumbers reads as one ("ext. 12",
#: "ext12", "extension 12", "x12", "#12", ";ext=12", ", 12"); the tests check them against it
_EXTENSION = re.compile(
    r"(.*?\d[\s().\-/]*?)\s*(?:;\s*ext=|,|#|(?:ext(?:ension|n)?|x)\.?)\s*(\d{1,7})#?", re.I | re.A
)
#: a number as dialled: ASCII digits, an optional leading +, and punctuation only (other
#: digits compare as written: ``_NOT_ASCII_DIGIT`` would drop them)
_DIALLED_NUMBER = re.compile(r"\+?[\s().\-/]*\d[\d\s().\-/]*", re.A)


def split_extension(value: str) -> tuple[str, str]:
    """A phone as its number and its extension ("" when none), for systems that keep the
    extension in a field of its own (Procore's ``business_phone_extension``): read by the
    same markers ``phone_same_key`` compares by, so the number and extension joined again
    as "<number> ext. <extension>" is the same value. Text with letters has none."""
    found = _EXTENSION.fullmatch(value)
    if found is None or not _DIALLED_NUMBER.fullmatch(found.group(1).strip()):
        return value, ""
    return found.group(1).strip(), found.group(2)


def dialled(text: str) -> str | None:
    """``text`` without its punctuation where it is a number as dialled (ASCII digits, an
    optional leading ``+``, punctuation only): "+1 (415) 555" is "+1415555"; else None."""
    return _PHONE_PUNCT.sub("", text) if _DIALLED_NUMBER.fullmatch(text) else None


def phone_same_key(value: str) -> str:
    """What a phone's value compares by (``model.field_equal``): where the value is a
    number as dialled (digits and punctuation, a ``+``), that number's digits and its
    extension's, apart: ``+1 202 555 0147 ext. 12`` and ``+1 (202) 555-0147 x12`` are one
    value, re-punctuating it in a CRM no edit, while another extension is one. A country
    code's trunk ``(0)`` is left out (``+44 (0)20 ...`` as phonenumbers reads it). Text
    with letters (``1-800-FLOWERS``) compares as written, case aside. Values the hub
    holds as E.164 are their own key; ``normalize_phone`` keeps these others as
    written, and ``phone_key``'s digits alone run a number into its extension."""
    if _E164.fullmatch(value):
        return value
    found = _EXTENSION.fullmatch(value)
    number, extension = (found.group(1), found.group(2)) if found else (value, "")
    number = number.strip()
    if not _DIALLED_NUMBER.fullmatch(number):
        return value.casefold()
    if number[0] == "+":
        number = "+" + _NOT_ASCII_DIGIT.sub("", _TRUNK.sub("", number))
    else:
        number = _NOT_ASCII_DIGIT.sub("", number)
    return f"{number};ext={extension}" if extension else number


def name_key(fields: Mapping[str, Any]) -> str:
    """A match key for a name: given + family, else the display name, case- and space-folded,
    and in compatibility form (NFKC): a Japanese address book's full-width "Ｋｅｎ Ｓａｔｏ" is
    Ken Sato."""
    parts = [fields.get("given_name", ""), fields.get("family_name", "")]
    text = str(" ".join(p for p in parts if p) or fields.get("display_name", ""))
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip().casefold()


#: the accents of Latin, Greek and Cyrillic letters once decomposed (NFKD): U+0300-U+036F
#: only, not every combining mark, as a kana's voicing mark (ガ, カ) or a Devanagari virama
#: makes another letter or word rather than an accented one
_ACCENTS = re.compile("[\u0300-\u036f]")


def without_accents(text: str) -> str:
    """``text`` (a ``name_key``) with the accents left out: "josé pérez" -> "jose perez"."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFKD", text)))
