"""The vCard parser: bytes -> cards of properties, nothing about meaning.

vobject costs ~0.65 ms a card, more than a whole vdirsyncer run spends per contact, so this is
a small parser of our own tuned for the common case (ASCII or UTF-8, few quotes, few escapes)
and tolerant of what real producers write (see the corpus in ``../shared/corpus``).

Bytes are decoded as latin-1 first: that maps every byte to one character, so line endings,
folds and quoted-printable soft breaks are undone at the byte level (a fold may split a UTF-8
character) with fast ``str`` operations. This module finds the cards in that text (BEGIN and
END, nesting, junk between cards) and collects their properties: ``parse_cards`` (one regex
pass for unfolded text, the common case, and line by line otherwise) and ``first_card_items``
(the reading hot path, which builds no cards). Grouping physical lines into content lines and
reading one into a ``Property`` (params, names, charsets, quoted-printable) are in
``vcard_props``.

``Property.value`` is always in escaped form (backslash escapes as in the file, never a
literal line break); ``unescape``/``components`` give the text.

The card model (``Property``, ``Card``), the escapes and the writing are in ``vcard_card``,
so that a reader of either finds one job in each; they stay importable from here, where they
were first, as does ``parse_line``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

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
from contacthub.formats.vcard_props import (
    _MEMO_LIMIT,
    _NAME_MEMO,
    _decode_property,
    _logical_lines,
    _name_of,
    _params_of,
)

# one content line into a Property, importable from here as it always was
from contacthub.formats.vcard_props import parse_line as parse_line


def _to_text(data: bytes) -> str:
    """Bytes as latin-1 text with ``\\n`` line ends; UTF-16 (BOM or not) becomes UTF-8 first."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif (utf16 := _utf16(data)) is not None:
        codec, bom = utf16
        data = data[len(bom) :].decode(codec, errors="replace").encode("utf-8")
    text = data.decode("latin-1")
    if "\r" in text:
        text = text.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n")
    return text


#: one content line in the simple case (unfolded, no quotes before the colon): the whole
#: line, group, name, ";params" and value. Lines it does not match are junk.
_SIMPLE_LINE = re.compile(r"^(([A-Za-z0-9_-]+\.)?([A-Za-z0-9-]+)(;[^:\n]*)?:(.*))$", re.M)


#: a line of a card that is not a property (no ':', no name), and the card it is in
_Unreadable = list[tuple[Card, str]]
_Row = tuple[str, str, str, str, str]


def _fast_cards(
    text: str, fallback: str, rows: Iterable[_Row] | None = None
) -> tuple[list[Card], bool, _Unreadable]:
    """``parse_cards`` for text without folds or soft breaks, the common case: one regex
    pass in C finds every line's parts, so the Python loop only builds properties. The
    lines the regex does not match are not seen, so not among the unreadable lines given
    back, unless ``rows`` is ``_every_row(text)`` (``parse_cards`` when it needs them)."""
    cards: list[Card] = []
    stack: list[Card] = []
    current: Card | None = None
    props: list[Property] = []
    saw_begin = False
    unreadable: _Unreadable = []
    agents: dict[int, Property] = {}
    names = _NAME_MEMO
    for line, group, raw_name, head, value in _SIMPLE_LINE.findall(text) if rows is None else rows:
        try:
            found = names[raw_name]
        except KeyError:
            found = _name_of(raw_name)
            if len(names) < _MEMO_LIMIT:
                names[raw_name] = found
        if found is None:
            if current is not None:
                unreadable.append((current, line))
            continue
        name = found[1]
        if (name == "BEGIN" or name == "END") and value.strip(_WS).upper() == "VCARD":
            if name == "BEGIN":
                saw_begin = True
                if current is not None:
                    stack.append(current)
                current = Card()
                if stack and _embeds(props):
                    agents[id(current)] = props[-1]
                else:
                    cards.append(current)
                props = current.properties
            else:
                if current is not None and agents:
                    _embed(agents, current, line)
                current = stack.pop() if stack else None
                if current is not None:
                    props = current.properties
            continue
        if current is None:
            continue
        if head and '"' in head:
            prop = parse_line([line], fallback)  # quoted params may hold ':' or ';'
            if prop is None:
                unreadable.append((current, line))
                continue
        else:
            params = _params_of(head[1:], False) if head else {}
            prop = Property(name, value, params, group[:-1], [line])
            if (params and ("ENCODING" in params or "CHARSET" in params)) or not line.isascii():
                _decode_property(prop, fallback)
        if name == "VERSION":
            current.version = prop.value.strip()
        props.append(prop)
    return cards, saw_begin, unreadable


def _embeds(props: list[Property]) -> bool:
    """Whether a BEGIN:VCARD after these properties starts an AGENT's card: vCard 2.1 writes
    it on the lines after ``AGENT:`` (an empty value). Read as a card of its own, an
    update wrote it after the person's card, a second person in the file (QA)."""
    return bool(props) and props[-1].name == "AGENT" and not props[-1].value.strip(_WS)


