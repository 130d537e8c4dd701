"""The card a new card starts from: the same person's card in another connector of the hub.

A card made from the hub's fields alone has only what the hub models: a first copy of a
phone's folder into a new folder or CardDAV book left every PHOTO, NICKNAME, IMPP, X-
property and Apple group behind, where vdirsyncer copies the card whole. So when the plan
creates a card for a contact that a vCard folder or CardDAV book of the same hub holds, the create
carries a ``CardSource``: where that card is and the version the hub agreed on (or, for
a CardDAV book, the card itself, fetched with one multiget per page). The
connector writing the new card reads it (``read``) and writes the hub's fields into it as
into any existing card (``VCardCodec.create_from``); everything the hub does not model is
copied as it is. ``exact`` says the card, at that version, reads as exactly the fields to
write under the same settings (the link agreed on the contact's current revision): the
bytes are then copied without parsing, the way vdirsyncer copies them. ``mapped`` is the
source connector's field map: a property it reads as a hub field (``custom.trade`` in
``X-TRADE``) is hub data, not something the hub does not model, and a copy into a
connector that does not read it there leaves it out (kept, it stayed as first copied
while the hub field changed).

The source is only a starting point: a card that changed, went away or cannot be read is
ignored and the new card is built from the fields, as before.

Apart from ``base`` because it is file I/O, which the interface module has none of.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from hashlib import blake2b
from typing import TYPE_CHECKING

from contacthub.errors import RecordError

if TYPE_CHECKING:  # types only: the codec is the one of the connector writing the card
    from contacthub.formats.vcard import VCardCodec
    from contacthub.formats.vcard_map import FieldMap
    from contacthub.model import Fields

_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def too_big(size: int, limit: int, done: str = "not read") -> str | None:
    """Why a card of ``size`` bytes is not read (or not ``done``), when it is over
    ``limit`` (the connector's ``max_card_mb``); None when it is not."""
    if size <= limit:
        return None
    return (
        f"{done}: {size_text(size)}, over the limit of {size_text(limit)} for one card (a card"
        " with photos is a few MB); if it is a card to sync, raise the connector's"
        " max_card_mb setting"
    )


def size_text(n: int) -> str:
    """A size as said to people: ``20 MB``, ``1.5 MB``, ``512 bytes``."""
    return f"{n / 2**20:.1f}".removesuffix(".0") + " MB" if n >= 2**20 else f"{n} bytes"


def file_version(st: os.stat_result) -> str:
    """The stat part of a vCard file's version: its ``mtime_ns-size-inode`` (here, where both
    the folder connector and the sources it hands out need it). The inode because ``mv``
    keeps a file's mtime: two cards of one size swapping names kept their versions, went
    unread, and the hub then wrote one person's data over the other's card. A hub whose
    links hold the older ``mtime_ns-size`` form reads each file once more, then holds this
    form."""
    return f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}"


def content_version(st: os.stat_result, data: bytes) -> str:
    """A file's version as a record carries it: the stat part, then a digest of the bytes
    (``mtime_ns-size-inode:digest``). The stat part says whether to read the file again;
    the digest, once it is read, whether it holds anything new: a touched file, or one
    copied back from a backup, is then no change at all (``Unchanged``), and is neither
    parsed nor merged (a touched folder of 10,000 cards took longer than its first copy).
    128 bits of BLAKE2b: a collision would be an edit ignored."""
    return f"{file_version(st)}:{digest(data)}"


def digest(data: bytes) -> str:
    """The digest part of ``content_version`` for ``data``."""
    return blake2b(data, digest_size=16).hexdigest()


def stat_part(version: str) -> str:
    """The stat part of a version (``file_version``), to compare with a file's stat: the
    whole of a version stored before versions had digests."""
    return version.partition(":")[0]


def digest_part(version: str) -> str:
    """The digest part of a version (``content_version``), "" where it has none."""
    return version.partition(":")[2]


@dataclass(frozen=True, slots=True)
class CardSource:
    """A card another connector of the hub holds, at the version the hub agreed on, and
    whether it reads as exactly the fields to write: a vCard file's path (read when the new
    card is written, by whichever process writes it), or a card's bytes already fetched (a
    CardDAV book's, fetched a page at a time, at that version), and the field map it was
    read with (``mapped``: which of its properties are hub fields there; None: unknown,
    every property is kept)."""

    path: str
    version: str
    exact: bool = False
    data: bytes | None = None
    mapped: FieldMap | None = None

    def read(self, limit: int | None = None) -> bytes | None:
        """The card's bytes if the file is still at ``version``, else None (it changed since
        the hub read it, so it may no longer say what the hub agreed on). A card over
        ``limit`` (the writing connector's ``max_card_mb``) is a ``RecordError``, unread:
        the source's own limit may be higher, and a card linked before there were limits
        may be any size (read whole, a 300 MB card took 1.8 GB); the new card is then not
        made rather than made without the photos that made it big."""
        if self.data is not None:
            self._refuse(len(self.data), limit)
            return self.data
        try:
            fd = os.open(self.path, _FLAGS)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            # the writer's limit, not a fixed one: a card over 16 MB (a large PHOTO) was
            # built from the hub's fields instead, and lost its photo silently
            if file_version(st) != stat_part(self.version):
                return None
            self._refuse(st.st_size, limit)
            chunks = []
            left = st.st_size
            while left > 0:
                chunk = os.read(fd, left)
                if not chunk:
                    return None
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _refuse(self, size: int, limit: int | None) -> None:
        why = None if limit is None else too_big(size, limit, f"not copied from {self.path}")
        if why is not None:
            raise RecordError(why, self.path)

    def card(
        self, codec: VCardCodec, fields: Fields, uid: str, limit: int | None = None
    ) -> tuple[bytes, Fields] | None:
        """The new card made from this one with ``codec`` (``VCardCodec.create_from``): its
        bytes and the fields they read as; None when the card cannot be read or used; a
        ``RecordError`` when it is over ``limit`` (``read``)."""
        template = self.read(limit)
        if template is None:
            return None
        return codec.create_from(template, fields, uid, self.exact, self.mapped)
