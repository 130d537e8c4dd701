"""Reading a CardDAV address book: sync-collection with a PROPFIND fallback, multiget,
``get`` and ``find``.

The cursor holds the address book's URL (found once by discovery) and the server's
sync-token, so a run with nothing new is one ``sync-collection`` REPORT (RFC 6578)
answering "no change". Changed members come back with their etags only; the cards whose
etag differs from the one the hub knows are fetched with ``addressbook-multiget`` in
batches. A token the server no longer accepts (expired, or the collection was recreated)
means a full listing: the same REPORT without a token, compared with the known etags, so
nothing is lost and deletions are seen by absence. Servers without sync support are
listed with a PROPFIND of etags (Depth 1).

Answers are read up to a bound (``http.ApiClient.request``'s ``limit``): a listing up to
``max_answer_mb`` (over it, the connector's run fails: a listing cut short would make every
card after the cut look deleted); a card's ``GET`` up to ``max_card_mb`` and a multiget of
one card up to ``_card_answer`` (over them, an error of that record); a multiget of several
up to ``max_answer_mb``, and over it asked again in two halves, down to single cards, so one
huge card costs its own record and nothing else.

Separate from ``carddav.py`` (settings, discovery, member addressing) and
``carddav_write.py`` because reading is its own path: cursors, listings and the
multiget of cards, which writing only borrows (``cards``, ``multiget``) to rewrite a card
and to read back one stored without an ETag. Plain functions taking the connector, which
keeps a thin ``pull``/``get``/``find``, as ``m365_read.py`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from contacthub.connectors import carddav_xml as dav
from contacthub.connectors.base import Connector, Pull, Record
from contacthub.connectors.card_source import size_text, too_big
from contacthub.connectors.http import error_for
from contacthub.errors import (
    AnswerTooLargeError,
    FatalConnectorError,
    NotAPersonError,
    RecordError,
    RecordNotFoundError,
)
from contacthub.times import utc

if TYPE_CHECKING:
    from contacthub.connectors.carddav import CardDavConnector

#: answers to a sync-collection meaning "this server or collection cannot do it"
_NO_SYNC = frozenset({400, 403, 404, 405, 409, 412, 415, 422, 501})


def _where(conn: CardDavConnector) -> str:
    """What the cursor's address book was found from: another ``url`` or ``addressbook``
    setting means discovering it again. Its query values masked: the cursor is stored in
    clear, and a ``?token=`` kept encrypted in the settings was written there as it is
    (QA); another token is the same address book anyway."""
    from contacthub.redact import hide_url_secrets

    return f"{hide_url_secrets(str(conn.url))}#{conn.addressbook or ''}"


def _state(conn: CardDavConnector, cursor: str | None) -> dict[str, Any]:
    """The cursor's book and token, when it was made for these settings."""
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(state, dict) or state.get("from") != _where(conn) or not state.get("book"):
        return {}
    return state


def pull(conn: CardDavConnector, cursor: str | None, known: Mapping[str, str]) -> Pull:
    state = _state(conn, cursor)
    if conn.book is None and state:
        conn._set_book(httpx.URL(str(state["book"])))
        try:
            return _pull(conn, state, known)
        except AnswerTooLargeError:
            raise  # the book is there, its answer too big: discovering it again changes nothing
        except FatalConnectorError:
            # the address book the cursor names is gone (deleted, moved): find it again
            conn.book = None
            state = {}
    return _pull(conn, state, known)


def _pull(conn: CardDavConnector, state: dict[str, Any], known: Mapping[str, str]) -> Pull:
    book = conn._book()
    token = state.get("token") if isinstance(state.get("token"), str) else None
    if token and "" in known.values():
        # versions forgotten (the connector's settings changed): every record must be
        # read again, which only a full listing can tell
        token = None
    listing: dict[str, str | None] | None = None
    complete = True
    new_token: str | None = None
    if state.get("sync", True):
        if token:
            synced = _sync(conn, book, token)
            if synced is not None:
                listing, new_token = synced
                complete = False
        if listing is None:
            synced = _sync(conn, book, None)  # a full listing: first run, or token refused
            if synced is not None:
                listing, new_token = synced
    sync = listing is not None
    if listing is None:
        listing = dict(_propfind_etags(conn, book))
    deleted = {nid for nid, etag in listing.items() if etag is None and nid in known}
    if complete:
        deleted |= {nid for nid in known if nid not in listing}
    changed = [nid for nid, etag in listing.items() if etag is not None and known.get(nid) != etag]
    listed = sum(1 for etag in listing.values() if etag is not None) if complete else 0
    cursor_out = json.dumps({"from": _where(conn), "book": str(book), "token": new_token, "sync": sync})
    return Pull(_fetch(conn, changed, known, deleted), deleted, complete, listed, cursor_out)