def _embed(agents: dict[int, Property], card: Card, end: str) -> None:
    """At the END of an AGENT's card (``_embeds``): its lines become the AGENT's, written
    back as they were into a 2.1 card, and its value the card's text (as 3.0's AGENT holds
    one, ``AGENT:BEGIN:VCARD\nFN:...``) for a 3.0/4.0 card."""
    agent = agents.pop(id(card), None)
    if agent is None:
        return
    lines = ["BEGIN:VCARD"]
    for prop in card.properties:
        lines.extend(prop.raw or [format_property(prop)])
    lines.append(end)
    agent.raw = [*(agent.raw or ["AGENT:"]), *lines]
    # its own lines where they are plain text (quoted-printable or another charset: the value)
    text = [
        p.raw[0] if p.raw and len(p.raw) == 1 and not p.legacy else format_property(p)
        for p in card.properties
    ]
    agent.value = escape("\n".join(["BEGIN:VCARD", *text, "END:VCARD"]))
    agent.legacy = True  # its lines are 2.1's own syntax: a 3.0/4.0 card gets the value


def _every_row(text: str) -> Iterator[_Row]:
    """The rows ``_SIMPLE_LINE.findall(text)`` gives, and a row with no name for each
    other line that is not blank, which ``_fast_cards`` then counts as unreadable."""
    for line in text.split("\n"):
        match = _SIMPLE_LINE.fullmatch(line)
        if match is not None:
            line, group, raw_name, head, value = match.groups("")
            yield line, group, raw_name, head, value
        elif line.strip(_WS):
            yield line, "", "", "", ""


#: properties that say nothing about a person: a card holding only these holds nothing
_BOOKKEEPING = frozenset({"VERSION", "UID", "REV", "PRODID"})


def parse_cards(data: bytes, where: str = "", fallback: str = "windows-1252") -> list[Card]:
    """Every card in ``data``, nested cards after their parent; junk lines are skipped.
    ``RecordError`` (with ``where``) when no card with at least one property can be found,
    when the last card has no END (``_cut_off``), or when the first card holds nothing
    but bookkeeping (UID, REV...) and has lines that are not properties: read as it is, it
    would sync a person with no data, and say nothing of the lines it could not read. A
    card with only a PHOTO or an X- property is read as before: it holds something."""
    text = _to_text(data)
    if _cut_off(text):
        raise RecordError(
            "the card has no END:VCARD line: cut off while being written? (add END:VCARD "
            "at its end to have it read)",
            where,
        )
    fast = "\n " not in text and "\n\t" not in text and "=\n" not in text
    if fast:
        cards, saw_begin, unreadable = _fast_cards(text, fallback)
    else:
        cards, saw_begin, unreadable = _slow_cards(text, fallback)
    found = [c for c in cards if any(p.name != "VERSION" for p in c.properties)]
    if not found:
        if not saw_begin:
            raise RecordError("not a vCard: no BEGIN:VCARD line", where)
        raise RecordError("no vCard with any property could be read", where)
    first = found[0]
    if not any(p.name not in _BOOKKEEPING for p in first.properties):
        if fast:  # the regex skipped the lines it does not match: read them too, this once
            index = next(i for i, card in enumerate(cards) if card is first)
            cards, _, unreadable = _fast_cards(text, fallback, _every_row(text))
            first = cards[index]
        lines = [line for card, line in unreadable if card is first]
        if lines:
            raise RecordError(_unreadable_message(first, lines), where)
    return found


def _unreadable_message(card: Card, lines: list[str]) -> str:
    kept = ", ".join(sorted({p.name for p in card.properties}))
    shown = lines[0].encode("latin-1").decode("utf-8", "replace")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return (
        f"nothing in the card could be read but its {kept}: {len(lines)} line(s) are not "
        f"vCard properties, such as {shown!r} (a property line is NAME;PARAMS:value); "
        "mend them to have the card read"
    )


