"""Cards a vCard folder deleted for the hub, kept a while so that an undo brings them back whole.

The hub does not model a card's PHOTO, X- properties or groups, so a card made again from
the hub's fields alone would lack them: an undo of a deletion, or a person rejecting it
after the fact, brought back a card without its photo. Instead, a card the hub deletes is
moved (one rename, atomic) into the folder's hidden ``.contacthub-trash``, under a name made
from its hub id; a create for that hub id takes it back, with the hub's fields written into
it as into any existing card. Cards stay ``trash_days`` (default 30; 0 deletes at once) and
are pruned when the folder next deletes. Other programs reading the folder skip the trash:
it is a folder, and its name starts with a dot.

A CardDAV book has no folder of ours to hide a trash in: its connector keeps the cards it
deletes in the same kind of trash in the hub's data directory (``Trash.at``, private to
the user), the bytes fetched before the DELETE.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from contacthub.errors import ConfigError, RecordError
from contacthub.formats.vcard import VCardCodec
from contacthub.model import Fields

TRASH = ".contacthub-trash"
#: the longest ``trash_days`` (``Connector.setting_maxima``): a century
MAX_TRASH_DAYS = 36500
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")


class Trash:
    def __init__(self, root: Path, days: float, *, directory: Path | None = None) -> None:
        self.dir = directory if directory is not None else root / TRASH
        self.days = days
        self._pruned = False
        #: a trash outside the folder (``at``) is made with its parents, readable only by us
        self._private = directory is not None

    @classmethod
    def of(cls, root: Path, days: Any, connector: str) -> Trash:
        """The trash of the folder ``root`` for its ``trash_days`` setting."""
        if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
            raise ConfigError(f"trash_days must be a number of days (0: none), not {days!r}", connector)
        return cls(root, float(days))

    @classmethod
    def at(cls, directory: Path | None, days: Any, connector: str) -> Trash:
        """A trash in ``directory`` itself (a connector's own directory in the hub's data
        directory); ``None`` (a connector built outside a hub) keeps nothing."""
        checked = cls.of(Path(), days, connector).days
        if directory is None:
            return cls(Path(), 0.0, directory=Path(TRASH))  # never made nor read: days is 0
        return cls(directory, checked, directory=directory)

    def present(self) -> bool:
        """Whether anything can be in the trash (one stat, once per batch of writes)."""
        return self.days > 0 and self.dir.is_dir()

    def keep(self, path: Path, hub_id: str) -> None:
        """Move the card at ``path`` into the trash, or delete it when the trash is off."""
        if self.days <= 0:
            path.unlink(missing_ok=True)
            return
        target = self._place(hub_id)
        os.replace(path, target)
        os.utime(target)  # when it was deleted, for pruning (a rename keeps the old time)
        # its file name, so that a restore puts it back under it (it came back under the
        # hub id's name: a phone's "Ann.vcf" as "01a2...vcf"); pruned with the card
        self._origin(hub_id).write_text(path.name, encoding="utf-8")
        self._prune_once()

    def keep_card(self, data: bytes, hub_id: str) -> None:
        """Keep ``data``, one card taken out of a file of several, as ``keep`` keeps a file."""
        if self.days <= 0:
            return
        target = self._place(hub_id)
        part = target.with_name(f".{target.name}.part")
        part.write_bytes(data)
        os.replace(part, target)
        self._prune_once()

    def _place(self, hub_id: str) -> Path:
        """Where the trash keeps the card of ``hub_id`` (the trash made if need be)."""
        if self._private:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            self.dir.mkdir(exist_ok=True)
        return self.dir / _name(hub_id)

    def _prune_once(self) -> None:
        """Prune when this folder first deletes in a run, not on every deletion."""
        if not self._pruned:
            self._pruned = True
            self.prune()

    def _origin(self, hub_id: str) -> Path:
        return self.dir / f".{_name(hub_id)}.name"

    def origin(self, hub_id: str) -> str | None:
        """The file name the card kept for ``hub_id`` had in its folder, if known."""
        try:
            name = self._origin(hub_id).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return name if name and "/" not in name and not name.startswith(".") else None

    def find(self, hub_id: str) -> bytes | None:
        """The card kept for ``hub_id``, if there is one."""
        try:
            return (self.dir / _name(hub_id)).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def holding(self, hub_ids: Iterable[str]) -> set[str]:
        """Those of ``hub_ids`` the trash keeps a card for (a stat each, none when empty)."""
        if not self.present():
            return set()
        return {hub_id for hub_id in hub_ids if (self.dir / _name(hub_id)).is_file()}

    def restored(
        self, hub_id: str, fields: Mapping[str, Any], codec: VCardCodec
    ) -> tuple[bytes, Fields] | None:
        """The card kept for ``hub_id`` with ``fields`` written into it, as into any existing
        card, and the fields it reads as; ``None`` if none is kept or it cannot be read."""
        kept = self.find(hub_id)
        if kept is None:
            return None
        try:
            cards = [parsed.card for parsed in codec.parse(kept, TRASH)]
            data = codec.update(cards, fields, uid=hub_id, data=kept)
            return data, codec.read(data, TRASH)[0]
        except RecordError:
            return None

    def drop(self, hub_id: str) -> None:
        (self.dir / _name(hub_id)).unlink(missing_ok=True)
        self._origin(hub_id).unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> None:
        """Delete the cards kept longer than ``days``."""
        limit = (now if now is not None else time.time()) - self.days * 86400
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue


def _name(hub_id: str) -> str:
    """A file name for a hub id: itself where that is safe, else a hash of it."""
    if _SAFE.fullmatch(hub_id) and hub_id[-1] != ".":
        return f"{hub_id}.vcf"
    return hashlib.sha256(hub_id.encode("utf-8", "surrogatepass")).hexdigest()[:40] + ".vcf"
