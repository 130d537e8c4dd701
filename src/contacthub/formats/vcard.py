"""vCard files <-> canonical fields: the one entry point connectors use.

The work is split in layers so each stays small and testable: the content lines, which
know nothing about contacts (``vcard_card``: the card model, escapes, folding and writing;
``vcard_props``: one content line, its folds, params and charset, into a ``Property``;
``vcard_lines``: bytes into cards), then ``vcard_map`` (which property holds which canonical
field, and reading cards into fields), ``vcard_apply`` (updating an existing card in place)
and ``vcard_build`` (a new card's bytes, directly).
``VCardCodec`` binds them to one connector's settings (its mapping, phone region, output
version and fallback encoding, and whether a 2.1 card is updated as 2.1: ``vcard_21``), so
callers never repeat them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contacthub.errors import NotAPersonError, RecordError
from contacthub.formats.vcard_apply import apply_fields
from contacthub.formats.vcard_build import build_card
from contacthub.formats.vcard_card import (
    PRODID,
    Card,
    Property,
    components,
    escape,
    fold,
    serialize_card,
    split_unescaped,
    unescape,
)
from contacthub.formats.vcard_lines import (
    cards_after_first,
    first_card_items,
    parse_cards,
    utf16_as_utf8,
    without_first_card,
)
from contacthub.formats.vcard_map import (
    FieldMap,
    card_fields,
    items_fields,
    parse_bday,
    parse_rev,
    read_fields,
)
from contacthub.model import DEFAULT_REGION, Fields, email_stand_in

__all__ = [
    "PRODID",
    "Card",
    "FieldMap",
    "ParsedCard",
    "Property",
    "VCardCodec",
    "components",
    "escape",
    "fold",
    "parse_bday",
    "parse_cards",
    "parse_rev",
    "read_fields",
    "serialize_card",
    "split_unescaped",
    "unescape",
]


@dataclass(slots=True)
class ParsedCard:
    """A card with what a connector needs from it."""

    card: Card
    fields: Fields
    uid: str | None
    rev: datetime | None


class VCardCodec:
    """Reads and writes cards for one connector's settings."""

    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        region: str = DEFAULT_REGION,
        version: str | None = None,
        fallback_encoding: str = "windows-1252",
        keep_21: bool = False,
    ) -> None:
        self.fmap = FieldMap(mapping)
        self.mapping = dict(mapping or {})
        self.region = region
        self.version = version
        self.fallback = fallback_encoding
        #: an update of a 2.1 card writes 2.1 (a folder: the old phone or Outlook that wrote
        #: the file reads only 2.1); else 3.0 (a CardDAV server may refuse 2.1)
        self.keep_21 = keep_21
        #: the properties reading looks at (``first_card_items`` skips the others)
        self.names = frozenset(
            {"EMAIL", "TEL", "ADR", "URL", "UID", "REV", *self.fmap.text, *self.fmap.struct}
        )

    @property
    def fields(self) -> frozenset[str]:
        return self.fmap.fields

    @property
    def settings(self) -> tuple[Any, ...]:
        """What decides the fields a card reads as: equal settings, equal fields."""
        return (tuple(sorted(self.mapping.items())), self.region, self.fallback)

    def read_back(self, fields: Fields) -> Fields:
        """What a card written with ``fields`` may read as, where that is not ``fields``:
        one whose FN was empty keeps it so when the display name is only an email standing
        in for a name (``model.email_stand_in``, ``apply_fields``), and reads without one.
        Without this, such a card, read again after an edit, never agreed with the hub:
        it was written again (to no effect) after each such read."""
        if self.fmap.text.get("FN") == "display_name" and email_stand_in(fields):
            return {k: v for k, v in fields.items() if k != "display_name"}
        return fields

    def parse(self, data: bytes, where: str = "") -> list[ParsedCard]:
        """Every card of a file; ``RecordError`` naming ``where`` if none can be read."""
        return [self.parsed(card) for card in parse_cards(data, where, self.fallback)]

    def parsed(self, card: Card) -> ParsedCard:
        return ParsedCard(card, *card_fields(card, self.fmap, self.region))

    def read(self, data: bytes, where: str = "") -> tuple[Fields, str | None, datetime | None]:
        """The fields, UID and REV of a file's first card: ``parse(data)[0]`` without the
        card, for the reading hot path. ``RecordError`` naming ``where`` if none can be read;
        ``NotAPersonError`` for a contact group's card (``is_group``)."""
        refuse_group(data, where)
        items = first_card_items(data, self.names, self.fallback)
        if items is not None:
            return items_fields(items, self.fmap, self.region)
        card = parse_cards(data, where, self.fallback)[0]
        return card_fields(card, self.fmap, self.region)

    def create(self, fields: Mapping[str, Any], uid: str) -> bytes:
        return self.create_read(fields, uid)[0]

    def create_read(self, fields: Mapping[str, Any], uid: str) -> tuple[bytes, Fields]:
        """A new card's bytes and the fields that reading them gives, without reading them:
        ``build_card`` writes what ``new_card`` + ``serialize_card`` would, directly, and
        knows what each value reads back as (both tested against the general path)."""
        return build_card(fields, self.fmap, uid, self.version or "3.0", self.region)

    def create_from(
        self,
        template: bytes,
        fields: Fields,
        uid: str,
        exact: bool = False,
        mapped: FieldMap | None = None,
    ) -> tuple[bytes, Fields] | None:
        """A new card made from another card of the same person (``template``): its first
        card with ``fields`` written into it, as into any existing card, and UID ``uid``, so
        that everything the hub does not model is copied too; and the fields it reads as.
        ``mapped``, the field map the template was read with, says what in it is hub data
        rather than unmodelled: what of that these settings do not read is left out
        (``_without_fields_of``).

        ``exact`` (the caller knows the template reads as ``fields`` under these settings)
        copies the bytes as they are when the template is one card whose UID is ``uid``: no
        parsing, as a plain file copy. ``None`` when the template cannot be read, or is not
        of a version a new card may have (3.0 or 4.0, or the ``version`` set for new cards;
        a 2.1 card is built anew rather than copied into a CardDAV book that refuses it).
        Apple's ``http\\://`` (an escape vCard does not have) is written ``http://``: a
        server that stores the card through another parser (Radicale) keeps the backslash,
        and the next reading of the card spread a URL with a backslash everywhere.

        A UTF-16 template is copied in UTF-8, as every new card is written (vCard 4.0 and
        CardDAV know only UTF-8); its version is the parsed card's, not bytes looked for:
        ``\\nVERSION:3.0`` is never in UTF-16 (nor in ``version:3.0``), and such a card was
        built from the fields, without its photo and X- lines."""
        utf16 = utf16_as_utf8(template)
        if utf16 is not None:
            template = utf16[0]
        template = _plain_colons(template)
        wanted = (self.version,) if self.version else ("3.0", "4.0")
        says = any(b"\nVERSION:" + v.encode() in template for v in wanted)
        if not says and b"\nVERSION:" in template:
            return None  # another version, as most cards spell it: refused without parsing
        if exact and says and _one_card_with_uid(template, uid):
            return template, fields
        try:
            cards = parse_cards(template, "", self.fallback)
        except RecordError:
            return None
        card = cards[0]
        if card.version not in wanted:
            return None
        card.properties = [p for p in card.properties if p.name != "UID"]
        if mapped is not None:
            _without_fields_of(card, mapped, self.fmap)
        at = next((i + 1 for i, p in enumerate(card.properties) if p.name == "VERSION"), 0)
        card.properties.insert(at, Property("UID", escape(uid)))
        apply_fields(card, fields, self.fmap, self.region)
        data = serialize_card(card)
        return data, self.read(data)[0]

    def update(
        self,
        cards: list[Card],
        fields: Mapping[str, Any],
        uid: str | None = None,
        data: bytes | None = None,
    ) -> bytes:
        """The file again with its first card made to say ``fields``; everything unmodelled
        is written back as it was. A card without UID gets ``uid``, so the record can be
        found again by its hub id.

        ``data``, the file ``cards`` were parsed from, lets the other top-level cards of a
        multi-card file be copied as they were, byte for byte: they are not synced, and
        written again from their parsed form a 2.1 card became 3.0 (params, folds,
        quoted-printable). Without it (or when the file's first top-level card is not the
        first card read, an empty one) every card is written again. With it, the lines the
        update did not edit also keep their line ends (``_keep_line_ends``).

        With ``keep_21`` a 2.1 card, or one with no VERSION (``_is_21``), is written as 2.1
        (``serialize_card_21``): the lines the update did not edit as they were,
        quoted-printable, CHARSET and bare params included, and the blank line that ends a
        2.1 BASE64 value, and no VERSION added where there was none; else as 3.0."""
        card = cards[0]
        if self._is_21(card):
            from contacthub.formats.vcard_21 import card_charset

            card.charset_21 = card_charset(card) or ""  # before the edit replaces its lines
        apply_fields(card, fields, self.fmap, self.region)
        if uid and card.first("UID") is None:
            card.properties.append(Property("UID", escape(uid)))
        if data is None:
            return b"".join(self._serialize(c) for c in cards)
        utf16 = utf16_as_utf8(data)
        if utf16 is not None:
            # written back in UTF-16, as UTF-8 is: the other cards stay as they were, and a
            # program that wrote UTF-16 (Windows, Outlook) reads its file again
            utf8, codec, mark = utf16
            return mark + self._write_back(cards, utf8).decode("utf-8").encode(codec)
        return self._write_back(cards, data)

    def _write_back(self, cards: list[Card], data: bytes) -> bytes:
        """``update``'s file from its cards, ``data`` being the file as it was (in UTF-8)."""
        # a UTF-8 byte-order mark stays: the file's other readers may look for it
        bom = _BOM if data.startswith(_BOM) else b""
        rest = _other_cards(data, len(cards), self.fallback)
        blanks = self._is_21(cards[0])
        if rest is None:
            return bom + _keep_line_ends(b"".join(self._serialize(c) for c in cards), data, blanks)
        nested, tail = rest
        new = b"".join(self._serialize(c) for c in cards[: 1 + nested])
        return bom + _keep_line_ends(new, data[: len(data) - len(tail)], blanks) + tail

    def _is_21(self, card: Card) -> bool:
        """Whether ``card`` is updated as 2.1 (``keep_21``): a 2.1 card, or one with no
        VERSION at all, which its producers (Evolution, old phones) write in 2.1's syntax
        (bare params, quoted-printable). Written as 3.0, such a card gained VERSION:3.0
        and had every line rewritten, the unedited ones too (QA)."""
        return self.keep_21 and (card.version == "2.1" or card.version is None)

    def _serialize(self, card: Card) -> bytes:
        if self._is_21(card):
            # imported here: a run that writes no 2.1 card (most) does not load it
            from contacthub.formats.vcard_21 import serialize_card_21

            return serialize_card_21(card)
        return serialize_card(card)