def _sync(
    conn: CardDavConnector, book: httpx.URL, token: str | None
) -> tuple[dict[str, str | None], str] | None:
    """Members changed since ``token`` (all members without one): native id -> etag,
    ``None`` for a member gone; and the new token. ``None`` when the server refuses
    (no sync support, or a token it no longer knows)."""
    changes: dict[str, str | None] = {}
    for _page in range(10_000):
        response, status = conn.dav.multistatus("REPORT", book, dav.sync_collection(token), "0")
        if status is None:
            if response.status_code in _NO_SYNC:
                return None
            raise error_for(response, conn.name, what=f"the address book {book}")
        for member in status.members:
            nid = conn._native_id(member.href)
            if member.collection or nid is None:
                continue
            changes[nid] = member.etag if 200 <= member.status < 300 else None
        if status.sync_token is None:
            return None
        token = status.sync_token
        if not status.truncated:
            return changes, token
    raise FatalConnectorError(f"{book} keeps truncating its changes", conn.name)


def _propfind_etags(conn: CardDavConnector, book: httpx.URL) -> Iterator[tuple[str, str | None]]:
    response, status = conn.dav.multistatus("PROPFIND", book, dav.PROPFIND_ETAGS, "1")
    if status is None:
        raise error_for(response, conn.name, what=f"the address book {book}")
    for member in status.members:
        nid = conn._native_id(member.href)
        if member.collection or nid is None or not 200 <= member.status < 300:
            continue
        if member.content_type and "vcard" not in member.content_type.lower():
            continue
        yield nid, member.etag or ""


def _fetch(
    conn: CardDavConnector, names: list[str], known: Mapping[str, str], deleted: set[str]
) -> Iterator[Record | RecordError]:
    for start in range(0, len(names), conn.batch):
        part = names[start : start + conn.batch]
        for nid, found in multiget(conn, part).items():
            if isinstance(found, RecordNotFoundError):
                if nid in known:
                    deleted.add(nid)  # gone since the listing (read after the records)
                continue
            yield found


#: a card as a multiget gives it: (card bytes, etag, last modified)
Card = tuple[bytes, str, str | None]


def _card_answer(conn: CardDavConnector) -> int:
    """The most of a multiget answer for one card read: the card (``max_card_mb``) escaped
    in XML (``&amp;`` is five bytes for one; photos in base64 escape nothing), with room for
    the multistatus around it."""
    return 2 * conn.max_card + 65536


def cards(conn: CardDavConnector, names: Sequence[str]) -> dict[str, Card | RecordError | None]:
    """One ``addressbook-multiget``: native id -> its ``Card``, None when missing, a
    ``RecordError`` when the server's answer for that card alone is over the limit (read
    no further). An answer for several over ``max_answer_mb`` (or over the single cards'
    bound times their number) is asked again in two halves."""
    book = conn._book()
    urls = {nid: conn._member_url(nid) for nid in names}
    if not urls:
        return {}
    one = _card_answer(conn)
    limit = one if len(urls) == 1 else max(one, min(conn.max_answer, one * len(urls)))
    body = dav.multiget(dav.path_of(u) for u in urls.values())
    try:
        response, status = conn.dav.multistatus("REPORT", book, body, "1", limit=limit)
    except AnswerTooLargeError:
        if len(urls) == 1:
            nid, where = next(iter(urls.items()))
            return {nid: RecordError(too_big_answer(one), where, conn.name)}
        half = len(names) // 2
        return {**cards(conn, names[:half]), **cards(conn, names[half:])}
    if status is None:
        raise error_for(response, conn.name, what=f"the address book {book}")
    by_id = {conn._native_id(m.href): m for m in status.members}
    out: dict[str, Card | RecordError | None] = {}
    for nid in urls:
        member = by_id.get(nid)
        if member is None or not 200 <= member.status < 300 or not member.data:
            out[nid] = None
            continue
        out[nid] = (member.data.encode("utf-8"), member.etag or "", member.last_modified)
    return out


