"""A folder of vCard files, one contact per file (the vdirsyncer / Radicale / khard layout).

The version of a record is its file's ``mtime_ns-size-inode``, so a pull with nothing new is one
``os.scandir`` and a comparison with the versions the hub already knows: no file is opened.
Only new or changed files are read, lazily, as the engine consumes the records.

Writes never leave a half-written file, a file that changed since the hub read it is
refused (``StaleVersionError``), never overwritten, and ``fsync`` (default true) puts a
batch of writes on disk before ``write`` returns: how, is in ``vcard_files.py`` (the
file-system mechanics, a mixin of this connector). This module is the connector: settings,
the scan of the folder, pull and records, and the write operations.
"""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from contacthub.connectors.base import (
    MAX_CARD_MB,
    MAX_CARD_MB_LIMIT,
    Capabilities,
    Connector,
    ConnectorConfig,
    Pull,
    Record,
    Unchanged,
    WriteOp,
    WriteResult,
    encoding_setting,
    flag_setting,
    path_setting,
    size_setting,
)
from contacthub.connectors.card_source import (
    CardSource,
    content_version,
    digest,
    digest_part,
    stat_part,
    too_big,
)
from contacthub.connectors.readahead import read_ahead
from contacthub.connectors.vcard_files import _TMPFILE, VCardFiles, link_target
from contacthub.connectors.vcard_files import file_version as file_version
from contacthub.connectors.vcard_trash import MAX_TRASH_DAYS, Trash
from contacthub.connectors.writebehind import WriteBehind
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    NotAPersonError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from contacthub.formats.vcard import ParsedCard, VCardCodec, refuse_group
from contacthub.formats.vcard_lines import cards_after_first, utf16_as_utf8, without_first_card
from contacthub.model import Fields

#: the cursor that made the next pull read every file, as versions before the files of
#: several cards were kept in it saved it (``_read_cursor``)
REREAD = "read every file"


@dataclass(frozen=True, slots=True)
class _Several:
    """A file read that holds several cards: its name and how many (a plain value, as it
    may come back from the read-ahead worker)."""

    name: str
    cards: int


def _several_message(cards: int) -> str:
    # a folder keeps one card per file: an address book exported whole and dropped in
    # would otherwise sync one person, and say nothing
    return (
        f"the file holds {cards} cards; a vCard folder keeps one card per file, so only the "
        "first is synced: split the file to sync the others"
    )