_BOM = b"\xef\xbb\xbf"


def _other_cards(data: bytes, count: int, fallback: str) -> tuple[int, bytes] | None:
    """How many of the ``count`` cards read from ``data`` are nested in its first top-level
    card, and the bytes after that card as they are; ``None`` when the file holds no
    other top-level card, or its first top-level card is not the first card read."""
    if count < 2 or not cards_after_first(data):
        return None
    tail = without_first_card(data)
    try:
        first = parse_cards(data[: len(data) - len(tail)], "", fallback)
    except RecordError:
        return None  # the first top-level card is empty: the record's card is in ``tail``
    if len(first) > count:
        return None  # read otherwise than as part of the whole file: no guess
    return len(first) - 1, tail


#: a card's KIND line saying it is a group (vCard 4; Apple's X-ADDRESSBOOKSERVER-KIND in 3.0)
_GROUP_KIND = re.compile(
    rb"^(?:[A-Za-z0-9-]+\.)?(?:X-ADDRESSBOOKSERVER-)?KIND:[ \t]*group[ \t]*\r?$", re.I | re.M
)
_END = re.compile(rb"^END:VCARD", re.I | re.M)


def is_group(data: bytes) -> bool:
    """Whether the first card of ``data`` is a contact group (Apple Contacts and iCloud keep
    groups as cards of their own, with MEMBER lines): no person, so a CSV, a CRM or a
    directory would get a "person" named Friends. Looked for only when the data says KIND
    at all, so the reading hot path pays one substring search. UTF-16 is looked into as
    UTF-8 (a group in a UTF-16 file was read as a person)."""
    utf16 = utf16_as_utf8(data)
    if utf16 is not None:
        data = utf16[0]
    if b"KIND" not in data and b"kind" not in data and b"Kind" not in data:
        return False
    found = _GROUP_KIND.search(data)
    if found is None:
        return False
    end = _END.search(data)
    return end is None or found.start() < end.start()


