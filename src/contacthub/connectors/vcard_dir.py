"""A folder of vCard files, one contact per file (the vdirsyncer / Radicale / khard layout).

The version of a record is its file's ``mtime_ns-size``, so a pull with nothing new is one
``os.scandir`` and a comparison with the versions the hub already knows: no file is opened.
Only new or changed files are read, lazily, as the engine consumes the records.

Writes never leave a half-written file: the new content goes to a hidden temporary file in
the same folder that then replaces the target (``os.replace``), or is hard-linked to a new
name (which fails, rather than overwrites, if the name was taken meanwhile). A file that
changed since the hub read it is refused (``StaleVersionError``), never overwritten.

Durability (``fsync``, default true): a process killed at any moment never leaves a
half-written file whatever the setting (the atomic rename and link do that). Surviving a
power cut or an OS crash needs the data on disk before the hub records the write; rather
than one ``fsync`` per file (milliseconds each on a disk: minutes for a big first copy),
each ``write`` call flushes the folder's file system once (``syncfs``) before it returns its
results, so one flush covers a whole batch. ``fsync = false`` skips it, as vdirsyncer does.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import os
import re
import stat
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from contacthub.connectors.base import (
    Capabilities,
    Connector,
    ConnectorConfig,
    Pull,
    Record,
    WriteOp,
    WriteResult,
)
from contacthub.connectors.readahead import read_ahead
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from contacthub.formats.vcard import ParsedCard, VCardCodec

_BINARY = getattr(os, "O_BINARY", 0)
_READ_FLAGS = os.O_RDONLY | _BINARY
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY
#: an unnamed file in a folder, linked under its name once written (Linux 3.11+)
_TMPFILE = getattr(os, "O_TMPFILE", 0)
_TMPFILE_FLAGS = _TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)

#: hub ids that can be used as file names as they are
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")
_SEPARATORS = frozenset(filter(None, ("/", "\\", "\0", os.sep, os.altsep)))


def file_version(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_size}"


_SYNCFS: list[object] = []  # memo of libc's syncfs, or None where there is none


def _syncfs(fd: int) -> bool:
    """Flush the file system holding ``fd`` (Linux ``syncfs``); False where unavailable."""
    if not _SYNCFS:
        try:
            _SYNCFS.append(ctypes.CDLL(None, use_errno=True).syncfs)
        except (AttributeError, OSError, TypeError):
            _SYNCFS.append(None)
    func = _SYNCFS[0]
    if func is None:
        return False
    if func(fd) != 0:  # type: ignore[operator]
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return True


class VCardDirConnector(Connector):
    """Settings: ``path`` (required), ``version`` ("3.0" or "4.0" for new cards), ``extension``
    (".vcf"), ``encoding`` (for files that are not UTF-8; default windows-1252), ``create``
    (make a missing folder instead of failing), ``fsync`` (default true: written files are
    on disk before ``write`` returns; see the module docstring)."""

    type: ClassVar[str] = "vcard-dir"
    capabilities: ClassVar[Capabilities] = Capabilities(
        create=True, update=True, delete=True, deactivate=False, delta=False, batch_size=500
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
        if not settings.get("path"):
            raise ConfigError("the setting 'path' (the vCard folder) is required", config.name)
        self.root = Path(str(settings["path"])).expanduser()
        version = settings.get("version")
        if version is not None:
            version = str(version)
            if version not in ("3.0", "4.0"):
                raise ConfigError(f"version must be 3.0 or 4.0, not {version!r}", config.name)
        extension = str(settings.get("extension", ".vcf"))
        self.extension = extension if extension.startswith(".") else f".{extension}"
        encoding = str(settings.get("encoding", "windows-1252"))
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", config.name) from None
        self.create_missing = bool(settings.get("create", False))
        self.fsync = bool(settings.get("fsync", True))
        self._sync_each = False  # fsync every file: where the file system cannot be synced
        #: new files via O_TMPFILE + link (off once the kernel, file system or /proc refuses)
        self._tmpfile = bool(_TMPFILE) and os.path.isdir("/proc/self/fd")
        self.codec = VCardCodec(config.mapping, config.region, version, encoding)

    @property
    def fields(self) -> frozenset[str] | None:
        return self.codec.fields

    # --- reading ----------------------------------------------------------------------

    def check(self) -> None:
        if self.root.is_dir():
            return
        if self.root.exists():
            raise FatalConnectorError(f"{self.root} is not a folder: fix the 'path' setting", self.name)
        if self.create_missing:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FatalConnectorError(f"cannot create {self.root}: {exc}", self.name) from exc
            return
        raise FatalConnectorError(
            f"the vCard folder {self.root} does not exist: create it, fix the 'path' setting,"
            " or set create = true",
            self.name,
        )

    def _contact_files(self) -> Iterator[os.DirEntry[str]]:
        ext = self.extension.lower()
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if name[0] != "." and name.lower().endswith(ext):
                    yield entry

    def _scan(self, known: Mapping[str, str]) -> tuple[list[str], set[str], int]:
        """The files new or changed since ``known`` (name -> version), the known names no
        longer there, and how many contact files there are. Stats only, no content; and no
        copy of the listing is kept: when every known name is still there (the usual run)
        nothing else is needed, otherwise a second listing of names finds the gone ones."""
        changed: list[str] = []
        listed = still_there = 0
        try:
            for entry in self._contact_files():
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                listed += 1
                name = entry.name
                old = known.get(name)
                if old is not None:
                    still_there += 1
                if old != file_version(st):
                    changed.append(name)
            if still_there == len(known):
                return changed, set(), listed
            present = {entry.name for entry in self._contact_files() if entry.is_file()}
        except OSError as exc:
            raise FatalConnectorError(f"cannot list {self.root}: {exc}", self.name) from exc
        return changed, {name for name in known if name not in present}, listed

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        self.check()
        changed, deleted, listed = self._scan(known)
        return Pull(self._records(changed), deleted, True, listed, None)

    def _records(self, names: list[str]) -> Iterator[Record | RecordError]:
        """The records of ``names``, read and parsed ahead on the other core when there are
        many (``connectors.readahead``: a first sync spends half its time here)."""
        for item in read_ahead(self._read_batch, names):
            if isinstance(item, tuple):
                yield RecordError(item[0], item[1], self.name)
            else:
                yield item

    def _read_batch(self, names: list[str]) -> list[Record | tuple[str, str]]:
        """Records, and (message, where) for each file that cannot be read: plain values, as
        they may come back from the read-ahead worker."""
        out: list[Record | tuple[str, str]] = []
        for name in names:
            try:
                out.append(self._record(name))
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

    def _read(self, path: Path) -> tuple[bytes, os.stat_result]:
        """The bytes of a file and the stat of exactly those bytes: re-read if the file
        changed while it was read, so a record's version never runs ahead of its fields."""
        for _attempt in range(3):
            try:
                fd = os.open(path, _READ_FLAGS)
            except (FileNotFoundError, NotADirectoryError):
                raise RecordNotFoundError("no such file", str(path), self.name) from None
            try:
                before = os.fstat(fd)
                size = before.st_size
                data = os.read(fd, size + 1)  # one call for a whole card; +1 sees growth
                if len(data) > size:
                    chunks = [data]
                    while chunk := os.read(fd, 1 << 20):
                        chunks.append(chunk)
                    data = b"".join(chunks)
                after = os.fstat(fd)
            finally:
                os.close(fd)
            if (
                (before.st_mtime_ns, before.st_size)
                == (after.st_mtime_ns, after.st_size)
                == (
                    before.st_mtime_ns,
                    len(data),
                )
            ):
                return data, after
        return data, before  # still changing: an older version only means a re-read later

    def _parse(self, data: bytes, path: Path) -> list[ParsedCard]:
        try:
            return self.codec.parse(data, str(path))
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc

    def _record(self, native_id: str) -> Record:
        path = self._path(native_id)
        data, st = self._read(path)
        try:
            fields, uid, rev = self.codec.read(data, str(path))
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc
        # the later of REV and the file's mtime: an edit in a text editor leaves REV as it was
        modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
        if rev is not None and rev > modified:
            modified = rev
        return Record(native_id, file_version(st), fields, modified, uid, str(path))

    def get(self, native_id: str) -> Record:
        return self._record(native_id)

    # --- writing ----------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.check()
        try:
            dir_fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            dir_fd = None  # (Windows: no directory fds) paths then
        try:
            results = self._write_all(ops, dir_fd)
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

    def _flush(self, results: list[WriteResult], dir_fd: int | None) -> None:
        """Flush the folder's file system once for a batch of writes (see the module docstring)."""
        try:
            synced = dir_fd is not None and _syncfs(dir_fd)
        except OSError:
            synced = False
        if synced:
            return
        if hasattr(os, "sync"):
            os.sync()
            return
        self._sync_each = True  # no way to flush a whole file system: fsync each file from now on
        for result in results:
            if result.error is None and result.native_id and result.op.kind != "delete":
                try:
                    fd = os.open(self.root / result.native_id, os.O_RDONLY | _BINARY)
                except OSError:
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _write_all(self, ops: Sequence[WriteOp], dir_fd: int | None = None) -> list[WriteResult]:
        results: list[WriteResult] = []
        for op in ops:
            try:
                if op.kind == "create":
                    result = self._create(op, dir_fd)
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

    def _create(self, op: WriteOp, dir_fd: int | None = None) -> WriteResult:
        ext = self.extension
        hub_id = op.hub_id
        safe = _SAFE_NAME.fullmatch(hub_id) and hub_id[-1] != "."
        name = f"{hub_id}{ext}" if safe else f"{uuid.uuid4().hex}{ext}"
        # the fields a read of the new file gives, known from building it (tested)
        data, fields = self.codec.create_read(op.fields, hub_id)
        for attempt in range(5):
            try:
                st = self._write_new(name, data, dir_fd)
                return WriteResult(op, name, f"{st.st_mtime_ns}-{st.st_size}", fields)
            except FileExistsError:
                if attempt == 0:
                    try:
                        existing = self._record(name)
                    except RecordError:
                        existing = None
                    if existing is not None and existing.hub_id == hub_id:
                        # a create replayed after a crash: it happened, report what is there
                        return WriteResult(op, name, existing.version, existing.fields)
                name = f"{uuid.uuid4().hex}{ext}"
        raise RecordError("could not find a free file name", str(self.root / name), self.name)

    def _update(self, op: WriteOp) -> WriteResult:
        path = self._path(op.native_id or "")
        data, st = self._read(path)
        self._check_version(op, st, path)
        cards = [parsed.card for parsed in self._parse(data, path)]
        new = self.codec.update(cards, op.fields, uid=op.hub_id)
        try:
            fields = self.codec.read(new, str(path))[0]
        except RecordError as exc:
            raise RecordError(exc.message, str(path), self.name) from exc
        if new == data:
            return WriteResult(op, path.name, file_version(st), fields)
        st = self._replace(path, new, st)
        return WriteResult(op, path.name, file_version(st), fields)

    def _delete(self, op: WriteOp) -> WriteResult:
        path = self._path(op.native_id or "")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return WriteResult(op, path.name)  # already gone: a replayed delete is done
        self._check_version(op, st, path)
        path.unlink(missing_ok=True)
        return WriteResult(op, path.name)

    def _check_version(self, op: WriteOp, st: os.stat_result, path: Path) -> None:
        if op.version is not None and op.version != file_version(st):
            raise StaleVersionError(
                f"changed since it was read (version {file_version(st)}, expected {op.version})",
                str(path),
                self.name,
            )

    def _temp(self, path: Path, data: bytes, mode: int = 0o666) -> tuple[Path, os.stat_result]:
        """A hidden temporary file next to ``path`` holding ``data`` (ignored by listings),
        and its stat once written."""
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        fd = os.open(temp, _WRITE_FLAGS, mode)
        try:
            st = self._fill(fd, data)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return temp, st

    def _write_new(self, name: str, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        """Write a new file ``name`` in the folder; ``FileExistsError`` if the name is taken
        (never overwrite), and never a partly written file under that name.

        Where the file system allows (Linux, ``O_TMPFILE``), the data goes to an unnamed
        file in the folder that is then linked under its name: open, write, fstat, link,
        close. Elsewhere to a hidden temporary file that is hard-linked, then unlinked."""
        if dir_fd is not None and self._tmpfile:
            try:
                fd = os.open(".", _TMPFILE_FLAGS, 0o666, dir_fd=dir_fd)
            except OSError:
                self._tmpfile = False  # not supported by this kernel or file system
            else:
                try:
                    st = self._fill(fd, data)
                    try:
                        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
                    except FileExistsError:
                        raise
                    except OSError:  # no /proc, or no links here: the temporary file way
                        self._tmpfile = False
                    else:
                        return st  # a link keeps the inode's mtime and size: ``st`` stays right
                finally:
                    os.close(fd)
        path = self.root / name
        temp, st = self._temp(path, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some network or FUSE file systems)
            fd = os.open(path, _WRITE_FLAGS)
            with open(fd, "wb") as handle:
                handle.write(data)
            st = os.stat(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return st

    def _fill(self, fd: int, data: bytes) -> os.stat_result:
        """Write ``data`` to a new file's ``fd``; its stat once written."""
        written = os.write(fd, data)
        if written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view) :]
        if self._sync_each:
            os.fsync(fd)
        return os.fstat(fd)

    def _replace(self, path: Path, data: bytes, old: os.stat_result) -> os.stat_result:
        """Atomically replace ``path``, refusing if it changed since ``old`` was taken."""
        temp, new = self._temp(path, data, stat.S_IMODE(old.st_mode))
        try:
            if (new.st_mtime_ns, new.st_size) == (old.st_mtime_ns, old.st_size):
                # same size within one clock tick: the version must still change
                os.utime(temp, ns=(new.st_atime_ns, old.st_mtime_ns + 1))
                new = os.stat(temp)
            current = os.stat(path)
            if file_version(current) != file_version(old):
                raise StaleVersionError("changed while being written", str(path), self.name)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return new