def _read_cursor(cursor: str | None) -> tuple[bool, dict[str, int]]:
    """Whether the pull reads every file, and the files of several cards the last applied
    run knew (name -> cards), from JSON of both (``_cursor``). Any other cursor reads every
    file: none (a first sync, or one a new mapping cleared), or one of an older version
    (``None`` or ``REREAD``), which kept no files of several cards. Read as "none", after
    an upgrade no run read such a file again (the hub knew it unchanged), and its warning
    was never said again though README promises it on every run until the file is split;
    a read of every file finds them, and only files whose bytes differ are parsed."""
    if cursor is None:
        return True, {}
    try:
        saved = json.loads(cursor)
        return bool(saved["reread"]), {str(k): int(v) for k, v in saved["several"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return True, {}


def _cursor(reread: bool, several: Mapping[str, int]) -> str:
    """The cursor ``_read_cursor`` reads: always JSON, also with no file of several cards,
    so that a cursor of an older version is told from it."""
    return json.dumps({"reread": reread, "several": dict(sorted(several.items()))})


#: hub ids that can be used as file names as they are
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")
_SEPARATORS = frozenset(filter(None, ("/", "\\", "\0", os.sep, os.altsep)))
#: a write as it comes back from the write-behind worker: name, version, fields, error
_Written = tuple[str | None, str | None, Fields | None, RecordError | None]


def _extension(value: str, connector: str) -> str:
    """The ``extension`` setting as the suffix of the folder's file names (``vcf`` is
    ``.vcf``), refused when it is no plain suffix: stored unchecked, ``/../../escape.vcf``
    named new files outside the folder, and ``.vcf\\x00x`` failed every run that wrote."""
    suffix = value if value.startswith(".") else f".{value}"
    bad = [c for c in suffix if c in "/\\" or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if not suffix.strip(".") or bad:
        why = f"it holds {bad[0]!r}" if bad else "it is no more than dots"
        raise ConfigError(
            f"'extension' must be a plain suffix of file names such as '.vcf' ({why}), not {value!r}",
            connector,
        )
    return suffix


class VCardDirConnector(VCardFiles, Connector):
    """Settings: ``path`` (required), ``version`` ("3.0" or "4.0" for new cards), ``extension``
    (".vcf"), ``encoding`` (for files that are not UTF-8; default windows-1252), ``create``
    (make a missing folder instead of failing), ``fsync`` (default true: written files are
    on disk before ``write`` returns; see ``vcard_files.py``), ``max_card_mb`` (20: a file
    bigger is an error of its record, never read)."""

    type: ClassVar[str] = "vcard-dir"
    path_settings: ClassVar[frozenset[str]] = frozenset({"path"})
    setting_types: ClassVar[Mapping[str, Any]] = {
        "path": str, "version": str | float, "extension": str, "encoding": str, "create": bool,
        "fsync": bool, "trash_days": float, "max_card_mb": float,
    }  # fmt: skip
    setting_maxima: ClassVar[Mapping[str, float]] = {
        "trash_days": MAX_TRASH_DAYS,
        "max_card_mb": MAX_CARD_MB_LIMIT,
    }
    capabilities: ClassVar[Capabilities] = Capabilities(
        create=True, update=True, delete=True, deactivate=False, delta=False, batch_size=500, dated_whole=True
    )
    default_mapping: ClassVar[Mapping[str, str]] = {
        "display_name": "FN",
        "job_title": "TITLE",
        "notes": "NOTE",
        "birthday": "BDAY",
    }

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        settings = config.settings
        self.root = Path(path_setting(config, "the vCard folder")).expanduser()
        self._root_text = str(self.root.absolute())
        version = settings.get("version")
        if version is not None:
            version = str(version)
            if version not in ("3.0", "4.0"):
                raise ConfigError(f"version must be 3.0 or 4.0, not {version!r}", config.name)
        self.extension = _extension(str(settings.get("extension", ".vcf")), config.name)
        encoding = encoding_setting(config, "windows-1252")
        self.create_missing = flag_setting(config, "create", False)
        self.fsync = flag_setting(config, "fsync", True)
        self.max_card = size_setting(config, "max_card_mb", MAX_CARD_MB)
        self._sync_each = False  # fsync every file: where the file system cannot be synced
        #: new files via O_TMPFILE + link (off once the kernel, file system or /proc refuses)
        self._tmpfile = bool(_TMPFILE) and os.path.isdir("/proc/self/fd")
        self._behind: WriteBehind[tuple[WriteOp, str], _Written] | None = None
        #: a first use found no folder and ``create`` is on: the first write makes it, or
        #: the run once applied (``applied_cursor``; a dry run, which writes nothing, made
        #: it all the same when the pull did)
        self._make_at_write = False
        # a 2.1 card (an old phone's, Outlook's) is updated as 2.1: its program reads only 2.1
        self.codec = VCardCodec(config.mapping, config.region, version, encoding, keep_21=True)
        self.trash = Trash.of(self.root, settings.get("trash_days", 30), config.name)
        self._trash_present = False
        #: the files the last scan found changed, each with the version the hub knows
        self._was: dict[str, str] = {}
        #: a write found a file changed behind a stat as it was: the next pull reads every
        #: file (``applied_cursor``, ``_check_version``)
        self._reread = False
        #: the files of several cards (name -> cards), said on every run until split: kept
        #: in the cursor, as a run reads no file that did not change (our own writes into
        #: one included), and the warning was said once and never again (QA)
        self._several: dict[str, int] = {}
        #: the folder's file names as ``_new_name`` tells case twins apart, listed at the
        #: first new name a run picks: the names with a capital, by their lower case -> as
        #: spelt, and the hashes of the others (all lower case, most of them: a first copy
        #: of 50,000 cards kept 5.5 MB of lower-cased names for them)
        self._capitals: dict[str, str] = {}
        self._lower: set[int] = set()
        self._listed = False

    @property
    def fields(self) -> frozenset[str] | None:
        return self.codec.fields

    def read_back(self, fields: Fields) -> Fields:
        return self.codec.read_back(fields)

    @property
    def keeps_deleted_cards(self) -> bool:
        return self.trash.present()

    def kept_cards(self, hub_ids: Sequence[str]) -> set[str]:
        return self.trash.holding(hub_ids)

    @property
    def card_settings(self) -> tuple[Any, ...] | None:
        return self.codec.settings

    def card_sources(self, wanted: Sequence[tuple[str, str, bool]]) -> dict[str, CardSource]:
        # string joins (a Path per card costs more than the rest of this together); the
        # files are read by the process that writes the new cards
        root, join = self._root_text, os.path.join
        return {
            nid: CardSource(join(root, nid), version, exact, mapped=self.codec.fmap)
            for nid, version, exact in wanted
            if nid and nid[0] != "." and not _SEPARATORS.intersection(nid)
        }

    # --- reading ----------------------------------------------------------------------

    def check_location(self) -> None:
        # what ``check`` would refuse, said by apply (a folder create = true makes is fine)
        try:
            self.check()
        except FatalConnectorError as exc:
            raise ConfigError(exc.message, self.name) from None

    def check(self) -> None:
        try:
            mode: int | None = os.stat(self.root).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise FatalConnectorError(self._unusable(exc), self.name) from None
        if mode is not None and stat.S_ISDIR(mode):
            return
        if mode is not None:
            raise FatalConnectorError(f"{self.root} is not a folder: fix the 'path' setting", self.name)
        if self.create_missing:
            return  # made by the first write if this is a first use (``_folder``)
        raise FatalConnectorError(
            f"the vCard folder {self.root} does not exist: create it, fix the 'path' setting,"
            " or set create = true",
            self.name,
        )

    def _unusable(self, exc: OSError) -> str:
        """Why the folder's path cannot be looked at, as a user can mend it. Taken for a
        folder not there, a path under a file (``/x/afile/sub``) passed apply with
        ``create = true`` and failed only the first run; a name over 255 characters was a
        traceback (``is_dir`` raises for it), a 500 from the web API."""
        if isinstance(exc, NotADirectoryError):
            for parent in self.root.parents:  # the nearest that is there
                try:
                    mode = os.stat(parent).st_mode
                except OSError:
                    continue
                if not stat.S_ISDIR(mode):
                    return f"{self.root} cannot be a folder: {parent} is a file: fix the 'path' setting"
                break
        why = (exc.strerror or str(exc)).lower()
        return f"cannot use {self.root} as the vCard folder: {why}: fix the 'path' setting"

    def _folder(self, first_use: bool) -> None:
        """Fail unless the folder is there; ``create`` makes it only while the hub knows no
        card of this connector (a first use: ``pull`` with nothing ``known``). A folder that
        held known cards and is gone is an unmounted disk or a moved folder, not an empty
        book: made again empty, the run read every person as deleted and, once approved,
        deleted them everywhere. The first write makes it, when the first use's pull found
        none (``_make_at_write``), or else the run once applied: a dry run, which writes
        nothing, leaves no folder."""
        self.check()
        if self.root.is_dir():
            return
        if not first_use:
            raise FatalConnectorError(
                f"the vCard folder {self.root} is gone, though it held cards the hub knows"
                " (an unmounted disk, a moved folder?): bring it back or fix the 'path'"
                " setting; create = true only makes the folder on first use",
                self.name,
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FatalConnectorError(f"cannot create {self.root}: {exc}", self.name) from exc

    def _contact_files(self) -> Iterator[os.DirEntry[str]]:
        ext = self.extension.lower()
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if name[0] != "." and (name.endswith(ext) or name.lower().endswith(ext)):
                    if entry.is_symlink() and self._names_a_file_here(entry.path):
                        continue
                    yield entry

    def _names_a_file_here(self, link: str) -> bool:
        """Whether a symlink points at another contact file of this folder: that card is
        read under its own name, and reading it again under the link's made a second
        person of it (a link to a card elsewhere is a card of this folder, and is kept)."""
        target = Path(os.path.realpath(link))
        ext = self.extension.lower()
        return (
            target.parent == Path(os.path.realpath(self.root))
            and target.name[0] != "."
            and target.name.lower().endswith(ext)
            and target.is_file()
        )

    def _scan(
        self, known: Mapping[str, str], every: bool = False
    ) -> tuple[list[str], set[str], int, dict[str, str]]:
        """The files new or changed since ``known`` (name -> version), the known names no
        longer there, how many contact files there are (readable or not), and the names that are there but
        cannot be read as files, each with why (a file over ``max_card_mb`` among them, told
        from the stat). Stats only, no content; and no copy of the
        listing is kept: when every known name is still there (the usual run) nothing else
        is needed, otherwise a second listing of names finds the gone ones.

        A link whose target is missing (a card on a disk not mounted now) or that loops,
        and a name that is no file (a folder called ``x.vcf``), are errors of that record,
        never a deletion: skipped as absent, a person whose card had become a broken link
        was deleted from every other connector, with no error said."""
        changed: list[str] = []
        odd: dict[str, str] = {}
        listed = still_there = 0
        self._was = was = {}
        max_card, get = self.max_card, known.get
        try:
            for entry in self._contact_files():
                # (run for every file of every run: the usual file, known and unchanged,
                # takes one stat, one version string and one comparison)
                name = entry.name
                try:
                    st: os.stat_result | None = entry.stat()
                except OSError as exc:
                    if not entry.is_symlink():
                        continue  # gone since listed
                    st = None
                    odd[name] = f"cannot read: a link to {link_target(entry.path)} ({exc.strerror})"
                listed += 1  # (one unread too: it is there, no "emptied" folder to hold)
                old = get(name)
                still_there += old is not None
                if st is None:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    odd[name] = "cannot read: not a file (a folder, a device or a pipe)"
                    continue
                if old is not None and not every and stat_part(old) == file_version(st):
                    continue  # the version the hub knows: unchanged
                if st.st_size > max_card:
                    # read whole, a stray 300 MB file took 1 GB of memory on every run
                    # (its error means it is never known, so never skipped as unchanged);
                    # an error of the record, like any unread file: a person linked to
                    # it is kept as they are, not deleted (and one the hub holds at this
                    # very version, as it wrote it, is unchanged: nothing to say)
                    odd[name] = too_big(st.st_size, max_card) or ""
                    continue
                changed.append(name)
                if old:  # read again: ``Unchanged`` if it still holds what ``old`` did
                    was[name] = old
            if still_there == len(known):
                return changed, set(), listed, odd
            # the known names, less those listed again: a set of the names ``known`` holds
            # already, not of new ones (a set of every name listed, then its union with
            # ``odd``, was 2 MB of a 10,000-card folder's peak, more than the rest of a run)
            gone = set(known).difference(odd)
            for entry in self._contact_files():
                if entry.is_file():
                    gone.discard(entry.name)
        except OSError as exc:
            raise FatalConnectorError(f"cannot list {self.root}: {exc}", self.name) from exc
        return changed, set(gone), listed, odd

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        self._reread = False  # (a run's own writes say whether the next must read every file)
        every, several = _read_cursor(cursor)
        self._several = {}
        if not known and self.create_missing and not os.path.lexists(self.root):
            self.check()
            self._make_at_write = True
            return Pull(iter(()), set(), True, 0, None)
        self._folder(first_use=not known)
        # after a write found a file changed behind its stat, every file is read (and only
        # those whose bytes differ from the hub's are parsed): its neighbours may be too;
        # so too under a cursor of an older version (``_read_cursor``)
        changed, deleted, listed, odd = self._scan(known, every=every)
        # by name, not in the order the folder lists them: records are matched in the
        # order read, and which of two new contacts is older decides twins; a folder
        # copied elsewhere (tmpfs lists newest first, ext4 by hash) synced differently
        changed.sort()
        # the files of several cards this run does not read (still there, unchanged)
        unread = set(changed).union(deleted, odd)
        self._several = {n: c for n, c in several.items() if n in known and n not in unread}
        return Pull(self._records(changed, odd), deleted, True, listed, None)

    def applied_cursor(self, cursor: str | None) -> str:
        """Also makes the folder ``create`` is for when the run is applied (asked only
        then, never in a dry run or a held run) and no write made it: with nothing to
        write, the first sync left none, so the user had no folder to find or fill."""
        if self._make_at_write:
            self._folder(first_use=True)
        return _cursor(self._reread, self._several)

    def _records(
        self, names: list[str], odd: Mapping[str, str] | None = None
    ) -> Iterator[Record | Unchanged | RecordError]:
        """The records of ``names``, read and parsed ahead on the other core when there are
        many (``connectors.readahead``: a first sync spends half its time here); first an
        error for each name in ``odd`` (``_scan``), which is not opened at all (a pipe would
        block the read), and for each file of several cards not read (``_several``, as the
        pull left it); then one for each such file read."""
        for name, why in (odd or {}).items():
            yield RecordError(why, str(self.root / name), self.name)
        for name, cards in list(self._several.items()):
            yield RecordError(_several_message(cards), str(self.root / name), self.name)
        for item in read_ahead(self._read_batch, names):
            if isinstance(item, _Several):
                self._several[item.name] = item.cards
                yield RecordError(_several_message(item.cards), str(self.root / item.name), self.name)
            elif isinstance(item, tuple):
                yield RecordError(item[0], item[1], self.name)
            else:
                yield item

    def _read_batch(self, names: list[str]) -> list[Record | Unchanged | _Several | tuple[str, str]]:
        """Records, ``Unchanged`` for each file that holds the bytes of the version the hub
        knows (``_scan``'s ``_was``: not parsed), ``_Several`` after each of a file that
        holds several cards, and (message, where) for each file that cannot be read: plain
        values, as they may come back from the read-ahead worker."""
        out: list[Record | Unchanged | _Several | tuple[str, str]] = []
        for name in names:
            try:
                record, more = self._read_record(name, self._was.get(name))
                out.append(record)
                if more:
                    out.append(_Several(name, more + 1))
            except RecordNotFoundError:
                continue  # removed since the listing: the next pull reports it
            except RecordError as exc:
                out.append((exc.message, exc.record))
            except OSError as exc:
                out.append((f"cannot read: {exc}", str(self.root / name)))
        return out

    def _path(self, native_id: str) -> Path:
        """The file of a native id; refuses anything that could leave the folder."""
        if not native_id or native_id[0] == "." or _SEPARATORS.intersection(native_id):
            raise RecordError("not a file name in the vCard folder", native_id, self.name)
        return self.root / native_id

    def _parse(self, data: bytes, path: Path) -> list[ParsedCard]:
        try:
            return self.codec.parse(data, str(path))
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc

    def _record(self, native_id: str) -> Record:
        path = self._path(native_id)
        data, st = self._read(path)
        return self._parsed(native_id, path, data, st, content_version(st, data))[0]

    def _read_record(self, native_id: str, was: str | None) -> tuple[Record | Unchanged, int]:
        """A file's record, and how many cards the file holds after its first; or
        ``Unchanged`` when it holds the bytes it held at ``was`` (a version the hub knows)."""
        path = self._path(native_id)
        data, st = self._read(path)
        version = content_version(st, data)
        if was is not None and digest_part(version) == digest_part(was):
            return Unchanged(native_id, version, was), cards_after_first(data)
        return self._parsed(native_id, path, data, st, version)

    def _parsed(
        self, native_id: str, path: Path, data: bytes, st: os.stat_result, version: str
    ) -> tuple[Record, int]:
        """The record of a file's ``data`` read at ``st`` (``version``: their
        ``content_version``), and how many cards follow its first."""
        try:
            fields, uid, rev = self.codec.read(data, str(path))
        except NotAPersonError as exc:  # a contact group: not listed as a record
            raise NotAPersonError(exc.message, str(path), self.name) from exc
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc
        # the later of REV and the file's mtime: an edit in a text editor leaves REV as it was
        modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
        if rev is not None and rev > modified:
            modified = rev
        return Record(native_id, version, fields, modified, uid, str(path)), cards_after_first(data)

    def get(self, native_id: str) -> Record:
        try:
            return self._record(native_id)
        except OSError as exc:  # (a pull says the same of the file, as an error of it)
            raise RecordError(f"cannot read: {exc}", str(self.root / native_id), self.name) from exc

    # --- writing ----------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        return self._write(ops)

    def write_behind(self, ops: Sequence[WriteOp]) -> Callable[[], list[WriteResult]] | None:
        """A page of new cards is built and written in a forked worker
        (``connectors.writebehind``; a first copy into the folder spends a third of its time
        here). Each card's file name is chosen here, before the worker has it, so that a page
        written again in process after the worker failed writes the same files."""
        if not ops or any(op.kind != "create" for op in ops):
            return None
        if self._behind is None:
            self._behind = WriteBehind(self._create_page)
        named = [(op, self._new_name(op.hub_id)) for op in ops]
        waiter = self._behind.submit(named)
        if waiter is None:
            return None
        page = list(ops)

        def results() -> list[WriteResult]:
            return [
                WriteResult(op, name, version, op.fields if fields is None else fields, error)
                for op, (name, version, fields, error) in zip(page, waiter(), strict=True)
            ]

        return results

    def _create_page(self, named: list[tuple[WriteOp, str]]) -> list[_Written]:
        """The worker's task: ``write`` of a page of creates under the names given, each
        result as plain values, and the fields only where they differ from the op's (the
        usual case sends back no fields at all)."""
        ops = [op for op, _ in named]
        out: list[_Written] = []
        for result in self._write(ops, [name for _, name in named]):
            fields = result.fields
            out.append(
                (
                    result.native_id,
                    result.version,
                    None if fields == result.op.fields else fields,
                    result.error,
                )
            )
        return out

    def close(self) -> None:
        if self._behind is not None:
            self._behind.close()
            self._behind = None

    def _write(self, ops: Sequence[WriteOp], names: Sequence[str] | None = None) -> list[WriteResult]:
        self._folder(first_use=self._make_at_write)
        try:
            dir_fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            dir_fd = None  # (Windows: no directory fds) paths then
        try:
            results = self._write_all(ops, dir_fd, names)
            if (
                self.fsync
                and not self._sync_each
                and any(r.error is None and r.op.kind != "delete" for r in results)
            ):
                self._flush(results, dir_fd)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        return results

    def _write_all(
        self, ops: Sequence[WriteOp], dir_fd: int | None = None, names: Sequence[str] | None = None
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        self._trash_present = any(op.kind == "create" for op in ops) and self.trash.present()
        for i, op in enumerate(ops):
            try:
                if op.kind == "create":
                    result = self._create(op, dir_fd, names[i] if names else None)
                elif op.kind == "update":
                    result = self._update(op)
                elif op.kind == "delete":
                    result = self._delete(op)
                else:
                    raise RecordError(f"vCard folders cannot {op.kind}", op.hub_id, self.name)
            except RecordError as exc:
                result = WriteResult(op, op.native_id, error=exc)
            except OSError as exc:
                where = str(self.root / (op.native_id or op.hub_id))
                error = RecordError(f"cannot write: {exc}", where, self.name)
                result = WriteResult(op, op.native_id, error=error)
            results.append(result)
        return results

    def _new_name(self, hub_id: str) -> str:
        """The file name of a new card: its hub id where that is a safe name, and no other
        file's name in the folder but for case. UIDs ``ABC`` and ``abc`` are two people,
        but ``ABC.vcf`` and ``abc.vcf`` are one file on macOS and Windows, where the folder
        synced or copied lost one of them (QA): the second is named by a random id. The
        very same name is kept: a create replayed after a crash finds its file (``_create``).
        (Two lower-case names of one hash pass for one name, kept; a capitalised name whose
        lower case shares a hash with another name is named by a random id: no harm.)"""
        if _SAFE_NAME.fullmatch(hub_id) and hub_id[-1] != ".":
            name = f"{hub_id}{self.extension}"
            if not self._listed:
                self._listed = True
                try:
                    for listed in os.listdir(self.root):
                        self._remember(listed)
                except OSError:  # no folder yet: it is made at the first write
                    pass
            lower = name.lower()
            if name == lower:
                free = lower not in self._capitals
            else:
                free = self._capitals.get(lower, name) == name and hash(lower) not in self._lower
            if free:
                self._remember(name)
                return name
        name = f"{uuid.uuid4().hex}{self.extension}"
        if self._listed:
            self._remember(name)
        return name

    def _remember(self, name: str) -> None:
        lower = name.lower()
        if name == lower:
            self._lower.add(hash(lower))
        else:
            self._capitals[lower] = name

    def _create(self, op: WriteOp, dir_fd: int | None = None, name: str | None = None) -> WriteResult:
        ext = self.extension
        hub_id = op.hub_id
        if name is None:
            name = self._new_name(hub_id)
        restored = self.trash.restored(hub_id, op.fields, self.codec) if self._trash_present else None
        if restored is not None:
            name = self.trash.origin(hub_id) or name  # back under its own file name
        copied = None
        if restored is None and op.source is not None:  # the person's card elsewhere
            try:
                copied = op.source.card(self.codec, op.fields, hub_id, self.max_card)
            except RecordError as exc:  # over this folder's limit: it would not read it
                raise RecordError(exc.message, str(self.root / name), self.name) from None
        # the fields a read of the new file gives, known from building it (tested)
        data, fields = restored or copied or self.codec.create_read(op.fields, hub_id)
        for attempt in range(5):
            try:
                st = self._write_new(name, data, dir_fd)
                result = WriteResult(op, name, content_version(st, data), fields)
                break
            except FileExistsError:
                if attempt == 0:
                    try:
                        existing = self._record(name)
                    except RecordError:
                        existing = None
                    if existing is not None and existing.hub_id == hub_id:
                        # a create replayed after a crash: it happened, report what is there
                        result = WriteResult(op, name, existing.version, existing.fields)
                        break
                name = f"{uuid.uuid4().hex}{ext}"
        else:
            raise RecordError("could not find a free file name", str(self.root / name), self.name)
        if restored is not None:
            self.trash.drop(hub_id)
        return result

    def _update(self, op: WriteOp) -> WriteResult:
        path = self._path(op.native_id or "")
        data, st = self._read(path)
        refuse_group(data, str(path), self.name)
        self._check_version(op, st, data, path)
        cards = [parsed.card for parsed in self._parse(data, path)]
        new = self.codec.update(cards, op.fields, uid=op.hub_id, data=data)
        try:
            fields = self.codec.read(new, str(path))[0]
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc
        if new == data:
            return WriteResult(op, path.name, content_version(st, data), fields)
        st = self._replace(path, new, st)
        return WriteResult(op, path.name, content_version(st, new), fields)

    def _delete(self, op: WriteOp) -> WriteResult:
        path = self._path(op.native_id or "")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return WriteResult(op, path.name)  # already gone: a replayed delete is done
        # not "not read": the pull's line for it said again, and no word of the deletion waiting
        self._refuse_big(st, path, "not deleted")
        data = path.read_bytes()
        refuse_group(data, str(path), self.name)
        self._check_version(op, st, data, path)
        if cards_after_first(data):
            # the other cards of the file were never the hub's to delete: only the record's
            # card goes, and the next pull reads the file's new first card as a new record;
            # the card is kept in the trash as a whole file would be, for an undo
            rest = without_first_card(data)
            # a UTF-16 file's byte-order mark stays with the cards left: it says how to read them
            utf16 = utf16_as_utf8(data)
            self._replace(path, (utf16[2] if utf16 else b"") + rest, st)
            self.trash.keep_card(data[: len(data) - len(rest)], op.hub_id)
        else:
            self.trash.keep(path, op.hub_id)  # kept a while, for an undo (``vcard_trash``)
        return WriteResult(op, path.name)

    def _check_version(self, op: WriteOp, st: os.stat_result, data: bytes, path: Path) -> None:
        """Refuse a write to a file that is not at the version the hub knows: its stat, and
        its bytes where the version has their digest. The bytes because a copy can keep a
        file's size, mtime and inode (``cp -p`` over it): two cards of one size swapped so
        after a ``touch`` gave both one mtime went unread, and the hub then wrote one
        person's edit into the other's card (QA). Refused, and the next pull reads every
        file (``applied_cursor``): the other card of such a swap is as stale, and unseen."""
        if op.version is None:
            return
        if stat_part(op.version) != file_version(st):
            # (the versions themselves, mtime-size-inode, tell a user nothing they can use)
            raise StaleVersionError(
                "the file changed since the hub last read it, so it was not written (the"
                " change is not overwritten): it is read again and the edit retried on the next sync",
                str(path),
                self.name,
            )
        known = digest_part(op.version)
        if known and known != digest(data):
            self._reread = True  # ... and, as its neighbours may be too, every other file
            raise StaleVersionError(
                "changed since it was read, though its size, time and inode are as they were"
                " (a copy that kept them?): read again on the next run",
                str(path),
                self.name,
            )