def _cut_off(text: str) -> bool:
    """Data whose last card has no END:VCARD: what a writer that died halfway leaves, in
    the middle of a line or at a line's end. Read as it is, it would say that every
    property after the cut was removed, and a sync would remove them everywhere. A card
    its producer wrote without END is refused the same way: the two cannot be told apart,
    and an error the user can mend costs less than data lost."""
    if text.rstrip()[-9:].upper() == "END:VCARD":  # the usual case, read from the tail only
        return False
    upper = text.upper()
    begin = upper.rfind("BEGIN:VCARD")
    return begin >= 0 and upper.find("END:VCARD", begin) < 0


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
    nested card, a first card with none of ``names`` or with a line that is not a property
    (``parse_cards`` may refuse the card), quoted-printable soft breaks, and,
    in folded data (which ``parse_cards`` reads line by line, with its own rules for odd
    lines), any line that the two readers could take differently. The params dicts may be
    shared: do not change them."""
    text = _to_text(data)
    if "=\n" in text or _cut_off(text):
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
            if line and (folded or inside):
                # a junk line: the line-by-line reader has its own rules, and parse_cards
                # decides whether the card holds enough to be read
                return None
            continue
        head = line[:colon]
        try:
            info = memo[head]
        except KeyError:
            info = _head_of(head)
            if len(memo) < _MEMO_LIMIT:
                memo[head] = info
        if info is None:
            if folded or inside:
                return None  # a junk line, as above
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
            if prop is None:
                return None  # a junk line, as above
            items.append((prop.name, prop.params, prop.value))
        elif (params and ("ENCODING" in params or "CHARSET" in params)) or not line.isascii():
            prop = Property(name, line[colon + 1 :], dict(params), group, [line])
            _decode_property(prop, fallback)
            items.append((name, prop.params, prop.value))
        else:
            items.append((name, params, line[colon + 1 :]))
    return items or None


def _slow_cards(text: str, fallback: str) -> tuple[list[Card], bool, _Unreadable]:
    """``parse_cards`` for text with folds or quoted-printable soft breaks."""
    cards: list[Card] = []
    stack: list[Card] = []
    current: Card | None = None
    props: list[Property] = []
    saw_begin = False
    unreadable: _Unreadable = []
    agents: dict[int, Property] = {}
    for parts in _logical_lines(text):
        first = parts[0]
        if first[0] in "BbEe" and len(first) < 24 and len(parts) == 1:
            upper = first.strip().upper()
            if upper == "BEGIN:VCARD":
                saw_begin = True
                if current is not None:
                    stack.append(current)
                current = Card()
                if stack and _embeds(props):
                    agents[id(current)] = props[-1]
                else:
                    cards.append(current)
                props = current.properties
                continue
            if upper == "END:VCARD":
                if current is not None and agents:
                    _embed(agents, current, first)
                current = stack.pop() if stack else None
                if current is not None:
                    props = current.properties
                continue
        if current is None:
            continue
        prop = parse_line(parts, fallback)
        if prop is None:
            unreadable.append((current, first))
            continue
        if prop.name == "VERSION":
            current.version = prop.value.strip()
        props.append(prop)
    return cards, saw_begin, unreadable


# --- files of several cards (a folder keeps one card per file) ----------------------------


def _utf16(data: bytes) -> tuple[str, bytes] | None:
    """The codec and byte-order mark (``b""`` if none) of UTF-16 data: a BOM, or a zero
    byte in one of the first two (a BOM-less card starts with ASCII); None for other data."""
    if data[:2] == b"\xff\xfe":
        return "utf-16-le", data[:2]
    if data[:2] == b"\xfe\xff":
        return "utf-16-be", data[:2]
    if len(data) >= 2 and (data[0] == 0) != (data[1] == 0):
        return ("utf-16-be" if data[0] == 0 else "utf-16-le"), b""
    return None


def utf16_as_utf8(data: bytes) -> tuple[bytes, str, bytes] | None:
    """UTF-16 data (``_utf16``) as UTF-8, with its codec and byte-order mark, so that what
    looks for cards in bytes can look into it; ``None`` for other data, or UTF-16 that does
    not decode (then not looked into: the bytes could not be given back as they were)."""
    found = _utf16(data)
    if found is None:
        return None
    codec, bom = found
    try:
        return data[len(bom) :].decode(codec).encode("utf-8"), codec, bom
    except UnicodeError:
        return None


def cards_after_first(data: bytes) -> int:
    """The cards a file holds after its first, at the top level: a vCard 2.1 AGENT card
    nested in another is part of it. A file in UTF-16 is looked into as UTF-8: its other
    cards were not seen, so an edit of its first rewrote them all, and a delete of its
    person trashed the whole file."""
    utf16 = utf16_as_utf8(data)
    if utf16 is not None:
        data = utf16[0]
    if data.upper().count(b"BEGIN:VCARD") < 2:
        return 0
    return max(sum(1 for depth, ended in _card_lines(data) if depth == 1 and not ended) - 1, 0)


def without_first_card(data: bytes) -> bytes:
    """The file's bytes after its first top-level card, exactly as they were (for UTF-16,
    found in its UTF-8 form and given back in the file's codec: the same bytes, as the
    decoding was strict; without the file's byte-order mark)."""
    utf16 = utf16_as_utf8(data)
    if utf16 is not None:
        utf8, codec, _ = utf16
        return without_first_card(utf8).decode("utf-8").encode(codec)
    lines = data.splitlines(keepends=True)
    for index, (depth, ended) in enumerate(_card_lines(data)):
        if ended and depth == 0:
            return b"".join(lines[index + 1 :])
    return b""


def _card_lines(data: bytes) -> Iterator[tuple[int, bool]]:
    """Per line: the card depth a BEGIN:VCARD line opens (else 0), and whether it is an
    END:VCARD line, with the depth it returns to. A UTF-8 BOM (which the parser skips) is
    skipped here too: its first line was not seen as BEGIN, so a file of two cards was
    taken for one, and deleting its first card's person removed the whole file."""
    depth = 0
    for raw in data.removeprefix(b"\xef\xbb\xbf").splitlines():
        line = raw.strip().upper()
        if line == b"BEGIN:VCARD":
            depth += 1
            yield depth, False
        elif line == b"END:VCARD" and depth:
            depth -= 1
            yield depth, True
        else:
            yield 0, False
