"""Writing to a CardDAV address book: PUT with ``If-None-Match`` / ``If-Match``, DELETE,
and what a 412 means.

A create is a PUT with ``If-None-Match: *`` (never replaces a card someone else made under
that name), an update a PUT with ``If-Match`` of the etag the hub last read, a deletion a
DELETE with ``If-Match``. A 412 is a ``StaleVersionError``: someone changed the card since
the hub read it, so it is left as it is and the next pull merges it. An update rewrites the
server's own card (fetched with one multiget per batch), so every property the hub does not
model (PHOTO, X-..., groups, CATEGORIES) survives, as in ``vcard_dir``. Writes whose answer
had no ETag are read back with one multiget (``_complete``). A card the hub deletes is
fetched first (one multiget per batch) and kept in the connector's trash
(``vcard_trash.Trash.at``): a create for that hub id (an undo, a restore) puts it back
whole, as a vCard folder's trash does, instead of a card with only the hub's fields.
A create that copies another connector's card (``WriteOp.source``) which the server
refuses as it is (``_invalid_card``: its parser objects to a line) is sent again at once
built from the hub's fields: refused for good, the person never reached the book.

Separate from ``carddav.py`` (settings, discovery, member addressing) and
``carddav_read.py`` because writing has its own rules (conditional requests, names for new
cards, replayed creates); plain functions taking the connector, which keeps a thin
``write``, as ``m365_write.py`` does.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from contacthub.connectors import carddav_read
from contacthub.connectors.base import Record, WriteOp, WriteResult
from contacthub.connectors.http import error_for, message_of
from contacthub.errors import RecordError, RecordNotFoundError, StaleVersionError
from contacthub.formats.vcard import refuse_group

if TYPE_CHECKING:
    from contacthub.connectors.carddav import CardDavConnector

#: hub ids usable as member names as they are (others get a random name)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")
_VCARD = "text/vcard; charset=utf-8"

log = logging.getLogger("contacthub.connectors.carddav")


def write(conn: CardDavConnector, ops: Sequence[WriteOp]) -> list[WriteResult]:
    conn._book()
    # one multiget for the cards the batch updates and, when the trash is on, deletes
    keeping = conn.trash.days > 0
    wanted = [
        op.native_id
        for op in ops
        if op.native_id and (op.kind == "update" or (op.kind == "delete" and keeping))
    ]
    current = carddav_read.cards(conn, [nid for nid in dict.fromkeys(wanted) if conn._is_member(nid)])
    restoring = any(op.kind == "create" for op in ops) and conn.trash.present()
    results: list[WriteResult] = []
    for op in ops:
        try:
            if op.kind == "create":
                result = _create(conn, op, restoring)
            elif op.kind == "update":
                result = _update(conn, op, _card(current.get(op.native_id or "")))
            elif op.kind == "delete":
                result = _delete(conn, op, _to_keep(_card(current.get(op.native_id or ""))))
            else:
                raise RecordError(f"CardDAV address books cannot {op.kind}", op.hub_id, conn.name)
        except RecordError as exc:
            result = WriteResult(op, op.native_id, error=exc)
        results.append(result)
    _complete(conn, results)
    return results


def _complete(conn: CardDavConnector, results: list[WriteResult]) -> None:
    """Writes whose answer had no ETag (a server that changed the card as it stored it)
    read back the stored card with one multiget."""
    missing = [r for r in results if r.error is None and r.op.kind != "delete" and not r.version]
    if not missing:
        return
    found = carddav_read.multiget(conn, [r.native_id or "" for r in missing])
    for result in missing:
        record = found.get(result.native_id or "")
        if isinstance(record, Record):
            result.version, result.fields = record.version, record.fields
        else:
            result.error = record or RecordError("not found after writing", str(result.native_id), conn.name)


def _put(conn: CardDavConnector, url: str, data: bytes, **headers: str) -> httpx.Response:
    return conn.dav.request("PUT", url, data, **{"Content-Type": _VCARD, **headers})


def _invalid_card(response: httpx.Response) -> bool:
    """The server refuses the card's content (not who sent it, nor a version check): a 400,
    413, 415 or 422, or a 403/409 naming CardDAV's address-data preconditions (RFC 6352)."""
    status = response.status_code
    if status in (400, 413, 415, 422):
        return True
    return status in (403, 409) and b"address-data" in response.content


def _card(found: carddav_read.Card | RecordError | None) -> carddav_read.Card | None:
    """A card the batch fetched; one whose answer was over the limit is its record's error
    (neither rewritten nor deleted, as a card over ``max_card_mb`` is not)."""
    if isinstance(found, RecordError):
        raise found
    return found


def _reason(response: httpx.Response) -> str:
    return f"{response.status_code}: {message_of(response)}"