def refuse_group(data: bytes, where: str, connector: str = "") -> None:
    """``NotAPersonError`` for a contact group's card: not read as a person, and never
    written or deleted as one (a group an older hub linked as a person is detached)."""
    if is_group(data):
        raise NotAPersonError(
            "a contact group's card (KIND:group), not a person: left as it is", where, connector
        )


#: a physical line and its ending (some iPhones end theirs with ``\\r\\r\\n``)
_PHYSICAL_LINE = re.compile(rb"([^\r\n]*)(\r\r\n|\r\n|\n|\r)")


def _keep_line_ends(new: bytes, old: bytes, blanks: bool = False) -> bytes:
    """``new`` (written with CRLF) with each line that ``old`` has too, in the same order,
    ending as it did in ``old``, and the others as ``old``'s first line does. A write
    changes the lines it edits only: a file of LF lines, an Apple photo folded with LF in
    a card of CRLF lines or an iPhone's ``\\r\\r\\n`` had every line rewritten. (The
    reader takes any of these endings; UTF-16 data comes here as UTF-8.) ``blanks``: the
    blank lines after such a line in ``old`` follow it again (a 2.1 card written as 2.1,
    where a blank line ends a BASE64 value; the parser keeps no blank line)."""
    if b"\0" in old:
        return new  # UTF-16
    all_crlf = old.count(b"\r\n") == old.count(b"\n") == old.count(b"\r")
    if all_crlf and not (blanks and b"\n\r\n" in old):
        return new  # all CRLF already (the usual case)
    olds = _PHYSICAL_LINE.findall(old)
    where: dict[bytes, list[int]] = {}
    for index, (line, _) in enumerate(olds):
        where.setdefault(line, []).append(index)
    default = olds[0][1] if olds else b"\r\n"
    out: list[bytes] = []
    at = 0
    for line in new.split(b"\r\n")[:-1]:
        found = where.get(line)
        i = bisect_left(found, at) if found else 0
        if found and i < len(found):
            at = found[i] + 1
            out.append(line + olds[found[i]][1])
            while blanks and at < len(olds) and not olds[at][0]:
                out.append(olds[at][1])
                at += 1
        else:
            out.append(line + default)
    return b"".join(out)