def multiget(conn: CardDavConnector, names: Sequence[str]) -> dict[str, Record | RecordError]:
    """The records of ``names``: a ``RecordNotFoundError`` for a missing one and a
    ``RecordError`` for one that cannot be read."""
    out: dict[str, Record | RecordError] = {}
    for nid, found in cards(conn, names).items():
        where = conn._member_url(nid)
        if found is None:
            out[nid] = RecordNotFoundError("not found", where, conn.name)
            continue
        if isinstance(found, RecordError):  # its answer was over the limit: an error, no deletion
            out[nid] = found
            continue
        try:
            out[nid] = _record(conn, nid, where, *found)
        except RecordError as exc:
            out[nid] = exc
    return out


def _record(
    conn: CardDavConnector, nid: str, where: str, data: bytes, etag: str, last_modified: str | None = None
) -> Record:
    refuse_big(conn, data, where)
    try:
        fields, uid, rev = conn.codec.read(data, where)
    except NotAPersonError as exc:  # a contact group: as if it were not there
        raise NotAPersonError(exc.message, where, conn.name) from exc
    except RecordError as exc:
        raise RecordError(exc.message, where, conn.name) from exc
    modified: datetime | None = rev
    if last_modified:
        # "-0000" (RFC 5322's UTC of unknown origin, what email.utils.formatdate writes)
        # parses without a zone: compared with the REV's aware time it raised TypeError.
        # ``utc``: such a time is UTC; one UTC cannot hold is none
        try:
            stamp = utc(parsedate_to_datetime(last_modified))
        except (TypeError, ValueError):
            stamp = None
        if stamp is not None and (modified is None or stamp > modified):
            modified = stamp
    return Record(nid, etag, fields, modified, uid, where)


def refuse_big(conn: CardDavConnector, data: bytes, where: str, done: str = "not synced") -> None:
    """A ``RecordError`` for a card over the connector's ``max_card_mb``: a server answering
    a 300 MB card had it parsed, stored in the hub's database (six times its size) and
    copied into every other connector; an error of its record instead, which leaves a
    person linked to it as they are. (The answer holding it was read up to its bound,
    ``_card_answer`` or ``max_answer_mb``, which is more than the card: checked here.)"""
    why = too_big(len(data), conn.max_card, done)
    if why is not None:
        raise RecordError(why, where, conn.name)


def too_big_answer(limit: int, done: str = "not synced") -> str:
    """Why a card whose answer was cut off at ``limit`` bytes is not read."""
    return (
        f"{done}: the server sent more than {size_text(limit)} for this card, over the limit for"
        " one card (a card with photos is a few MB), and was read no further; if it is a card"
        " to sync, raise the connector's max_card_mb setting"
    )


def get(conn: CardDavConnector, native_id: str) -> Record:
    url = conn._member_url(native_id)
    try:
        response = conn.dav.send("GET", url, limit=conn.max_card)
    except AnswerTooLargeError:
        raise RecordError(too_big_answer(conn.max_card), url, conn.name) from None
    if response.status_code != 200:
        raise error_for(response, conn.name, record=url)
    etag = response.headers.get("ETag")
    if etag is None:  # a server that does not give it on GET: the multiget does
        found = multiget(conn, [native_id])[native_id]
        if isinstance(found, RecordError):
            raise found
        return found
    return _record(conn, native_id, url, response.content, etag, response.headers.get("Last-Modified"))


def find(conn: CardDavConnector, keys: Sequence[str]) -> Record | None:
    """Email keys are looked up on the server (``addressbook-query``); the others
    (phone + name), or all of them on a server without queries, with a listing."""
    from contacthub.model import match_keys

    book = conn._book()
    for key in (k for k in keys if k.startswith("email:")):
        _, status = conn.dav.multistatus("REPORT", book, dav.query_email(key[6:]), "1")
        if status is None:
            return Connector.find(conn, keys)
        for member in status.members:
            if member.data is None or not 200 <= member.status < 300:
                continue
            nid = conn._native_id(member.href)
            if nid is None:
                continue
            try:
                record = _record(conn, nid, conn._member_url(nid), member.data.encode(), member.etag or "")
            except RecordError:
                continue
            if key in match_keys(record.fields):
                return record
    if all(k.startswith("email:") for k in keys):
        return None
    return Connector.find(conn, keys)