def _to_keep(found: tuple[bytes, str, str | None] | None) -> bytes | None:
    """A card the batch deletes, as fetched, for the trash."""
    if found is None:
        return None
    data = found[0]
    if b"\r\n" not in data:  # XML parsing made the card's CRLF line ends LF
        data = data.replace(b"\n", b"\r\n")
    return data


def _create(conn: CardDavConnector, op: WriteOp, restoring: bool = False) -> WriteResult:
    hub_id = op.hub_id
    safe = _SAFE_NAME.fullmatch(hub_id) and not hub_id.endswith(".")
    name = f"{hub_id}.vcf" if safe else f"{uuid.uuid4().hex}.vcf"
    # the card this book deleted for the person (an undo, a restore) comes back whole
    restored = conn.trash.restored(hub_id, op.fields, conn.codec) if restoring else None
    copied = None
    if restored is None and op.source is not None:
        try:
            copied = op.source.card(conn.codec, op.fields, hub_id, conn.max_card)
        except RecordError as exc:  # over this book's limit: it would not read it
            raise RecordError(exc.message, conn._member_url(name), conn.name) from None
    data, fields = restored or copied or conn.codec.create_read(op.fields, hub_id)
    refused: httpx.Response | None = None
    for attempt in range(3):
        url = conn._member_url(name)
        response = _put(conn, url, data, **{"If-None-Match": "*"})
        if copied is not None and _invalid_card(response):
            # the server's parser refuses the copied card (a PROFILE line, two N lines, a
            # line it cannot read): the person arrives with the hub's fields alone
            refused, copied = response, None
            data, fields = conn.codec.create_read(op.fields, hub_id)
            log.warning(
                "%s: %s refused the card copied from another connector (%s), sent the hub's fields alone",
                conn.name,
                url,
                _reason(refused),
            )
            response = _put(conn, url, data, **{"If-None-Match": "*"})
        if response.status_code in (200, 201, 204):
            if restored is not None:
                conn.trash.drop(hub_id)
            return WriteResult(op, name, response.headers.get("ETag"), fields)
        if response.status_code == 409 and b"uid-conflict" in response.content:
            raise RecordError(
                f"the address book already has a card with UID {hub_id} under another name; "
                "the next run reads it and links it",
                url,
                conn.name,
            )
        if response.status_code != 412:
            error = error_for(response, conn.name, record=url)
            if refused is not None:
                first = _reason(refused)
                error.message += f"; the card copied from another connector was refused first ({first})"
            raise error
        if attempt == 0:
            try:
                existing = conn.get(name)
            except RecordNotFoundError:
                existing = None
            if existing is not None and existing.hub_id == hub_id:
                return WriteResult(op, name, existing.version, existing.fields)  # a replayed create
        name = f"{uuid.uuid4().hex}.vcf"  # someone else's card has that name
    raise RecordError("could not find a free name in the address book", url, conn.name)


def _update(
    conn: CardDavConnector, op: WriteOp, current: tuple[bytes, str, str | None] | None
) -> WriteResult:
    url = conn._member_url(op.native_id or "")
    if current is None:
        raise RecordNotFoundError("not found", url, conn.name)
    old, etag, _ = current
    carddav_read.refuse_big(conn, old, url, "not updated")
    refuse_group(old, url, conn.name)
    expected = op.version or etag
    if etag != expected:
        # (the etags themselves, the server's opaque tokens, tell a user nothing they can use)
        raise StaleVersionError(
            "changed by someone else since the hub last read it, so it was not written (the"
            " change is not overwritten): it is read again and the edit retried on the next sync",
            url,
            conn.name,
        )
    cards = [parsed.card for parsed in conn.codec.parse(old, url)]
    new = conn.codec.update(cards, op.fields, uid=op.hub_id, data=old)
    fields = conn.codec.read(new, url)[0]
    response = _put(conn, url, new, **{"If-Match": expected})
    if response.status_code not in (200, 201, 204):
        raise error_for(response, conn.name, record=url)
    return WriteResult(op, op.native_id, response.headers.get("ETag"), fields)


def _delete(conn: CardDavConnector, op: WriteOp, card: bytes | None = None) -> WriteResult:
    """Delete the card, kept first in the trash (``card``, fetched for the batch) so that a
    crash between the two loses nothing; a refused DELETE takes it out again."""
    url = conn._member_url(op.native_id or "")
    if card is not None:
        carddav_read.refuse_big(conn, card, url, "not deleted")
        refuse_group(card, url, conn.name)
    headers = {"If-Match": op.version} if op.version else {}
    if card is not None:
        conn.trash.keep_card(card, op.hub_id)
    response = conn.dav.request("DELETE", url, **headers)
    if response.status_code in (200, 204, 404, 410):
        return WriteResult(op, op.native_id)  # 404: already gone, a replayed delete is done
    if card is not None:
        conn.trash.drop(op.hub_id)
    raise error_for(response, conn.name, record=url)