#: a content line whose value is a URL written with Apple's escaped colon (``http\\://``):
#: the head (no quotes, no colon), the scheme, and the rest from ``//``
_ESCAPED_URL = re.compile(rb"^([^:\"\r\n]*:[A-Za-z][A-Za-z0-9+.-]*)\\:(//)", re.M)


def _plain_colons(data: bytes) -> bytes:
    """``data`` with the ``\\:`` after the scheme of a value that is a URL written as ``:``.
    Only there: any other ``\\:`` (Apple's ``X-ABUID:...\\:ABPerson``, a colon in a NOTE)
    is a property the copy keeps byte for byte, and reads the same either way."""
    if b"\\://" not in data:
        return data
    return _ESCAPED_URL.sub(rb"\1:\2", data)


#: the params a rewritten value drops: they said how the old one was written
_RAW_PARAMS = frozenset({"CHARSET", "ENCODING"})


def _without_fields_of(card: Card, source: FieldMap, target: FieldMap) -> None:
    """``card`` (read with ``source``, to be written with ``target``) without the hub data
    that ``target`` does not read where ``source`` does: a property the source maps to a
    field (``X-TRADE`` for ``custom.trade``) that the target maps nowhere or elsewhere, and
    a component of N or ORG the source reads a field from and the target does not. The
    target writes the hub's values of what it does read (``apply_fields``). Kept, such a
    line was the value at the copy, for good: the target never writes it again, so an edit
    of the field elsewhere never reached it. Properties the source does not read (PHOTO,
    X-ABUID, CATEGORIES, groups) are kept, and so are ORG units past the mapped ones."""
    out: list[Property] = []
    for prop in card.properties:
        if prop.name in source.text and prop.name not in target.text:
            continue
        slots = source.struct.get(prop.name)
        if slots is not None:
            theirs = target.struct.get(prop.name, [])
            stale = [i for i, s in enumerate(slots) if s and not (i < len(theirs) and theirs[i])]
            parts = split_unescaped(prop.value)
            if any(i < len(parts) and parts[i] for i in stale):
                for i in stale:
                    if i < len(parts):
                        parts[i] = ""
                if prop.name != "N":  # an ORG left empty is no ORG (as ``apply_fields``)
                    while parts and not parts[-1]:
                        parts.pop()
                    if not parts:
                        continue
                prop.value, prop.raw = ";".join(parts), None
                prop.params = {k: v for k, v in prop.params.items() if k not in _RAW_PARAMS}
        out.append(prop)
    card.properties = out


def _one_card_with_uid(data: bytes, uid: str) -> bool:
    """Whether ``data`` is one card whose one UID line says exactly ``uid`` (found as bytes:
    a UID with params, folded or escaped is simply not taken as exact)."""
    if data.count(b"BEGIN:VCARD") != 1 or data.count(b"\nUID") != 1:
        return False
    line = b"\nUID:" + uid.encode()
    return data.find(line + b"\r\n") >= 0 or data.find(line + b"\n") >= 0
